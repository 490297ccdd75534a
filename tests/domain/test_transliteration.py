"""ICAO Doc 9303 transliteration of names (kyc.domain.transliteration).

The expected spellings are those of Doc 9303 part 3, section 6 (the transliteration
tables) and its worked examples (part 4: ``ERIKSSON<<ANNA<MARIA``; apostrophes
omitted, hyphens and spaces as fillers).
"""

from __future__ import annotations

import pytest

from kyc.domain.transliteration import (
    mrz_name,
    name_keys,
    names_equivalent,
    same_name,
    transliterations,
)


@pytest.mark.parametrize(
    ("name", "mrz"),
    [
        ("Anna Maria", "ANNA<MARIA"),  # part 4 specimen: spaces are fillers
        ("Eriksson", "ERIKSSON"),
        ("Jean-Pierre", "JEAN<PIERRE"),  # hyphens are fillers
        ("O'Neill", "ONEILL"),  # apostrophes are omitted
        ("D’Artagnan", "DARTAGNAN"),  # typographic apostrophe too
        ("Müller", "MUELLER"),  # Ü -> UE
        ("Gößmann", "GOESSMANN"),  # Ö -> OE, ß -> SS
        ("Østergård", "OESTERGAARD"),  # Ø -> OE, Å -> AA
        ("Æbelø", "AEBELOE"),  # Æ -> AE
        ("Þórunn", "THORUNN"),  # Þ -> TH, Ó -> O
        ("Łukasz Żółć", "LUKASZ<ZOLC"),  # diacritics dropped
        ("Œuvray", "OEUVRAY"),
        ("Ĳsselmeer", "IJSSELMEER"),
        ("Peña", "PENA"),  # Ñ -> N (recommended)
        ("Ткаченко", "TKACHENKO"),  # Cyrillic table: Ч -> CH
        ("Щукін", "SHCHUKIN"),
        ("Юлія", "IULIIA"),  # Ю -> IU, Я -> IA
        ("  van  der   Berg ", "VAN<DER<BERG"),  # runs of fillers collapsed, none at ends
        ("St. John, Jr", "ST<JOHN<JR"),  # full stop omitted, comma as a filler
    ],
)
def test_recommended_mrz_spelling(name: str, mrz: str) -> None:
    assert mrz_name(name) == mrz


def test_permitted_alternatives_of_the_table() -> None:
    # Ä, Ö, Ü may be written without the E; Ü also as UXX; Ñ also as NXX.
    assert transliterations("Müller") == {"MUELLER", "MUXXLLER", "MULLER"}
    assert transliterations("Jäger") == {"JAEGER", "JAGER"}
    assert transliterations("Peña") == {"PENA", "PENXXA"}
    # Ø and ß have one spelling only.
    assert transliterations("Søren Groß") == {"SOEREN<GROSS"}
    assert name_keys("Smith-Jones") == {"SMITHJONES"}


def test_many_alternatives_keep_the_recommended_and_the_plain_spelling() -> None:
    name = "Äöü Äöü Äöü Äöü"  # 3 x 2 x 2 ... far beyond MAX_VARIANTS
    spellings = transliterations(name)
    assert mrz_name(name) in spellings
    assert "AOU<AOU<AOU<AOU" in spellings
    assert len(spellings) == 2


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Müller", "MUELLER"),
        ("Müller", "MULLER"),
        ("O'Neill", "ONEILL"),
        ("O'Neill", "O NEILL"),
        ("Jean-Pierre", "JEAN PIERRE"),
        ("Østergård", "OESTERGAARD"),
        ("Ткаченко", "TKACHENKO"),
    ],
)
def test_same_name_under_transliteration(a: str, b: str) -> None:
    assert same_name(a, b)


@pytest.mark.parametrize(("a", "b"), [("Muller", "MUELLER"), ("Novak", "NOVAKOVA"), ("Lee", "LI")])
def test_different_names_stay_different(a: str, b: str) -> None:
    assert not same_name(a, b)


@pytest.mark.parametrize(
    ("coded", "printed", "agree"),
    [
        ("MUELLER", "MÜLLER", True),  # printed with its umlaut
        ("MUELLER", "MULLER", True),  # OCR lost the umlaut
        ("JUERGEN", "JORGEN", True),  # or read another vowel for it
        ("CELIK", "GELIK", True),  # Ç read as G
        ("MULLER", "MÜLLER", True),  # issuer wrote Ü as U
        ("OESTERGAARD", "ØSTERGÅRD", True),
        ("OESTERGAARD", "OSTERGARD", True),  # OCR lost both diacritics
        ("ONEILL", "O'NEILL", True),
        ("JEAN<PIERRE", "JEAN-PIERRE", True),
        ("GOESSMANN", "GÖßMANN", True),
        ("UNITED<KINGDOM<TWENTY<SIX", "UNITED KINGDOM TWENTY SIX EXTRA", True),  # MRZ cut
        ("MUELLER", "MEIER", False),
        ("MUELLER", "MUELL", False),  # a printed name shorter than the coded one
        ("BERG", "NOVAK", False),
        ("ANNA", "ANNE", False),
    ],
)
def test_coded_name_against_printed_name(coded: str, printed: str, agree: bool) -> None:
    assert names_equivalent(coded, printed) is agree


def test_truncation_can_be_refused() -> None:
    assert names_equivalent("UNITED", "UNITED KINGDOM")
    assert not names_equivalent("UNITED", "UNITED KINGDOM", allow_truncation=False)
    assert not names_equivalent("ABC", "ABCDEF")  # under four letters: no truncation


@pytest.mark.parametrize(
    ("coded", "printed", "agree"),
    [
        ("BAOEERT", "BASERT", True),  # Ø read S
        ("MITHA", "MIPA", True),  # Þ read P
        ("MIIA", "MIA", True),  # Í dropped
        ("MILA", "MIKA", True),  # Ł read K
        ("MIAEA", "MIAZEA", True),  # Æ read AZE: one extra letter
        ("BAOEERT", "BASERP", False),  # two confusions: another name
        ("LIU", "LI", False),  # short names get none
        ("PETERSEN", "PETERSON", False),  # E for O is no diacritic misreading
    ],
)
def test_one_ocr_confusion_of_a_letter_with_a_diacritic(
    coded: str, printed: str, agree: bool
) -> None:
    assert names_equivalent(coded, printed) is agree
    assert not names_equivalent(coded, printed, confusions=0) or coded == printed
