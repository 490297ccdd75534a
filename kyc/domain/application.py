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


@dataclass(frozen=True, slots=True)
class Problem:
    """One violation in ``application.json``: where and which rule, never the value.

    Attributes:
        path: JSON path of the member, ``/``-separated (``document/expiry_date``);
            ``<root>`` for the document itself.
        rule: the broken rule (a JSON Schema keyword such as ``required``,
            ``pattern``, ``enum``; ``json`` for unparseable text; ``date`` for an
            impossible calendar date; ``folder`` for an id disagreeing with its folder).
        detail: what the rule wants, in words taken from the schema (no input value).
    """

    path: str
    rule: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.rule} violated" + (f" ({self.detail})" if self.detail else "")

    def as_json(self) -> dict[str, str]:
        """The problem as the intake API reports it."""
        return {"path": self.path, "rule": self.rule, "detail": self.detail}


class ApplicationInvalid(ValueError):
    """``application.json`` is not valid JSON or breaks the schema.

    Attributes:
        details: the violations, each naming its JSON path and rule (no values, so
            that no PII reaches logs, dead letters or API clients).
        problems: the same as one line each.
    """

    def __init__(self, details: list[Problem]) -> None:
        self.details = details
        self.problems = [str(p) for p in details]
        super().__init__("; ".join(self.problems))


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


def _date(value: str, path: str, problems: list[Problem]) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(Problem(path, "date", "not a real calendar date"))
        return dt.date.min


#: An application form is a few hundred bytes; anything this large is not one.
MAX_FORM_BYTES = 64 * 1024
#: Deeper nesting than any form needs is refused before validation.
MAX_DEPTH = 32
#: Problems reported per form (the rest would only repeat the same mistake).
MAX_PROBLEMS = 20


def _segment(part: object) -> str:
    """One path segment for a message: printable characters only, cut short."""
    return "".join(ch for ch in str(part) if ch.isprintable())[:64] or "?"


def _path(parts: Any) -> str:
    return "/".join(_segment(p) for p in parts) or "<root>"


def _hostile(data: Any) -> list[Problem]:
    """Values no form holds and that would break storage: NUL, lone surrogates, depth.

    Checked iteratively (a recursive walk is what a deeply nested document attacks).
    PostgreSQL cannot store NUL in text, and a lone surrogate cannot be encoded as
    UTF-8: both would fail the transaction long after validation.
    """
    problems: list[Problem] = []
    stack: list[tuple[Any, tuple[object, ...]]] = [(data, ())]
    while stack and len(problems) < MAX_PROBLEMS:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return [Problem(_path(path[:3]) + "/...", "depth", f"nested deeper than {MAX_DEPTH}")]
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append((item, (*path, key)))
                if _bad_text(key):
                    problems.append(
                        Problem(
                            _path(path), "text", "a member name holds NUL or an unpaired surrogate"
                        )
                    )
        elif isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(value))
        elif isinstance(value, str) and _bad_text(value):
            problems.append(Problem(_path(path), "text", "holds NUL or an unpaired surrogate"))
    return sorted(problems, key=lambda p: p.path)


def _bad_text(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _schema_problems(err: jsonschema.ValidationError) -> list[Problem]:
    """Words for one schema violation, built from the schema alone.

    jsonschema's own messages quote the offending value (``'visa' is not one of
    ...``); a form value may be personal data, so none of them is passed on.
    """
    path, rule, want = _path(err.absolute_path), str(err.validator), err.validator_value
    instance = err.instance if isinstance(err.instance, dict) else {}
    if rule == "required":
        prefix = f"{path}/" if err.absolute_path else ""
        return [
            Problem(f"{prefix}{_segment(name)}", rule, "required member is missing")
            for name in want
            if name not in instance
        ]
    if rule == "additionalProperties":
        known = set(err.schema.get("properties", {}))
        prefix = f"{path}/" if err.absolute_path else ""
        # The member's name is the client's structure, not a value; capped anyway.
        return [
            Problem(f"{prefix}{_segment(name)}", rule, "unknown member")
            for name in sorted(set(instance) - known)
        ]
    detail = {
        "enum": lambda: "one of: " + ", ".join(str(v) for v in want),
        "type": lambda: "must be " + (" or ".join(want) if isinstance(want, list) else str(want)),
        "pattern": lambda: f"must match {want}",
        "format": lambda: f"must be a {want}",
        "minLength": lambda: f"at least {want} characters",
        "maxLength": lambda: f"at most {want} characters",
    }.get(rule, lambda: "")()
    return [Problem(path, rule, detail)]


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
    return parse_application_data(decode_form(raw), expected_id=expected_id)


def decode_form(raw: bytes | str) -> Any:
    """The JSON value of ``application.json`` (not yet validated).

    Raises:
        ApplicationInvalid: not UTF-8 or not JSON (where, never what).
    """
    if len(raw) > MAX_FORM_BYTES:
        raise ApplicationInvalid([Problem("<root>", "size", f"larger than {MAX_FORM_BYTES} bytes")])
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApplicationInvalid(
            [Problem("<root>", "json", f"not valid JSON: {type(exc).__name__} at {_where(exc)}")]
        ) from exc
    except RecursionError as exc:
        raise ApplicationInvalid(
            [Problem("<root>", "depth", f"nested deeper than {MAX_DEPTH}")]
        ) from exc
    except ValueError as exc:
        # Python refuses integers of more than 4300 digits (CVE-2020-10735 limit).
        raise ApplicationInvalid(
            [Problem("<root>", "json", "not valid JSON: a number too long to read")]
        ) from exc


def parse_application_data(data: Any, *, expected_id: str | None = None) -> Application:
    """Validate and parse the already-decoded JSON of ``application.json``.

    Args:
        data: the decoded JSON value.
        expected_id: see :func:`parse_application`.

    Returns:
        The parsed application.

    Raises:
        ApplicationInvalid: schema violations, impossible dates or a disagreeing id.
    """
    hostile = _hostile(data)
    if hostile:
        raise ApplicationInvalid(hostile)
    problems: list[Problem] = []
    for err in sorted(
        _validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path))
    ):
        problems += [p for p in _schema_problems(err) if p not in problems]
    if problems:
        raise ApplicationInvalid(problems[:MAX_PROBLEMS])
    if expected_id is not None and data["application_id"] != expected_id:
        raise ApplicationInvalid(
            [Problem("application_id", "folder", "does not match its landing folder")]
        )
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
