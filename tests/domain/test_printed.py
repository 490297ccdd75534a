"""The printed-text field parser (kyc.domain.printed): OCR words -> AnalyzeID fields.

Pure: words are built by hand here; reading real images with Tesseract is tested in
tests/engines/test_document_local*.py.
"""

from __future__ import annotations

import pytest

from kyc.domain.application import DocumentType
from kyc.domain.printed import (
    OcrWord,
    dates_month_first,
    extract_fields,
    read_printed,
    repair_licence_number,
)


def _words(*lines: str, conf: float = 90.0) -> list[OcrWord]:
    return [OcrWord(token, conf, n) for n, line in enumerate(lines) for token in line.split()]


def test_extract_numbered_labels_and_month_first() -> None:
    fields = extract_fields(
        _words(
            "4d DLN A1234567", "1 LN DOE", "2 FN JANE Q", "3 DOB 02/03/1990", "4b EXP 02/03/2030"
        ),
        month_first=True,
    )
    assert fields["DOCUMENT_NUMBER"].value == "A1234567"
    assert fields["LAST_NAME"].value == "DOE"
    assert fields["FIRST_NAME"].value == "JANE"
    assert fields["MIDDLE_NAME"].value == "Q"
    assert fields["DATE_OF_BIRTH"].value == "1990-02-03"
    assert fields["EXPIRATION_DATE"].value == "2030-02-03"


def test_extract_day_first_labels_above_values() -> None:
    fields = extract_fields(
        _words(
            "Surname",
            "MÜLLER",
            "Given names",
            "ERIKA",
            "Date of birth",
            "12.08.1964",
            "Date of expiry",
            "31/10/2031",
            "Document No",
            "C01X00T47",
        ),
        month_first=False,
    )
    assert fields["LAST_NAME"].value == "MÜLLER"
    assert fields["FIRST_NAME"].value == "ERIKA"
    assert fields["DATE_OF_BIRTH"].value == "1964-08-12"
    assert fields["EXPIRATION_DATE"].value == "2031-10-31"
    assert fields["DOCUMENT_NUMBER"].value == "C01X00T47"


def test_a_dollar_sign_in_a_document_number_is_an_s() -> None:
    # Tesseract's reading of a printed S in the passport number's font.
    fields = extract_fields(_words("Passport No", "$U3004583"), month_first=False)
    assert fields["DOCUMENT_NUMBER"].value == "SU3004583"


def test_fuzzy_labels_never_eat_values() -> None:
    """DOE is one edit from DOB, but where a value is due it is the value."""
    fields = extract_fields(_words("LN DOE", "Surname", "DOE", "EXP 01/02/2030"), month_first=True)
    assert fields["LAST_NAME"].value == "DOE"
    assert "DATE_OF_BIRTH" not in fields
    fields = extract_fields(_words("Surname", "DOE"), month_first=True)
    assert fields["LAST_NAME"].value == "DOE"


def test_month_names_are_never_fuzzy_labels() -> None:
    """SEP is one edit from SEX: in a date it is the month, not a label ending the value."""
    fields = extract_fields(
        _words("Date of birth", "12 SEP 1962", "Date of expiry", "23 DEC 2033"),
        month_first=False,
    )
    assert fields["DATE_OF_BIRTH"].value == "1962-09-12"
    assert fields["EXPIRATION_DATE"].value == "2033-12-23"


def test_extract_dates_fall_back_to_the_valid_order_and_month_names() -> None:
    fields = extract_fields(
        _words("DOB 31/12/1985", "EXP 05 MAR 2030", "ISS 2020-01-02"), month_first=True
    )
    assert fields["DATE_OF_BIRTH"].value == "1985-12-31"  # 31 cannot be a month
    assert fields["EXPIRATION_DATE"].value == "2030-03-05"
    assert fields["DATE_OF_ISSUE"].value == "2020-01-02"


def test_extract_dates_with_misread_labels_go_by_life_order() -> None:
    fields = extract_fields(
        _words("pos 11/23/1972", "exq 11/23/2027", "iss 08/01/2019", "xy D7654321"),
        month_first=True,
    )
    assert fields["DATE_OF_BIRTH"].value == "1972-11-23"
    assert fields["DATE_OF_ISSUE"].value == "2019-08-01"
    assert fields["EXPIRATION_DATE"].value == "2027-11-23"  # EXQ is one edit from EXP
    assert fields["DOCUMENT_NUMBER"].value == "D7654321"


def test_extract_splits_labels_glued_to_values() -> None:
    fields = extract_fields(
        _words("DL-N5711915", "DOB12/19/1972", "ISS\u201405/12/2016", "LN DLUGOSZ"),
        month_first=True,
    )
    assert fields["DOCUMENT_NUMBER"].value == "N5711915"
    assert fields["DATE_OF_ISSUE"].value == "2016-05-12"
    assert fields["DATE_OF_BIRTH"].value == "1972-12-19"
    assert fields["LAST_NAME"].value == "DLUGOSZ"


@pytest.mark.parametrize(
    "line", ["SEX-F\u2014CLASS-C", "SEX-F\u2014-CLASS-\u20ac", "SEX-F\u2014 CLASS-C", "SEX M_CLASS C",
             "SEX-F\u2014GLASS-C"],
)  # fmt: skip
def test_labels_glued_across_dashes_are_split(line: str) -> None:
    """Over a guilloche Tesseract reads the gaps of ``SEX F  CLASS C`` as dashes."""
    fields = extract_fields(_words(line), month_first=True)
    assert fields["CLASS"].value == "C"


def test_dashed_names_numbers_and_dates_stay_whole() -> None:
    fields = extract_fields(
        _words("LN ANNE-LIS", "DL D123-456", "DOB 05-12-1970"), month_first=True
    )
    assert fields["LAST_NAME"].value == "ANNE-LIS"  # LIS is one edit from LIC: not split
    assert fields["DOCUMENT_NUMBER"].value == "D123-456"
    assert fields["DATE_OF_BIRTH"].value == "1970-05-12"


def test_class_is_a_short_code_not_the_next_line() -> None:
    fields = extract_fields(_words("SEX F CLASS", "SS 11/30/2023"), month_first=True)
    assert "CLASS" not in fields


@pytest.mark.parametrize(
    ("read", "state", "expected"),
    [
        ("13736357", "CA", "I3736357"),  # CA: one letter + seven digits
        ("I3736357", "CA", "I3736357"),  # fits: kept
        ("138736357", "CA", "138736357"),  # no single repair fits: kept
        ("13736357", "NY", "13736357"),  # NY also issues 8-digit numbers: kept
        ("G1234567", "TX", "G1234567"),  # letters where digits are due: never changed
        ("01234567", "CA", "01234567"),  # 0 could be O, D or Q: kept
        ("5123-456-78-910-0", "FL", "S123-456-78-910-0"),  # separators kept
        ("1234567", "ZZ", "1234567"),  # unknown state
    ],
)
def test_licence_number_repair_by_state_format(read: str, state: str, expected: str) -> None:
    assert repair_licence_number(read, state) == expected


def test_extract_repairs_the_number_by_the_address_state() -> None:
    fields = extract_fields(
        _words("DL 13736357", "1 MAIN ST", "SACRAMENTO, CA 95814"), month_first=True
    )
    assert fields["DOCUMENT_NUMBER"].value == "I3736357"
    fields = extract_fields(
        _words("DL 13736357", "1 MAIN ST", "ALBANY, NY 12207"), month_first=True
    )
    assert fields["DOCUMENT_NUMBER"].value == "13736357"


def test_extract_confidence_is_mean_of_value_words() -> None:
    words = [
        OcrWord("LN", 99.0, 0),
        OcrWord("VAN", 60.0, 0),
        OcrWord("DYKE", 80.0, 0),
    ]
    fields = extract_fields(words, month_first=True)
    assert fields["LAST_NAME"].value == "VAN DYKE"
    assert fields["LAST_NAME"].confidence == pytest.approx(70.0)


def test_extract_nothing_from_noise() -> None:
    assert extract_fields(_words("=t x an Od", "LUNN"), month_first=True) == {}


@pytest.mark.parametrize(
    ("lines", "document_type", "expected"),
    [
        (("DL D1234567", "DOB 02/03/1990"), DocumentType.DRIVING_LICENCE, True),
        (("DL D1234567", "DOB 02/03/1990"), None, True),
        (("PASSPORT", "Date of birth 02/03/1990"), DocumentType.PASSPORT, False),
        (("IDENTITY CARD", "Date of birth 02/03/1990"), DocumentType.ID_CARD, False),
        (("PASSPORT USA", "Date of birth 02/03/1990"), DocumentType.PASSPORT, True),
        (("ID CARD", "1 MAIN ST", "ALBANY, NY 12207"), DocumentType.ID_CARD, True),
        (("United States of America", "PASSPORT"), DocumentType.PASSPORT, True),
    ],
)
def test_dates_are_month_first_on_licences_and_us_documents(
    lines: tuple[str, ...], document_type: DocumentType | None, expected: bool
) -> None:
    assert dates_month_first(_words(*lines), document_type) is expected


# --- multilingual labels and certain label-to-value association (issue 14) ---------------


def _boxed(*lines: list[tuple[str, int]], conf: float = 90.0) -> list[OcrWord]:
    """Words with boxes: each line a list of (text, left x); 12 px per letter, 20 px high."""
    out = []
    for n, line in enumerate(lines):
        for text, x in line:
            out.append(OcrWord(text, conf, n, (x, n * 32, x + 12 * len(text), n * 32 + 20)))
    return out


def _values(words: list[OcrWord]) -> dict[str, str]:
    return {k: f.value for k, f in extract_fields(words, month_first=False).items()}


def test_bilingual_labels_over_their_values() -> None:
    fields = _values(
        _words(
            "Passport No. / N° du passeport",
            "L898902C3",
            "Surname / Nom",
            "ERIKSSON",
            "Given names / Prénoms",
            "ANNA MARIA",
            "Nationality / Nationalité",
            "UTOPIAN",
            "Date of birth / Date de naissance",
            "12 AUG/AOÛT 74",
            "Date of expiry / Date d'expiration",
            "15 APR/AVR 12",
        )
    )
    assert fields == {
        "DOCUMENT_NUMBER": "L898902C3",
        "LAST_NAME": "ERIKSSON",
        "FIRST_NAME": "ANNA",
        "MIDDLE_NAME": "MARIA",
        "DATE_OF_BIRTH": "1974-08-12",  # a two-digit birth year is in the past
        "EXPIRATION_DATE": "2012-04-15",
        "ID_TYPE": "PASSPORT",
    }


def test_a_slash_misread_as_a_letter_mark_keeps_the_translation_a_label() -> None:
    # Tesseract reads "Surname / Nom" as "Surname! Nom": NOM is the French label.
    fields = _values(_words("Surname! Nom", "ERIKSSON", "Given names! Prénoms", "ANNA"))
    assert fields["LAST_NAME"] == "ERIKSSON" and fields["FIRST_NAME"] == "ANNA"
    # "Given names Nombres": two labels of one field side by side.
    assert _values(_words("Given names Nombres", "ANNA"))["FIRST_NAME"] == "ANNA"


@pytest.mark.parametrize(
    ("label", "value", "key", "expected"),
    [
        ("Apellidos / Surname", "GARCÍA LÓPEZ", "LAST_NAME", "GARCÍA LÓPEZ"),
        ("Nombres / Given names", "JOSÉ", "FIRST_NAME", "JOSÉ"),
        ("Fecha de nacimiento / Date of birth", "01 ENE/JAN 1990", "DATE_OF_BIRTH", "1990-01-01"),
        ("Pasaporte N° / Passport No.", "PAA123456", "DOCUMENT_NUMBER", "PAA123456"),
        ("Fecha de caducidad / Date of expiry", "02 DIC/DEC 2031", "EXPIRATION_DATE", "2031-12-02"),
        ("Name / Surname / Nom", "MÜLLER", "LAST_NAME", "MÜLLER"),
        ("Vornamen / Given names / Prénoms", "ERIKA", "FIRST_NAME", "ERIKA"),
        ("Geburtstag / Date of birth", "12.08.1964", "DATE_OF_BIRTH", "1964-08-12"),
        ("Pass-Nr. / Passport No.", "C01X00T47", "DOCUMENT_NUMBER", "C01X00T47"),
        ("Gültig bis / Date of expiry", "31 OKT/OCT 2031", "EXPIRATION_DATE", "2031-10-31"),
        ("Cognome / Surname", "ROSSI", "LAST_NAME", "ROSSI"),
        ("Nome / Given names", "GIULIA", "FIRST_NAME", "GIULIA"),
        ("Data di nascita / Date of birth", "05 MAG/MAY 1980", "DATE_OF_BIRTH", "1980-05-05"),
        ("Achternaam / Surname", "DE VRIES", "LAST_NAME", "DE VRIES"),
        ("Voornamen / Given names", "LOES", "FIRST_NAME", "LOES"),
        ("Geboortedatum / Date of birth", "19 OKT/OCT 1971", "DATE_OF_BIRTH", "1971-10-19"),
        ("Apelido / Surname", "SILVA", "LAST_NAME", "SILVA"),
        ("Data de nascimento / Date of birth", "07 ABR/APR 1974", "DATE_OF_BIRTH", "1974-04-07"),
        ("Nazwisko / Surname / Nom", "KOWALSKA", "LAST_NAME", "KOWALSKA"),
        ("Imiona / Given names / Prénoms", "ANNA", "FIRST_NAME", "ANNA"),
        ("Data urodzenia / Date of birth", "30.03.1972", "DATE_OF_BIRTH", "1972-03-30"),
        ("01 PŘÍJMENÍ/SURNAME/NOM", "SPECIMEN", "LAST_NAME", "SPECIMEN"),
        ("04 DATUM NAROZENÍ/DATE OF BIRTH", "22.06.1969", "DATE_OF_BIRTH", "1969-06-22"),
        ("Prizvyshche / Surname", "TKACHENKO", "LAST_NAME", "TKACHENKO"),
        ("Nomer pasporta / Passport No.", "XX000000", "DOCUMENT_NUMBER", "XX000000"),
    ],
)
def test_labels_of_many_languages(label: str, value: str, key: str, expected: str) -> None:
    assert _values(_words(label, value))[key] == expected


def test_an_unknown_translation_is_never_the_value() -> None:
    # "Nazwisko" in a language the tables lack: after the slash it is the label's.
    assert _values(_words("Surname / Xyzzy", "ERIKSSON"))["LAST_NAME"] == "ERIKSSON"
    assert _values(_words("Qwzrt / Surname", "ERIKSSON"))["LAST_NAME"] == "ERIKSSON"
    # On one line, where the unknown translation ends is not known: nothing.
    assert "LAST_NAME" not in _values(_words("Surname / Xyzzy ERIKSSON"))


def test_labels_of_different_fields_in_one_group_give_nothing() -> None:
    assert _values(_words("Surname / Given names", "ERIKSSON ANNA")) == {}


def test_without_boxes_a_line_of_several_labels_gives_no_value_below() -> None:
    # Which value stands under which label cannot be told without word boxes.
    fields = _values(_words("Date of birth Sex", "12.08.1974 F"))
    assert "DATE_OF_BIRTH" not in fields


def test_values_below_are_taken_in_their_labels_column() -> None:
    words = _boxed(
        [("Type", 300), ("Country", 420), ("code", 520), ("Passport", 640), ("No.", 750)],
        [("P", 300), ("UTO", 420), ("L898902C3", 640)],
        [("Date", 300), ("of", 360), ("birth", 396), ("Sex", 640)],
        [("12", 300), ("AUG", 336), ("1974", 384), ("F", 640)],
    )
    fields = _values(words)
    assert fields["DOCUMENT_NUMBER"] == "L898902C3"
    assert fields["DATE_OF_BIRTH"] == "1974-08-12"


def test_a_column_gap_ends_a_label_and_an_unknown_label_bounds_its_column() -> None:
    # "Surname        Registration Number" (a visa): the second label is unknown,
    # far to the right; the surname's value is below it, not "Registration Number".
    words = _boxed(
        [("Surname", 300), ("Enrolment", 700), ("Ref", 820)],
        [("TRAVELER", 300), ("00000473", 700)],
    )
    fields = _values(words)
    assert fields["LAST_NAME"] == "TRAVELER"


def test_a_line_of_translations_between_label_and_value() -> None:
    words = _boxed(
        [("Date", 300), ("of", 360), ("birth", 396), ("/", 460)],
        [("Date", 300), ("de", 360), ("naissance", 396)],
        [("12", 300), ("AUG", 336), ("1974", 384)],
    )
    assert _values(words)["DATE_OF_BIRTH"] == "1974-08-12"


def test_a_value_far_below_its_label_is_not_its_value() -> None:
    words = _boxed([("Surname", 300)], [("ERIKSSON", 300)])
    far = [OcrWord(w.text, w.confidence, w.line, (w.box[0], w.box[1] + 200 * w.line,
                                                  w.box[2], w.box[3] + 200 * w.line))
           for w in words if w.box is not None]  # fmt: skip
    assert "LAST_NAME" not in _values(far)


def test_lower_case_words_are_label_text_or_signatures_not_names() -> None:
    assert "FIRST_NAME" not in _values(_words("Given Name es"))
    assert "LAST_NAME" not in _values(_words("Surname", "Exiksson"))
    assert _values(_words("Surname", "MARlA"))["LAST_NAME"] == "MARLA"  # one misread l
    # A lone lower-case letter is a speck or an accent read as a letter.
    assert _values(_words("Given names", "y INES J"))["FIRST_NAME"] == "INES"


def test_national_and_latin_spelling_keeps_the_latin_one() -> None:
    assert _values(_words("Surname", "ТКАЧЕНКО/TKACHENKO"))["LAST_NAME"] == "TKACHENKO"


def test_type_and_state_codes_caught_below_a_number_label_are_dropped() -> None:
    assert _values(_words("Passport No.", "P UTO L898902C3"))["DOCUMENT_NUMBER"] == "L898902C3"
    assert _values(_words("Passport No.", "‘THN 000000000"))["DOCUMENT_NUMBER"] == "000000000"


def test_inferred_fields_are_told_from_labelled_ones() -> None:
    read = read_printed(
        _words("pos 11/23/1972", "exq 11/23/2027", "iss 08/01/2019", "xy D7654321", "LN DOE"),
        month_first=True,
    )
    assert read.inferred == {"DATE_OF_BIRTH", "DOCUMENT_NUMBER"}  # by life order, by shape
    assert read.labelled.keys() == {"EXPIRATION_DATE", "DATE_OF_ISSUE", "LAST_NAME"}


def test_given_names_split_by_ocr_at_an_apostrophe_or_hyphen_are_joined() -> None:
    fields = _values(_words("Given names", "D' ARCY JO- ANNE"))
    assert fields["FIRST_NAME"] == "D'ARCY" and fields["MIDDLE_NAME"] == "JO-ANNE"


def test_another_fields_label_between_label_and_value_ends_the_search() -> None:
    # OCR's reading order put the row above ("N° du passeport" and its number) after
    # "Nom": the number is not the surname.
    words = _boxed(
        [("Nom", 300)],
        [("N°", 620), ("du", 660), ("passeport", 700)],
        [("KW1239129", 620)],
    )
    assert "LAST_NAME" not in _values(words)
    rows = [
        [OcrWord("Nom", 90, 0, (300, 64, 336, 84))],
        [OcrWord("N°", 90, 1, (620, 0, 644, 20)), OcrWord("du", 90, 1, (660, 0, 684, 20))],
        [OcrWord("DUPONT", 90, 2, (300, 96, 372, 116))],
    ]
    fields = _values([w for row in rows for w in row])
    assert fields["LAST_NAME"] == "DUPONT"  # the line above is skipped over, not taken


def test_passport_numbers_starting_like_a_licence_label_stay_whole() -> None:
    words = _words("Passport No.", "DL5650349")
    assert _values(words)["DOCUMENT_NUMBER"] == "5650349"  # a licence: DL + number
    read = read_printed(words, month_first=False, licence_labels=False)
    assert read.fields["DOCUMENT_NUMBER"].value == "DL5650349"
