"""A batch of cheap, realistic applications (benchmarks and scale tests).

Each is a rendered US licence (front and PDF417 back) carrying a public face photo,
the same person's second photo as the selfie, and invented names, numbers, dates
and addresses from a seeded RNG: the real engines read real images, but nothing
needs the demo's full set of edge cases.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, replace
from pathlib import Path

from kyc.storage.base import ObjectStore

#: Every 20 applications: two impostors (10 %) and one licence without a back (5 %).
IMPOSTOR_SLOTS = frozenset({9, 19})
FRONT_ONLY_SLOTS = frozenset({4})
EXPECTED_DECISION = {"genuine": "PASS", "front-only": "PASS", "impostor": "FAIL"}


@dataclass(frozen=True, slots=True)
class BenchCase:
    """One generated application and the decision its construction implies."""

    application_id: str
    kind: str  # genuine | impostor | front-only
    expected: str  # PASS | FAIL


def generate_applications(
    store: ObjectStore, shared_data_dir: Path, n: int, *, run_id: str, seed: int, start: int = 0
) -> list[BenchCase]:
    """Write ``n`` genuine-style applications under ``incoming/`` of ``store``.

    Faces cycle through the demo's genuine identities (document photo = the first
    photo, selfie = the second); names, numbers, dates and addresses vary with a
    seeded RNG. Every 20 applications two are impostors (another identity's selfie)
    and one has no back side, so the OCR path runs too.

    Args:
        store: landing store to write into.
        shared_data_dir: the ``shared/data`` folder (``faces/`` inside).
        n: number of applications.
        run_id: makes application ids unique per run (an external database keeps
            earlier runs; identical ids and objects would be ALREADY_DECIDED).
        seed: RNG seed.
        start: index of the first application (the warm-up uses its own range).

    Returns:
        The cases, in id order.
    """
    from PIL import Image

    from kyc.demo.cards import render_licence_back, render_licence_front
    from kyc.demo.generate import GENUINE_IDENTITIES, application_form, card_data, face_photos

    today = dt.date.today()
    rng = random.Random(seed)
    faces = {folder: face_photos(shared_data_dir, folder) for folder in GENUINE_IDENTITIES}
    portraits: dict[str, Image.Image] = {}
    selfies: dict[str, bytes] = {}
    cases: list[BenchCase] = []
    for i in range(start, start + n):
        slot = i % 20
        kind = (
            "impostor"
            if slot in IMPOSTOR_SLOTS
            else "front-only"
            if slot in FRONT_ONLY_SLOTS
            else "genuine"
        )
        identity = GENUINE_IDENTITIES[i % len(GENUINE_IDENTITIES)]
        selfie_of = (
            GENUINE_IDENTITIES[(i + 5) % len(GENUINE_IDENTITIES)]
            if kind == "impostor"
            else identity
        )
        if identity not in portraits:
            with Image.open(faces[identity][0]) as photo:
                portraits[identity] = photo.convert("RGB")
        if selfie_of not in selfies:
            selfies[selfie_of] = faces[selfie_of][1].read_bytes()
        app_id = f"bench-{run_id}-{i:05d}-{kind}"
        # One face is one person: every application carrying a face keeps that
        # person's name and date of birth (otherwise the duplicate-identity rule
        # rightly sends the second one to review). Derived from the face alone, so
        # the warm-up (another seed) and every run agree.
        k = GENUINE_IDENTITIES.index(identity)
        person = card_data(random.Random(f"person-{identity}"), today, k)
        card = replace(
            card_data(rng, today, i),
            first_name=person.first_name,
            middle_name=person.middle_name,
            last_name=person.last_name,
            date_of_birth=person.date_of_birth,
        )
        base = f"incoming/{app_id}/"
        store.put(base + "id_document.jpg", render_licence_front(card, portraits[identity], seed=i))
        if kind != "front-only":
            store.put(base + "id_document_back.jpg", render_licence_back(card, seed=i))
        store.put(base + "selfie.jpg", selfies[selfie_of])
        # The form lands last, as an upload client would finish with it.
        store.put(
            base + "application.json", json.dumps(application_form(app_id, card), indent=2).encode()
        )
        cases.append(BenchCase(app_id, kind, EXPECTED_DECISION[kind]))
    return cases
