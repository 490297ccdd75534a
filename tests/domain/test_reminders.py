"""Which expiry reminder is due: window semantics, no repeats, no stale thresholds."""

from __future__ import annotations

import datetime as dt

import pytest

from kyc.domain.reminders import days_left, due_threshold

TODAY = dt.date(2026, 11, 23)


def _in(days: int) -> dt.date:
    return TODAY + dt.timedelta(days=days)


@pytest.mark.parametrize(
    ("left", "sent", "due"),
    [
        (200, set(), None),  # nothing crossed yet
        (91, set(), None),
        (90, set(), 90),  # on the day
        (85, set(), 90),  # a late weekly run still sends it
        (85, {90}, None),  # ...once
        (31, {90}, None),
        (30, {90}, 30),
        (20, set(), 30),  # first run after install: the tightest, not a stale 90
        (20, {30}, None),
        (7, {90, 30}, 7),
        (3, {90}, 7),  # missed the 30-day window entirely: jump to 7
        (3, {7}, None),
        (0, set(), 7),  # expires today: still a (last) reminder
        (-1, set(), None),  # already expired: no reminder
    ],
)
def test_due_threshold(left: int, sent: set[int], due: int | None) -> None:
    assert due_threshold(_in(left), TODAY, frozenset(sent)) == due


def test_a_tighter_threshold_sent_blocks_looser_ones() -> None:
    # 90 was never recorded (installed late) but 30 was: never send 90 afterwards.
    assert due_threshold(_in(25), TODAY, {30}) is None


def test_custom_thresholds_any_order_and_non_positive_ignored() -> None:
    assert due_threshold(_in(14), TODAY, (), thresholds=(7, 60, 14, 0, -3)) == 14
    assert due_threshold(_in(59), TODAY, {60}, thresholds=(60, 14, 7)) is None
    assert due_threshold(_in(100), TODAY, (), thresholds=()) is None


def test_weekly_runs_send_each_threshold_exactly_once() -> None:
    """Simulate a year of Monday runs for documents expiring on every weekday."""
    for offset in range(7):
        expiry = dt.date(2027, 6, 1) + dt.timedelta(days=offset)
        sent: list[int] = []
        run = dt.date(2026, 11, 23)  # a Monday
        while run <= expiry + dt.timedelta(days=14):
            due = due_threshold(expiry, run, frozenset(sent))
            if due is not None:
                sent.append(due)
                assert days_left(expiry, run) <= due
                assert days_left(expiry, run) > due - 7, "sent within a week of crossing"
            run += dt.timedelta(days=7)
        assert sent == [90, 30, 7], (expiry, sent)


def test_days_left() -> None:
    assert days_left(_in(5), TODAY) == 5
    assert days_left(TODAY, TODAY) == 0
    assert days_left(_in(-2), TODAY) == -2
