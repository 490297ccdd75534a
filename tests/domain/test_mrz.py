"""MRZ parsing, repair and check digits (pure; ground truth from shared/data/mrz)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from mrz.checker.td3 import TD3CodeChecker

from kyc.domain.mrz import (
    INVALID_MRZ_CONFIDENCE,
    LAYOUTS,
    VALID_MRZ_CONFIDENCE,
    FieldKind,
    MrzError,
    MrzType,
    _alnum_spans,
    check_digit,
    check_spans,
    decode_scores,
    detect_type,
    find_mrz_lines,
    layout,
    parse_mrz,
    repair_with_check_digits,
)
from kyc.settings import get_settings

MRZ_DIR = get_settings().shared_data_dir / "mrz"
TODAY = dt.date(2026, 1, 1)
ICAO_TD3 = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
]


def _samples() -> list[dict[str, Any]]:
    path = MRZ_DIR / "expected_mrz.json"
    if not path.is_file():
        return []
    samples = json.loads(path.read_text())["samples"]
    # Ñ (one Spanish specimen's label) is outside the MRZ alphabet.
    return [
        s
        for s in samples
        if s.get("mrz_lines") and all(c.isascii() for line in s["mrz_lines"] for c in line)
    ]


SAMPLES = _samples()


def test_check_digit_icao_examples() -> None:
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2"
    assert check_digit("120415") == "9"
    assert check_digit("<<<<<") == "0"


@pytest.mark.skipif(not SAMPLES, reason="shared/data/mrz not available")
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s["file"].rsplit("/", 1)[-1])
def test_expected_lines_parse_with_the_labelled_check_digits(sample: dict[str, Any]) -> None:
    result = parse_mrz(sample["mrz_lines"], today=TODAY)
    assert result.type.value == sample["mrz_type"]
    assert list(result.lines) == sample["mrz_lines"]  # no "repair" of correct text
    for name, valid in sample["check_digits_valid"].items():
        if valid is not None:
            assert result.checks[name] is valid, name


def test_td3_fields_and_agreement_with_the_mrz_package() -> None:
    result = parse_mrz(ICAO_TD3, today=TODAY)
    assert result.type is MrzType.TD3 and result.valid
    assert bool(TD3CodeChecker("\n".join(ICAO_TD3))) is True
    values = {k: f.value for k, f in result.fields.items()}
    assert values["LAST_NAME"] == "ERIKSSON"
    assert values["FIRST_NAME"] == "ANNA"
    assert values["MIDDLE_NAME"] == "MARIA"
    assert values["DOCUMENT_NUMBER"] == "L898902C3"
    assert values["DATE_OF_BIRTH"] == "1974-08-12"
    assert values["EXPIRATION_DATE"] == "2012-04-15"
    assert values["ID_TYPE"] == "PASSPORT"
    assert values["MRZ_CODE"] == "\n".join(ICAO_TD3)
    assert all(f.source == "mrz" and f.confidence == VALID_MRZ_CONFIDENCE
               for f in result.fields.values())  # fmt: skip


def test_ocr_confusions_in_typed_fields_are_repaired() -> None:
    # O for 0 in dates and check digits, 0 for O in the country code, K for fillers.
    read = [
        "P<UT0ERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<KK<<<<",
        "L898902C36UT07408I22F12O4159ZE184226B<<<<<10",
    ]
    result = parse_mrz(read, today=TODAY)
    assert result.valid
    assert list(result.lines) == ICAO_TD3


def test_document_number_repair_needs_every_check_digit() -> None:
    # 'I' for '1' in the number: one swap fixes the number's and the composite digit.
    read = ["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D23I458907UTO7408122F1204159<<<<<<<6"]
    result = parse_mrz(read, today=TODAY)
    assert result.valid and result.raw["document_number"] == "D23145890"
    # A wrong check digit with no confusable character stays wrong (reported).
    wrong = parse_mrz([read[0], "D231458908UTO7408122F1204159<<<<<<<6"], today=TODAY)
    assert wrong.failed_checks == ["document_number", "composite"]


def test_invalid_check_digits_are_reported_not_hidden() -> None:
    tampered = [ICAO_TD3[0], ICAO_TD3[1].replace("7408122", "7508122")]
    result = parse_mrz(tampered, today=TODAY)
    assert not result.valid
    assert "birth_date" in result.failed_checks and "composite" in result.failed_checks
    assert result.fields["DATE_OF_BIRTH"].value == "1975-08-12"
    assert result.fields["DATE_OF_BIRTH"].confidence == INVALID_MRZ_CONFIDENCE


def test_visas_have_no_composite_and_use_their_own_layout() -> None:
    mrva = [
        "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
    ]
    result = parse_mrz(mrva, today=TODAY)
    assert result.type is MrzType.MRVA and result.valid
    assert set(result.checks) == {"document_code", "document_number", "birth_date", "expiry_date"}
    assert result.fields["ID_TYPE"].value == "VISA"


def test_two_digit_years() -> None:
    result = parse_mrz(ICAO_TD3, today=TODAY)
    assert result.fields["DATE_OF_BIRTH"].value.startswith("1974")
    young = parse_mrz(["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                       "L898902C36UTO1008128F3004151ZE184226B<<<<<14"], today=TODAY)  # fmt: skip
    assert young.fields["DATE_OF_BIRTH"].value == "2010-08-12"
    assert young.fields["EXPIRATION_DATE"].value == "2030-04-15"


@pytest.mark.parametrize(
    "lines", [[], ["P<UTO"], ["A" * 44], ["A" * 44, "B" * 36], ["A" * 30, "B" * 30]]
)
def test_not_an_mrz(lines: list[str]) -> None:
    with pytest.raises(MrzError):
        parse_mrz(lines)


def test_find_mrz_lines_in_ocr_text() -> None:
    text = ["PASSPORT", "Surname ERIKSSON", ICAO_TD3[0][:-2], " ".join(ICAO_TD3[1])]
    assert find_mrz_lines(text) == ICAO_TD3
    assert find_mrz_lines(["no", "mrz here"]) is None


def test_decode_scores_uses_the_class_of_each_position() -> None:
    # Every cell scores the true character best, except where a look-alike of the
    # wrong class scores a little higher: the layout must pick the right class.
    def cells(line: str, fakes: dict[int, str]) -> list[dict[str, float]]:
        out = []
        for i, ch in enumerate(line):
            scores = {ch: 0.8}
            if i in fakes:
                scores[fakes[i]] = 0.9
            out.append(scores)
        return out

    line2 = ICAO_TD3[1]
    scores = [
        cells(ICAO_TD3[0], {2: "0", 6: "5"}),  # UTO -> UT0? no: O in a letter field
        cells(line2, {13: "I", 20: "8"}),  # 7 -> I in a date; F -> 8 in sex
    ]
    scores[0][2] = {"U": 0.9, "0": 0.95}  # digit in the issuing state: letters only
    assert decode_scores(scores) == ICAO_TD3
    assert len(layout(MrzType.TD1)) == 3 and all(len(x) == 30 for x in layout(MrzType.TD1))
    assert decode_scores([[{"A": 1.0}] * 10]) is None


# --- check-digit constrained choice among near ties -------------------------------------

ICAO_TD1 = [
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
]
ICAO_MRVB = ["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<"]


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ<"


def _scores(
    lines: list[str], ties: dict[tuple[int, int], dict[str, float]] | None = None
) -> list[list[dict[str, float]]]:
    """Cells where the given character scores 0.9 and every other one 0.5, plus ties."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
    out = [[{c: 0.9 if c == ch else 0.5 for c in alphabet} for ch in line] for line in lines]
    for (li, i), extra in (ties or {}).items():
        out[li][i].update(extra)
    return out


def _with(lines: list[str], li: int, i: int, ch: str) -> list[str]:
    out = list(lines)
    out[li] = out[li][:i] + ch + out[li][i + 1 :]
    return out


@pytest.mark.parametrize(
    ("kind", "lines"),
    [(MrzType.TD3, ICAO_TD3), (MrzType.TD1, ICAO_TD1), (MrzType.MRVB, ICAO_MRVB)],
)
def test_check_spans_validate_the_icao_examples(kind: MrzType, lines: list[str]) -> None:
    fields, composite = check_spans(kind)
    assert repair_with_check_digits(kind, lines, _scores(lines)) == lines
    assert {f.name for f in fields} >= {"document_number", "birth_date", "expiry_date"}
    assert (composite is None) == (kind is MrzType.MRVB)
    assert parse_mrz(lines, today=TODAY).valid


@pytest.mark.parametrize(
    ("kind", "truth", "cell", "misread", "tie", "expected"),
    [
        # A 3 in the document number read as 8 by a hair: the digits pick the 3.
        (MrzType.TD3, ICAO_TD3, (1, 8), "8", {"3": 0.89}, "repaired"),
        # The same misread with the 3 far behind: not an alternative, no repair.
        (MrzType.TD3, ICAO_TD3, (1, 8), "8", {"3": 0.6}, "none"),
        # A misread birth date digit on an ID card (TD1): 2 read as 7.
        (MrzType.TD1, ICAO_TD1, (1, 6), "7", {"2": 0.88}, "repaired"),
        # The composite digit itself misread: only it may change.
        (MrzType.TD1, ICAO_TD1, (1, 29), "8", {"6": 0.87}, "repaired"),
        # A visa (no composite digit): its own document-number digit decides.
        (MrzType.MRVB, ICAO_MRVB, (1, 9), "9", {"4": 0.88}, "repaired"),
    ],
)
def test_repair_with_check_digits(
    kind: MrzType,
    truth: list[str],
    cell: tuple[int, int],
    misread: str,
    tie: dict[str, float],
    expected: str,
) -> None:
    read = _with(truth, *cell, misread)
    scores = _scores(read, {cell: tie})
    repaired = repair_with_check_digits(kind, read, scores)
    assert repaired == (truth if expected == "repaired" else None)


def test_repair_never_validates_a_printed_bad_digit() -> None:
    # The expiry was altered without fixing its digit (a forgery): the reading is sure
    # of every cell, so nothing may change and the MRZ stays invalid.
    forged = _with(ICAO_TD3, 1, 21, "3")
    assert repair_with_check_digits(MrzType.TD3, forged, _scores(forged)) is None
    assert not parse_mrz(forged, today=TODAY).valid


def test_repair_gives_up_on_a_mostly_ambiguous_reading() -> None:
    # Every digit of line 2 ties with a look-alike: guesswork, not a reading.
    read = _with(ICAO_TD3, 1, 8, "8")
    ties = {(1, i): {"8": 0.9, "3": 0.89, "B": 0.88} for i in range(28)}
    assert repair_with_check_digits(MrzType.TD3, read, _scores(read, ties)) is None


def test_repair_changes_at_most_two_cells_per_field() -> None:
    # Three wrong digits in one date: the check digit could be satisfied by
    # some triple of swaps, but that is no longer a confirmed repair.
    read = [ICAO_TD3[0], ICAO_TD3[1][:13] + "3598" + ICAO_TD3[1][17:]]  # 7408 -> 3598
    ties = {(1, 13): {"7": 0.89}, (1, 14): {"4": 0.89}, (1, 15): {"0": 0.89}}
    assert repair_with_check_digits(MrzType.TD3, read, _scores(read, ties)) is None


def test_decode_prefers_digits_in_alphanumeric_fields_on_near_ties() -> None:
    # 0 and O (S and 5) by a hair in a document number: the digit wins ...
    lines = ICAO_TD3
    ties = {(1, 3): {"9": 0.9, "B": 0.91}}  # L89|8 -> B by 0.01
    assert decode_scores(_scores(lines, ties), repair=False) == lines
    # ... but a letter read clearly stays a letter (the C of L898902C3).
    assert decode_scores(_scores(lines), repair=False)[1][7] == "C"


def test_decode_keeps_a_clearly_read_state_code_outside_the_list() -> None:
    # Old German passports say BDR (not in today's ICAO list): a clear reading stays;
    # a near tie with a listed code (CZF vs CZE) takes the listed one.
    lines = ["P<BDRMUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<", ICAO_TD3[1]]
    assert decode_scores(_scores(lines), repair=False)[0][2:5] == "BDR"
    czf = ["P<CZFSPECIMEN<<VZOR<<<<<<<<<<<<<<<<<<<<<<<<<", ICAO_TD3[1]]
    ties = {(0, 4): {"E": 0.88}}
    assert decode_scores(_scores(czf, ties), repair=False)[0][2:5] == "CZE"


def test_decode_names_chooses_look_alikes_by_letter_pairs() -> None:
    # Soft scans score E/F and O/Q within a few hundredths; in CARMFN and QLSEN the
    # pairs MF, FN, <Q and QL are rare in names, so CARMEN and OLSEN win.
    lines = ["P<UTOCARMEN<<OLSEN<<<<<<<<<<<<<<<<<<<<<<<<<<", ICAO_TD3[1]]
    ties = {(0, 9): {"F": 0.92, "E": 0.89}, (0, 13): {"Q": 0.91, "O": 0.9}}
    assert decode_scores(_scores(lines, ties), repair=False)[0] == lines[0]


def test_name_pair_counts_cover_the_mrz_letters() -> None:
    from kyc.domain import name_bigrams
    from kyc.domain.mrz import _pair_logp

    entries = [e.split(":") for e in name_bigrams.PAIRS.split()]
    assert all(len(k) == 2 and set(k) <= set(ALPHABET) and int(v) > 0 for k, v in entries)
    logp = _pair_logp()
    assert len(logp) == 27 * 27  # every pair has a probability (add-one smoothing)
    assert logp["M", "E"] > logp["M", "F"] and logp["<", "O"] > logp["<", "Q"]


def test_decode_names_keeps_a_clear_letter_and_the_fillers() -> None:
    # A rare pair read clearly stays (F scores 0.1 above E: outside the margin) ...
    lines = ["P<UTOCARMFN<<ANNA<<<<<<<<<<<<<<<<<<<<<<<<<<<", ICAO_TD3[1]]
    ties = {(0, 9): {"E": 0.8}}
    assert decode_scores(_scores(lines, ties), repair=False)[0] == lines[0]
    # ... and a filler is never traded for a letter, however likely the pair.
    fill = ["P<UTOANN<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<", ICAO_TD3[1]]
    ties = {(0, 8): {"<": 0.9, "A": 0.89}}
    assert decode_scores(_scores(fill, ties), repair=False)[0] == fill[0]


def test_decode_nationality_prefers_the_issuing_state_on_a_near_tie() -> None:
    # GBR read as DOM in the nationality field of a small scan: the issuer wins ...
    lines = ["P<GBRJODIE<<PIPPA<<<<<<<<<<<<<<<<<<<<<<<<<<<", _with_code(ICAO_TD3[1], "GBR")]
    # (scores as read off passporteye's 27_pass-gbr.jpg: QDM, DOM the best listed code)
    ties = {
        (1, 10): {"Q": 0.81, "G": 0.72, "D": 0.70},
        (1, 11): {"D": 0.79, "Q": 0.78, "O": 0.70, "B": 0.64},
        (1, 12): {"M": 0.81, "R": 0.78},
    }
    assert decode_scores(_scores(lines, ties), repair=False)[1][10:13] == "GBR"
    # ... but a different nationality read clearly stays.
    other = ["P<GBRJODIE<<PIPPA<<<<<<<<<<<<<<<<<<<<<<<<<<<", _with_code(ICAO_TD3[1], "IRL")]
    assert decode_scores(_scores(other), repair=False)[1][10:13] == "IRL"


def test_a_document_code_the_format_does_not_allow_makes_the_mrz_invalid() -> None:
    # A names line read as noise above a second line whose digits validate (a frame
    # drawn round the MRZ broke the first row): not a valid passport MRZ.
    noise = ["U7MWIZZYUGIDULIJUIFUFTHJUFFT<P<PT<P<<H<PY<H<", ICAO_TD3[1]]
    result = parse_mrz(noise)
    assert result.checks["document_code"] is False and not result.valid
    assert result.failed_checks == ["document_code"]
    assert parse_mrz(ICAO_TD3).checks["document_code"] is True


def test_decode_keeps_a_state_field_printed_in_digits() -> None:
    # Romanian cards print a numeric code where ICAO puts the nationality.
    lines = ["IDROUSAVA<<SUPERMAN<<<<<<<<<<<<<<<<<", "HD198025<5132850509" + "5M130509012049941"]
    ties = {(1, 10): {"T": 0.85, "1": 0.8}}
    assert decode_scores(_scores(lines, ties), repair=False)[1][10:13] == "132"


def _with_code(line: str, code: str) -> str:
    return line[:10] + code + line[13:]


# --- French national identity card (1988-2021, pre-ICAO) -------------------------------

FRENCH_BERTHIER = ["IDFRABERTHIER<<<<<<<<<<<<<<<<<<<<<<<", "9409923102854CORINNE<<<<<<<6512068F4"]
FRENCH_TEST = ["IDFRATEST<NAME<<<<<<<<<<<<<<<<0CHE02", "1710GVA123451ROBERTA<<<<<<<9112311F2"]


@pytest.mark.parametrize(
    ("lines", "fields"),
    [
        (
            FRENCH_BERTHIER,
            {"LAST_NAME": "BERTHIER", "FIRST_NAME": "CORINNE", "DOCUMENT_NUMBER": "940992310285",
             "DATE_OF_BIRTH": "1965-12-06", "SEX": "F", "ISSUING_COUNTRY": "FRA"},
        ),
        (
            FRENCH_TEST,
            {"LAST_NAME": "TEST NAME", "FIRST_NAME": "ROBERTA", "DOCUMENT_NUMBER": "1710GVA12345",
             "DATE_OF_BIRTH": "1991-12-31", "SEX": "F"},
        ),
    ],
)  # fmt: skip
def test_french_1988_id_card_parses_with_its_check_digits(
    lines: list[str], fields: dict[str, str]
) -> None:
    # Vectors from cheminfo/mrz's frenchNationalId tests (shared/data/mrz/text_samples).
    result = parse_mrz(lines, today=TODAY)
    assert result.type is MrzType.FRENCH_ID and result.valid
    assert set(result.checks) == {"document_code", "document_number", "birth_date", "composite"}
    assert {k: result.fields[k].value for k in fields} == fields
    # The zone has no expiry and no nationality: none is invented.
    assert "EXPIRATION_DATE" not in result.fields and "NATIONALITY" not in result.fields


def test_french_1988_id_card_with_a_wrong_digit_is_invalid() -> None:
    lines = [FRENCH_TEST[0], FRENCH_TEST[1][:27] + "911230" + FRENCH_TEST[1][33:]]
    result = parse_mrz(lines, today=TODAY)
    assert result.failed_checks == ["birth_date", "composite"]


def test_french_1988_layout_is_decoded_from_scores() -> None:
    # Positions 4-6 of line 2 (the department, e.g. GVA) are letters or digits, where
    # TD2 has the nationality: the French layout must not force letters elsewhere.
    assert decode_scores(_scores(FRENCH_TEST)) == FRENCH_TEST
    assert decode_scores(_scores(FRENCH_BERTHIER)) == FRENCH_BERTHIER
    fields, composite = check_spans(MrzType.FRENCH_ID)
    assert [f.name for f in fields] == ["document_number", "birth_date"]
    assert composite is not None and len(composite.cells) == 71


# --- the layout table (one entry per format) --------------------------------------------


@pytest.mark.parametrize("kind", list(MrzType))
def test_layout_fields_tile_every_line_exactly(kind: MrzType) -> None:
    # Every cell belongs to exactly one field, one field's check digit or the composite
    # digit: no gap, no overlap.
    spec = LAYOUTS[kind]
    owners: dict[tuple[int, int], list[str]] = {}
    for f in spec.fields:
        assert 0 <= f.line < spec.lines and 0 <= f.start < f.end <= spec.width, f
        for cell in f.cells:
            owners.setdefault(cell, []).append(f.name)
        if f.check is not None:
            owners.setdefault((f.line, f.check), []).append(f"{f.name} check digit")
    if spec.composite is not None:
        owners.setdefault(spec.composite, []).append("composite")
    every = {(li, i) for li in range(spec.lines) for i in range(spec.width)}
    assert set(owners) == every, sorted(every - set(owners))
    assert {c: o for c, o in owners.items() if len(o) > 1} == {}
    # Top to bottom, left to right (the order the checks and the decoder follow).
    assert [(f.line, f.start) for f in spec.fields] == sorted(
        (f.line, f.start) for f in spec.fields
    )
    assert set(spec.composite_fields) <= {f.name for f in spec.fields}
    assert (spec.composite is None) == (not spec.composite_fields)


def _cells(*runs: tuple[int, int, int]) -> tuple[tuple[int, int], ...]:
    return tuple((li, i) for li, start, end in runs for i in range(start, end))


# ICAO 9303 parts 4-7 (and the French card's own layout), written out: name, cells
# covered, the digit's cell, whether '<' may stand for the digit of an empty field.
_ICAO2_FIELDS = [
    ("document_number", _cells((1, 0, 9)), (1, 9), False),
    ("birth_date", _cells((1, 13, 19)), (1, 19), False),
    ("expiry_date", _cells((1, 21, 27)), (1, 27), False),
]
EXPECTED_SPANS = {
    MrzType.TD1: (
        [
            ("document_number", _cells((0, 5, 14)), (0, 14), False),
            ("birth_date", _cells((1, 0, 6)), (1, 6), False),
            ("expiry_date", _cells((1, 8, 14)), (1, 14), False),
        ],
        (_cells((0, 5, 30), (1, 0, 7), (1, 8, 15), (1, 18, 29)), (1, 29)),
    ),
    MrzType.TD2: (_ICAO2_FIELDS, (_cells((1, 0, 10), (1, 13, 20), (1, 21, 35)), (1, 35))),
    MrzType.TD3: (
        [*_ICAO2_FIELDS, ("personal_number", _cells((1, 28, 42)), (1, 42), True)],
        (_cells((1, 0, 10), (1, 13, 20), (1, 21, 43)), (1, 43)),
    ),
    MrzType.MRVA: (_ICAO2_FIELDS, None),
    MrzType.MRVB: (_ICAO2_FIELDS, None),
    MrzType.FRENCH_ID: (
        [
            ("document_number", _cells((1, 0, 12)), (1, 12), False),
            ("birth_date", _cells((1, 27, 33)), (1, 33), False),
        ],
        (_cells((0, 0, 36), (1, 0, 35)), (1, 35)),
    ),
}


@pytest.mark.parametrize("kind", list(MrzType))
def test_check_spans_from_the_table_are_the_icao_spans(kind: MrzType) -> None:
    fields, composite = check_spans(kind)
    expected_fields, expected_composite = EXPECTED_SPANS[kind]
    assert [(f.name, f.cells, f.digit, f.may_be_empty) for f in fields] == expected_fields
    got = None if composite is None else (composite.cells, composite.digit)
    assert got == expected_composite
    assert composite is None or composite.name == "composite"


EXPECTED_CLASSES = {
    MrzType.TD1: ("AX" + "A" * 3 + "X" * 9 + "C" + "X" * 15,
                  "N" * 7 + "S" + "N" * 7 + "A" * 3 + "X" * 11 + "N",
                  "A" * 30),
    MrzType.TD2: ("AX" + "A" * 34,
                  "X" * 9 + "N" + "A" * 3 + "N" * 7 + "S" + "N" * 7 + "X" * 7 + "N"),
    MrzType.TD3: ("AX" + "A" * 42,
                  "X" * 9 + "N" + "A" * 3 + "N" * 7 + "S" + "N" * 7 + "X" * 14 + "CN"),
    MrzType.MRVA: ("AX" + "A" * 42,
                   "X" * 9 + "N" + "A" * 3 + "N" * 7 + "S" + "N" * 7 + "X" * 16),
    MrzType.MRVB: ("AX" + "A" * 34,
                   "X" * 9 + "N" + "A" * 3 + "N" * 7 + "S" + "N" * 7 + "X" * 8),
    MrzType.FRENCH_ID: ("AA" + "A" * 3 + "A" * 25 + "X" * 6,
                        "N" * 4 + "X" * 3 + "N" * 6 + "A" * 14 + "N" * 7 + "S" + "N"),
}  # fmt: skip
KIND_CLASS = {
    FieldKind.LETTERS: "A", FieldKind.ALPHANUMERIC: "X", FieldKind.DIGITS: "N",
    FieldKind.DATE: "N", FieldKind.STATE: "A", FieldKind.NAME: "A", FieldKind.SEX: "S",
}  # fmt: skip


@pytest.mark.parametrize("kind", list(MrzType))
def test_layout_classes_agree_with_the_table(kind: MrzType) -> None:
    spec = LAYOUTS[kind]
    classes = layout(kind)
    assert classes == EXPECTED_CLASSES[kind]
    assert [len(line) for line in classes] == [spec.width] * spec.lines
    for f in spec.fields:
        assert classes[f.line][f.start : f.end] == KIND_CLASS[f.kind] * (f.end - f.start), f
        if f.check is not None:
            # A check digit is a digit, or '<' where ICAO allows one in its place.
            digit = "C" if f.may_be_empty or f.continues else "N"
            assert classes[f.line][f.check] == digit, f
    if spec.composite is not None:
        assert classes[spec.composite[0]][spec.composite[1]] == "N"


@pytest.mark.parametrize(
    ("kind", "spans", "states", "names"),
    [
        (MrzType.TD1, ((0, 5, 30), (1, 18, 29)), [(0, 2), (1, 15)], [(2, 0, 30)]),
        (MrzType.TD2, ((1, 0, 9), (1, 28, 35)), [(0, 2), (1, 10)], [(0, 5, 36)]),
        (MrzType.TD3, ((1, 0, 9), (1, 28, 42)), [(0, 2), (1, 10)], [(0, 5, 44)]),
        (MrzType.MRVA, ((1, 0, 9),), [(0, 2), (1, 10)], [(0, 5, 44)]),
        (MrzType.MRVB, ((1, 0, 9),), [(0, 2), (1, 10)], [(0, 5, 36)]),
        (MrzType.FRENCH_ID, ((1, 4, 7),), [(0, 2)], [(0, 5, 30), (1, 13, 27)]),
    ],
)
def test_repair_state_and_name_fields_from_the_table(
    kind: MrzType,
    spans: tuple[tuple[int, int, int], ...],
    states: list[tuple[int, int]],
    names: list[tuple[int, int, int]],
) -> None:
    # What parse_mrz may repair under the check digits, and where the decoder looks for
    # state codes and names.
    fields = LAYOUTS[kind].fields
    assert _alnum_spans(kind) == spans
    assert [(f.line, f.start) for f in fields if f.kind is FieldKind.STATE] == states
    assert all(f.end - f.start == 3 for f in fields if f.kind is FieldKind.STATE)
    assert [(f.line, f.start, f.end) for f in fields if f.kind is FieldKind.NAME] == names


def test_document_codes_come_from_the_table() -> None:
    assert {k: LAYOUTS[k].document_codes for k in MrzType} == {
        MrzType.TD1: "ACI", MrzType.TD2: "ACI", MrzType.TD3: "P",
        MrzType.MRVA: "V", MrzType.MRVB: "V", MrzType.FRENCH_ID: "I",
    }  # fmt: skip
    # The two-line ICAO formats share the line-1 head; a visa code on a passport-sized
    # line is a visa, any other code there is a passport.
    assert parse_mrz(["V" + ICAO_TD3[0][1:], ICAO_TD3[1]], today=TODAY).type is MrzType.MRVA
    assert parse_mrz(ICAO_TD3, today=TODAY).checks["document_code"] is True


def test_td1_long_document_number_continues_in_the_optional_data() -> None:
    # ICAO 9303-5 note j: a 12-character number, '<' where its digit would be, the rest
    # and then its digit in optional data 1 (the '<' is kept as read).
    lines = [
        "I<UTOD23145890<7349<<<<<<<<<<<",
        "7408122F1204159UTO<<<<<<<<<<<6",
        "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    ]
    result = parse_mrz(lines, today=TODAY)
    assert result.valid and result.lines == tuple(lines)
    assert result.fields["DOCUMENT_NUMBER"].value == "D23145890734"
    assert result.raw["optional_data"] == "7349"
    # The repair leaves its digit to the composite (a field digit at 14 would fail).
    assert repair_with_check_digits(MrzType.TD1, lines, _scores(lines)) == lines
    assert [f.name for f in LAYOUTS[MrzType.TD1].fields if f.continues] == ["document_number"]


def test_each_format_is_detected_from_its_table_entry() -> None:
    # Shape, then the prefix (France's card), then the document code (visas).
    for kind, spec in LAYOUTS.items():
        first = spec.prefix or spec.document_codes[0]
        lines = [first.ljust(spec.width, "<")] + ["<" * spec.width] * (spec.lines - 1)
        assert detect_type(lines) is kind
    assert detect_type(["IDD".ljust(36, "<"), "<" * 36]) is MrzType.TD2
    assert detect_type(["I<UTO".ljust(44, "<"), "<" * 44]) is MrzType.TD3
    with pytest.raises(MrzError):
        detect_type(["<" * 36] * 3)
