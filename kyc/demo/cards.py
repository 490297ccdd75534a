"""Synthetic US driving licences for demos and tests (front, PDF417 back, degradation).

Everything on the card is invented except the portrait, which the caller supplies
(a public face photo from ``shared_data_dir/faces``); no image ships with the code.

Accents: AAMVA barcodes are ASCII in practice, so the barcode carries the
ASCII-folded, upper-case name (``José`` -> ``JOSE``) as DMVs encode it, while the
printed front shows the name with its accents (``JOSÉ``). A reader comparing the two
sides must therefore compare names accent-insensitively.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import io
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import pdf417gen
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from kyc.domain.aamva import IIN_JURISDICTIONS, ascii_fold

#: ID-1 format (85.60 x 53.98 mm) at 300 dpi.
CARD_SIZE = (1012, 638)
PORTRAIT_BOX = (40, 150, 280, 450)  # 240 x 300 px

#: Jurisdiction code -> name printed in the card header.
STATE_NAMES = {
    "AL": "ALABAMA", "AK": "ALASKA", "AZ": "ARIZONA", "AR": "ARKANSAS", "CA": "CALIFORNIA",
    "CO": "COLORADO", "CT": "CONNECTICUT", "DE": "DELAWARE", "DC": "DISTRICT OF COLUMBIA",
    "FL": "FLORIDA", "GA": "GEORGIA", "HI": "HAWAII", "ID": "IDAHO", "IL": "ILLINOIS",
    "IN": "INDIANA", "IA": "IOWA", "KS": "KANSAS", "KY": "KENTUCKY", "LA": "LOUISIANA",
    "ME": "MAINE", "MD": "MARYLAND", "MA": "MASSACHUSETTS", "MI": "MICHIGAN",
    "MN": "MINNESOTA", "MS": "MISSISSIPPI", "MO": "MISSOURI", "MT": "MONTANA",
    "NE": "NEBRASKA", "NV": "NEVADA", "NH": "NEW HAMPSHIRE", "NJ": "NEW JERSEY",
    "NM": "NEW MEXICO", "NY": "NEW YORK", "NC": "NORTH CAROLINA", "ND": "NORTH DAKOTA",
    "OH": "OHIO", "OK": "OKLAHOMA", "OR": "OREGON", "PA": "PENNSYLVANIA",
    "RI": "RHODE ISLAND", "SC": "SOUTH CAROLINA", "SD": "SOUTH DAKOTA", "TN": "TENNESSEE",
    "TX": "TEXAS", "UT": "UTAH", "VT": "VERMONT", "VA": "VIRGINIA", "WA": "WASHINGTON",
    "WV": "WEST VIRGINIA", "WI": "WISCONSIN", "WY": "WYOMING",
}  # fmt: skip

_SEX_CODES = {"M": "1", "1": "1", "F": "2", "2": "2", "X": "9", "9": "9"}
_SEX_LETTERS = {"1": "M", "2": "F", "9": "X"}
#: AAMVA limits for the name elements (DCS, DAC, DAD: 40 characters each).
_NAME_MAX = 40
#: Field labels: small like on real cards, but large enough for Tesseract.
_LABEL_SIZE = 30


@dataclass(frozen=True, slots=True)
class CardData:
    """What is printed on, and encoded in, one synthetic licence.

    Attributes:
        sex: ``M``/``F``/``X`` or the AAMVA codes ``1``/``2``/``9``.
        jurisdiction: issuing state code, e.g. ``CA``.
        iin: issuer identification number; None takes the jurisdiction's own.
    """

    first_name: str
    middle_name: str | None
    last_name: str
    date_of_birth: dt.date
    expiry_date: dt.date
    issue_date: dt.date
    document_number: str
    address_line: str
    city: str
    state: str
    postal_code: str
    sex: str
    jurisdiction: str = "CA"
    country: str = "USA"
    iin: str | None = None
    vehicle_class: str = "C"
    height_in: int = 68
    eye_color: str = "BRO"

    @property
    def issuer_id(self) -> str:
        """The IIN written in the barcode header."""
        if self.iin:
            return self.iin
        for iin, code in IIN_JURISDICTIONS.items():
            if code == self.jurisdiction:
                return iin
        raise ValueError(f"no IIN known for jurisdiction {self.jurisdiction!r}; pass iin=")


def barcode_name(name: str) -> str:
    """A name as DMVs encode it in the barcode: ASCII-folded, upper-case, single-spaced.

    Args:
        name: the printed name, accents included.

    Returns:
        The barcode form (``José`` -> ``JOSE``).
    """
    return re.sub(r"\s+", " ", ascii_fold(name)).strip().upper()


def _aamva_date(d: dt.date, country: str) -> str:
    # AAMVA from version 02: MMDDCCYY in the USA, CCYYMMDD in Canada.
    return d.strftime("%Y%m%d") if country == "CAN" else d.strftime("%m%d%Y")


def _name_element(name: str) -> tuple[str, str]:
    """(value, truncation flag) for DCS/DAC/DAD: at most 40 characters, ``T`` if cut."""
    value = barcode_name(name)
    return value[:_NAME_MAX], "T" if len(value) > _NAME_MAX else "N"


def aamva_payload(card: CardData) -> str:
    """Build an AAMVA version 10 (DL/ID Card Design Standard 2020) DL payload.

    Args:
        card: the card data.

    Returns:
        The barcode text, header and subfile designator included, that
        :func:`kyc.domain.aamva.parse_aamva` reads back field for field.
    """
    last, last_cut = _name_element(card.last_name)
    first, first_cut = _name_element(card.first_name)
    middle, middle_cut = _name_element(card.middle_name or "")
    if card.country == "CAN":
        postal = re.sub(r"\s", "", card.postal_code).upper().ljust(11)
    else:
        digits = re.sub(r"\D", "", card.postal_code)
        # The standard fills an unknown ZIP+4 with zeros and pads to 11 characters.
        postal = digits.ljust(9, "0")[:9].ljust(11)
    discriminator = (
        hashlib.sha256(f"{card.document_number}{card.issue_date}".encode()).hexdigest()[:16].upper()
    )
    elements = [
        ("DAQ", card.document_number.upper()),
        ("DCS", last),
        ("DDE", last_cut),
        ("DAC", first),
        ("DDF", first_cut),
        ("DAD", middle or "NONE"),
        ("DDG", middle_cut),
        ("DCA", card.vehicle_class.upper()),
        ("DCB", "NONE"),
        ("DCD", "NONE"),
        ("DBD", _aamva_date(card.issue_date, card.country)),
        ("DBB", _aamva_date(card.date_of_birth, card.country)),
        ("DBA", _aamva_date(card.expiry_date, card.country)),
        ("DBC", _SEX_CODES.get(card.sex.upper(), "9")),
        ("DAU", f"{card.height_in:03d} IN"),
        ("DAY", card.eye_color.upper()),
        ("DAG", barcode_name(card.address_line)),
        ("DAI", barcode_name(card.city)),
        ("DAJ", card.state.upper()),
        ("DAK", postal),
        ("DCF", discriminator),
        ("DCG", card.country.upper()),
    ]
    subfile = "DL" + "\n".join(f"{eid}{value}" for eid, value in elements) + "\r"
    # Header: "@" LF RS CR "ANSI " IIN, version 10, jurisdiction version 00, 1 entry,
    # then one designator: type, offset and length of the subfile.
    header = f"@\n\x1e\rANSI {card.issuer_id}100001"
    offset = len(header) + 10
    return f"{header}DL{offset:04d}{len(subfile):04d}{subfile}"


# --- rendering ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _font_path() -> str | None:
    """A sans font with accented capitals, or None for Pillow's embedded Aileron.

    Aileron (Pillow >= 10.1, always there) has no accented letters, so prefer Hanken
    (HK) Grotesk, which the pinned great_expectations wheel installs (same file on
    every machine), then DejaVu Sans from the OS. Located without importing GX.
    """
    candidates: list[Path] = []
    spec = importlib.util.find_spec("great_expectations")
    for root in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(root) / "render/view/static/fonts/HKGrotesk/HKGrotesk-Regular.otf")
    candidates.append(Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
    for path in candidates:
        if path.is_file():
            try:
                ImageFont.truetype(str(path), 20)
            except OSError:
                continue
            return str(path)
    return None


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _font_path()
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)


def _printable(text: str) -> str:
    """The text itself, or its ASCII fold when the font has no glyph for a letter."""
    if text.isascii() or _font_path() is not None:
        return text
    return ascii_fold(text)


def _background(rng: random.Random) -> Image.Image:
    """Pale card stock with a faint guilloche-like pattern (seeded)."""
    base = rng.choice([(236, 242, 248), (240, 246, 236), (248, 242, 232), (238, 238, 246)])
    img = Image.new("RGB", CARD_SIZE, base)
    draw = ImageDraw.Draw(img)
    tint = tuple(max(0, c - 22) for c in base)
    phase = rng.uniform(0, 60)
    for y in range(-40, CARD_SIZE[1] + 40, 18):
        points = [
            (x, y + 7 * ((((x + phase) / 40.0) % 2) - 1) ** 2) for x in range(0, CARD_SIZE[0], 8)
        ]
        draw.line(points, fill=tint, width=1)
    return img


def _jpeg(img: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _fit_portrait(portrait: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale and centre-crop the photo to fill the portrait box (faces sit high)."""
    photo = ImageOps.exif_transpose(portrait) or portrait
    return ImageOps.fit(photo.convert("RGB"), size, Image.Resampling.LANCZOS, centering=(0.5, 0.4))


def _label_value(
    draw: ImageDraw.ImageDraw,
    x: int,
    baseline: int,
    label: str,
    value: str,
    *,
    value_size: int = 34,
    value_fill: tuple[int, int, int] = (10, 10, 10),
) -> int:
    """Draw ``LABEL value`` on one baseline; return the x after the value."""
    draw.text((x, baseline), label, font=_font(_LABEL_SIZE), fill=(150, 16, 24), anchor="ls")
    # A clear gap, or OCR glues label and value into one word ("DLN5711915").
    vx = x + int(draw.textlength(label, font=_font(_LABEL_SIZE))) + 18
    draw.text((vx, baseline), value, font=_font(value_size), fill=value_fill, anchor="ls")
    return vx + int(draw.textlength(value, font=_font(value_size)))


def render_licence_front(card: CardData, portrait: Image.Image | None, *, seed: int = 0) -> bytes:
    """Render the front of a licence as a JPEG (1012 x 638 px, ID-1 at 300 dpi).

    Args:
        card: what to print (names keep their accents here).
        portrait: the holder's face photo, resized and cropped to fill 240 x 300 px;
            None leaves a grey placeholder (a card with no face).
        seed: varies the background tint and pattern.

    Returns:
        JPEG bytes.
    """
    rng = random.Random(seed)
    img = _background(rng)
    draw = ImageDraw.Draw(img)
    # Header band.
    draw.rectangle((0, 0, CARD_SIZE[0], 110), fill=(24, 56, 112))
    state_name = STATE_NAMES.get(card.jurisdiction.upper(), card.jurisdiction.upper())
    draw.text((40, 62), state_name, font=_font(52), fill=(255, 255, 255), anchor="lm")
    draw.text((CARD_SIZE[0] - 40, 40), "DRIVER LICENSE", font=_font(34), fill=(255, 214, 90),
              anchor="rm")  # fmt: skip
    draw.text((CARD_SIZE[0] - 40, 84), "USA", font=_font(24), fill=(255, 255, 255), anchor="rm")

    box_w, box_h = PORTRAIT_BOX[2] - PORTRAIT_BOX[0], PORTRAIT_BOX[3] - PORTRAIT_BOX[1]
    if portrait is not None:
        img.paste(_fit_portrait(portrait, (box_w, box_h)), PORTRAIT_BOX[:2])
    else:
        draw.rectangle(PORTRAIT_BOX, fill=(200, 200, 200))
    draw.rectangle(PORTRAIT_BOX, outline=(90, 90, 90), width=2)

    x = 320
    given = " ".join(p for p in (card.first_name, card.middle_name) if p).upper()
    sex = _SEX_LETTERS.get(_SEX_CODES.get(card.sex.upper(), "9"), "X")
    date = "%m/%d/%Y"
    _label_value(draw, x, 170, "DL", card.document_number.upper(), value_size=40)
    _label_value(draw, x, 222, "EXP", card.expiry_date.strftime(date), value_fill=(170, 20, 30))
    _label_value(draw, x, 280, "LN", _printable(card.last_name.upper()))
    _label_value(draw, x, 328, "FN", _printable(given))
    street = _printable(card.address_line.upper())
    draw.text((x, 372), street, font=_font(28), fill=(10, 10, 10), anchor="ls")
    city_line = _printable(f"{card.city.upper()}, {card.state.upper()} {card.postal_code}")
    draw.text((x, 408), city_line, font=_font(28), fill=(10, 10, 10), anchor="ls")
    _label_value(draw, x, 462, "DOB", card.date_of_birth.strftime(date), value_fill=(170, 20, 30))
    end = _label_value(draw, x, 514, "SEX", sex, value_size=30)
    _label_value(draw, end + 40, 514, "CLASS", card.vehicle_class.upper(), value_size=30)
    _label_value(draw, x, 562, "ISS", card.issue_date.strftime(date), value_size=30)
    # A scribble where the signature goes, below the portrait.
    sig = [(60 + i * 12, 520 + rng.randint(-12, 12)) for i in range(16)]
    draw.line(sig, fill=(30, 30, 90), width=3)
    return _jpeg(img)


#: Largest barcode that fits under the back's text block.
_BARCODE_BOX = (CARD_SIZE[0] - 40, 410)


def _barcode_image(payload: str) -> Image.Image:
    """The PDF417 symbol: 4 px modules, rows 3 modules tall, error correction level 5.

    Level 5 (64 EC codewords) is above the AAMVA minimum (3) and, with 4 px modules,
    survives a blurred, tilted phone capture. Eight data columns keep the symbol
    compact (tilt shifts a wide symbol across more rows); more columns are used only
    when a long payload would make the symbol too tall for the card.
    """
    for columns in range(8, 31):
        codes = pdf417gen.encode(payload, columns=columns, security_level=5)
        for scale in (4, 3, 2):
            img = pdf417gen.render_image(codes, scale=scale, ratio=3, padding=12)
            if img.width <= _BARCODE_BOX[0] and img.height <= _BARCODE_BOX[1]:
                return img
    raise ValueError("AAMVA payload too long for a card-sized PDF417")


def render_licence_back(card: CardData, *, seed: int = 0) -> bytes:
    """Render the back of a licence with its AAMVA PDF417 barcode, as a JPEG.

    Args:
        card: the card data (encoded with :func:`aamva_payload`).
        seed: varies the background tint and pattern.

    Returns:
        JPEG bytes (1012 x 638 px).
    """
    return render_barcode_back(aamva_payload(card), jurisdiction=card.jurisdiction, seed=seed)


def render_barcode_back(payload: str, *, jurisdiction: str = "CA", seed: int = 0) -> bytes:
    """Render a licence back carrying any AAMVA payload as PDF417, as a JPEG.

    Args:
        payload: the barcode text (e.g. a sample payload from ``shared/data``).
        jurisdiction: state code for the printed header.
        seed: varies the background tint and pattern.

    Returns:
        JPEG bytes (1012 x 638 px).

    Raises:
        ValueError: the payload is too long for a card-sized symbol.
    """
    rng = random.Random(seed + 7919)
    img = _background(rng)
    draw = ImageDraw.Draw(img)
    barcode = _barcode_image(payload)
    bx = (CARD_SIZE[0] - barcode.width) // 2
    by = CARD_SIZE[1] - barcode.height - 24
    img.paste(barcode, (bx, by))
    state_name = STATE_NAMES.get(jurisdiction.upper(), jurisdiction.upper())
    draw.text((40, 50), f"{state_name} DEPARTMENT OF MOTOR VEHICLES", font=_font(30),
              fill=(24, 56, 112), anchor="lm")  # fmt: skip
    draw.text((40, 100), "RESTRICTIONS: NONE    ENDORSEMENTS: NONE", font=_font(24),
              fill=(40, 40, 40), anchor="lm")  # fmt: skip
    draw.text((40, 140), "This card is the property of the issuing jurisdiction.",
              font=_font(20), fill=(60, 60, 60), anchor="lm")  # fmt: skip
    return _jpeg(img)


def degrade(jpeg: bytes, *, blur: float, jpeg_quality: int, tilt_deg: float = 0) -> bytes:
    """Make a worse capture of a rendered card: tilt, blur and recompress.

    Args:
        jpeg: image bytes (any format Pillow reads).
        blur: Gaussian blur radius in pixels (0 = none; ~12 makes text unreadable).
        jpeg_quality: JPEG quality 1-95 of the output.
        tilt_deg: rotation in degrees (counter-clockwise), white fill at the corners.

    Returns:
        JPEG bytes of the same card as a poorer capture.
    """
    img = Image.open(io.BytesIO(jpeg)).convert("RGB")
    if tilt_deg:
        img = img.rotate(
            tilt_deg, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(255, 255, 255)
        )
    if blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(radius=blur))
    return _jpeg(img, quality=max(1, min(95, jpeg_quality)))


def photograph(
    image: bytes,
    *,
    tilt_deg: float,
    perspective: float = 0.0,
    blur: float = 0.0,
    jpeg_quality: int = 90,
    seed: int = 0,
) -> bytes:
    """A phone photo of a rendered document: on a desk, tilted, in perspective.

    Unlike :func:`degrade` (rotation on white), the document lies on a darker,
    textured background with a margin around it, as users photograph their cards, so
    a reader must find and flatten it.

    Args:
        image: the rendered document (any format Pillow reads).
        tilt_deg: in-plane rotation in degrees.
        perspective: 0-0.2, how much nearer one edge is than the other (keystone).
        blur: Gaussian blur radius in pixels after the warp.
        jpeg_quality: JPEG quality of the output.
        seed: varies the background and which edge is nearer.

    Returns:
        JPEG bytes of the photo (about 1.4 x the document's size).
    """
    import numpy as np  # local: cards.py is imported by code that never photographs

    rng = random.Random(seed)
    doc = Image.open(io.BytesIO(image)).convert("RGB")
    w, h = doc.size
    margin_x, margin_y = int(w * 0.22), int(h * 0.3)
    size = (w + 2 * margin_x, h + 2 * margin_y)
    shade = rng.randint(60, 110)
    noise = np.random.default_rng(seed).normal(0, 9, (size[1], size[0], 1))
    desk = np.clip(np.full((size[1], size[0], 3), (shade, shade - 8, shade - 20)) + noise, 0, 255)
    canvas = Image.fromarray(desk.astype("uint8"))
    canvas.paste(doc, (margin_x, margin_y))
    # Keystone: shrink one edge towards its centre, then rotate about the centre.
    k = perspective * (w if rng.random() < 0.5 else -w) / 2
    x0, y0, x1, y1 = margin_x, margin_y, margin_x + w, margin_y + h
    src = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    dst = [(x0 + max(k, 0), y0), (x1 - max(k, 0), y0), (x1 + min(k, 0), y1), (x0 - min(k, 0), y1)]
    coeffs = _perspective_coeffs(dst, src)
    canvas = canvas.transform(size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC,
                             fillcolor=(shade, shade - 8, shade - 20))  # fmt: skip
    canvas = canvas.rotate(tilt_deg, resample=Image.Resampling.BICUBIC,
                           fillcolor=(shade, shade - 8, shade - 20))  # fmt: skip
    if blur > 0:
        canvas = canvas.filter(ImageFilter.GaussianBlur(radius=blur))
    return _jpeg(canvas, quality=max(1, min(95, jpeg_quality)))


def _perspective_coeffs(
    dst: Sequence[tuple[float, float]], src: Sequence[tuple[float, float]]
) -> tuple[float, ...]:
    """Pillow PERSPECTIVE coefficients mapping output points ``dst`` to input ``src``."""
    import numpy as np

    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.array(rows, dtype=float)
    b = np.array([c for p in src for c in p], dtype=float)
    return tuple(float(c) for c in np.linalg.solve(a, b))


# --- passports (TD3) ------------------------------------------------------------------

#: ID-3 passport data page (125 x 88 mm) at 8 px/mm.
PASSPORT_SIZE = (1000, 704)
PASSPORT_PORTRAIT_BOX = (40, 130, 300, 460)
#: Debian's fonts-ocr-b: the typeface ICAO 9303 prescribes for the MRZ.
_OCRB = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")


@dataclass(frozen=True, slots=True)
class PassportData:
    """What is printed on, and encoded in the MRZ of, one synthetic passport page."""

    surname: str
    given_names: str
    nationality: str
    date_of_birth: dt.date
    sex: str
    expiry_date: dt.date
    issue_date: dt.date
    document_number: str
    issuing_state: str = "UTO"
    place_of_birth: str = "ZENITH"


def _mrz_name(text: str) -> str:
    """A name as passports encode it: ICAO 9303 transliteration (MÜLLER -> MUELLER)."""
    from kyc.domain.transliteration import mrz_name  # local: keeps the demo import light

    return mrz_name(text)


def passport_mrz(p: PassportData) -> tuple[str, str]:
    """The two TD3 MRZ lines of a passport, with valid ICAO check digits."""
    from kyc.domain.mrz import check_digit  # local: keeps the demo import light

    name = f"{_mrz_name(p.surname)}<<{_mrz_name(p.given_names)}"
    line1 = f"P<{p.issuing_state}{name}"[:44].ljust(44, "<")
    number = p.document_number.upper().ljust(9, "<")[:9]
    dob = p.date_of_birth.strftime("%y%m%d")
    exp = p.expiry_date.strftime("%y%m%d")
    personal = "<" * 14
    body = (
        f"{number}{check_digit(number)}{p.nationality}{dob}{check_digit(dob)}{p.sex[:1]}"
        f"{exp}{check_digit(exp)}{personal}<"
    )
    composite = check_digit(body[0:10] + body[13:20] + body[21:43])
    return line1, body + composite


def _mrz_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if _OCRB.is_file():
        return ImageFont.truetype(str(_OCRB), size)
    return _font(size)  # pragma: no cover - without the OCR-B font


def render_passport_page(
    p: PassportData,
    portrait: Image.Image | None,
    *,
    seed: int = 0,
    printed: PassportData | None = None,
) -> bytes:
    """Render a passport data page (ID-3) with its TD3 MRZ, as a JPEG.

    Args:
        p: the data encoded in the MRZ.
        portrait: the holder's photo (None: grey placeholder).
        seed: varies the background.
        printed: what the visual zone shows, when it should differ from the MRZ
            (a tampered page for cross-check tests); default ``p``.

    Returns:
        JPEG bytes (1000 x 704 px).
    """
    shown = printed or p
    rng = random.Random(seed + 31)
    img = _background(rng).resize(PASSPORT_SIZE)
    draw = ImageDraw.Draw(img)
    draw.text((40, 50), "PASSPORT", font=_font(40), fill=(24, 56, 112), anchor="lm")
    draw.text((PASSPORT_SIZE[0] - 40, 50), f"UTOPIA  {shown.issuing_state}", font=_font(30),
              fill=(24, 56, 112), anchor="rm")  # fmt: skip
    box_w = PASSPORT_PORTRAIT_BOX[2] - PASSPORT_PORTRAIT_BOX[0]
    box_h = PASSPORT_PORTRAIT_BOX[3] - PASSPORT_PORTRAIT_BOX[1]
    if portrait is not None:
        img.paste(_fit_portrait(portrait, (box_w, box_h)), PASSPORT_PORTRAIT_BOX[:2])
    else:
        draw.rectangle(PASSPORT_PORTRAIT_BOX, fill=(200, 200, 200))
    x = 340
    label, value = _font(22), _font(32)
    date = "%d %b %Y"
    rows = [
        ("Passport No", shown.document_number.upper()),
        ("Surname", _printable(shown.surname.upper())),
        ("Given names", _printable(shown.given_names.upper())),
        ("Nationality", shown.nationality),
        ("Date of birth", shown.date_of_birth.strftime(date).upper()),
        ("Date of expiry", shown.expiry_date.strftime(date).upper()),
    ]
    y = 120
    for name, text in rows:
        draw.text((x, y), name, font=label, fill=(90, 90, 110), anchor="ls")
        draw.text((x, y + 38), text, font=value, fill=(10, 10, 10), anchor="ls")
        y += 78
    draw_passport_mrz(draw, p)
    return _jpeg(img)


def draw_passport_mrz(draw: ImageDraw.ImageDraw, p: PassportData) -> None:
    """Draw the two 44-character OCR-B MRZ lines of ``p`` across the page's bottom.

    On a white band from y = 560, in the largest OCR-B size that fits the page width.
    """
    draw.rectangle((0, 560, PASSPORT_SIZE[0], PASSPORT_SIZE[1]), fill=(250, 250, 250))
    lines = passport_mrz(p)
    size = 34
    while size > 12 and _mrz_font(size).getlength(lines[0]) > PASSPORT_SIZE[0] - 60:
        size -= 1
    font = _mrz_font(size)
    for i, line in enumerate(lines):
        draw.text((30, 600 + i * 56), line, font=font, fill=(0, 0, 0), anchor="ls")


#: Printed-page edits of the tampered passports: one checked field each.
PASSPORT_EDITS = ("DATE_OF_BIRTH", "DOCUMENT_NUMBER", "LAST_NAME", "EXPIRATION_DATE", "FIRST_NAME")


def edited_passport(p: PassportData, key: str) -> PassportData:
    """What a forger prints instead of ``p``: the field ``key`` changed.

    Args:
        p: the genuine data (what the MRZ keeps).
        key: one of PASSPORT_EDITS.

    Returns:
        The data with that field changed (birth 7 years earlier, the number's last
        digit +3, another surname or given name, expiry 5 years later).
    """
    if key == "DATE_OF_BIRTH":
        return replace(p, date_of_birth=p.date_of_birth.replace(year=p.date_of_birth.year - 7))
    if key == "DOCUMENT_NUMBER":
        last = str((int(p.document_number[-1]) + 3) % 10)
        return replace(p, document_number=p.document_number[:-1] + last)
    if key == "LAST_NAME":
        return replace(p, surname="Novak" if p.surname != "Novak" else "Berg")
    if key == "EXPIRATION_DATE":
        return replace(p, expiry_date=p.expiry_date.replace(year=p.expiry_date.year + 5))
    return replace(p, given_names="Vera" if p.given_names != "Vera" else "Ines")
