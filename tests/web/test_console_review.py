"""The queue, the case page and the reviewers' actions over HTTP (real uvicorn and database)."""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image, ImageChops, ImageStat
from typer.testing import CliRunner

from kyc.db.engine import session_scope
from kyc.domain.records import Reason
from kyc.domain.review import Role
from kyc.domain.rules import Signals
from kyc.services import decide
from kyc.services import scan as scans
from kyc.storage.local import LocalStore
from tests.services.conftest import land, open_landed
from tests.web.console_fixtures import (
    Console,
    console,
    console_overrides,
    csrf_of,
    login,
    make_user,
    queued_case,
)

__all__ = ["console", "console_overrides"]  # fixtures used by name
pytestmark = pytest.mark.db


def _latest(console: Console, app_id: str) -> dict[str, object]:
    with console.rt.db.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT version, decision::text AS decision, reasons, source, reviewed_by"
                " FROM kyc_decisions WHERE application_id = :a ORDER BY version DESC LIMIT 1"
            ),
            {"a": app_id},
        ).one()
    return dict(row._mapping)


def _post(client: httpx.Client, app_id: str, action: str, **data: object) -> httpx.Response:
    """Post a case form the way the page does: its CSRF token and the version it showed."""
    page = client.get(f"/cases/{app_id}")
    version = re.search(r'data-version="(\d+)"', page.text)
    assert version
    body = {"csrf_token": csrf_of(page.text), "expected_version": version.group(1)} | data
    return client.post(f"/cases/{app_id}/{action}", data=body)


def _queue_ids(client: httpx.Client, query: str = "") -> list[str]:
    page = client.get("/" + (f"?{query}" if query else ""))
    assert page.status_code == 200, page.text
    return re.findall(r'<tr data-application-id="([^"]+)"', page.text)


def test_empty_queue_says_so(console: Console) -> None:
    client = login(console, make_user(console, Role.VIEWER))
    page = client.get("/")
    assert 'id="queue-empty"' in page.text and "The queue is empty" in page.text
    assert 'data-testid="count-open">0<' in page.text


def test_queue_filters_counts_and_bad_filters(console: Console) -> None:
    plain = queued_case(console)
    flagged = queued_case(console, Reason.DOCUMENT_INCONSISTENT)
    name = make_user(console, Role.REVIEWER)
    client = login(console, name)
    ids = _queue_ids(client)
    assert ids.index(plain) < ids.index(flagged)  # oldest first
    assert _queue_ids(client, "reason=DOCUMENT_INCONSISTENT") == [flagged]
    assert plain in _queue_ids(client, "assignee=unassigned")
    assert _queue_ids(client, "age=overdue") == []
    assert set(_queue_ids(client, "age=under_4h")) >= {plain, flagged}
    assert set(_queue_ids(client, "doc_type=driving_licence")) >= {plain, flagged}
    assert _queue_ids(client, "doc_type=passport") == []
    assert set(_queue_ids(client, "reg_type=NONE")) >= {plain, flagged}

    assert _post(client, plain, "claim").status_code == 303
    assert _queue_ids(client, "assignee=me") == [plain]
    assert _queue_ids(client, f"assignee={name}") == [plain]
    assert plain not in _queue_ids(client, "assignee=unassigned")
    page = client.get("/")
    open_count = int(re.search(r'count-open">(\d+)<', page.text).group(1))  # type: ignore[union-attr]
    unassigned = int(re.search(r'count-unassigned">(\d+)<', page.text).group(1))  # type: ignore[union-attr]
    assert open_count >= 2 and unassigned == open_count - 1
    assert f"Showing 1–{open_count} of {open_count}" in page.text
    assert "No open case matches these filters" in client.get("/?doc_type=passport").text
    for bad in (
        "reason=NOPE",
        "age=forever",
        "doc_type=visa",
        "reg_type=XX",
        "assignee=ghost",
        "page=0",
        "page=abc",
    ):
        assert client.get(f"/?{bad}").status_code == 400, bad
        assert client.get(f"/queue/rows?{bad}").status_code == 400, bad
    rows = client.get("/queue/rows?reason=DOCUMENT_INCONSISTENT")
    assert rows.status_code == 200 and "<html" not in rows.text and flagged in rows.text


def test_pagination(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(3):
        queued_case(console)
    monkeypatch.setattr("kyc.db.review.PAGE_SIZE", 2)  # the server runs in this process
    client = login(console, make_user(console, Role.VIEWER))
    first = client.get("/?assignee=unassigned")
    total = int(re.search(r"Showing 1–2 of (\d+)", first.text).group(1))  # type: ignore[union-attr]
    assert total >= 3 and len(re.findall(r"<tr data-application-id=", first.text)) == 2
    assert 'href="/?assignee=unassigned&amp;page=2" rel="next"' in first.text
    second = client.get("/?assignee=unassigned&page=2")
    assert f"Showing 3–{min(4, total)} of {total}" in second.text
    assert 'rel="prev"' in second.text
    assert set(_queue_ids(client, "assignee=unassigned")).isdisjoint(
        _queue_ids(client, "assignee=unassigned&page=2")
    )


def test_liveness_frames_are_shown(console: Console) -> None:
    app_id = queued_case(console)
    selfie = (console.landing / "incoming" / app_id / "selfie.jpg").read_bytes()
    LocalStore(console.landing).put(f"incoming/{app_id}/selfie_frames/2.jpg", selfie)
    client = login(console, make_user(console, Role.VIEWER))
    assert 'data-testid="image-frame-2"' in client.get(f"/cases/{app_id}").text
    frame = client.get(f"/cases/{app_id}/images/frame-2")
    assert frame.status_code == 200 and frame.content == selfie
    assert client.get(f"/cases/{app_id}/images/frame-3").status_code == 404


def test_overdue_cases_are_marked(console: Console) -> None:
    app_id = queued_case(console)
    with session_scope(console.rt.db) as s:
        # Decisions are append-only (migration 0007): backdating one means turning the
        # triggers off, as only a superuser can (the tests connect as one).
        s.execute(sa.text("SET LOCAL session_replication_role = replica"))
        s.execute(
            sa.text(
                "UPDATE kyc_decisions SET decided_at = now() - interval '30 hours'"
                " WHERE application_id = :a"
            ),
            {"a": app_id},
        )
    client = login(console, make_user(console, Role.VIEWER))
    assert app_id in _queue_ids(client, "age=overdue")
    assert app_id in _queue_ids(client, "age=over_24h")
    row = re.search(
        rf'<tr data-application-id="{app_id}" class="([^"]*)">(.*?)</tr>',
        client.get("/").text,
        re.S,
    )
    assert row and "overdue" in row.group(1) and "badge overdue" in row.group(2)


def test_case_page_shows_fields_findings_versions_and_audit(console: Console) -> None:
    app_id = queued_case(
        console,
        Reason.DUPLICATE_IDENTITY,
        fields={"FIRST_NAME": "Someone", "DATE_OF_BIRTH": "1901-01-01"},
    )
    client = login(console, make_user(console, Role.VIEWER))
    page = client.get(f"/cases/{app_id}")
    assert page.status_code == 200
    html = page.text
    dob = re.search(r'<tr data-field="DATE_OF_BIRTH" class="([^"]*)">(.*?)</tr>', html, re.S)
    assert dob and dob.group(1) == "differs" and "1901-01-01" in dob.group(2)
    assert "barcode (PDF417)" in dob.group(2) and ">95<" in dob.group(2)
    assert "The same face is on file under another identity" in html  # plain words
    assert 'data-version="1"' in html and "pipeline" in html
    assert "kyc_decision" in html and "decided" in html  # the audit trail
    assert "No portrait crop" in html
    assert "four-eyes" in html
    # a note, escaped
    reviewer = login(console, make_user(console, Role.REVIEWER))
    assert _post(reviewer, app_id, "notes", body="<b>check</b> the address").status_code == 303
    html = client.get(f"/cases/{app_id}").text
    assert "&lt;b&gt;check&lt;/b&gt; the address" in html and "<b>check</b>" not in html


def test_the_portrait_crop_is_the_readers_face_box(console: Console) -> None:
    """The real local reader finds the licence portrait; the page shows that very crop."""
    rt = console.rt
    landed = land(LocalStore(console.landing), console.shared, identity=3)
    case = open_landed(rt, str(console.landing), landed.application_id)
    scan = scans.scan_document(rt, case)  # barcode, OCR and face detection, recorded
    assert scan.portrait is not None and scan.portrait_box is not None
    decide.decide_application(rt, case, Signals(case.application, scan, None, None))
    client = login(console, make_user(console, Role.VIEWER))
    assert (
        f"/cases/{case.application_id}/images/portrait"
        in client.get(f"/cases/{case.application_id}").text
    )
    crop = client.get(f"/cases/{case.application_id}/images/portrait")
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    assert crop.headers["cache-control"] == "no-store"
    left, top, right, bottom = scan.portrait_box
    with (
        Image.open(io.BytesIO(crop.content)) as shown,
        Image.open(io.BytesIO(scan.portrait)) as read,
    ):
        assert shown.size == (right - left, bottom - top) == read.size
        diff = ImageChops.difference(shown.convert("L"), read.convert("L"))
        assert ImageStat.Stat(diff).mean[0] < 3  # the same pixels, JPEG-encoded twice


def test_four_eyes_over_http(console: Console) -> None:
    app_id = queued_case(console, Reason.DOCUMENT_INCONSISTENT)
    first_name = make_user(console, Role.APPROVER)
    first = login(console, first_name)
    step = _post(first, app_id, "approve")
    assert step.status_code == 303 and step.headers["location"] == f"/cases/{app_id}"
    page = first.get(f"/cases/{app_id}")
    assert 'id="flash"' in page.text and "second approver" in page.text
    assert 'id="pending-approval"' in page.text and _latest(console, app_id)["version"] == 1

    again = _post(first, app_id, "approve")
    assert again.status_code == 403 and "not you" in again.text and 'id="flash"' in again.text
    plain = login(console, make_user(console, Role.REVIEWER))
    assert _post(plain, app_id, "approve").status_code == 403

    second_name = make_user(console, Role.APPROVER)
    done = _post(login(console, second_name), app_id, "approve")
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert _latest(console, app_id) == {
        "version": 2,
        "decision": "PASS",
        "reasons": ["REVIEW_APPROVED"],
        "source": "review",
        "reviewed_by": [first_name, second_name],
    }
    queue = first.get("/")
    assert app_id not in re.findall(r'data-application-id="([^"]+)"', queue.text)
    # decided: refused with 409 and the message on the case page
    late = _post(first, app_id, "reject", reasons="OTHER", note="late")
    assert late.status_code == 409 and "already decided" in late.text


def test_reject_with_reasons_and_validation(console: Console) -> None:
    app_id = queued_case(console)
    client = login(console, make_user(console, Role.REVIEWER))
    none_given = _post(client, app_id, "reject", note="")
    assert none_given.status_code == 422 and "at least one reason" in none_given.text
    unknown = _post(client, app_id, "reject", reasons="<script>x</script>")
    assert unknown.status_code == 422 and "<script>x</script>" not in unknown.text
    assert "&lt;script&gt;" in unknown.text
    done = _post(client, app_id, "reject", reasons=["DOCUMENT_FORGED", "FACE_MISMATCH"], note="n")
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert "rejected" in client.get("/").text  # the flash on the queue
    latest = _latest(console, app_id)
    assert latest["decision"] == "FAIL"
    assert latest["reasons"] == ["REVIEW_REJECTED", "DOCUMENT_FORGED", "FACE_MISMATCH"]


def test_resubmission_and_escalation(console: Console) -> None:
    resub = queued_case(console)
    esc = queued_case(console)
    name = make_user(console, Role.REVIEWER)
    client = login(console, name)
    assert _post(client, resub, "resubmit", document="passport").status_code == 422
    assert _post(client, resub, "resubmit", document="selfie").status_code == 303
    assert _latest(console, resub)["reasons"] == ["RESUBMISSION_REQUESTED"]
    assert resub not in _queue_ids(client)
    assert "awaiting resubmission" in client.get(f"/cases/{resub}").text

    assert _post(client, esc, "escalate", note="").status_code == 422
    assert _post(client, esc, "escalate", note="photo unclear").status_code == 303
    assert esc in _queue_ids(client, "reason=ESCALATED")
    assert 'id="escalated-note"' in client.get(f"/cases/{esc}").text
    refused = _post(client, esc, "reject", reasons="OTHER", note="n")
    assert refused.status_code == 403 and "approver" in refused.text
    boss = login(console, make_user(console, Role.APPROVER))
    assert _post(boss, esc, "approve").status_code == 303
    assert _latest(console, esc)["decision"] == "PASS"


def test_two_racing_posts_make_one_decision(console: Console) -> None:
    app_id = queued_case(console)
    clients = [login(console, make_user(console, Role.APPROVER)) for _ in range(3)]
    forms = []
    for c in clients:
        page = c.get(f"/cases/{app_id}")
        forms.append(
            {
                "csrf_token": csrf_of(page.text),
                "expected_version": "1",
                "reasons": "OTHER",
                "note": "race",
            }
        )
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def go(c: httpx.Client, form: dict[str, str]) -> None:
        barrier.wait()
        statuses.append(c.post(f"/cases/{app_id}/reject", data=form).status_code)

    threads = [threading.Thread(target=go, args=pair) for pair in zip(clients, forms, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [303, 409, 409]
    with console.rt.db.connect() as conn:
        versions = conn.execute(
            sa.text("SELECT count(*) FROM kyc_decisions WHERE application_id = :a"), {"a": app_id}
        ).scalar_one()
    assert versions == 2


def test_the_live_feed_sends_heartbeats(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kyc.web.console.HEARTBEAT_SECONDS", 0.2)
    client = login(console, make_user(console, Role.VIEWER))
    with client.stream("GET", "/events", timeout=10) as response:
        lines = response.iter_lines()
        assert next(lines) == "retry: 2000"
        seen = [next(lines) for _ in range(4)]
    assert ": heartbeat" in seen


def test_a_new_decision_is_an_event_on_the_live_feed(console: Console) -> None:
    client = login(console, make_user(console, Role.VIEWER))
    events: list[dict[str, str]] = []
    connected = threading.Event()

    def listen() -> None:
        with client.stream("GET", "/events", timeout=20) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith(": connected"):
                    connected.set()
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert connected.wait(10)
    feed = console.app.state.review_events  # made by the first /events request
    assert feed is not None and feed.listening.wait(10)  # LISTEN runs in its own thread
    started = time.monotonic()
    app_id = queued_case(console)  # inserts into kyc_decisions
    thread.join(timeout=10)
    assert events and events[0] == {"kind": "kyc_decisions", "application_id": app_id}
    assert time.monotonic() - started < 10


def test_stats_page_and_cli(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    app_id = queued_case(console, Reason.NAME_MISMATCH)
    reviewer = login(console, make_user(console, Role.REVIEWER))
    assert _post(reviewer, app_id, "approve").status_code == 303
    page = login(console, make_user(console, Role.VIEWER)).get("/stats")
    assert page.status_code == 200
    row = re.search(r'<tr data-reason="NAME_MISMATCH">(.*?)</tr>', page.text, re.S)
    assert row and "100 %" in row.group(1)
    assert "Reviewer throughput" in page.text
    assert login(console, make_user(console, Role.VIEWER)).get("/stats?since=x").status_code == 400

    from kyc import settings as settings_module
    from kyc.cli import app

    monkeypatch.setattr(settings_module, "get_settings", lambda: console.settings)
    monkeypatch.setattr("kyc.runtime.get_settings", lambda: console.settings)
    result = CliRunner().invoke(app, ["review-stats", "--json", "--since", "7"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by = {r["reason"]: r for r in data["by_reason"]}
    assert by["NAME_MISMATCH"]["approved"] >= 1 and data["outcomes"] >= 1
    table = CliRunner().invoke(app, ["review-stats"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "NAME_MISMATCH" in table.stdout


def test_users_cli(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    from kyc.cli import app

    monkeypatch.setattr("kyc.runtime.get_settings", lambda: console.settings)
    name = f"cli-{uuid.uuid4().hex[:6]}"
    runner = CliRunner()
    prompted = runner.invoke(
        app,
        ["users", "add", name + "-p", "--role", "viewer"],
        input="typed twice, long\ntyped twice, long\n",
    )
    assert prompted.exit_code == 0, prompted.output
    login(console, name + "-p", "typed twice, long")
    added = runner.invoke(
        app,
        ["users", "add", name, "--role", "approver", "--password-stdin"],
        input="a long enough password\n",
    )
    assert added.exit_code == 0, added.output
    short = runner.invoke(app, ["users", "add", name + "x", "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "at least" in short.output
    taken = runner.invoke(app, ["users", "add", name, "--password-stdin"], input="x" * 12 + "\n")
    assert taken.exit_code == 2 and "taken" in taken.output
    listed = runner.invoke(app, ["users", "list", "--json"])
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {"username": name, "role": "approver", "disabled": False}.items() <= next(
        r for r in rows if r["username"] == name
    ).items()
    client = login(console, name, "a long enough password")
    assert client.get("/").status_code == 200
    assert runner.invoke(app, ["users", "disable", name]).exit_code == 0
    assert client.get("/").status_code == 303
    assert runner.invoke(app, ["users", "disable", "ghost-user"]).exit_code == 2
