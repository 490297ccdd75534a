"""Build ``kyc/domain/name_bigrams.py``: letter-pair counts of personal names.

The MRZ reader uses these counts to choose between look-alike letters (E/F, O/Q,
G/Q, I/T) that the templates score almost equally in the *name* field, which no
check digit covers (see :func:`kyc.domain.mrz.decode_scores`).

Source: the first- and last-name lists of Faker's person providers (MIT licence) for
the Latin-script locales below, transliterated to the MRZ alphabet as ICAO 9303
part 3 recommends (Ä→AE, Ö→OE, Ü→UE, Å→AA, Æ→AE, Ø→OE, ß→SS, Þ→TH, other accents
dropped). Each distinct name counts once. Faker is not a project dependency; to
rebuild::

    python -m venv /tmp/faker && /tmp/faker/bin/pip install faker==40.54.0
    /tmp/faker/bin/python tools/build_name_bigrams.py > kyc/domain/name_bigrams.py
"""

from __future__ import annotations

import importlib
import sys
import unicodedata
from collections import Counter

LOCALES = [
    "cs_CZ",
    "da_DK",
    "de_AT",
    "de_CH",
    "de_DE",
    "en_GB",
    "en_IE",
    "en_US",
    "es_ES",
    "es_MX",
    "et_EE",
    "fi_FI",
    "fr_FR",
    "hr_HR",
    "hu_HU",
    "id_ID",
    "is_IS",
    "it_IT",
    "lt_LT",
    "lv_LV",
    "nl_NL",
    "no_NO",
    "pl_PL",
    "pt_BR",
    "pt_PT",
    "ro_RO",
    "sk_SK",
    "sl_SI",
    "sv_SE",
    "tr_TR",
]
#: ICAO 9303 part 3, table of recommended transliterations (the Latin part).
_ICAO = {
    "Ä": "AE",
    "Ö": "OE",
    "Ü": "UE",
    "Å": "AA",
    "Æ": "AE",
    "Ø": "OE",
    "ß": "SS",
    "Þ": "TH",
    "Ð": "D",
    "Ł": "L",
    "Đ": "D",
    "Ħ": "H",
    "Ŀ": "L",
    "Œ": "OE",
}
BOUNDARY = "<"
SOURCE = "the person providers of Faker 40.54.0 (MIT), 30 Latin-script locales"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def mrz_form(name: str) -> list[str]:
    """The name's words in the MRZ alphabet (empty list when nothing is left)."""
    out = []
    for ch in name.upper():
        if ch in _ICAO:
            out.append(_ICAO[ch])
            continue
        base = unicodedata.normalize("NFKD", ch)[0]
        out.append(base if base in LETTERS else " ")
    return [w for w in "".join(out).split() if w]


def main() -> int:
    """Print the counts as a Python module."""
    names: set[str] = set()
    for loc in LOCALES:
        mod = importlib.import_module(f"faker.providers.person.{loc}")
        provider = mod.Provider
        for attr in dir(provider):
            if attr.startswith(("first_names", "last_names")):
                value = getattr(provider, attr)
                names.update(value.keys() if isinstance(value, dict) else value)
    words = {w for n in names for w in mrz_form(n)}
    pairs: Counter[str] = Counter()
    for w in words:
        padded = BOUNDARY + w + BOUNDARY
        pairs.update(padded[i : i + 2] for i in range(len(padded) - 1))
    items = sorted(pairs.items())
    out = [
        '"""Letter-pair counts of personal names, for the MRZ name field (generated).',
        "",
        f"Source: {SOURCE} ({len(words)} distinct",
        "words, ICAO 9303 transliteration, ``<`` marks a word's start and end). Written by",
        "``tools/build_name_bigrams.py``; do not edit by hand.",
        '"""',
        "",
        f"WORDS = {len(words)}",
        "#: ``pair:count`` entries, whitespace separated.",
        'PAIRS = """',
    ]
    for i in range(0, len(items), 10):
        out.append(" ".join(f"{k}:{v}" for k, v in items[i : i + 10]))
    out.append('"""')
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
