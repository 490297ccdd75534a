"""A dead dependency puts one application into a visible state; the batch goes on."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import pytest

from flows.ingest import ingest_landing
from kyc import runtime
from kyc.db.engine import session_scope
from kyc.db.repository import list_dead_letters
from kyc.demo.generate import generate_demo
from kyc.storage.local import LocalStore
from tasks import pipeline as task_module

pytestmark = pytest.mark.slow


def _small_landing(landing: Path, shared: Path, keep: int = 3) -> list[str]:
    """The first ``keep`` genuine demo applications, under fresh ids."""
    scratch = landing.parent / "scratch"
    cases = generate_demo(LocalStore(scratch), shared)
    store, src = LocalStore(landing), LocalStore(scratch)
    ids = []
    for case in [c for c in cases if c.kind == "genuine"][:keep]:
        new_id = f"fail-{uuid.uuid4().hex[:8]}"
        for obj in src.list(f"incoming/{case.application_id}/"):
            data = src.get(obj.key)
            if obj.key.endswith("application.json"):
                data = data.replace(case.application_id.encode(), new_id.encode())
            store.put(obj.key.replace(case.application_id, new_id), data)
        ids.append(new_id)
    return ids


class _Broken:
    name = "broken"
    version = "0"

    def compare(self, selfie: bytes, document: bytes) -> Any:
        raise ConnectionError("face service unreachable")


def test_face_engine_down_gives_engine_error_review(
    pipeline_env: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _small_landing(pipeline_env, shared_data, keep=2)
    rt = runtime.current()
    broken = dataclasses.replace(rt.engines, face_matcher=_Broken())
    monkeypatch.setattr(rt, "_engines", broken)
    outcomes = ingest_landing(str(pipeline_env))
    assert [o.application_id for o in outcomes] == sorted(ids)
    for o in outcomes:
        assert o.status == "DECIDED" and o.decision == "MANUAL_REVIEW"
        assert "ENGINE_ERROR" in o.reasons


def test_unexpected_failure_is_a_dead_letter_not_a_crash(
    pipeline_env: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _small_landing(pipeline_env, shared_data, keep=3)
    victim = sorted(ids)[1]
    original = task_module.register_application.fn

    def flaky(landing: str, bundle: Any, app: Any) -> Any:
        if bundle.application_id == victim:
            raise RuntimeError("database constraint exploded")
        return original(landing, bundle, app)

    monkeypatch.setattr(task_module.register_application, "fn", flaky)
    outcomes = {o.application_id: o for o in ingest_landing(str(pipeline_env))}
    assert outcomes[victim].status == "DEAD_LETTER"
    assert "RuntimeError" in outcomes[victim].detail
    assert all(outcomes[i].status == "DECIDED" for i in ids if i != victim)
    with session_scope(runtime.database()) as s:
        dead = [d for d in list_dead_letters(s) if d["application_id"] == victim]
    assert dead and dead[0]["error_code"] == "PROCESSING_FAILED"


def test_dead_database_stops_the_batch_with_one_clear_error(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("KYC_DATABASE_URL", f"postgresql+psycopg2://postgres@127.0.0.1:{port}/kyc")
    monkeypatch.setenv("KYC_LANDING", str(tmp_path))
    runtime.reset()
    try:
        with pytest.raises(task_module.DatabaseUnavailable, match="database unavailable"):
            ingest_landing(str(tmp_path))
    finally:
        runtime.reset()


def test_a_failed_shared_gate_run_is_validated_again_not_lost(
    pipeline_env: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch queues rows for GX early; if that shared run fails, each row is re-validated."""
    ids = _small_landing(pipeline_env, shared_data, keep=2)
    gate = runtime.current().gate
    original = gate._run
    failed_runs: list[int] = []

    def first_run_fails(batch: list[Any]) -> None:
        if not failed_runs:
            failed_runs.append(len(batch))
            for request in batch:  # what _run does when GX raises
                request.error = RuntimeError("GX worker died")
                request.done.set()
            return
        original(batch)

    monkeypatch.setattr(gate, "_run", first_run_fails)
    outcomes = ingest_landing(str(pipeline_env))
    assert failed_runs, "the shared run was never asked for"
    assert [o.application_id for o in outcomes] == sorted(ids)
    for o in outcomes:
        assert o.status == "DECIDED" and o.decision == "PASS", o
        assert "DATA_QUALITY_FAILED" not in o.reasons and "ENGINE_ERROR" not in o.reasons
