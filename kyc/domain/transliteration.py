"""ICAO Doc 9303 transliteration of names, and name equivalence under it (pure).

Doc 9303 part 3 (section 6, "Transliterations recommended for use by States") says
how the name printed in the visual zone becomes the ASCII name of the MRZ:

* Latin letters with diacritics lose them (``É`` -> E, ``Ł`` -> L), except those the
  table spells out: ``Ä`` -> AE, ``Å`` -> AA, ``Æ`` -> AE, ``Ö`` -> OE, ``Ø`` -> OE,
  ``Ü`` -> UE, ``ß`` -> SS, ``Þ`` -> TH, ``Œ`` -> OE, ``Ĳ`` -> IJ. The table lets an
  issuer write ``Ä``/``Å``/``Ö``/``Ü`` as a plain A/A/O/U instead, ``Ü`` also as UXX
  and ``Ñ`` as NXX: :func:`transliterations` gives every permitted spelling,
  :func:`mrz_name` the recommended one.
* Cyrillic letters follow the part 3 table (``Ч`` -> CH, ``Щ`` -> SHCH, ``Ю`` -> IU,
  ``Ь`` omitted, ...); the common national variants of Ukrainian and Belarusian
  passports (``Г`` -> H, ``И`` -> Y, ``Я`` -> YA, ...) are accepted as alternatives.
* Apostrophes are dropped (``D'ARTAGNAN`` -> DARTAGNAN); hyphens, spaces and commas
  become fillers (``JEAN-PIERRE`` -> JEAN<PIERRE).

Comparisons (:func:`names_equivalent`, :func:`name_keys`) ignore the fillers: OCR
spacing is unreliable and ``SMITH-JONES``, ``SMITH JONES`` and ``SMITH<JONES`` are one
name.
"""

from __future__ import annotations

import itertools
import unicodedata
from functools import cache, lru_cache

#: Letters whose Doc 9303 transliteration is not "drop the diacritic": the first
#: spelling is the recommended one, the others are permitted alternatives.
_LATIN: dict[str, tuple[str, ...]] = {
    "Ä": ("AE", "A"),
    "Å": ("AA", "A"),
    "Æ": ("AE",),
    "Ö": ("OE", "O"),
    "Ø": ("OE",),
    "Ü": ("UE", "UXX", "U"),
    "Ñ": ("N", "NXX"),
    "ß": ("SS",),
    "ẞ": ("SS",),
    "Þ": ("TH",),
    "Œ": ("OE",),
    "Ĳ": ("IJ",),
    "Ð": ("D",),
    "Đ": ("D",),
    "Ħ": ("H",),
    "Ł": ("L",),
    "Ŀ": ("L",),
    "Ŋ": ("N",),
    "Ŧ": ("T",),
    "ı": ("I",),
}
#: Doc 9303 part 3 Cyrillic table (first spelling), with the national spellings of
#: Ukrainian/Belarusian/Serbian passports as alternatives.
_CYRILLIC: dict[str, tuple[str, ...]] = {
    "А": ("A",), "Б": ("B",), "В": ("V",), "Г": ("G", "H"), "Ґ": ("G",), "Д": ("D",),
    "Ђ": ("D",), "Ѓ": ("G",), "Е": ("E",), "Ё": ("E",), "Є": ("IE", "YE"), "Ж": ("ZH",),
    "З": ("Z",), "Ѕ": ("DZ",), "И": ("I", "Y"), "І": ("I",), "Ї": ("I", "YI"),
    "Й": ("I", "Y"), "Ј": ("J",), "К": ("K",), "Л": ("L",), "Љ": ("LJ",), "М": ("M",),
    "Н": ("N",), "Њ": ("NJ",), "О": ("O",), "П": ("P",), "Р": ("R",), "С": ("S",),
    "Т": ("T",), "Ћ": ("C",), "Ќ": ("KJ",), "У": ("U",), "Ў": ("U",), "Ф": ("F",),
    "Х": ("KH",), "Ц": ("TS",), "Ч": ("CH",), "Џ": ("DZ",), "Ш": ("SH",),
    "Щ": ("SHCH",), "Ъ": ("IE",), "Ы": ("Y",), "Ь": ("",), "Э": ("E",),
    "Ю": ("IU", "YU"), "Я": ("IA", "YA"),
}  # fmt: skip
#: Dropped without a trace (Doc 9303: "apostrophes ... shall be omitted").
_DROPPED = frozenset("'\u2019\u2018\u02bc`\u00b4.")
#: Become a filler: spaces, hyphens (all dashes), commas.
_FILLERS = frozenset(" -\u2010\u2011\u2012\u2013\u2014,<\t")
#: Most spellings a name may expand to (each Ä/Å/Ö/Ü/Ñ doubles or triples them).
MAX_VARIANTS = 64


def _choices(char: str) -> tuple[str, ...]:
    """The permitted ASCII spellings of one upper-case character ('' for none)."""
    if char in _FILLERS:
        return ("<",)
    if char in _DROPPED:
        return ("",)
    if "A" <= char <= "Z" or "0" <= char <= "9":
        return (char,)
    if char in _LATIN:
        return _LATIN[char]
    if char in _CYRILLIC:
        return _CYRILLIC[char]
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and base.isascii() and base.isalnum():
        return (base.upper(),)
    return ("",)  # other punctuation and symbols are omitted


def _upper(text: str) -> str:
    # "ß".upper() is "SS" already; NFC keeps precomposed letters for the table.
    return unicodedata.normalize("NFC", text).upper()


def mrz_name(text: str) -> str:
    """The recommended Doc 9303 MRZ spelling of a name, fillers as ``<``.

    >>> mrz_name("Müller-Østergård")
    'MUELLER<OESTERGAARD'
    >>> mrz_name("D'Artagnan")
    'DARTAGNAN'

    Args:
        text: the name as printed or typed (any case, diacritics, punctuation).

    Returns:
        Upper-case A-Z and ``<`` only; runs of fillers collapsed, none at the ends.
    """
    out = "".join(_choices(c)[0] for c in _upper(text))
    return "<".join(part for part in out.split("<") if part)


def transliterations(text: str) -> frozenset[str]:
    """Every Doc 9303 spelling of a name, fillers as ``<`` (at most MAX_VARIANTS).

    ``MÜLLER`` gives MUELLER, MUXXLLER and MULLER. Beyond MAX_VARIANTS combinations
    only the recommended spelling and the plain one (every diacritic dropped) are kept.
    """
    options = [_choices(c) for c in _upper(text)]
    count = 1
    for o in options:
        count *= len(o)
    if count > MAX_VARIANTS:
        combos: list[tuple[str, ...]] = [
            tuple(o[0] for o in options),
            tuple(o[-1] for o in options),
        ]
    else:
        combos = list(itertools.product(*options))
    out = set()
    for combo in combos:
        joined = "".join(combo)
        out.add("<".join(part for part in joined.split("<") if part))
    return frozenset(out)


def name_keys(text: str) -> frozenset[str]:
    """The spellings of :func:`transliterations` without fillers (for comparing)."""
    return frozenset(t.replace("<", "") for t in transliterations(text))


def same_name(a: str, b: str) -> bool:
    """Whether two names are one under Doc 9303 transliteration (fillers ignored).

    ``Müller`` = ``MUELLER`` = ``MULLER``; ``O'Neill`` = ``ONEILL``; ``Jean-Pierre`` =
    ``JEAN PIERRE``; ``Østergård`` = ``OESTERGAARD``.
    """
    return bool(name_keys(a) & name_keys(b))


@lru_cache(maxsize=256)
def _alternatives(char: str) -> tuple[str, ...]:
    """What an OCR'd printed character may stand for in the coded (MRZ) name.

    A printed character's own transliterations, and, for a plain A/O/U, an umlaut's
    spelling (AE, OE, UE) or Å's (AA): Tesseract's English model has no umlauts, so it
    drops them (``MÜLLER`` -> MULLER) or reads another vowel (``JÜRGEN`` -> JORGEN);
    likewise it reads ``Ç`` as G (``ÇELIK`` -> GELIK). A forger gains nothing from
    such a change; an edited name differs elsewhere.
    """
    choices = tuple(c.replace("<", "") for c in _choices(char))
    lost = {
        "A": ("AE", "OE", "UE", "AA"),
        "O": ("AE", "OE", "UE"),
        "U": ("AE", "OE", "UE"),
        "G": ("C",),
    }
    return choices + lost.get(char, ())


#: Letters with diacritics that Tesseract's English model reads as another letter,
#: beyond _alternatives: printed letter -> what the coded name may hold there
#: (measured on generated pages, development fonts: Ø read G or S, Þ read P or B,
#: Í/Î read T, Ł read K, Ů/Û read O or G).
_CONFUSIONS: dict[str, tuple[str, ...]] = {
    "G": ("OE", "O", "U"),
    "S": ("OE", "O"),
    "P": ("TH",),
    "B": ("TH",),
    "T": ("I",),
    "K": ("L",),
    "O": ("U",),
}
#: Coded spellings of letters with diacritics that OCR may drop altogether (Í in
#: MIÍA read MIA, Æ read as nothing).
_DROPPABLE = ("AE", "OE", "UE", "AA", "TH", "A", "E", "I", "O", "U")
#: Fewest coded letters for a name to be allowed one OCR confusion (LI is not LIU).
MIN_CONFUSABLE = 4


def names_equivalent(
    coded: str, printed: str, *, allow_truncation: bool = True, confusions: int = 1
) -> bool:
    """Whether a coded (MRZ/barcode) name is a Doc 9303 spelling of a printed one.

    Fillers are ignored on both sides. ``coded`` may be truncated (the MRZ name
    field holds 30-39 characters, AAMVA 40): with ``allow_truncation`` a coded name
    of at least four letters that is a spelling of the start of a longer printed
    name agrees. Never the other way: a printed name shorter than the coded one
    does not agree. Up to ``confusions`` places may show an OCR misreading of a
    letter with a diacritic (_CONFUSIONS, a dropped letter from _DROPPABLE, one
    extra printed letter), in names of MIN_CONFUSABLE letters or more: an edited
    name (another person's) differs in more than that.

    Args:
        coded: the machine-readable name (ASCII, ``<`` or spaces as fillers).
        printed: the name read from the printed zone (diacritics may be present or
            lost to OCR).
        allow_truncation: accept a coded name that stops early.
        confusions: how many OCR confusions to forgive.

    Returns:
        True when some spelling of ``printed`` equals (or, truncated, starts with)
        ``coded``.
    """
    target = "".join(c for c in _upper(coded) if "A" <= c <= "Z" or "0" <= c <= "9")
    chars = [c for c in _upper(printed) if _alternatives(c) != ("",)]
    if not target or not chars:
        return False
    budget = confusions if len(target) >= MIN_CONFUSABLE else 0

    @cache
    def match(i: int, j: int, left: int) -> bool:
        if j == len(target):
            # A truncated coded name: only without a forgiven confusion.
            return i == len(chars) or (allow_truncation and len(target) >= 4 and left == budget)
        if i < len(chars) and any(
            target.startswith(alt, j) and match(i + 1, j + len(alt), left)
            for alt in _alternatives(chars[i])
        ):
            return True
        if not left:
            return False
        if i < len(chars) and any(
            target.startswith(alt, j) and match(i + 1, j + len(alt), left - 1)
            for alt in _CONFUSIONS.get(chars[i], ())
        ):
            return True
        if any(
            target.startswith(gone, j) and match(i, j + len(gone), left - 1) for gone in _DROPPABLE
        ):
            return True
        return i < len(chars) and match(i + 1, j, left - 1)

    return match(0, 0, budget)
