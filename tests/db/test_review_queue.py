"""The review queue's SQL (kyc.db.review.queue / queue_counts) on a real PostgreSQL.

Rows are written directly (users, applications, id_documents, decision versions), so
that each case is exactly the history the queue must read: the latest version
decides whether a case is open, a review version (ESCALATED) keeps the time the
rules queued it, and each filter keeps exactly the cases it names.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from kyc.db import review as store
from kyc.db.engine import make_engine, session_scope, upgrade
from tests.fixtures.db import DatabaseFactory

pytestmark = pytest.mark.db

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def engine(pg_server: DatabaseFactory) -> Iterator[sa.Engine]:
    url = pg_server.create("kyc_queue")
    upgrade(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def add_case(
    engine: sa.Engine,
    versions: list[tuple[str, list[str], str, float]],
    *,
    doc_type: str = "driving_licence",
    reg_type: str = "NONE",
    last_name: str = "Doe",
) -> str:
    """One application with decision versions (decision, reasons, source, hours ago)."""
    app_id, user_id = f"q-{uuid.uuid4().hex[:10]}", uuid.uuid4()
    form = {"registration": {"type": reg_type, "number": None if reg_type == "NONE" else "1"}}
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO users (user_id, email, first_name, last_name, date_of_birth, address)"
                " VALUES (:u, 'x@example.org', 'Jo', :last, '1990-01-01', '{}')"
            ),
            {"u": user_id, "last": last_name},
        )
        c.execute(
            sa.text(
                "INSERT INTO applications (application_id, user_id, landing_uri,"
                " input_fingerprint, form) VALUES (:a, :u, 'file:///l', 'fp', CAST(:f AS jsonb))"
            ),
            {"a": app_id, "u": user_id, "f": json.dumps(form)},
        )
        c.execute(
            sa.text(
                "INSERT INTO id_documents (application_id, user_id, doc_type, document_number,"
                " issuing_country, expiry_date, front_key, front_etag)"
                " VALUES (:a, :u, CAST(:t AS id_doc_type_enum), 'D1', 'USA', '2030-01-01',"
                " 'incoming/x/id_document.jpg', 'e')"
            ),
            {"a": app_id, "u": user_id, "t": doc_type},
        )
        for version, (decision, reasons, source, hours) in enumerate(versions, start=1):
            c.execute(
                sa.text(
                    "INSERT INTO kyc_decisions (application_id, user_id, version, decision,"
                    " reasons, findings, scores, engines, input_fingerprint, decided_at, source)"
                    " VALUES (:a, :u, :v, CAST(:d AS kyc_decision_enum), :r, '[]', '{}', '{}',"
                    " :fp, :at, :s)"
                ),
                {
                    "a": app_id,
                    "u": user_id,
                    "v": version,
                    "d": decision,
                    "r": reasons,
                    "fp": f"fp{version}",
                    "at": NOW - dt.timedelta(hours=hours),
                    "s": source,
                },
            )
    return app_id


def queue_ids(engine: sa.Engine, **filters: str) -> list[str]:
    with session_scope(engine) as s:
        rows, total = store.queue(
            s, store.QueueFilters(**filters), now=NOW, sla_hours=24, limit=1000
        )
    assert total == len(rows)
    return [r.application_id for r in rows]


def test_only_cases_whose_latest_version_is_manual_review_are_open_oldest_first(
    engine: sa.Engine,
) -> None:
    mr = ("MANUAL_REVIEW", ["FACE_MATCH_INCONCLUSIVE"], "pipeline")
    old = add_case(engine, [(*mr, 30.0)], last_name="Old")
    new = add_case(engine, [(*mr, 1.0)])
    reviewed = add_case(engine, [(*mr, 40.0), ("PASS", ["REVIEW_APPROVED"], "review", 39.0)])
    passed = add_case(engine, [("PASS", [], "pipeline", 10.0)])
    # decided again by the rules after a re-landing: open again, queued at the new time
    again = add_case(
        engine, [(*mr, 50.0), ("FAIL", ["REVIEW_REJECTED"], "review", 49.0), (*mr, 2.0)]
    )
    waiting = add_case(
        engine, [(*mr, 20.0), ("MANUAL_REVIEW", ["RESUBMISSION_REQUESTED"], "review", 19.0)]
    )
    escalated = add_case(
        engine,
        [(*mr, 45.0), ("MANUAL_REVIEW", ["ESCALATED", "FACE_MATCH_INCONCLUSIVE"], "review", 3.0)],
    )
    # no decision by the rules at all (written by hand): queued when it was written
    review_only = add_case(engine, [("MANUAL_REVIEW", ["ESCALATED"], "review", 0.25)])
    ids = queue_ids(engine)
    assert reviewed not in ids and passed not in ids and waiting not in ids
    assert ids[-1] == review_only
    # oldest first; the escalated case keeps the time the rules queued it (45 h)
    assert [i for i in ids if i in {old, new, again, escalated}] == [escalated, old, again, new]
    with session_scope(engine) as s:
        rows, _ = store.queue(s, store.QueueFilters(), now=NOW, sla_hours=24)
    by_id = {r.application_id: r for r in rows}
    assert by_id[escalated].escalated and by_id[escalated].version == 2
    assert by_id[escalated].queued_at == NOW - dt.timedelta(hours=45)
    assert by_id[old].applicant == "Jo Old" and by_id[old].doc_type == "driving_licence"
    assert by_id[old].reg_type == "NONE" and by_id[old].assignee is None


def test_filters_and_counts(engine: sa.Engine) -> None:
    mr = ("MANUAL_REVIEW", ["DOCUMENT_INCONSISTENT"], "pipeline")
    passport = add_case(engine, [(*mr, 100.0)], doc_type="passport", reg_type="GMC")
    fresh = add_case(engine, [("MANUAL_REVIEW", ["NAME_MISMATCH"], "pipeline", 0.5)])
    claimed = add_case(engine, [(*mr, 5.0)])
    with engine.begin() as c:
        uid = c.execute(
            sa.text(
                "INSERT INTO console_users (username, display_name, role)"
                " VALUES ('queue-alice', 'Alice', 'reviewer') RETURNING console_user_id"
            )
        ).scalar_one()
        c.execute(
            sa.text(
                "INSERT INTO review_assignments (application_id, console_user_id, assigned_by)"
                " VALUES (:a, :u, 'queue-alice')"
            ),
            {"a": claimed, "u": uid},
        )
    assert queue_ids(engine, doc_type="passport") == [passport]
    assert queue_ids(engine, reg_type="GMC") == [passport]
    assert queue_ids(engine, assignee="queue-alice") == [claimed]
    assert claimed not in queue_ids(engine, assignee="unassigned")
    assert passport in queue_ids(engine, assignee="unassigned")
    assert fresh in queue_ids(engine, reason="NAME_MISMATCH")
    assert passport not in queue_ids(engine, reason="NAME_MISMATCH")
    assert fresh in queue_ids(engine, age="under_4h") and fresh not in queue_ids(
        engine, age="overdue"
    )
    assert passport in queue_ids(engine, age="overdue") and passport in queue_ids(
        engine, age="over_24h"
    )
    assert claimed in queue_ids(engine, age="over_4h") and claimed not in queue_ids(
        engine, age="over_24h"
    )
    with session_scope(engine) as s:
        counts = store.queue_counts(s, now=NOW, sla_hours=24)
        _, total = store.queue(s, store.QueueFilters(), now=NOW, sla_hours=24)
        page, _ = store.queue(s, store.QueueFilters(), now=NOW, sla_hours=24, offset=1, limit=2)
        everything, _ = store.queue(s, store.QueueFilters(), now=NOW, sla_hours=24, limit=1000)
    assert counts["open"] == total and counts["unassigned"] == total - 1
    assert counts["escalated"] == sum(r.escalated for r in everything)
    assert counts["overdue"] == sum(r.queued_at < NOW - dt.timedelta(hours=24) for r in everything)
    assert [r.application_id for r in page] == [r.application_id for r in everything[1:3]]


def test_migration_0012_fills_the_queue_with_the_cases_already_open(
    pg_server: DatabaseFactory,
) -> None:
    url = pg_server.create("kyc_queue_0012")
    upgrade(url, "0011")
    eng = make_engine(url)
    try:
        mr = ("MANUAL_REVIEW", ["FACE_MATCH_INCONCLUSIVE"], "pipeline")
        open_ = add_case(eng, [(*mr, 30.0)])
        escalated = add_case(eng, [(*mr, 45.0), ("MANUAL_REVIEW", ["ESCALATED"], "review", 3.0)])
        decided = add_case(eng, [(*mr, 40.0), ("PASS", ["REVIEW_APPROVED"], "review", 39.0)])
        waiting = add_case(
            eng, [(*mr, 20.0), ("MANUAL_REVIEW", ["RESUBMISSION_REQUESTED"], "review", 19.0)]
        )
        upgrade(url)
        with eng.connect() as c:
            rows = {r.application_id: r for r in c.execute(sa.text("SELECT * FROM review_queue"))}
        assert set(rows) == {open_, escalated}
        assert decided not in rows and waiting not in rows
        assert rows[escalated].version == 2 and rows[escalated].reasons == ["ESCALATED"]
        assert rows[escalated].automated == ["FACE_MATCH_INCONCLUSIVE"]
        assert rows[escalated].queued_at == NOW - dt.timedelta(hours=45)
        # From here on the trigger keeps it (decisions are append-only since 0007:
        # only new versions move a case): a review decision takes the case out.
        assert queue_ids(eng) == [escalated, open_]
        with eng.begin() as c:
            c.execute(
                sa.text(
                    "INSERT INTO kyc_decisions (application_id, user_id, version, decision, reasons,"
                    " findings, scores, engines, input_fingerprint, source)"
                    " SELECT application_id, user_id, 3, 'FAIL', '{REVIEW_REJECTED}', '[]', '{}',"
                    " '{}', 'fp3', 'review' FROM review_queue WHERE application_id = :a"
                ),
                {"a": escalated},
            )
        assert queue_ids(eng) == [open_]
    finally:
        eng.dispose()
