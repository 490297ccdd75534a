"""Liveness maths: eye aspect ratio, yaw, blink, the challenge and replay verdicts (pure)."""

import math

import pytest

from kyc.domain.liveness import (
    EAR_CLOSED,
    EAR_OPEN,
    TURN_DEGREES,
    FrameMeasure,
    ReplayMeasures,
    ReplayThresholds,
    evaluate_challenge,
    eye_aspect_ratio,
    face_eye_aspect_ratio,
    has_blink,
    liveness_findings,
    replay_findings,
    yaw_degrees,
)
from kyc.domain.records import SEVERITY, LivenessResult, Reason, Severity


def eye(opening: float, width: float = 30.0, x0: float = 0.0):
    """Six eye landmarks (dlib order) with upper/lower lids ``opening`` px apart."""
    h = opening / 2
    return [
        (x0, 0.0),
        (x0 + width / 3, -h),
        (x0 + 2 * width / 3, -h),
        (x0 + width, 0.0),
        (x0 + 2 * width / 3, h),
        (x0 + width / 3, h),
    ]


def face(opening: float = 9.0, yaw: float = 0.0):
    """68 landmarks: two eyes, a nose tip placed for ``yaw`` degrees, jaw at +-100 px."""
    pts = [(0.0, 0.0)] * 68
    pts[0], pts[16] = (-100.0, 0.0), (100.0, 0.0)
    pts[30] = (100.0 * math.sin(math.radians(yaw)), 20.0)
    pts[36:42] = eye(opening, x0=-60)
    pts[42:48] = eye(opening, x0=30)
    return pts


def test_eye_aspect_ratio_of_open_and_closed_eyes():
    assert eye_aspect_ratio(eye(9.0)) == pytest.approx(0.3)
    assert eye_aspect_ratio(eye(1.5)) == pytest.approx(0.05)
    assert eye_aspect_ratio(eye(9.0, width=60)) == pytest.approx(
        0.15
    )  # scale matters only as a ratio


def test_eye_aspect_ratio_rejects_bad_input():
    with pytest.raises(ValueError, match="6 landmarks"):
        eye_aspect_ratio(eye(9.0)[:5])
    with pytest.raises(ValueError, match="coincide"):
        eye_aspect_ratio([(0.0, 0.0)] * 6)


def test_face_ear_is_the_mean_of_both_eyes():
    pts = face(9.0)
    pts[42:48] = eye(3.0, x0=30)
    assert face_eye_aspect_ratio(pts) == pytest.approx((0.3 + 0.1) / 2)
    with pytest.raises(ValueError, match="68"):
        face_eye_aspect_ratio(pts[:67])


@pytest.mark.parametrize("angle", [-60.0, -25.0, 0.0, 10.0, 45.0])
def test_yaw_recovers_the_cylinder_model_angle(angle):
    assert yaw_degrees(face(yaw=angle)) == pytest.approx(angle, abs=1e-6)


@pytest.mark.parametrize(
    ("ears", "blink"),
    [
        ([0.3, 0.1, 0.3], True),
        ([0.3, 0.3, 0.12, 0.15, 0.28], True),
        ([0.1, 0.3, 0.3], False),  # closed first: no open before it
        ([0.3, 0.3, 0.1], False),  # never reopened
        ([0.3, 0.22, 0.3], False),  # a squint is not a blink
        ([0.24, 0.1, 0.24], False),  # never clearly open
        ([], False),
    ],
)
def test_blink_is_open_closed_open(ears, blink):
    assert has_blink(ears) is blink


def frames(ears, yaws, distance=0.3):
    return [
        FrameMeasure(i, ear=e, yaw=y, distance=distance)
        for i, (e, y) in enumerate(zip(ears, yaws, strict=True))
    ]


def test_challenge_passes_with_a_blink_and_a_turn_by_the_same_person():
    r = evaluate_challenge(
        frames([0.3, 0.1, 0.3, 0.3], [0, 0, 0, TURN_DEGREES + 1]), max_distance=0.6
    )
    assert r.passed is True and r.method == "challenge" and r.findings == ()
    assert r.details["blink"] is True and r.details["yaw_range"] == pytest.approx(TURN_DEGREES + 1)


def test_challenge_without_blink_or_turn_fails_with_both_reasons():
    r = evaluate_challenge(frames([0.3, 0.3, 0.3], [0, 2, 4]), max_distance=0.6)
    assert r.passed is False
    details = [f.detail for f in r.findings]
    assert all(f.reason is Reason.LIVENESS_FAILED for f in r.findings)
    assert any("no blink" in d for d in details) and any("no head turn" in d for d in details)


def test_a_frame_of_another_person_fails_the_challenge():
    fs = frames([0.3, 0.1, 0.3], [0, 0, 30])
    fs[2] = FrameMeasure(2, ear=0.3, yaw=30, distance=0.9)
    r = evaluate_challenge(fs, max_distance=0.6)
    assert r.passed is False
    assert "frame(s) 2 show another person" in r.findings[0].detail


def test_too_few_usable_frames_is_not_assessed_with_the_problems():
    fs = [
        FrameMeasure(0, ear=0.3, yaw=0, distance=0.2),
        FrameMeasure(1, problem="no face"),
        FrameMeasure(2, problem="unreadable: not a recognised image format"),
    ]
    r = evaluate_challenge(fs, max_distance=0.6)
    assert r.passed is None
    assert r.findings[0].reason is Reason.LIVENESS_NOT_ASSESSED
    assert (
        "1 usable selfie frame(s)" in r.findings[0].detail
        and "frame 1: no face" in r.findings[0].detail
    )
    assert r.details["problems"] == {
        "1": "no face",
        "2": "unreadable: not a recognised image format",
    }


def test_no_frames_is_not_assessed():
    r = evaluate_challenge([], max_distance=0.6)
    assert r.passed is None and r.findings[0].reason is Reason.LIVENESS_NOT_ASSESSED


def test_thresholds_are_ordered():
    assert 0 < EAR_CLOSED < EAR_OPEN < 0.35


# --------------------------------------------------------------------------------------
# replay verdict (issue 14): a heuristic alone never fails an applicant
# --------------------------------------------------------------------------------------

T = ReplayThresholds(copy_ncc=0.95, context_ncc=0.8, strong_copy_ncc=0.97, strong_context_ncc=0.9,
                     print_peak_ratio=14.0)


@pytest.mark.parametrize(("measures", "reason"), [
    # a different photo of the same person: face alike (the private set's 0.886-0.932), scene not
    (ReplayMeasures(print_peak_ratio=5.0, portrait_ncc=0.93, context_ncc=0.55), None),
    (ReplayMeasures(print_peak_ratio=5.0), None),  # no document face: nothing to compare
    # one heuristic: a suspicion, never a FAIL
    (ReplayMeasures(print_peak_ratio=5.0, portrait_ncc=0.96, context_ncc=0.6), Reason.SELFIE_REPLAY_SUSPECTED),
    (ReplayMeasures(print_peak_ratio=5.0, portrait_ncc=0.9, context_ncc=0.85), Reason.SELFIE_REPLAY_SUSPECTED),
    (ReplayMeasures(print_peak_ratio=80.0, portrait_ncc=0.5, context_ncc=0.4), Reason.SELFIE_REPLAY_SUSPECTED),
    (ReplayMeasures(print_peak_ratio=80.0), Reason.SELFIE_REPLAY_SUSPECTED),
    # face *and* surroundings near-identical: the copy is strong evidence
    (ReplayMeasures(print_peak_ratio=5.0, portrait_ncc=0.99, context_ncc=0.95), Reason.LIVENESS_FAILED),
    # strong face alone, surroundings below the strong level: only a suspicion
    (ReplayMeasures(print_peak_ratio=5.0, portrait_ncc=0.99, context_ncc=0.85), Reason.SELFIE_REPLAY_SUSPECTED),
    # a copy seen through a print or screen: both heuristics together
    (ReplayMeasures(print_peak_ratio=80.0, portrait_ncc=0.6, context_ncc=0.82), Reason.LIVENESS_FAILED),
])
def test_replay_verdict(measures, reason):
    findings = replay_findings(measures, T)
    assert [f.reason for f in findings] == ([reason] if reason else [])
    assert all(f.detail for f in findings)


def test_a_replay_suspicion_is_a_review_and_survives_a_passed_challenge():
    assert SEVERITY[Reason.SELFIE_REPLAY_SUSPECTED] is Severity.REVIEW
    [suspicion] = replay_findings(ReplayMeasures(print_peak_ratio=80.0), T)
    replay = LivenessResult(passed=None, method="replay", findings=(suspicion,))
    live = LivenessResult(passed=True, method="challenge")
    assert liveness_findings([live, replay], policy="require")[0] == [suspicion]
    out = liveness_findings([replay], policy="record")[0]
    assert [f.reason for f in out] == [Reason.LIVENESS_NOT_ASSESSED, Reason.SELFIE_REPLAY_SUSPECTED]
