"""Claims on applications in flight: one worker at a time, whatever the number of workers.

A worker claims an application's objects (its idempotency key) in PostgreSQL before
any engine work (:mod:`kyc.db.claims`), a heartbeat thread renews the leases of
everything this process holds, and the claim is released when the application is
decided, dead-lettered or given up. A worker killed with SIGKILL stops renewing; once
its lease runs out (``KYC_CLAIM_LEASE_SECONDS``) another worker takes the claim over.
A claim whose owner ran on this machine and whose process is gone is taken over at
once: nobody needs to wait for the lease of a process that provably no longer exists.
Nor for one this very process dropped: a release that failed (the database was down
when the application ended) leaves a row this process knows it no longer holds.

``record_decision``'s ``AlreadyDecided`` stays the last line of defence: a worker
that was merely slow (its lease ran out while it was alive) and a worker that took
over can both reach the decision; only the first one records it.

Owners are ``host:pid:flow-run id`` (``host`` carries the PID namespace where Linux
has one, so two containers sharing a hostname never judge each other's pids).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa

from kyc.db import claims as store
from kyc.db.claims import ClaimState, Key
from kyc.db.engine import session_scope

log = logging.getLogger(__name__)


@cache
def _host() -> str:
    """This machine as claims name it: hostname, plus the PID namespace on Linux."""
    name = socket.gethostname()
    try:
        return f"{name}@{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return name


def owner_id(flow_run_id: object | None = None) -> str:
    """``host:pid:flow-run id`` of this process (``-`` outside a flow run)."""
    return f"{_host()}:{os.getpid()}:{flow_run_id or '-'}"


@dataclass(frozen=True, slots=True)
class Owner:
    """A parsed owner string."""

    host: str
    pid: int
    flow_run_id: str | None

    @classmethod
    def parse(cls, owner: str) -> Owner | None:
        """The parts of ``host:pid:flow-run id``; None for anything else."""
        host, sep, rest = owner.partition(":")
        pid, sep2, run = rest.partition(":")
        if not (sep and sep2 and pid.isdigit()):
            return None
        return cls(host, int(pid), None if run in ("", "-") else run)


def owner_gone(owner: str) -> bool:
    """True when the owner ran on this machine and its process no longer exists."""
    import psutil

    parsed = Owner.parse(owner)
    if parsed is None or parsed.host != _host():
        return False
    if parsed.pid == os.getpid():
        return False
    try:
        return psutil.Process(parsed.pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


#: (owner, key) of every claim some ClaimKeeper of this process holds or is taking:
#: what this process knows it is working on, whichever runtime's keeper took it.
_IN_PROCESS: set[tuple[str, Key]] = set()
_IN_PROCESS_LOCK = threading.Lock()


def _mine_but_dropped(owner: str, keys: Sequence[Key]) -> bool:
    """True when ``owner`` is this process and it holds none of ``keys`` any more.

    A release that failed (the database was down when the application ended) leaves
    the row behind with this process as its owner; the process itself knows it
    gave the claim up, so a later run here need not wait for the lease.
    """
    parsed = Owner.parse(owner)
    if parsed is None or parsed.host != _host() or parsed.pid != os.getpid():
        return False
    with _IN_PROCESS_LOCK:
        return not any((owner, key) in _IN_PROCESS for key in keys)


def abandoned(state: ClaimState) -> bool:
    """The claim's worker is gone: its lease ran out, or its process is provably dead."""
    return state.expired or owner_gone(state.owner)


class ClaimKeeper:
    """This process's claims: taken, renewed by one heartbeat thread, released.

    Args:
        database: the pipeline's database engine (called when first needed).
        lease_seconds: how long a claim holds without renewal; the heartbeat renews
            every third of it, so two missed beats in a row still hold the claim.
    """

    def __init__(self, database: Callable[[], sa.Engine], lease_seconds: float) -> None:
        """Nothing is contacted until the first claim."""
        self._database = database
        self.lease_seconds = float(lease_seconds)
        self._lock = threading.Lock()
        #: owner -> keys it holds (what the heartbeat renews)
        self._held: dict[str, set[Key]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: owner -> keys whose release failed (the database was down): released on
        #: the next heartbeat or claim, so no row outlives its application.
        self._unreleased: dict[str, set[Key]] = {}

    def claim(self, keys: Sequence[Key], owner: str) -> dict[Key, int]:
        """Claim the keys that are free, expired, ours already, or of a dead local worker.

        Returns:
            The keys won, with their attempt numbers (see :func:`kyc.db.claims.claim`).
        """
        self._release_leftovers()
        # Known as ours before the row exists: another run of this process that
        # meets the row meanwhile must not take it for one we dropped.
        with _IN_PROCESS_LOCK:
            _IN_PROCESS.update((owner, k) for k in keys)
        won: dict[Key, int] = {}
        committed = False
        try:
            with session_scope(self._database()) as s:
                won = store.claim(s, keys=keys, owner=owner, lease_seconds=self.lease_seconds)
                refused = [k for k in keys if k not in won]
                if refused:
                    # A worker of this machine that died (SIGKILL, OOM) holds them, or
                    # an earlier run of this process whose release failed: the lease
                    # would run out eventually, but nobody has to wait for it.
                    by_owner: dict[str, list[Key]] = {}
                    for key, state in store.claim_states(s, keys=refused).items():
                        by_owner.setdefault(state.owner, []).append(key)
                    for previous, taken in by_owner.items():
                        if owner_gone(previous) or _mine_but_dropped(previous, taken):
                            won |= store.take_over(
                                s,
                                keys=taken,
                                previous_owner=previous,
                                owner=owner,
                                lease_seconds=self.lease_seconds,
                            )
            committed = True
        finally:
            with _IN_PROCESS_LOCK:
                _IN_PROCESS.difference_update(
                    (owner, k) for k in keys if not committed or k not in won
                )
        if won:
            with self._lock:
                self._held.setdefault(owner, set()).update(won)
            self._ensure_heartbeat()
        return won

    def release(self, keys: Sequence[Key], owner: str) -> None:
        """Release the owner's claims on these keys; never raises (the lease would expire)."""
        with self._lock:
            held = self._held.get(owner)
            if held is not None:
                held.difference_update(keys)
                if not held:
                    del self._held[owner]
        with _IN_PROCESS_LOCK:
            _IN_PROCESS.difference_update((owner, k) for k in keys)
        try:
            with session_scope(self._database()) as s:
                store.release(s, keys=keys, owner=owner)
        except Exception as exc:
            with self._lock:
                self._unreleased.setdefault(owner, set()).update(keys)
            log.warning(
                "releasing %d claims failed (%s); tried again with the next heartbeat"
                " (else they expire after %.0f s)",
                len(keys),
                type(exc).__name__,
                self.lease_seconds,
            )

    def _release_leftovers(self) -> None:
        """Release what an earlier release could not (best effort: tried again later)."""
        with self._lock:
            pending = {owner: set(keys) for owner, keys in self._unreleased.items()}
        for owner, keys in pending.items():
            try:
                with session_scope(self._database()) as s:
                    store.release(s, keys=sorted(keys), owner=owner)
            except Exception:
                return  # still down: the next beat or claim tries again
            with self._lock:
                left = self._unreleased.get(owner, set()) - keys
                if left:
                    self._unreleased[owner] = left
                else:
                    self._unreleased.pop(owner, None)

    def held(self) -> dict[str, set[Key]]:
        """A copy of what this process holds, by owner."""
        with self._lock:
            return {owner: set(keys) for owner, keys in self._held.items()}

    def renew(self) -> int:
        """Renew every lease this process holds now; returns how many rows were renewed."""
        with self._lock:
            owners = list(self._held)
        if not owners:
            return 0
        with session_scope(self._database()) as s:
            return store.renew(s, owners=owners, lease_seconds=self.lease_seconds)

    def states(self, keys: Sequence[Key]) -> dict[Key, ClaimState]:
        """The claims that exist on these keys."""
        with session_scope(self._database()) as s:
            return store.claim_states(s, keys=keys)

    def give_up(self, keys: Sequence[Key]) -> None:
        """Delete claims on these keys whoever holds them (a coordinator abandoning them)."""
        with session_scope(self._database()) as s:
            store.drop(s, keys=keys)

    def _ensure_heartbeat(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._beat, name="kyc-claims-heartbeat", daemon=True
            )
            self._thread.start()

    def _beat(self) -> None:
        interval = max(self.lease_seconds / 3, 0.2)
        while not self._stop.wait(interval):
            self._release_leftovers()
            try:
                self.renew()
            except Exception as exc:
                # The next beat tries again; the lease covers two missed beats.
                log.warning("renewing claims failed: %s", type(exc).__name__)

    def close(self) -> None:
        """Stop the heartbeat and release whatever is still held (a clean shutdown)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        for owner, keys in self.held().items():
            self.release(sorted(keys), owner)
        self._release_leftovers()


__all__ = ["ClaimKeeper", "Owner", "abandoned", "owner_gone", "owner_id"]
