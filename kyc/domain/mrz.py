"""Machine-readable zones (ICAO 9303): layout, OCR repair, check digits, fields.

Pure logic, no I/O. :func:`parse_mrz` takes the lines an OCR engine read from the
MRZ of a passport (TD3), ID card (TD1, TD2) or visa (MRV-A, MRV-B), repairs the
character confusions OCR makes *by field type* and validates every check digit with
the ``mrz`` package's ICAO 7-3-1 rule.

Each format is described once, in :data:`LAYOUTS`: one :class:`MrzLayout` per
:class:`MrzType` lists its fields (position, kind, check digit, what the composite
digit covers, what may be repaired). Parsing, the check-digit spans, the repairs, the
per-cell classes of the template decoder and format detection all derive from it, so
a new format is one more entry.

Repair rules (why they are safe): the MRZ alphabet is ``A-Z 0-9 <`` in OCR-B, where
``O``/``0``, ``I``/``1``, ``S``/``5``, ``B``/``8``, ``Z``/``2``, ``G``/``6``
and ``D``/``0`` are the usual confusions. Dates, sex and check digits have a known
type (digits, ``M/F/X/<``) so the wrong class is mapped to the right one without
guessing. Country codes and names are letters only; no check digit covers them, so
among near-tied letters a country code from ICAO's list (the issuer's, for the
nationality) and, in names, letter pairs common in personal names are preferred
(:mod:`kyc.domain.name_bigrams`). Document numbers and optional
data are alphanumeric: there a confusion is only repaired when it makes the field's
check digit valid, so a repair never invents an unverifiable character. Fillers
``<`` read as ``K``, ``C`` or ``E`` at the end of a name are turned back into ``<``.

An invalid check digit is never hidden: :attr:`MrzResult.checks` reports each one and
:attr:`MrzResult.valid` is False; the fields are still returned with a lower
confidence so the reviewer can see what was read.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache
from types import MappingProxyType

from mrz.base.countries_ops import code_list
from mrz.base.functions import hash_string

from kyc.domain import name_bigrams
from kyc.domain.records import DocumentField

#: Confidence of fields from an MRZ whose check digits all validate: the check digits
#: vouch for the digits, and the names come from the same OCR-B line.
VALID_MRZ_CONFIDENCE = 99.0
#: Confidence of fields from an MRZ with a failed check digit (shown, not trusted).
INVALID_MRZ_CONFIDENCE = 40.0

_ALPHABET = re.compile(r"^[A-Z0-9<]+$")
_TO_DIGIT = str.maketrans(
    {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "T": "1", "Z": "2",
     "S": "5", "G": "6", "B": "8", "<": "0"}
)  # fmt: skip
_TO_ALPHA = str.maketrans({"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"})
#: Alphanumeric confusions tried when a check digit fails.
_SWAPS: Mapping[str, str] = MappingProxyType(
    {"O": "0", "0": "OD", "I": "1", "1": "I", "S": "58", "5": "S", "B": "8", "8": "BS",
     "Z": "2", "2": "Z", "G": "6", "6": "G", "D": "0", "Q": "0"}
)  # fmt: skip
#: At most this many ambiguous characters are tried when repairing (<= 21 variants).
_MAX_SWAPS = 6


class MrzType(StrEnum):
    """ICAO 9303 MRZ formats."""

    TD1 = "TD1"  # ID-1 cards: 3 x 30
    TD2 = "TD2"  # ID-2 cards: 2 x 36
    TD3 = "TD3"  # passports: 2 x 44
    MRVA = "MRVA"  # visa A (full page): 2 x 44
    MRVB = "MRVB"  # visa B (ID-2 size): 2 x 36
    FRENCH_ID = "FRENCH_ID_1988"  # French national ID card 1988-2021 (pre-ICAO): 2 x 36


class MrzError(ValueError):
    """The lines are not a machine-readable zone of a known format."""


@dataclass(frozen=True, slots=True)
class MrzResult:
    """A parsed MRZ.

    Attributes:
        type: the format.
        lines: the repaired lines (what ``MRZ_CODE`` reports, joined by newlines).
        checks: check-digit name (``document_number``, ``birth_date``,
            ``expiry_date``, ``personal_number`` (TD3), ``composite``) -> valid, and
            ``document_code``: the first character is one ICAO allows for the format
            (P for passports, A/C/I for cards, V for visas).
        fields: AnalyzeID keys -> fields (``source="mrz"``).
        raw: the ICAO fields as read (document_code, issuing_state, nationality, sex,
            optional_data, ...).
    """

    type: MrzType
    lines: tuple[str, ...]
    checks: Mapping[str, bool]
    fields: Mapping[str, DocumentField]
    raw: Mapping[str, str]

    @property
    def valid(self) -> bool:
        """True when every check digit validates."""
        return all(self.checks.values())

    @property
    def failed_checks(self) -> list[str]:
        """Names of the check digits that failed."""
        return [name for name, ok in self.checks.items() if not ok]

    @property
    def code(self) -> str:
        """The MRZ text, lines joined by newlines (Textract's ``MRZ_CODE``)."""
        return "\n".join(self.lines)


# --- the layout table: one entry per format drives parsing, checks and decoding ---------

#: Character classes by position: A = letter or filler, N = digit, X = letter, digit or
#: filler, C = digit or filler (a check digit that may be absent), S = sex.
_CLASSES = {
    "A": "ABCDEFGHIJKLMNOPQRSTUVWXYZ<",
    "N": "0123456789",
    "X": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<",
    "C": "0123456789<",
    "S": "MFX<",
}


class FieldKind(StrEnum):
    """What an MRZ field holds: its cells' class and how OCR misreads in it are mapped."""

    LETTERS = "letters"  # kept as read (the document code: the format check judges it)
    ALPHANUMERIC = "alphanumeric"  # kept as read; repaired only under a check digit
    DIGITS = "digits"
    DATE = "date"  # YYMMDD
    STATE = "state"  # three-letter ICAO state code (issuing state, nationality)
    NAME = "name"  # SURNAME<<GIVEN<NAMES: no check digit covers it
    SEX = "sex"


#: The class (see ``_CLASSES``) of every cell of a field of each kind.
_KIND_CLASS: Mapping[FieldKind, str] = MappingProxyType(
    {
        FieldKind.LETTERS: "A",
        FieldKind.ALPHANUMERIC: "X",
        FieldKind.DIGITS: "N",
        FieldKind.DATE: "N",
        FieldKind.STATE: "A",
        FieldKind.NAME: "A",
        FieldKind.SEX: "S",
    }
)


@dataclass(frozen=True, slots=True)
class MrzField:
    """One field of an MRZ layout: where it is, what it holds, what checks it.

    Fields that share a name are the parts of one field, read in table order and
    joined (France's card number is digits, a department that may hold letters, and
    digits again); a check digit covers every part of its field.

    Attributes:
        name: the ICAO field, as in :attr:`MrzResult.raw` (``document_code``,
            ``issuing_state``, ``name``, ``document_number``, ``nationality``,
            ``birth_date``, ``sex``, ``expiry_date``, ``optional_data``; France's card
            has ``surname`` and ``given_names`` instead of ``name``).
        line: the line (0 = top).
        start: first position in the line.
        end: position after the last one.
        kind: what the cells hold.
        check: position (same line) of the field's check digit; None when it has none.
        check_name: the check's name in :attr:`MrzResult.checks` (default ``name``).
        repair: O/0-style swaps in these cells are tried when a check digit fails.
        may_be_empty: ICAO lets the field, when empty, carry ``<`` as its check digit.
        continues: a longer document number may go on after its check digit's place,
            which then holds ``<`` (ICAO 9303-5, note j: TD1 numbers over 9 characters).
        keeps_fillers: a ``<`` read here stays in the reported document number (France's
            card number, whose parser always kept them; ICAO numbers drop theirs).
    """

    name: str
    line: int
    start: int
    end: int
    kind: FieldKind
    check: int | None = None
    check_name: str = ""
    repair: bool = False
    may_be_empty: bool = False
    continues: bool = False
    keeps_fillers: bool = False

    @property
    def cells(self) -> tuple[tuple[int, int], ...]:
        """(line, index) of every cell of the field, its check digit not included."""
        return tuple((self.line, i) for i in range(self.start, self.end))


@dataclass(frozen=True, slots=True)
class MrzLayout:
    """One MRZ format: its shape, its fields and its composite check digit.

    Attributes:
        lines: number of lines.
        width: characters per line.
        document_codes: first characters of the document code ICAO 9303 allows for
            the format (parts 4-7: P for passports, A/C/I for cards, V for visas).
        fields: the fields, top to bottom and left to right; with their check digits
            and the composite digit they cover every cell of every line once.
        composite: (line, index) of the composite check digit; None when the format
            has none.
        composite_fields: the names of the fields (with their check digits) that the
            composite digit covers, in the order the fields come.
        prefix: the first characters that tell the format from others of its shape
            ("" when its document codes do).
    """

    lines: int
    width: int
    document_codes: str
    fields: tuple[MrzField, ...]
    composite: tuple[int, int] | None = None
    composite_fields: tuple[str, ...] = ()
    prefix: str = ""


#: The document code and issuing state that open line 1 of every ICAO format.
_ICAO_CODE_AND_STATE = (
    # The document code's second character is the issuer's choice (or '<').
    MrzField("document_code", 0, 0, 1, FieldKind.LETTERS),
    MrzField("document_code", 0, 1, 2, FieldKind.ALPHANUMERIC),
    MrzField("issuing_state", 0, 2, 5, FieldKind.STATE),
)
#: Line 2 of the two-line ICAO formats up to the optional data (TD2, TD3, MRV-A, MRV-B).
_ICAO_LINE2 = (
    MrzField("document_number", 1, 0, 9, FieldKind.ALPHANUMERIC, check=9, repair=True),
    MrzField("nationality", 1, 10, 13, FieldKind.STATE),
    MrzField("birth_date", 1, 13, 19, FieldKind.DATE, check=19),
    MrzField("sex", 1, 20, 21, FieldKind.SEX),
    MrzField("expiry_date", 1, 21, 27, FieldKind.DATE, check=27),
)
_ICAO_COMPOSITE = ("document_number", "birth_date", "expiry_date", "optional_data")


def _icao_two_line(
    width: int, document_codes: str, optional: MrzField, *, composite: int | None = None
) -> MrzLayout:
    """A two-line ICAO layout (TD2, TD3, MRV-A, MRV-B).

    They differ only in width, document codes, the optional data that ends line 2 and
    the composite digit (at ``(1, composite)``; visas have none).
    """
    return MrzLayout(
        lines=2,
        width=width,
        document_codes=document_codes,
        fields=(
            *_ICAO_CODE_AND_STATE,
            MrzField("name", 0, 5, width, FieldKind.NAME),
            *_ICAO_LINE2,
            optional,
        ),
        composite=None if composite is None else (1, composite),
        composite_fields=() if composite is None else _ICAO_COMPOSITE,
    )


#: The formats. Adding one means adding its entry here (and its :class:`MrzType`).
LAYOUTS: Mapping[MrzType, MrzLayout] = MappingProxyType(
    {
        MrzType.TD1: MrzLayout(
            lines=3,
            width=30,
            document_codes="ACI",
            fields=(
                *_ICAO_CODE_AND_STATE,
                # A number longer than 9 characters continues in optional data 1, after
                # a '<' where the check digit would be (ICAO 9303-5, note j); the '<'
                # is then part of the alphanumeric run that repairs may touch.
                MrzField(
                    "document_number", 0, 5, 14, FieldKind.ALPHANUMERIC,
                    check=14, repair=True, continues=True,
                ),
                MrzField("optional_data", 0, 15, 30, FieldKind.ALPHANUMERIC, repair=True),
                MrzField("birth_date", 1, 0, 6, FieldKind.DATE, check=6),
                MrzField("sex", 1, 7, 8, FieldKind.SEX),
                MrzField("expiry_date", 1, 8, 14, FieldKind.DATE, check=14),
                MrzField("nationality", 1, 15, 18, FieldKind.STATE),
                MrzField("optional_data", 1, 18, 29, FieldKind.ALPHANUMERIC, repair=True),
                MrzField("name", 2, 0, 30, FieldKind.NAME),
            ),
            composite=(1, 29),
            composite_fields=_ICAO_COMPOSITE,
        ),
        MrzType.TD2: _icao_two_line(
            36, "ACI", MrzField("optional_data", 1, 28, 35, FieldKind.ALPHANUMERIC, repair=True),
            composite=35,
        ),
        MrzType.TD3: _icao_two_line(
            44, "P",
            # The personal number; when there is none ICAO allows '<' as its digit.
            MrzField(
                "optional_data", 1, 28, 42, FieldKind.ALPHANUMERIC,
                check=42, check_name="personal_number", repair=True, may_be_empty=True,
            ),
            composite=43,
        ),
        # Visas carry no composite check digit, and nothing checks their optional
        # data, so only the document number is repaired.
        MrzType.MRVA: _icao_two_line(
            44, "V", MrzField("optional_data", 1, 28, 44, FieldKind.ALPHANUMERIC)
        ),
        MrzType.MRVB: _icao_two_line(
            36, "V", MrzField("optional_data", 1, 28, 36, FieldKind.ALPHANUMERIC)
        ),
        # France's 1988-2021 national identity card (2 x 36, not ICAO 9303). Line 1:
        # ``ID`` ``FRA`` surname (25) administrative code (6). Line 2: the card number
        # (issue year and month, department, office, serial: 12) and its check digit,
        # given names (14), birth date and its digit, sex, and a check digit over both
        # lines. The zone carries no expiry date and no nationality.
        MrzType.FRENCH_ID: MrzLayout(
            lines=2,
            width=36,
            document_codes="I",
            fields=(
                MrzField("document_code", 0, 0, 2, FieldKind.LETTERS),
                MrzField("issuing_state", 0, 2, 5, FieldKind.STATE),
                MrzField("surname", 0, 5, 30, FieldKind.NAME),
                MrzField("optional_data", 0, 30, 36, FieldKind.ALPHANUMERIC),
                MrzField("document_number", 1, 0, 4, FieldKind.DIGITS),
                # The department (e.g. GVA) may hold letters, where TD2 has the
                # nationality; only these cells of the card are repaired.
                MrzField(
                    "document_number", 1, 4, 7, FieldKind.ALPHANUMERIC,
                    repair=True, keeps_fillers=True,
                ),
                MrzField("document_number", 1, 7, 12, FieldKind.DIGITS, check=12),
                MrzField("given_names", 1, 13, 27, FieldKind.NAME),
                MrzField("birth_date", 1, 27, 33, FieldKind.DATE, check=33),
                MrzField("sex", 1, 34, 35, FieldKind.SEX),
            ),
            composite=(1, 35),
            composite_fields=(
                "document_code", "issuing_state", "surname", "optional_data",
                "document_number", "given_names", "birth_date", "sex",
            ),
            # 2 x 36 like TD2 but its own layout: no French card uses TD2, so the
            # prefix identifies it.
            prefix="IDFRA",
        ),
    }
)  # fmt: skip


def check_digit(text: str) -> str:
    """ICAO 9303 check digit (7-3-1 weights, ``<`` = 0) of ``text``."""
    return hash_string(text)


def _digits(text: str) -> str:
    return text.translate(_TO_DIGIT)


def _alpha(text: str) -> str:
    return text.translate(_TO_ALPHA)


def _letters(text: str) -> str:
    """A letters-only field with digits read for letters mapped back.

    An all-digit field is left alone (some issuers put digits there, e.g. Romanian
    TD2 cards).
    """
    return text if text.strip("<").isdigit() else _alpha(text)


@cache
def _alnum_spans(kind: MrzType) -> tuple[tuple[int, int, int], ...]:
    """(line, start, end) of the alphanumeric fields whose confusions we may repair."""
    cells: list[_Cell] = []
    for f in LAYOUTS[kind].fields:
        if f.repair:
            cells += f.cells
            if f.continues and f.check is not None:
                # The digit's place holds '<' when the number goes on past it.
                cells.append((f.line, f.check))
    return _runs(cells)


def _runs(cells: Sequence[_Cell]) -> tuple[tuple[int, int, int], ...]:
    """Cells as (line, start, end) runs of consecutive ones, in the order given."""
    runs: list[tuple[int, int, int]] = []
    for li, i in cells:
        if runs and runs[-1][0] == li and runs[-1][2] == i:
            runs[-1] = (li, runs[-1][1], i + 1)
        else:
            runs.append((li, i, i + 1))
    return tuple(runs)


def _variants(kind: MrzType, lines: list[str]) -> list[list[str]]:
    """Lines with one or two O/0-style swaps in the alphanumeric fields.

    Visas have no composite check digit to confirm a repair, so they get single
    swaps in the document number only (a random swap passes one check 1 in 10).
    """
    positions = [
        (li, i)
        for li, start, end in _alnum_spans(kind)
        for i in range(start, min(end, len(lines[li])))
        if lines[li][i] in _SWAPS
    ][:_MAX_SWAPS]
    max_n = 1 if LAYOUTS[kind].composite is None else 2
    out = []
    for n in range(1, max_n + 1):
        for combo in itertools.combinations(positions, n):
            for repl in itertools.product(*(_SWAPS[lines[li][i]] for li, i in combo)):
                chars = [list(line) for line in lines]
                for (li, i), c in zip(combo, repl, strict=True):
                    chars[li][i] = c
                out.append(["".join(c) for c in chars])
    return out


def _check_ok(value: str, digit: str) -> bool:
    try:
        return digit.isdigit() and check_digit(value) == digit
    except ValueError:
        return False


def _continues(line: str, digit: int) -> bool:
    """Whether a value goes on past its check digit's place (``<`` there, then more)."""
    return line[digit] == "<" and line[digit + 1 : digit + 2] not in ("<", "")


def _sex(c: str) -> str:
    return {"H": "M", "N": "M", "P": "F", "E": "F", "K": "X"}.get(c, c) if c not in "MFX<" else c


def _clean_name_field(text: str) -> str:
    """Turn filler misreads at the end of a name field back into ``<``.

    OCR reads a long run of ``<`` as ``<<K<<C<``: once the field has a ``<<<`` run,
    every later character in ``KCEL<`` is filler.
    """
    text = _alpha(text)
    # A lone K/C/X between fillers is a misread filler ("ANNA<K<MARIA" is rare).
    text = re.sub(r"(?<=<)[KCX](?=<)", "<", text)
    m = re.search(r"<<<", text)
    if m is None:
        return text
    head, tail = text[: m.start()], text[m.start() :]
    # Past the first '<<<' only fillers are legal; misread ones become '<' again.
    tail = re.sub(r"[KCELGSX4]", "<", tail) if re.fullmatch(r"[<A-Z0-9]*", tail) else tail
    tail = tail if tail.strip("<") else "<" * len(tail)
    return head + tail


def _names(field: str) -> tuple[str, str]:
    """(surname, given names) from a name field ``SURNAME<<GIVEN<NAMES<<<``."""
    surname, _, given = field.partition("<<")
    clean = lambda s: re.sub(r"\s+", " ", s.replace("<", " ")).strip()  # noqa: E731
    return clean(surname), clean(given)


def _date(yymmdd: str, *, kind: str, today: dt.date) -> dt.date | None:
    """A YYMMDD date: births never in the future, expiries within 50 years back."""
    if not yymmdd.isdigit():
        return None
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    century = 2000
    latest = today.year if kind == "birth" else today.year + 50
    if 2000 + yy > latest:
        century = 1900
    try:
        return dt.date(century + yy, mm, dd)
    except ValueError:
        return None


def detect_type(lines: Sequence[str]) -> MrzType:
    """The MRZ format from the line count, length and document code.

    Raises:
        MrzError: no known format has these line lengths.
    """
    lengths = [len(line) for line in lines]
    first = lines[0][:1] if lines else ""
    kind = _format_of(lengths, first, lambda prefix: lines[0].startswith(prefix))
    if kind is None:
        raise MrzError(f"no MRZ format has lines of length {lengths}")
    return kind


def _format_of(
    widths: Sequence[int], first: str, starts_with: Callable[[str], bool]
) -> MrzType | None:
    """The format of lines of these widths, first character and prefix (None: no format).

    Among the formats of that shape, one whose prefix the lines start with comes first,
    then one whose document codes hold ``first`` (a visa's V); otherwise the first in
    the table (TD2, TD3 take any other code, which the document-code check judges).
    """
    fits = [
        kind
        for kind, spec in LAYOUTS.items()
        if list(widths) == [spec.width] * spec.lines
        and (not spec.prefix or starts_with(spec.prefix))
    ]

    def rank(kind: MrzType) -> tuple[int, bool]:
        spec = LAYOUTS[kind]
        return len(spec.prefix), bool(first) and first in spec.document_codes

    return max(fits, key=rank, default=None)


def normalise_lines(lines: Sequence[str]) -> list[str]:
    """Upper-case, strip spaces, and drop characters outside the MRZ alphabet.

    OCR inserts spaces between ``<`` runs and reads ``<`` as ``«`` or ``(``; those
    are mapped back, anything else outside ``A-Z0-9<`` is removed.
    """
    out = []
    for line in lines:
        text = line.upper().replace(" ", "")
        text = re.sub(r"[«‹(\[{]", "<", text)
        text = re.sub(r"[^A-Z0-9<]", "", text)
        if text:
            out.append(text)
    return out


def parse_mrz(lines: Sequence[str], *, today: dt.date | None = None) -> MrzResult:
    """Parse and validate an MRZ read by OCR.

    Args:
        lines: the MRZ lines, top to bottom (normalised with :func:`normalise_lines`).
        today: reference date for two-digit years (default: today).

    Returns:
        The parsed MRZ with repaired lines, every check digit's result and
        AnalyzeID fields (``MRZ_CODE``, ``DOCUMENT_NUMBER``, ``LAST_NAME``,
        ``FIRST_NAME``, ``MIDDLE_NAME``, ``DATE_OF_BIRTH``, ``EXPIRATION_DATE``,
        ``ID_TYPE``, ``NATIONALITY``, ``ISSUING_COUNTRY``, ``SEX``).

    Raises:
        MrzError: not a known MRZ format.
    """
    today = today or dt.date.today()
    lines = normalise_lines(lines)
    kind = detect_type(lines)
    for line in lines:
        if not _ALPHABET.match(line):  # pragma: no cover - normalise_lines guarantees it
            raise MrzError("characters outside the MRZ alphabet")
    result = _parse(kind, lines, today)
    if result.valid:
        return result
    # Repair alphanumeric fields only when the repair makes every check digit valid
    # (the composite digit confirms a fix that one field's digit could pass by chance).
    for variant in _variants(kind, lines):
        candidate = _parse(kind, variant, today)
        if candidate.valid:
            return candidate
    return result


#: How each kind of field is read: the confusions OCR makes mapped to the right class.
_READ: Mapping[FieldKind, Callable[[str], str]] = MappingProxyType(
    {
        FieldKind.LETTERS: str,
        FieldKind.ALPHANUMERIC: str,  # repaired only under the check digits (_variants)
        FieldKind.DIGITS: _digits,
        FieldKind.DATE: _digits,
        FieldKind.STATE: _letters,
        FieldKind.NAME: _clean_name_field,
        FieldKind.SEX: _sex,
    }
)


def _parse(kind: MrzType, lines: list[str], today: dt.date) -> MrzResult:
    """Read every field of the format's layout as its kind says; check every digit."""
    spec = LAYOUTS[kind]
    read = [list(line) for line in lines]
    for f in spec.fields:
        read[f.line][f.start : f.end] = _READ[f.kind](lines[f.line][f.start : f.end])
    # Every field's text (parts joined); check digits are read below.
    plain = ["".join(line) for line in read]
    fields = _field_parts(kind)
    values = {
        name: "".join(plain[f.line][f.start : f.end] for f in parts)
        for name, parts in fields.items()
    }
    checks: dict[str, bool] = {}
    extension = ""  # of a long document number
    for f, span in _field_checks(kind):
        li, d = span.digit
        value = values[f.name]
        if f.continues and _continues(lines[li], d):
            # The number goes on up to the next '<', its last character there being its
            # check digit; the '<' stays where the digit would be.
            more = lines[li][d + 1 :].partition("<")[0]
            extension = more[:-1]
            checks[span.name] = _check_ok(value + extension, _digits(more[-1:]))
        elif f.may_be_empty and not value.strip("<") and lines[li][d] == "<":
            checks[span.name] = True  # an empty field with '<' for its digit
        else:
            read[li][d] = _digits(lines[li][d])
            checks[span.name] = _check_ok(value, read[li][d])
    if spec.composite is not None:
        li, d = spec.composite
        read[li][d] = _digits(lines[li][d])
    text = tuple("".join(line) for line in read)
    if spec.composite is not None:
        li, d = spec.composite
        value = "".join(text[c][start:end] for c, start, end in _composite_runs(kind))
        checks["composite"] = _check_ok(value, text[li][d])
    # ICAO document numbers drop their fillers; France's card kept the '<' as read.
    number = ""
    for f in fields["document_number"]:
        part = plain[f.line][f.start : f.end]
        number += part if f.keeps_fillers else part.replace("<", "")
    if "name" in values:
        name_field = values["name"]
    else:
        # Surname and given names printed apart (France's card): the ICAO form
        # (surname<<given<names) for the common builder.
        given = values["given_names"].rstrip("<").replace("<<", "<")
        name_field = values["surname"].rstrip("<") + "<<" + given
    return _result(
        kind,
        text,
        checks,
        code=values["document_code"],
        issuing=values["issuing_state"],
        number=number + extension,
        dob=values.get("birth_date", ""),
        exp=values.get("expiry_date", ""),
        sex=values["sex"],
        nationality=values.get("nationality", ""),
        optional=values.get("optional_data", "").strip("<"),
        name_field=name_field,
        today=today,
    )


def _result(
    kind: MrzType,
    lines: tuple[str, ...],
    checks: dict[str, bool],
    *,
    code: str,
    issuing: str,
    number: str,
    dob: str,
    exp: str,
    sex: str,
    nationality: str,
    optional: str,
    name_field: str,
    today: dt.date,
) -> MrzResult:
    # Not a check digit, but the one thing the names' line can be checked against: a
    # first line read as noise whose second line validates is not a valid MRZ.
    checks["document_code"] = code[:1] in LAYOUTS[kind].document_codes
    valid = all(checks.values())
    conf = VALID_MRZ_CONFIDENCE if valid else INVALID_MRZ_CONFIDENCE

    def f(text: str, value: str, *, ok: bool = valid) -> DocumentField:
        return DocumentField(
            text=text,
            value=value,
            confidence=VALID_MRZ_CONFIDENCE if ok else INVALID_MRZ_CONFIDENCE,
            source="mrz",
        )

    fields: dict[str, DocumentField] = {"MRZ_CODE": f("\n".join(lines), "\n".join(lines))}
    surname, given = _names(name_field)
    if surname:
        fields["LAST_NAME"] = f(surname, surname)
    if given:
        first, _, middle = given.partition(" ")
        fields["FIRST_NAME"] = f(first, first)
        if middle:
            fields["MIDDLE_NAME"] = f(middle, middle)
    if number:
        fields["DOCUMENT_NUMBER"] = f(number, number, ok=checks.get("document_number", False))
    birth = _date(dob, kind="birth", today=today)
    if birth is not None:
        fields["DATE_OF_BIRTH"] = f(dob, birth.isoformat(), ok=checks["birth_date"])
    expiry = _date(exp, kind="expiry", today=today)
    if expiry is not None:
        fields["EXPIRATION_DATE"] = f(exp, expiry.isoformat(), ok=checks["expiry_date"])
    id_type = {"P": "PASSPORT", "V": "VISA"}.get(code[:1], "ID CARD")
    fields["ID_TYPE"] = DocumentField(id_type, id_type, conf, "mrz")
    if nationality.strip("<"):
        fields["NATIONALITY"] = f(nationality, nationality.replace("<", ""))
    if issuing.strip("<"):
        fields["ISSUING_COUNTRY"] = f(issuing, issuing.replace("<", ""))
    if sex in "MFX":
        fields["SEX"] = f(sex, sex)
    raw = {
        "document_code": code,
        "issuing_state": issuing,
        "document_number": number,
        "birth_date": dob,
        "expiry_date": exp,
        "sex": sex,
        "nationality": nationality,
        "optional_data": optional,
        "name": name_field,
    }
    return MrzResult(
        type=kind,
        lines=lines,
        checks=MappingProxyType(dict(checks)),
        fields=MappingProxyType(fields),
        raw=MappingProxyType(raw),
    )


def find_mrz_lines(text_lines: Sequence[str]) -> list[str] | None:
    """Pick the MRZ out of OCR text lines: the last run of 2-3 MRZ-like lines.

    Lines are normalised, then fitted to the nearest MRZ width (30/36/44) when OCR
    dropped or added up to two filler characters at the end. Returns None when no
    run of lines fits a format.
    """
    widths = sorted({spec.width for spec in LAYOUTS.values()})
    cands = []
    for line in normalise_lines(text_lines):
        if len(line) < 26 or ("<" not in line and len(line) < 40):
            continue
        width = min(widths, key=lambda w: abs(w - len(line)))
        if abs(width - len(line)) > 3:
            continue
        if len(line) > width:
            # Extra characters are usually doubled fillers: drop '<' from the end run.
            excess = len(line) - width
            if line[width:].strip("<"):
                line = line.replace("<<", "<", excess)
            line = line[:width]
        cands.append(line.ljust(width, "<"))
    # Three lines of 30 before two of 44, before two of 36: more lines, then wider.
    for n, width in sorted({(spec.lines, spec.width) for spec in LAYOUTS.values()}, reverse=True):
        for i in range(len(cands) - n, -1, -1):
            group = cands[i : i + n]
            if all(len(g) == width for g in group):
                return group
    return None


# --- decoding per-character scores (template matching) ---------------------------------

#: In alphanumeric fields a digit scoring within this much of the best letter wins.
DIGIT_PRIOR = 0.04

#: ICAO 9303 state codes (with ``D`` for Germany and the UTO/XX* specials), padded
#: to three characters with fillers.
STATE_CODES = frozenset(c.ljust(3, "<") for c in code_list())
#: A letter scoring within this much of a name cell's best letter is a candidate.
NAME_MARGIN = 0.08
#: Template-score units per natural-log unit of letter-pair probability: a pair 20
#: times rarer (``MF`` against ``ME``) costs 0.06, about the E/F gap in a soft scan.
NAME_WEIGHT = 0.02
_LETTERS = _CLASSES["A"][:-1]


@lru_cache(maxsize=1)
def _pair_logp() -> dict[tuple[str, str], float]:
    """Log P(next | previous) over letters and ``<`` (word edge), add-one smoothed."""
    counts = {(k[0], k[1]): int(v) for k, v in (e.split(":") for e in name_bigrams.PAIRS.split())}
    symbols = _LETTERS + "<"
    out = {}
    for a in symbols:
        total = sum(counts.get((a, b), 0) for b in symbols) + len(symbols)
        for b in symbols:
            out[a, b] = math.log((counts.get((a, b), 0) + 1) / total)
    return out


def _decode_name(cells: Sequence[Mapping[str, float]], read: str) -> str:
    """The name field's letters chosen by template score plus letter-pair likelihood.

    Names carry no check digit, and in a small or soft scan the templates score
    look-alikes within a few hundredths (E/F, O/Q, G/Q, I/T: the bottom stroke is
    what differs and blur takes it first). Among letters within :data:`NAME_MARGIN`
    of a cell's best, the sequence with the highest score + :data:`NAME_WEIGHT` x
    log-likelihood under letter-pair counts of ~25,000 European names wins (Viterbi).
    Fillers are never traded for letters, and a cell without a close rival keeps
    its letter, so a clearly printed rare pair stays as printed.
    """
    logp = _pair_logp()
    options: list[list[tuple[str, float]]] = []
    for cell, ch in zip(cells, read, strict=True):
        if ch not in _LETTERS:
            options.append([(ch, 0.0)])
            continue
        top = cell[ch]
        options.append(
            [(c, cell[c]) for c in _LETTERS if c in cell and cell[c] >= top - NAME_MARGIN]
        )
    if all(len(o) == 1 for o in options):
        return read
    # best[c] = (total score of the best path ending in c, that path)
    best: dict[str, tuple[float, str]] = {"<": (0.0, "")}
    for cands in options:
        step = {}
        for c, score in cands:
            prev, (total, path) = max(
                best.items(), key=lambda kv: kv[1][0] + NAME_WEIGHT * logp[kv[0], c]
            )
            step[c] = (total + NAME_WEIGHT * logp[prev, c] + score, path + c)
        best = step
    _, path = max((total + NAME_WEIGHT * logp[c, "<"], path) for c, (total, path) in best.items())
    return path


def layout(kind: MrzType) -> tuple[str, ...]:
    """Per-line strings of position classes (A/N/X/C/S, see ``_CLASSES``)."""
    return _classes(kind)


@cache
def _classes(kind: MrzType) -> tuple[str, ...]:
    """Each cell's class from its field's kind (a check digit: N, or C where it may be ``<``)."""
    spec = LAYOUTS[kind]
    cells = [["?"] * spec.width for _ in range(spec.lines)]
    for f in spec.fields:
        cells[f.line][f.start : f.end] = _KIND_CLASS[f.kind] * (f.end - f.start)
        if f.check is not None:
            cells[f.line][f.check] = "C" if f.may_be_empty or f.continues else "N"
    if spec.composite is not None:
        line, digit = spec.composite
        cells[line][digit] = "N"
    return tuple("".join(line) for line in cells)


def _best_letters(cells: Sequence[Mapping[str, float]]) -> str:
    """The best letter of each cell (the document code and state are letters)."""
    return "".join(max((c for c in cell if c in _LETTERS), key=cell.__getitem__, default="?")
                   for cell in cells)  # fmt: skip


def decode_scores(
    scores: Sequence[Sequence[Mapping[str, float]]], *, first_char: str = "", repair: bool = True
) -> list[str] | None:
    """MRZ lines from per-character match scores, each position limited to its class.

    A recogniser that scores every character of the MRZ alphabet in every cell (as
    template matching does) is most often wrong between look-alikes of different
    classes (O/0, B/8, S/5); the layout says which class each position holds, so the
    best character *of that class* is taken. ``first_char`` may force the
    document code's first letter (e.g. ``V`` to pick a visa layout).

    Args:
        scores: per line, per cell: character -> score (higher is better).
        first_char: unused unless given; the first line's first character.
        repair: let the check digits choose among near-tied characters
            (:func:`repair_with_check_digits`); the plain best reading otherwise.

    Returns:
        The lines, or None when the line count/widths fit no format.
    """
    widths = [len(line) for line in scores]
    first = first_char or (max(scores[0][0], key=lambda c: scores[0][0][c]) if scores else "")
    kind = _format_of(
        widths, first, lambda prefix: _best_letters(scores[0][: len(prefix)]) == prefix
    )
    if kind is None:
        return None
    lines = []
    for line_scores, classes in zip(scores, layout(kind), strict=True):
        chars = []
        for cell, cls in zip(line_scores, classes, strict=True):
            allowed = [c for c in _CLASSES[cls] if c in cell] or list(cell)
            best = max(allowed, key=lambda c: cell[c])
            # OCR-B's O and 0 (S and 3 or 5, B and 8) differ by a few pixels at scan
            # resolution; in document numbers and optional data digits are far more
            # common. A near-tied letter loses to the digit: a single wrong digit is
            # caught by the check digit (and repaired when the letter then fits),
            # while two letter-for-digit swaps can cancel out in the 7-3-1 sum.
            if cls == "X" and best.isalpha():
                digit = max("0123456789", key=lambda c: cell.get(c, -1.0))
                if digit in cell and (best == "O" or cell[digit] >= cell[best] - DIGIT_PRIOR):
                    best = digit
            chars.append(best)
        lines.append("".join(chars))
    _decode_states(kind, scores, lines)
    for f in LAYOUTS[kind].fields:
        if f.kind is FieldKind.NAME:
            li, start, end = f.line, f.start, f.end
            name = _decode_name(scores[li][start:end], lines[li][start:end])
            lines[li] = lines[li][:start] + name + lines[li][end:]
    if repair:
        return repair_with_check_digits(kind, lines, scores) or lines
    return lines


def _decode_states(
    kind: MrzType, scores: Sequence[Sequence[Mapping[str, float]]], lines: list[str]
) -> None:
    """Set the state fields (issuing state, nationality) of ``lines`` in place.

    They hold one of a known set of codes: the best-scoring code replaces the
    letters as read when it is a near tie (E/F, O/Q, I/T confusions in low-resolution
    scans otherwise give "CZF"), judged per field and per cell, so a code read
    clearly (``BDR`` on old German passports, ``SI<`` on old Slovenian cards) is kept
    even if not in the list. Nationality
    usually equals the issuing state: that code is preferred when it is close. A
    field printed in digits (Romanian cards' numeric nationality) stays digits when
    they clearly outscore every letter, rather than becoming the nearest code.
    """
    issuer = ""
    for f in LAYOUTS[kind].fields:
        if f.kind is FieldKind.STATE:
            li, start, end = f.line, f.start, f.end
            code = _state_code(scores[li][start:end], lines[li][start:end], issuer)
            lines[li] = lines[li][:start] + code + lines[li][end:]
            issuer = issuer or code


def _state_code(cells: Sequence[Mapping[str, float]], read: str, issuer: str) -> str:
    """One state field's code (see :func:`_decode_states`); ``issuer`` is "" for the first."""

    def total(code: str) -> float:
        return sum(cell.get(ch, -1.0) for ch, cell in zip(code, cells, strict=True))

    def close(code: str, margin: float = _STATE_CELL_MARGIN) -> bool:
        return all(
            cell.get(r, -1.0) - cell.get(c, -1.0) <= margin
            for c, r, cell in zip(code, read, cells, strict=True)
        )

    digits = "".join(max(_CLASSES["N"], key=lambda c: cell.get(c, -1.0)) for cell in cells)
    if total(digits) - total(read) > _DIGIT_STATE_MARGIN:
        return digits
    best_code = max((c for c in STATE_CODES if close(c)), key=total, default=None)
    margin = _STATE_MARGIN
    if (
        issuer
        and issuer != best_code
        and close(issuer, _SAME_STATE_CELL_MARGIN)
        and (best_code is None or total(best_code) - total(issuer) <= _SAME_STATE_BONUS)
    ):
        best_code, margin = issuer, _SAME_STATE_MARGIN
    if best_code is not None and total(read) - total(best_code) <= margin:
        return best_code
    return read


# --- check-digit constrained choice among near-tied characters ---------------------------

#: An alternative character is considered in a cell only when its score is within
#: this much of the cell's best (template correlation, 0-1). Wider margins let the
#: check digits pick among more look-alikes but raise the odds of a chance fit.
REPAIR_MARGIN = 0.08
#: At most this many cells of one check-digit field are changed.
_MAX_FIELD_CHANGES = 2
#: At most this many cells of the whole MRZ are changed.
_MAX_CHANGES = 3
#: No repair when more than this share of the covered cells are near ties.
_MAX_AMBIGUOUS_SHARE = 0.2
#: Valid variants kept per field when combining them under the composite digit.
_FIELD_OPTIONS = 4
#: Cost of any change, so that fewer changes win among equal scores.
_CHANGE_COST = 0.01
#: Margin under which a state-code-list entry replaces the code as read (sum over
#: the three cells; no cell may lose more than :data:`_STATE_CELL_MARGIN`).
_STATE_MARGIN = 0.25
_STATE_CELL_MARGIN = 0.12
#: How much lower (summed) the issuing state may score and still win the nationality,
#: and the wider margins against the letters as read that it is allowed (nationality
#: equals the issuer on nearly every passport and national ID card).
_SAME_STATE_BONUS = 0.15
_SAME_STATE_CELL_MARGIN = 0.2
_SAME_STATE_MARGIN = 0.35
#: How much better three digits must score than the letters to stay digits.
_DIGIT_STATE_MARGIN = 0.3

_Cell = tuple[int, int]


@dataclass(frozen=True, slots=True)
class CheckSpan:
    """One check digit: the cells it covers and where it is (line, index)."""

    name: str
    cells: tuple[_Cell, ...]
    digit: _Cell
    #: ICAO lets an empty optional field (TD3 personal number) carry ``<`` as its digit.
    may_be_empty: bool = False


def check_spans(kind: MrzType) -> tuple[tuple[CheckSpan, ...], CheckSpan | None]:
    """The per-field check digits of a format, and its composite digit (None for visas)."""
    return tuple(span for _, span in _field_checks(kind)), _composite_span(kind)


@cache
def _field_parts(kind: MrzType) -> Mapping[str, tuple[MrzField, ...]]:
    """Each field name of a format -> its parts, in table order."""
    parts: dict[str, tuple[MrzField, ...]] = {}
    for f in LAYOUTS[kind].fields:
        parts[f.name] = (*parts.get(f.name, ()), f)
    return MappingProxyType(parts)


@cache
def _composite_runs(kind: MrzType) -> tuple[tuple[int, int, int], ...]:
    """The composite digit's cells as (line, start, end) runs, in order."""
    span = _composite_span(kind)
    return _runs(span.cells) if span is not None else ()


@cache
def _field_checks(kind: MrzType) -> tuple[tuple[MrzField, CheckSpan], ...]:
    """Each field that has a check digit (its last part), with the digit's span."""
    spec = LAYOUTS[kind]
    out = []
    for f in spec.fields:
        if f.check is None:
            continue
        cells = tuple(c for part in _field_parts(kind)[f.name] for c in part.cells)
        span = CheckSpan(
            f.check_name or f.name, cells, (f.line, f.check), may_be_empty=f.may_be_empty
        )
        out.append((f, span))
    return tuple(out)


@cache
def _composite_span(kind: MrzType) -> CheckSpan | None:
    """The composite digit over its fields and their digits, in the order they come."""
    spec = LAYOUTS[kind]
    if spec.composite is None:
        return None
    cells: list[_Cell] = []
    for f in spec.fields:
        if f.name in spec.composite_fields:
            cells += f.cells if f.check is None else (*f.cells, (f.line, f.check))
    return CheckSpan("composite", tuple(cells), spec.composite)


def _span_ok(span: CheckSpan, chars: Mapping[_Cell, str]) -> bool:
    value = "".join(chars[c] for c in span.cells)
    digit = chars[span.digit]
    if span.may_be_empty and not value.strip("<") and digit in "<0":
        return True
    return _check_ok(value, digit)


def repair_with_check_digits(
    kind: MrzType,
    lines: Sequence[str],
    scores: Sequence[Sequence[Mapping[str, float]]],
    *,
    margin: float = REPAIR_MARGIN,
) -> list[str] | None:
    """Let the check digits choose among near-tied readings of the covered cells.

    A template recogniser ranks look-alikes (``3``/``8``, ``Z``/``2``, ``C``/``<``)
    by a hair on small scans. In every cell a check digit covers, characters of the
    position's class scoring within ``margin`` of the best are alternatives; for each
    field the cheapest variants (score lost, at most two cells changed) that satisfy
    its own digit are kept, then the cheapest combination that also satisfies the
    composite digit wins.

    Returns:
        The repaired lines, only when *every* check digit validates after the repair
        (the lines as given when they already do); None when no such combination
        exists, so an MRZ that is really invalid stays invalid.
    """
    composite = _composite_span(kind)
    classes = layout(kind)
    chars: dict[_Cell, str] = {
        (li, i): ch for li, line in enumerate(lines) for i, ch in enumerate(line)
    }
    # A long document number continues in the optional data: its digit moves and
    # only the composite digit covers it (parse_mrz checks it as read).
    fields = tuple(
        span
        for f, span in _field_checks(kind)
        if not (f.continues and _continues(lines[span.digit[0]], span.digit[1]))
    )

    def alternatives(cell: _Cell) -> list[tuple[str, float]]:
        li, i = cell
        scored = scores[li][i]
        current = chars[cell]
        if current not in scored:
            return []
        best = scored[current]
        allowed = _CLASSES[classes[li][i]]
        # Every change costs a little even when the alternative scored higher (the O/0
        # preference in alphanumeric fields), so an unchanged valid reading wins ties.
        out = [
            (c, max(0.0, best - s) + _CHANGE_COST)
            for c, s in scored.items()
            if c in allowed and c != current
        ]
        return sorted(((c, d) for c, d in out if d <= margin), key=lambda x: x[1])[:2]

    def variants(cells: Sequence[_Cell], max_changes: int) -> list[tuple[float, dict[_Cell, str]]]:
        ambiguous = [(cell, alternatives(cell)) for cell in cells]
        ambiguous = [(cell, alts) for cell, alts in ambiguous if alts]
        out: list[tuple[float, dict[_Cell, str]]] = [(0.0, {})]
        for n in range(1, max_changes + 1):
            for combo in itertools.combinations(ambiguous, n):
                for picks in itertools.product(*(alts for _, alts in combo)):
                    change = {cell: c for (cell, _), (c, _) in zip(combo, picks, strict=True)}
                    out.append((sum(d for _, d in picks), change))
        return out

    failing = [span for span in fields if not _span_ok(span, chars)]
    composite_fails = composite is not None and not _span_ok(composite, chars)
    if not failing and not composite_fails:
        return list(lines)
    # A reading where many covered cells are near ties is mostly guesswork: with that
    # many alternatives some combination satisfies every digit by chance.
    covered = {c for span in (*fields, *([composite] if composite else [])) for c in span.cells}
    ambiguous = sum(1 for c in covered if alternatives(c))
    if ambiguous > _MAX_AMBIGUOUS_SHARE * len(covered):
        return None
    # Only fields whose own digit fails are changed (a field that validates stays as
    # read), each to its cheapest few valid variants.
    field_options: list[list[tuple[float, dict[_Cell, str]]]] = []
    for span in failing:
        valid = [
            (cost, change)
            for cost, change in variants((*span.cells, span.digit), _MAX_FIELD_CHANGES)
            if _span_ok(span, {**chars, **change})
        ]
        if not valid:
            return None
        valid.sort(key=lambda v: v[0])
        field_options.append(valid[:_FIELD_OPTIONS])

    best: tuple[float, dict[_Cell, str]] | None = None
    in_fields = {c for span in fields for c in (*span.cells, span.digit)}
    rest = (
        [c for c in (*composite.cells, composite.digit) if c not in in_fields]
        if composite is not None
        else []
    )
    for rest_cost, rest_change in variants(rest, 1):
        for combo in itertools.product(*field_options):
            cost = rest_cost + sum(c for c, _ in combo)
            if best is not None and cost >= best[0]:
                continue
            change = dict(rest_change)
            for _, ch in combo:
                change.update(ch)
            if len(change) > _MAX_CHANGES:
                continue
            if composite is None or _span_ok(composite, {**chars, **change}):
                best = (cost, change)
    if best is None:
        return None
    repaired = [list(line) for line in lines]
    for (li, i), c in best[1].items():
        repaired[li][i] = c
    return ["".join(line) for line in repaired]
