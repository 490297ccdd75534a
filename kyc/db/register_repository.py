"""Repository functions for register extracts, the register cache and licence checks.

Same conventions as :mod:`kyc.db.repository`: session first, keyword-only arguments,
the caller's transaction, no business logic (freshness is decided by the caller's
clock and TTL), audit rows carry ids, never names or numbers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from kyc.db.models import (
    REG_TYPES,
    AuditLog,
    LicenceCheck,
    RegisterCacheEntry,
    RegisterSnapshotEntry,
)
from kyc.domain.records import LicenceResult


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """One register entry of an extract."""

    reg_type: str
    reg_number: str
    full_name: str
    status: str
    conditions: tuple[str, ...]
    snapshot_date: dt.date


@dataclass(frozen=True, slots=True)
class CacheRow:
    """A register cache entry."""

    reg_type: str
    reg_number: str
    result_json: dict[str, Any] | None
    source: str
    fetched_at: dt.datetime
    expires_at: dt.datetime
    pending_run_id: str | None

    def fresh(self, now: dt.datetime) -> bool:
        """True when it holds a result that has not expired at ``now``."""
        return self.result_json is not None and self.expires_at > now


def load_snapshot(session: Session, *, rows: Iterable[SnapshotRow], source_file: str) -> int:
    """Replace the loaded extract of every register present in ``rows``.

    A new extract supersedes the old one as a whole (an entry missing from it has
    left the register), and the cached answers of those registers are dropped so
    that the next check reads the new data.

    Returns:
        The number of entries loaded.

    Raises:
        ValueError: an unknown register or a duplicated number in the file.
    """
    batch = list(rows)
    registers = sorted({r.reg_type for r in batch})
    for reg in registers:
        if reg not in REG_TYPES or reg == "NONE":
            raise ValueError(f"unknown register {reg!r}")
    seen: set[tuple[str, str]] = set()
    for r in batch:
        if (r.reg_type, r.reg_number) in seen:
            raise ValueError(f"{r.reg_type} number listed twice in the extract")
        seen.add((r.reg_type, r.reg_number))
    if not batch:
        return 0
    session.execute(
        sa.delete(RegisterSnapshotEntry).where(RegisterSnapshotEntry.reg_type.in_(registers))
    )
    session.execute(sa.delete(RegisterCacheEntry).where(RegisterCacheEntry.reg_type.in_(registers)))
    session.execute(
        sa.insert(RegisterSnapshotEntry),
        [
            {
                "reg_type": r.reg_type,
                "reg_number": r.reg_number,
                "full_name": r.full_name,
                "status": r.status,
                "conditions": list(r.conditions),
                "snapshot_date": r.snapshot_date,
                "source_file": source_file,
            }
            for r in batch
        ],
    )
    session.add(
        AuditLog(
            application_id=None,
            entity="register_snapshot",
            entity_id=",".join(registers),
            action="loaded",
            detail={"entries": len(batch), "source_file": source_file},
        )
    )
    return len(batch)


def delete_snapshot_source(session: Session, *, source_file: str) -> int:
    """Delete every entry loaded from one file (e.g. the demo's); returns how many."""
    result = session.execute(
        sa.delete(RegisterSnapshotEntry).where(RegisterSnapshotEntry.source_file == source_file)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def find_snapshot_entry(session: Session, *, reg_type: str, reg_number: str) -> SnapshotRow | None:
    """The loaded extract's entry for a number, or None."""
    row = session.get(RegisterSnapshotEntry, (reg_type, reg_number))
    if row is None:
        return None
    return SnapshotRow(
        reg_type=row.reg_type,
        reg_number=row.reg_number,
        full_name=row.full_name,
        status=row.status,
        conditions=tuple(row.conditions),
        snapshot_date=row.snapshot_date,
    )


def snapshot_loaded(session: Session, *, reg_type: str) -> dt.date | None:
    """Date of the newest loaded extract of a register (None: none loaded)."""
    return session.execute(
        sa.select(sa.func.max(RegisterSnapshotEntry.snapshot_date)).where(
            RegisterSnapshotEntry.reg_type == reg_type
        )
    ).scalar_one()


def get_cached(session: Session, *, reg_type: str, reg_number: str) -> CacheRow | None:
    """The cache entry for a number (fresh or not), or None."""
    row = session.get(RegisterCacheEntry, (reg_type, reg_number))
    if row is None:
        return None
    return CacheRow(
        reg_type=row.reg_type,
        reg_number=row.reg_number,
        result_json=row.result_json,
        source=row.source,
        fetched_at=row.fetched_at,
        expires_at=row.expires_at,
        pending_run_id=row.pending_run_id,
    )


def put_cached(
    session: Session,
    *,
    reg_type: str,
    reg_number: str,
    result_json: dict[str, Any] | None,
    source: str,
    fetched_at: dt.datetime,
    expires_at: dt.datetime,
    pending_run_id: str | None = None,
) -> None:
    """Insert or replace the cache entry for a number."""
    values = {
        "result_json": result_json,
        "source": source,
        "fetched_at": fetched_at,
        "expires_at": expires_at,
        "pending_run_id": pending_run_id,
    }
    stmt = pg_insert(RegisterCacheEntry).values(reg_type=reg_type, reg_number=reg_number, **values)
    session.execute(
        stmt.on_conflict_do_update(index_elements=["reg_type", "reg_number"], set_=values)
    )


def purge_expired(session: Session, *, now: dt.datetime) -> int:
    """Delete expired cache entries (the table's TTL); returns how many."""
    result = session.execute(
        sa.delete(RegisterCacheEntry).where(
            RegisterCacheEntry.expires_at <= now, RegisterCacheEntry.pending_run_id.is_(None)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def record_licence_check(
    session: Session, *, application_id: str, result: LicenceResult
) -> uuid.UUID:
    """Store a licence validation; returns its id."""
    data = result.as_dict()
    row = LicenceCheck(
        licence_check_id=uuid.uuid4(),
        application_id=application_id,
        engine=result.engine,
        verified=result.verified,
        field_matches=data["field_matches"],
        findings=data["findings"],
        raw_response_json=data["raw"] or None,
    )
    session.add(row)
    session.add(
        AuditLog(
            application_id=application_id,
            entity="licence_check",
            entity_id=str(row.licence_check_id),
            action="recorded",
            detail={"engine": result.engine, "verified": result.verified},
        )
    )
    return row.licence_check_id


@dataclass(frozen=True, slots=True)
class PendingRecheck:
    """An application decided while its register was unavailable, not re-checked yet."""

    application_id: str
    user_id: uuid.UUID
    reg_type: str
    reg_number: str | None


def unavailable_register_checks(session: Session) -> list[PendingRecheck]:
    """Applications to re-check: register unavailable at decision time, and still.

    That is, the latest decision carries REGISTER_UNAVAILABLE and the latest register
    check is still UNAVAILABLE (so each is re-checked until it gets an answer).
    """
    rows = session.execute(
        sa.text(
            """
            SELECT DISTINCT ON (rc.application_id)
                   rc.application_id, rc.user_id, rc.reg_type::text, rc.reg_number, rc.status
            FROM reg_checks rc
            JOIN LATERAL (
                SELECT d.reasons FROM kyc_decisions d
                WHERE d.application_id = rc.application_id
                ORDER BY d.version DESC LIMIT 1
            ) latest ON true
            WHERE 'REGISTER_UNAVAILABLE' = ANY (latest.reasons)
            ORDER BY rc.application_id, rc.checked_at DESC, rc.reg_check_id
            """
        )
    ).all()
    return [
        PendingRecheck(r.application_id, r.user_id, r.reg_type, r.reg_number)
        for r in rows
        if r.status == "UNAVAILABLE"
    ]
