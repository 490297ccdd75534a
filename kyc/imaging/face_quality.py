"""Face quality gates for the local matcher: sharpness and head pose (pure numpy).

A face that is too blurred or turned too far gives an unreliable descriptor, so the
local matcher reports ``FACE_QUALITY_LOW`` for it instead of a (misleadingly low or
high) similarity. Everything here is a pure function of pixels or landmark
coordinates, so it is unit-tested without dlib.

**Sharpness** is the variance of the 4-neighbour Laplacian over the grey, aligned
150 x 150 face chip without padding (only the face, not hair or background; the same
geometry the ResNet sees), so it does not depend on the photo's resolution. The
limit :data:`MIN_SHARPNESS` comes from ``make bench-faces`` (``benchmarks/
bench_faces.py --blur-sweep``), which blurs every public photo with a Gaussian
of a given fraction of the face width and matches it against the same person's
other photos with this gate off:

* as published: sharpness median 76.0, minimum 3.1, 1st percentile 7.1; genuine
  FNMR at similarity 80: 1.5 %; under the limit 3.0: none;
* blur 2 % of the face width: median 2.5, max 5.5; FNMR 5.2 %; under 3.0: 67 %;
* blur 3 %: median 1.8, max 3.2; FNMR 22.8 %; under 3.0: 98 %;
* blur 4 %: median 1.6, max 2.6; FNMR 64 %; under 3.0: 100 %
  (FNMR re-measured 2026-11-23 on the current matcher; an earlier run gave 4.6 /
  19.5 / 61 %).

The limit 3.0 stops nearly all of the blur that breaks matching (3 % and more)
and none of the 138 sharp photos; a face it stops goes to manual review
(``FACE_QUALITY_LOW``), never to FAIL.

**Pose** comes from dlib's 5-point landmarks (two corners of each eye, the base of
the nose) which the matcher computes anyway (no 100 MB 68-point model to load).
With eye centres ``E_l``, ``E_r`` (image left/right), their midpoint ``M`` and
distance ``L``, the nose base ``N`` gives two ratios:

* ``yaw index`` ``u = (N - M) . x_hat / L``: 0 for a frontal face. With the nose
  base a depth ``d`` in front of the eye plane and eye centres ``2e`` apart, a
  weak-perspective camera gives ``u = (d / 2e) tan(yaw)``; we take
  ``d / 2e = 0.33`` (about 2 cm of depth for 6 cm between eye centres) so
  ``yaw = atan(u / 0.33)``. The public set spans ``|u| <= 0.22`` (<= 34 deg).
* ``pitch index`` ``w = (N - M) . y_hat / L``: how far below the eye line the nose
  base sits, in eye distances. A strong yaw foreshortens the eye distance and
  inflates it, so the index is ``w * cos(yaw)``. Public set (``make bench-faces``):
  median 0.74, range 0.51-1.01. Tilting the head back or forward moves it outside.
  Five points cannot separate pitch from face shape well, so the limits are wide
  (:data:`PITCH_INDEX_RANGE`): they catch a face seen from far above or below, not
  a slight nod.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Minimum Laplacian variance of the aligned face chip (see module doc for the data).
MIN_SHARPNESS = 3.0
#: Largest yaw (degrees, either way) accepted. Beyond ~45 deg one eye is partly
#: hidden and dlib's frontal alignment is unreliable.
MAX_YAW_DEG = 45.0
#: Accepted range of the (yaw-corrected) pitch index; the public photos span
#: 0.51-1.01 (median 0.74).
PITCH_INDEX_RANGE = (0.40, 1.30)
#: Assumed depth of the nose base in front of the eye plane, per eye-centre distance.
NOSE_DEPTH_RATIO = 0.33


@dataclass(frozen=True, slots=True)
class FacePose:
    """Head pose estimated from the 5 landmarks.

    Attributes:
        yaw_deg: left/right turn in degrees (sign: positive when the nose points to
            the image's right).
        pitch_index: nose-base drop below the eye line per eye distance, corrected
            for yaw (frontal ~0.76).
        roll_deg: in-plane tilt of the eye line in degrees (corrected by alignment,
            so it is reported, not gated).
    """

    yaw_deg: float
    pitch_index: float
    roll_deg: float


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian over the interior of a grey image.

    Args:
        gray: 2-D array (any numeric dtype), at least 3 x 3.

    Returns:
        The variance (0 for a flat image).

    Raises:
        ValueError: not a 2-D image of at least 3 x 3 pixels.
    """
    if gray.ndim != 2 or min(gray.shape) < 3:
        raise ValueError(f"need a 2-D image of at least 3x3, got shape {gray.shape}")
    g = gray.astype(np.float64)
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def chip_sharpness(chip_rgb: np.ndarray) -> float:
    """Sharpness of an RGB face chip: Laplacian variance of its luma (ITU-R 601).

    Args:
        chip_rgb: ``H x W x 3`` uint8 array (dlib's aligned face chip).

    Returns:
        The Laplacian variance of the grey chip.
    """
    rgb = chip_rgb.astype(np.float64)
    gray = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    return laplacian_variance(gray)


def pose_from_5_landmarks(points: np.ndarray) -> FacePose:
    """Estimate the head pose from dlib's 5-point landmarks.

    Args:
        points: ``5 x 2`` array of (x, y) image coordinates in dlib's order: two
            corners of one eye, two of the other, then the base of the nose.

    Returns:
        The pose (see :class:`FacePose` and the module doc for the geometry).

    Raises:
        ValueError: wrong shape, or both eyes at the same point.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (5, 2):
        raise ValueError(f"need 5 (x, y) landmarks, got shape {pts.shape}")
    eye_a, eye_b = pts[0:2].mean(axis=0), pts[2:4].mean(axis=0)
    # Order the eyes by image x so the axes do not depend on dlib's point order.
    left, right = (eye_a, eye_b) if eye_a[0] <= eye_b[0] else (eye_b, eye_a)
    axis = right - left
    distance = float(np.hypot(*axis))
    if distance < 1e-6:
        raise ValueError("eye landmarks coincide")
    x_hat = axis / distance
    y_hat = np.array([-x_hat[1], x_hat[0]])  # image "down" when the face is upright
    nose = pts[4] - (left + right) / 2.0
    u = float(nose @ x_hat) / distance
    w = float(nose @ y_hat) / distance
    yaw = math.atan2(u, NOSE_DEPTH_RATIO)
    return FacePose(
        yaw_deg=math.degrees(yaw),
        pitch_index=w * math.cos(yaw),
        roll_deg=math.degrees(math.atan2(axis[1], axis[0])),
    )


def quality_problems(
    *,
    sharpness: float,
    pose: FacePose,
    min_sharpness: float = MIN_SHARPNESS,
    max_yaw_deg: float = MAX_YAW_DEG,
    pitch_range: tuple[float, float] = PITCH_INDEX_RANGE,
) -> list[str]:
    """Why a face is unfit for matching (empty when it is fit).

    Args:
        sharpness: :func:`chip_sharpness` of the face.
        pose: :func:`pose_from_5_landmarks` of the face.
        min_sharpness: blur limit.
        max_yaw_deg: yaw limit (either way).
        pitch_range: accepted pitch-index range.

    Returns:
        Human-readable problems, e.g. ``["blurred (sharpness 3.1 < 4.5)"]``.
    """
    problems = []
    if sharpness < min_sharpness:
        problems.append(f"blurred (sharpness {sharpness:.1f} < {min_sharpness:g})")
    if abs(pose.yaw_deg) > max_yaw_deg:
        problems.append(f"turned sideways (yaw {abs(pose.yaw_deg):.0f} deg > {max_yaw_deg:g})")
    low, high = pitch_range
    if not low <= pose.pitch_index <= high:
        problems.append(
            f"tilted up or down (pitch index {pose.pitch_index:.2f} outside {low:g}-{high:g})"
        )
    return problems
