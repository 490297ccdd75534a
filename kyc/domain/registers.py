"""UK professional registers (GMC, GDC, NMC, GPhC): numbers, statuses, names (pure).

Nothing here does I/O. The register clients (``kyc.engines.register_*``) fetch an
entry; these functions say whether the number can be looked up at all, what the
register's status wording means, and whether the name on the register is the
applicant's. The decision rules turn that into reason codes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from kyc.domain.matching import NameMatch, compare_names, fold
from kyc.domain.records import Finding, Reason, RegisterOutcome, RegisterResult

#: Registers we check. "GPC" (General Pharmaceutical Council's register before
#: 2010, still printed on older documents) is an alias of GPHC.
REGISTERS = ("GMC", "GDC", "NMC", "GPHC")
ALIASES = {"GPC": "GPHC", "GPHC": "GPHC", "GMC": "GMC", "GDC": "GDC", "NMC": "NMC"}

# Number formats, with where each register publishes them. Checked against the
# registers' public pages as far as we know them; re-check before relying on a
# change of format.
_FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    # GMC: "GMC reference number" — 7 digits
    # (https://www.gmc-uk.org/registration-and-licensing/the-medical-register,
    # "Search the register": "GMC reference number (7 digits)").
    "GMC": (re.compile(r"^\d{7}$"), "7 digits"),
    # GDC: registration numbers are numeric, issued sequentially, today up to 6
    # digits (https://olr.gdc-uk.org/searchregister, "Registration number").
    # We accept 1-7 digits so that the next digit does not break us.
    "GDC": (re.compile(r"^\d{1,7}$"), "digits only"),
    # NMC: the "NMC PIN" is 2 digits, a letter, 4 digits and a letter, e.g. 01A2345N
    # (https://www.nmc.org.uk/registration/search-the-register/, "NMC PIN").
    "NMC": (re.compile(r"^\d{2}[A-Z]\d{4}[A-Z]$"), "2 digits, letter, 4 digits, letter"),
    # GPhC: registration numbers are 7 digits; pharmacists' start with 2
    # (https://www.pharmacyregulation.org/registers, "Registration number"; NHS PCSE
    # applicant FAQs: "GPhC numbers are 7 digits long and all start with the number 2").
    "GPHC": (re.compile(r"^2\d{6}$"), "7 digits starting with 2"),
}


def canonical_register(name: str) -> str | None:
    """GMC / GDC / NMC / GPHC for a register name or alias ("GPC", "GPhC"), else None."""
    return ALIASES.get(name.strip().upper())


def normalise_number(number: str | None) -> str:
    """Upper case, without spaces, hyphens or slashes (how people type them)."""
    return re.sub(r"[\s\-/.]", "", number or "").upper()


def number_problem(register: str, number: str | None) -> str | None:
    """Why a registration number cannot be right, or None when its format is valid.

    Args:
        register: GMC, GDC, NMC, GPHC (or an alias such as GPC).
        number: the number as typed (spaces and hyphens are ignored).

    Returns:
        A short detail (no number in it) or None.
    """
    reg = canonical_register(register)
    if reg is None:
        return f"unknown register {register!r}"
    value = normalise_number(number)
    if not value:
        return f"{reg} number missing"
    pattern, wording = _FORMATS[reg]
    if not pattern.match(value):
        return f"{reg} number must be {wording}"
    return None


class Standing(StrEnum):
    """What a register status means for practising (per-register wording mapped)."""

    REGISTERED = "REGISTERED"
    CONDITIONS = "CONDITIONS"  # registered with conditions / warnings / undertakings
    NOT_ACTIVE = "NOT_ACTIVE"  # suspended, removed, erased, lapsed, struck off
    UNKNOWN = "UNKNOWN"  # wording we do not recognise: a human reads it


# Status wording per register, as shown on the public search results (lower case,
# matched as substrings, most severe first). Sources: the registers' search result
# pages and their published explanations of register statuses:
#   GMC  https://www.gmc-uk.org/registration-and-licensing/the-medical-register/a-guide-to-the-medical-register
#   GDC  https://www.gdc-uk.org/registration/the-registers
#   NMC  https://www.nmc.org.uk/registration/search-the-register/understanding-the-register/
#        (statuses as employers' checking services list them: registered, lapsed, not
#        currently practising, removed / voluntarily removed, suspended, interim
#        suspension order, conditions of practice order, interim conditions,
#        undertakings, caution, sanction pending)
#   GPhC https://www.pharmacyregulation.org/registers
_NOT_ACTIVE: dict[str, tuple[str, ...]] = {
    # "Registered without a licence to practise" cannot practise as a doctor.
    "GMC": (
        "erased",
        "suspended",
        "suspension",
        "removed",
        "relinquished",
        "not registered",
        "without a licence",
        "revoked",
        "lapsed",
    ),
    # "suspen": suspended, suspension (interim suspension order)
    "GDC": ("erased", "suspen", "removed", "not registered", "lapsed", "struck off"),
    "NMC": (
        "lapsed",
        "removed",
        "suspen",
        "struck off",
        "not registered",
        "removal",
        "not currently practising",
    ),
    "GPHC": (
        "removed",
        "suspended",
        "suspension",
        "not registered",
        "lapsed",
        "voluntarily removed",
        "not renewed",
        "struck off",
    ),
}
_CONDITIONS: dict[str, tuple[str, ...]] = {
    "GMC": ("conditions", "undertakings", "warning", "interim order"),
    "GDC": ("conditions", "undertakings", "warning", "interim order"),
    "NMC": (
        "conditions of practice",
        "caution",
        "interim conditions",
        "warning",
        "undertakings",
        "sanction pending",
    ),
    "GPHC": ("conditions", "warning", "undertakings", "interim order", "annotation"),
}
_REGISTERED: dict[str, tuple[str, ...]] = {
    "GMC": ("registered with a licence to practise", "registered"),
    "GDC": ("registered",),
    "NMC": ("registered",),
    "GPHC": ("registered", "active"),
}


#: Wording that contains a "registered"/"active" word but means the opposite, on any
#: register; checked before the per-register lists.
_NEGATED = ("inactive", "deregistered", "unregistered", "not registered", "no longer registered")


def standing(register: str, status: str | None, conditions: tuple[str, ...] = ()) -> Standing:
    """Map a register's status wording (and any annotations) to a :class:`Standing`.

    Args:
        register: GMC / GDC / NMC / GPHC (aliases accepted).
        status: the status as the register words it.
        conditions: conditions, warnings, undertakings listed on the entry.

    Returns:
        NOT_ACTIVE beats CONDITIONS beats REGISTERED; unrecognised wording is UNKNOWN.
    """
    reg = canonical_register(register) or register
    text = (status or "").strip().lower()
    if any(word in text for word in _NEGATED + _NOT_ACTIVE.get(reg, ())):
        return Standing.NOT_ACTIVE
    if conditions or any(word in text for word in _CONDITIONS.get(reg, ())):
        return Standing.CONDITIONS
    if any(word in text for word in _REGISTERED.get(reg, ())):
        return Standing.REGISTERED
    return Standing.UNKNOWN


_TITLES = frozenset({"DR", "MR", "MRS", "MS", "MISS", "MX", "PROF", "PROFESSOR", "SIR", "DAME"})


def split_register_name(name: str, form_last: str) -> tuple[str, str]:
    """Split a register's "Given Names Surname" into (given, last).

    Registers show one name string. The surname is taken as the trailing tokens
    that equal the form's last name when they do (so "Smith Jones" stays a
    double-barrelled surname), else the last token. Titles ("Dr") are dropped.
    """
    toks = [t for t in fold(name).split() if t not in _TITLES]
    last = fold(form_last).split()
    if last and len(toks) > len(last) and toks[-len(last) :] == last:
        return " ".join(toks[: -len(last)]), " ".join(last)
    if len(toks) < 2:
        return "", " ".join(toks)
    return " ".join(toks[:-1]), toks[-1]


@dataclass(frozen=True, slots=True)
class RegisterApplicant:
    """The applicant's side of a register check."""

    register: str
    number: str | None
    first_name: str
    middle_name: str | None
    last_name: str


def assess(applicant: RegisterApplicant, result: RegisterResult | None) -> list[Finding]:
    """Reason codes for one register check (empty: registered, name agrees).

    Args:
        applicant: the registration the applicant claims, and their name.
        result: what the register said; None when the check could not run at all.

    Returns:
        Findings (severities are attached by the decision rules).
    """
    reg = canonical_register(applicant.register) or applicant.register
    if result is None:
        return [Finding(Reason.REGISTER_NOT_CHECKED, f"{reg} register check did not run")]
    if result.outcome is RegisterOutcome.NUMBER_INVALID:
        return [Finding(Reason.REGISTER_NUMBER_INVALID, result.detail or f"{reg} number invalid")]
    if result.outcome is RegisterOutcome.UNAVAILABLE:
        return [
            Finding(
                Reason.REGISTER_UNAVAILABLE,
                f"{reg} register unavailable ({result.detail or 'no detail'}); re-check later",
            )
        ]
    if result.outcome is RegisterOutcome.NOT_FOUND:
        return [Finding(Reason.REGISTER_NOT_FOUND, f"{reg} number not on the register")]
    out: list[Finding] = []
    match standing(reg, result.status, result.conditions):
        case Standing.NOT_ACTIVE:
            out.append(Finding(Reason.REGISTER_NOT_ACTIVE, f"{reg} status: {result.status}"))
        case Standing.CONDITIONS:
            what = "; ".join(result.conditions) or (result.status or "")
            out.append(Finding(Reason.REGISTER_CONDITIONS, f"{reg}: {what}"[:300]))
        case Standing.UNKNOWN:
            out.append(
                Finding(
                    Reason.REGISTER_CONDITIONS,
                    f"{reg} status not recognised, a reviewer must read it: {result.status}",
                )
            )
        case Standing.REGISTERED:
            pass
    given, last = split_register_name(result.name or "", applicant.last_name)
    names = compare_names(
        form_first=applicant.first_name,
        form_middle=applicant.middle_name,
        form_last=applicant.last_name,
        doc_first=given,
        doc_middle=None,
        doc_last=last,
    )
    if names.outcome is NameMatch.MISMATCH:
        out.append(Finding(Reason.REGISTER_NAME_MISMATCH, f"register name: {names.detail}"))
    return out


def unchecked_status(registration_type: str) -> str:
    """``reg_checks.status`` recorded when no register answer exists for an application.

    ``NOT_REQUIRED`` when the applicant claims no registration; ``NOT_RUN`` when one is
    claimed but the check could not run (then REGISTER_NOT_CHECKED decides), so the
    trail shows that nothing was skipped silently.
    """
    return "NOT_REQUIRED" if registration_type == "NONE" else "NOT_RUN"
