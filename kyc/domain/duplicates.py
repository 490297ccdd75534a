"""Duplicate identities (pure): is an earlier face match the same identity or another?

One person enrolling under two identities is found by face: the applicant's
verified selfie embedding is searched among earlier users' verified embeddings
(kyc.db.faces). A match is a **duplicate identity** when that earlier user has a
different name or date of birth; the same name (folded, variants allowed) and the
same date of birth is the same person applying again, which is no finding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from kyc.domain.application import Application
from kyc.domain.matching import NameMatch, compare_names
from kyc.domain.records import (
    DuplicateCheck,
    DuplicateMatch,
    FaceComparison,
    Finding,
    LivenessResult,
    Reason,
)


@dataclass(frozen=True, slots=True)
class Identity:
    """Name and date of birth of a user (from the form they were verified with)."""

    first_name: str
    last_name: str
    date_of_birth: dt.date
    middle_name: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """An earlier user's stored face found near the applicant's face."""

    user_id: str
    application_id: str
    distance: float
    identity: Identity


def identity_of(app: Application) -> Identity:
    """The identity an application claims (its form's name and date of birth)."""
    return Identity(app.first_name, app.last_name, app.date_of_birth, app.middle_name)


def needs_search(face: FaceComparison | None, *, match_threshold: float) -> bool:
    """Whose selfie is searched among earlier users: only one verified against its document.

    A selfie that did not match its document is not searched: the face findings
    already explain that decision, and an unverified face must not name others.
    """
    return face is not None and face.similarity is not None and face.similarity >= match_threshold


def may_enrol(liveness: Sequence[LivenessResult]) -> bool:
    """Whether a verified selfie joins the faces later applicants are searched against.

    Not when any liveness method failed, nor when the replay check suspects a
    replay (SELFIE_REPLAY_SUSPECTED): a replayed photo (of the document, a print,
    a screen) must not become someone's face, and a suspicion is not cleared until
    a reviewer has looked.
    """
    return not any(
        r.passed is False or any(f.reason is Reason.SELFIE_REPLAY_SUSPECTED for f in r.findings)
        for r in liveness
    )


def search_not_possible(engine: str) -> DuplicateCheck:
    """The search did not run because the face engine gives no embedding (visible)."""
    return DuplicateCheck(
        ran=False, reason=f"face engine {engine or 'unknown'} gives no face embedding"
    )


def same_identity(a: Identity, b: Identity, *, name_threshold: float) -> bool:
    """True when two identities are the same person's: same DOB, names match or vary.

    A name *variant* (missing middle name, an initial, accents) is the same identity;
    only a name *mismatch* makes it another one.
    """
    if a.date_of_birth != b.date_of_birth:
        return False
    names = compare_names(
        form_first=a.first_name,
        form_middle=a.middle_name,
        form_last=a.last_name,
        doc_first=b.first_name,
        doc_middle=b.middle_name,
        doc_last=b.last_name,
        threshold=name_threshold,
    )
    return names.outcome is not NameMatch.MISMATCH


def classify(
    applicant: Identity,
    candidates: list[Candidate],
    *,
    name_threshold: float,
    method: str,
) -> DuplicateCheck:
    """Label each face match as the same identity or a duplicate one.

    Args:
        applicant: the new applicant's identity.
        candidates: earlier users' faces within the match distance, nearest first.
        name_threshold: the name-similarity threshold of the decision rules.
        method: how the search ran (``hnsw`` | ``exact``), kept on the record.

    Returns:
        The check with every match; ``duplicates`` are those under another identity.
    """
    nearest: dict[str, Candidate] = {}
    for c in sorted(candidates, key=lambda c: c.distance):
        nearest.setdefault(c.user_id, c)  # a user enrolled twice (re-landed) counts once
    matches = tuple(
        DuplicateMatch(
            user_id=c.user_id,
            application_id=c.application_id,
            distance=c.distance,
            same_identity=same_identity(applicant, c.identity, name_threshold=name_threshold),
        )
        for c in nearest.values()
    )
    return DuplicateCheck(ran=True, matches=matches, method=method)


def duplicate_findings(check: DuplicateCheck | None) -> list[Finding]:
    """Findings for the decision: DUPLICATE_IDENTITY per other identity, or NOT_CHECKED.

    ``None`` means the search did not apply (the selfie was not verified against
    the document, so there is no verified face to search with): no finding, the
    face findings already say why.
    """
    if check is None:
        return []
    if not check.ran:
        return [Finding(Reason.DUPLICATE_NOT_CHECKED, check.reason or "search did not run")]
    return [
        Finding(
            Reason.DUPLICATE_IDENTITY,
            f"face matches user {m.user_id} (application {m.application_id}) under another "
            f"name or date of birth (distance {m.distance:.3f})",
        )
        for m in check.duplicates
    ]


__all__ = ["Candidate", "Identity", "classify", "duplicate_findings", "same_identity"]
