"""The application form (``application.json``): schema validation and parsing.

Validation is two-step on purpose: the JSON Schema (shipped in ``kyc/schemas`` so
that DataSync producers and the upload API can use the same file) names every
violation with its JSON path; the frozen dataclasses below are what the pipeline
passes around.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema


class DocumentType(StrEnum):
    """Identity document types accepted on the form."""

    DRIVING_LICENCE = "driving_licence"
    PASSPORT = "passport"
    ID_CARD = "id_card"


class RegisterType(StrEnum):
    """UK professional registers (``reg_type_enum``); GPC is the older name of GPhC."""

    GMC = "GMC"
    GDC = "GDC"
    NMC = "NMC"
    GPHC = "GPHC"
    NONE = "NONE"


class ApplicationInvalid(ValueError):
    """``application.json`` is not valid JSON or breaks the schema.

    Attributes:
        problems: one line per violation, each naming the JSON path (no values, so
            that no PII reaches logs).
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Address:
    """Postal address from the form."""

    line1: str
    city: str
    region: str
    postal_code: str
    country: str
    line2: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentClaim:
    """What the applicant says about their identity document."""

    type: DocumentType
    number: str
    issuing_country: str
    expiry_date: dt.date
    issuing_region: str | None = None


@dataclass(frozen=True, slots=True)
class Registration:
    """Professional registration claimed by the applicant."""

    type: RegisterType
    number: str | None = None


@dataclass(frozen=True, slots=True)
class Application:
    """Form data of one application, validated."""

    application_id: str
    email: str
    first_name: str
    last_name: str
    date_of_birth: dt.date
    address: Address
    document: DocumentClaim
    registration: Registration
    middle_name: str | None = None
    #: AWS Rekognition Face Liveness session id (``liveness.session_id``), if any.
    liveness_session_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Back to the ``application.json`` shape."""
        return {
            "application_id": self.application_id,
            "email": self.email,
            "first_name": self.first_name,
            "middle_name": self.middle_name,
            "last_name": self.last_name,
            "date_of_birth": self.date_of_birth.isoformat(),
            "address": {
                "line1": self.address.line1,
                "line2": self.address.line2,
                "city": self.address.city,
                "region": self.address.region,
                "postal_code": self.address.postal_code,
                "country": self.address.country,
            },
            "document": {
                "type": self.document.type.value,
                "number": self.document.number,
                "issuing_country": self.document.issuing_country,
                "issuing_region": self.document.issuing_region,
                "expiry_date": self.document.expiry_date.isoformat(),
            },
            "registration": {
                "type": self.registration.type.value,
                "number": self.registration.number,
            },
        } | (
            {"liveness": {"session_id": self.liveness_session_id}}
            if self.liveness_session_id
            else {}
        )


@lru_cache(maxsize=1)
def application_schema() -> dict[str, Any]:
    """The JSON Schema of ``application.json``."""
    text = resources.files("kyc.schemas").joinpath("application.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        application_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _date(value: str, path: str, problems: list[str]) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(f"{path}: not a real calendar date")
        return dt.date.min


#: An application form is a few hundred bytes; anything this large is not one.
MAX_FORM_BYTES = 64 * 1024
#: Deeper nesting than any form needs is refused before validation.
MAX_DEPTH = 32
#: Problems reported per form (the rest would only repeat the same mistake).
MAX_PROBLEMS = 20


def _path(parts: Iterable[object]) -> str:
    """A JSON path for a message: keys cut short and stripped of control characters."""
    out = []
    for part in parts:
        text = "".join(ch for ch in str(part) if ch.isprintable())[:40]
        out.append(text or "?")
    return "/".join(out) or "<root>"


def _problem(err: jsonschema.ValidationError) -> str:
    """One schema violation as "<path>: <rule>" — never the offending value.

    jsonschema's own messages quote the value ("'Jane' is not of type ..."); a form
    sent as an array would copy names and birth dates into dead letters and logs.
    """
    path = _path(err.absolute_path)
    rule = str(err.validator)
    if rule == "type":
        return f"{path}: type violated (expected {err.validator_value})"
    if rule == "required":
        missing = [
            k
            for k in err.validator_value
            if isinstance(err.instance, dict) and k not in err.instance
        ]
        return f"{path}: required violated (missing {', '.join(_path([k]) for k in missing[:5])})"
    if rule == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set(err.schema.get("properties", {}))
        extra = [_path([k]) for k in err.instance if k not in allowed][:5]
        return f"{path}: additionalProperties violated (unexpected {', '.join(extra)})"
    if rule == "enum":
        allowed_values = ", ".join(str(v) for v in err.validator_value)
        return f"{path}: enum violated (allowed: {allowed_values})"
    if rule in {"minLength", "maxLength", "pattern", "format"}:
        return f"{path}: {rule} violated ({rule} {err.validator_value})"
    return f"{path}: {rule} violated"


def _hostile(data: Any) -> list[str]:
    """Values no form holds and that would break storage: NUL, lone surrogates, depth.

    Checked iteratively (a recursive walk is what a deeply nested document attacks).
    PostgreSQL cannot store NUL in text, and a lone surrogate cannot be encoded as
    UTF-8: both would fail the transaction long after validation.
    """
    problems: list[str] = []
    stack: list[tuple[Any, tuple[object, ...]]] = [(data, ())]
    while stack and len(problems) < MAX_PROBLEMS:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return [f"{_path(path[:3])}/...: nested deeper than {MAX_DEPTH} levels"]
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append((item, (*path, key)))
                if _bad_text(key):
                    problems.append(f"{_path(path)}: a key holds NUL or an unpaired surrogate")
        elif isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(value))
        elif isinstance(value, str) and _bad_text(value):
            problems.append(f"{_path(path)}: text holds NUL or an unpaired surrogate")
    return sorted(problems)


def _bad_text(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_application(raw: bytes | str, *, expected_id: str | None = None) -> Application:
    """Validate and parse ``application.json``.

    Args:
        raw: the file's bytes (UTF-8) or text.
        expected_id: the ``<application_id>`` folder name; the JSON must agree with it.

    Returns:
        The parsed application.

    Raises:
        ApplicationInvalid: malformed JSON, schema violations, impossible dates or an
            id that disagrees with its folder.
    """
    if len(raw) > MAX_FORM_BYTES:
        raise ApplicationInvalid([f"<root>: larger than {MAX_FORM_BYTES} bytes"])
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApplicationInvalid(
            [f"not valid JSON: {exc.__class__.__name__} at {_where(exc)}"]
        ) from exc
    except RecursionError as exc:
        raise ApplicationInvalid([f"<root>: nested deeper than {MAX_DEPTH} levels"]) from exc
    except ValueError as exc:
        # Python refuses integers of more than 4300 digits (CVE-2020-10735 limit).
        raise ApplicationInvalid(["not valid JSON: a number too long to read"]) from exc
    hostile = _hostile(data)
    if hostile:
        raise ApplicationInvalid(hostile)
    problems = [
        _problem(err)
        for err in sorted(
            _validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path))
        )
    ][:MAX_PROBLEMS]
    if problems:
        raise ApplicationInvalid(problems)
    if expected_id is not None and data["application_id"] != expected_id:
        raise ApplicationInvalid(["application_id: does not match its landing folder"])
    dob = _date(data["date_of_birth"], "date_of_birth", problems)
    doc = data["document"]
    expiry = _date(doc["expiry_date"], "document/expiry_date", problems)
    if problems:
        raise ApplicationInvalid(problems)
    reg = data["registration"]
    reg_type = "GPHC" if reg["type"] == "GPC" else reg["type"]
    addr = data["address"]
    return Application(
        application_id=data["application_id"],
        email=data["email"],
        first_name=data["first_name"].strip(),
        middle_name=(data.get("middle_name") or "").strip() or None,
        last_name=data["last_name"].strip(),
        date_of_birth=dob,
        address=Address(
            line1=addr["line1"],
            line2=addr.get("line2"),
            city=addr["city"],
            region=addr["region"],
            postal_code=addr["postal_code"],
            country=addr["country"],
        ),
        document=DocumentClaim(
            type=DocumentType(doc["type"]),
            number=doc["number"].strip(),
            issuing_country=doc["issuing_country"],
            issuing_region=doc.get("issuing_region"),
            expiry_date=expiry,
        ),
        registration=Registration(type=RegisterType(reg_type), number=reg.get("number")),
        liveness_session_id=(data.get("liveness") or {}).get("session_id") or None,
    )


def _where(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno} column {exc.colno}"
    return "byte level (not UTF-8)"
