"""Duplicate identities through the service: the verified selfie searched among earlier users.

The face is compared with the licence as landed (``match_face`` without a scan),
which is all the search needs; one application also goes through the document
reader so that its decision is the pipeline's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from kyc.domain.records import Decision, FaceComparison, Reason
from kyc.domain.rules import Signals
from kyc.engines.base import FaceMatcher
from kyc.imaging.picture import Picture
from kyc.runtime import Runtime
from kyc.services import decide, duplicates, faces
from kyc.services import scan as scans
from kyc.services.case import Case
from kyc.storage.local import LocalStore
from tests.services.conftest import land, open_landed, rows

pytestmark = [pytest.mark.db, pytest.mark.slow]

#: The face every application of this module shows (licence portrait and selfie).
FACE = 6


def _verified(
    rt: Runtime, landing: Path, shared: Path, *, card_index: int
) -> tuple[Case, FaceComparison]:
    landed = land(LocalStore(landing), shared, identity=FACE, card_index=card_index)
    case = open_landed(rt, str(landing), landed.application_id)
    face = faces.match_face(rt, case)
    assert face.similarity is not None and face.similarity >= rt.settings.face_match_threshold
    return case, face


def test_same_face_under_another_name_is_a_duplicate_identity(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    first, first_face = _verified(rt, landing, shared_data, card_index=FACE)
    searched = duplicates.check_duplicates(rt, first, first_face)
    assert searched is not None and searched.ran and searched.matches == ()

    # The same person applying again under the same name and date of birth: a match,
    # but the same identity (no finding).
    again, again_face = _verified(rt, landing, shared_data, card_index=FACE)
    assert again.application.first_name == first.application.first_name
    repeat = duplicates.check_duplicates(rt, again, again_face)
    assert repeat is not None and repeat.ran
    assert [(m.user_id, m.same_identity) for m in repeat.matches] == [
        (str(first.refs.user_id), True)
    ]
    assert repeat.duplicates == ()

    # Another name and date of birth with the same face: a duplicate of both.
    other, other_face = _verified(rt, landing, shared_data, card_index=31)
    assert (other.application.first_name, other.application.date_of_birth) != (
        first.application.first_name,
        first.application.date_of_birth,
    )
    found = duplicates.check_duplicates(rt, other, other_face)
    assert found is not None and found.ran
    assert {(m.user_id, m.application_id) for m in found.duplicates} == {
        (str(first.refs.user_id), first.application_id),
        (str(again.refs.user_id), again.application_id),
    }

    scan = scans.scan_document(rt, other)
    result = decide.decide_application(
        rt, other, Signals(other.application, scan, other_face, None, duplicates=found)
    )
    assert result.decision is Decision.MANUAL_REVIEW
    assert Reason.DUPLICATE_IDENTITY.value in result.reasons
    (recorded,) = rows(
        rt,
        "select duplicate_of from kyc_decisions where application_id = :a",
        a=other.application_id,
    )
    assert {d["user_id"] for d in recorded[0]} == {str(first.refs.user_id), str(again.refs.user_id)}
    # every verified selfie was enrolled, once
    enrolled = rows(
        rt,
        "select application_id, count(*) from face_embeddings where application_id in (:a, :b, :c)"
        " group by application_id",
        a=first.application_id,
        b=again.application_id,
        c=other.application_id,
    )
    assert sorted(count for _, count in enrolled) == [1, 1, 1]


def test_no_search_when_the_face_did_not_match(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    landed = land(LocalStore(landing), shared_data, identity=FACE, card_index=40)
    case = open_landed(rt, str(landing), landed.application_id)
    unverified = FaceComparison(
        similarity=rt.settings.face_match_threshold - 0.5,
        engine="local-dlib",
        source_embedding=tuple(0.01 * i for i in range(128)),
    )
    assert duplicates.check_duplicates(rt, case, unverified) is None
    assert duplicates.check_duplicates(rt, case, None) is None
    no_face = FaceComparison(similarity=None, engine="local-dlib")
    assert duplicates.check_duplicates(rt, case, no_face) is None
    assert rows(
        rt, "select count(*) from face_embeddings where application_id = :a", a=case.application_id
    ) == [(0,)]


class WithoutEmbeddings:
    """A face engine that compares but gives no embedding (as Rekognition does)."""

    name = "no-embeddings"
    version = "1"

    def __init__(self, inner: FaceMatcher) -> None:
        self._inner = inner

    def compare(self, selfie: bytes | Picture, document: bytes | Picture) -> FaceComparison:
        found = self._inner.compare(selfie, document)
        return dataclasses.replace(found, engine=self.name, source_embedding=None)


def test_face_engine_without_embeddings_cannot_search(
    rt: Runtime, landing: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engines: Any = dataclasses.replace(
        rt.engines, face_matcher=WithoutEmbeddings(rt.engines.face_matcher)
    )
    monkeypatch.setattr(rt, "_engines", engines)
    case, face = _verified(rt, landing, shared_data, card_index=41)
    assert face.source_embedding is None and face.engine == "no-embeddings"
    check = duplicates.check_duplicates(rt, case, face)
    assert check is not None and not check.ran
    assert "no-embeddings" in check.reason and "no face embedding" in check.reason
    assert rows(
        rt, "select count(*) from face_embeddings where application_id = :a", a=case.application_id
    ) == [(0,)]
