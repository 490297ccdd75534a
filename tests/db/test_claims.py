"""Processing claims on the real database, without Prefect (kyc/db/claims.py, kyc/services/claims.py)."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from kyc.db import claims
from kyc.db.engine import session_scope
from kyc.services.claims import ClaimKeeper, Owner, abandoned, owner_gone, owner_id

pytestmark = pytest.mark.db


@pytest.fixture
def keys() -> list[tuple[str, str]]:
    """Keys no other test uses (the database is shared by the module)."""
    run = uuid.uuid4().hex[:8]
    return [(f"claim-{run}-{i:03d}", f"fp-{i}") for i in range(5)]


@pytest.fixture
def keeper(db_engine: sa.Engine) -> Iterator[ClaimKeeper]:
    k = ClaimKeeper(lambda: db_engine, lease_seconds=60)
    yield k
    k.close()


def _claim(engine: sa.Engine, keys: list[tuple[str, str]], owner: str, lease: float) -> dict:
    with session_scope(engine) as s:
        return claims.claim(s, keys=keys, owner=owner, lease_seconds=lease)


def _states(engine: sa.Engine, keys: list[tuple[str, str]]) -> dict:
    with session_scope(engine) as s:
        return claims.claim_states(s, keys=keys)


def test_a_free_key_is_won_once_and_a_live_claim_is_refused(db_engine, keys) -> None:
    assert _claim(db_engine, keys, f"host:1:a-{keys[0][0]}", 60) == {k: 1 for k in keys}
    assert _claim(db_engine, keys, f"host:2:b-{keys[0][0]}", 60) == {}
    # The owner claiming again keeps its claim (no new attempt).
    assert _claim(db_engine, keys[:2], f"host:1:a-{keys[0][0]}", 60) == {k: 1 for k in keys[:2]}
    states = _states(db_engine, keys)
    assert {s.owner for s in states.values()} == {f"host:1:a-{keys[0][0]}"}
    assert not any(s.expired for s in states.values())


def test_an_expired_claim_is_taken_over_and_counts_the_attempt(db_engine, keys) -> None:
    # A negative lease is a lease that ran out already (no sleeping in tests).
    _claim(db_engine, keys, f"host:1:dead-{keys[0][0]}", -1)
    assert all(s.expired for s in _states(db_engine, keys).values())
    won = _claim(db_engine, keys[:3], f"host:2:alive-{keys[0][0]}", 60)
    assert won == {k: 2 for k in keys[:3]}
    states = _states(db_engine, keys)
    assert {k for k, s in states.items() if s.owner == f"host:2:alive-{keys[0][0]}"} == set(keys[:3])
    with session_scope(db_engine) as s:
        assert claims.take_over(
            s, keys=keys, previous_owner=f"host:1:dead-{keys[0][0]}", owner=f"host:3:x-{keys[0][0]}", lease_seconds=60
        ) == {k: 2 for k in keys[3:]}


def test_renew_pushes_only_the_owners_leases(db_engine, keys) -> None:
    _claim(db_engine, keys[:2], f"host:1:a-{keys[0][0]}", -1)
    _claim(db_engine, keys[2:], f"host:2:b-{keys[0][0]}", -1)
    with session_scope(db_engine) as s:
        assert claims.renew(s, owners=[f"host:1:a-{keys[0][0]}"], lease_seconds=60) == 2
    states = _states(db_engine, keys)
    assert [states[k].expired for k in keys] == [False, False, True, True, True]


def test_release_deletes_only_the_owners_rows(db_engine, keys) -> None:
    _claim(db_engine, keys[:2], f"host:1:a-{keys[0][0]}", 60)
    _claim(db_engine, keys[2:], f"host:2:b-{keys[0][0]}", 60)
    with session_scope(db_engine) as s:
        assert claims.release(s, keys=keys, owner=f"host:1:a-{keys[0][0]}") == 2
    assert set(_states(db_engine, keys)) == set(keys[2:])


def test_racing_claimants_win_each_key_exactly_once(db_engine) -> None:
    run = uuid.uuid4().hex[:8]
    keys = [(f"race-{run}-{i:03d}", "fp") for i in range(60)]
    won: list[tuple[str, tuple[str, str]]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def claimant(n: int) -> None:
        mine = list(keys)
        random.Random(n).shuffle(mine)  # other orders: the statement must not deadlock
        try:
            start.wait()
            for i in range(0, len(mine), 7):
                got = _claim(db_engine, mine[i : i + 7], f"host:{n}:r-{run}", 60)
                won.extend((f"host:{n}:r-{run}", k) for k in got)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimant, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Counter(k for _, k in won) == Counter(keys)  # every key, each once
    states = _states(db_engine, keys)
    assert all(states[k].owner == o for o, k in won)


def test_owner_strings() -> None:
    me = owner_id("run-1")
    parsed = Owner.parse(me)
    assert parsed is not None and parsed.flow_run_id == "run-1"
    assert Owner.parse(owner_id()).flow_run_id is None  # type: ignore[union-attr]
    assert Owner.parse("nonsense") is None
    assert not owner_gone(me)  # this process
    assert not owner_gone("another-host:1:x")  # never judged from here


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_a_dead_local_worker_is_taken_over_at_once(db_engine, keys, keeper) -> None:
    host = owner_id().split(":")[0]
    dead = f"{host}:{_dead_pid()}:run-killed"
    assert owner_gone(dead)
    _claim(db_engine, keys, dead, 300)  # a long lease: only the dead pid lets us in
    state = _states(db_engine, keys)[keys[0]]
    assert not state.expired and abandoned(state)
    won = keeper.claim(keys, owner_id("run-2"))
    assert won == {k: 2 for k in keys}


def test_the_keeper_renews_while_held_and_releases_on_close(db_engine, keys) -> None:
    keeper = ClaimKeeper(lambda: db_engine, lease_seconds=1.0)
    me = owner_id("run-hb")
    try:
        assert keeper.claim(keys, me) == {k: 1 for k in keys}
        # Three leases' time: without the heartbeat every claim would have expired.
        time.sleep(3.0)
        assert not any(s.expired for s in _states(db_engine, keys).values())
        assert _claim(db_engine, keys, f"host:9:other-{keys[0][0]}", 60) == {}
        keeper.release(keys[:2], me)
        assert set(_states(db_engine, keys)) == set(keys[2:])
    finally:
        keeper.close()
    assert _states(db_engine, keys) == {}  # close released what was left


def _down() -> sa.Engine:
    raise sa.exc.OperationalError("connect", {}, ConnectionRefusedError())


def test_a_failed_release_is_done_by_the_next_claim(db_engine, keys, keeper) -> None:
    """The database was down when a run ended: its rows go as soon as it is back."""
    first, second = owner_id("run-a"), owner_id("run-b")
    assert keeper.claim(keys[:2], first) == {k: 1 for k in keys[:2]}
    keeper._database = _down  # type: ignore[method-assign]
    keeper.release(keys[:2], first)  # logged, not raised: the rows stay for now
    keeper._database = lambda: db_engine  # type: ignore[method-assign]
    assert set(_states(db_engine, keys)) == set(keys[:2])
    keeper.claim(keys[2:], second)
    assert set(_states(db_engine, keys)) == set(keys[2:])


def test_a_claim_this_process_dropped_is_taken_over_at_once(db_engine, keys, keeper) -> None:
    """Another keeper of this process (an earlier runtime) could not release its rows."""
    earlier = ClaimKeeper(lambda: db_engine, lease_seconds=60)
    first, second, third = owner_id("run-a"), owner_id("run-b"), owner_id("run-c")
    assert earlier.claim(keys, first) == {k: 1 for k in keys}
    # A run of this live process does not take claims this process still holds.
    assert keeper.claim(keys, second) == {}
    earlier._database = _down  # type: ignore[method-assign]
    earlier.close()  # its release fails: the rows stay, owned by this process
    assert {s.owner for s in _states(db_engine, keys).values()} == {first}
    # This process knows it holds them no more: no wait for the 60 s lease.
    assert keeper.claim(keys, second) == {k: 2 for k in keys}
    assert keeper.claim(keys, third) == {}  # and the new holder keeps them
