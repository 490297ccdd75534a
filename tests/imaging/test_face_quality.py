"""Unit tests of the face quality measures (pure functions, no dlib)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kyc.imaging.face_quality import (
    MAX_YAW_DEG,
    MIN_SHARPNESS,
    NOSE_DEPTH_RATIO,
    PITCH_INDEX_RANGE,
    FacePose,
    chip_sharpness,
    laplacian_variance,
    pose_from_5_landmarks,
    quality_problems,
)


def landmarks(*, yaw_deg: float = 0.0, drop: float = 0.76, roll_deg: float = 0.0) -> np.ndarray:
    """dlib-ordered 5 points of a synthetic face: eye centres 100 px apart (frontal).

    dlib lists the image-right eye first. Yaw (weak perspective) shortens the eye
    distance by cos(yaw) and moves the nose base sideways by ``NOSE_DEPTH_RATIO *
    tan(yaw)`` (projected) eye distances; the nose's drop below the eyes stays.
    """
    eye = 100.0 * math.cos(math.radians(yaw_deg))
    shift = NOSE_DEPTH_RATIO * math.tan(math.radians(yaw_deg)) * eye
    pts = np.array(
        [
            [eye / 2 + 20, 0.0],  # right eye outer corner (image right)
            [eye / 2 - 20, 0.0],
            [-eye / 2 - 20, 0.0],  # left eye outer corner
            [-eye / 2 + 20, 0.0],
            [shift, drop * 100.0],  # nose base
        ]
    )
    t = math.radians(roll_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return pts @ rot.T + np.array([300.0, 200.0])


def test_laplacian_variance_flat_edge_and_noise() -> None:
    assert laplacian_variance(np.full((20, 20), 128)) == 0.0
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (64, 64))
    smooth = np.add.outer(np.arange(64.0), np.arange(64.0))  # a linear ramp: Laplacian 0
    assert laplacian_variance(noise) > 1000.0
    assert laplacian_variance(smooth) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="2-D"):
        laplacian_variance(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="2-D"):
        laplacian_variance(np.zeros((5, 5, 3)))


def test_chip_sharpness_drops_with_blur() -> None:
    rng = np.random.default_rng(2)
    chip = rng.integers(0, 256, (150, 150, 3)).astype(np.uint8)
    # A 5x5 box blur: far less high-frequency energy.
    k = 5
    padded = np.pad(chip.astype(np.float64), ((2, 2), (2, 2), (0, 0)), mode="edge")
    blurred = sum(padded[i : i + 150, j : j + 150] for i in range(k) for j in range(k)) / k**2
    assert chip_sharpness(blurred.astype(np.uint8)) < chip_sharpness(chip) / 20


@pytest.mark.parametrize("yaw", [-60.0, -30.0, 0.0, 20.0, 44.0, 70.0])
@pytest.mark.parametrize("roll", [0.0, 25.0, -40.0])
def test_pose_recovers_yaw_and_pitch_index(yaw: float, roll: float) -> None:
    pose = pose_from_5_landmarks(landmarks(yaw_deg=yaw, roll_deg=roll))
    # Sign convention: nose to the image's right is positive yaw.
    assert pose.yaw_deg == pytest.approx(yaw, abs=1e-6)
    assert pose.roll_deg == pytest.approx(roll, abs=1e-6)
    # The drop over the foreshortened eye distance grows with yaw; the index
    # corrects for it, so a level head reads the same at any yaw.
    assert pose.pitch_index == pytest.approx(0.76, rel=1e-6)


def test_pose_does_not_depend_on_dlib_eye_order_or_scale() -> None:
    pts = landmarks(yaw_deg=25.0)
    swapped = pts[[2, 3, 0, 1, 4]]
    a, b = pose_from_5_landmarks(pts), pose_from_5_landmarks(swapped)
    assert (a.yaw_deg, a.pitch_index) == pytest.approx((b.yaw_deg, b.pitch_index))
    big = pose_from_5_landmarks(pts * 3.0)
    assert (big.yaw_deg, big.pitch_index) == pytest.approx((a.yaw_deg, a.pitch_index))


def test_pose_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="5"):
        pose_from_5_landmarks(np.zeros((68, 2)))
    with pytest.raises(ValueError, match="coincide"):
        pose_from_5_landmarks(np.zeros((5, 2)))


def test_quality_problems_names_each_problem() -> None:
    good = FacePose(yaw_deg=10.0, pitch_index=0.76, roll_deg=3.0)
    assert quality_problems(sharpness=MIN_SHARPNESS, pose=good) == []
    assert quality_problems(sharpness=MIN_SHARPNESS - 0.1, pose=good) == [
        f"blurred (sharpness {MIN_SHARPNESS - 0.1:.1f} < {MIN_SHARPNESS:g})"
    ]
    turned = FacePose(yaw_deg=-(MAX_YAW_DEG + 5), pitch_index=0.76, roll_deg=0.0)
    assert quality_problems(sharpness=50.0, pose=turned) == ["turned sideways (yaw 50 deg > 45)"]
    low, high = PITCH_INDEX_RANGE
    for index in (low - 0.01, high + 0.01):
        tilted = FacePose(yaw_deg=0.0, pitch_index=index, roll_deg=0.0)
        (problem,) = quality_problems(sharpness=50.0, pose=tilted)
        assert problem.startswith("tilted up or down")
    everything = FacePose(yaw_deg=80.0, pitch_index=2.0, roll_deg=0.0)
    assert len(quality_problems(sharpness=1.0, pose=everything)) == 3
    # Limits are parameters (the benchmark turns the blur gate off with 0).
    assert quality_problems(sharpness=1.0, pose=good, min_sharpness=0.0) == []


def test_strong_yaw_from_landmarks_is_a_problem() -> None:
    pose = pose_from_5_landmarks(landmarks(yaw_deg=60.0))
    assert any("turned sideways" in p for p in quality_problems(sharpness=50.0, pose=pose))
    frontal = pose_from_5_landmarks(landmarks(yaw_deg=0.0))
    assert quality_problems(sharpness=50.0, pose=frontal) == []
