"""Liveness maths (pure): eye aspect ratio, yaw from landmarks, the challenge and replay verdicts.

The local challenge asks the applicant's device for a few selfie frames in which
they blink and turn their head. Over dlib's 68-point landmarks (iBUG 300-W order:
jaw 0-16, nose 27-35 with the tip at 30, right eye 36-41, left eye 42-47):

* **eye aspect ratio** (Soukupová & Čech, "Real-Time Eye Blink Detection using
  Facial Landmarks", 2016): ``(|p2-p6| + |p3-p5|) / (2 |p1-p4|)`` per eye, about
  0.3 for an open eye and under 0.2 when it is closed;
* **yaw** from the nose tip's horizontal position between the two sides of the jaw:
  on a cylinder model of the head the tip sits at ``sin(yaw)`` of the half-width
  from the centre line, so ``yaw = asin((dl - dr) / (dl + dr))``. A coarse
  estimate (no camera model), but the challenge only needs a change of ~20 degrees.

No I/O here: the engine (kyc.engines.liveness_local) measures frames, this module
decides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from kyc.domain.records import Finding, LivenessResult, Reason

Point = tuple[float, float]

#: Landmark index ranges in dlib's 68-point model.
RIGHT_EYE = range(36, 42)
LEFT_EYE = range(42, 48)
NOSE_TIP = 30
JAW_RIGHT = 0
JAW_LEFT = 16

#: Eye aspect ratio under which an eye counts as closed (Soukupová & Čech use 0.2).
EAR_CLOSED = 0.2
#: Eye aspect ratio over which an eye counts as open: a blink is open, closed, open.
#: The gap to EAR_CLOSED keeps a squint from counting as a blink.
EAR_OPEN = 0.25
#: Change of yaw (degrees) across the frames that counts as a head turn.
TURN_DEGREES = 20.0
#: Fewer frames cannot show open-closed-open eyes and a turn.
MIN_FRAMES = 3


def _dist(a: Point, b: Point) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def eye_aspect_ratio(eye: Sequence[Point]) -> float:
    """Eye aspect ratio of one eye's six landmarks (p1..p6, corner to corner).

    Args:
        eye: six points in dlib order: outer corner, two upper lid points, inner
            corner, two lower lid points.

    Returns:
        ``(|p2-p6| + |p3-p5|) / (2 |p1-p4|)``.

    Raises:
        ValueError: not six points, or the eye corners coincide.
    """
    if len(eye) != 6:
        raise ValueError(f"an eye has 6 landmarks, got {len(eye)}")
    width = _dist(eye[0], eye[3])
    if width <= 0:
        raise ValueError("eye corners coincide")
    return (_dist(eye[1], eye[5]) + _dist(eye[2], eye[4])) / (2.0 * width)


def _check68(landmarks: Sequence[Point]) -> None:
    if len(landmarks) != 68:
        raise ValueError(f"expected 68 landmarks, got {len(landmarks)}")


def face_eye_aspect_ratio(landmarks: Sequence[Point]) -> float:
    """Mean eye aspect ratio of both eyes from 68 landmarks."""
    _check68(landmarks)
    right = eye_aspect_ratio([landmarks[i] for i in RIGHT_EYE])
    left = eye_aspect_ratio([landmarks[i] for i in LEFT_EYE])
    return (right + left) / 2.0


def yaw_degrees(landmarks: Sequence[Point]) -> float:
    """Estimated head yaw in degrees from 68 landmarks (0 = frontal).

    The sign says which way the head turned in the image (positive: the nose moved
    towards the image's right-hand jaw point 16); the challenge uses only changes.
    """
    _check68(landmarks)
    nose_x = landmarks[NOSE_TIP][0]
    dl = abs(nose_x - landmarks[JAW_RIGHT][0])
    dr = abs(landmarks[JAW_LEFT][0] - nose_x)
    if dl + dr <= 0:
        raise ValueError("degenerate jaw landmarks")
    ratio = max(-1.0, min(1.0, (dl - dr) / (dl + dr)))
    return math.degrees(math.asin(ratio))


@dataclass(frozen=True, slots=True)
class FrameMeasure:
    """What the engine measured on one selfie frame.

    Attributes:
        index: frame number (its position in ``selfie_frames/``).
        problem: why the frame has no measurements (unreadable, no face); empty if fine.
        ear: mean eye aspect ratio.
        yaw: yaw in degrees.
        distance: face-embedding distance to the selfie.
    """

    index: int
    problem: str = ""
    ear: float | None = None
    yaw: float | None = None
    distance: float | None = None


def evaluate_challenge(
    frames: Sequence[FrameMeasure],
    *,
    max_distance: float,
    engine: str = "",
    engine_version: str = "",
    timings_ms: dict[str, float] | None = None,
) -> LivenessResult:
    """Decide the blink + head-turn challenge from per-frame measurements.

    Rules, in order:

    1. no frames, or fewer than MIN_FRAMES frames with a face → not assessed;
    2. any frame whose face is another person (distance > ``max_distance``) →
       failed (a live stranger proves nothing about the selfie);
    3. passed only with a blink (an open frame, later a closed one, later an open
       one: EAR > EAR_OPEN, < EAR_CLOSED, > EAR_OPEN) **and** a head turn (yaw
       range >= TURN_DEGREES); a complete sequence without either → failed.

    Args:
        frames: measurements in frame order.
        max_distance: the face matcher's same-person distance.
        engine: engine name (for the record).
        engine_version: its version.
        timings_ms: stage timings to keep on the result.

    Returns:
        The challenge's LivenessResult (method ``challenge``).
    """

    def result(passed: bool | None, findings: list[Finding], **details: Any) -> LivenessResult:
        return LivenessResult(
            passed=passed,
            method="challenge",
            findings=tuple(findings),
            engine=engine,
            engine_version=engine_version,
            timings_ms=MappingProxyType(dict(timings_ms or {})),
            details=MappingProxyType(
                {
                    "frames": len(frames),
                    "ear": [None if f.ear is None else round(f.ear, 4) for f in frames],
                    "yaw": [None if f.yaw is None else round(f.yaw, 2) for f in frames],
                    "distance": [
                        None if f.distance is None else round(f.distance, 4) for f in frames
                    ],
                    "problems": {str(f.index): f.problem for f in frames if f.problem},
                    **details,
                }
            ),
        )

    if not frames:
        return result(None, [_not_assessed("no selfie frames")])
    usable = [f for f in frames if not f.problem and f.ear is not None and f.yaw is not None]
    strangers = [f for f in usable if f.distance is not None and f.distance > max_distance]
    if strangers:
        which = ", ".join(str(f.index) for f in strangers)
        return result(
            False,
            [
                Finding(
                    Reason.LIVENESS_FAILED,
                    f"selfie frame(s) {which} show another person than the selfie "
                    f"(distance > {max_distance:.3f})",
                )
            ],
        )
    if len(usable) < MIN_FRAMES:
        problems = "; ".join(f"frame {f.index}: {f.problem}" for f in frames if f.problem)
        return result(
            None,
            [
                _not_assessed(
                    f"{len(usable)} usable selfie frame(s), {MIN_FRAMES} needed"
                    + (f" ({problems})" if problems else "")
                )
            ],
        )

    blinked = has_blink([f.ear for f in usable if f.ear is not None])
    yaws = [f.yaw for f in usable if f.yaw is not None]
    turn = max(yaws) - min(yaws)
    turned = turn >= TURN_DEGREES
    findings: list[Finding] = []
    if not blinked:
        low = min(f.ear for f in usable if f.ear is not None)
        findings.append(
            Finding(
                Reason.LIVENESS_FAILED,
                f"no blink in the selfie frames (lowest eye aspect ratio {low:.2f}; "
                f"closed < {EAR_CLOSED}, open > {EAR_OPEN})",
            )
        )
    if not turned:
        findings.append(
            Finding(
                Reason.LIVENESS_FAILED,
                f"no head turn in the selfie frames (yaw range {turn:.1f} < {TURN_DEGREES:g} deg)",
            )
        )
    return result(
        blinked and turned, findings, blink=blinked, yaw_range=round(turn, 2), turned=turned
    )


def has_blink(ears: Sequence[float]) -> bool:
    """True when the eye aspect ratios go open → closed → open, in this order."""
    seen_open = False
    seen_closed = False
    for ear in ears:
        if not seen_open:
            seen_open = ear > EAR_OPEN
        elif not seen_closed:
            seen_closed = ear < EAR_CLOSED
        elif ear > EAR_OPEN:
            return True
    return False


@dataclass(frozen=True, slots=True)
class ReplayThresholds:
    """Where the replay check's measurements become a suspicion or strong evidence.

    Defaults measured by ``make bench-replay`` on the development half of the public
    face set (figures and the rule's reasoning in benchmarks/README.md and in
    kyc.engines.liveness_local).

    Attributes:
        copy_ncc: face-chip correlation at or above which the selfie resembles the
            document portrait (a suspicion only: different photos of one person
            taken the same day come close).
        context_ncc: correlation of the wider chips (face, hair, shoulders and the
            background around them) at or above which the selfie resembles the
            portrait's whole picture: a suspicion.
        strong_copy_ncc: face-chip correlation that, together with
            ``strong_context_ncc``, makes the copy strong evidence (LIVENESS_FAILED).
        strong_context_ncc: wider-chip correlation for strong evidence, see above.
        print_peak_ratio: spectral peak ratio at or above which the selfie carries a
            print or screen pattern (a suspicion; strong together with a copy).
    """

    copy_ncc: float
    context_ncc: float
    strong_copy_ncc: float
    strong_context_ncc: float
    print_peak_ratio: float


@dataclass(frozen=True, slots=True)
class ReplayMeasures:
    """What the replay check measured (None: not measurable, e.g. no document face)."""

    print_peak_ratio: float | None = None
    portrait_ncc: float | None = None
    context_ncc: float | None = None


def replay_findings(m: ReplayMeasures, t: ReplayThresholds) -> list[Finding]:
    """The replay check's verdict from its measurements (issue 14).

    * **strong evidence** → LIVENESS_FAILED: the selfie is a near-identical copy of
      the document portrait, face *and* surroundings (``portrait_ncc >=
      strong_copy_ncc`` and ``context_ncc >= strong_context_ncc``), or it resembles
      the portrait (either suspicion threshold) *and* carries a print/screen pattern;
    * **a suspicion** → SELFIE_REPLAY_SUSPECTED (review, never a FAIL on its own):
      the face or its surroundings resemble the portrait, or a print/screen pattern;
    * else nothing (which is no evidence of liveness either).

    Args:
        m: the measurements.
        t: the thresholds.

    Returns:
        At most one finding, with the measurements that led to it in its detail.
    """
    printed = m.print_peak_ratio is not None and m.print_peak_ratio >= t.print_peak_ratio
    face_alike = m.portrait_ncc is not None and m.portrait_ncc >= t.copy_ncc
    scene_alike = m.context_ncc is not None and m.context_ncc >= t.context_ncc
    strong_copy = (
        m.portrait_ncc is not None
        and m.context_ncc is not None
        and m.portrait_ncc >= t.strong_copy_ncc
        and m.context_ncc >= t.strong_context_ncc
    )
    said: list[str] = []
    if m.portrait_ncc is not None and m.context_ncc is not None and (face_alike or scene_alike):
        said.append(
            f"selfie resembles the document portrait (face correlation {m.portrait_ncc:.3f}, "
            f"with surroundings {m.context_ncc:.3f}; suspicion at >= {t.copy_ncc:g} / "
            f"{t.context_ncc:g}, copy at >= {t.strong_copy_ncc:g} and {t.strong_context_ncc:g})"
        )
    elif m.portrait_ncc is not None and face_alike:
        said.append(
            f"selfie resembles the document portrait (face correlation {m.portrait_ncc:.3f} "
            f">= {t.copy_ncc:g})"
        )
    if printed:
        said.append(
            f"selfie carries a print or screen pattern (spectral peak ratio "
            f"{m.print_peak_ratio:.1f} >= {t.print_peak_ratio:g})"
        )
    if not said:
        return []
    detail = "; ".join(said)
    if strong_copy:
        return [
            Finding(Reason.LIVENESS_FAILED, f"selfie is a copy of the document portrait: {detail}")
        ]
    if printed and (face_alike or scene_alike):
        return [
            Finding(
                Reason.LIVENESS_FAILED,
                f"selfie is a print or screen replay of the document portrait: {detail}",
            )
        ]
    return [Finding(Reason.SELFIE_REPLAY_SUSPECTED, detail)]


def _not_assessed(detail: str) -> Finding:
    return Finding(Reason.LIVENESS_NOT_ASSESSED, detail)


def liveness_findings(
    results: Sequence[LivenessResult], *, policy: str
) -> tuple[list[Finding], dict[str, float | None]]:
    """Turn every liveness method's result into the decision's findings and scores.

    * any result failed → its LIVENESS_FAILED findings (FAIL);
    * else any result passed → nothing (a live person was shown);
    * else → one LIVENESS_NOT_ASSESSED saying why each method could not tell
      (REVIEW under the policy ``require``, WARNING under ``record``);
    * in every case, each SELFIE_REPLAY_SUSPECTED finding (the replay check's
      heuristics without strong evidence: REVIEW under either policy) is kept.

    Args:
        results: one LivenessResult per method that ran (may be empty).
        policy: the liveness policy, named in the not-assessed detail.

    Returns:
        (findings, scores); scores carry ``liveness_confidence`` when a method gave one.
    """
    scores: dict[str, float | None] = {}
    confidences = [r.confidence for r in results if r.confidence is not None]
    if confidences:
        scores["liveness_confidence"] = round(max(confidences), 3)
    # A suspected replay stays on the decision whatever else the methods said: a
    # passed challenge shows a live person in the frames, not that the selfie is one.
    suspected = [
        f for r in results for f in r.findings if f.reason is Reason.SELFIE_REPLAY_SUSPECTED
    ]
    failed = [r for r in results if r.passed is False]
    if failed:
        out = [f for r in failed for f in r.findings if f.reason is Reason.LIVENESS_FAILED]
        if not out:  # a failed result must still say so
            out = [Finding(Reason.LIVENESS_FAILED, f"{r.method} check failed") for r in failed]
        return out + suspected, scores
    if any(r.passed for r in results):
        return suspected, scores
    why = [
        f"{r.method}: {f.detail}"
        for r in results
        for f in r.findings
        if f.reason is Reason.LIVENESS_NOT_ASSESSED and f.detail
    ]
    detail = "; ".join(why) if why else "no liveness evidence"
    return [
        Finding(Reason.LIVENESS_NOT_ASSESSED, f"{detail} (policy {policy})"),
        *suspected,
    ], scores


__all__ = [
    "EAR_CLOSED",
    "EAR_OPEN",
    "MIN_FRAMES",
    "TURN_DEGREES",
    "FrameMeasure",
    "ReplayMeasures",
    "ReplayThresholds",
    "evaluate_challenge",
    "eye_aspect_ratio",
    "face_eye_aspect_ratio",
    "has_blink",
    "liveness_findings",
    "replay_findings",
    "yaw_degrees",
]
