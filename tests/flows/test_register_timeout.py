"""Fault injection (issue 16): the register service accepts connections and never answers.

A real HTTP server on loopback takes every request and holds it without a byte of
answer. Applications claiming a professional registration must each end visibly:
the request times out (KYC_REGISTER_TIMEOUT_SECONDS), is retried
(KYC_REGISTER_RETRIES), and the register counts as unavailable, which the rules send
to a reviewer (MANUAL_REVIEW with REGISTER_UNAVAILABLE) and ``kyc register-recheck``
asks again later. The batch is not crashed, and a register that never answers costs
each application no more than its timeout times its attempts.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import sqlalchemy as sa

from flows.ingest import ingest_landing
from kyc import runtime
from kyc.storage.local import LocalStore
from tests.fixtures.registers import RegisterSite, serve
from tests.services.conftest import land

pytestmark = pytest.mark.slow

TIMEOUT_S = 1.0
RETRIES = 1  # attempts: 2


class _BlackHole(BaseHTTPRequestHandler):
    """Accepts a request, logs it, and answers nothing until the test ends."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state = self.server.state  # type: ignore[attr-defined]
        with state["lock"]:
            state["requests"].append((time.monotonic(), self.path))
        state["release"].wait(120)  # the client gives up long before


@pytest.fixture
def black_hole() -> Iterator[tuple[str, dict[str, object]]]:
    state: dict[str, object] = {
        "lock": threading.Lock(),
        "requests": [],
        "release": threading.Event(),
    }
    with serve(_BlackHole, state) as base:
        try:
            yield base, state
        finally:
            state["release"].set()  # type: ignore[attr-defined]


def test_register_that_never_answers_ends_in_review_within_timeout_times_attempts(
    pipeline_env: Path,
    shared_data: Path,
    black_hole: tuple[str, dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    if "external" in request.node.name:
        pytest.skip("a silent register does not depend on the database server")
    base, state = black_hole
    store = LocalStore(pipeline_env)
    numbers = {f"regto-{i}": f"712345{i}" for i in range(3)}
    for app_id, number in numbers.items():
        land(store, shared_data, identity=i_of(app_id), app_id=app_id, registration=("GMC", number))
    monkeypatch.setenv("KYC_REGISTER_ENGINE", "http")
    monkeypatch.setenv("KYC_REGISTER_HTTP_URLS", json.dumps(RegisterSite().urls(base)))
    monkeypatch.setenv("KYC_REGISTER_TIMEOUT_SECONDS", str(TIMEOUT_S))
    monkeypatch.setenv("KYC_REGISTER_RETRIES", str(RETRIES))
    monkeypatch.setenv("KYC_REGISTER_BACKOFF_SECONDS", "0.1")
    # Politeness limit out of the way: the subject is the timeout, not the rate.
    monkeypatch.setenv("KYC_REGISTER_RATE_PER_SECOND", "100")
    monkeypatch.setenv("KYC_LANDING_SETTLE_SECONDS", "0")
    runtime.reset()

    started = time.monotonic()
    outcomes = {o.application_id: o for o in ingest_landing(str(pipeline_env))}
    elapsed = time.monotonic() - started

    assert set(outcomes) == set(numbers)
    for o in outcomes.values():
        assert o.status == "DECIDED", o
        assert o.decision == "MANUAL_REVIEW" and "REGISTER_UNAVAILABLE" in o.reasons, o
    requests: list[tuple[float, str]] = state["requests"]  # type: ignore[assignment]
    for number in numbers.values():
        times = [t for t, path in requests if f"number={number}" in path]
        # Asked, timed out, asked once more: exactly the configured attempts, and
        # the two attempts apart by no more than a timeout plus backoff (generous).
        assert len(times) == RETRIES + 1, (number, requests)
        assert times[-1] - times[0] < (RETRIES + 1) * TIMEOUT_S + 5, times
    with runtime.database().connect() as conn:
        rows = conn.execute(
            sa.text("select application_id, status, raw_response_json::text from reg_checks")
        ).all()
        decided = conn.execute(
            sa.text("select application_id, count(*) from kyc_decisions group by 1")
        ).all()
        dead = conn.execute(sa.text("select count(*) from dead_letters")).scalar_one()
    assert sorted(r[0] for r in rows) == sorted(numbers)  # one check per application
    assert {r[1] for r in rows} == {"UNAVAILABLE"}
    assert all("timeout" in (r[2] or "") for r in rows), rows
    assert dict(decided) == dict.fromkeys(numbers, 1)
    assert dead == 0
    # Generous: the engines' own time dominates; a hung register would show as minutes.
    assert elapsed < 150, elapsed
    print(f"batch of {len(numbers)} with a silent register: {elapsed:.1f} s")


def i_of(app_id: str) -> int:
    """The demo identity of an application (its face and card)."""
    return int(app_id.rsplit("-", 1)[1])
