"""Face-match calibration: error rates, score distributions and speed of the local matcher.

``make bench-faces`` builds genuine and impostor pairs from the public face set
(``KYC_SHARED_DATA_DIR/faces``: identity = folder; every within-folder pair is
genuine, every cross-folder pair an impostor) plus deepface's labelled pair list
(``faces/_meta/deepface/deepface_pairs.csv``), and reports for the local dlib matcher

* ROC AUC, EER, FNMR at FMR = 1 % and 0.1 %, on distances;
* a **held-out** calibration: identities are split into two disjoint folds; the
  distance thresholds at FMR 0.1 % (match) and 1 % (reject) are chosen on fold A
  and their error rates reported on fold B (and the other way round), with 95 %
  Wilson intervals, so the figures are not tuned on the data they are reported on;
* the same thresholds on a second condition, **photo vs licence card**: the
  document side is the photo rendered into a synthetic US licence (as the demo
  does), i.e. a small printed portrait found on a 1012 x 638 card;
* face quality: the quality gates' rejections on the public set, the sharpness of
  the sharp photos, and (``--blur-sweep``) sharpness and genuine FNMR under
  Gaussian blur, the data behind ``face_quality.MIN_SHARPNESS``;
* a PNG of the genuine and impostor distance distributions with the thresholds;
* median / p95 milliseconds per ``compare(selfie, document)`` call, measured on
  uncached pairs (photo vs photo and photo vs card), serially on this machine.

Embeddings are computed once per image and role (selfie / document) and cached, so
the ~9,000 impostor pairs cost a vector subtraction each. A pair ``(x, y)`` uses
``x`` as the selfie and ``y`` as the document. An image whose face fails a gate
counts as a non-match in every pair it is in (a genuine pair then counts as a false
non-match: failure to acquire is not hidden).

This is a script, not a test: run by hand or by ``make bench-faces``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from kyc.demo.cards import render_licence_front
from kyc.demo.generate import card_data
from kyc.demo.photos import HARD_KINDS, TWELVE_MP_KINDS, hard_variant, jpeg, twelve_megapixel
from kyc.engines.face_local import (
    MATCH_DISTANCE,
    MATCH_SIMILARITY,
    REJECT_DISTANCE,
    REJECT_SIMILARITY,
    SAME_PERSON_DISTANCE,
    DlibFaceMatcher,
    FaceEmbedding,
)
from kyc.imaging.decode import ImageUnreadable
from kyc.imaging.face_quality import MIN_SHARPNESS
from kyc.imaging.faces import find_face
from kyc.imaging.picture import Picture
from kyc.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent

#: Issue 4's targets.
TARGET_FNMR_AT_FMR_0_1 = 0.02
TARGET_MEDIAN_MS = 250.0
#: Timing rows, in print order; the target applies to the first two.
TIMING_ROWS = ("compare_photo_vs_photo", "compare_photo_vs_card", "compare_large_selfie_vs_photo")
#: Upscaling of the public photos for the "large selfie" timing row.
LARGE_SELFIE_FACTOR = 4
#: Gaussian blur radius as a fraction of the face width, for --blur-sweep.
BLUR_LEVELS = (0.02, 0.03, 0.04, 0.06)


# --- metrics (pure) ------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """Distances of genuine and impostor pairs; ``inf`` = failure to acquire."""

    genuine: np.ndarray
    impostor: np.ndarray


def fmr(scores: Scores, threshold: float) -> float:
    """False match rate over the impostor comparisons made (both faces acquired)."""
    made = scores.impostor[np.isfinite(scores.impostor)]
    return float(np.mean(made <= threshold)) if made.size else math.nan


def fnmr(scores: Scores, threshold: float) -> float:
    """False non-match rate over the genuine comparisons made (both faces acquired)."""
    made = scores.genuine[np.isfinite(scores.genuine)]
    return float(np.mean(made > threshold)) if made.size else math.nan


def threshold_at_fmr(impostor: np.ndarray, target: float) -> float:
    """Distance threshold with FMR <= target: midway below the first impostor too many.

    With ``n`` impostors, ``k = floor(target * n)`` false matches are allowed; the
    threshold sits halfway between the k-th and (k+1)-th smallest impostor
    distances (below the smallest one when k = 0), so it is not fitted to the edge
    of one sample.
    """
    ordered = np.sort(impostor[np.isfinite(impostor)])
    k = math.floor(target * ordered.size + 1e-9)
    if k >= ordered.size:
        return float(ordered[-1]) if ordered.size else math.inf
    upper = float(ordered[k])
    lower = float(ordered[k - 1]) if k > 0 else upper - 0.02
    return (lower + upper) / 2.0


def roc_auc(scores: Scores) -> float:
    """P(impostor distance > genuine distance), ties counted half (Mann-Whitney)."""
    gen = scores.genuine[np.isfinite(scores.genuine)]
    imp = np.sort(scores.impostor[np.isfinite(scores.impostor)])
    if not gen.size or not imp.size:
        return math.nan
    below = np.searchsorted(imp, gen, side="left")  # impostors closer than each genuine
    ties = np.searchsorted(imp, gen, side="right") - below
    greater = imp.size - below - ties
    return float((greater.sum() + 0.5 * ties.sum()) / (gen.size * imp.size))


def eer(scores: Scores) -> tuple[float, float]:
    """Equal error rate and its threshold (where FMR and FNMR cross, on a fine grid)."""
    finite = np.concatenate([scores.genuine, scores.impostor])
    finite = finite[np.isfinite(finite)]
    grid = np.unique(np.concatenate([finite, finite + 1e-9]))
    best = min(grid, key=lambda t: abs(fmr(scores, t) - fnmr(scores, t)))
    return (fmr(scores, best) + fnmr(scores, best)) / 2.0, float(best)


def wilson(errors: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion."""
    if n == 0:
        return (math.nan, math.nan)
    p = errors / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate_report(scores: Scores, threshold: float) -> dict[str, Any]:
    """Error rates at a distance threshold, with counts and 95 % Wilson intervals.

    ``fmr`` and ``fnmr`` count comparisons that were made (both faces passed the
    gates); ``frr`` (false rejection rate) also counts genuine pairs in which a
    gate stopped one image (FACE_QUALITY_LOW / FACE_NOT_FOUND: manual review, never
    a FAIL): what an honest applicant experiences.
    """
    imp = scores.impostor[np.isfinite(scores.impostor)]
    gen = scores.genuine[np.isfinite(scores.genuine)]
    false_matches = int(np.sum(imp <= threshold))
    false_non = int(np.sum(gen > threshold))
    rejected = false_non + int(scores.genuine.size - gen.size)
    return {
        "threshold": round(threshold, 4),
        "fmr": false_matches / max(1, imp.size),
        "fmr_count": f"{false_matches}/{imp.size}",
        "fmr_ci95": wilson(false_matches, imp.size),
        "fnmr": false_non / max(1, gen.size),
        "fnmr_count": f"{false_non}/{gen.size}",
        "fnmr_ci95": wilson(false_non, gen.size),
        "frr": rejected / max(1, scores.genuine.size),
        "frr_count": f"{rejected}/{scores.genuine.size}",
    }


def pooled(a: Scores, b: Scores) -> Scores:
    """Both folds' held-out scores together (each scored at its own fold's threshold)."""
    return Scores(np.concatenate([a.genuine, b.genuine]), np.concatenate([a.impostor, b.impostor]))


def summary(scores: Scores) -> dict[str, Any]:
    """AUC, EER and FNMR at FMR 1 % / 0.1 % (thresholds chosen on the same data)."""
    rate, at = eer(scores)
    out: dict[str, Any] = {
        "genuine_pairs": int(scores.genuine.size),
        "impostor_pairs": int(scores.impostor.size),
        "not_acquired": {
            "genuine": int(np.sum(~np.isfinite(scores.genuine))),
            "impostor": int(np.sum(~np.isfinite(scores.impostor))),
        },
        "roc_auc": roc_auc(scores),
        "eer": rate,
        "eer_threshold": at,
    }
    for name, target in (("fmr_1pct", 0.01), ("fmr_0.1pct", 0.001)):
        out[name] = rate_report(scores, threshold_at_fmr(scores.impostor, target))
    out["dlib_0.6"] = rate_report(scores, SAME_PERSON_DISTANCE)
    return out


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """Median and p95 of timings."""
    if not values:
        return {"median": math.nan, "p95": math.nan}
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)],
    }


# --- data --------------------------------------------------------------------------------


def list_images(faces: Path) -> list[str]:
    """Relative paths ``identity/n.jpg`` of every face photo."""
    return sorted(
        str(p.relative_to(faces))
        for p in faces.glob("*/*.jpg")
        if not p.parent.name.startswith("_")
    )


def identity(rel: str) -> str:
    """The identity label of an image (its folder)."""
    return rel.split("/", 1)[0]


def folder_pairs(images: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """All unordered pairs (sorted names): genuine within a folder, impostor across."""
    genuine: list[tuple[str, str]] = []
    impostor: list[tuple[str, str]] = []
    for a, b in itertools.combinations(images, 2):
        (genuine if identity(a) == identity(b) else impostor).append((a, b))
    return genuine, impostor


def deepface_pairs(faces: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """deepface's labelled pairs (deduplicated, both orders counted once)."""
    path = faces / "_meta" / "deepface" / "deepface_pairs.csv"
    genuine: dict[frozenset[str], tuple[str, str]] = {}
    impostor: dict[frozenset[str], tuple[str, str]] = {}
    if not path.is_file():
        return [], []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            pair = (row["file_x"], row["file_y"])
            if pair[0] == pair[1]:
                continue
            if not all((faces / name).is_file() for name in pair):
                continue  # a pair list for a subset of the set (e.g. --faces-dir)
            target = genuine if row["same_person"] == "1" else impostor
            target.setdefault(frozenset(pair), pair)
    return list(genuine.values()), list(impostor.values())


def folds(images: list[str]) -> tuple[set[str], set[str]]:
    """Split identities into two disjoint folds, balanced by genuine pairs.

    Identities are ordered by a hash of their name (stable, unrelated to the faces)
    and each goes to the fold with fewer genuine pairs so far.
    """
    counts = Counter(identity(i) for i in images)
    return _balanced(counts, sorted(counts, key=lambda n: hashlib.sha1(n.encode()).hexdigest()))


def _balanced(counts: Counter[str], order: list[str]) -> tuple[set[str], set[str]]:
    """Identities in ``order``, each to the side with fewer genuine pairs so far."""
    sides: tuple[set[str], set[str]] = (set(), set())
    pairs = [0, 0]
    for name in order:
        side = 0 if pairs[0] <= pairs[1] else 1
        sides[side].add(name)
        pairs[side] += counts[name] * (counts[name] - 1) // 2
    return sides


#: Seed of the development / held-out split of identities (issue 14).
SPLIT_SEED = 14


def dev_heldout(images: list[str], seed: int = SPLIT_SEED) -> tuple[set[str], set[str]]:
    """Split identities into a development half and a held-out half (fixed seed).

    Identities are shuffled with ``seed`` and each goes to the half with fewer
    genuine pairs so far, so both halves carry about as many genuine pairs. The
    thresholds are chosen on the development half only.
    """
    counts = Counter(identity(i) for i in images)
    order = sorted(counts)
    random.Random(seed).shuffle(order)
    return _balanced(counts, order)


def dev_heldout_report(
    genuine: list[tuple[str, str]],
    impostor: list[tuple[str, str]],
    selfies: dict[str, FaceEmbedding],
    documents: dict[str, FaceEmbedding],
    halves: tuple[set[str], set[str]],
) -> dict[str, Any]:
    """Thresholds chosen on the development half; rates on both halves.

    Every same-identity pair and every cross-identity pair within a half is used
    (pairs across the two halves are in neither: an identity never serves both to
    choose and to test). Reported at the thresholds chosen on dev (match: FMR
    0.1 %, reject: FMR 1 %) and at the deployed ones.
    """
    dev, held = halves
    scores = {
        name: Scores(
            score_pairs(within(genuine, ids), selfies, documents),
            score_pairs(within(impostor, ids), selfies, documents),
        )
        for name, ids in (("dev", dev), ("held_out", held))
    }
    chosen = {
        "match_distance": threshold_at_fmr(scores["dev"].impostor, 0.001),
        "reject_distance": threshold_at_fmr(scores["dev"].impostor, 0.01),
    }
    out: dict[str, Any] = {
        "seed": SPLIT_SEED,
        "identities": {"dev": sorted(dev), "held_out": sorted(held)},
        "chosen_on_dev": chosen,
    }
    for name, sc in scores.items():
        out[name] = {
            "pairs": [int(sc.genuine.size), int(sc.impostor.size)],
            "chosen_match": rate_report(sc, chosen["match_distance"]),
            "chosen_reject": rate_report(sc, chosen["reject_distance"]),
            "default_match": rate_report(sc, MATCH_DISTANCE),
            "default_reject": rate_report(sc, REJECT_DISTANCE),
        }
    return out


def scale_study(
    matcher: DlibFaceMatcher,
    faces: Path,
    genuine: list[tuple[str, str]],
    halves: tuple[set[str], set[str]],
    n: int,
) -> dict[str, Any]:
    """Similarity of 12 MP versions of a selfie against the same photo at normal size.

    For ``n`` genuine pairs per half (fixed seed), the selfie is remade as each kind
    of :func:`kyc.demo.photos.twelve_megapixel` and compared with the pair's other
    photo; the figure is the change of similarity from the normal-size selfie.
    """
    out: dict[str, Any] = {}
    for half, ids in zip(("dev", "held_out"), halves, strict=True):
        pairs = random.Random(SPLIT_SEED).sample(within(genuine, ids), n)
        deltas: dict[str, list[float]] = {kind: [] for kind in TWELVE_MP_KINDS}
        ms: list[float] = []
        for i, (a, b) in enumerate(pairs):
            document = (faces / b).read_bytes()
            base = matcher.compare((faces / a).read_bytes(), document).similarity
            if base is None:
                continue
            with Image.open(faces / a) as img:
                photo = img.convert("RGB")
            for kind in TWELVE_MP_KINDS:
                big = jpeg(twelve_megapixel(photo, kind, seed=i))
                started = time.perf_counter()
                score = matcher.compare(big, document).similarity
                ms.append((time.perf_counter() - started) * 1000)
                deltas[kind].append(math.nan if score is None else score - base)
        out[half] = {
            "pairs": len(pairs),
            "compare_ms": percentiles(ms),
            **{
                kind: {
                    "median_delta": float(np.nanmedian(d)),
                    "max_abs_delta": float(np.nanmax(np.abs(d))),
                    "no_score": int(np.isnan(np.array(d)).sum()),
                }
                for kind, d in deltas.items()
            },
        }
    return out


def fallback_study(
    matcher: DlibFaceMatcher,
    faces: Path,
    images: list[str],
    selfies: dict[str, FaceEmbedding],
    documents: dict[str, FaceEmbedding],
    card_docs: dict[str, FaceEmbedding],
    halves: tuple[set[str], set[str]],
) -> dict[str, Any]:
    """How often the fallback detector runs, what it costs and what it finds.

    * on the public set as uploaded: which search found each face, per role;
    * on hard versions of every photo (:func:`kyc.demo.photos.hard_variant`, face
      box from the photo's own detection): how many the HOG passes miss, how many
      the fallback finds (by which search), its milliseconds, and whether the face
      it found matches another photo of the person at the deployed threshold.
    """
    public = {
        role: dict(Counter(e.detector or "none" for e in group.values()))
        for role, group in (("selfie", selfies), ("document", documents), ("card", card_docs))
    }
    by_id: dict[str, list[str]] = {}
    for rel in images:
        by_id.setdefault(identity(rel), []).append(rel)
    out: dict[str, Any] = {"public_set_found_by": public}
    for half, ids in zip(("dev", "held_out"), halves, strict=True):
        rows: dict[str, dict[str, Any]] = {}
        for rel in images:
            box, others = selfies[rel].box, [o for o in by_id[identity(rel)] if o != rel]
            if identity(rel) not in ids or box is None:
                continue
            with Image.open(faces / rel) as img:
                photo = img.convert("RGB")
            corners = (box[0], box[1], box[0] + box[2], box[1] + box[3])
            for kind in HARD_KINDS:
                row = rows.setdefault(
                    kind,
                    {"made": 0, "hog_missed": 0, "found": Counter(), "matched": 0, "ms": []},
                )
                row["made"] += 1
                picture = Picture.of(jpeg(hard_variant(photo, corners, kind)))
                try:
                    if find_face(picture, "selfie", fallback=False) is not None:
                        continue
                except ImageUnreadable:
                    continue
                row["hog_missed"] += 1
                started = time.perf_counter()
                found = find_face(picture, "selfie")  # the HOG passes are memoised
                row["ms"].append((time.perf_counter() - started) * 1000)
                if found is None:
                    continue
                row["found"][found.detector] += 1
                emb = matcher.embed(picture, role="selfie")
                if others and emb.descriptor is not None:
                    d = distance(emb, documents[others[0]])
                    row["matched"] += int(d <= MATCH_DISTANCE)
        out[half] = {
            kind: {**row, "found": dict(row["found"]), "ms": percentiles(row["ms"])}
            for kind, row in rows.items()
        }
    return out


def render_card(photo: Path, idx: int) -> bytes:
    """The photo as the portrait of a synthetic licence front (as in the demo)."""
    rng = random.Random(idx)
    with Image.open(photo) as portrait:
        return render_licence_front(
            card_data(rng, dt.date(2026, 1, 1), idx), portrait.convert("RGB"), seed=idx
        )


# --- measuring -------------------------------------------------------------------------------


class EmbeddingCache:
    """One embedding per (image key, role); the matcher runs once per key."""

    def __init__(self, matcher: DlibFaceMatcher) -> None:
        self.matcher = matcher
        self.items: dict[tuple[str, str], FaceEmbedding] = {}
        self.ms: dict[tuple[str, str], float] = {}

    def get(self, key: str, data: bytes, role: str) -> FaceEmbedding:
        """Embedding of ``data`` under ``key`` (computed on first use)."""
        slot = (key, role)
        if slot not in self.items:
            started = time.perf_counter()
            self.items[slot] = self.matcher.embed(data, role=role)  # type: ignore[arg-type]
            self.ms[slot] = (time.perf_counter() - started) * 1000
        return self.items[slot]


def distance(x: FaceEmbedding, y: FaceEmbedding) -> float:
    """Descriptor distance, ``inf`` when either side has no descriptor."""
    if x.descriptor is None or y.descriptor is None:
        return math.inf
    return float(np.linalg.norm(x.descriptor - y.descriptor))


def score_pairs(
    pairs: list[tuple[str, str]],
    selfies: dict[str, FaceEmbedding],
    documents: dict[str, FaceEmbedding],
) -> np.ndarray:
    """Distances of (selfie key, document key) pairs."""
    return np.array([distance(selfies[a], documents[b]) for a, b in pairs], dtype=np.float64)


def within(pairs: list[tuple[str, str]], ids: set[str]) -> list[tuple[str, str]]:
    """Pairs whose both images belong to identities in ``ids``."""
    return [(a, b) for a, b in pairs if identity(a) in ids and identity(b) in ids]


def blur_sweep(
    faces: Path,
    images: list[str],
    selfies: dict[str, FaceEmbedding],
    match_distance: float,
) -> list[dict[str, Any]]:
    """Sharpness and genuine FNMR when the selfie is blurred by a fraction of the face width.

    The blurred photos go through a matcher with the blur gate off
    (``min_sharpness=0``), so the FNMR says what the blur would do to matching
    without the gate; ``share_under_limit`` says how many of them the gate stops.
    """
    ungated = DlibFaceMatcher(upsample=1, min_sharpness=0.0)
    by_id: dict[str, list[str]] = {}
    for rel in images:
        by_id.setdefault(identity(rel), []).append(rel)
    rows = []
    for level in BLUR_LEVELS:
        sharp: list[float] = []
        dists: list[float] = []
        lost = 0
        for rel in images:
            others = [o for o in by_id[identity(rel)] if o != rel]
            box = selfies[rel].box
            if not others or box is None:
                continue
            with Image.open(faces / rel) as img:
                blurred = img.convert("RGB").filter(ImageFilter.GaussianBlur(level * box[2]))
            emb = ungated.embed(_jpeg(blurred), role="selfie")
            if emb.sharpness is None or emb.descriptor is None:
                lost += 1
                continue
            sharp.append(emb.sharpness)
            dists += [distance(emb, selfies[o]) for o in others]
        d = np.array(dists)
        rows.append(
            {
                "blur": level,
                "lost": lost,
                "sharpness_median": round(statistics.median(sharp), 2) if sharp else math.nan,
                "sharpness_p90": round(float(np.percentile(sharp, 90)), 2) if sharp else math.nan,
                "sharpness_max": round(max(sharp), 2) if sharp else math.nan,
                "share_under_limit": round(float(np.mean(np.array(sharp) < MIN_SHARPNESS)), 3)
                if sharp
                else math.nan,
                "genuine_fnmr_without_gate": round(float(np.mean(d > match_distance)), 3)
                if d.size
                else math.nan,
            }
        )
    return rows


def _jpeg(img: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def plot(
    path: Path, scores: Scores, card: Scores, thresholds: dict[str, float], title: str
) -> None:
    """Histogram of genuine vs impostor distances (photo and card) with thresholds, as PNG."""
    width, height, margin = 960, 540, 60
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    lo, hi, bins = 0.0, 1.2, 60
    edges = np.linspace(lo, hi, bins + 1)

    def x_of(d: float) -> float:
        return margin + (d - lo) / (hi - lo) * (width - 2 * margin)

    series = [
        ("genuine photo-photo", scores.genuine, (0, 140, 60)),
        ("impostor photo-photo", scores.impostor, (200, 30, 30)),
        ("genuine photo-card", card.genuine, (60, 90, 220)),
        ("impostor photo-card", card.impostor, (230, 140, 0)),
    ]
    densities = []
    for _, values, _ in series:
        finite = values[np.isfinite(values)]
        hist, _ = np.histogram(np.clip(finite, lo, hi - 1e-9), bins=edges)
        densities.append(hist / max(1, finite.size))
    top = max(float(d.max()) for d in densities) or 1.0
    plot_h = height - 2 * margin
    draw.line([(margin, height - margin), (width - margin, height - margin)], fill="black")
    draw.line([(margin, margin), (margin, height - margin)], fill="black")
    for tick in np.arange(lo, hi + 1e-9, 0.1):
        x = x_of(float(tick))
        draw.line([(x, height - margin), (x, height - margin + 5)], fill="black")
        draw.text((x - 10, height - margin + 8), f"{tick:.1f}", fill="black")
    draw.text(
        (width / 2 - 140, height - 22), "descriptor distance (share of pairs per bin)", fill="black"
    )
    for (_label, _, colour), density in zip(series, densities, strict=True):
        points = [
            (x_of(float((edges[i] + edges[i + 1]) / 2)), height - margin - v / top * plot_h)
            for i, v in enumerate(density)
        ]
        draw.line(points, fill=colour, width=2)
    for i, (label, _, colour) in enumerate(series):
        draw.rectangle(
            [width - 250, margin + 18 * i, width - 238, margin + 18 * i + 12], fill=colour
        )
        draw.text((width - 232, margin + 18 * i), label, fill="black")
    for i, (label, value) in enumerate(thresholds.items()):
        x = x_of(value)
        for y in range(margin, height - margin, 8):
            draw.line([(x, y), (x, y + 4)], fill=(90, 90, 90))
        draw.text((x + 4, margin + 80 + 14 * i), f"{label} {value:.3f}", fill=(60, 60, 60))
    draw.text((margin, 20), title, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "PNG")


def time_compares(matcher: DlibFaceMatcher, pairs: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """Wall and CPU milliseconds of each uncached ``compare`` call, and its stages.

    CPU time (this thread's) barely moves with other load on the machine, so it is
    the better estimate of the wall time on an otherwise idle machine (the matcher
    runs on one thread). Stages are the matcher's own ``timings_ms`` (wall), as
    median / p95 per stage name. Process CPU adds the time of helper threads: with
    a BLAS-linked dlib (``make dlib-blas``), OpenBLAS may run the descriptor's matrix
    products on its own threads, which the calling thread's CPU time misses.
    """
    wall, cpu, process_cpu = [], [], []
    stages: dict[str, list[float]] = {}
    for selfie, document in pairs:
        started, started_cpu = time.perf_counter(), time.thread_time()
        started_process = time.process_time()
        result = matcher.compare(selfie, document)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        process_cpu.append((time.process_time() - started_process) * 1000)
        for stage, ms in result.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
    return {
        "wall": percentiles(wall),
        "cpu": percentiles(cpu),
        "process_cpu": percentiles(process_cpu),
        "n": len(wall),
        "stages": {k: percentiles(v) for k, v in sorted(stages.items())},
    }


def large_jpeg(photo: bytes, factor: int = LARGE_SELFIE_FACTOR) -> bytes:
    """The photo upscaled ``factor`` times (bicubic) and saved as JPEG q90.

    A stand-in for a phone upload (an 800 px public photo becomes 3200 px, ~8 MP):
    no more detail than the original, but the decoder and the downscale pay for
    every pixel, which is what this timing row measures.
    """
    with Image.open(io.BytesIO(photo)) as img:
        rgb = img.convert("RGB")
    big = rgb.resize((rgb.width * factor, rgb.height * factor), Image.Resampling.BICUBIC)
    return _jpeg(big)


def timing_pairs(genuine: list[tuple[str, str]], n: int) -> list[tuple[str, str]]:
    """The genuine pairs timed (same seed in the full run and ``--timing-only``)."""
    return random.Random(4).sample(genuine, min(n, len(genuine)))


def run_timing(
    matcher: DlibFaceMatcher,
    faces: Path,
    images: list[str],
    data: dict[str, bytes],
    n: int,
) -> dict[str, Any]:
    """Time ``compare`` on uncached genuine pairs: photo vs photo, photo vs card, and
    a large (4x upscaled) selfie vs photo; with the load average before and after.
    """
    genuine, _ = folder_pairs(images)
    pairs = timing_pairs(genuine, n)
    index = {rel: i for i, rel in enumerate(images)}
    cards = {b: render_card(faces / b, index[b]) for _, b in pairs}
    large = {a: large_jpeg(data[a]) for a, _ in pairs}
    load_before = os.getloadavg()
    photo = time_compares(matcher, [(data[a], data[b]) for a, b in pairs])
    card = time_compares(matcher, [(data[a], cards[b]) for a, b in pairs])
    big = time_compares(matcher, [(large[a], data[b]) for a, b in pairs])
    import dlib  # the matcher has imported it already

    return {
        "dlib_uses_blas": bool(dlib.DLIB_USE_BLAS),
        "compare_photo_vs_photo": photo,
        "compare_photo_vs_card": card,
        "compare_large_selfie_vs_photo": big,
        "load_average_before": load_before,
        "load_average": os.getloadavg(),
        "pairs_timed": n if n <= len(genuine) else len(genuine),
    }


def report_timing(t: dict[str, Any]) -> None:
    """Print the timing block (shared by the full run and ``--timing-only``)."""
    print(f"\n[timing, ms, {t['pairs_timed']} uncached genuine pairs per row, serial]")
    blas = "with BLAS (make dlib-blas)" if t["dlib_uses_blas"] else "without BLAS (dlib-bin)"
    print(f"  dlib {blas}")
    before = [round(x, 1) for x in t["load_average_before"]]
    print(f"  load average before: {before}  after: {[round(x, 1) for x in t['load_average']]}")
    for key in TIMING_ROWS:
        row = t[key]
        p, c, pc = row["wall"], row["cpu"], row["process_cpu"]
        print(
            f"  {key}: wall median {p['median']:.0f}  p95 {p['p95']:.0f}"
            f"   | thread CPU median {c['median']:.0f}  p95 {c['p95']:.0f}"
            f"   | process CPU median {pc['median']:.0f}  p95 {pc['p95']:.0f}"
        )
        stages = "  ".join(f"{k} {v['median']:.0f}" for k, v in row["stages"].items())
        print(f"    stage medians (wall): {stages}")
        if key != "compare_large_selfie_vs_photo" and p["median"] > TARGET_MEDIAN_MS:
            print(f"  TARGET MISSED: wall median {p['median']:.0f} ms > {TARGET_MEDIAN_MS:g} ms")


# --- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the calibration and print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces-dir", type=Path, default=None)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "var" / "bench-faces")
    parser.add_argument("--timing-pairs", type=int, default=60, help="uncached pairs timed")
    parser.add_argument("--blur-sweep", action="store_true", help="also measure blurred selfies")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument(
        "--studies",
        action="store_true",
        help="also the 12 MP scale study and the fallback-detector study (issue 14)",
    )
    parser.add_argument("--scale-pairs", type=int, default=12, help="genuine pairs per half")
    parser.add_argument(
        "--timing-only",
        action="store_true",
        help="skip the calibration; only time compare (about a minute)",
    )
    args = parser.parse_args(argv)

    faces = args.faces_dir or get_settings().shared_data_dir / "faces"
    if not faces.is_dir():
        print(f"face set not found: {faces}", file=sys.stderr)
        return 2
    matcher = DlibFaceMatcher(upsample=1)
    matcher.compare(*(2 * [(faces / list_images(faces)[0]).read_bytes()]))  # load models

    images = list_images(faces)
    data = {rel: (faces / rel).read_bytes() for rel in images}
    if args.timing_only:
        timing = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
            "engine": matcher.version,
            "timing_ms": run_timing(matcher, faces, images, data, args.timing_pairs),
        }
        if args.json_out:
            args.json_out.parent.mkdir(parents=True, exist_ok=True)
            args.json_out.write_text(json.dumps(timing, indent=2, default=float))
        print(f"engine {matcher.version}")
        report_timing(timing["timing_ms"])
        return 0

    cache = EmbeddingCache(matcher)
    started = time.perf_counter()
    selfies = {rel: cache.get(rel, data[rel], "selfie") for rel in images}
    documents = {rel: cache.get(rel, data[rel], "document") for rel in images}
    cards = {rel: render_card(faces / rel, i) for i, rel in enumerate(images)}
    card_docs = {rel: cache.get("card:" + rel, cards[rel], "document") for rel in images}
    embed_s = time.perf_counter() - started

    genuine, impostor = folder_pairs(images)
    photo = Scores(
        score_pairs(genuine, selfies, documents), score_pairs(impostor, selfies, documents)
    )
    card = Scores(
        score_pairs(genuine, selfies, card_docs), score_pairs(impostor, selfies, card_docs)
    )
    df_gen, df_imp = deepface_pairs(faces)
    deepface = Scores(
        score_pairs(df_gen, selfies, documents), score_pairs(df_imp, selfies, documents)
    )

    halves = dev_heldout(images)
    split = {
        "photo_vs_photo": dev_heldout_report(genuine, impostor, selfies, documents, halves),
        "photo_vs_card": dev_heldout_report(genuine, impostor, selfies, card_docs, halves),
    }

    # Held-out calibration: choose on one identity fold, report on the other.
    fold_a, fold_b = folds(images)
    held_out: dict[str, Any] = {}
    held_scores: dict[str, tuple[Scores, Scores]] = {}
    for name, choose, held in (("A->B", fold_a, fold_b), ("B->A", fold_b, fold_a)):
        cal = Scores(
            score_pairs(within(genuine, choose), selfies, documents),
            score_pairs(within(impostor, choose), selfies, documents),
        )
        test = Scores(
            score_pairs(within(genuine, held), selfies, documents),
            score_pairs(within(impostor, held), selfies, documents),
        )
        test_card = Scores(
            score_pairs(within(genuine, held), selfies, card_docs),
            score_pairs(within(impostor, held), selfies, card_docs),
        )
        match_t = threshold_at_fmr(cal.impostor, 0.001)
        reject_t = threshold_at_fmr(cal.impostor, 0.01)
        # Score each held-out pair against its fold's thresholds, for pooling.
        held_scores[name] = (
            Scores(test.genuine - match_t, test.impostor - match_t),
            Scores(test.genuine - reject_t, test.impostor - reject_t),
        )
        held_out[name] = {
            "calibration_pairs": [int(cal.genuine.size), int(cal.impostor.size)],
            "match_threshold": rate_report(test, match_t),
            "reject_threshold": rate_report(test, reject_t),
            "match_threshold_on_cards": rate_report(test_card, match_t),
            "reject_threshold_on_cards": rate_report(test_card, reject_t),
        }

    # Both folds, each at the threshold chosen on the other fold (shifted to 0).
    held_out["pooled"] = {
        "match_threshold": rate_report(pooled(held_scores["A->B"][0], held_scores["B->A"][0]), 0.0),
        "reject_threshold": rate_report(
            pooled(held_scores["A->B"][1], held_scores["B->A"][1]), 0.0
        ),
    }
    # The deployed anchors: the same procedure on all the data (the held-out
    # figures above estimate how it generalises).
    chosen = {
        "match_distance": threshold_at_fmr(photo.impostor, 0.001),
        "reject_distance": threshold_at_fmr(photo.impostor, 0.01),
    }
    rejected: dict[str, list[str]] = {}
    for role, group in (("selfie", selfies), ("document", documents), ("card", card_docs)):
        for rel, emb in group.items():
            for f in emb.findings:
                rejected.setdefault(f"{role}: {f.reason.value} {_gate(f.detail)}", []).append(rel)
    quality = {k: len(v) for k, v in sorted(rejected.items())}
    sharp = [e.sharpness for e in selfies.values() if e.sharpness is not None]
    yaw = [abs(e.pose.yaw_deg) for e in selfies.values() if e.pose is not None]
    pitch = [e.pose.pitch_index for e in selfies.values() if e.pose is not None]

    embed_ms = {
        role: percentiles(
            [v for (k, r), v in cache.ms.items() if r == role and not k.startswith("card:")]
        )
        for role in ("selfie", "document")
    }
    embed_ms["card document"] = percentiles(
        [v for (k, _), v in cache.ms.items() if k.startswith("card:")]
    )

    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "engine": matcher.version,
        "images": len(images),
        "identities": len({identity(i) for i in images}),
        "embedding_seconds_total": round(embed_s, 1),
        "current_thresholds": {
            "match_distance": MATCH_DISTANCE,
            "reject_distance": REJECT_DISTANCE,
            "match_similarity": MATCH_SIMILARITY,
            "reject_similarity": REJECT_SIMILARITY,
        },
        "chosen_on_all_data": chosen,
        "photo_vs_photo": summary(photo),
        "photo_vs_card": summary(card),
        "deepface_pairs": summary(deepface),
        "at_current_thresholds": {
            "photo_vs_photo": {
                "match": rate_report(photo, MATCH_DISTANCE),
                "reject": rate_report(photo, REJECT_DISTANCE),
            },
            "photo_vs_card": {
                "match": rate_report(card, MATCH_DISTANCE),
                "reject": rate_report(card, REJECT_DISTANCE),
            },
        },
        "dev_heldout": split,
        "held_out": {"folds": [sorted(fold_a), sorted(fold_b)], **held_out},
        "quality": {
            "gate_rejections": quality,
            "gate_rejected_images": rejected,
            "sharpness_public_set": {
                "min": min(sharp),
                "p1": float(np.percentile(sharp, 1)),
                "p5": float(np.percentile(sharp, 5)),
                "median": statistics.median(sharp),
                "limit": MIN_SHARPNESS,
            },
            "abs_yaw_deg": {"median": statistics.median(yaw), "max": max(yaw)},
            "pitch_index": {
                "min": min(pitch),
                "median": statistics.median(pitch),
                "max": max(pitch),
            },
        },
        "timing_ms": {
            **run_timing(matcher, faces, images, data, args.timing_pairs),
            "embed": embed_ms,
        },
    }
    if args.blur_sweep:
        result["quality"]["blur_sweep"] = blur_sweep(faces, images, selfies, MATCH_DISTANCE)
    if args.studies:
        result["scale_study"] = scale_study(matcher, faces, genuine, halves, args.scale_pairs)
        result["fallback_study"] = fallback_study(
            matcher, faces, images, selfies, documents, card_docs, halves
        )

    png = args.out_dir / "score_distributions.png"
    plot(
        png,
        photo,
        card,
        {"match": MATCH_DISTANCE, "reject": REJECT_DISTANCE},
        f"{matcher.version}: {photo.genuine.size} genuine / {photo.impostor.size} impostor pairs",
    )
    result["plot"] = str(png)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2, default=float))
    report(result)
    return 0


def _gate(detail: str) -> str:
    """The kind of problem in a finding's detail (``blurred``, ``too small``, ...)."""
    for kind in ("too small", "blurred", "turned", "tilted", "no face", "unreadable"):
        if kind in detail:
            return kind
    return detail


def _pct(v: float) -> str:
    return f"{100 * v:.2f}%"


def _rates(r: dict[str, Any]) -> str:
    lo, hi = r["fnmr_ci95"]
    flo, fhi = r["fmr_ci95"]
    return (
        f"d<={r['threshold']:.3f}: FMR {_pct(r['fmr'])} ({r['fmr_count']}, "
        f"CI {_pct(flo)}-{_pct(fhi)})"
        f"  FNMR {_pct(r['fnmr'])} ({r['fnmr_count']}, CI {_pct(lo)}-{_pct(hi)})"
        f"  FRR {_pct(r['frr'])} ({r['frr_count']})"
    )


def report(r: dict[str, Any]) -> None:
    """Print the figures as readable lines (the JSON has everything)."""
    print(f"engine {r['engine']}: {r['images']} images, {r['identities']} identities")
    for view in ("photo_vs_photo", "photo_vs_card", "deepface_pairs"):
        s = r[view]
        print(
            f"\n[{view}] {s['genuine_pairs']} genuine / {s['impostor_pairs']} impostor pairs, "
            f"not acquired {s['not_acquired']}"
        )
        print(f"  ROC AUC {s['roc_auc']:.5f}   EER {_pct(s['eer'])} at d={s['eer_threshold']:.3f}")
        print(f"  FMR 1%   -> {_rates(s['fmr_1pct'])}")
        print(f"  FMR 0.1% -> {_rates(s['fmr_0.1pct'])}")
        print(f"  dlib 0.6 -> {_rates(s['dlib_0.6'])}")
    c = r["current_thresholds"]
    print(
        f"\n[settings] match similarity {c['match_similarity']:g} = d {c['match_distance']}, "
        f"reject {c['reject_similarity']:g} = d {c['reject_distance']}"
    )
    for view, rates in r["at_current_thresholds"].items():
        print(f"  {view}: match {_rates(rates['match'])}")
        print(f"  {view}: reject {_rates(rates['reject'])}")
    ch = r["chosen_on_all_data"]
    print(
        f"\n[chosen on all data] match (FMR 0.1%) d={ch['match_distance']:.3f}"
        f"  reject (FMR 1%) d={ch['reject_distance']:.3f}"
    )
    print(
        "\n[held out] thresholds chosen on one identity fold (FMR 0.1% / 1%), reported on the other"
    )
    for name in ("A->B", "B->A"):
        h = r["held_out"][name]
        print(
            f"  {name} (calibrated on {h['calibration_pairs'][0]} genuine / "
            f"{h['calibration_pairs'][1]} impostor pairs)"
        )
        print(f"    match  {_rates(h['match_threshold'])}")
        print(f"    reject {_rates(h['reject_threshold'])}")
        print(f"    match on cards  {_rates(h['match_threshold_on_cards'])}")
        print(f"    reject on cards {_rates(h['reject_threshold_on_cards'])}")
    pool = r["held_out"]["pooled"]
    print(f"  pooled match  {_rates(pool['match_threshold'])}")
    print(f"  pooled reject {_rates(pool['reject_threshold'])}")
    for view, split in r["dev_heldout"].items():
        ch = split["chosen_on_dev"]
        print(
            f"\n[{view}: development / held-out halves, seed {split['seed']}] chosen on dev:"
            f" match d={ch['match_distance']:.3f}, reject d={ch['reject_distance']:.3f}"
        )
        for half in ("dev", "held_out"):
            h = split[half]
            print(f"  {half} ({h['pairs'][0]} genuine / {h['pairs'][1]} impostor pairs)")
            for key in ("chosen_match", "default_match", "chosen_reject", "default_reject"):
                print(f"    {key:15s} {_rates(h[key])}")
        held_match = split["held_out"]["chosen_match"]
        if held_match["fnmr"] > TARGET_FNMR_AT_FMR_0_1 or held_match["fmr"] > 0.001:
            print("  TARGET MISSED on the held-out half (FNMR <= 2 % at FMR <= 0.1 %)")
    for key in ("fnmr", "frr"):
        if pool["match_threshold"][key] > TARGET_FNMR_AT_FMR_0_1:
            print(
                f"  TARGET MISSED: held-out {key.upper()} {_pct(pool['match_threshold'][key])} > 2%"
            )
    q = r["quality"]
    print(
        "\n[quality] gate rejections (selfie, document, card roles): "
        f"{q['gate_rejections'] or 'none'}"
    )
    print(f"  sharpness of the public photos: {q['sharpness_public_set']}")
    print(f"  |yaw| deg: {q['abs_yaw_deg']}   pitch index: {q['pitch_index']}")
    for row in q.get("blur_sweep", []):
        print(f"  blur {row}")
    if "scale_study" in r:
        print("\n[12 MP uploads] similarity change vs the same selfie at normal size")
        for half in ("dev", "held_out"):
            h = r["scale_study"][half]
            print(f"  {half}: {h['pairs']} pairs, compare ms {h['compare_ms']}")
            for kind in TWELVE_MP_KINDS:
                k = h[kind]
                print(
                    f"    {kind:13s} median {k['median_delta']:+.2f}"
                    f"  max |delta| {k['max_abs_delta']:.2f}  no score {k['no_score']}"
                )
    if "fallback_study" in r:
        f = r["fallback_study"]
        print(f"\n[fallback detector] public set, found by: {f['public_set_found_by']}")
        for half in ("dev", "held_out"):
            for kind, row in f[half].items():
                print(
                    f"  {half} {kind}: made {row['made']}, HOG missed {row['hog_missed']},"
                    f" fallback found {row['found']}, matched {row['matched']},"
                    f" fallback ms {row['ms']}"
                )
    t = r["timing_ms"]
    report_timing(t)
    embed = {k: {m: round(v) for m, v in p.items()} for k, p in t["embed"].items()}
    print(f"  embed per image, ms: {embed}")
    print(f"\nplot: {r['plot']}")


if __name__ == "__main__":
    sys.exit(main())
