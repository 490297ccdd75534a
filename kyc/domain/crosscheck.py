"""Cross-checks between two readings of one document (tamper evidence).

A forger edits the printed front but rarely re-encodes the PDF417 barcode or the
MRZ with their check digits. So the same field read from two zones must agree:
barcode vs printed front on licences, MRZ vs printed page (visual inspection zone)
on passports and ID cards. Disagreement is ``DOCUMENT_INCONSISTENT`` naming the
fields (never their values: those are PII).

Only fields read with enough confidence on both sides are compared: a blurry OCR
read that disagrees is a reading problem, not evidence of tampering.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from kyc.domain.matching import normalise_document_number
from kyc.domain.records import DocumentField, Finding, Reason
from kyc.domain.transliteration import names_equivalent

#: The fields compared (identity fields a forger would change).
CHECKED_FIELDS = (
    "LAST_NAME",
    "FIRST_NAME",
    "DATE_OF_BIRTH",
    "DOCUMENT_NUMBER",
    "EXPIRATION_DATE",
)
#: Characters of the MRZ's document number field (TD2, TD3, MRV-A/B).
MRZ_NUMBER_LENGTH = 9
#: OCR confidence (0-100) under which a printed field is not used as evidence.
MIN_CONFIDENCE = 70.0


#: OCR look-alikes folded together before document numbers are compared: OCR of
#: the printed front reads ``I9306674`` as ``19306674``; that is a reading
#: problem, not evidence of tampering.
_LOOKALIKES = str.maketrans("OQDILSBZG", "000115826")


#: A coded letter the printed zone's OCR may read as a digit beyond _LOOKALIKES: a
#: printed S read 8 (6S1068034 -> 681068034). Only letter-for-digit: a digit edited
#: into another digit (5 -> 8) stays a disagreement.
_LETTER_AS_DIGIT = {"S": "58", "B": "83", "O": "0", "Q": "0", "D": "0", "I": "1", "L": "1",
                    "Z": "2", "G": "6", "T": "7"}  # fmt: skip


def _lookalike_letters(coded: str, printed: str) -> bool:
    """Whether ``printed`` is ``coded`` with some letters read as look-alike digits."""
    return len(coded) == len(printed) and all(
        c == p or (c.isalpha() and p in _LETTER_AS_DIGIT.get(c, ""))
        for c, p in zip(coded, printed, strict=True)
    )


def _first_part(name: str) -> str:
    """The first part of a given name: up to a space, hyphen or filler."""
    return re.split(r"[\s\-<\u2010-\u2014]+", name.strip(), maxsplit=1)[0]


def _same(key: str, a: str, b: str) -> bool:
    if key == "DOCUMENT_NUMBER":
        na = normalise_document_number(a).translate(_LOOKALIKES)
        nb = normalise_document_number(b).translate(_LOOKALIKES)
        # A number longer than the nine characters of the MRZ's number field is cut
        # there (a visa's MRZ carries the passport number: 555123ABC12 -> 555123ABC).
        return (
            na == nb
            or (len(na) == MRZ_NUMBER_LENGTH and nb.startswith(na))
            or _lookalike_letters(normalise_document_number(a), normalise_document_number(b))
        )
    if key in ("LAST_NAME", "FIRST_NAME"):
        # The barcode/MRZ (a) holds the ICAO 9303 transliteration of the printed name
        # (MÜLLER -> MUELLER or MULLER, O'NEILL -> ONEILL, fillers for hyphens) and may
        # be truncated (MRZ: 30-39 characters, AAMVA: 40): a longer printed name (b)
        # whose spelling starts with the coded one agrees. Never the other way: a
        # short printed name is no excuse.
        if names_equivalent(a, b):
            return True
        # The first given name alone: the MRZ's FIRST_NAME is its first part
        # ("ANN<MARIE" -> ANN) where the page prints ANN-MARIE as one word.
        return key == "FIRST_NAME" and names_equivalent(
            _first_part(a), _first_part(b), allow_truncation=False
        )
    return a == b


def disagreements(
    coded: Mapping[str, DocumentField],
    printed: Mapping[str, DocumentField],
    *,
    fields: Iterable[str] = CHECKED_FIELDS,
    min_confidence: float = MIN_CONFIDENCE,
) -> list[str]:
    """Keys whose coded (barcode/MRZ) and printed values disagree.

    Args:
        coded: fields from the machine-readable zone (barcode or MRZ).
        printed: fields OCR'd from the printed text.
        fields: keys to compare.
        min_confidence: printed fields below this confidence are not compared.

    Returns:
        The disagreeing keys in ``fields`` order; keys missing on either side are
        skipped (a missing field is reported elsewhere).
    """
    out = []
    for key in fields:
        a, b = coded.get(key), printed.get(key)
        if a is None or b is None or not a.value or not b.value:
            continue
        if b.confidence < min_confidence:
            continue
        if not _same(key, a.value, b.value):
            out.append(key)
    return out


def cross_check(
    coded: Mapping[str, DocumentField],
    printed: Mapping[str, DocumentField],
    *,
    zone: str,
) -> Finding | None:
    """A DOCUMENT_INCONSISTENT finding naming the disagreeing fields, or None.

    Args:
        coded: barcode or MRZ fields.
        printed: OCR fields of the printed front / page.
        zone: ``barcode`` or ``MRZ`` (named in the detail).
    """
    keys = disagreements(coded, printed)
    if not keys:
        return None
    return Finding(
        Reason.DOCUMENT_INCONSISTENT,
        f"{zone} disagrees with the printed front on: {', '.join(keys)}",
    )
