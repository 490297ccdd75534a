"""A file still being written is never decided (issue 16): local landings settle first."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from kyc.domain.landing import settle
from kyc.runtime import Runtime
from kyc.services import intake
from kyc.storage.base import ObjectInfo
from kyc.storage.local import LocalStore
from tests.services.conftest import land, service_settings

pytestmark = pytest.mark.db


def test_settle_holds_back_recently_changed_applications() -> None:
    from kyc.domain.landing import group_landing

    objs = [
        ObjectInfo(f"incoming/{app}/{name}", 1, "e", last_modified=when)
        for app, when in (("old", 100.0), ("new", 109.5))
        for name in ("application.json", "id_document.jpg", "selfie.jpg")
    ]
    complete, _ = group_landing(objs)
    ready, waiting = settle(complete, now=110.0, settle_seconds=2.0)
    assert [b.application_id for b in ready] == ["old"]
    assert [(w.application_id, w.settling, w.problems) for w in waiting] == [("new", True, ())]
    assert settle(complete, now=110.0, settle_seconds=0)[0] == complete


def test_a_slow_writer_is_waited_for(db_url: str, tmp_path: Path, shared_data: Path) -> None:
    rt = Runtime(service_settings(db_url, tmp_path, landing_settle_seconds=0.6))
    try:
        landed = land(LocalStore(tmp_path), shared_data, identity=1)
        app = landed.application_id
        selfie = tmp_path / "incoming" / app / "selfie.jpg"
        data = selfie.read_bytes()
        selfie.write_bytes(b"")  # the writer starts over, slowly and in place

        def write_slowly() -> None:
            with selfie.open("ab") as out:
                for i in range(0, len(data), len(data) // 5 + 1):
                    out.write(data[i : i + len(data) // 5 + 1])
                    out.flush()
                    time.sleep(0.25)

        writer = threading.Thread(target=write_slowly)
        writer.start()
        time.sleep(0.1)
        # the batch's view at once: settling, not complete, and not an error
        now = intake.discover(rt, str(tmp_path), app)
        assert now.complete == [] and [i.settling for i in now.incomplete] == [True]
        assert now.incomplete[0].problems == ()
        # the per-event flow's view: waits until the writer is done
        waited = intake.discover(rt, str(tmp_path), app, wait=True)
        writer.join()
        (bundle,) = waited.complete
        assert bundle.selfie.etag == hashlib.md5(data).hexdigest()  # the whole file
    finally:
        rt.close()


def test_symlinks_are_reported_not_silently_skipped(
    rt: Runtime, tmp_path: Path, shared_data: Path
) -> None:
    landing = tmp_path / "landing"
    elsewhere = tmp_path / "elsewhere"
    real = land(LocalStore(landing), shared_data, identity=2)
    linked = land(LocalStore(elsewhere), shared_data, identity=3)
    (landing / "incoming" / linked.application_id).symlink_to(
        elsewhere / "incoming" / linked.application_id
    )
    selfie = landing / "incoming" / real.application_id / "selfie.jpg"
    selfie.rename(tmp_path / "selfie.jpg")
    selfie.symlink_to(tmp_path / "selfie.jpg")

    found = intake.discover(rt, str(landing))
    assert found.complete == []
    problems = {i.application_id: i.problems for i in found.incomplete}
    assert problems[linked.application_id] == ("symbolic link the application folder not followed",)
    assert "symbolic link 'selfie.jpg' not followed" in problems[real.application_id]


def test_kyc_ingest_exits_non_zero_when_an_application_failed_to_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from kyc.cli import app
    from kyc.cli import pipeline as cli_pipeline
    from kyc.domain.records import Outcome, OutcomeStatus

    outcomes = [
        Outcome("fine", OutcomeStatus.DECIDED, decision="PASS"),
        Outcome("bad-form", OutcomeStatus.DEAD_LETTER, detail="APPLICATION_INVALID: x"),
    ]
    monkeypatch.setattr(cli_pipeline, "run_ingest", lambda *args, **kwargs: list(outcomes))
    assert CliRunner().invoke(app, ["ingest", "/tmp/x", "--json"]).exit_code == 0
    outcomes.append(
        Outcome("broken", OutcomeStatus.DEAD_LETTER, detail="PROCESSING_FAILED: OSError: disk")
    )
    result = CliRunner().invoke(app, ["ingest", "/tmp/x", "--json"])
    assert result.exit_code == 1
    assert "broken" in result.output
    # An application whose objects the store would not give is left for the next
    # sweep: not decided, so the run did not finish its work either.
    outcomes[-1] = Outcome(
        "unread", OutcomeStatus.DEAD_LETTER, detail="OBJECT_UNREADABLE: could not be read"
    )
    result = CliRunner().invoke(app, ["ingest", "/tmp/x", "--json"])
    assert result.exit_code == 1
    assert "unread" in result.output
