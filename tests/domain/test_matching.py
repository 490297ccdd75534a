import datetime as dt

import pytest

from kyc.domain.matching import (
    NameMatch,
    compare_names,
    fold,
    normalise_document_number,
    parse_iso_date,
)


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("José", "JOSE"),
        ("  o'neil-SMITH ", "O NEIL SMITH"),
        ("Þórunn Ærøe", "THORUNN AEROE"),
        ("Straße", "STRASSE"),
        ("Zoë  Łukasz", "ZOE LUKASZ"),
        ("", ""),
    ],
)
def test_fold(raw, folded):
    assert fold(raw) == folded


def cmp(form, doc):
    ff, fm, fl = form
    df, dm, dl = doc
    return compare_names(form_first=ff, form_middle=fm, form_last=fl, doc_first=df, doc_middle=dm, doc_last=dl)


@pytest.mark.parametrize(
    ("form", "doc", "outcome"),
    [
        (("John", None, "Smith"), ("JOHN", None, "SMITH"), NameMatch.EXACT),
        (("josé", None, "garcía-lópez"), ("JOSE", None, "GARCIA LOPEZ"), NameMatch.EXACT),
        (("Mary", "Ann", "Lee"), ("MARY ANN", None, "LEE"), NameMatch.EXACT),  # middle in first field
        (("Mary", None, "Lee"), ("MARY", "ANN", "LEE"), NameMatch.VARIANT),  # middle missing on form
        (("Mary", "Ann", "Lee"), ("MARY", None, "LEE"), NameMatch.VARIANT),  # middle missing on doc
        (("Mary", "A", "Lee"), ("MARY", "ANN", "LEE"), NameMatch.VARIANT),  # initial
        (("Mary", "Beth", "Lee"), ("MARY", "ANN", "LEE"), NameMatch.MISMATCH),
        (("Jon", None, "Smith"), ("JOHN", None, "SMITH"), NameMatch.MISMATCH),
        (("John", None, "Smyth"), ("JOHN", None, "SMITH"), NameMatch.MISMATCH),
        (("Anne-Marie", None, "Dupont"), ("ANNE MARIE", None, "DUPONT"), NameMatch.EXACT),
        (("O'Brien", None, "Kelly"), ("OBRIEN", None, "KELLY"), NameMatch.EXACT),
        (("John", None, "Smith"), (None, None, "SMITH"), NameMatch.MISMATCH),
    ],
)
def test_compare_names(form, doc, outcome):
    assert cmp(form, doc).outcome is outcome


def test_mismatch_detail_names_the_part_without_values():
    result = cmp(("Jon", None, "Smith"), ("JOHN", None, "SMITH"))
    assert "first name" in result.detail
    assert "JOHN" not in result.detail and "Jon" not in result.detail
    assert 0 < result.score < 1


def test_document_number_and_dates():
    assert normalise_document_number(" d123-456 7") == "D1234567"
    assert normalise_document_number(None) == ""
    assert parse_iso_date("2030-01-31") == dt.date(2030, 1, 31)
    assert parse_iso_date("2030-02-31") is None
    assert parse_iso_date(None) is None


@pytest.mark.parametrize(
    ("form", "doc", "outcome"),
    [
        # The MRZ spells names by ICAO 9303 part 3: umlauts as AE/OE/UE, Ø as OE, Å as AA.
        (("Jürgen", None, "Müller"), ("JUERGEN", None, "MUELLER"), NameMatch.EXACT),
        (("Jürgen", None, "Müller"), ("JURGEN", None, "MULLER"), NameMatch.EXACT),
        (("Søren", None, "Østergård"), ("SOEREN", None, "OESTERGAARD"), NameMatch.EXACT),
        (("Soren", None, "Ostergard"), ("SØREN", None, "ØSTERGÅRD"), NameMatch.EXACT),
        (("Siobhán", None, "O'Neill"), ("SIOBHAN", None, "ONEILL"), NameMatch.EXACT),
        (("Jean-Pierre", None, "Dupont"), ("JEAN", "PIERRE", "DUPONT"), NameMatch.EXACT),
        (("Anna", "Zoë", "Gößmann"), ("ANNA", "ZOE", "GOESSMANN"), NameMatch.EXACT),
        (("Anna", "Z.", "Lee"), ("ANNA", "ZOE", "LEE"), NameMatch.VARIANT),
        # Still different names: MUELLER is not MILLER, ONEAL is not ONEILL.
        (("Jürgen", None, "Miller"), ("JUERGEN", None, "MUELLER"), NameMatch.MISMATCH),
        (("Siobhan", None, "O'Neal"), ("SIOBHAN", None, "ONEILL"), NameMatch.MISMATCH),
        (("Ana", None, "Müller"), ("ANNA", None, "MUELLER"), NameMatch.MISMATCH),
    ],
)
def test_compare_names_under_icao_transliteration(form, doc, outcome):
    assert cmp(form, doc).outcome is outcome
