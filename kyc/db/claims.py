"""Processing claims: which worker is deciding which application's objects right now.

The idempotency key of a decision is (application_id, input_fingerprint): recording
a second decision for the same key raises ``AlreadyDecided``. That keeps the
record right, but two workers could still both run the engines (OCR, faces, GX) for
one application and send its notifications twice. A claim is taken *before* any
engine work, on the same key, with a lease:

* :func:`claim` inserts the claim rows (``INSERT ... ON CONFLICT``); a row that
  exists is taken over only when its lease has run out (its worker was killed or
  hung) or when the caller already owns it. The rows of other live workers are
  left alone, so the caller learns it must skip those applications.
* :func:`renew` pushes the leases of everything an owner holds (a heartbeat).
* :func:`release` deletes the caller's rows when it is done (decided, dead-lettered
  or given up): the decision row is the durable record, the claim is only a lock.
* :func:`claim_states` tells a coordinator (the fan-out flow) which keys are held
  by a live worker and which were abandoned; :func:`take_over` moves the claims of
  a worker known to be dead before their leases run out.

Claimants of the same key never wait long on each other: a conflicting ``INSERT``
waits only for the other claimant's (short) transaction, then sees its row.

``now()`` is the database's clock: workers on several machines compare leases
against one clock, not their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kyc.db.models import ProcessingClaim

Key = tuple[str, str]
"""(application_id, input_fingerprint): the idempotency key of a decision."""


@dataclass(frozen=True, slots=True)
class ClaimState:
    """Who holds a key and until when (as the database sees it now)."""

    owner: str
    lease_until: dt.datetime
    attempts: int
    #: the lease ran out: another worker may take the claim over
    expired: bool


def _interval(seconds: float) -> sa.ColumnElement[dt.datetime]:
    return sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, float(seconds))


def claim(
    session: Session, *, keys: Sequence[Key], owner: str, lease_seconds: float
) -> dict[Key, int]:
    """Claim every key that is free, expired or already ours; in one statement.

    Args:
        session: an open session (commit soon: a claimant of the same key waits
            for this transaction).
        keys: the keys to claim.
        owner: ``host:pid:flow-run id`` of the claimant.
        lease_seconds: how long the claim holds without a renewal.

    Returns:
        The keys won, each with its attempt number (1: first claim; more: taken over
        from workers whose leases ran out). Keys held by another live owner are absent.
    """
    if not keys:
        return {}
    # Sorted: two claimants of overlapping sets lock rows in the same order (no deadlock).
    ordered = sorted(set(keys))
    apps = [k[0] for k in ordered]
    prints = [k[1] for k in ordered]
    stmt = sa.text(
        """
        INSERT INTO processing_claims
            (application_id, input_fingerprint, owner, claimed_at, lease_until)
        SELECT k.application_id, k.input_fingerprint, :owner, now(),
               now() + make_interval(secs => :lease)
        FROM unnest(CAST(:apps AS text[]), CAST(:prints AS text[]))
             AS k(application_id, input_fingerprint)
        ORDER BY 1, 2
        ON CONFLICT (application_id, input_fingerprint) DO UPDATE
        SET owner = EXCLUDED.owner,
            lease_until = EXCLUDED.lease_until,
            claimed_at = CASE WHEN processing_claims.owner = EXCLUDED.owner
                              THEN processing_claims.claimed_at ELSE now() END,
            attempts = processing_claims.attempts
                       + CASE WHEN processing_claims.owner = EXCLUDED.owner THEN 0 ELSE 1 END
        WHERE processing_claims.owner = EXCLUDED.owner
           OR processing_claims.lease_until < now()
        RETURNING application_id, input_fingerprint, attempts
        """
    )
    rows = session.execute(
        stmt, {"owner": owner, "lease": float(lease_seconds), "apps": apps, "prints": prints}
    )
    return {(r.application_id, r.input_fingerprint): int(r.attempts) for r in rows}


def renew(session: Session, *, owners: Sequence[str], lease_seconds: float) -> int:
    """Push the lease of every claim these owners hold; returns how many were renewed.

    A claim taken over by someone else meanwhile (this owner's lease ran out first)
    has another owner and is not touched.
    """
    if not owners:
        return 0
    result = session.execute(
        sa.update(ProcessingClaim)
        .where(ProcessingClaim.owner.in_(list(owners)))
        .values(lease_until=_interval(lease_seconds))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def release(session: Session, *, keys: Sequence[Key], owner: str) -> int:
    """Delete the owner's claims on these keys; returns how many were deleted.

    Only the owner's rows: a claim someone took over (after this owner's lease ran
    out) is theirs to release.
    """
    if not keys:
        return 0
    c = ProcessingClaim
    result = session.execute(
        sa.delete(c).where(
            c.owner == owner,
            sa.tuple_(c.application_id, c.input_fingerprint).in_(sorted(set(keys))),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def claim_states(session: Session, *, keys: Sequence[Key]) -> dict[Key, ClaimState]:
    """The claims that exist on these keys (absent: nobody holds that key)."""
    c = ProcessingClaim
    found: dict[Key, ClaimState] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), 1000):  # bounded IN lists for large batches
        chunk = unique[start : start + 1000]
        stmt = sa.select(
            c.application_id,
            c.input_fingerprint,
            c.owner,
            c.lease_until,
            c.attempts,
            (c.lease_until < sa.func.now()).label("expired"),
        ).where(sa.tuple_(c.application_id, c.input_fingerprint).in_(chunk))
        for r in session.execute(stmt):
            found[(r.application_id, r.input_fingerprint)] = ClaimState(
                r.owner, r.lease_until, int(r.attempts), bool(r.expired)
            )
    return found


def take_over(
    session: Session,
    *,
    keys: Sequence[Key],
    previous_owner: str,
    owner: str,
    lease_seconds: float,
) -> dict[Key, int]:
    """Take claims over from ``previous_owner`` (known dead) before their leases run out.

    Only rows still held by ``previous_owner``: one that another worker took over
    first stays theirs. Returns the keys taken with their attempt numbers.
    """
    if not keys:
        return {}
    c = ProcessingClaim
    stmt = (
        sa.update(c)
        .where(
            c.owner == previous_owner,
            sa.tuple_(c.application_id, c.input_fingerprint).in_(sorted(set(keys))),
        )
        .values(
            owner=owner,
            lease_until=_interval(lease_seconds),
            claimed_at=sa.func.now(),
            attempts=c.attempts + 1,
        )
        .returning(c.application_id, c.input_fingerprint, c.attempts)
    )
    return {(r.application_id, r.input_fingerprint): int(r.attempts) for r in session.execute(stmt)}


def drop(session: Session, *, keys: Sequence[Key]) -> int:
    """Delete claims on these keys whoever holds them (a coordinator giving a key up)."""
    if not keys:
        return 0
    c = ProcessingClaim
    result = session.execute(
        sa.delete(c).where(sa.tuple_(c.application_id, c.input_fingerprint).in_(sorted(set(keys))))
    )
    return int(getattr(result, "rowcount", 0) or 0)


__all__ = [
    "ClaimState",
    "Key",
    "claim",
    "claim_states",
    "drop",
    "release",
    "renew",
    "take_over",
]
