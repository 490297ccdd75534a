"""Fan-out bookkeeping (pure): which applications of a batch must be handed out again.

The coordinator (flows/fanout.py) hands chunks of a batch to ``process-chunk`` flow
runs and watches three things: the decisions and dead letters recorded, the claims
on the batch's applications (kyc/db/claims.py) and the states of its chunk runs.
:func:`lost` turns one look at them into the applications nobody will decide unless
they are handed out again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class ClaimView:
    """A claim on one application as the coordinator sees it."""

    #: the flow run that holds it (parsed from the owner), None when not a flow run
    run_id: str | None
    #: its worker is gone: the lease ran out, or its process is provably dead
    abandoned: bool
    #: 1 for the first claim, +1 per takeover
    attempts: int


@dataclass(frozen=True, slots=True)
class RunView:
    """A chunk run as the coordinator sees it."""

    #: COMPLETED, FAILED, CRASHED, CANCELLED: it will decide nothing more
    final: bool
    #: seconds since a worker took it (PENDING/RUNNING); None while it waits for one
    taken_for: float | None = None


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` in consecutive chunks of at most ``size`` (``size`` >= 1)."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def lost(
    pending: Iterable[Key],
    *,
    assigned: Mapping[Key, str],
    runs: Mapping[str, RunView],
    claims: Mapping[Key, ClaimView],
    lease_seconds: float,
) -> list[Key]:
    """The pending applications that must be handed out again.

    An application is lost when nobody will decide it as things stand:

    * its claim was abandoned by the chunk run it was handed to (that run's worker
      died holding it: SIGKILL, OOM, a lost machine);
    * its chunk run has finished without deciding it, and nobody holds a live claim
      on it (the run crashed before claiming it, or skipped it for another worker
      that then died);
    * its chunk run was taken by a worker longer than a lease ago and still holds no
      live claim on it (the worker died between taking the run and claiming).

    An application claimed by a live worker of another run (a second batch over the
    same landing, an event-triggered run) is not lost: that worker decides it.
    A chunk run still waiting for a worker is not lost either.

    Args:
        pending: applications neither decided nor dead-lettered yet.
        assigned: application → the chunk run it was last handed to.
        runs: chunk run id → its state.
        claims: application → its claim (absent: nobody holds one).
        lease_seconds: KYC_CLAIM_LEASE_SECONDS.

    Returns:
        The lost applications, in the order given.
    """
    out: list[Key] = []
    for key in pending:
        run_id = assigned.get(key)
        run = runs.get(run_id) if run_id is not None else None
        claim = claims.get(key)
        unheld = claim is None or claim.abandoned
        if claim is not None and claim.abandoned and claim.run_id == run_id:
            out.append(key)
        elif run is None or not unheld:
            continue
        elif run.final or (run.taken_for is not None and run.taken_for > lease_seconds):
            out.append(key)
    return out


__all__ = ["ClaimView", "Key", "RunView", "chunks", "lost"]
