"""Calibrate and measure the replay check (``make bench-replay``).

From the public face set (``../shared/data/faces``, identity = folder) it builds:

* **genuine**: a demo licence rendered with the identity's first photo as the
  portrait, and every other photo of that identity as the selfie;
* **copied**: the selfie is the card's portrait re-photographed (crop around the
  portrait, upscaled, slight perspective, blur, exposure change, JPEG), or the very
  photo printed on the card;
* **printed**: genuine selfies seen through a halftone screen (a print held up to
  the camera), at several screen frequencies and angles.

It prints the distribution of the two replay scores per class (portrait correlation
and spectral peak ratio), the error counts at the thresholds in
``kyc.engines.liveness_local`` and the time per check. The thresholds there were
chosen from this output: between the highest genuine score and the lowest spoof
score, with the margin on the genuine side.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kyc.demo.cards import PORTRAIT_BOX, render_licence_front  # noqa: E402
from kyc.demo.generate import card_data  # noqa: E402
from kyc.domain.records import LivenessEvidence  # noqa: E402
from kyc.engines.liveness_local import (  # noqa: E402
    COPY_NCC,
    PRINT_PEAK_RATIO,
    ReplayLivenessChecker,
)
from kyc.settings import get_settings  # noqa: E402


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def rephotograph(card: bytes, rng: random.Random) -> bytes:
    """The card's portrait as a phone would capture it when held up to the camera."""
    img = Image.open(io.BytesIO(card)).convert("RGB")
    left, top, right, bottom = PORTRAIT_BOX
    m = rng.randint(10, 60)
    crop = img.crop((max(0, left - m), max(0, top - m), right + m, bottom + m))
    scale = rng.uniform(1.6, 2.6)
    crop = crop.resize(
        (round(crop.width * scale), round(crop.height * scale)), Image.Resampling.BICUBIC
    )
    w, h = crop.size
    d = 0.04 * w
    quad = (
        rng.uniform(0, d),
        rng.uniform(0, d),
        rng.uniform(0, d),
        h - rng.uniform(0, d),
        w - rng.uniform(0, d),
        h - rng.uniform(0, d),
        w - rng.uniform(0, d),
        rng.uniform(0, d),
    )
    crop = crop.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC)
    crop = crop.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
    gamma = rng.uniform(0.75, 1.3)
    arr = np.asarray(crop, dtype=np.float64) / 255.0
    arr = np.clip(arr**gamma * rng.uniform(0.85, 1.1), 0, 1)
    arr = arr + np.random.default_rng(rng.randint(0, 10**6)).normal(0, 0.01, arr.shape)
    return jpeg(Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8)), rng.randint(70, 92))


def halftone(photo: bytes, lines: float, angle_deg: float) -> bytes:
    """A photo seen through a halftone screen: ``lines`` dot rows across the image width."""
    img = Image.open(io.BytesIO(photo)).convert("RGB")
    arr = np.asarray(img, dtype=np.float64) / 255.0
    h, w = arr.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    a = math.radians(angle_deg)
    u = (x * math.cos(a) + y * math.sin(a)) * lines / w * 2 * math.pi
    v = (-x * math.sin(a) + y * math.cos(a)) * lines / w * 2 * math.pi
    screen = (np.cos(u) * np.cos(v) + 1) / 2  # dot pattern 0..1
    out = arr * (0.6 + 0.4 * screen[..., None])
    return jpeg(Image.fromarray((np.clip(out, 0, 1) * 255).astype(np.uint8)), 88)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="identities to use (0 = all)")
    args = parser.parse_args()
    faces = get_settings().shared_data_dir / "faces"
    folders = sorted(p for p in faces.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= 2)
    if args.limit:
        folders = folders[: args.limit]
    rng = random.Random(4)
    checker = ReplayLivenessChecker()
    scores: dict[str, list[tuple[float | None, float | None]]] = {
        "genuine": [],
        "copied": [],
        "printed": [],
    }
    times: list[float] = []
    today = __import__("datetime").date(2026, 1, 1)

    def run(kind: str, selfie: bytes, card: bytes) -> None:
        started = time.perf_counter()
        r = checker.check(LivenessEvidence(selfie=selfie, document=card))
        times.append((time.perf_counter() - started) * 1000)
        scores[kind].append((r.details.get("portrait_ncc"), r.details.get("print_peak_ratio")))

    for i, folder in enumerate(folders):
        photos = sorted(folder.glob("*.jpg"))
        with Image.open(photos[0]) as portrait:
            card = render_licence_front(card_data(rng, today, i), portrait.convert("RGB"), seed=i)
        for other in photos[1:]:
            run("genuine", other.read_bytes(), card)
        run("copied", rephotograph(card, rng), card)
        run("copied", rephotograph(card, rng), card)
        run("copied", photos[0].read_bytes(), card)
        selfie = photos[1].read_bytes()
        run("printed", halftone(selfie, rng.uniform(60, 120), rng.uniform(0, 45)), card)

    print(
        f"{len(folders)} identities; thresholds: copy ncc >= {COPY_NCC}, "
        f"print peak >= {PRINT_PEAK_RATIO}"
    )
    for kind, rows in scores.items():
        ncc = [a for a, _ in rows if a is not None]
        peak = [b for _, b in rows if b is not None]
        no_face = sum(1 for a, b in rows if a is None and b is None)
        flagged = sum(
            1
            for a, b in rows
            if (a is not None and a >= COPY_NCC) or (b is not None and b >= PRINT_PEAK_RATIO)
        )
        print(
            f"{kind:8s} n={len(rows):3d} flagged={flagged:3d} no-face={no_face} | "
            f"ncc min/median/max {min(ncc):.3f}/{statistics.median(ncc):.3f}/{max(ncc):.3f} | "
            f"peak min/median/max {min(peak):.2f}/{statistics.median(peak):.2f}/{max(peak):.2f}"
        )
    times.sort()
    p50, p95 = times[len(times) // 2], times[int(len(times) * 0.95)]
    print(f"time per check: p50 {p50:.0f} ms, p95 {p95:.0f} ms")


if __name__ == "__main__":
    main()
