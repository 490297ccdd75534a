"""Services without Prefect: a real Runtime on a fresh PostgreSQL and a LocalStore landing.

Each test module gets one runtime (``rt``) on its own freshly created database and
landing folder, built directly from a ``Settings(...)`` value that names everything
these tests depend on (not from the process settings), and closed afterwards. Applications are written in the landing layout
(``incoming/<id>/application.json``, ``id_document.jpg``, ``id_document_back.jpg``,
``selfie.jpg``) from the demo generator's licence renderer and the public face photos.

Nothing here imports Prefect, ``flows`` or ``tasks``: the services must run without them.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image

from kyc.demo.cards import CardData, render_licence_back, render_licence_front
from kyc.demo.generate import GENUINE_IDENTITIES, application_form, card_data, face_photos
from kyc.domain.records import (
    DecisionResult,
    DocumentScan,
    DuplicateCheck,
    FaceComparison,
    LicenceResult,
    LivenessResult,
    QualityResult,
    RegisterResult,
)
from kyc.domain.rules import Signals
from kyc.runtime import Runtime
from kyc.services import decide, duplicates, faces, intake, licences, liveness, quality, registers
from kyc.services import scan as scans
from kyc.services.case import Case
from kyc.settings import Settings
from kyc.storage.local import LocalStore
from tests.fixtures.db import DatabaseFactory


def service_settings(database_url: str, landing: Path | str, **overrides: Any) -> Settings:
    """Settings for service tests: nothing read from the environment matters here."""
    fields: dict[str, Any] = {
        "database_url": database_url,
        "landing": str(landing),
        "liveness_policy": "record",
        "quality_gate_process": False,
    }
    return Settings(**(fields | overrides))


@pytest.fixture(scope="module")
def db_url(pg_server: DatabaseFactory) -> str:
    """A fresh database for this module (the runtime migrates it on first use)."""
    return pg_server.create("kyc_svc")


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("landing")
    return path


@pytest.fixture(scope="module")
def rt(db_url: str, landing: Path) -> Iterator[Runtime]:
    """The module's runtime: engines, store, database; closed after the module."""
    runtime = Runtime(service_settings(db_url, landing))
    yield runtime
    runtime.close()


def count_calls(
    patch: pytest.MonkeyPatch,
    target: object,
    name: str,
    counter: Counter[str],
    key: Callable[..., str],
) -> None:
    """Patch ``target.name`` to count every call under ``key(*args)``, then make it."""
    original = getattr(target, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        counter[key(*args)] += 1
        return original(*args, **kwargs)

    patch.setattr(target, name, counting)


def rows(rt: Runtime, query: str, **params: Any) -> list[sa.Row[Any]]:
    """Rows of one SQL query on the runtime's database."""
    with rt.db.connect() as conn:
        return list(conn.execute(sa.text(query), params))


# --------------------------------------------------------------------------------------
# landing applications
# --------------------------------------------------------------------------------------


@cache
def _licence(shared: Path, identity: int, card: CardData) -> tuple[bytes, bytes]:
    """Front and back of a licence carrying the identity's first photo (rendered once)."""
    photos = face_photos(shared, GENUINE_IDENTITIES[identity])
    with Image.open(photos[0]) as portrait:
        front = render_licence_front(card, portrait.convert("RGB"), seed=identity)
    return front, render_licence_back(card, seed=identity)


@dataclass(frozen=True)
class Landed:
    """An application written to the landing."""

    application_id: str
    card: CardData
    form: dict[str, Any]


def new_id(kind: str) -> str:
    return f"svc-{kind}-{uuid.uuid4().hex[:8]}"


def land(
    store: LocalStore,
    shared: Path,
    *,
    identity: int,
    selfie_of: int | None = None,
    card_index: int | None = None,
    app_id: str | None = None,
    registration: tuple[str, str | None] = ("NONE", None),
    back: bool = True,
) -> Landed:
    """Land one demo-style applicant: a licence of ``identity``'s face, and a selfie.

    Args:
        store: the landing.
        shared: the shared data folder (face photos).
        identity: index into ``GENUINE_IDENTITIES``: the face on the licence.
        selfie_of: whose selfie is sent (another identity: an impostor); default
            the same identity's second photo.
        card_index: the demo generator's applicant index for the card's invented
            name and data (default ``identity``); another index with the same face
            is the same person under another name.
        app_id: the folder name (default a fresh id).
        registration: professional register type and number on the form.
        back: land the licence's barcode side too.
    """
    index = identity if card_index is None else card_index
    card = card_data(random.Random(1000 + index), dt.date.today(), index)
    app_id = app_id or new_id(f"id{identity}")
    front, back_side = _licence(shared, identity, card)
    selfie_face = identity if selfie_of is None else selfie_of
    selfie = face_photos(shared, GENUINE_IDENTITIES[selfie_face])[1].read_bytes()
    base = f"incoming/{app_id}/"
    store.put(base + "id_document.jpg", front)
    if back:
        store.put(base + "id_document_back.jpg", back_side)
    store.put(base + "selfie.jpg", selfie)
    form = application_form(app_id, card, registration=registration)
    store.put(base + "application.json", json.dumps(form).encode())
    return Landed(app_id, card, form)


def open_landed(rt: Runtime, landing: str, app_id: str) -> Case:
    """Discover, read the form, register and open the case of one landed application."""
    found = intake.discover(rt, landing, app_id)
    (bundle,) = [b for b in found.complete if b.application_id == app_id]
    app = intake.load_form(rt, landing, bundle)
    assert not isinstance(app, Exception), app
    refs = intake.register_application(rt, landing, bundle, app)
    return intake.open_case(rt, landing, bundle, app, refs)


def hooked_runtime(
    db_url: str, landing: Path, webhook_url: str, secret: str, *, max_attempts: int
) -> Iterator[Runtime]:
    """A runtime on the module's database whose settings name a webhook receiver.

    For ``yield from`` in a fixture: notifications are retried at once (no backoff),
    at most ``max_attempts`` times; the runtime is closed after the test.
    """
    settings = service_settings(
        db_url,
        landing,
        webhook_url=webhook_url,
        webhook_secret=secret,
        notify_backoff_seconds=0,
        notify_max_attempts=max_attempts,
    )
    runtime = Runtime(settings)
    yield runtime
    runtime.close()


def decided_case(rt: Runtime, landing: Path, shared: Path) -> Case:
    """A committed decision (MANUAL_REVIEW: nothing read from the document), not notified."""
    landed = land(LocalStore(landing), shared, identity=8)
    case = open_landed(rt, str(landing), landed.application_id)
    signals = Signals(case.application, DocumentScan(fields=MappingProxyType({})), None, None)
    decide.decide_application(rt, case, signals)
    return case


# --------------------------------------------------------------------------------------
# the stage chain
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    """What every stage of one application returned, in pipeline order."""

    case: Case
    scan: DocumentScan
    face: FaceComparison
    liveness: tuple[LivenessResult, ...]
    duplicates: DuplicateCheck | None
    register: RegisterResult | None
    licence: LicenceResult | None
    quality: QualityResult
    signals: Signals
    result: DecisionResult


def run_chain(rt: Runtime, case: Case) -> Chain:
    """The stages through the services, in the pipeline's order, then the decision."""
    scan = scans.scan_document(rt, case)
    face = faces.match_face(rt, case, scan)
    lively = liveness.check_liveness(rt, case, scan)
    dupes = duplicates.check_duplicates(rt, case, face, lively)
    register = registers.check_register(rt, case)
    licence = licences.validate_licence(rt, case)
    gate = quality.check_quality(rt, case.application, scan)
    signals = Signals(
        application=case.application,
        scan=scan,
        face=face,
        quality=gate,
        liveness=lively,
        duplicates=dupes,
        register=register,
        licence=licence,
    )
    result = decide.decide_application(rt, case, signals)
    return Chain(case, scan, face, lively, dupes, register, licence, gate, signals, result)
