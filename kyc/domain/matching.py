"""Form-vs-document matching of names, dates and document numbers (pure functions).

Documents print names in upper case, without accents (AAMVA barcodes and passport
MRZs are ASCII), sometimes without the middle name, and with hyphens or apostrophes
that people type differently on forms. Matching therefore compares *normalised*
tokens and reports how the two differ, so that the decision rules can tell a
harmless variant from a different name.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from enum import StrEnum

from kyc.domain.transliteration import same_name

#: Letters that NFKD does not decompose into ASCII + combining mark (their ASCII
#: fold; kyc.domain.transliteration has the ICAO 9303 spellings, Ø -> OE).
SPECIAL_FOLDS = str.maketrans(
    {
        "ß": "SS",
        "Æ": "AE",
        "æ": "AE",
        "Ø": "O",
        "ø": "O",
        "Œ": "OE",
        "œ": "OE",
        "Ł": "L",
        "ł": "L",
        "Đ": "D",
        "đ": "D",
        "Þ": "TH",
        "þ": "TH",
        "ı": "I",
    }
)
_NON_LETTERS = re.compile(r"[^A-Z ]+")


def fold(text: str) -> str:
    """Upper-case ASCII form of a name: accents removed, punctuation to spaces.

    >>> fold("José  O'Neil-Smith")
    'JOSE O NEIL SMITH'
    """
    text = text.translate(SPECIAL_FOLDS)
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    cleaned = _NON_LETTERS.sub(" ", ascii_only.upper())
    return " ".join(cleaned.split())


def tokens(text: str | None) -> tuple[str, ...]:
    """Folded name tokens (empty tuple for None or blank)."""
    return tuple(fold(text).split()) if text else ()


def _raw_tokens(text: str | None) -> list[str]:
    """Name parts as written (diacritics kept): split at spaces, hyphens, commas."""
    if not text:
        return []
    return [t for t in re.split(r"[\s,\-\u2010-\u2014<]+", re.sub(r"['\u2019`]", "", text)) if t]


def same_written_name(a: str, b: str) -> bool:
    """Whether two names are one: after folding, or under ICAO 9303 transliteration.

    ``Müller`` = ``MULLER`` (folded) = ``MUELLER`` (the MRZ's spelling); ``O'Neill`` =
    ``ONEILL``; ``Østergård`` = ``OSTERGARD`` = ``OESTERGAARD``. Separators are
    ignored (``Smith-Jones`` = ``SMITH JONES``).
    """
    return "".join(tokens(a)) == "".join(tokens(b)) or same_name(a, b)


class NameMatch(StrEnum):
    """How a document name relates to the form's name."""

    EXACT = "EXACT"  # same tokens after folding (case, accents, punctuation)
    VARIANT = "VARIANT"  # same person plausibly: middle name missing/initial, joined
    MISMATCH = "MISMATCH"


@dataclass(frozen=True, slots=True)
class NameComparison:
    """Result of comparing the form's name with the document's."""

    outcome: NameMatch
    score: float  # 0-1 similarity of the full folded names
    detail: str


def _similar(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b).ratio() if a or b else 1.0


def compare_names(
    *,
    form_first: str,
    form_middle: str | None,
    form_last: str,
    doc_first: str | None,
    doc_middle: str | None,
    doc_last: str | None,
    threshold: float = 0.85,
) -> NameComparison:
    """Compare the form's name with the document's.

    The last name and first given name must agree after folding; hyphens and spaces
    are equivalent ("Smith-Jones" = "SMITH JONES"). Documents often put middle
    names into the first-name field, so given names are compared as one token
    sequence. A missing middle name on either side, or an initial for it, is a
    VARIANT. Anything else scoring at least ``threshold`` is still a MISMATCH
    (a typo in a name is for a reviewer to judge), but the score tells how close.

    Args:
        form_first: first name typed on the form.
        form_middle: middle name(s) on the form, if any.
        form_last: last name on the form.
        doc_first: FIRST_NAME read from the document.
        doc_middle: MIDDLE_NAME read from the document.
        doc_last: LAST_NAME read from the document.
        threshold: unused for the outcome; kept for the detail's wording.

    Returns:
        The comparison, with a detail that names the differing part (no values).
    """
    f_given = tokens(form_first) + tokens(form_middle)
    d_given = tokens(doc_first) + tokens(doc_middle)
    f_last, d_last = tokens(form_last), tokens(doc_last)
    score = _similar(" ".join(f_given + f_last), " ".join(d_given + d_last))
    if not d_last or not d_given:
        return NameComparison(NameMatch.MISMATCH, score, "name not read from document")
    if not same_written_name(form_last, doc_last or ""):
        return NameComparison(
            NameMatch.MISMATCH,
            score,
            f"last name differs (similarity {_similar(''.join(f_last), ''.join(d_last)):.2f})",
        )
    form_given = " ".join(p for p in (form_first, form_middle) if p)
    doc_given = " ".join(p for p in (doc_first, doc_middle) if p)
    if f_given == d_given or same_written_name(form_given, doc_given):
        return NameComparison(NameMatch.EXACT, score, "")
    form_parts, doc_parts = _raw_tokens(form_given), _raw_tokens(doc_given)
    if not (form_parts and doc_parts and same_written_name(form_parts[0], doc_parts[0])):
        close = _similar(f_given[0], d_given[0]) >= threshold
        return NameComparison(
            NameMatch.MISMATCH,
            score,
            "first name differs" + (" (close spelling)" if close else ""),
        )
    f_rest, d_rest = form_parts[1:], doc_parts[1:]
    if not f_rest or not d_rest:
        return NameComparison(NameMatch.VARIANT, score, "middle name present on one side only")
    if len(f_rest) == len(d_rest) and all(
        same_written_name(a, b) or _initial_of(a, b) or _initial_of(b, a)
        for a, b in zip(f_rest, d_rest, strict=True)
    ):
        return NameComparison(NameMatch.VARIANT, score, "middle name given as an initial")
    return NameComparison(NameMatch.MISMATCH, score, "middle names differ")


def _initial_of(initial: str, name: str) -> bool:
    """Whether ``initial`` is one letter (a full stop allowed) starting ``name``."""
    a, b = fold(initial), fold(name)
    return len(a) == 1 and b.startswith(a)


def normalise_document_number(number: str | None) -> str:
    """Upper-case, without spaces, hyphens or other separators."""
    return re.sub(r"[^A-Z0-9]", "", number.upper()) if number else ""


def parse_iso_date(value: str | None) -> dt.date | None:
    """Parse an ISO ``YYYY-MM-DD`` date, or None when absent/invalid."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None
