"""Document-reading accuracy and speed of the local DocumentReader (issue 3).

Categories (see benchmarks/README.md, "make bench-documents"):

1. MRZ specimens: every labelled image in ``shared/data/mrz`` read as a passport/ID;
   exact = the reader's ``MRZ_CODE`` equals the expected lines; check digits = the
   reader's per-digit verdicts equal the ones in ``expected_mrz.json``.
2. AAMVA payloads: every payload in ``shared/data/pdf417/aamva_text`` that the
   parser accepts as text, rendered as PDF417 on a card back, "photographed" at mild
   quality (3 degrees tilt, slight perspective, blur 0.8, JPEG 75) on a desk; exact =
   the decoded text equals the payload byte for byte and parses to the same fields
   (the parser's own field accuracy is covered by tests/domain/test_aamva.py).
3. Generated licences at clean / mild / hard quality: front OCR field accuracy over
   11 printed fields, and barcode-back decode rate.

Timings are the reader's own ``timings_ms["total"]`` per document side.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import random
import statistics
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from kyc.demo.cards import (
    CardData,
    photograph,
    render_barcode_back,
    render_licence_back,
    render_licence_front,
)
from kyc.demo.generate import card_data
from kyc.domain.aamva import AamvaError, parse_aamva
from kyc.domain.application import DocumentType
from kyc.domain.mrz import MrzError, parse_mrz
from kyc.engines.document_local import LocalDocumentReader
from kyc.settings import get_settings

#: Capture qualities: tilt (degrees), perspective, blur radius, JPEG quality.
QUALITIES: dict[str, tuple[float, float, float, int]] = {
    "clean": (0.0, 0.0, 0.0, 92),
    "mild": (3.0, 0.04, 0.8, 75),
    "hard": (9.0, 0.08, 1.4, 55),
}
TARGETS = {"mrz_exact": 0.90, "aamva_mild": 1.0, "fields_mild": 0.98, "fields_hard": 0.90}
MEDIAN_MS_TARGET = 300.0
FRONT_FIELDS = (
    "LAST_NAME",
    "FIRST_NAME",
    "DATE_OF_BIRTH",
    "EXPIRATION_DATE",
    "DATE_OF_ISSUE",
    "DOCUMENT_NUMBER",
    "ADDRESS",
    "CITY_IN_ADDRESS",
    "STATE_IN_ADDRESS",
    "ZIP_CODE_IN_ADDRESS",
    "CLASS",
)


def _fold(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).upper()


def _capture(image: bytes, quality: str, seed: int) -> bytes:
    tilt, persp, blur, jpeg = QUALITIES[quality]
    if quality == "clean":
        return image
    sign = -1 if seed % 2 else 1
    return photograph(
        image, tilt_deg=sign * tilt, perspective=persp, blur=blur, jpeg_quality=jpeg, seed=seed
    )


def _valid(lines: list[str] | None) -> bool:
    """Whether lines the reader reported pass every check digit."""
    try:
        return lines is not None and parse_mrz(lines).valid
    except MrzError:
        return False


def bench_mrz(reader: LocalDocumentReader, shared: Path) -> dict[str, Any]:
    """Category 1: the labelled MRZ specimens."""
    samples = json.loads((shared / "mrz" / "expected_mrz.json").read_text())["samples"]
    per_type: dict[str, Counter[str]] = defaultdict(Counter)
    misses: list[dict[str, Any]] = []
    times: list[float] = []
    mrz_times: list[float] = []
    for s in samples:
        if not s.get("mrz_lines"):
            continue
        kind = s["mrz_type"]
        doc_type = DocumentType.PASSPORT if kind == "TD3" else DocumentType.ID_CARD
        scan = reader.read((shared / "mrz" / s["file"]).read_bytes(), document_type=doc_type)
        times.append(scan.timings_ms["total"])
        if "mrz" in scan.timings_ms:
            mrz_times.append(scan.timings_ms["mrz"])
        code = scan.value("MRZ_CODE")
        got = code.split("\n") if code else None
        exact = got == s["mrz_lines"]
        expected_checks = {k: v for k, v in s["check_digits_valid"].items() if v is not None}
        checks_ok = False
        if exact:
            try:
                parsed = parse_mrz(got or [])
                checks_ok = all(parsed.checks.get(k) == v for k, v in expected_checks.items())
            except MrzError:
                checks_ok = False
        c = per_type[kind]
        c["n"] += 1
        c["found"] += got is not None
        c["exact"] += exact
        c["exact_and_checks"] += exact and checks_ok
        if not exact:
            misses.append(
                {
                    "file": s["file"],
                    "type": kind,
                    "expected": s["mrz_lines"],
                    "read": got,
                    "valid": _valid(got),
                }
            )
    n = sum(c["n"] for c in per_type.values())
    exact = sum(c["exact_and_checks"] for c in per_type.values())
    return {
        "n": n,
        "exact_with_checks": exact,
        "rate": exact / n if n else 0.0,
        "per_type": {k: dict(v) for k, v in sorted(per_type.items())},
        "median_ms": statistics.median(times) if times else None,
        "median_mrz_ms": statistics.median(mrz_times) if mrz_times else None,
        "max_mrz_ms": max(mrz_times) if mrz_times else None,
        "misses": misses,
    }


def _payloads(shared: Path) -> list[tuple[str, str]]:
    out = []
    for path in sorted((shared / "pdf417" / "aamva_text").rglob("*.txt")):
        text = path.read_bytes().decode("latin-1")
        out.append((str(path.relative_to(shared / "pdf417" / "aamva_text")), text))
    return out


def bench_aamva(reader: LocalDocumentReader, shared: Path, quality: str) -> dict[str, Any]:
    """Category 2: AAMVA payloads as photographed PDF417 backs."""
    n = ok = 0
    skipped: list[str] = []
    misses: list[str] = []
    times: list[float] = []
    for i, (name, payload) in enumerate(_payloads(shared)):
        try:
            expected = parse_aamva(payload)
        except AamvaError as exc:
            skipped.append(f"{name}: parser rejects the text ({exc})")
            continue
        try:
            back = render_barcode_back(payload, seed=i)
        except ValueError as exc:
            skipped.append(f"{name}: {exc}")
            continue
        n += 1
        photo = _capture(back, quality, seed=i)
        t0 = time.perf_counter()
        text = reader.decode_barcode(photo)
        parsed = None
        if text is not None:
            try:
                parsed = parse_aamva(text)
            except AamvaError:
                parsed = None
        times.append((time.perf_counter() - t0) * 1000)
        if text == payload and parsed is not None and parsed.fields == expected.fields:
            ok += 1
        else:
            misses.append(f"{name}: {'not decoded' if text is None else 'decoded text differs'}")
    return {
        "quality": quality,
        "n": n,
        "exact": ok,
        "rate": ok / n if n else 0.0,
        "median_ms": statistics.median(times) if times else None,
        "skipped": skipped,
        "misses": misses,
    }


def _expected_front(card: CardData) -> dict[str, set[str]]:
    both = lambda s: {s.upper(), _fold(s)}  # noqa: E731 - accents may be dropped by OCR
    return {
        "LAST_NAME": both(card.last_name),
        "FIRST_NAME": both(card.first_name),
        "DATE_OF_BIRTH": {card.date_of_birth.isoformat()},
        "EXPIRATION_DATE": {card.expiry_date.isoformat()},
        "DATE_OF_ISSUE": {card.issue_date.isoformat()},
        "DOCUMENT_NUMBER": {card.document_number},
        "ADDRESS": both(card.address_line),
        "CITY_IN_ADDRESS": both(card.city),
        "STATE_IN_ADDRESS": {card.state},
        "ZIP_CODE_IN_ADDRESS": {card.postal_code[:5]},
        "CLASS": {card.vehicle_class},
    }


def bench_cards(reader: LocalDocumentReader, n: int, seed: int) -> dict[str, Any]:
    """Category 3: generated licences, front OCR and back barcode, per quality."""
    rng = random.Random(seed)
    today = dt.date.today()
    cards = [card_data(rng, today, i) for i in range(n)]
    fronts = [render_licence_front(c, None, seed=i) for i, c in enumerate(cards)]
    backs = [render_licence_back(c, seed=i) for i, c in enumerate(cards)]
    out: dict[str, Any] = {}
    for quality in QUALITIES:
        field_ok = field_n = barcode_ok = 0
        wrong: Counter[str] = Counter()
        front_ms: list[float] = []
        back_ms: list[float] = []
        for i, card in enumerate(cards):
            scan = reader.read(
                _capture(fronts[i], quality, seed=seed + i),
                document_type=DocumentType.DRIVING_LICENCE,
            )
            front_ms.append(scan.timings_ms["total"])
            for key, allowed in _expected_front(card).items():
                field_n += 1
                if scan.value(key) in allowed:
                    field_ok += 1
                else:
                    wrong[key] += 1
            t0 = time.perf_counter()
            text = reader.decode_barcode(_capture(backs[i], quality, seed=seed + 100 + i))
            back_ms.append((time.perf_counter() - t0) * 1000)
            if text is not None:
                with contextlib.suppress(AamvaError):
                    barcode_ok += parse_aamva(text).value("DOCUMENT_NUMBER") == card.document_number
        out[quality] = {
            "cards": n,
            "fields": field_n,
            "fields_exact": field_ok,
            "field_rate": field_ok / field_n if field_n else 0.0,
            "wrong_by_field": dict(wrong),
            "barcode_rate": barcode_ok / n if n else 0.0,
            "median_front_ms": statistics.median(front_ms),
            "median_back_ms": statistics.median(back_ms),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a report, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=12, help="generated licences per quality")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--only",
        choices=("mrz", "aamva", "cards"),
        help="run one category (e.g. --only mrz for quick MRZ iterations)",
    )
    args = parser.parse_args(argv)
    shared = get_settings().shared_data_dir
    if not (shared / "mrz").is_dir():
        print(f"shared data not found in {shared} (set KYC_SHARED_DATA_DIR)", file=sys.stderr)
        return 2
    with LocalDocumentReader() as reader:
        reader.read(render_licence_front(card_data(random.Random(0), dt.date.today(), 0), None))
        started = time.perf_counter()
        runs = {
            "mrz": lambda: bench_mrz(reader, shared),
            "aamva": lambda: bench_aamva(reader, shared, "mild"),
            "cards": lambda: bench_cards(reader, args.cards, args.seed),
        }
        result: dict[str, Any] = {
            name: run() for name, run in runs.items() if args.only in (None, name)
        }
        result["wall_s"] = time.perf_counter() - started
    _report(result)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=1))
    return 0


def _mrz_lines(m: dict[str, Any]) -> list[str]:
    lines = [
        f"MRZ specimens: {m['exact_with_checks']}/{m['n']} exact with check digits "
        f"({m['rate']:.0%}; target {TARGETS['mrz_exact']:.0%}), median {m['median_ms']:.0f} ms "
        "per page (MRZ + page OCR + portrait)",
    ]
    for kind, v in m["per_type"].items():
        lines.append(
            f"  {kind:15} n={v['n']:2}  MRZ found={v.get('found', 0):2}  "
            f"exact={v.get('exact', 0):2}  exact+checks={v.get('exact_and_checks', 0):2}"
        )
    if m.get("median_mrz_ms") is not None:
        lines.append(
            f"  MRZ step alone: median {m['median_mrz_ms']:.0f} ms, "
            f"max {m['max_mrz_ms']:.0f} ms (wall, reader's timings_ms['mrz'])"
        )
    for miss in m["misses"]:
        verdict = (
            "no MRZ"
            if miss["read"] is None
            else ("read as valid" if miss["valid"] else "check digits fail")
        )
        lines.append(f"  wrong: {miss['file']} ({miss['type']}, {verdict})")
        for i, expected in enumerate(miss["expected"]):
            got = miss["read"][i] if miss["read"] and i < len(miss["read"]) else ""
            marks = "".join(
                " " if i < len(got) and got[i] == ch else "^" for i, ch in enumerate(expected)
            )
            lines.append(f"    expected {expected}")
            lines.append(f"    read     {got}")
            lines.append(f"             {marks}")
    return lines


def _report(r: dict[str, Any]) -> None:
    lines: list[str] = []
    missed = []
    medians: list[float | None] = []
    if "mrz" in r:
        m = r["mrz"]
        lines += _mrz_lines(m)
        medians.append(m["median_ms"])
        if m["rate"] < TARGETS["mrz_exact"]:
            missed.append("MRZ exact rate")
    if "aamva" in r:
        lines += _aamva_lines(r["aamva"])
        medians.append(r["aamva"]["median_ms"])
        if r["aamva"]["rate"] < TARGETS["aamva_mild"]:
            missed.append("AAMVA mild")
    if "cards" in r:
        c = r["cards"]
        lines += _cards_lines(c)
        medians += [v[k] for v in c.values() for k in ("median_front_ms", "median_back_ms")]
        if c["mild"]["field_rate"] < TARGETS["fields_mild"]:
            missed.append("fields at mild")
        if c["hard"]["field_rate"] < TARGETS["fields_hard"]:
            missed.append("fields at hard")
    if max((x for x in medians if x is not None), default=0.0) > MEDIAN_MS_TARGET:
        missed.append(f"median <= {MEDIAN_MS_TARGET:.0f} ms per side")
    lines += [f"TARGET MISSED: {x}" for x in missed]
    lines.append(f"wall time {r['wall_s']:.0f} s")
    sys.stdout.write("\n".join(lines) + "\n")


def _aamva_lines(a: dict[str, Any]) -> list[str]:
    lines = []
    lines.append(
        f"AAMVA payloads as PDF417, {a['quality']} photo: {a['exact']}/{a['n']} exact "
        f"({a['rate']:.0%}; target 100%), median {a['median_ms']:.0f} ms; "
        f"{len(a['skipped'])} not standard (skipped)"
    )
    lines += [f"  miss: {x}" for x in a["misses"]]
    lines += [f"  skipped: {x}" for x in a["skipped"]]
    return lines


def _cards_lines(c: dict[str, Any]) -> list[str]:
    lines = []
    for q, v in c.items():
        lines.append(
            f"Generated licences {q:5}: fields {v['fields_exact']}/{v['fields']} exact "
            f"({v['field_rate']:.1%}), barcode {v['barcode_rate']:.0%}, median front "
            f"{v['median_front_ms']:.0f} ms, back {v['median_back_ms']:.0f} ms"
            + (f"; wrong: {v['wrong_by_field']}" if v["wrong_by_field"] else "")
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
