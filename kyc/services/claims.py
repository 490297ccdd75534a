"""Claims on applications in flight: one worker at a time, whatever the number of workers.

A worker claims an application's objects (its idempotency key) in PostgreSQL before
any engine work (:mod:`kyc.db.claims`), a heartbeat thread renews the leases of
everything this process holds, and the claim is released when the application is
decided, dead-lettered or given up. A worker killed with SIGKILL stops renewing; once
its lease runs out (``KYC_CLAIM_LEASE_SECONDS``) another worker takes the claim over.
A claim whose owner ran on this machine and whose process is gone is taken over at
once: nobody needs to wait for the lease of a process that provably no longer exists.

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

    def claim(self, keys: Sequence[Key], owner: str) -> dict[Key, int]:
        """Claim the keys that are free, expired, ours already, or of a dead local worker.

        Returns:
            The keys won, with their attempt numbers (see :func:`kyc.db.claims.claim`).
        """
        with session_scope(self._database()) as s:
            won = store.claim(s, keys=keys, owner=owner, lease_seconds=self.lease_seconds)
            refused = [k for k in keys if k not in won]
            if refused:
                # A worker of this machine that died (SIGKILL, OOM) holds them: its
                # lease would run out eventually, but nobody has to wait for it.
                by_owner: dict[str, list[Key]] = {}
                for key, state in store.claim_states(s, keys=refused).items():
                    by_owner.setdefault(state.owner, []).append(key)
                for previous, taken in by_owner.items():
                    if owner_gone(previous):
                        won |= store.take_over(
                            s,
                            keys=taken,
                            previous_owner=previous,
                            owner=owner,
                            lease_seconds=self.lease_seconds,
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
        try:
            with session_scope(self._database()) as s:
                store.release(s, keys=keys, owner=owner)
        except Exception as exc:
            log.warning(
                "releasing %d claims failed (%s); they expire after %.0f s",
                len(keys),
                type(exc).__name__,
                self.lease_seconds,
            )

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


__all__ = ["ClaimKeeper", "Owner", "abandoned", "owner_gone", "owner_id"]
