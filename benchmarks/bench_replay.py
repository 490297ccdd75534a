"""Calibrate and measure the replay check (``make bench-replay``).

From the public face set (``../shared/data/faces``, identity = folder), for every
identity with at least two photos and **every** photo X of it, a demo licence is
rendered with X as the portrait. Then:

* **genuine**: every other photo Y of the same identity as the selfie (every
  same-person pair X != Y);
* **attacks** on that card (:mod:`kyc.demo.replays`): the card's portrait
  re-photographed close up at a small and at a strong angle, from further away
  (the card's border and text in the frame), cropped tight with more blur, the
  whole card photographed on a table; the portrait printed (halftone) and shown on
  a screen (subpixel stripes, moiré), each photographed at an angle; and a photo Y
  of the same person printed and shown on a screen (a replay of another photo,
  which only the print/screen pattern can reveal).

Identities are split in two halves with a fixed seed: thresholds are calibrated on
the **development** half only (``--calibrate`` prints what that half suggests); the
report gives, for both halves, the genuine selfies flagged and the attacks caught,
at the suspicion level (SELFIE_REPLAY_SUSPECTED or LIVENESS_FAILED) and at the
strong-evidence level (LIVENESS_FAILED alone), with the thresholds in
``kyc.engines.liveness_local.REPLAY_THRESHOLDS``. The time per full check
(``ReplayLivenessChecker.check``, both images decoded and analysed) is measured on
a sample of the pairs.

Each image is analysed once (a card's portrait against all its selfies), through the
checker's own :meth:`~kyc.engines.liveness_local.ReplayLivenessChecker.selfie_side`,
``document_side`` and ``measure``, and judged by the same
:func:`kyc.domain.liveness.replay_findings` as ``check``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kyc.demo import replays  # noqa: E402
from kyc.demo.cards import render_licence_front  # noqa: E402
from kyc.demo.generate import card_data  # noqa: E402
from kyc.domain.liveness import ReplayMeasures, ReplayThresholds, replay_findings  # noqa: E402
from kyc.domain.records import LivenessEvidence, Reason  # noqa: E402
from kyc.engines.liveness_local import (  # noqa: E402
    REPLAY_THRESHOLDS,
    ReplayLivenessChecker,
    ReplaySelfie,
)
from kyc.imaging.decode import ImageUnreadable  # noqa: E402
from kyc.settings import get_settings  # noqa: E402

#: Seed of the identity split (development / held-out).
SPLIT_SEED = 14
TODAY = dt.date(2026, 1, 1)
#: Every TIMING_EVERY-th measured pair (genuine or attack), up to TIMING_PAIRS, is
#: timed again through the full ``check`` at the end.
TIMING_EVERY = 20
TIMING_PAIRS = 80

#: Attack name -> how it is made from (card, photo Y of the same person, rng).
ATTACKS: dict[str, Callable[[bytes, Image.Image, random.Random], bytes]] = {
    "rephoto-near": lambda card, y, rng: replays.rephotographed_portrait(card, rng, angle=0.05),
    "rephoto-angle": lambda card, y, rng: replays.rephotographed_portrait(card, rng, angle=0.2),
    "rephoto-far": lambda card, y, rng: replays.capture(
        replays.portrait_crop(card, rng, margin=(40, 120)), rng, angle=0.1, scale=(0.8, 1.3)
    ),
    "rephoto-tight": lambda card, y, rng: replays.capture(
        replays.portrait_crop(card, rng, margin=(-25, 0)),
        rng,
        angle=0.08,
        scale=(1.5, 3.0),
        blur=(1.0, 2.5),
    ),
    "card-photo": lambda card, y, rng: replays.photographed_card(card, rng),
    "print-portrait": lambda card, y, rng: replays.printed(replays.portrait_crop(card, rng), rng),
    "screen-portrait": lambda card, y, rng: replays.screen(replays.portrait_crop(card, rng), rng),
    "print-other-photo": lambda card, y, rng: replays.printed(y, rng, angle=0.12),
    "screen-other-photo": lambda card, y, rng: replays.screen(y, rng, angle=0.12),
}


def split(folders: list[Path]) -> dict[str, str]:
    """Identity folder name -> ``dev`` or ``held-out`` (half each, fixed seed)."""
    names = sorted(f.name for f in folders)
    random.Random(SPLIT_SEED).shuffle(names)
    half = (len(names) + 1) // 2
    return {n: ("dev" if i < half else "held-out") for i, n in enumerate(names)}


def collect(
    checker: ReplayLivenessChecker, folders: list[Path], halves: dict[str, str], sample: list[Any]
) -> list[dict[str, Any]]:
    """Measure every genuine pair and every attack; keep a few pairs for timing."""
    rows: list[dict[str, Any]] = []
    for i, folder in enumerate(folders):
        photos = sorted(folder.glob("*.jpg"))
        selfies = {p.name: _selfie_side(checker, p.read_bytes()) for p in photos}
        for j, x in enumerate(photos):
            rng = random.Random(zlib.crc32(f"{folder.name}/{x.name}".encode()))
            with Image.open(x) as portrait:
                card = render_licence_front(
                    card_data(rng, TODAY, i * 10 + j), portrait.convert("RGB"), seed=i * 10 + j
                )
            try:
                document = checker.document_side(card)
            except (ImageUnreadable, ValueError):  # no face (_NoFace is a ValueError)
                document = None
            base = {
                "identity": folder.name,
                "half": halves[folder.name],
                "portrait": x.name,
                "document_face": document is not None,
            }
            others = [y for y in photos if y != x]
            for y in others:
                side = selfies[y.name]
                rows.append(base | _measured(checker, "genuine", y.name, side, document))
                if len(rows) % TIMING_EVERY == 0 and len(sample) < TIMING_PAIRS:
                    sample.append(("genuine", y.read_bytes(), card))
            y = rng.choice(others)
            with Image.open(y) as other:
                other_rgb = other.convert("RGB")
            for kind, make in ATTACKS.items():
                data = make(card, other_rgb, rng)
                side = _selfie_side(checker, data)
                shown = y.name if "other" in kind else x.name
                rows.append(base | _measured(checker, kind, shown, side, document))
                if len(rows) % TIMING_EVERY == 0 and len(sample) < TIMING_PAIRS:
                    sample.append((kind, data, card))
        print(f"  {i + 1}/{len(folders)} {folder.name}", file=sys.stderr, flush=True)
    return rows


def _selfie_side(checker: ReplayLivenessChecker, data: bytes) -> ReplaySelfie | None:
    try:
        return checker.selfie_side(data)
    except (ImageUnreadable, ValueError):  # no face (_NoFace is a ValueError)
        return None


def _measured(
    checker: ReplayLivenessChecker,
    kind: str,
    selfie: str,
    side: ReplaySelfie | None,
    document: Any,
) -> dict[str, Any]:
    measures = None if side is None else checker.measure(side, document)
    return {
        "kind": kind,
        "selfie": selfie,
        "measures": None if measures is None else asdict(measures),
    }


def verdict(row: dict[str, Any], t: ReplayThresholds) -> str:
    """``none`` (no face in the selfie), ``clean``, ``suspected`` or ``failed``."""
    if row["measures"] is None:
        return "none"
    findings = replay_findings(ReplayMeasures(**row["measures"]), t)
    if any(f.reason is Reason.LIVENESS_FAILED for f in findings):
        return "failed"
    return "suspected" if findings else "clean"


def report(rows: list[dict[str, Any]], t: ReplayThresholds) -> None:
    """Per half and class: how many flagged at each level (Markdown tables)."""
    print(f"\nthresholds: {asdict(t)}")
    for half in ("dev", "held-out"):
        print(f"\n### {half}\n")
        print("| class | n | no selfie face | flagged (review or fail) | FAIL (strong) |")
        print("|---|---|---|---|---|")
        kinds = ["genuine", *ATTACKS]
        attack_total = [0, 0, 0, 0]
        for kind in kinds:
            mine = [r for r in rows if r["half"] == half and r["kind"] == kind]
            v = [verdict(r, t) for r in mine]
            n, none = len(v), v.count("none")
            flagged = v.count("suspected") + v.count("failed")
            failed = v.count("failed")
            if kind != "genuine":
                for k, x in enumerate((n, none, flagged, failed)):
                    attack_total[k] += x
            print(
                f"| {kind} | {n} | {none} | {flagged} ({pct(flagged, n - none)}) | "
                f"{failed} ({pct(failed, n - none)}) |"
            )
        n, none, flagged, failed = attack_total
        print(
            f"| **all attacks** | {n} | {none} | {flagged} ({pct(flagged, n - none)}) | "
            f"{failed} ({pct(failed, n - none)}) |"
        )
        print(
            f"\n(percentages over the cases with a face in the selfie; counting a selfie "
            f"without a face as caught, which the face matcher's FACE_NOT_FOUND review "
            f"does: {pct(flagged + none, n)} of attacks)"
        )


def pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f} %" if n else "-"


def distributions(rows: list[dict[str, Any]], half: str) -> None:
    """Min / 99th percentile / max of each measurement per class, on one half."""
    print(f"\nmeasurements on {half} (min / median / max; genuine also p99):")
    for kind in ["genuine", *ATTACKS]:
        ms = [r["measures"] for r in rows if r["half"] == half and r["kind"] == kind]
        ms = [m for m in ms if m is not None]
        parts = []
        for key in ("portrait_ncc", "context_ncc", "print_peak_ratio"):
            xs = sorted(m[key] for m in ms if m[key] is not None)
            if xs:
                p99 = f" p99 {xs[int(0.99 * (len(xs) - 1))]:.3f}" if kind == "genuine" else ""
                parts.append(f"{key} {xs[0]:.3f}/{statistics.median(xs):.3f}/{xs[-1]:.3f}{p99}")
        print(f"  {kind:18s} n={len(ms):3d} " + " | ".join(parts))


def calibrate(rows: list[dict[str, Any]]) -> ReplayThresholds:
    """What the development half suggests (the rule in kyc.domain.liveness.replay_findings).

    * suspicion thresholds (``copy_ncc``, ``context_ncc``): the highest genuine
      development value of each, plus a margin of 0.02 (different photos of one
      person, taken the same day, may come closer than any pair here);
    * strong evidence (``strong_copy_ncc``, ``strong_context_ncc``): above the highest
      genuine development value of either measurement by a wide margin: halfway
      between it and 1 for the face, and at least the suspicion threshold + 0.05 for
      the surroundings;
    * the print threshold stays where it is unless a genuine selfie reaches it.
    """
    dev = [r["measures"] for r in rows if r["half"] == "dev" and r["kind"] == "genuine"]
    dev = [m for m in dev if m is not None and m["portrait_ncc"] is not None]
    face = max(m["portrait_ncc"] for m in dev)
    scene = max(m["context_ncc"] for m in dev if m["context_ncc"] is not None)
    peak = max(m["print_peak_ratio"] for m in dev)
    copy_ncc = round(face + 0.02, 2)
    context = round(scene + 0.02, 2)
    return ReplayThresholds(
        copy_ncc=copy_ncc,
        context_ncc=context,
        strong_copy_ncc=round(max(copy_ncc, (face + 1) / 2), 2),
        strong_context_ncc=round(context + 0.05, 2),
        print_peak_ratio=max(REPLAY_THRESHOLDS.print_peak_ratio, round(peak * 1.2, 1)),
    )


def timing(checker: ReplayLivenessChecker, sample: list[Any]) -> None:
    """Time of the full check (decode, detect, landmarks, spectrum, compare) per pair."""
    times = []
    for _, selfie, card in sample:
        started = time.perf_counter()
        checker.check(LivenessEvidence(selfie=selfie, document=card))
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p50, p95 = statistics.median(times), times[max(0, math.ceil(0.95 * len(times)) - 1)]
    print(f"\ntime per full check over {len(times)} pairs: p50 {p50:.0f} ms, p95 {p95:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="identities to use (0 = all)")
    parser.add_argument("--calibrate", action="store_true", help="print the dev half's thresholds")
    parser.add_argument("--dump", type=Path, help="write every measurement to this JSON file")
    parser.add_argument("--load", type=Path, help="report from a --dump file (no measuring)")
    args = parser.parse_args()
    checker = ReplayLivenessChecker()
    sample: list[Any] = []
    if args.load:
        rows = json.loads(args.load.read_text())
    else:
        faces = get_settings().shared_data_dir / "faces"
        folders = sorted(
            p for p in faces.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= 2
        )
        halves = split(folders)
        if args.limit:
            folders = folders[: args.limit]
        rows = collect(checker, folders, halves, sample)
        if args.dump:
            args.dump.write_text(json.dumps(rows))
    no_card_face = sorted(
        {f"{r['identity']}/{r['portrait']}" for r in rows if not r["document_face"]}
    )
    ids = {h: len({r["identity"] for r in rows if r["half"] == h}) for h in ("dev", "held-out")}
    print(
        f"{ids['dev']} + {ids['held-out']} identities (dev + held-out, seed {SPLIT_SEED}); "
        f"{sum(r['kind'] == 'genuine' for r in rows)} genuine pairs, "
        f"{sum(r['kind'] != 'genuine' for r in rows)} attacks; "
        f"no face found on {len(no_card_face)} card(s): {', '.join(no_card_face) or '-'}"
    )
    distributions(rows, "dev")
    distributions(rows, "held-out")
    if args.calibrate:
        suggested = calibrate(rows)
        print(f"\ndevelopment half suggests: {asdict(suggested)}")
        report(rows, suggested)
        if suggested != REPLAY_THRESHOLDS:
            print("\n(the module's thresholds:)")
    report(rows, REPLAY_THRESHOLDS)
    if sample:
        timing(checker, sample)


if __name__ == "__main__":
    main()
