"""Decisions on documents this project was not tuned on: generated sets, two halves (issue 14).

Document reading only: each case is a rendered document and a form, read by the local
DocumentReader and decided by the rules' document part (``kyc.domain.rules.
document_findings`` + ``decision_for``: reader findings, expiry, missing / low
confidence fields, form vs document names, date of birth, number, expiry). No face
engine runs: a PASS here means "the document does not stop this applicant".

Categories:

* ``passport-<layout>``: TD3 pages drawn by ``kyc.demo.passports`` in one label
  layout each (``en``, ``en_fr``, ``en_es``, ``en_de``, ``fr``, ``labelless``), in
  stacked or row arrangements, numbered or not, in this machine's fonts and several
  inks, with names carrying apostrophes, hyphens and diacritics (O'NEILL,
  JEAN-PIERRE, MÜLLER, ØSTERGÅRD; the MRZ holds their ICAO 9303 spelling). Sent as
  JPEG, PNG, EXIF-rotated JPEG (orientations 6, 3, 8) or a phone photo at mild
  quality.
* ``licence``: the demo's US licence (front and PDF417 back).

Each category has genuine cases (the form as the holder types it: with the
diacritics, or in the MRZ's spelling) and tampered ones (one printed field edited
after issue, the form filled with the edited value: what a forger submits). Every
third case is tampered.

Halves: a development half and a held-out half, generated from fixed seeds (HALVES) with
disjoint name pools, face folders and fonts (alternate entries of each list). Tune
on the development half only; a gain that shows only there is not a gain.

Per category and half it prints: genuine PASS rate, genuine FAIL count, MANUAL_REVIEW
rate and the reason codes of the review findings, tampered cases, how many of them
the MRZ/barcode-vs-printed cross-check flagged on the edited field (the printed-zone
reader's own tamper evidence; the form-vs-MRZ comparison catches the others), false
PASS count (tampered cases that passed), and the median read time. Targets (issue 14,
held-out half): 0 false PASS, 0 genuine FAIL, genuine PASS >= 95 %.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from kyc.demo.cards import (
    PASSPORT_EDITS,
    CardData,
    PassportData,
    edited_passport,
    photograph,
    render_licence_back,
    render_licence_front,
)
from kyc.demo.generate import GENUINE_IDENTITIES, card_data, face_photos
from kyc.demo.passports import LAYOUTS, encode, page_fonts, random_style, render_page
from kyc.domain.aamva import ascii_fold
from kyc.domain.application import (
    Address,
    Application,
    DocumentClaim,
    DocumentType,
    RegisterType,
    Registration,
)
from kyc.domain.records import Decision, Reason, Severity
from kyc.domain.rules import Thresholds, decision_for, document_findings
from kyc.domain.transliteration import mrz_name
from kyc.engines.document_local import LocalDocumentReader
from kyc.settings import get_settings

#: Fixed seeds of the two halves. The held-out seed is the fourth one: 2402, 3403 and
#: 4404 were looked at after their runs and their failures fixed (benchmarks/README.md).
HALVES = {"dev": 1401, "held-out": 5505}
CATEGORIES = (*tuple(f"passport-{layout}" for layout in LAYOUTS), "licence")
TARGET_PASS = 0.95
#: Surnames and given names with apostrophes, hyphens, diacritics; alternate entries
#: go to the two halves.
SURNAMES = (
    "O'Neill", "Müller", "Østergård", "García López", "D'Angelo", "Núñez", "Kowalska-Nowak",
    "Gößmann", "Åberg", "Sæther", "Lefèvre", "Dupont-Aignan", "Jäger", "Fernández", "Dvořák",
    "Novotná", "Hoffmann", "O'Brien", "Björklund", "Nielsen-Ødegård", "Çelik", "Smith-Jones",
    "Weiß", "Sánchez", "Mäkinen", "Brontë", "Żuławski", "Van der Berg", "Löwe", "Ó Briain",
    "Thompson", "Moreau",
    "D'Souza", "N'Diaye",
)  # fmt: skip
GIVEN = (
    "Jean-Pierre", "Zoë", "Søren", "José María", "Anne-Laure", "Björn", "Siobhán", "Élodie",
    "Jürgen", "Małgorzata", "François", "Inés", "Ørjan", "Åsa", "Mary Kate", "D'Arcy",
    "Günther", "Léa", "Nuño", "Ægir", "Marie-Hélène", "Tomáš", "Chloë", "Íñigo", "Anna",
    "Oliver", "Sean", "Lukas",
    "Jo-Anne", "Ann-Marie",
)  # fmt: skip
#: How the capture arrives, with weights.
CAPTURES = (("jpeg", 3), ("png", 2), ("exif6", 1), ("exif3", 1), ("exif8", 1), ("photo", 3))


@dataclass
class Case:
    """One generated application: what is sent and what should happen."""

    category: str
    index: int
    tampered: bool
    edit: str | None
    capture: str
    form: Application
    read: Callable[[LocalDocumentReader], Any]


@dataclass
class Tally:
    """Outcomes of one category in one half."""

    genuine: Counter[str] = field(default_factory=Counter)
    tampered: Counter[str] = field(default_factory=Counter)
    review_reasons: Counter[str] = field(default_factory=Counter)
    #: Tampered cases whose edit the MRZ/barcode-vs-printed cross-check named.
    edits_flagged: int = 0
    ms: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _half(items: tuple[Any, ...], half: str) -> tuple[Any, ...]:
    """Alternate entries: even ones for the development half, odd ones held out."""
    return items[0 if half == "dev" else 1 :: 2]


def _form(
    index: int,
    *,
    first: str,
    middle: str | None,
    last: str,
    dob: dt.date,
    number: str,
    expiry: dt.date,
    doc_type: DocumentType,
    country: str,
) -> Application:
    return Application(
        application_id=f"bench-{index}",
        email=f"applicant{index}@example.test",
        first_name=first,
        last_name=last,
        middle_name=middle,
        date_of_birth=dob,
        address=Address("1 Test Street", "Zenith", "ZE", "00000", country),
        document=DocumentClaim(doc_type, number, country, expiry),
        registration=Registration(RegisterType.NONE),
    )


def _typed(name: str, rng: random.Random, *, licence: bool = False) -> str:
    """A name as the holder types it: as printed, or as the document codes it.

    Passports code names by ICAO 9303 (Müller -> MUELLER), US licences fold them to
    ASCII (MULLER): some holders type that spelling.
    """
    if rng.random() < 0.3:
        coded = ascii_fold(name).replace("-", " ").replace("'", "") if licence else mrz_name(name)
        return " ".join(part.capitalize() for part in coded.replace("<", " ").split())
    return name


def _capture(page: Image.Image, capture: str, seed: int) -> bytes:
    if capture == "photo":
        sign = -1 if seed % 2 else 1
        return photograph(encode(page, "jpeg"), tilt_deg=3.0 * sign, perspective=0.04, blur=0.8,
                          jpeg_quality=75, seed=seed)  # fmt: skip
    return encode(page, capture)


def _portraits(shared: Path, half: str) -> list[Image.Image | None]:
    out: list[Image.Image | None] = []
    for folder in _half(GENUINE_IDENTITIES, half):
        try:
            out.append(Image.open(face_photos(shared, folder)[0]).convert("RGB"))
        except FileNotFoundError:
            continue
    return out or [None]


def passport_cases(
    layout: str, half: str, n: int, shared: Path, *, base_seed: int | None = None
) -> list[Case]:
    """``n`` cases of one passport layout in one half (every third one tampered).

    ``base_seed`` replaces the half's seed (HALVES): the half's pools, other draws.
    """
    seed = (base_seed or HALVES[half]) * 100 + LAYOUTS.index(layout)
    rng = random.Random(seed)
    today = dt.date.today()
    surnames, given = _half(SURNAMES, half), _half(GIVEN, half)
    fonts = _half(page_fonts(), half) or page_fonts()
    faces = _portraits(shared, half)
    captures = [c for c, w in CAPTURES for _ in range(w)]
    cases = []
    for i in range(n):
        issue = today - dt.timedelta(days=rng.randint(100, 3000))
        names = rng.sample(given, 2) if rng.random() < 0.3 else [rng.choice(given)]
        p = PassportData(
            surname=rng.choice(surnames),
            given_names=" ".join(names),
            nationality="UTO",
            date_of_birth=dt.date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28)),
            sex=rng.choice("MF"),
            expiry_date=issue + dt.timedelta(days=3652),
            issue_date=issue,
            document_number="".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
            + str(rng.randint(1000000, 9999999)),
        )
        tampered = i % 3 == 2
        edit = PASSPORT_EDITS[(i // 3) % len(PASSPORT_EDITS)] if tampered else None
        shown = edited_passport(p, edit) if edit else p
        style = random_style(rng, layout, fonts)
        page = render_page(p, faces[i % len(faces)], style, seed=seed + i, printed=shown)
        capture = rng.choice(captures)
        data = _capture(page, capture, seed + i)
        # The form: a genuine holder types their own data, a forger the edited page's.
        first, *rest = shown.given_names.split(" ")
        form = _form(
            i,
            first=_typed(first, rng),
            middle=_typed(" ".join(rest), rng) if rest else None,
            last=_typed(shown.surname, rng),
            dob=shown.date_of_birth,
            number=shown.document_number,
            expiry=shown.expiry_date,
            doc_type=DocumentType.PASSPORT,
            country="UTO",
        )
        cases.append(
            Case(
                f"passport-{layout}",
                i,
                tampered,
                edit,
                capture,
                form,
                lambda reader, data=data: reader.read(data, document_type=DocumentType.PASSPORT),
            )
        )
    return cases


def licence_cases(half: str, n: int, *, base_seed: int | None = None) -> list[Case]:
    """``n`` US licences (front + PDF417 back) in one half; tampered fronts, barcode kept."""
    seed = (base_seed or HALVES[half]) * 100 + 50
    rng = random.Random(seed)
    today = dt.date.today()
    surnames, given = _half(SURNAMES, half), _half(GIVEN, half)
    cases = []
    for i in range(n):
        card = dataclasses.replace(
            card_data(rng, today, i + (0 if half == "dev" else 500)),
            first_name=rng.choice(given).split(" ")[0],
            last_name=rng.choice(surnames),
        )
        tampered = i % 3 == 2
        edit = ("DATE_OF_BIRTH", "DOCUMENT_NUMBER", "LAST_NAME")[(i // 3) % 3] if tampered else None
        shown: CardData = card
        if edit == "DATE_OF_BIRTH":
            shown = dataclasses.replace(
                card, date_of_birth=card.date_of_birth.replace(year=card.date_of_birth.year - 6)
            )
        elif edit == "DOCUMENT_NUMBER":
            shown = dataclasses.replace(
                card,
                document_number=card.document_number[:-1]
                + str((int(card.document_number[-1]) + 3) % 10),
            )
        elif edit == "LAST_NAME":
            shown = dataclasses.replace(card, last_name="Novak")
        front = render_licence_front(shown, None, seed=seed + i)
        back = render_licence_back(card, seed=seed + i)
        capture = rng.choice(("jpeg", "photo"))
        if capture == "photo":
            front = photograph(
                front, tilt_deg=3.0, perspective=0.04, blur=0.8, jpeg_quality=75, seed=seed + i
            )
        form = _form(
            i, first=_typed(shown.first_name, rng, licence=True), middle=None,
            last=_typed(shown.last_name, rng, licence=True),
            dob=shown.date_of_birth, number=shown.document_number, expiry=shown.expiry_date,
            doc_type=DocumentType.DRIVING_LICENCE, country="USA",
        )  # fmt: skip
        cases.append(
            Case(
                "licence",
                i,
                tampered,
                edit,
                capture,
                form,
                lambda reader, f=front, b=back: reader.read(
                    f, back=b, document_type=DocumentType.DRIVING_LICENCE
                ),
            )
        )
    return cases


def run(
    reader: LocalDocumentReader, cases: list[Case], thresholds: Thresholds, today: dt.date
) -> dict[str, Tally]:
    """Read and decide every case; tallies by category."""
    tallies: dict[str, Tally] = {}
    for case in cases:
        tally = tallies.setdefault(case.category, Tally())
        scan = case.read(reader)
        tally.ms.append(scan.timings_ms.get("total", 0.0))
        findings = document_findings(case.form, scan, thresholds, today)
        decision = decision_for(findings, thresholds)
        (tally.tampered if case.tampered else tally.genuine)[decision.value] += 1
        if case.tampered and any(
            f.reason is Reason.DOCUMENT_INCONSISTENT and str(case.edit) in f.detail
            for f in findings
        ):
            tally.edits_flagged += 1
        review = sorted({f.reason.value for f in findings if _rated(f.reason) is Severity.REVIEW})
        if decision is Decision.MANUAL_REVIEW and not case.tampered:
            tally.review_reasons.update(review)
        wrong = (case.tampered and decision is Decision.PASS) or (
            not case.tampered and decision is not Decision.PASS
        )
        if wrong:
            # Invented data: naming the fields and details is no one's PII.
            details = "; ".join(
                f"{f.reason.value}: {f.detail}"
                for f in findings
                if _rated(f.reason) is not Severity.WARNING
            )
            kind = f"tampered {case.edit}" if case.tampered else "genuine"
            tally.notes.append(
                f"case {case.index} ({kind}, {case.capture}) -> {decision.value}: {details}"
            )
    return tallies


def _rated(reason: Reason) -> Severity:
    from kyc.domain.records import SEVERITY

    return SEVERITY[reason]


def _report(results: dict[str, dict[str, Tally]], verbose: bool) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    missed: list[str] = []
    header = (
        f"{'category':22} {'half':9} {'genuine':>7} {'PASS':>6} {'FAIL':>4} {'REVIEW':>6} "
        f"{'tampered':>8} {'flagged':>7} {'false PASS':>10} {'median ms':>9}  "
        "review reasons (genuine)"
    )
    lines.append(header)
    for category in CATEGORIES:
        for half in HALVES:
            tally = results.get(half, {}).get(category)
            if tally is None:
                continue
            g, t = tally.genuine, tally.tampered
            n_g, n_t = sum(g.values()), sum(t.values())
            pass_rate = g["PASS"] / n_g if n_g else 0.0
            review_rate = g["MANUAL_REVIEW"] / n_g if n_g else 0.0
            reasons = ", ".join(f"{r} {c}" for r, c in tally.review_reasons.most_common())
            lines.append(
                f"{category:22} {half:9} {n_g:7} {pass_rate:6.0%} {g['FAIL']:4} {review_rate:6.0%} "
                f"{n_t:8} {tally.edits_flagged:7} {t['PASS']:10} "
                f"{statistics.median(tally.ms):9.0f}  {reasons or '-'}"
            )
            if verbose:
                lines += [f"    {note}" for note in tally.notes]
            if half == "held-out":
                if t["PASS"]:
                    missed.append(f"{category}: {t['PASS']} false PASS")
                if g["FAIL"]:
                    missed.append(f"{category}: {g['FAIL']} genuine FAIL")
                if pass_rate < TARGET_PASS:
                    missed.append(f"{category}: genuine PASS {pass_rate:.0%} < {TARGET_PASS:.0%}")
    for half in HALVES:
        tallies = results.get(half, {}).values()
        g = sum((x.genuine for x in tallies), Counter())
        t = sum((x.tampered for x in tallies), Counter())
        n_g, n_t = sum(g.values()), sum(t.values())
        if n_g:
            lines.append(
                f"{'all':22} {half:9} {n_g:7} {g['PASS'] / n_g:6.0%} {g['FAIL']:4} "
                f"{g['MANUAL_REVIEW'] / n_g:6.0%} {n_t:8} "
                f"{sum(x.edits_flagged for x in tallies):7} {t['PASS']:10}"
            )
    return lines, missed


def main(argv: list[str] | None = None) -> int:
    """Generate both halves, read and decide them, print the table (and JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12, help="cases per category and half")
    parser.add_argument(
        "--half", choices=(*HALVES, "both"), default="both", help="which half to run"
    )
    parser.add_argument(
        "--only",
        default=",".join(CATEGORIES),
        help=f"categories (default all: {','.join(CATEGORIES)})",
    )
    parser.add_argument(
        "--held-out-seed",
        type=int,
        default=None,
        help=f"another seed for the held-out half (same pools; default {HALVES['held-out']}): "
        "a fresh held-out set once the default one has been looked at",
    )
    parser.add_argument("--verbose", action="store_true", help="list every wrong decision")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    chosen = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in CATEGORIES]
    if unknown:
        parser.error(f"unknown categories {unknown}; choose from {', '.join(CATEGORIES)}")
    settings = get_settings()
    shared = settings.shared_data_dir
    if not (shared / "faces").is_dir():
        print(f"shared data not found in {shared} (set KYC_SHARED_DATA_DIR)", file=sys.stderr)
        return 2
    thresholds = Thresholds.from_settings(settings)
    today = dt.date.today()
    halves = list(HALVES) if args.half == "both" else [args.half]
    started = time.perf_counter()
    results: dict[str, dict[str, Tally]] = {}
    with LocalDocumentReader() as reader:
        for half in halves:
            cases: list[Case] = []
            for category in chosen:
                seed = args.held_out_seed if half == "held-out" else None
                if category == "licence":
                    cases += licence_cases(half, args.n, base_seed=seed)
                else:
                    layout = category.removeprefix("passport-")
                    cases += passport_cases(layout, half, args.n, shared, base_seed=seed)
            results[half] = run(reader, cases, thresholds, today)
    wall = time.perf_counter() - started
    lines, missed = _report(results, args.verbose)
    lines += [f"TARGET MISSED (held-out): {x}" for x in missed]
    held_out = args.held_out_seed or HALVES["held-out"]
    lines.append(
        f"seeds: dev {HALVES['dev']}, held-out {held_out}; fonts: {len(page_fonts())} found; "
        f"wall time {wall:.0f} s"
    )
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            half: {
                c: {
                    "genuine": dict(t.genuine),
                    "tampered": dict(t.tampered),
                    "review_reasons": dict(t.review_reasons),
                    "edits_flagged": t.edits_flagged,
                    "median_ms": statistics.median(t.ms),
                    "wrong": t.notes,
                }
                for c, t in tallies.items()
            }
            for half, tallies in results.items()
        }
        args.json_out.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
