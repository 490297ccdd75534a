"""Prometheus metrics (kyc/metrics.py): the web app's /metrics behind its token (real
uvicorn on loopback, a real PostgreSQL), a worker's own port, and what they report."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from kyc import metrics
from kyc.runtime import Runtime
from kyc.services import intake
from kyc.settings import Settings
from tests.fixtures.db import DatabaseFactory

TOKEN = "metrics-scraper-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _serve(settings: Settings) -> Iterator[str]:
    import uvicorn

    from kyc.web.app import create_app

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def settings(pg_server: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=pg_server.create("kyc_metrics"),
        landing=str(tmp_path_factory.mktemp("landing")),
        metrics_token=TOKEN,
        web_secure_cookies=False,
    )


@pytest.fixture(scope="module")
def web(settings: Settings) -> Iterator[str]:
    yield from _serve(settings)


def test_metrics_need_the_token(web: str) -> None:
    assert _get(f"{web}/metrics")[0] == 401
    assert _get(f"{web}/metrics", token="wrong-token-wrong-token")[0] == 401
    status, body = _get(f"{web}/metrics", token=TOKEN)
    assert status == 200 and "kyc_applications_in_flight" in body


def test_metrics_are_off_without_a_token(settings: Settings) -> None:
    for base in _serve(settings.model_copy(update={"metrics_token": None})):
        assert _get(f"{base}/metrics", token=TOKEN)[0] == 404
        assert _get(f"{base}/healthz")[0] == 200


def test_backlog_gauges_read_the_database(web: str, settings: Settings) -> None:
    rt = Runtime.from_settings(settings)
    code = f"TEST_{time.monotonic_ns()}"
    intake.dead_letter(rt, settings.landing, "metrics-app-1", "load-form", code, "test")
    status, body = _get(f"{web}/metrics", token=TOKEN)
    assert status == 200
    assert "kyc_backlog_up 1.0" in body
    assert f'kyc_dead_letters_open{{error_code="{code}"}} 1.0' in body
    assert 'kyc_review_queue_cases{state="open"}' in body
    assert "kyc_outbox_pending " in body


def test_decisions_stages_and_applications_are_counted() -> None:
    def value(name: str, labels: dict[str, str]) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    before = value("kyc_decision_reasons_total", {"decision": "FAIL", "reason": "FACE_MISMATCH"})
    metrics.count_decision("FAIL", ["FACE_MISMATCH", "NAME_MISMATCH"], source="pipeline")
    after = value("kyc_decision_reasons_total", {"decision": "FAIL", "reason": "FACE_MISMATCH"})
    assert after == before + 1
    with pytest.raises(RuntimeError), metrics.stage_timer("scan-document"):
        raise RuntimeError("engine down")
    assert value("kyc_stage_seconds_count", {"stage": "scan-document", "outcome": "error"}) >= 1
    with metrics.application_timer() as clock:
        assert value("kyc_applications_in_flight", {}) >= 1
        clock.status = "DECIDED"
    assert value("kyc_applications_total", {"status": "DECIDED"}) >= 1


def test_a_worker_serves_its_own_port() -> None:
    port = _free_port()
    stop = metrics.serve("127.0.0.1", port)
    try:
        status, body = _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "kyc_applications_in_flight" in body
    finally:
        stop()
