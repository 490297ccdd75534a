"""Synthetic demo applications: rendered licences + real public face photos.

Each case says what a compliance officer expects (``expected.json`` beside
``incoming/``), so the demo can show expected vs actual. Names, numbers and
addresses are invented; faces come from ``shared_data_dir/faces`` (public photos of
public figures, see that folder's SOURCES.md) and never enter the repository.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from PIL import Image, ImageFilter

from kyc.demo.cards import (
    PORTRAIT_BOX,
    CardData,
    PassportData,
    degrade,
    render_licence_back,
    render_licence_front,
    render_passport_page,
)
from kyc.storage.base import ObjectStore

#: Identity folders whose photos show one clear frontal face (first photo goes on
#: the card, the second is the selfie).
GENUINE_IDENTITIES = (
    "facerec_obama",
    "deepface_elon",
    "deepface_angelina",
    "deepface_sundar",
    "deepface_scarlett",
    "deepface_mark",
    "faceapi_sheldon",
    "faceapi_leonard",
    "faceapi_penny",
    "faceapi_howard",
    "faceapi_raj",
    "faceapi_amy",
    "facerec_kit_harington",
    "deepface_jack",
    "faceapi_bernadette",
    "faceapi_stuart",
)

FIRST = (
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Noah",
    "Oliver",
    "George",
    "Arthur",
    "Leo",
    "Harry",
    "Mia",
    "Freya",
    "Oscar",
    "Theo",
    "Grace",
    "Jack",
    "Evie",
    "Muhammad",
    "Lily",
    "Alfie",
)
LAST = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Wright",
    "Walker",
    "Thompson",
    "Robinson",
    "Evans",
    "Hughes",
    "Green",
    "Lewis",
    "Hall",
)
STATES = (
    ("CA", "636014", "Sacramento", "95814"),
    ("NY", "636001", "Albany", "12207"),
    ("TX", "636015", "Austin", "78701"),
    ("FL", "636010", "Tallahassee", "32301"),
)


@dataclass(frozen=True, slots=True)
class DemoCase:
    """One synthetic application and the decision a compliance officer expects."""

    application_id: str
    kind: str
    expected: str  # PASS | MANUAL_REVIEW | FAIL | DEAD_LETTER | INCOMPLETE
    expected_reasons: tuple[str, ...]
    why: str


def face_photos(shared: Path, folder: str) -> list[Path]:
    """The photos of one identity folder (at least two: card portrait, selfie)."""
    paths = sorted((shared / "faces" / folder).glob("*.jpg"))
    if len(paths) < 2:
        raise FileNotFoundError(f"need two photos in {shared / 'faces' / folder}")
    return paths


def card_data(rng: random.Random, today: dt.date, idx: int) -> CardData:
    """Invented licence data (valid today) for the ``idx``-th synthetic applicant."""
    state, iin, city, zipc = STATES[idx % len(STATES)]
    dob = dt.date(rng.randint(1955, 2003), rng.randint(1, 12), rng.randint(1, 28))
    issue = today - dt.timedelta(days=rng.randint(200, 1500))
    return CardData(
        first_name=FIRST[idx % len(FIRST)],
        middle_name=None,
        last_name=LAST[(idx * 7) % len(LAST)],
        date_of_birth=dob,
        expiry_date=issue + dt.timedelta(days=365 * 8),
        issue_date=issue,
        document_number=f"{chr(65 + idx % 26)}{rng.randint(1000000, 9999999)}",
        address_line=f"{rng.randint(10, 9999)} {rng.choice(['Oak', 'Main', 'Elm', 'Pine'])} St",
        city=city,
        state=state,
        postal_code=zipc,
        sex=rng.choice(["1", "2"]),
        jurisdiction=state,
        country="USA",
        iin=iin,
    )


def application_form(
    app_id: str,
    card: CardData,
    *,
    first: str | None = None,
    middle: str | None = None,
    last: str | None = None,
    dob: dt.date | None = None,
    registration: tuple[str, str | None] = ("NONE", None),
    expiry: dt.date | None = None,
    passport: PassportData | None = None,
) -> dict[str, object]:
    """``application.json`` for a card, typed as on the card unless a field is overridden.

    Args:
        app_id: the application id.
        card: the document the applicant holds.
        first: first name typed on the form instead of the card's.
        middle: middle name typed on the form (the card's is not copied).
        last: last name typed on the form instead of the card's.
        dob: date of birth typed on the form instead of the card's.
        registration: professional register type and number.
        expiry: document expiry typed on the form instead of the card's.
        passport: the applicant's identity document is this passport, not the card
            (the card still gives the name, date of birth and address).
    """
    document: dict[str, object] = {
        "type": "driving_licence",
        "number": card.document_number,
        "issuing_country": "USA",
        "issuing_region": card.state,
        "expiry_date": (expiry or card.expiry_date).isoformat(),
    }
    if passport is not None:
        document = {
            "type": "passport",
            "number": passport.document_number,
            "issuing_country": passport.issuing_state,
            "expiry_date": (expiry or passport.expiry_date).isoformat(),
        }
    return {
        "application_id": app_id,
        "email": f"{app_id}@example.org",
        "first_name": first if first is not None else card.first_name,
        "middle_name": middle,
        "last_name": last if last is not None else card.last_name,
        "date_of_birth": (dob or card.date_of_birth).isoformat(),
        "address": {
            "line1": card.address_line,
            "city": card.city,
            "region": card.state,
            "postal_code": card.postal_code,
            "country": "US",
        },
        "document": document,
        "registration": {"type": registration[0], "number": registration[1]},
    }


def passport_for(card: CardData, rng: random.Random) -> PassportData:
    """A passport of the card's holder: same names and date of birth, its own number."""
    issue = card.issue_date - dt.timedelta(days=rng.randint(30, 900))
    return PassportData(
        surname=card.last_name,
        given_names=" ".join(n for n in (card.first_name, card.middle_name) if n),
        nationality="UTO",
        date_of_birth=card.date_of_birth,
        sex="F" if card.sex in ("2", "F") else "M",
        expiry_date=issue + dt.timedelta(days=365 * 10),
        issue_date=issue,
        document_number=f"{chr(65 + rng.randint(0, 25))}{rng.randint(10_000_000, 99_999_999)}",
    )


def photo_of_portrait(front: bytes) -> bytes:
    """A phone photo of the card's printed portrait (a replay attempt): crop, 2x, blur, JPEG."""
    import io

    card = Image.open(io.BytesIO(front)).convert("RGB")
    left, top, right, bottom = PORTRAIT_BOX
    crop = card.crop((left - 30, top - 30, right + 30, bottom + 30))
    crop = crop.resize((crop.width * 2, crop.height * 2), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    crop.filter(ImageFilter.GaussianBlur(1.0)).save(out, "JPEG", quality=80)
    return out.getvalue()


def generate_demo(
    store: ObjectStore, shared_data_dir: Path, *, today: dt.date | None = None, seed: int = 7
) -> list[DemoCase]:
    """Write ~26 synthetic applications under ``incoming/`` plus ``expected.json``.

    Args:
        store: the landing store to write into.
        shared_data_dir: the ``shared/data`` folder with ``faces/``.
        today: reference date (expiry dates are relative to it).
        seed: RNG seed, so the same demo is generated every time.

    Returns:
        The cases with their expected outcomes.

    Raises:
        FileNotFoundError: the face photos are not there.
    """
    today = today or dt.date.today()
    rng = random.Random(seed)
    cases: list[DemoCase] = []
    faces = {f: face_photos(shared_data_dir, f) for f in GENUINE_IDENTITIES}

    def put(
        app_id: str,
        form: dict[str, object] | bytes,
        front: bytes | None,
        back: bytes | None,
        selfie: bytes | None,
    ) -> None:
        base = f"incoming/{app_id}/"
        if front is not None:
            store.put(base + "id_document.jpg", front)
        if back is not None:
            store.put(base + "id_document_back.jpg", back)
        if selfie is not None:
            store.put(base + "selfie.jpg", selfie)
        # The form lands last, as an upload client would finish with it.
        store.put(
            base + "application.json",
            form if isinstance(form, bytes) else json.dumps(form, indent=2).encode(),
        )

    def card_images(card: CardData, folder: str, i: int) -> tuple[bytes, bytes, bytes]:
        card_face, selfie_path = faces[folder][0], faces[folder][1]
        with Image.open(card_face) as portrait:
            front = render_licence_front(card, portrait.convert("RGB"), seed=i)
        return front, render_licence_back(card, seed=i), selfie_path.read_bytes()

    i = 0

    def next_id(kind: str) -> str:
        nonlocal i
        i += 1
        return f"demo-{i:03d}-{kind}"

    # The demo reuses faces on purpose (the same person in another case). The same
    # person has one date of birth: a reused face keeps its first card's DOB, so
    # the duplicate-identity rule (same face, another name or DOB) fires only where
    # a case means it to.
    first_dob: dict[int, dt.date] = {}

    def same_person(card: CardData, n: int) -> CardData:
        return replace(card, date_of_birth=first_dob[n])

    # 1. Genuine applicants, data typed exactly as on the document -> PASS.
    for n in range(8):
        app_id = next_id("genuine")
        card = card_data(rng, today, n)
        first_dob[n] = card.date_of_birth
        front, back, selfie = card_images(card, GENUINE_IDENTITIES[n], n)
        put(app_id, application_form(app_id, card), front, back, selfie)
        cases.append(DemoCase(app_id, "genuine", "PASS", (), "form, document and selfie agree"))

    # 2. Name variants that are the same person -> PASS (variant kept as a warning).
    card = replace(card_data(rng, today, 8), first_name="José", last_name="García-López")
    front, back, selfie = card_images(card, GENUINE_IDENTITIES[8], 8)
    app_id = next_id("accents")
    put(
        app_id,
        application_form(app_id, card, first="jose", last="Garcia Lopez"),
        front,
        back,
        selfie,
    )
    cases.append(
        DemoCase(app_id, "accents", "PASS", (), "accents, case and hyphen typed differently")
    )

    card = replace(card_data(rng, today, 9), middle_name="Elizabeth")
    front, back, selfie = card_images(card, GENUINE_IDENTITIES[9], 9)
    app_id = next_id("no-middle-name")
    put(app_id, application_form(app_id, card), front, back, selfie)
    cases.append(
        DemoCase(
            app_id, "no-middle-name", "PASS", ("NAME_VARIANT",), "middle name left off the form"
        )
    )

    # A licence photographed on the front only (no barcode side): read by OCR -> PASS.
    card = card_data(rng, today, 15)
    front, _, selfie = card_images(card, GENUINE_IDENTITIES[15], 15)
    app_id = next_id("front-only")
    put(app_id, application_form(app_id, card), front, None, selfie)
    cases.append(DemoCase(app_id, "front-only", "PASS", (), "printed fields read by OCR"))

    # 3. Impostors: the selfie is somebody else -> FAIL.
    for n in range(3):
        app_id = next_id("impostor")
        card = card_data(rng, today, 10 + n)
        front, back, _ = card_images(card, GENUINE_IDENTITIES[10 + n], 10 + n)
        other = faces[GENUINE_IDENTITIES[(n + 3) % 8]][1].read_bytes()
        put(app_id, application_form(app_id, card), front, back, other)
        cases.append(
            DemoCase(app_id, "impostor", "FAIL", ("FACE_MISMATCH",), "selfie of another person")
        )

    # 4. Expired documents -> FAIL.
    for n in range(2):
        app_id = next_id("expired")
        card = card_data(rng, today, 13 + n)
        card = replace(
            card,
            issue_date=today - dt.timedelta(days=3000),
            expiry_date=today - dt.timedelta(days=30 + 200 * n),
        )
        front, back, selfie = card_images(card, GENUINE_IDENTITIES[13 + n], 13 + n)
        put(app_id, application_form(app_id, card), front, back, selfie)
        cases.append(DemoCase(app_id, "expired", "FAIL", ("DOCUMENT_EXPIRED",), "licence expired"))

    # 5. Date of birth on the form differs from the document -> MANUAL_REVIEW.
    for n in range(2):
        app_id = next_id("dob-mismatch")
        card = same_person(card_data(rng, today, n), n)
        front, back, selfie = card_images(card, GENUINE_IDENTITIES[n], 20 + n)
        wrong = card.date_of_birth.replace(year=card.date_of_birth.year + 1 + n)
        put(app_id, application_form(app_id, card, dob=wrong), front, back, selfie)
        cases.append(
            DemoCase(
                app_id,
                "dob-mismatch",
                "MANUAL_REVIEW",
                ("DOB_MISMATCH", "DUPLICATE_IDENTITY"),
                "form DOB differs from document (and from this face's earlier application)",
            )
        )

    # 6. A different first name on the form -> MANUAL_REVIEW.
    app_id = next_id("name-mismatch")
    card = same_person(card_data(rng, today, 2), 2)
    front, back, selfie = card_images(card, GENUINE_IDENTITIES[2], 22)
    put(app_id, application_form(app_id, card, first="Samantha"), front, back, selfie)
    cases.append(
        DemoCase(
            app_id,
            "name-mismatch",
            "MANUAL_REVIEW",
            ("NAME_MISMATCH", "DUPLICATE_IDENTITY"),
            "different first name (this face applied earlier under the card's name)",
        )
    )

    # 7. Unreadable document: heavily blurred front, barcode side blurred too.
    app_id = next_id("unreadable")
    card = same_person(card_data(rng, today, 3), 3)
    front, back, selfie = card_images(card, GENUINE_IDENTITIES[3], 23)
    put(
        app_id,
        application_form(app_id, card),
        degrade(front, blur=12, jpeg_quality=20),
        degrade(back, blur=12, jpeg_quality=20),
        selfie,
    )
    cases.append(
        DemoCase(
            app_id,
            "unreadable",
            "MANUAL_REVIEW",
            ("DOCUMENT_UNREADABLE",),
            "photo too blurred to read",
        )
    )

    # 8. A GMC doctor on the register (bundled fictional snapshot) -> PASS.
    app_id = next_id("gmc-doctor")
    card = same_person(card_data(rng, today, 4), 4)
    front, back, selfie = card_images(card, GENUINE_IDENTITIES[4], 24)
    put(
        app_id, application_form(app_id, card, registration=("GMC", "7123456")), front, back, selfie
    )
    cases.append(
        DemoCase(
            app_id,
            "gmc-doctor",
            "PASS",
            (),
            "registered with a licence to practise (demo register snapshot)",
        )
    )

    # 9. Corrupt selfie upload (truncated JPEG) -> MANUAL_REVIEW with the reason.
    app_id = next_id("corrupt-selfie")
    card = same_person(card_data(rng, today, 5), 5)
    front, back, selfie = card_images(card, GENUINE_IDENTITIES[5], 25)
    put(app_id, application_form(app_id, card), front, back, selfie[: len(selfie) // 3])
    cases.append(
        DemoCase(
            app_id,
            "corrupt-selfie",
            "MANUAL_REVIEW",
            ("SELFIE_UNREADABLE",),
            "selfie file truncated",
        )
    )

    # 10. Malformed application.json -> dead letter, the batch goes on.
    app_id = next_id("malformed-json")
    card = same_person(card_data(rng, today, 6), 6)
    front, back, selfie = card_images(card, GENUINE_IDENTITIES[6], 26)
    put(app_id, b'{"application_id": "' + app_id.encode() + b'", "email": ', front, back, selfie)
    cases.append(
        DemoCase(
            app_id,
            "malformed-json",
            "DEAD_LETTER",
            ("APPLICATION_INVALID",),
            "application.json is not JSON",
        )
    )

    # 11. Still uploading: no selfie yet -> waits, reported as incomplete.
    app_id = next_id("incomplete")
    card = same_person(card_data(rng, today, 7), 7)
    front, back, _ = card_images(card, GENUINE_IDENTITIES[7], 27)
    put(app_id, application_form(app_id, card), front, back, None)
    cases.append(DemoCase(app_id, "incomplete", "INCOMPLETE", (), "selfie not landed yet"))

    # 12. A replay: the selfie is a phone photo of the licence's own portrait -> FAIL.
    app_id = next_id("replayed-portrait")
    card = card_data(rng, today, 10)
    front, back, _ = card_images(card, GENUINE_IDENTITIES[10], 30)
    put(app_id, application_form(app_id, card), front, back, photo_of_portrait(front))
    cases.append(
        DemoCase(
            app_id,
            "replayed-portrait",
            "FAIL",
            ("LIVENESS_FAILED",),
            "selfie is a photo of the document portrait",
        )
    )

    # 13. Registered nurse with interim conditions of practice -> MANUAL_REVIEW.
    # 14. Pharmacist removed from the register, typed with the old "GPC" name -> FAIL.
    #     (Appended after the older cases so that their random data stays the same.)
    #     Each is the same person as a genuine applicant (same face, name and date of
    #     birth: genuine n = 6 and 7), so the duplicate-identity rule has nothing to say.
    register_cases = (
        ("nmc-conditions", 6, 28, ("NMC", "98Y1234D"), "MANUAL_REVIEW",
         ("REGISTER_CONDITIONS",), "nurse registered with conditions of practice"),
        ("gphc-removed", 7, 29, ("GPC", "2999001"), "FAIL",
         ("REGISTER_NOT_ACTIVE",), "pharmacist removed from the register"),
    )  # fmt: skip
    for kind, n, image_seed, registration, expected, reasons, why in register_cases:
        app_id = next_id(kind)
        card = same_person(card_data(rng, today, n), n)
        front, back, selfie = card_images(card, GENUINE_IDENTITIES[n], image_seed)
        put(app_id, application_form(app_id, card, registration=registration), front, back, selfie)
        cases.append(DemoCase(app_id, kind, expected, reasons, why))

    # 15. Passports (TD3 data page with its MRZ, no barcode): the holder of genuine
    # case 4 (same names and date of birth) -> PASS; the holder of genuine case 5
    # whose printed date of birth was altered after issue, so it disagrees with the
    # MRZ -> MANUAL_REVIEW (DOCUMENT_INCONSISTENT; the MRZ's date is the one used).
    for n, kind in ((4, "passport"), (5, "passport-tampered")):
        app_id = next_id(kind)
        card = same_person(card_data(rng, today, n), n)
        passport = passport_for(card, rng)
        printed = passport
        if kind == "passport-tampered":
            printed = replace(
                passport, date_of_birth=passport.date_of_birth - dt.timedelta(days=3653)
            )
        with Image.open(faces[GENUINE_IDENTITIES[n]][0]) as portrait:
            page = render_passport_page(
                passport, portrait.convert("RGB"), seed=40 + n, printed=printed
            )
        selfie = faces[GENUINE_IDENTITIES[n]][1].read_bytes()
        put(app_id, application_form(app_id, card, passport=passport), page, None, selfie)
        cases.append(
            DemoCase(app_id, kind, "PASS", (), "passport: MRZ and printed page agree")
            if kind == "passport"
            else DemoCase(
                app_id,
                kind,
                "MANUAL_REVIEW",
                ("DOCUMENT_INCONSISTENT",),
                "passport: printed date of birth altered, MRZ disagrees",
            )
        )

    # 16. The first genuine applicant's face again, under another name and date of
    # birth, with a consistent licence -> MANUAL_REVIEW with the other user's id.
    # (Last in id order, so the earlier application is enrolled by the time it runs.)
    app_id = next_id("same-face-new-name")
    card = card_data(rng, today, 31)
    front, back, selfie = card_images(card, GENUINE_IDENTITIES[0], 31)
    put(app_id, application_form(app_id, card), front, back, selfie)
    cases.append(
        DemoCase(
            app_id,
            "same-face-new-name",
            "MANUAL_REVIEW",
            ("DUPLICATE_IDENTITY",),
            "face already verified under another name and date of birth",
        )
    )

    store.put(
        "expected.json",
        json.dumps([asdict(c) for c in cases], indent=2).encode(),
    )
    return cases
