"""Which expiry reminder is due for a document (pure: no I/O, no clock).

Window semantics: a threshold (say 30 days) is *crossed* once the document has at
most that many days left. A run sends the tightest crossed threshold that has not
been sent yet, so a weekly run that is late (or the first run after installation)
still sends it once, and never a looser one after a tighter one: a holder with
20 days left gets the 30-day reminder, not a stale "90 days" one first. Expired
documents get no reminder (the next application handles them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable

#: Default thresholds, in days before expiry.
DEFAULT_THRESHOLDS: tuple[int, ...] = (90, 30, 7)


def days_left(expiry_date: dt.date, today: dt.date) -> int:
    """Whole days from ``today`` until ``expiry_date`` (0 on the day, negative after)."""
    return (expiry_date - today).days


def due_threshold(
    expiry_date: dt.date,
    today: dt.date,
    sent: Collection[int] = (),
    thresholds: Iterable[int] = DEFAULT_THRESHOLDS,
) -> int | None:
    """The threshold whose reminder is due now, or None.

    Args:
        expiry_date: the document's expiry date.
        today: the date of this run.
        sent: thresholds already sent for this document.
        thresholds: thresholds in days (any order; non-positive values are ignored).

    Returns:
        The tightest crossed threshold, unless it or a tighter one was already
        sent, or the document has expired.
    """
    left = days_left(expiry_date, today)
    if left < 0:
        return None
    crossed = [t for t in set(thresholds) if t > 0 and left <= t]
    if not crossed:
        return None
    due = min(crossed)
    if any(s <= due for s in sent):
        return None
    return due


__all__ = ["DEFAULT_THRESHOLDS", "days_left", "due_threshold"]
