"""AAMVA DL/ID card data (the PDF417 on the back of US and Canadian licences).

Pure parsing, no I/O. :func:`parse_aamva` turns the decoded barcode text into
Textract AnalyzeID-style :class:`~kyc.domain.records.DocumentField` values.

The payload layout (AAMVA DL/ID Card Design Standard, versions 01-10)::

    @ LF RS CR  "ANSI " IIN(6) version(2) [jurisdiction version(2), from 02]
    entries(2)  designators: type(2) offset(4) length(4) per subfile
    "DL" DAQ<number> LF DCS<last name> LF ... CR   "ZV" ZVA... CR

Real payloads drift from the standard: scanners that act as keyboards replace the
control characters, some issuers write ``AAMVA`` instead of ``ANSI ``, designator
offsets are wrong, the subfile type is missing, and dates are written in the
wrong order. The parser therefore never trusts offsets: it locates the first
element after the header, splits elements on the separators actually present (LF,
CR, ``|``, or none at all for stripped test strings) and checks every date.

Date rule: version 01 writes ``CCYYMMDD``; from version 02 the standard asks for
``MMDDCCYY`` in the USA and ``CCYYMMDD`` in Canada. The two forms can't be confused
for any year from 1300 on (``CCYY`` starts with 19/20, a month is at most 12), so a
date that is invalid in the expected order is read in the other one rather than
rejected (several issuers write ``CCYYMMDD`` in version 04 payloads).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kyc.domain.matching import SPECIAL_FOLDS
from kyc.domain.records import DocumentField

#: Confidence given to barcode fields: the PDF417 error correction already vouches
#: for every byte, but a barcode can still disagree with the printed front.
BARCODE_CONFIDENCE = 99.0

#: ``ID_TYPE`` values for the two AAMVA subfile types.
ID_TYPE_DRIVER_LICENSE = "DRIVER LICENSE"
ID_TYPE_ID_CARD = "ID CARD"

#: Canadian provinces and territories (jurisdiction codes in DAJ / the IIN table).
CANADIAN_JURISDICTIONS = frozenset(
    {"AB", "BC", "MB", "NB", "NL", "NF", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"}
)

#: Issuer identification numbers of US and Canadian issuers (AAMVA IIN registry;
#: cross-checked with IdParser's table and, in the tests, with DAJ of every sample).
#: The issuer is the IIN's jurisdiction; DAJ is only the mailing address's state.
IIN_JURISDICTIONS: Mapping[str, str] = MappingProxyType(
    {
        "636000": "VA",
        "636001": "NY",
        "636002": "MA",
        "636003": "MD",
        "636004": "NC",
        "636005": "SC",
        "636006": "CT",
        "636007": "LA",
        "636008": "MT",
        "636009": "NM",
        "636010": "FL",
        "636011": "DE",
        "636012": "ON",
        "636013": "NS",
        "636014": "CA",
        "636015": "TX",
        "636016": "NL",
        "636017": "NB",
        "636018": "IA",
        "636019": "GU",
        "636020": "CO",
        "636021": "AR",
        "636022": "KS",
        "636023": "OH",
        "636024": "VT",
        "636025": "PA",
        "636026": "AZ",
        "636028": "BC",
        "636029": "OR",
        "636030": "MO",
        "636031": "WI",
        "636032": "MI",
        "636033": "AL",
        "636034": "ND",
        "636035": "IL",
        "636036": "NJ",
        "636037": "IN",
        "636038": "MN",
        "636039": "NH",
        "636040": "UT",
        "636041": "ME",
        "636042": "SD",
        "636043": "DC",
        "636044": "SK",
        "636045": "WA",
        "636046": "KY",
        "636047": "HI",
        "636048": "MB",
        "636049": "NV",
        "636050": "ID",
        "636051": "MS",
        "636052": "RI",
        "636053": "TN",
        "636054": "NE",
        "636055": "GA",
        "636058": "OK",
        "636059": "AK",
        "636060": "WY",
        "636061": "WV",
        "636062": "VI",
        "604426": "PE",
        "604427": "AS",
        "604428": "QC",
        "604429": "YT",
        "604430": "MP",
        "604431": "PR",
        "604432": "AB",
        "604433": "NU",
    }
)

# "@" then anything the scanner made of LF RS CR, then the file type. Issuers and
# keyboard-wedge scanners write "ANSI ", "ANSI", "AAMVA" and (one test string) "AMVA ".
_HEADER_RE = re.compile(r"(?:ANSI ?|AAMVA|AMVA ?)(?P<iin>\d{6})(?P<version>\d{2})")
_DESIGNATOR_RE = re.compile(r"(?P<type>[A-Z]{2})(?P<offset>\d{4})(?P<length>\d{4})")
# Element ids: D + A..D + letter (standard), Z + jurisdiction letter + letter.
_ELEMENT_ID_RE = re.compile(r"D[A-D][A-Z]|Z[A-Z]{2}")
# C0/C1 control characters other than the separators LF, RS, CR (some scanners add
# U+0090 or NUL between characters).
_JUNK_RE = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1d\x1f\x7f-\x9f\ufeff]")

#: Element ids that may start an element in a payload whose separators were
#: stripped, where any other letter triple must stay value text. Deliberately not
#: every standard id: the rare residence-address (DAL-DAP) and alias (DBL-DBS) ids
#: hide inside ordinary names ("ADAM" holds DAM), so they are left out.
_UNSEPARATED_IDS = frozenset(
    [f"DA{c}" for c in "ABCDEFGHIJKQRSTUVWXYZ"]
    + [f"DB{c}" for c in "ABCDEFGHIJK"]
    + [f"DC{c}" for c in "ABDEFGHIJKLMNOPQRSTU"]
    + [f"DD{c}" for c in "ABCDEFGHIJKL"]
)

#: Values that mean "no value" in AAMVA payloads.
_ABSENT = frozenset({"", "NONE", "UNAVL", "UNAVAIL", "N/A"})

_REQUIRED = ("LAST_NAME", "FIRST_NAME", "DATE_OF_BIRTH", "DOCUMENT_NUMBER")


class AamvaError(ValueError):
    """The payload is not AAMVA data or lacks required elements (message names which)."""


@dataclass(frozen=True, slots=True)
class AamvaResult:
    """Parsed AAMVA payload.

    Attributes:
        fields: AnalyzeID keys (FIRST_NAME, LAST_NAME, DATE_OF_BIRTH, ...) to fields,
            ``source="barcode"``; dates ISO, names upper-case.
        version: AAMVA version number (1-10; 0 for pre-standard payloads).
        issuer_id: the 6-digit issuer identification number (IIN).
        jurisdiction: issuing jurisdiction code (from the IIN, else DAJ), e.g. ``CA``.
        country: ``USA`` or ``CAN`` (DCG, else from the jurisdiction).
        subfile_type: ``DL`` or ``ID``.
        sex: ``M``, ``F``, ``X`` or None (no AnalyzeID key exists for it).
        raw_elements: element id to raw value, every subfile (jurisdiction ``Z``
            elements included), values with trailing padding removed.
        warnings: elements that were present but unusable (no values: no PII).
    """

    fields: Mapping[str, DocumentField]
    version: int
    issuer_id: str
    jurisdiction: str
    country: str
    subfile_type: str
    sex: str | None = None
    raw_elements: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    warnings: tuple[str, ...] = ()

    def value(self, key: str) -> str | None:
        """Normalised value of a field, or None."""
        f = self.fields.get(key)
        return f.value if f is not None else None


def parse_aamva(payload: str) -> AamvaResult:
    """Parse the text of an AAMVA DL/ID PDF417 barcode.

    Args:
        payload: the decoded barcode text, control characters included (zxing-cpp
            ``TextMode.Plain``).

    Returns:
        The parsed result; its fields always include LAST_NAME, FIRST_NAME,
        DATE_OF_BIRTH and DOCUMENT_NUMBER.

    Raises:
        AamvaError: empty input, no AAMVA header, no elements, or a required element
            missing/unparseable (the message names the missing keys).
    """
    if not payload or not payload.strip():
        raise AamvaError("empty payload")
    text = _JUNK_RE.sub("", payload).lstrip()
    header = _HEADER_RE.search(text, 0, 64)
    if header is None or "@" not in text[: header.start() + 1]:
        raise AamvaError("not an AAMVA payload: no '@' + 'ANSI'/'AAMVA' header")
    iin = header.group("iin")
    version = int(header.group("version"))
    pos = header.end()
    # Version 01 has no jurisdiction version; then the number of entries.
    pos += 2 if version <= 1 else 4
    subfile_types: list[str] = []
    while m := _DESIGNATOR_RE.match(text, pos):
        subfile_types.append(m.group("type"))
        pos = m.end()
    body_start = _first_element(text, pos)
    if body_start is None:
        raise AamvaError("no data elements after the AAMVA header")
    kind_prefix = text[pos:body_start].strip()[-2:]
    elements = _split_elements(text[body_start:], version)
    if not elements:
        raise AamvaError("no data elements after the AAMVA header")

    subfile_type = next(
        (t for t in [kind_prefix, *subfile_types] if t in {"DL", "ID"}),
        "DL",  # version 01 had DL subfiles only; prefixes are often missing
    )
    return _build(elements, version, iin, subfile_type)


# --- splitting -------------------------------------------------------------------------


def _first_element(text: str, pos: int) -> int | None:
    """Index where the first data element starts (after designators / subfile type)."""
    # Usual case: "DL"/"ID" subfile type right before the first element.
    m = re.compile(r"(?:DL|ID)(?=D[A-D][A-Z])").search(text, pos, pos + 64)
    if m is not None and _DESIGNATOR_RE.match(text, m.start()) is None:
        return m.end()
    m = _ELEMENT_ID_RE.search(text, pos, pos + 64)
    if m is not None and m.group().startswith("D"):
        return m.start()
    return None


def _split_elements(body: str, version: int) -> dict[str, str]:
    """Split the data into ``{element id: raw value}`` (first occurrence wins)."""
    if re.search(r"[\n\r]", body):
        chunks = re.split(r"[\n\r\x1e]+", body)
    elif "|" in body:
        chunks = body.split("|")
    else:
        return _split_without_separators(body, version)
    out: dict[str, str] = {}
    z_started: set[str] = set()
    for chunk in chunks:
        if len(chunk) < 3:
            continue
        # A subfile starts with its type: "DLDAQ...", "ZVZVA...". The first line of a
        # Z subfile that repeats its type is taken as that start (an element "ZVZ"
        # would be misread, but jurisdictions number their elements from "A").
        if chunk[:2] in {"DL", "ID"} and re.match(r"D[A-D][A-Z]", chunk[2:5]):
            chunk = chunk[2:]
        elif chunk[0] == "Z" and chunk[2:4] == chunk[:2] and chunk[:2] not in z_started:
            z_started.add(chunk[:2])
            chunk = chunk[2:]
        eid = chunk[:3]
        if not _ELEMENT_ID_RE.fullmatch(eid):
            continue
        out.setdefault(eid, chunk[3:])
    return out


def _split_without_separators(body: str, version: int) -> dict[str, str]:
    """Split a payload whose separators were stripped (degraded test strings).

    Only standard ids start an element, each at most once, and ``DD*`` ids only from
    version 04 (when they were introduced), so that e.g. ``3RDDAG`` reads as a
    suffix followed by DAG. Inherently ambiguous: real barcodes keep separators.
    """
    out: dict[str, str] = {}
    jur = re.search(r"(Z[A-Z])\1[A-Z]", body)
    dl_part = body[: jur.start()] if jur else body
    starts: list[tuple[int, str]] = []
    i = 0
    while i <= len(dl_part) - 3:
        eid = dl_part[i : i + 3]
        if (
            eid in _UNSEPARATED_IDS
            and eid not in {s[1] for s in starts}
            and (version >= 4 or not eid.startswith("DD"))
        ):
            starts.append((i, eid))
            i += 3
            continue
        i += 1
    for n, (start, eid) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(dl_part)
        out[eid] = dl_part[start + 3 : end]
    if jur is not None:
        prefix = jur.group(1)
        zbody = body[jur.start() + 2 :]
        parts = re.split(rf"(?={prefix}[A-Z])", zbody)
        for part in parts:
            if len(part) >= 3:
                out.setdefault(part[:3], part[3:])
    return out


# --- building fields --------------------------------------------------------------------


def _clean(value: str | None) -> str:
    """Trim padding and collapse inner runs of spaces."""
    return re.sub(r"\s+", " ", value or "").strip()


def _present(value: str | None) -> str | None:
    """The cleaned value, or None when it is one of the "no value" markers."""
    v = _clean(value)
    return None if v.upper() in _ABSENT else v


def _field(text: str, value: str) -> DocumentField:
    return DocumentField(text=text, value=value, confidence=BARCODE_CONFIDENCE, source="barcode")


def _name_value(text: str) -> str:
    """Names upper-case, trimmed, single-spaced."""
    return _clean(text).upper()


def _split_given(given: str) -> tuple[str, str | None]:
    """``"MARY ANN"`` / ``"MARY,ANN"`` -> first, middle."""
    parts = [p for p in re.split(r"[,\s]+", given.strip()) if p]
    if not parts:
        return "", None
    return parts[0], (" ".join(parts[1:]) or None)


def _names_from_full(full: str) -> dict[str, str]:
    """Version 01 DAA: ``LAST,FIRST,MIDDLE,SUFFIX`` or ``FIRST MIDDLE LAST``."""
    out: dict[str, str] = {}
    if "," in full:
        parts = [p.strip() for p in full.split(",")]
        out["LAST_NAME"] = parts[0]
        first, extra = _split_given(parts[1] if len(parts) > 1 else "")
        middles = [m for m in [extra, parts[2] if len(parts) > 2 else None] if m]
        out["FIRST_NAME"] = first
        out["MIDDLE_NAME"] = " ".join(middles)
        out["SUFFIX"] = parts[3] if len(parts) > 3 else ""
    else:
        tokens = full.split()
        if len(tokens) >= 2:
            out["FIRST_NAME"], out["LAST_NAME"] = tokens[0], tokens[-1]
            out["MIDDLE_NAME"] = " ".join(tokens[1:-1])
        elif tokens:
            out["LAST_NAME"] = tokens[0]
    return {k: v for k, v in out.items() if _present(v)}


def _parse_date(raw: str, *, month_first: bool) -> dt.date | None:
    """An 8-digit AAMVA date in the expected order, else the other one (see module doc)."""
    digits = re.sub(r"\D", "", raw)
    if len(digits) != 8:
        return None
    forms = [(4, 0, 2), (0, 4, 6)]  # (year, month, day) slice starts: MMDDCCYY, CCYYMMDD
    if not month_first:
        forms.reverse()
    for y, m, d in forms:
        try:
            date = dt.date(int(digits[y : y + 4]), int(digits[m : m + 2]), int(digits[d : d + 2]))
        except ValueError:
            continue
        if 1900 <= date.year <= 2200:
            return date
    return None


def _postal(raw: str, country: str) -> tuple[str, str] | None:
    """(text, value): US value is the 5-digit ZIP, Canadian ``A1A 1A1``."""
    text = _clean(raw)
    if not text:
        return None
    compact = re.sub(r"[\s-]", "", text).upper()
    if country == "CAN" or re.fullmatch(r"[A-Z]\d[A-Z]\d[A-Z]\d", compact):
        if re.fullmatch(r"[A-Z]\d[A-Z]\d[A-Z]\d", compact):
            return text, f"{compact[:3]} {compact[3:]}"
        return text, compact
    digits = re.sub(r"\D", "", text)
    if len(digits) < 5:
        return None
    return text, digits[:5]


def _build(elements: dict[str, str], version: int, iin: str, subfile_type: str) -> AamvaResult:
    raw = {k: v.rstrip() for k, v in elements.items()}
    warnings: list[str] = []
    fields: dict[str, DocumentField] = {}

    jurisdiction = IIN_JURISDICTIONS.get(iin) or _clean(raw.get("DAJ")).upper()
    country_el = _clean(raw.get("DCG")).upper()
    if country_el in {"USA", "CAN"}:
        country = country_el
    elif jurisdiction in CANADIAN_JURISDICTIONS or (
        _clean(raw.get("DAJ")).upper() in CANADIAN_JURISDICTIONS
    ):
        country = "CAN"
    else:
        country = "USA"
    month_first = version >= 2 and country == "USA"

    # Names: explicit elements first, then DCT (2005 given names), then DAA (2000 full).
    names: dict[str, str] = {}
    full = _present(raw.get("DAA"))
    if full:
        names.update(_names_from_full(full))
    given = _present(raw.get("DCT"))
    if given:
        first, middle = _split_given(given)
        names["FIRST_NAME"] = first
        if middle:
            names["MIDDLE_NAME"] = middle
    for key, eid in (
        ("LAST_NAME", "DAB"),
        ("LAST_NAME", "DCS"),
        ("FIRST_NAME", "DAC"),
        ("MIDDLE_NAME", "DAD"),
        ("SUFFIX", "DAE"),
        ("SUFFIX", "DCU"),
    ):
        v = _present(raw.get(eid))
        if v:
            names[key] = v
    if "DAC" in raw and not _clean(raw.get("DAD")) and "MIDDLE_NAME" not in names:
        # DAD left empty (not "NONE") with the middle name in DAC ("MOTORIST E").
        first, middle = _split_given(names.get("FIRST_NAME", ""))
        if middle:
            names["FIRST_NAME"], names["MIDDLE_NAME"] = first, middle
    for key, v in names.items():
        v = _clean(v).strip(",").strip()
        if _present(v):
            fields[key] = _field(v, _name_value(v))

    for key, eid in (
        ("DATE_OF_BIRTH", "DBB"),
        ("EXPIRATION_DATE", "DBA"),
        ("DATE_OF_ISSUE", "DBD"),
    ):
        v = _clean(raw.get(eid))
        if not v:
            continue
        date = _parse_date(v, month_first=month_first)
        if date is None:
            warnings.append(f"{eid}: unparseable date")
            continue
        fields[key] = _field(v, date.isoformat())

    number = _clean(raw.get("DAQ"))
    if number:
        fields["DOCUMENT_NUMBER"] = _field(number, number.upper())

    # Mailing address (DAG...), else the version 01 residence address (DAL...).
    # Each part from the mailing element, else from its residence twin (OR writes
    # an empty DAG and the street in DAL but the city in DAI).
    street, street2, city, state, postal_raw = (
        _present(raw.get(mail)) or _present(raw.get(residence))
        for mail, residence in (
            ("DAG", "DAL"),
            ("DAH", "DAM"),
            ("DAI", "DAN"),
            ("DAJ", "DAO"),
            ("DAK", "DAP"),
        )
    )
    if street2 and city and city.upper() in street2.upper():
        street2 = None  # some issuers repeat "CITY, ST ZIP" in the second line
    if street:
        line = (f"{street} {street2}" if street2 else street).strip(", ")
        fields["ADDRESS"] = _field(line, line.upper())
    for key, v in (("CITY_IN_ADDRESS", city), ("STATE_IN_ADDRESS", state)):
        if v:
            v = v.strip(", ")
            fields[key] = _field(v, v.upper())
    if postal_raw:
        postal = _postal(postal_raw, country)
        if postal is None:
            warnings.append("DAK: unusable postal code")
        else:
            fields["ZIP_CODE_IN_ADDRESS"] = _field(*postal)

    for key, eids in (
        ("CLASS", ("DCA", "DAR")),
        ("RESTRICTIONS", ("DCB", "DAS")),
        ("ENDORSEMENTS", ("DCD", "DAT")),
        ("PLACE_OF_BIRTH", ("DCI",)),
    ):
        v = next((p for e in eids if (p := _present(raw.get(e)))), None)
        if v:
            fields[key] = _field(v, v.upper())
    if _clean(raw.get("DDL")) == "1":
        fields["VETERAN"] = _field("1", "VETERAN")

    id_type = ID_TYPE_ID_CARD if subfile_type == "ID" else ID_TYPE_DRIVER_LICENSE
    fields["ID_TYPE"] = _field(subfile_type, id_type)

    missing = [k for k in _REQUIRED if k not in fields]
    if missing:
        raise AamvaError("missing required element(s): " + ", ".join(missing))

    sex = {"1": "M", "M": "M", "2": "F", "F": "F", "9": "X", "X": "X"}.get(
        _clean(raw.get("DBC")).upper()
    )
    return AamvaResult(
        fields=MappingProxyType(fields),
        version=version,
        issuer_id=iin,
        jurisdiction=jurisdiction,
        country=country,
        subfile_type=subfile_type,
        sex=sex,
        raw_elements=MappingProxyType(raw),
        warnings=tuple(warnings),
    )


def ascii_fold(text: str) -> str:
    """Strip accents the way DMVs do for the barcode (``José`` -> ``Jose``).

    Args:
        text: any Unicode text.

    Returns:
        ASCII text: letters that do not decompose fold as in
        kyc.domain.matching.SPECIAL_FOLDS (``Østergård`` -> ``Ostergard``, ``ß`` ->
        ``SS``); other characters without an ASCII base letter are dropped.
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(SPECIAL_FOLDS))
    return decomposed.encode("ascii", "ignore").decode("ascii")
