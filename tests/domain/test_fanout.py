"""Fan-out bookkeeping: which applications of a batch are handed out again (pure)."""

from __future__ import annotations

import pytest

from kyc.domain.fanout import ClaimView, RunView, chunks, lost
from kyc.domain.landing import LandingBundle
from kyc.storage.base import ObjectInfo

A, B, C, D = ("a", "fa"), ("b", "fb"), ("c", "fc"), ("d", "fd")
LEASE = 300.0


def _lost(assigned, runs, claims, pending=(A, B, C, D)):
    return lost(pending, assigned=assigned, runs=runs, claims=claims, lease_seconds=LEASE)


def test_chunks() -> None:
    assert chunks([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert chunks([], 3) == []
    with pytest.raises(ValueError):
        chunks([1], 0)


def test_nothing_is_lost_while_chunks_wait_or_work() -> None:
    assigned = {A: "r1", B: "r1", C: "r2", D: "r2"}
    runs = {"r1": RunView(final=False, taken_for=10), "r2": RunView(final=False)}  # r2 queued
    claims = {A: ClaimView("r1", False, 1), B: ClaimView("r1", False, 1)}
    assert _lost(assigned, runs, claims) == []


def test_a_dead_workers_claims_are_lost_and_only_once() -> None:
    assigned = {A: "r1", B: "r1", C: "r2"}
    runs = {"r1": RunView(final=False, taken_for=30), "r2": RunView(final=False, taken_for=30)}
    dead = {A: ClaimView("r1", True, 1), B: ClaimView("r1", True, 1), C: ClaimView("r2", False, 1)}
    assert _lost(assigned, runs, dead, (A, B, C)) == [A, B]
    # Handed to r3, which has not claimed them yet: not lost a second time.
    assigned |= {A: "r3", B: "r3"}
    runs["r3"] = RunView(final=False)
    assert _lost(assigned, runs, dead, (A, B, C)) == []
    # r3 took them over and dies as well: lost again (attempt 2 is the caller's business).
    again = dead | {A: ClaimView("r3", True, 2)}
    assert _lost(assigned, runs, again, (A, B, C)) == [A]


def test_a_finished_chunk_that_left_keys_unheld_loses_them() -> None:
    assigned = {A: "r1", B: "r1", C: "r1"}
    runs = {"r1": RunView(final=True)}
    claims = {
        B: ClaimView("other-batch", False, 1),  # a live worker of another run: it decides B
        C: ClaimView("other-batch", True, 1),  # ... that died: nobody will
    }
    assert _lost(assigned, runs, claims, (A, B, C)) == [A, C]


def test_a_chunk_taken_but_never_claiming_is_lost_after_a_lease() -> None:
    assigned = {A: "r1"}
    assert _lost(assigned, {"r1": RunView(final=False, taken_for=LEASE - 1)}, {}, (A,)) == []
    assert _lost(assigned, {"r1": RunView(final=False, taken_for=LEASE + 1)}, {}, (A,)) == [A]


def test_bundles_survive_json() -> None:
    bundle = LandingBundle(
        "app-1",
        form=ObjectInfo("incoming/app-1/application.json", 10, "e1", 1.5),
        front=ObjectInfo("incoming/app-1/id_document.jpg", 20, "e2"),
        selfie=ObjectInfo("incoming/app-1/selfie.jpg", 30, "e3"),
        back=ObjectInfo("incoming/app-1/id_document_back.jpg", 40, "e4"),
        frames=(ObjectInfo("incoming/app-1/selfie_frames/1.jpg", 5, "e5"),),
    )
    again = LandingBundle.from_json(bundle.to_json())
    assert again == bundle and again.fingerprint == bundle.fingerprint
    with pytest.raises(ValueError, match="not a landing bundle"):
        LandingBundle.from_json({"application_id": "x"})
