"""Printed field labels of identity documents, in the languages passports use (pure data).

Passport and ID-card data pages print each label in the issuer's language and in
English and/or French (ICAO 9303 part 3: "Surname / Nom", "Fecha de nacimiento /
Date of birth"); US licences use short English labels (``DOB``, ``LN``). The tables
below map a label, normalised by :func:`norm_label` (upper case, diacritics folded,
apostrophes and surrounding punctuation dropped, ``N°`` read as ``NO``), to the
AnalyzeID key of the value it announces. ``None`` marks labels of values that are
not extracted (sex, nationality, authority, ...): they still end the previous value
and bound the columns of a page. :data:`WEAK` labels (``NAME``, ``NAAM``) announce
a surname only beside a translation that says so ("Name / Surname / Nom" on German
pages); alone they may head a full name ("Name (Surname, Given names)") and announce
nothing.
"""

from __future__ import annotations

import re
import unicodedata

#: AnalyzeID key -> its labels (space-separated words, normalised spelling).
_BY_KEY: dict[str | None, tuple[str, ...]] = {
    "LAST_NAME": (
        # English, French, Spanish, German, Italian, Dutch, Portuguese, Polish, Czech,
        # Slovak, Ukrainian (Latin), Romanian, Nordic, Baltic, Slovene/Croatian.
        "SURNAME", "SURNAMES", "LAST NAME", "FAMILY NAME", "PRIMARY IDENTIFIER", "LN",
        "NOM", "NOMS", "NOM DE FAMILLE", "IDENTIFIANT PRIMAIRE",
        "APELLIDOS", "APELLIDO", "PRIMER APELLIDO",
        "NACHNAME", "FAMILIENNAME",
        "COGNOME", "COGNOMI",
        "ACHTERNAAM", "GESLACHTSNAAM",
        "APELIDO", "APELIDOS", "SOBRENOME",
        "NAZWISKO", "NAZWISKA",
        "PRIJMENI", "PRIEZVISKO",
        "PRIZVYSHCHE", "PRIZVISHCHE",
        "NUME",
        "EFTERNAMN", "ETTERNAVN", "EFTERNAVN", "SUKUNIMI",
        "PAVARDE", "UZVARDS", "PEREKONNANIMI", "PRIIMEK", "PREZIME", "VEZETEKNEV",
    ),
    "FIRST_NAME": (
        "GIVEN NAMES", "GIVEN NAME", "FIRST NAME", "FIRST NAMES", "FORENAMES", "FN",
        "SECONDARY IDENTIFIER",
        "PRENOMS", "PRENOM", "IDENTIFIANT SECONDAIRE",
        "NOMBRES", "NOMBRE",
        "VORNAMEN", "VORNAME",
        "NOME", "NOMI",
        "VOORNAMEN", "VOORNAAM",
        "NOMES", "NOME PROPRIO", "NOMES PROPRIOS",
        "IMIONA", "IMIE",
        "JMENO", "JMENA", "MENO",
        "IMIA", "IMYA",
        "PRENUME",
        "FORNAMN", "FORNAVN", "ETUNIMET", "EESNIMI", "VARDAS", "VARDS", "IME", "UTONEV",
    ),
    "DATE_OF_BIRTH": (
        "DATE OF BIRTH", "BIRTH DATE", "DOB",
        "DATE DE NAISSANCE", "NE LE", "NEE LE",
        "FECHA DE NACIMIENTO", "FECHA NACIMIENTO",
        "GEBURTSDATUM", "GEBURTSTAG", "GEBOREN AM",
        "DATA DI NASCITA",
        "GEBOORTEDATUM",
        "DATA DE NASCIMENTO",
        "DATA URODZENIA",
        "DATUM NAROZENI", "DATUM NARODENIA",
        "DATA NARODZHENNIA", "DATA NARODZHENNYA",
        "DATA NASTERII",
        "FODELSEDATUM", "FODSELSDATO", "SYNTYMAAIKA", "SUNNIAEG", "GIMIMO DATA",
        "DZIMSANAS DATUMS", "DATUM ROJSTVA", "DATUM RODENJA", "SZULETESI IDO",
    ),
    "DOCUMENT_NUMBER": (
        "DL", "DLN", "DL#", "LIC", "LIC#", "LIC NO", "LICENSE NO", "ID NO", "IDN",
        "DOCUMENT NO", "DOCUMENT NUMBER", "DOCUMENT N", "CARD NO", "CARD NUMBER",
        "PASSPORT NO", "PASSPORT NUMBER", "PASSPORT N", "PASSPORT NR",
        "NO DU PASSEPORT", "NO DE PASSEPORT", "NUMERO DU PASSEPORT", "NUMERO DE PASSEPORT",
        "N DU PASSEPORT", "N DE PASSEPORT", "PASSEPORT NO",
        "NO DU DOCUMENT", "NUMERO DU DOCUMENT", "NUMERO DE DOCUMENT",
        "PASAPORTE NO", "PASAPORTE N", "NO DE PASAPORTE", "N DE PASAPORTE",
        "NUMERO DE PASAPORTE", "NUM PASAPORTE", "NUMERO DE DOCUMENTO", "NUM SOPORTE",
        "PASS NR", "PASS-NR", "PASSNR", "PASSNUMMER", "REISEPASSNUMMER",
        "DOKUMENTENNUMMER", "DOKUMENTNUMMER",
        "PASSAPORTO N", "N PASSAPORTO", "NUMERO PASSAPORTO", "NUMERO DEL PASSAPORTO",
        "PASPOORTNUMMER", "PASPOORT NR", "DOCUMENTNUMMER",
        "NUMERO DO PASSAPORTE", "N DO PASSAPORTE", "PASSAPORTE N", "PASSAPORTE NO",
        "NUMER PASZPORTU", "NR PASZPORTU", "SERIA I NUMER", "SERIA NUMER",
        "CISLO PASU", "CISLO PASUC", "CISLO DOKLADU",
        "NOMER PASPORTA", "NOMER DOKUMENTA",
    ),
    "EXPIRATION_DATE": (
        "EXP", "EXPIRES", "EXPIRY", "DATE OF EXPIRY", "EXPIRY DATE", "EXPIRATION DATE",
        "VALID UNTIL", "VALID THRU",
        "DATE DEXPIRATION", "DATE D EXPIRATION", "DATE DE EXPIRATION", "EXPIRE LE",
        "VALIDE JUSQUAU", "VALABLE JUSQUAU",
        "FECHA DE CADUCIDAD", "FECHA DE EXPIRACION", "FECHA DE VENCIMIENTO",
        "VALIDO HASTA", "CADUCIDAD",
        "GULTIG BIS", "ABLAUFDATUM",
        "DATA DI SCADENZA", "SCADENZA", "VALIDO FINO AL",
        "GELDIG TOT", "VERVALDATUM",
        "VALIDO ATE", "DATA DE VALIDADE", "VALIDADE",
        "DATA WAZNOSCI", "TERMIN WAZNOSCI", "WAZNY DO",
        "PLATNOST DO", "PLATNY DO", "DATUM PLATNOSTI",
        "DIISNYI DO", "DIYSNYI DO", "DATA ZAKINCHENNIA STROKU DII",
        "GILTIG TILL", "GYLDIG TIL", "VOIMASSA", "DATA EXPIRARII", "VALABILITATE",
    ),
    "DATE_OF_ISSUE": (
        "ISS", "ISSUED", "ISSUE DATE", "DATE OF ISSUE",
        "DATE DE DELIVRANCE", "DELIVRE LE",
        "FECHA DE EXPEDICION", "FECHA DE EMISION",
        "AUSSTELLUNGSDATUM", "DATUM DER AUSSTELLUNG",
        "DATA DI RILASCIO", "DATA DEL RILASCIO",
        "DATUM VAN AFGIFTE", "DATUM AFGIFTE",
        "DATA DE EMISSAO", "DATA DE EMISSÃO",
        "DATA WYDANIA", "DATUM VYDANI", "DATA VYDACHI", "DATA EMITERII",
        "UTFARDANDEDATUM", "UDSTEDELSESDATO", "MYONTAMISPAIVA",
    ),
    "PLACE_OF_BIRTH": (
        "PLACE OF BIRTH", "LIEU DE NAISSANCE", "LUGAR DE NACIMIENTO", "GEBURTSORT",
        "LUOGO DI NASCITA", "GEBOORTEPLAATS", "LOCAL DE NASCIMENTO", "MIEJSCE URODZENIA",
        "MISTO NAROZENI", "MISCE NARODZHENNIA", "LOCUL NASTERII",
    ),
    "CLASS": ("CLASS",),
    "RESTRICTIONS": ("RSTR", "RESTR", "RESTRICTIONS"),
    "ENDORSEMENTS": ("END", "ENDORSEMENTS"),
    None: (
        "SEX", "SEXE", "SEXO", "GESCHLECHT", "SESSO", "GESLACHT", "PLEC", "POHLAVI",
        "STAT", "SEKS", "KON", "SUKUPUOLI", "GENDER",
        "HGT", "WGT", "EYES", "HAIR", "DD", "HEIGHT", "TAILLE", "GROSSE", "ALTEZZA",
        "NATIONALITY", "NATIONALITE", "NACIONALIDAD", "STAATSANGEHORIGKEIT",
        "CITTADINANZA", "NATIONALITEIT", "NACIONALIDADE", "OBYWATELSTWO",
        "STATNI OBCANSTVI", "STATNE OBCANSTVO", "HROMADIANSTVO", "CETATENIE",
        "AUTHORITY", "AUTORITE", "AUTORIDAD", "BEHORDE", "AUTORITA", "AUTORITEIT",
        "AUTORIDADE", "ORGAN WYDAJACY", "ORGAN VYDAVSHYI", "ISSUING AUTHORITY",
        "TYPE", "TIPO", "TYP", "CODE", "COUNTRY CODE", "CODE DU PAYS", "CODE PAYS",
        "CODIGO", "CODIGO DEL PAIS", "CODIGO DO PAIS", "KOD", "KOD PANSTWA", "KOD STATU",
        "CODICE", "CODICE PAESE", "LANDCODE", "CODE OF ISSUING STATE", "ISSUING STATE",
        "HOLDERS SIGNATURE", "SIGNATURE", "SIGNATURE DU TITULAIRE", "FIRMA",
        "FIRMA DEL TITULAR", "UNTERSCHRIFT", "PODPIS",
        "PERSONAL NO", "PERSONAL NUMBER", "NO PERSONNEL", "N PERSONNEL", "PERSONAL ID NO",
        "NUMERO PERSONAL", "PERSONENNUMMER", "RODNE CISLO", "PESEL",
        "REGISTRATION NUMBER", "CASE NUMBER", "CATEGORY", "ENTRIES", "ANNOTATION",
        "ALSO KNOWN AS", "ISSUING POST NAME", "MARITAL STATUS", "BIRTHPLACE",
        "RESIDENCE", "ADDRESS", "DOMICILE", "DOMICILIO", "WOHNORT", "ANSCHRIFT",
        "NAME", "NAAM",
    ),
}  # fmt: skip
#: Labels that announce a surname only beside a stronger translation (see module doc).
WEAK: dict[str, str] = {"NAME": "LAST_NAME", "NAAM": "LAST_NAME"}

_STRIP = ":.;,!|/\\()[]{}\"'\u2018\u2019*_~=+>"
_PLURAL_S = re.compile(r"\(S\)")


def norm_label(text: str) -> str:
    """A word as label tables spell it: upper-case ASCII, outer punctuation dropped.

    ``Prénom(s):`` -> PRENOM, ``N°`` -> NO, ``d'expiration`` -> DEXPIRATION,
    ``Surname!`` (a slash read as ``!``) -> SURNAME. ``RN`` is read ``M`` on both
    sides of a comparison (``Sumame``): callers compare ``norm_label`` outputs.
    """
    text = text.replace("\u00b0", "O").replace("\u00ba", "O")
    folded = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    upper = folded.upper().replace("\u00df", "SS")
    upper = _PLURAL_S.sub("", upper).strip(_STRIP)
    upper = upper.replace("'", "").replace("\u2019", "").strip(_STRIP)
    return upper


def rn_m(word: str) -> str:
    """``RN`` read as ``M`` (Tesseract's commonest confusion in small label type)."""
    return word.replace("RN", "M")


#: Normalised label words (tuple) -> key. Labels that differ only by the OCR
#: confusion RN/M are one entry (see norm_label).
LABELS: dict[tuple[str, ...], str | None] = {}
for _key, _labels in _BY_KEY.items():
    for _label in _labels:
        LABELS.setdefault(tuple(norm_label(w) for w in _label.split()), _key)
MAX_LABEL_WORDS = max(len(k) for k in LABELS)
#: Every word of every label (to tell a label glued by slashes: ``BIRTH/GEBURTSORT``).
VOCABULARY = frozenset(w for k in LABELS for w in k if len(w) >= 2)
#: One-word labels of US licences, which Tesseract misreads by a letter often and
#: which are matched one edit away (the multilingual ones only from six letters on).
LICENCE_LABELS = frozenset(
    {"DLN", "LIC", "IDN", "EXP", "EXPIRES", "EXPIRY", "ISS", "ISSUED", "DOB", "SURNAME",
     "CLASS", "RSTR", "RESTR", "RESTRICTIONS", "END", "ENDORSEMENTS", "SEX", "HGT", "WGT",
     "EYES", "HAIR", "NATIONALITY"}
)  # fmt: skip

#: LABELS keyed by the RN->M spelling of each word (for OCR'd ``SUMAME``).
LABELS_RN_M: dict[tuple[str, ...], str | None] = {
    tuple(rn_m(w) for w in k): v for k, v in LABELS.items()
}
