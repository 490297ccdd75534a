"""MANUAL_REVIEW cases for the console's browser tests, on synthetic images only.

The cases are landed in the landing layout and decided through the services, as
``tests/services/test_review.py`` does (intake, then the decision rules), so the
console shows exactly what the pipeline stores. Their pictures are drawn here: a
licence from the demo generator's renderer carrying a drawn cartoon face, and a
drawn "selfie". No photo of a real person appears, so screenshots of these pages
can be published (README, docs/).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import uuid
from pathlib import Path
from types import MappingProxyType

from PIL import Image, ImageDraw, ImageFilter

from kyc.demo.cards import render_licence_back, render_licence_front
from kyc.demo.generate import application_form, card_data
from kyc.domain.records import DocumentScan, Finding, Reason
from kyc.domain.rules import Signals
from kyc.runtime import Runtime
from kyc.services import decide, faces, intake, quality
from kyc.services import scan as scans
from kyc.storage.local import LocalStore

SKIN = ((241, 194, 160), (198, 134, 96), (141, 85, 54), (255, 219, 190))
HAIR = ((40, 28, 20), (120, 70, 30), (200, 160, 90), (90, 90, 90))


def drawn_face(seed: int, size: tuple[int, int] = (480, 600)) -> Image.Image:
    """A cartoon head and shoulders (no real person), varied by ``seed``."""
    rng = random.Random(seed)
    w, h = size
    img = Image.new("RGB", size, (rng.randint(170, 220), rng.randint(190, 230), 235))
    d = ImageDraw.Draw(img)
    skin, hair = rng.choice(SKIN), rng.choice(HAIR)
    d.ellipse((w * 0.1, h * 0.78, w * 0.9, h * 1.3), fill=rng.choice(((40, 60, 120), (90, 30, 40))))
    d.rectangle((w * 0.42, h * 0.6, w * 0.58, h * 0.82), fill=skin)
    d.ellipse((w * 0.22, h * 0.12, w * 0.78, h * 0.7), fill=hair)
    d.ellipse((w * 0.27, h * 0.2, w * 0.73, h * 0.72), fill=skin)
    for cx in (0.4, 0.6):
        d.ellipse((w * (cx - 0.05), h * 0.38, w * (cx + 0.05), h * 0.43), fill="white")
        d.ellipse((w * (cx - 0.02), h * 0.385, w * (cx + 0.02), h * 0.425), fill=(50, 40, 30))
        d.line((w * (cx - 0.06), h * 0.35, w * (cx + 0.06), h * 0.345), fill=hair, width=6)
    d.line((w * 0.5, h * 0.44, w * 0.48, h * 0.53, w * 0.52, h * 0.54), fill=(150, 90, 70), width=4)
    d.arc((w * 0.4, h * 0.55, w * 0.6, h * 0.63), 20, 160, fill=(160, 60, 60), width=5)
    return img.filter(ImageFilter.GaussianBlur(1.2))


def _jpeg(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


def land_synthetic(store: LocalStore, index: int, app_id: str | None = None) -> str:
    """Land one applicant (licence front and back, selfie, form); returns the id."""
    app_id = app_id or f"web-{index:02d}-{uuid.uuid4().hex[:6]}"
    card = card_data(random.Random(2000 + index), dt.date.today(), index)
    base = f"incoming/{app_id}/"
    front = render_licence_front(card, drawn_face(index), seed=index)
    store.put(base + "id_document.jpg", front)
    store.put(base + "id_document_back.jpg", render_licence_back(card, seed=index))
    store.put(base + "selfie.jpg", _jpeg(drawn_face(index, (640, 800))))
    store.put(base + "application.json", json.dumps(application_form(app_id, card)).encode())
    return app_id


def queued_case(rt: Runtime, landing: Path, index: int, *extra: Reason, read: bool = False) -> str:
    """Land one applicant and decide it MANUAL_REVIEW; returns the application id.

    Args:
        rt: the runtime the console runs on.
        landing: the landing folder.
        index: the demo generator's applicant index (name, card data, drawing).
        extra: findings added to the decision (e.g. DOCUMENT_INCONSISTENT: four-eyes).
        read: read the document with the real document reader and compare the faces
            (the case page then has extracted fields and a face result); otherwise
            nothing is read (fast).
    """
    app_id = land_synthetic(LocalStore(landing), index)
    decide_landed(rt, landing, app_id, *extra, read=read)
    return app_id


def reland(rt: Runtime, landing: Path, app_id: str, index: int) -> None:
    """The applicant sends a new selfie: landed again and decided as a new version."""
    selfie = drawn_face(index + 1000, (640, 800))
    LocalStore(landing).put(f"incoming/{app_id}/selfie.jpg", _jpeg(selfie))
    decide_landed(rt, landing, app_id)


def decide_landed(
    rt: Runtime, landing: Path, app_id: str, *extra: Reason, read: bool = False
) -> None:
    """Intake and decide one landed application, as the pipeline's stages would."""
    found = intake.discover(rt, str(landing), app_id)
    (bundle,) = [b for b in found.complete if b.application_id == app_id]
    app = intake.load_form(rt, str(landing), bundle)
    assert not isinstance(app, Exception), app
    refs = intake.register_application(rt, str(landing), bundle, app)
    case = intake.open_case(rt, str(landing), bundle, app, refs)
    scan = scans.scan_document(rt, case) if read else DocumentScan(fields=MappingProxyType({}))
    face = faces.match_face(rt, case, scan) if read else None
    gate = quality.check_quality(rt, app, scan) if read else None
    findings = tuple(Finding(r, "seeded for the browser tests") for r in extra)
    signals = Signals(case.application, scan, face, gate, extra_findings=findings)
    result = decide.decide_application(rt, case, signals)
    assert result.decision.value == "MANUAL_REVIEW", result
