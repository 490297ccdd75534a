"""What is waiting: unsent notifications, open review cases, unresolved dead letters.

The figures behind the metrics gauges (kyc/metrics.py), read in one transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from kyc.db import outbox
from kyc.db import repository as repo
from kyc.db import review as review_store
from kyc.db.engine import session_scope
from kyc.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Backlog:
    """Counts of work left for people or for the dispatcher.

    Attributes:
        outbox_pending: decision notifications not sent yet.
        review: MANUAL_REVIEW cases: ``open``, ``unassigned``, ``overdue``, ``escalated``.
        dead_letters: unresolved dead letters per error code.
    """

    outbox_pending: int
    review: dict[str, int]
    dead_letters: dict[str, int]


def backlog(rt: Runtime, *, now: dt.datetime | None = None) -> Backlog:
    """Read the backlog (three counting queries, one transaction)."""
    now = now or dt.datetime.now(dt.UTC)
    with session_scope(rt.db) as s:
        return Backlog(
            outbox_pending=outbox.pending_count(s),
            review=review_store.queue_counts(s, now=now, sla_hours=rt.settings.review_sla_hours),
            dead_letters=repo.open_dead_letters_by_code(s),
        )
