"""Printed-text field parser: recognised OCR words -> AnalyzeID fields (pure).

The local document reader OCRs the printed front of a document (Tesseract, in
:mod:`kyc.engines.document_local`) and hands the words here: printed ``LABEL value``
pairs become AnalyzeID keys, misread labels are recovered by edit distance and by
layout, and the document type (``ID_TYPE``) is told from the text. No I/O, no engine
library: words in, :class:`~kyc.domain.records.DocumentField` values out.

OCR date rule: numeric dates with ``/`` or ``-`` are read month-first (MM/DD/YYYY)
on driving licences and on any document showing US markers (``USA``, a
``CITY, ST 12345`` address line); day-first (DD/MM/YYYY) on passports and ID cards
without such markers (see dates_month_first). ``DD.MM.YYYY`` is always day-first,
``YYYY-MM-DD`` and ``DD MMM YYYY`` are unambiguous. When the preferred order gives no
valid date and the other one does (``31/12/1985`` on a US card), the valid one is
taken. Dates whose label was not recognised are assigned by order: birth < issue <
expiry.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from kyc.domain.application import DocumentType
from kyc.domain.records import DocumentField

# --- OCR label table --------------------------------------------------------------------

#: Printed labels (upper-case words) -> AnalyzeID key. ``None`` marks labels whose
#: value is not an AnalyzeID field: they only end the previous value.
_LABELS: dict[tuple[str, ...], str | None] = {
    ("DL",): "DOCUMENT_NUMBER",
    ("DLN",): "DOCUMENT_NUMBER",
    ("DL#",): "DOCUMENT_NUMBER",
    ("LIC",): "DOCUMENT_NUMBER",
    ("LIC#",): "DOCUMENT_NUMBER",
    ("LIC", "NO"): "DOCUMENT_NUMBER",
    ("LICENSE", "NO"): "DOCUMENT_NUMBER",
    ("ID", "NO"): "DOCUMENT_NUMBER",
    ("IDN",): "DOCUMENT_NUMBER",
    ("DOCUMENT", "NO"): "DOCUMENT_NUMBER",
    ("DOCUMENT", "NUMBER"): "DOCUMENT_NUMBER",
    ("PASSPORT", "NO"): "DOCUMENT_NUMBER",
    ("EXP",): "EXPIRATION_DATE",
    ("EXPIRES",): "EXPIRATION_DATE",
    ("EXPIRY",): "EXPIRATION_DATE",
    ("DATE", "OF", "EXPIRY"): "EXPIRATION_DATE",
    ("EXPIRATION", "DATE"): "EXPIRATION_DATE",
    ("ISS",): "DATE_OF_ISSUE",
    ("ISSUED",): "DATE_OF_ISSUE",
    ("ISSUE", "DATE"): "DATE_OF_ISSUE",
    ("DATE", "OF", "ISSUE"): "DATE_OF_ISSUE",
    ("DOB",): "DATE_OF_BIRTH",
    ("BIRTH", "DATE"): "DATE_OF_BIRTH",
    ("DATE", "OF", "BIRTH"): "DATE_OF_BIRTH",
    ("LN",): "LAST_NAME",
    ("LAST", "NAME"): "LAST_NAME",
    ("SURNAME",): "LAST_NAME",
    ("FAMILY", "NAME"): "LAST_NAME",
    ("FN",): "FIRST_NAME",
    ("FIRST", "NAME"): "FIRST_NAME",
    ("GIVEN", "NAMES"): "FIRST_NAME",
    ("GIVEN", "NAME"): "FIRST_NAME",
    ("CLASS",): "CLASS",
    ("RSTR",): "RESTRICTIONS",
    ("RESTR",): "RESTRICTIONS",
    ("RESTRICTIONS",): "RESTRICTIONS",
    ("END",): "ENDORSEMENTS",
    ("ENDORSEMENTS",): "ENDORSEMENTS",
    ("SEX",): None,
    ("HGT",): None,
    ("WGT",): None,
    ("EYES",): None,
    ("HAIR",): None,
    ("DD",): None,
    ("NATIONALITY",): None,
    ("PLACE", "OF", "BIRTH"): "PLACE_OF_BIRTH",
}
_MAX_LABEL_WORDS = max(len(k) for k in _LABELS)
#: AAMVA card-design field numbers printed before labels ("4d DLN", "3 DOB").
_FIELD_NUMBER_RE = re.compile(r"^\d{1,2}[a-d]?$")
_NAME_KEYS = ("LAST_NAME", "FIRST_NAME", "MIDDLE_NAME")
_DATE_KEYS = ("DATE_OF_BIRTH", "DATE_OF_ISSUE", "EXPIRATION_DATE")
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}
_CITY_LINE_RE = re.compile(
    r"^(?P<city>[A-Z][A-Z .'\-]*?)\s*,?\s+(?P<state>[A-Z]{2})\s+(?P<zip>\d{5})(?:-?\d{4})?$"
)
_GLUED_RE = re.compile(r"^(DOB|EXP|ISS|DLN|DL|LN|FN)(?:(\d\S*)|[-:.\u2014](\S+))$", re.IGNORECASE)
# OCR digit confusions, applied inside date-like tokens only.
_DIGIT_FIX = str.maketrans({"O": "0", "o": "0", "D": "0", "I": "1", "l": "1", "|": "1",
                            "S": "5", "B": "8", "Z": "2"})  # fmt: skip


@dataclass(frozen=True, slots=True)
class OcrWord:
    """One recognised word: text, Tesseract confidence (0-100), line index."""

    text: str
    confidence: float
    line: int


def _norm_label(text: str) -> str:
    return text.strip(":.;,").upper()


def _edit_distance_le1(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one edit."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _match_label(
    words: list[OcrWord], i: int, *, fuzzy: bool = True
) -> tuple[int, str | None] | None:
    """Label starting at ``words[i]``: (number of words, key), or None.

    Case-insensitive. With ``fuzzy``, a one-word label of three letters or more may
    differ by one edit (``EXR`` -> EXP): Tesseract often misreads one letter of the
    small label type. Never fuzzy where a value is due: ``LN DOE`` is a name, not DOB;
    nor for month abbreviations (``SEP`` is one edit from ``SEX``).
    """
    for n in range(min(_MAX_LABEL_WORDS, len(words) - i), 0, -1):
        cand = tuple(_norm_label(w.text) for w in words[i : i + n])
        if any(w.line != words[i].line for w in words[i : i + n]):
            continue
        if cand in _LABELS:
            return n, _LABELS[cand]
        # Never a month name: "12 SEP 1962" is a date, not "12 SEX ...".
        if fuzzy and n == 1 and len(cand[0]) >= 3 and cand[0] not in _MONTHS:
            for label, key in _LABELS.items():
                if len(label) == 1 and len(label[0]) >= 3 and _edit_distance_le1(cand[0], label[0]):
                    return 1, key
    return None


def _parse_date(text: str, *, month_first: bool) -> dt.date | None:
    """A printed date (see the module doc for the day/month rule), or None."""
    t = text.upper().strip()
    m = re.search(r"(\d{1,2})\s*([A-Z]{3})[A-Z/ ]*?\s*(\d{4})", t)
    if m and m.group(2) in _MONTHS:
        return _safe_date(int(m.group(3)), _MONTHS[m.group(2)], int(m.group(1)))
    fixed = re.sub(
        r"[0-9OoDIl|SBZ]+(?:[/.\-][0-9OoDIl|SBZ]+)+", lambda g: g.group().translate(_DIGIT_FIX), t
    )
    m = re.search(r"(\d{4})-(\d{2})-(\d{2})", fixed)
    if m:
        return _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = re.search(r"(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?!\d)", fixed)
    if not m:
        return None
    a, sep, b, year_text = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
    year = int(year_text)
    if len(year_text) == 2:  # two-digit years: not in the future by more than 20 years
        year += 2000 if year <= (dt.date.today().year % 100) + 20 else 1900
    first = month_first and sep != "."
    orders = [(a, b), (b, a)] if first else [(b, a), (a, b)]
    for month, day in orders:
        date = _safe_date(year, month, day)
        if date is not None:
            return date
    return None


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return None
    return date if 1900 <= date.year <= 2200 else None


def _mean(values: Iterable[float]) -> float:
    vals = list(values)
    return max(0.0, min(100.0, sum(vals) / len(vals))) if vals else 0.0


def _name_value(text: str) -> str:
    """Upper-case NFC name: letters, spaces, hyphens and apostrophes only."""
    cleaned = re.sub(r"[^\w\s'\-]|[\d_]", "", unicodedata.normalize("NFC", text))
    return re.sub(r"\s+", " ", cleaned).strip(" -'").upper()


#: One-word labels, for splitting words that Tesseract glued across dashes.
_ONE_WORD_LABELS = frozenset(k[0] for k in _LABELS if len(k) == 1)
_DASHES_RE = re.compile(r"[-\u2013\u2014_]+")


def _split_dashes(text: str) -> list[str]:
    """``SEX-F—CLASS-C`` -> SEX, F, CLASS, C; other words stay whole.

    Over a background pattern Tesseract reads the gaps of a ``SEX F  CLASS C`` line
    as dashes and returns one word. It is split only when a part is a label: exact,
    or one edit from a label of five letters or more (``GLASS``), never a short
    near-miss, so hyphenated names (``ANNE-LIS``: LIS is one edit from LIC), dates
    and numbers stay whole.
    """
    parts = [p for p in _DASHES_RE.split(text) if p]
    if len(parts) < 2:
        return [text]
    for part in parts:
        label = _norm_label(part)
        if label in _ONE_WORD_LABELS or (
            len(label) >= 5
            and any(len(x) >= 5 and _edit_distance_le1(label, x) for x in _ONE_WORD_LABELS)
        ):
            return parts
    return [text]


#: Look-alikes of licence class letters: the Euro sign is a C crossed by the
#: background's guilloche lines (no licence class is a currency sign).
_CLASS_FIX = str.maketrans({"\u20ac": "C"})


#: Driver licence number formats of some US issuers, as (letters, fewest digits, most
#: digits): the number is that many letters followed by that many digits. Source:
#: the state formats table published by NTSI (ntsi.com/drivers-license-format),
#: limited to states whose every format has this shape. Used only to undo an OCR
#: look-alike swap (a digit read for a letter) when the read fits none of its
#: state's formats (see repair_licence_number); an unknown state or an ambiguous
#: repair keeps the read.
DL_NUMBER_FORMATS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "AZ": ((1, 8, 8), (0, 9, 9)),
    "CA": ((1, 7, 7),),
    "CO": ((0, 9, 9), (1, 3, 6), (2, 2, 5)),
    "CT": ((0, 9, 9),),
    "FL": ((1, 12, 12),),
    "HI": ((1, 8, 8), (0, 9, 9)),
    "IL": ((1, 11, 12),),
    "MA": ((1, 8, 8), (0, 9, 9)),
    "MD": ((1, 12, 12),),
    "MI": ((1, 10, 10), (1, 12, 12)),
    "MN": ((1, 12, 12),),
    "NJ": ((1, 14, 14),),
    "NY": ((1, 7, 7), (1, 18, 18), (0, 8, 9), (0, 16, 16)),
    "PA": ((0, 8, 8),),
    "TX": ((0, 7, 8),),
    "WI": ((1, 13, 13),),
}
#: Digit look-alikes of letters, where a format wants a letter (only digits with one
#: look-alike: a 0 could be O, D or Q). The other way (a letter where digits are
#: due) is not repaired: a table of formats is never complete (issuers add formats),
#: and a letter-prefixed number is the common shape a table may miss.
_AS_LETTER = {"1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"}


def _fits(number: str, letters: int, low: int, high: int) -> bool:
    head, tail = number[:letters], number[letters:]
    return (head.isalpha() or not head) and tail.isdigit() and low <= len(tail) <= high


def repair_licence_number(number: str, state: str) -> str:
    """The licence number with a digit read for a letter undone, where its state's format says so.

    ``13736357`` on a California licence (one letter + seven digits) is
    ``I3736357``. The read is kept when it fits one of the state's formats, when the
    state's formats are unknown (DL_NUMBER_FORMATS), or when no single repair fits.

    Args:
        number: the number as read (spaces and dashes are ignored for the fit).
        state: the issuing state's two-letter code.

    Returns:
        The repaired number (separators kept), or ``number`` unchanged.
    """
    formats = DL_NUMBER_FORMATS.get(state.upper())
    compact = re.sub(r"[\s\-]", "", number.upper())
    if not formats or not compact.isalnum() or any(_fits(compact, *f) for f in formats):
        return number
    repairs = set()
    for letters, low, high in formats:
        if not low <= len(compact) - letters <= high:
            continue
        head = "".join(c if c.isalpha() else _AS_LETTER.get(c, c) for c in compact[:letters])
        if _fits(head + compact[letters:], letters, low, high):
            repairs.add(head + compact[letters:])
    if len(repairs) != 1:
        return number
    # Keep the printed separators ("S123-456-78-910-0"): swap characters in place.
    fixed = iter(repairs.pop())
    return "".join(next(fixed) if c.isalnum() else c for c in number.upper())


def extract_fields(words: list[OcrWord], *, month_first: bool) -> dict[str, DocumentField]:
    """Turn OCR words into AnalyzeID fields (pure; see the module doc for the rules).

    Args:
        words: recognised words in reading order, with their line index.
        month_first: read numeric ``a/b/yyyy`` dates as month/day.

    Returns:
        AnalyzeID key -> field (``source="ocr"``, confidence = mean word confidence).
    """
    lines: dict[int, list[OcrWord]] = {}
    for w in words:
        if not w.text.strip():
            continue
        # A label glued to its value by a narrow gap ("DOB12/19/1972", "DL-N571"):
        # split where the value starts with a digit or after a dash/colon (never
        # ambiguous with a name; "DLN571" stays whole: DL+N571 or DLN+571?).
        glued = _GLUED_RE.match(w.text)
        parts = (
            [glued.group(1), glued.group(2) or glued.group(3)] if glued else _split_dashes(w.text)
        )
        for part in parts:
            lines.setdefault(w.line, []).append(OcrWord(part, w.confidence, w.line))
    ordered = [lines[k] for k in sorted(lines)]

    # 1. Labelled values: LABEL value [LABEL value ...] per line; a label alone on its
    #    line takes the next line as its value (passport layout).
    values: list[tuple[str, list[OcrWord]]] = []
    labelled_lines: set[int] = set()
    pending: str | None = None
    for line in ordered:
        i = 0
        current: tuple[str | None, list[OcrWord]] | None = None
        found_label = False
        while i < len(line):
            skip = 1 if _FIELD_NUMBER_RE.match(line[i].text) and i + 1 < len(line) else 0
            value_due = (current is not None and current[0] is not None and not current[1]) or (
                current is None and pending is not None
            )
            match = _match_label(line, i + skip, fuzzy=not value_due)
            if match is not None:
                if current is not None and current[0] and current[1]:
                    values.append((current[0], current[1]))
                n, key = match
                current = (key, [])
                found_label = True
                i += skip + n
                continue
            if current is not None:
                current[1].append(line[i])
            elif pending is not None:
                current = (pending, [line[i]])
                pending = None
            i += 1
        if found_label:
            labelled_lines.add(line[0].line)
        if current is not None and current[0]:
            if current[1]:
                values.append((current[0], current[1]))
            elif found_label:
                pending = current[0]

    fields: dict[str, DocumentField] = {}
    unassigned_dates: list[tuple[dt.date, list[OcrWord]]] = []
    for key, ws in values:
        text = " ".join(w.text for w in ws).strip()
        conf = _mean(w.confidence for w in ws)
        if key in _DATE_KEYS:
            date = _parse_date(text, month_first=month_first)
            if date is not None and key not in fields:
                fields[key] = DocumentField(text=text, value=date.isoformat(), confidence=conf)
            continue
        if key in fields:
            continue
        if key == "FIRST_NAME":
            first, *rest = [w for w in ws if _name_value(w.text)] or [ws[0]]
            fields["FIRST_NAME"] = DocumentField(
                text=first.text, value=_name_value(first.text), confidence=first.confidence
            )
            if rest:
                middle = " ".join(w.text for w in rest)
                fields["MIDDLE_NAME"] = DocumentField(
                    text=middle,
                    value=_name_value(middle),
                    confidence=_mean(w.confidence for w in rest),
                )
        elif key == "LAST_NAME":
            fields[key] = DocumentField(text=text, value=_name_value(text), confidence=conf)
        elif key == "DOCUMENT_NUMBER":
            # Tesseract reads a printed S as "$" (SU3004583 -> $U3004583); dropped as a
            # separator it made genuine passports disagree with their MRZ.
            value = re.sub(r"[^A-Z0-9\- ]", "", text.upper().replace("$", "S")).strip(" -")
            if value and re.search(r"\d", value):
                fields[key] = DocumentField(text=text, value=value, confidence=conf)
        else:
            value = text.upper().strip(" .:;,")
            if key == "CLASS":
                value = value.translate(_CLASS_FIX)
                # A class is a code of a few letters ("C", "CM", "A1"): anything longer
                # is the next line's text taken for a missing value.
                if not re.fullmatch(r"[A-Z0-9]{1,3}(?: [A-Z0-9]{1,3})?", value):
                    continue
            if value:
                fields[key] = DocumentField(text=text, value=value, confidence=conf)

    # 2. Dates next to unknown labels (misread label type): by order of life events.
    for line in ordered:
        if line[0].line in labelled_lines:
            continue
        text = " ".join(w.text for w in line)
        if re.search(r"\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}", text):
            date = _parse_date(text, month_first=month_first)
            if date is not None:
                unassigned_dates.append((date, line))
    free = [k for k in _DATE_KEYS if k not in fields]  # in life order: birth, issue, expiry
    unassigned_dates.sort(key=lambda d: d[0])
    pairs: list[tuple[str, tuple[dt.date, list[OcrWord]]]] = []
    if unassigned_dates and len(unassigned_dates) == len(free):
        pairs = list(zip(free, unassigned_dates, strict=True))
    elif unassigned_dates and free == ["DATE_OF_BIRTH"]:
        pairs = [("DATE_OF_BIRTH", unassigned_dates[0])]
    elif unassigned_dates and free == ["EXPIRATION_DATE"]:
        pairs = [("EXPIRATION_DATE", unassigned_dates[-1])]
    for key, (date, line) in pairs:
        digits = [w for w in line if re.search(r"\d", w.text)]
        fields[key] = DocumentField(
            text=" ".join(w.text for w in digits),
            value=date.isoformat(),
            confidence=_mean(w.confidence for w in digits),
        )

    # 3. A document number whose label was misread: the one token on an unlabelled
    #    line that mixes letters and digits like licence numbers do ("D1234567").
    #    Also "pL T0987 1234": a short unknown label, then the number split in two.
    if "DOCUMENT_NUMBER" not in fields:
        number_re = re.compile(r"(?=.*[A-Z])(?=(?:.*\d){5})[A-Z0-9\-]{6,16}")
        candidates: list[list[OcrWord]] = []
        for line in ordered:
            if line[0].line in labelled_lines:
                continue
            candidates += [[w] for w in line if number_re.fullmatch(w.text.upper())]
            rest = line[1:]
            joined = "".join(w.text for w in rest).upper()
            if len(line[0].text) <= 3 and len(rest) > 1 and number_re.fullmatch(joined):
                candidates.append(rest)
        if len(candidates) == 1:
            ws = candidates[0]
            text = " ".join(w.text for w in ws)
            fields["DOCUMENT_NUMBER"] = DocumentField(
                text=text,
                value="".join(w.text for w in ws).upper(),
                confidence=_mean(w.confidence for w in ws),
            )

    # 4. Address: "CITY, ST 12345" and the unlabelled street line above it.
    for idx, line in enumerate(ordered):
        text = " ".join(w.text for w in line).strip()
        m = _CITY_LINE_RE.match(text.upper())
        if m is None or line[0].line in labelled_lines:
            continue
        conf = _mean(w.confidence for w in line)
        city = m.group("city").strip(" .,")
        fields.setdefault("CITY_IN_ADDRESS", DocumentField(text=city, value=city, confidence=conf))
        fields.setdefault(
            "STATE_IN_ADDRESS",
            DocumentField(text=m.group("state"), value=m.group("state"), confidence=conf),
        )
        zip_text = text.split()[-1]
        fields.setdefault(
            "ZIP_CODE_IN_ADDRESS",
            DocumentField(text=zip_text, value=m.group("zip"), confidence=conf),
        )
        if idx > 0 and ordered[idx - 1][0].line not in labelled_lines:
            street_words = ordered[idx - 1]
            street = " ".join(w.text for w in street_words).strip()
            if re.match(r"^\d+\s+\S", street):
                fields.setdefault(
                    "ADDRESS",
                    DocumentField(
                        text=street,
                        value=re.sub(r"\s+", " ", street).upper(),
                        confidence=_mean(w.confidence for w in street_words),
                    ),
                )
        break

    # 5. A US licence number that fits none of its state's formats: look-alikes.
    #    The state is the address's: a licence carries its holder's address in the
    #    issuing state (the header's state name is light on dark, not OCR'd).
    number, state = fields.get("DOCUMENT_NUMBER"), fields.get("STATE_IN_ADDRESS")
    if number is not None and state is not None:
        repaired = repair_licence_number(number.value, state.value)
        if repaired != number.value:
            fields["DOCUMENT_NUMBER"] = DocumentField(
                text=number.text, value=repaired, confidence=number.confidence
            )

    full_text = " ".join(w.text for w in words).upper()
    if re.search(r"DRIVER'?S? LICEN[CS]E|DRIVING LICEN[CS]E", full_text):
        fields.setdefault("ID_TYPE", DocumentField("DRIVER LICENSE", "DRIVER LICENSE", 90.0))
    elif re.search(r"IDENTIFICATION CARD|\bID CARD\b", full_text):
        fields.setdefault("ID_TYPE", DocumentField("ID CARD", "ID CARD", 90.0))
    elif "PASSPORT" in full_text:
        fields.setdefault("ID_TYPE", DocumentField("PASSPORT", "PASSPORT", 90.0))
    return fields


#: US markers in a document's text: the country, or a ``CITY, ST 12345`` address.
_US_MARKERS_RE = re.compile(r"\bUSA\b|UNITED STATES|, ?[A-Z]{2} \d{5}\b")


def dates_month_first(words: Iterable[OcrWord], document_type: DocumentType | None) -> bool:
    """Whether the document's numeric dates read month-first (see the module doc).

    Args:
        words: the words recognised on the document.
        document_type: the applicant's claim (passports and ID cards are day-first
            unless the text shows US markers).

    Returns:
        True for month/day (licences, US documents), False for day/month.
    """
    text = " ".join(w.text for w in words).upper()
    us_markers = bool(_US_MARKERS_RE.search(text))
    day_first_type = document_type in (DocumentType.PASSPORT, DocumentType.ID_CARD)
    return not day_first_type or us_markers
