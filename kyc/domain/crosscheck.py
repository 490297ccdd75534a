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

from collections.abc import Iterable, Mapping

from kyc.domain.matching import fold, normalise_document_number
from kyc.domain.records import DocumentField, Finding, Reason

#: The fields compared (identity fields a forger would change).
CHECKED_FIELDS = (
    "LAST_NAME",
    "FIRST_NAME",
    "DATE_OF_BIRTH",
    "DOCUMENT_NUMBER",
    "EXPIRATION_DATE",
)
#: OCR confidence (0-100) under which a printed field is not used as evidence.
MIN_CONFIDENCE = 70.0


#: OCR look-alikes folded together before document numbers are compared: OCR of
#: the printed front reads ``I9306674`` as ``19306674``; that is a reading
#: problem, not evidence of tampering.
_LOOKALIKES = str.maketrans("OQDILSBZG", "000115826")


def _same(key: str, a: str, b: str) -> bool:
    if key == "DOCUMENT_NUMBER":
        na, nb = normalise_document_number(a), normalise_document_number(b)
        return na.translate(_LOOKALIKES) == nb.translate(_LOOKALIKES)
    if key in ("LAST_NAME", "FIRST_NAME"):
        # The barcode/MRZ (a) is ASCII-folded and may be truncated (MRZ: 30-39
        # characters, AAMVA: 40); a longer printed name (b) that starts with the
        # coded one agrees. Never the other way: a short printed name is no excuse.
        ca, cb = fold(a).replace(" ", ""), fold(b).replace(" ", "")
        return ca == cb or (len(cb) > len(ca) >= 4 and cb.startswith(ca))
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
