"""The application form (``application.json``): schema validation and parsing.

Validation is two-step on purpose: the JSON Schema (shipped in ``kyc/schemas`` so
that DataSync producers and the upload API can use the same file) names every
violation with its JSON path; the frozen dataclasses below are what the pipeline
passes around.
"""

from __future__ import annotations

import datetime as dt
import json
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
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApplicationInvalid(
            [f"not valid JSON: {exc.__class__.__name__} at {_where(exc)}"]
        ) from exc
    problems = [
        f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.validator} violated"
        + (
            f" ({err.message})"
            if err.validator in {"required", "additionalProperties", "enum", "type"}
            else ""
        )
        for err in sorted(
            _validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path))
        )
    ]
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
