"""What the console's pages show, computed from stored records (pure, no I/O).

The templates only lay these values out: comparisons, SLA times and wording are
decided here so that they can be tested without a browser.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from kyc.db.repository import DecisionRow
from kyc.db.review import QueueRow
from kyc.domain.matching import fold, normalise_document_number, parse_iso_date
from kyc.domain.review import (
    automated_reasons,
    escalated,
    needs_four_eyes,
    plain_words,
    reviewable,
    sla_due,
)

#: AnalyzeID field -> (label, path of the form value compared with it, how compared).
FORM_FIELDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "FIRST_NAME": ("First name", ("first_name",), "name"),
    "MIDDLE_NAME": ("Middle name", ("middle_name",), "name"),
    "LAST_NAME": ("Last name", ("last_name",), "name"),
    "DATE_OF_BIRTH": ("Date of birth", ("date_of_birth",), "date"),
    "DOCUMENT_NUMBER": ("Document number", ("document", "number"), "number"),
    "EXPIRATION_DATE": ("Expiry date", ("document", "expiry_date"), "date"),
    "ADDRESS": ("Address", ("address", "line1"), "name"),
    "CITY_IN_ADDRESS": ("City", ("address", "city"), "name"),
    "STATE_IN_ADDRESS": ("Region", ("address", "region"), "name"),
    "ZIP_CODE_IN_ADDRESS": ("Postal code", ("address", "postal_code"), "number"),
    "STATE_NAME": ("Issuing region", ("document", "issuing_region"), "name"),
    "COUNTY": ("Issuing country", ("document", "issuing_country"), "name"),
}

#: How each reader names where a field came from.
SOURCES = {
    "mrz": "MRZ",
    "barcode": "barcode (PDF417)",
    "ocr": "printed (OCR)",
    "textract": "printed (Textract)",
}


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One row of the case page's field table."""

    key: str
    label: str
    document: str | None
    form: str | None
    source: str
    confidence: float | None
    #: "agrees", "differs", "document only", "form only"
    verdict: str

    @property
    def differs(self) -> bool:
        """The document and the form disagree."""
        return self.verdict == "differs"


def _form_value(form: dict[str, Any], path: tuple[str, ...]) -> str | None:
    value: Any = form
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return None if value in (None, "") else str(value)


def _same(kind: str, document: str, form: str) -> bool:
    if kind == "date":
        return parse_iso_date(document) == parse_iso_date(form)
    if kind == "number":
        return normalise_document_number(document) == normalise_document_number(form)
    return " ".join(fold(document).replace("-", " ").split()) == " ".join(
        fold(form).replace("-", " ").split()
    )


def field_rows(scan_fields: dict[str, Any], form: dict[str, Any]) -> list[FieldRow]:
    """Every extracted field beside the form's value, then form values nothing read.

    Args:
        scan_fields: ``doc_scans.fields`` (AnalyzeID key -> text/value/confidence/source).
        form: the application form.
    """
    rows: list[FieldRow] = []
    for key in sorted(scan_fields, key=lambda k: (k not in FORM_FIELDS, k)):
        raw = scan_fields[key] or {}
        document = str(raw.get("value") or raw.get("text") or "") or None
        label, path, kind = FORM_FIELDS.get(key, (key.replace("_", " ").capitalize(), (), ""))
        form_value = _form_value(form, path) if path else None
        if document is None:
            verdict = "form only" if form_value else "not read"
        elif form_value is None:
            verdict = "document only"
        else:
            verdict = "agrees" if _same(kind, document, form_value) else "differs"
        confidence = raw.get("confidence")
        rows.append(
            FieldRow(
                key=key,
                label=label,
                document=document,
                form=form_value,
                source=SOURCES.get(str(raw.get("source", "")), str(raw.get("source") or "-")),
                confidence=float(confidence) if isinstance(confidence, int | float) else None,
                verdict=verdict,
            )
        )
    for key, (label, path, _) in FORM_FIELDS.items():
        value = _form_value(form, path)
        if key not in scan_fields and value is not None and key in _SHOWN_UNREAD:
            rows.append(FieldRow(key, label, None, value, "-", None, "form only"))
    return rows


#: Form values listed even when the reader found nothing to compare them with.
_SHOWN_UNREAD = frozenset(
    {"FIRST_NAME", "LAST_NAME", "DATE_OF_BIRTH", "DOCUMENT_NUMBER", "EXPIRATION_DATE"}
)


@dataclass(frozen=True, slots=True)
class FaceView:
    """The face similarity against its thresholds."""

    similarity: float | None
    match_threshold: float
    reject_threshold: float
    verdict: str
    engine: str


def face_view(checks: list[dict[str, Any]], match: float, reject: float) -> FaceView | None:
    """The latest face comparison, placed against the thresholds (None: none made)."""
    if not checks:
        return None
    latest = checks[-1]
    raw = latest.get("similarity")
    similarity = None if raw is None else float(raw)
    if similarity is None:
        verdict = "no comparison was possible"
    elif similarity >= match:
        verdict = "match (at or above the match threshold)"
    elif similarity < reject:
        verdict = "mismatch (below the reject threshold)"
    else:
        verdict = "inconclusive (between the thresholds)"
    return FaceView(similarity, match, reject, verdict, str(latest.get("engine", "")))


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One queue row as shown: its SLA time, age and badges."""

    row: QueueRow
    due: dt.datetime
    overdue: bool
    age: str
    reasons: list[tuple[str, str]]


def age_text(seconds: float) -> str:
    """``3d 4h`` / ``5h 12m`` / ``7m``."""
    minutes = int(max(seconds, 0) // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def queue_items(rows: list[QueueRow], now: dt.datetime, sla_hours: float) -> list[QueueItem]:
    """Queue rows with their due time (queued + SLA) and overdue mark."""
    out = []
    for r in rows:
        due = sla_due(r.queued_at, sla_hours)
        out.append(
            QueueItem(
                row=r,
                due=due,
                overdue=due < now,
                age=age_text((now - r.queued_at).total_seconds()),
                reasons=[
                    (code, plain_words(code))
                    for code in dict.fromkeys([*r.reasons, *automated_reasons(r.automated)])
                ],
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class CaseState:
    """What can be done with a case now (the page shows the matching forms)."""

    version: int
    decision: str
    open: bool
    escalated: bool
    four_eyes: bool
    awaiting_resubmission: bool


def case_state(decisions: list[DecisionRow]) -> CaseState:
    """The latest version, whether it is open, escalated, under four-eyes."""
    latest = decisions[-1]
    automated = [d for d in decisions if d.source == "pipeline"]
    rules = automated[-1] if automated else latest
    return CaseState(
        version=latest.version,
        decision=latest.decision,
        open=reviewable(latest.decision, latest.reasons),
        escalated=escalated(latest.reasons),
        four_eyes=needs_four_eyes(rules.decision, automated_reasons(rules.reasons)),
        awaiting_resubmission="RESUBMISSION_REQUESTED" in latest.reasons,
    )


def when(value: dt.datetime | None) -> str:
    """A timestamp as ``2025-01-31 14:05 UTC``."""
    if value is None:
        return "-"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
