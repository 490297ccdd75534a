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
import math
import re
import string
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from kyc.domain.application import DocumentType
from kyc.domain.labels import (
    LABELS,
    LABELS_RN_M,
    LICENCE_LABELS,
    MAX_LABEL_WORDS,
    VOCABULARY,
    WEAK,
    norm_label,
    rn_m,
)
from kyc.domain.records import DocumentField

# --- OCR label table --------------------------------------------------------------------

#: Printed labels (normalised words) -> AnalyzeID key (kyc.domain.labels).
_LABELS = LABELS
#: AAMVA card-design field numbers printed before labels ("4d DLN", "3 DOB").
_FIELD_NUMBER_RE = re.compile(r"^\d{1,2}[a-d]?$")
_NAME_KEYS = ("LAST_NAME", "FIRST_NAME", "MIDDLE_NAME")
_DATE_KEYS = ("DATE_OF_BIRTH", "DATE_OF_ISSUE", "EXPIRATION_DATE")
#: Month names and abbreviations of the languages passports print dates in (English,
#: French, Spanish, German, Italian, Dutch, Portuguese, Polish), folded to ASCII.
#: Looked up whole, then by their first four and three letters (see _month).
_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: ("JAN", "JANV", "JANVIER", "JANUARY", "JANUAR", "ENE", "ENERO", "GEN", "GENNAIO",
        "JANEIRO", "STY", "STYCZEN"),
    2: ("FEB", "FEBRUARY", "FEBRUAR", "FEV", "FEVR", "FEVRIER", "FEBRERO", "FEBBRAIO",
        "FEVEREIRO", "LUT", "LUTY"),
    3: ("MAR", "MARCH", "MARS", "MARZO", "MRZ", "MAERZ", "MARZ", "MRT", "MAART", "MARCO"),
    4: ("APR", "APRIL", "AVR", "AVRIL", "ABR", "ABRIL", "APRILE", "KWI", "KWIECIEN"),
    5: ("MAY", "MAI", "MAYO", "MAG", "MAGGIO", "MEI", "MAIO", "MAJ"),
    6: ("JUN", "JUNE", "JUIN", "JUNIO", "JUNI", "GIU", "GIUGNO", "JUNHO", "CZE", "CZERWIEC"),
    7: ("JUL", "JULY", "JUIL", "JUILLET", "JULIO", "JULI", "LUG", "LUGLIO", "JULHO", "LIP",
        "LIPIEC"),
    8: ("AUG", "AUGUST", "AOU", "AOUT", "AGO", "AGOSTO", "SIE", "SIERPIEN"),
    9: ("SEP", "SEPT", "SEPTEMBER", "SEPTEMBRE", "SEPTIEMBRE", "SET", "SETTEMBRE",
        "SETEMBRO", "WRZ", "WRZESIEN"),
    10: ("OCT", "OCTOBER", "OCTOBRE", "OCTUBRE", "OKT", "OKTOBER", "OTT", "OTTOBRE", "OUT",
         "OUTUBRO", "PAZ", "PAZDZIERNIK"),
    11: ("NOV", "NOVEMBER", "NOVEMBRE", "NOVIEMBRE", "NOVEMBRO", "LIS", "LISTOPAD"),
    12: ("DEC", "DECEMBER", "DECEMBRE", "DICIEMBRE", "DIC", "DEZ", "DEZEMBER", "DICEMBRE",
         "DEZEMBRO", "GRU", "GRUDZIEN"),
}  # fmt: skip
_MONTHS = {name: month for month, names in _MONTH_NAMES.items() for name in names}
_CITY_LINE_RE = re.compile(
    r"^(?P<city>[A-Z][A-Z .'\-]*?)\s*,?\s+(?P<state>[A-Z]{2})\s+(?P<zip>\d{5})(?:-?\d{4})?$"
)
_GLUED_RE = re.compile(r"^(DOB|EXP|ISS|DLN|DL|LN|FN)(?:(\d\S*)|[-:.\u2014](\S+))$", re.IGNORECASE)
# OCR digit confusions, applied inside date-like tokens only.
_DIGIT_FIX = str.maketrans({"O": "0", "o": "0", "D": "0", "I": "1", "l": "1", "|": "1",
                            "S": "5", "B": "8", "Z": "2"})  # fmt: skip


@dataclass(frozen=True, slots=True)
class OcrWord:
    """One recognised word: text, Tesseract confidence (0-100), line index.

    ``box`` is the word's bounding box (left, top, right, bottom) in the OCR'd
    image's pixels, when the recogniser gives one: with it a value printed below
    its label is found in the label's column (see extract_fields).
    """

    text: str
    confidence: float
    line: int
    box: tuple[int, int, int, int] | None = None


def _norm_label(text: str) -> str:
    return norm_label(text)


def _edit_distance_le1(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one edit."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


#: One-word labels by length, for the one-edit matches (see _match_label).
_FUZZY_ONE: dict[int, list[tuple[str, str | None]]] = {}
for _label, _key in LABELS.items():
    if len(_label) == 1 and (
        (_label[0] in LICENCE_LABELS and len(_label[0]) >= 3) or len(_label[0]) >= 6
    ):
        _FUZZY_ONE.setdefault(len(_label[0]), []).append((_label[0], _key))
#: Multi-word labels with one word (of five letters or more) left open, for labels
#: of which OCR misread one word: (words with "*" at the open place) -> (word, key).
_FUZZY_MULTI: dict[tuple[str, ...], list[tuple[str, str | None]]] = {}
for _label, _key in LABELS.items():
    for _k, _word in enumerate(_label):
        if len(_label) > 1 and len(_word) >= 5:
            _open = (*_label[:_k], "*", *_label[_k + 1 :])
            _FUZZY_MULTI.setdefault(_open, []).append((_word, _key))


def _match_label(
    words: list[OcrWord], i: int, *, fuzzy: bool = True
) -> tuple[int, str | None] | None:
    """Label starting at ``words[i]``: (number of words, key), or None.

    Case- and accent-insensitive (kyc.domain.labels.norm_label), longest label first.
    With ``fuzzy``, a word may differ from the label's by one edit: a one-word US
    licence label of three letters or more (``EXR`` -> EXP: Tesseract often misreads
    one letter of the small label type), another one-word label of six letters or
    more, or one word of five letters or more in a longer label. Never fuzzy where a
    value is due (``LN DOE`` is a name, not DOB), nor for month abbreviations (``SEP``
    is one edit from ``SEX``).
    """
    for n in range(min(MAX_LABEL_WORDS, len(words) - i), 0, -1):
        ws = words[i : i + n]
        if any(w.line != words[i].line or w.text == SEP for w in ws):
            continue
        cand = tuple(norm_label(w.text) for w in ws)
        if not all(cand):
            continue
        if cand in LABELS:
            return n, LABELS[cand]
        rn = tuple(rn_m(c) for c in cand)
        if rn in LABELS_RN_M:
            return n, LABELS_RN_M[rn]
        if not fuzzy or cand[0] in _MONTHS:
            continue
        if n == 1:
            word = cand[0]
            if len(word) >= 3:
                for size in (len(word) - 1, len(word), len(word) + 1):
                    for label, key in _FUZZY_ONE.get(size, ()):
                        if _edit_distance_le1(word, label):
                            return 1, key
            continue
        for k, word in enumerate(cand):
            if len(word) < 4:
                continue
            for label_word, key in _FUZZY_MULTI.get((*cand[:k], "*", *cand[k + 1 :]), ()):
                if _edit_distance_le1(word, label_word):
                    return n, key
    return None


#: A day, a month name (or names: ``AUG/AOUT``) and a four- or two-digit year.
_NAMED_DATE_RE = re.compile(
    r"(\d{1,2})\s*\.?\s*([A-Z]{3,11}(?:\s*/\s*[A-Z]{3,11})*)\.?\s*(\d{4}|\d{2})(?!\d)"
)


def _month(names: str) -> int | None:
    """The month of ``AUG``, ``AUGUST/AOUT``, ``CEP/AUG`` (first name recognised)."""
    for name in re.split(r"\s*/\s*", names):
        for candidate in (name, name[:4], name[:3]):
            if candidate in _MONTHS:
                return _MONTHS[candidate]
    return None


def _year(text: str, *, past: bool) -> int:
    """A printed year; two digits get a century (past only, for birth dates)."""
    year = int(text)
    if len(text) == 2:
        today = dt.date.today()
        if past:
            year += 2000 if 2000 + year <= today.year else 1900
        else:  # not in the future by more than 20 years
            year += 2000 if year <= (today.year % 100) + 20 else 1900
    return year


def _parse_date(text: str, *, month_first: bool, past: bool = False) -> dt.date | None:
    """A printed date (see the module doc for the day/month rule), or None.

    ``past``: a two-digit year is the latest one not in the future (a birth date).
    """
    t = unicodedata.normalize("NFKD", text.upper().strip())
    t = "".join(c for c in t if not unicodedata.combining(c))
    m = _NAMED_DATE_RE.search(t)
    if m:
        month = _month(m.group(2))
        if month is not None:
            return _safe_date(_year(m.group(3), past=past), month, int(m.group(1)))
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
    year = _year(year_text, past=past)
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
    """Upper-case NFC name: letters, spaces, hyphens and apostrophes only.

    Tesseract's English model reads a printed Ø as ``@`` (no such letter in its
    alphabet): between letters it is kept as Ø, which the cross-check spells OE.
    """
    text = re.sub(r"(?<=[^\W\d_])@|@(?=[^\W\d_])", "\u00d8", text)
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


# --- labelled values: labels, their groups and columns -------------------------------

#: A separator between the translations of one label ("Surname / Nom"), as a token.
SEP = "/"
#: Characters OCR gives for a printed slash between translations ("Surname!").
_SEP_CHARS = "/!|\\"
#: Punctuation that alone is no word ("=", "—", "~" are guilloche lines read as text).
_NOISE = frozenset(string.punctuation + "\u2013\u2014\u2018\u2019\u201c\u201d\u00ab\u00bb")
#: A gap wider than this many word heights separates columns of a page: a value is
#: never taken across it (same line), and it bounds a label's column (value below).
COLUMN_GAP = 2.5
#: A value printed below its label is at most this many label heights lower.
BELOW_GAP = 1.6


def _sub_word(w: OcrWord, text: str, start: int, length: int) -> OcrWord:
    """Part of a word (``text`` = w.text[start:start+length]) with its share of the box."""
    box = w.box
    if box is not None and w.text:
        left, top, right, bottom = box
        per = (right - left) / len(w.text)
        box = (round(left + per * start), top, round(left + per * (start + length)), bottom)
    return OcrWord(text, w.confidence, w.line, box)


def _tokens(line: list[OcrWord]) -> list[OcrWord]:
    """A line's words as label tokens: translations split at slashes, separators kept.

    ``PRIJMENI/SURNAME/NOM`` -> PRIJMENI, /, SURNAME, /, NOM (split only where a part
    is a label word: ``AUGUST/AOUT``, ``TKACHENKO/TKACHENKO`` and dates stay whole);
    ``Surname!`` -> Surname, / (a slash read as ``!``); a lone ``/``, ``|`` -> /.
    Words of punctuation only (``=``, ``—``) are OCR noise and dropped.
    """
    out: list[OcrWord] = []
    for w in line:
        text = w.text
        if all(c in _NOISE for c in text):
            if any(c in _SEP_CHARS for c in text):
                out.append(OcrWord(SEP, w.confidence, w.line, w.box))
            continue
        parts = text.split("/")
        if (
            len(parts) > 1
            and not any(c.isdigit() for c in text)
            and any(norm_label(p) in VOCABULARY for p in parts if p)
        ):
            offset = 0
            for k, part in enumerate(parts):
                if part and any(c.isalnum() for c in part):
                    out.append(_sub_word(w, part, offset, len(part)))
                if k < len(parts) - 1:
                    out.append(_sub_word(w, SEP, offset + len(part), 1))
                offset += len(part) + 1
            continue
        out.append(w)
        if len(text) > 1 and text[-1] in _SEP_CHARS and text[-2].isalpha():
            out.append(OcrWord(SEP, w.confidence, w.line, None))
    return out


@dataclass(slots=True)
class _Group:
    """One label with its translations on one line ("Surname / Nom / Apellidos")."""

    first: int  # token index of its first word (a translation before it included)
    last: int  # token index of its last word
    labels: list[tuple[tuple[str, ...], str | None]]  # recognised labels and their keys
    values: list[OcrWord]  # the words after it on its line (its value there)
    tail_unknown: bool = False  # ends with an unrecognised translation

    @property
    def key(self) -> str | None:
        """The field the group announces; None for no field or disagreeing labels."""
        strong = {key for lab, key in self.labels if lab not in _WEAK_LABELS} - {None}
        weak = {WEAK[lab[0]] for lab, _ in self.labels if lab in _WEAK_LABELS}
        keys = strong | (weak if strong else set())
        return next(iter(keys)) if len(keys) == 1 else None


_WEAK_LABELS = frozenset((w,) for w in WEAK)


@dataclass(slots=True)
class _Line:
    """One OCR line: its tokens, the label groups on it, the tokens that are labels."""

    tokens: list[OcrWord]
    groups: list[_Group]
    label_tokens: set[int]  # indexes of tokens that are (part of) a label
    orphans: list[int]  # tokens outside every group and every value

    @property
    def height(self) -> float:
        """Median word height (pixels), 0 without boxes."""
        heights = sorted(t.box[3] - t.box[1] for t in self.tokens if t.box is not None)
        return float(heights[len(heights) // 2]) if heights else 0.0

    @property
    def boxed(self) -> bool:
        """Whether every word has a box (columns can be told)."""
        return all(t.box is not None for t in self.tokens if t.text != SEP)


def _gap(a: OcrWord, b: OcrWord) -> float:
    """Horizontal gap from the end of ``a`` to the start of ``b`` (0 without boxes)."""
    if a.box is None or b.box is None:
        return 0.0
    return float(b.box[0] - a.box[2])


def _parse_line(words: list[OcrWord], *, fuzzy: bool) -> _Line:
    """Find the label groups of one line and the same-line value of each.

    A group is a label and its translations: labels joined by a separator, or
    labels of the same field next to each other ("Given names Nombres"); an
    unrecognised word joined to a label by a separator is a translation too (before
    it: "Прізвище/Surname", after it: "Surname / Nom" in a language the tables lack).
    Words after a group, up to the next group or a column gap, are its value.
    """
    tokens = _tokens(words)
    items: list[tuple[str, int, int, str | None]] = []  # kind, start, end, key
    i = 0
    while i < len(tokens):
        if tokens[i].text == SEP:
            items.append(("sep", i, i + 1, None))
            i += 1
            continue
        skip = 1 if _FIELD_NUMBER_RE.match(tokens[i].text) and i + 1 < len(tokens) else 0
        last = next((it for it in reversed(items) if it[0] != "sep"), None)
        value_due = last is not None and last[0] == "label" and last[3] is not None
        match = _match_label(tokens, i + skip, fuzzy=fuzzy and not value_due)
        if match is not None:
            n, key = match
            items.append(("label", i + skip, i + skip + n, key))
            i += skip + n
            continue
        items.append(("word", i, i + 1, None))
        i += 1

    groups: list[_Group] = []
    label_tokens: set[int] = set()
    orphans: list[int] = []
    current: _Group | None = None
    sep_before = False
    prefix: int | None = None
    height = _Line(tokens, [], set(), []).height
    for idx, (kind, start, end, key) in enumerate(items):
        if kind == "sep":
            sep_before = True
            continue
        if kind == "label":
            label = tuple(norm_label(t.text) for t in tokens[start:end])
            label_tokens.update(range(start, end))
            joins = (
                current is not None
                and not current.values
                and (sep_before or (key is not None and key == current.key))
            )
            if current is not None and joins:
                current.labels.append((label, key))
                current.last = end - 1
                current.tail_unknown = False
            else:
                current = _Group(
                    prefix if prefix is not None else start, end - 1, [(label, key)], []
                )
                groups.append(current)
            prefix, sep_before = None, False
            continue
        token = tokens[start]
        following = [it[0] for it in items[idx + 1 : idx + 3]]
        if current is not None and not current.values and sep_before:
            # "Surname / Nom": a word after a label and a slash is a translation.
            current.last = start
            current.tail_unknown = True
        elif following == ["sep", "label"]:
            prefix = start  # "Прізвище/Surname": a translation before the label
        elif current is not None and (
            height <= 0
            or _gap(current.values[-1] if current.values else tokens[current.last], token)
            <= COLUMN_GAP * height
        ):
            current.values.append(token)
        else:
            current = None  # a column gap: what follows belongs to no label here
            orphans.append(start)
        sep_before = False
    return _Line(tokens, groups, label_tokens, orphans)


def _extent(line: _Line, group: _Group) -> tuple[float, float] | None:
    """Left and right edge of a group's words (translations included), if boxed."""
    boxes = [t.box for t in line.tokens[group.first : group.last + 1] if t.box is not None]
    if not boxes:
        return None
    return float(min(b[0] for b in boxes)), float(max(b[2] for b in boxes))


def _column(line: _Line, group: _Group) -> tuple[float, float]:
    """The horizontal span below a label that holds its value.

    From the end of the nearest label group on its left to the start of the nearest
    one on its right; a word beyond a column gap (an unrecognised label of another
    column) bounds it too.
    """
    left, right = -math.inf, math.inf
    own = _extent(line, group)
    if own is None:
        return left, right
    x0, x1 = own
    for other in line.groups:
        extent = _extent(line, other) if other is not group else None
        if extent is None:
            continue
        if extent[1] <= x0:
            left = max(left, extent[1])
        elif extent[0] >= x1:
            right = min(right, extent[0])
    gap = COLUMN_GAP * line.height
    for k in line.orphans:
        box = line.tokens[k].box
        if box is None:
            continue
        if box[2] <= x0 and x0 - box[2] > gap:
            left = max(left, float(box[2]))
        elif box[0] >= x1 and box[0] - x1 > gap:
            right = min(right, float(box[0]))
    return left, right


def _below(lines: list[_Line], index: int, group: _Group) -> tuple[list[OcrWord], int] | None:
    """The value printed below a label with none after it on its line, and its line.

    Certain only when it is directly below (the next line, or the one after a line
    of translations: "Date of birth /" over "Date de naissance"), in the label's
    column, and holds no label itself. Without word boxes the column cannot be told:
    then only a label alone on its line takes the next line.
    """
    line = lines[index]
    if line.boxed:
        left, right = _column(line, group)
    elif len(line.groups) == 1 and not line.orphans:
        left, right = -math.inf, math.inf
    else:
        return None
    height = max(line.height, 1.0)
    # The label's own words (a tall glyph elsewhere on its line says nothing).
    own = [t.box for t in line.tokens[group.first : group.last + 1] if t.box is not None]
    top = min((b[1] for b in own), default=None)
    bottom = max((b[3] for b in own), default=None)
    key = group.key
    for nxt_index in range(index + 1, min(index + 4, len(lines))):
        nxt = lines[nxt_index]
        boxes = [t.box for t in nxt.tokens if t.box is not None]
        if top is not None and bottom is not None and boxes:
            if max(b[3] for b in boxes) <= top:
                continue  # a line above (OCR's reading order put the row above here)
            if min(b[1] for b in boxes) - bottom > BELOW_GAP * height:
                return None  # not directly below
        inside = [
            k
            for k, t in enumerate(nxt.tokens)
            if t.text != SEP and (t.box is None or left <= (t.box[0] + t.box[2]) / 2 < right)
        ]
        if not inside:
            return None
        labels = [k for k in inside if k in nxt.label_tokens]
        if labels and len(labels) == len(inside):
            # A line of translations of this label ("Date de naissance" under "Date
            # of birth /"), never another field's label.
            others = {g.key for g in nxt.groups if set(range(g.first, g.last + 1)) & set(inside)}
            if others - {key, None}:
                return None
            bottom = max((b[3] for b in boxes), default=bottom)
            continue
        if labels:
            return None
        return [nxt.tokens[k] for k in inside], nxt_index
    return None


def _labelled_values(
    ordered: list[list[OcrWord]],
) -> tuple[list[tuple[str, list[OcrWord]]], set[int]]:
    """Every value whose label is certain, and the lines they were read from.

    A value follows its label on the same line, or is directly below it (see
    _below). A label group whose labels disagree, or whose unrecognised translation
    might run into the value, gives nothing.
    """
    lines: list[_Line] = []
    value_due = False
    for words in ordered:
        line = _parse_line(words, fuzzy=not value_due)
        lines.append(line)
        value_due = any(not g.values and g.key is not None for g in line.groups)
    values: list[tuple[str, list[OcrWord]]] = []
    used: set[int] = set()
    for index, line in enumerate(lines):
        if not line.tokens:
            continue
        if line.groups:
            used.add(line.tokens[0].line)
        for group in line.groups:
            key = group.key
            if key is None:
                continue
            if group.values:
                if not group.tail_unknown:
                    values.append((key, group.values))
                continue
            found = _below(lines, index, group)
            if found is not None:
                values.append((key, found[0]))
                used.add(lines[found[1]].tokens[0].line)
    return values, used


def _name_words(words: list[OcrWord]) -> list[OcrWord] | None:
    """The words of a printed name, or None when they are not one.

    ``ТКАЧЕНКО/TKACHENKO`` (national spelling / Latin one, as Ukrainian pages print
    names) keeps its last part. Words mostly in lower case are not a name printed in
    capitals as documents print them, but label text or a signature: the value is
    then not certain and nothing is returned. A lone lower-case letter is a speck or
    an accent read as a letter, and is left out.
    """
    out = []
    for w in words:
        text = w.text
        if "/" in text:
            parts = [p for p in text.split("/") if _name_value(p)]
            if not parts:
                continue
            text = parts[-1]
        letters = [c for c in text if c.isalpha()]
        if len(letters) == 1 and letters[0].islower():
            continue  # an accent or speck read as a letter ("y INES" for INÉS)
        if len(letters) >= 2 and 2 * sum(c.islower() for c in letters) > len(letters):
            return None
        if _name_value(text):
            out.append(OcrWord(text, w.confidence, w.line, w.box))
    return out or None


def _joined_parts(words: list[OcrWord]) -> list[OcrWord]:
    """Name words with parts OCR split at an apostrophe or hyphen joined again.

    ``D'`` ``ARCY`` -> D'ARCY, ``JEAN-`` ``PIERRE`` -> JEAN-PIERRE: the first given
    name is the first word, and half of it is not the name.
    """
    out: list[OcrWord] = []
    for w in words:
        if out and out[-1].text[-1:] in "'\u2019-":
            prev = out.pop()
            w = OcrWord(prev.text + w.text, min(prev.confidence, w.confidence), w.line, prev.box)
        out.append(w)
    return out


def _number_words(words: list[OcrWord]) -> list[OcrWord]:
    """The document number among the words below its label.

    Below "Type / Code / Passport No." a narrow column may also catch the type and
    issuing state codes (``P UTO L898902C3``): when one word looks like a number (six
    characters or more, a digit among them) and the others are codes of one to three
    letters, the number alone is kept.
    """
    bare = [re.sub(r"\W", "", w.text) for w in words]
    long_ = [w for w, b in zip(words, bare, strict=True) if len(b) >= 6 and re.search(r"\d", b)]
    codes = [w for w, b in zip(words, bare, strict=True) if b.isalpha() and len(b) <= 3]
    if len(long_) == 1 and len(long_) + len(codes) == len(words):
        return long_
    return words


@dataclass(frozen=True, slots=True)
class PrintedRead:
    """What the printed text gave: fields, and which were inferred without a label.

    ``inferred`` names the fields whose label was not recognised: dates assigned by
    the order of life events, a number taken for its shape. They serve as fields
    when nothing better is read, but are never compared with a machine-readable
    zone or the form as evidence (their association is not certain).
    """

    fields: dict[str, DocumentField]
    inferred: frozenset[str]

    @property
    def labelled(self) -> dict[str, DocumentField]:
        """The fields read beside or below their own label (certain association)."""
        return {k: v for k, v in self.fields.items() if k not in self.inferred}


def extract_fields(words: list[OcrWord], *, month_first: bool) -> dict[str, DocumentField]:
    """Turn OCR words into AnalyzeID fields (pure; see the module doc for the rules).

    Args:
        words: recognised words in reading order, with their line index.
        month_first: read numeric ``a/b/yyyy`` dates as month/day.

    Returns:
        AnalyzeID key -> field (``source="ocr"``, confidence = mean word confidence).
    """
    return read_printed(words, month_first=month_first).fields


def read_printed(
    words: list[OcrWord], *, month_first: bool, licence_labels: bool = True
) -> PrintedRead:
    """Turn OCR words into AnalyzeID fields, telling labelled ones from inferred ones.

    Args:
        words: recognised words in reading order, with their line index (and box).
        month_first: read numeric ``a/b/yyyy`` dates as month/day.
        licence_labels: split US card labels glued to their value (``DOB12/19/1972``,
            ``DL-N571``). Off for passports, whose numbers may start with those
            letters (``DL5650349`` is a number, not DL + 5650349).

    Returns:
        The fields (``source="ocr"``, confidence = mean word confidence) and the keys
        inferred without a label (see PrintedRead).
    """
    lines: dict[int, list[OcrWord]] = {}
    for w in words:
        if not w.text.strip():
            continue
        # A label glued to its value by a narrow gap ("DOB12/19/1972", "DL-N571"):
        # split where the value starts with a digit or after a dash/colon (never
        # ambiguous with a name; "DLN571" stays whole: DL+N571 or DLN+571?).
        glued = _GLUED_RE.match(w.text) if licence_labels else None
        parts = (
            [glued.group(1), glued.group(2) or glued.group(3)] if glued else _split_dashes(w.text)
        )
        offset = 0
        for part in parts:
            at = max(w.text.find(part, offset), 0)
            lines.setdefault(w.line, []).append(_sub_word(w, part, at, len(part)))
            offset = at + len(part)
    ordered = [lines[k] for k in sorted(lines)]

    # 1. Labelled values: LABEL value on one line, or a label over its value
    #    (passport layout), only where the label's value is certain.
    values, labelled_lines = _labelled_values(ordered)

    fields: dict[str, DocumentField] = {}
    unassigned_dates: list[tuple[dt.date, list[OcrWord]]] = []
    for key, ws in values:
        text = " ".join(w.text for w in ws).strip()
        conf = _mean(w.confidence for w in ws)
        if key in _DATE_KEYS:
            date = _parse_date(text, month_first=month_first, past=key == "DATE_OF_BIRTH")
            if date is not None and key not in fields:
                fields[key] = DocumentField(text=text, value=date.isoformat(), confidence=conf)
            continue
        if key in fields:
            continue
        if key in _NAME_KEYS:
            named = _name_words(ws)
            if named is None:
                continue
            ws = named
            text = " ".join(w.text for w in ws)
            conf = _mean(w.confidence for w in ws)
        if key == "FIRST_NAME":
            first, *rest = _joined_parts(ws)
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
            ws = _number_words(ws)
            text = " ".join(w.text for w in ws)
            conf = _mean(w.confidence for w in ws)
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
    inferred: set[str] = set()
    for key, (date, line) in pairs:
        inferred.add(key)
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
            inferred.add("DOCUMENT_NUMBER")
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
    return PrintedRead(fields, frozenset(inferred))


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
