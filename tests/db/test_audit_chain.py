"""The hash-chained audit log and append-only decisions, on a real PostgreSQL.

Tampering is done the way an attacker with database access would: triggers off
(``session_replication_role = replica``, superuser), rows edited, deleted, inserted.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kyc.db.chain import GENESIS, application_story, verify
from kyc.db.engine import make_engine, session_scope, upgrade
from kyc.db.models import AuditLog
from tests.fixtures.db import DatabaseFactory

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def chain_db(pg_server: DatabaseFactory) -> Iterator[tuple[str, sa.Engine]]:
    """A fresh migrated database per test (tampering must not leak into others)."""
    url = pg_server.create("kyc_chain")
    upgrade(url)
    engine = make_engine(url)
    yield url, engine
    engine.dispose()


def write(engine: sa.Engine, n: int, app: str = "app-chain") -> None:
    for i in range(n):
        with session_scope(engine) as s:
            s.add(
                AuditLog(
                    application_id=app,
                    entity="test",
                    entity_id=str(i),
                    action="wrote",
                    to_state=str(i),
                    detail={"i": i, "ü": "ß"},
                )
            )


def tamper(engine: sa.Engine, sql: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(sa.text(sql))


def report(engine: sa.Engine, anchor: tuple[int, str] | None = None):  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return verify(s, anchor=anchor)


def test_an_untouched_chain_verifies_and_links_every_row(chain_db: tuple[str, sa.Engine]) -> None:
    _, engine = chain_db
    assert report(engine).ok and report(engine).head_hash == GENESIS
    write(engine, 5)
    r = report(engine)
    assert r.ok and r.rows == 5 and r.head_seq == 5 and r.head_hash != GENESIS
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT prev_hash, row_hash FROM audit_log ORDER BY chain_seq")
        ).all()
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.row_hash for a, b in itertools.pairwise(rows))


@pytest.mark.parametrize(
    ("attack", "bad_seq", "problem"),
    [
        ("UPDATE audit_log SET to_state = 'PASS' WHERE chain_seq = 3", 3, "edited"),
        ("UPDATE audit_log SET detail = '{\"i\": 9}' WHERE chain_seq = 2", 2, "edited"),
        ("UPDATE audit_log SET at = at + interval '1 second' WHERE chain_seq = 4", 4, "edited"),
        ("DELETE FROM audit_log WHERE chain_seq = 3", 3, "missing"),
        (
            "UPDATE audit_log SET chain_seq = -(chain_seq + 1) WHERE chain_seq >= 3;"
            " UPDATE audit_log SET chain_seq = -chain_seq WHERE chain_seq < 0;"
            " INSERT INTO audit_log (entity, entity_id, action, chain_seq, prev_hash, row_hash)"
            " SELECT 'x', 'y', 'forged', 3, row_hash, repeat('f', 64)"
            " FROM audit_log WHERE chain_seq = 2",
            3,
            "edited",
        ),
    ],
)
def test_tampering_is_found_at_the_first_bad_row(
    chain_db: tuple[str, sa.Engine], attack: str, bad_seq: int, problem: str
) -> None:
    _, engine = chain_db
    write(engine, 6)
    tamper(engine, attack)
    r = report(engine)
    assert not r.ok
    assert r.first_bad == bad_seq, r
    assert problem in (r.problem or "")


def test_an_anchor_catches_the_newest_rows_deleted(chain_db: tuple[str, sa.Engine]) -> None:
    _, engine = chain_db
    write(engine, 4)
    head = report(engine)
    tamper(engine, "DELETE FROM audit_log WHERE chain_seq = 4")
    assert report(engine).ok  # a shorter chain is still a chain...
    r = report(engine, anchor=(head.head_seq, head.head_hash))
    assert not r.ok and "gone" in (r.problem or "")  # ...that the anchor no longer reaches
    assert report(engine, anchor=(3, report(engine).head_hash)).ok


def test_the_log_and_the_decisions_refuse_updates_and_deletes(
    chain_db: tuple[str, sa.Engine],
) -> None:
    _, engine = chain_db
    write(engine, 1)
    for sql in (
        "UPDATE audit_log SET action = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE kyc_decisions SET decision = 'PASS'",
        "DELETE FROM kyc_decisions",
        "TRUNCATE kyc_decisions CASCADE",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            # a row must exist for row triggers to fire on kyc_decisions
            _decision(conn)
            conn.execute(sa.text(sql))
    # erasure may delete decision rows, inside its own transaction only
    with engine.begin() as conn:
        user_id = _decision(conn)
        conn.execute(sa.text("SET LOCAL kyc.erasure = 'on'"))
        conn.execute(sa.text("DELETE FROM users WHERE user_id = :u"), {"u": user_id})
    assert report(engine).ok


def _decision(conn: sa.Connection) -> uuid.UUID:
    user_id = uuid.uuid4()
    app = f"app-{user_id.hex[:8]}"
    conn.execute(
        sa.text(
            "INSERT INTO users (user_id, email, first_name, last_name, date_of_birth, address)"
            " VALUES (:u, 'e@x.org', 'A', 'B', '1980-01-01', '{}')"
        ),
        {"u": user_id},
    )
    conn.execute(
        sa.text(
            "INSERT INTO applications (application_id, user_id, landing_uri, input_fingerprint,"
            " form) VALUES (:a, :u, '/l', 'f', '{}')"
        ),
        {"a": app, "u": user_id},
    )
    conn.execute(
        sa.text(
            "INSERT INTO kyc_decisions (application_id, user_id, version, decision, reasons,"
            " findings, scores, engines, input_fingerprint)"
            " VALUES (:a, :u, 1, 'FAIL', '{}', '[]', '{}', '{}', 'f')"
        ),
        {"a": app, "u": user_id},
    )
    return user_id


def test_concurrent_writers_extend_one_chain(chain_db: tuple[str, sa.Engine]) -> None:
    _, engine = chain_db
    threads = [threading.Thread(target=write, args=(engine, 10, f"app-{i}")) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r = report(engine)
    assert r.ok and r.rows == 40 and r.head_seq == 40


def test_cli_verify_exits_non_zero_naming_the_row_and_export_tells_the_story(
    chain_db: tuple[str, sa.Engine],
) -> None:
    url, engine = chain_db
    with engine.begin() as conn:
        user_id = _decision(conn)
    app = f"app-{user_id.hex[:8]}"
    write(engine, 3, app)
    env = os.environ | {"KYC_DATABASE_URL": url}
    kyc = [sys.executable, "-m", "kyc.cli"]
    ok = subprocess.run(
        [*kyc, "audit", "verify"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert "audit chain intact: 3 rows" in ok.stdout + ok.stderr
    story = subprocess.run(
        [*kyc, "audit", "export", "--application", app],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert story.returncode == 0, story.stderr
    import json

    data = json.loads(story.stdout)
    assert [d["version"] for d in data["decisions"]] == [1]
    assert len(data["audit_log"]) == 3 and all(len(r["row_hash"]) == 64 for r in data["audit_log"])
    tamper(engine, "UPDATE audit_log SET action = 'x' WHERE chain_seq = 2")
    bad = subprocess.run(
        [*kyc, "audit", "verify"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "BROKEN at row 2" in bad.stdout + bad.stderr
    with session_scope(engine) as s:
        assert application_story(s, "no-such-app") is None
    assert dt.date.today()  # the story's dates are ISO strings (json.loads above)
