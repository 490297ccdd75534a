"""Passport data pages in layouts the project was not tuned on, for held-out evaluation.

:func:`kyc.demo.cards.render_passport_page` draws one layout (English labels over
their values, one font). Real passports print their labels in two or three
languages ("Surname / Nom", "Apellidos / Surname", "Name / Surname / Nom"), put
several fields on one row (Type | Code | Passport No.), number them, or print no
labels at all; they use other typefaces and inks. :func:`render_page` draws a
:class:`PassportData` in any :class:`PageStyle`, and :func:`encode` saves it as the
capture a user sends: JPEG, PNG, or a JPEG whose pixels are stored turned with an
EXIF orientation tag saying how to show it.

Every name, number and date is invented; the portrait is supplied by the caller (a
public face photo from ``shared_data_dir/faces``). Fonts are the ones this machine
has (:func:`page_fonts`): the same seed draws the same style only where the same
fonts are installed.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from kyc.demo.cards import (
    PASSPORT_PORTRAIT_BOX,
    PASSPORT_SIZE,
    PassportData,
    _background,
    _fit_portrait,
    _printable,
    draw_passport_mrz,
)

#: Label languages of a page: English only, English with French / Spanish / German
#: (the national language first where passports put it first), French only, none.
LAYOUTS = ("en", "en_fr", "en_es", "en_de", "fr", "labelless")
#: How the fields are placed: one label over its value per row, or ICAO-like rows
#: holding several fields (Type | Code | Passport No., Date of birth | Sex, ...).
ARRANGEMENTS = ("stacked", "rows")

#: Label text per layout and field.
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "type": "Type", "code": "Code", "number": "Passport No.", "surname": "Surname",
        "given": "Given names", "nationality": "Nationality", "dob": "Date of birth",
        "sex": "Sex", "issue": "Date of issue", "authority": "Authority",
        "expiry": "Date of expiry",
    },
    "en_fr": {
        "type": "Type / Type", "code": "Code / Code", "number": "Passport No. / No. du passeport",
        "surname": "Surname / Nom", "given": "Given names / Prénoms",
        "nationality": "Nationality / Nationalité", "dob": "Date of birth / Date de naissance",
        "sex": "Sex / Sexe", "issue": "Date of issue / Date de délivrance",
        "authority": "Authority / Autorité", "expiry": "Date of expiry / Date d'expiration",
    },
    "en_es": {
        "type": "Tipo / Type", "code": "Código / Code", "number": "Pasaporte N° / Passport No.",
        "surname": "Apellidos / Surname", "given": "Nombres / Given names",
        "nationality": "Nacionalidad / Nationality",
        "dob": "Fecha de nacimiento / Date of birth", "sex": "Sexo / Sex",
        "issue": "Fecha de expedición / Date of issue", "authority": "Autoridad / Authority",
        "expiry": "Fecha de caducidad / Date of expiry",
    },
    "en_de": {
        "type": "Typ / Type", "code": "Kode / Code", "number": "Pass-Nr. / Passport No.",
        "surname": "Name / Surname / Nom", "given": "Vornamen / Given names / Prénoms",
        "nationality": "Staatsangehörigkeit / Nationality",
        "dob": "Geburtstag / Date of birth", "sex": "Geschlecht / Sex",
        "issue": "Ausstellungsdatum / Date of issue", "authority": "Behörde / Authority",
        "expiry": "Gültig bis / Date of expiry",
    },
    "fr": {
        "type": "Type", "code": "Code du pays", "number": "N° du passeport", "surname": "Nom",
        "given": "Prénoms", "nationality": "Nationalité", "dob": "Date de naissance",
        "sex": "Sexe", "issue": "Date de délivrance", "authority": "Autorité",
        "expiry": "Date d'expiration",
    },
    "labelless": {},
}  # fmt: skip
#: Page titles, by layout.
TITLES = {
    "en": "PASSPORT",
    "en_fr": "PASSPORT / PASSEPORT",
    "en_es": "PASAPORTE / PASSPORT",
    "en_de": "REISEPASS / PASSPORT",
    "fr": "PASSEPORT",
    "labelless": "PASSPORT",
}
_EN = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_FR = ("JAN", "FÉV", "MARS", "AVR", "MAI", "JUIN", "JUIL", "AOÛT", "SEPT", "OCT", "NOV", "DÉC")
_ES = ("ENE", "FEB", "MAR", "ABR", "MAY", "JUN", "JUL", "AGO", "SEP", "OCT", "NOV", "DIC")

#: Font files tried for labels and values (Debian's DejaVu and Liberation, and Hanken
#: Grotesk from the great_expectations wheel); those present are used.
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerifCondensed.ttf",
)
#: Label inks (grey-blue, dark red, green, brown) and value inks (black, navy).
LABEL_INKS = ((90, 90, 110), (150, 30, 40), (40, 100, 60), (110, 80, 40), (60, 60, 60))
VALUE_INKS = ((10, 10, 10), (15, 25, 80), (40, 20, 20))


@lru_cache(maxsize=1)
def page_fonts() -> tuple[str, ...]:
    """The candidate font files installed here (may be empty: Pillow's font is used)."""
    out = []
    for path in _FONT_CANDIDATES:
        if Path(path).is_file():
            try:
                ImageFont.truetype(path, 20)
            except OSError:
                continue
            out.append(path)
    return tuple(out)


@lru_cache(maxsize=64)
def _font(path: str | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size)


@dataclass(frozen=True, slots=True)
class PageStyle:
    """How one page is drawn (see the module doc)."""

    layout: str = "en"
    arrangement: str = "stacked"
    label_font: str | None = None
    value_font: str | None = None
    label_size: int = 22
    value_size: int = 32
    label_ink: tuple[int, int, int] = LABEL_INKS[0]
    value_ink: tuple[int, int, int] = VALUE_INKS[0]
    numbered: bool = False  # "1. Surname / Nom", as some issuers number fields


def random_style(
    rng: random.Random, layout: str, fonts: tuple[str, ...] | None = None
) -> PageStyle:
    """A style for ``layout`` drawn from ``rng`` (fonts among ``fonts``, default all)."""
    choices = fonts if fonts is not None else page_fonts()
    label_font = rng.choice(choices) if choices else None
    value_font = rng.choice(choices) if choices else None
    return PageStyle(
        layout=layout,
        arrangement=rng.choice(ARRANGEMENTS),
        label_font=label_font,
        value_font=value_font,
        label_size=rng.choice((20, 22, 24)),
        value_size=rng.choice((28, 30, 32, 34)),
        label_ink=rng.choice(LABEL_INKS),
        value_ink=rng.choice(VALUE_INKS),
        numbered=layout != "labelless" and rng.random() < 0.25,
    )


def printed_date(d: dt.date, layout: str) -> str:
    """A date as pages of ``layout`` print it (``12 AUG/AOÛT 74``, ``12.08.1974``)."""
    m = d.month - 1
    if layout == "en_fr":
        return f"{d.day:02d} {_EN[m]}/{_FR[m]} {d:%y}"
    if layout == "en_es":
        return f"{d.day:02d} {_ES[m]}/{_EN[m]} {d.year}"
    if layout == "en_de":
        return d.strftime("%d.%m.%Y")
    if layout == "fr":
        return d.strftime("%d/%m/%Y")
    return f"{d.day:02d} {_EN[m]} {d.year}"


def _rows(p: PassportData, style: PageStyle) -> list[list[tuple[str, str]]]:
    """(field, value) per row of the page."""
    date = style.layout
    number = p.document_number.upper()
    surname = _printable(p.surname.upper())
    given = _printable(p.given_names.upper())
    if style.arrangement == "rows":
        return [
            [("type", "P"), ("code", p.issuing_state), ("number", number)],
            [("surname", surname)],
            [("given", given)],
            [("nationality", p.nationality)],
            [("dob", printed_date(p.date_of_birth, date)), ("sex", p.sex)],
            [("issue", printed_date(p.issue_date, date)), ("authority", "PASSPORT OFFICE")],
            [("expiry", printed_date(p.expiry_date, date))],
        ]
    return [
        [("number", number)],
        [("surname", surname)],
        [("given", given)],
        [("nationality", p.nationality)],
        [("dob", printed_date(p.date_of_birth, date))],
        [("expiry", printed_date(p.expiry_date, date))],
    ]


def render_page(
    p: PassportData,
    portrait: Image.Image | None,
    style: PageStyle,
    *,
    seed: int = 0,
    printed: PassportData | None = None,
) -> Image.Image:
    """Draw a TD3 data page in ``style``: the visual zone shows ``printed``, the MRZ ``p``.

    Args:
        p: the data encoded in the MRZ (names by ICAO 9303 transliteration).
        portrait: the holder's photo (None: grey placeholder).
        style: labels, arrangement, fonts and inks.
        seed: varies the background.
        printed: what the visual zone shows when it should differ from the MRZ (an
            edited page); default ``p``.

    Returns:
        The page (1000 x 704 px, RGB).
    """
    shown = printed or p
    rng = random.Random(seed + 97)
    img = _background(rng).resize(PASSPORT_SIZE)
    draw = ImageDraw.Draw(img)
    title_font = _font(style.label_font, 36)
    draw.text((40, 50), TITLES[style.layout], font=title_font, fill=(24, 56, 112), anchor="lm")
    draw.text((PASSPORT_SIZE[0] - 40, 50), f"UTOPIA  {shown.issuing_state}",
              font=_font(style.label_font, 28), fill=(24, 56, 112), anchor="rm")  # fmt: skip
    box_w = PASSPORT_PORTRAIT_BOX[2] - PASSPORT_PORTRAIT_BOX[0]
    box_h = PASSPORT_PORTRAIT_BOX[3] - PASSPORT_PORTRAIT_BOX[1]
    if portrait is not None:
        img.paste(_fit_portrait(portrait, (box_w, box_h)), PASSPORT_PORTRAIT_BOX[:2])
    else:
        draw.rectangle(PASSPORT_PORTRAIT_BOX, fill=(200, 200, 200))
    labels = LABELS[style.layout]
    rows = _rows(shown, style)
    # Rows of several fields use smaller type, as pages that print them do.
    small = 4 if style.arrangement == "rows" else 0
    label_size, value_size = style.label_size - small, style.value_size - 2 * small
    value_font = _font(style.value_font, value_size)
    x0, y = 330, 116
    row_height = min(78, (548 - y) // len(rows))
    number = 0
    for row in rows:
        x = x0
        for field, value in row:
            label = labels.get(field, "")
            if label and style.numbered:
                number += 1
                label = f"{number}. {label}"
            # A label too long for the page's edge is set smaller (never below 12 px).
            size = label_size
            while size > 12 and label and x + _font(style.label_font, size).getlength(label) > 985:
                size -= 1
            label_font = _font(style.label_font, size)
            if label:
                draw.text((x, y), label, font=label_font, fill=style.label_ink, anchor="ls")
            draw.text((x, y + (value_size + 4 if label else 0)), value, font=value_font,
                      fill=style.value_ink, anchor="ls")  # fmt: skip
            # The next field of the row starts after this label or value, with a clear
            # gap between the columns.
            width = max(
                draw.textlength(label, font=label_font) if label else 0,
                draw.textlength(value, font=value_font),
            )
            x = int(x + width + 50)
        y += row_height
    draw_passport_mrz(draw, p)
    return img


#: Capture encodings: JPEG, PNG, and JPEGs stored turned with an EXIF orientation.
ENCODINGS = ("jpeg", "png", "exif6", "exif3", "exif8")
#: EXIF orientation -> the turn that stores the upright page so the tag undoes it.
_STORED_TURN = {
    "exif6": (6, Image.Transpose.ROTATE_90),
    "exif3": (3, Image.Transpose.ROTATE_180),
    "exif8": (8, Image.Transpose.ROTATE_270),
}


def encode(img: Image.Image, encoding: str, *, quality: int = 90) -> bytes:
    """The page as a user's file: ``jpeg``, ``png``, or ``exif6``/``exif3``/``exif8``.

    The EXIF variants store the pixels turned as a phone camera does and tag the
    JPEG with the orientation (6: turn 90 degrees clockwise to show, 3: 180, 8: 90
    counter-clockwise) that shows the page upright again.
    """
    buf = io.BytesIO()
    rgb = img.convert("RGB")
    if encoding == "png":
        rgb.save(buf, format="PNG")
    elif encoding == "jpeg":
        rgb.save(buf, format="JPEG", quality=quality)
    elif encoding in _STORED_TURN:
        tag, turn = _STORED_TURN[encoding]
        exif = Image.Exif()
        exif[0x0112] = tag
        rgb.transpose(turn).save(buf, format="JPEG", quality=quality, exif=exif.tobytes())
    else:
        raise ValueError(f"unknown encoding {encoding!r}; choose from {', '.join(ENCODINGS)}")
    return buf.getvalue()
