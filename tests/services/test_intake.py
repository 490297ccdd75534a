"""Intake services on a real runtime: discovery, the form, registration, decisions seen, dead letters.

No engine runs here: decisions are made on signals of an application whose stages
found nothing (a real, cheap MANUAL_REVIEW), and the discovery landing holds
placeholder bytes where only the layout matters.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import MappingProxyType

import pytest

from kyc.db import repository as repo
from kyc.db.engine import session_scope
from kyc.demo.generate import GENUINE_IDENTITIES, face_photos
from kyc.domain.application import Application, ApplicationInvalid
from kyc.domain.landing import LandingBundle
from kyc.domain.records import Decision, DocumentScan
from kyc.domain.rules import Signals
from kyc.runtime import Runtime
from kyc.services import intake
from kyc.services.decide import decide_application
from kyc.storage.local import LocalStore
from tests.services.conftest import count_calls, land, new_id, open_landed, rows

pytestmark = pytest.mark.db

#: Placeholder bytes where only the layout matters (nothing reads them here).
PLACEHOLDER = b"not read in these tests"
FORM_AND_FRONT = ["application.json", "id_document.jpg"]
#: The discovery landing: folder -> objects in it.
LAYOUT = {
    # complete, with the back side (PNG) and a stray file that does not hold it back
    "app-complete": [*FORM_AND_FRONT, "id_document_back.png", "selfie.jpg", "notes.txt"],
    # complete, with challenge frames
    "app-frames": [*FORM_AND_FRONT, "selfie.jpg", "selfie_frames/10.jpg", "selfie_frames/2.jpg"],
    # still uploading: no selfie
    "app-no-selfie": FORM_AND_FRONT,
    # malformed: two selfies (ambiguous), a misnamed selfie, an unsupported image type
    "app-two-selfies": [*FORM_AND_FRONT, "selfie.jpg", "selfie.png"],
    "app-misnamed": [*FORM_AND_FRONT, "selfi.jpg"],
    "app-gif": [*FORM_AND_FRONT, "selfie.gif"],
}


@pytest.fixture(scope="module")
def folders(landing: Path) -> Path:
    """A landing of its own for discovery (so that its listing is known exactly)."""
    root = landing.parent / "discovery"
    store = LocalStore(root)
    for folder, names in LAYOUT.items():
        for name in names:
            store.put(f"incoming/{folder}/{name}", PLACEHOLDER)
    # outside incoming/: not an application at all
    store.put("expected.json", b"[]")
    return root


def test_check_database_reports_the_server(rt: Runtime) -> None:
    assert intake.check_database(rt).split(".")[0].isdigit()


def test_check_database_fails_clearly_when_unreachable(tmp_path: Path) -> None:
    import socket

    from tests.services.conftest import service_settings

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = Runtime(service_settings(f"postgresql://kyc@127.0.0.1:{port}/kyc", tmp_path))
    try:
        with pytest.raises(intake.DatabaseUnavailable, match="database unavailable"):
            intake.check_database(dead)
    finally:
        dead.close()


def test_discover_groups_complete_incomplete_and_malformed(rt: Runtime, folders: Path) -> None:
    found = intake.discover(rt, str(folders))

    complete = {b.application_id: b for b in found.complete}
    assert sorted(complete) == ["app-complete", "app-frames"]
    full = complete["app-complete"]
    assert full.form.key == "incoming/app-complete/application.json"
    assert full.front.key == "incoming/app-complete/id_document.jpg"
    assert full.back is not None and full.back.key == "incoming/app-complete/id_document_back.png"
    assert full.selfie.key == "incoming/app-complete/selfie.jpg"
    framed = complete["app-frames"]
    assert framed.back is None
    # frames in frame order (2 before 10), not in key order
    assert [f.key.rsplit("/", 1)[1] for f in framed.frames] == ["2.jpg", "10.jpg"]

    incomplete = {i.application_id: i for i in found.incomplete}
    assert sorted(incomplete) == ["app-gif", "app-misnamed", "app-no-selfie", "app-two-selfies"]
    assert incomplete["app-no-selfie"].missing == ("selfie",)
    assert incomplete["app-no-selfie"].problems == ()
    assert incomplete["app-two-selfies"].missing == ()
    assert incomplete["app-two-selfies"].problems == ("several selfie objects",)
    assert incomplete["app-misnamed"].missing == ("selfie",)
    assert incomplete["app-misnamed"].problems == ("unexpected object 'selfi.jpg'",)
    assert incomplete["app-gif"].missing == ("selfie",)
    assert incomplete["app-gif"].problems == ("unsupported image type 'selfie.gif'",)


def test_discover_one_application_lists_only_its_folder(rt: Runtime, folders: Path) -> None:
    found = intake.discover(rt, str(folders), "app-frames")
    assert [b.application_id for b in found.complete] == ["app-frames"]
    assert found.incomplete == []
    missing = intake.discover(rt, str(folders), "app-no-selfie")
    assert missing.complete == [] and [i.application_id for i in missing.incomplete] == [
        "app-no-selfie"
    ]
    assert intake.discover(rt, str(folders), "never-landed") == intake.Discovery([], [])


def _bundle(rt: Runtime, landing: str, app_id: str) -> LandingBundle:
    (bundle,) = intake.discover(rt, landing, app_id).complete
    return bundle


def test_load_form_valid(rt: Runtime, landing: Path, shared_data: Path) -> None:
    landed = land(LocalStore(landing), shared_data, identity=2, registration=("GMC", "7123456"))
    bundle = _bundle(rt, str(landing), landed.application_id)
    app = intake.load_form(rt, str(landing), bundle)
    assert isinstance(app, Application)
    assert app.application_id == landed.application_id
    assert (app.first_name, app.last_name) == (landed.card.first_name, landed.card.last_name)
    assert app.date_of_birth == landed.card.date_of_birth
    assert app.registration.type.value == "GMC" and app.registration.number == "7123456"


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        (b'{"application_id": "x", "email": ', "not valid JSON"),
        (b"[1, 2]", "<root>"),
        (None, "email"),  # the valid form without its email
        ("other-id", "application_id"),  # the JSON names another folder
    ],
    ids=["truncated-json", "not-an-object", "schema-violation", "wrong-folder"],
)
def test_load_form_invalid_is_returned_not_raised(
    rt: Runtime, landing: Path, shared_data: Path, form: bytes | str | None, expected: str
) -> None:
    store = LocalStore(landing)
    landed = land(store, shared_data, identity=2)
    key = f"incoming/{landed.application_id}/application.json"
    if form is None:
        store.put(key, json.dumps({k: v for k, v in landed.form.items() if k != "email"}).encode())
    elif isinstance(form, str):
        store.put(key, json.dumps(landed.form | {"application_id": form}).encode())
    else:
        store.put(key, form)
    bundle = _bundle(rt, str(landing), landed.application_id)
    result = intake.load_form(rt, str(landing), bundle)
    assert isinstance(result, ApplicationInvalid)
    assert result.problems and any(expected in p for p in result.problems), result.problems


def test_register_application_twice_for_the_same_objects_gives_the_same_refs(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    landed = land(LocalStore(landing), shared_data, identity=3)
    first = open_landed(rt, str(landing), landed.application_id)
    again = intake.register_application(rt, str(landing), first.bundle, first.application)
    assert again == first.refs
    app_id = landed.application_id
    assert rows(rt, "select count(*) from id_documents where application_id = :a", a=app_id) == [
        (1,)
    ]
    assert rows(rt, "select count(*) from selfies where application_id = :a", a=app_id) == [(1,)]
    assert rows(rt, "select count(*) from users where email = :e", e=f"{app_id}@example.org") == [
        (1,)
    ]

    # A changed object (new ETag) is a new submission: same user, new document rows.
    LocalStore(landing).put(
        f"incoming/{app_id}/selfie.jpg",
        (shared_data / "faces" / "deepface_elon" / "3.jpg").read_bytes(),
    )
    relanded = open_landed(rt, str(landing), app_id)
    assert relanded.bundle.fingerprint != first.bundle.fingerprint
    assert relanded.refs.user_id == first.refs.user_id
    assert relanded.refs.selfie_id != first.refs.selfie_id
    assert relanded.refs.id_document_id != first.refs.id_document_id
    stored = intake.stored_application(rt, app_id)
    assert stored is not None
    assert stored.input_fingerprint == relanded.bundle.fingerprint
    assert stored.landing_uri == rt.store(str(landing)).uri
    assert stored.latest_version is None


def test_open_case_reads_nothing_until_an_image_is_used(
    rt: Runtime, landing: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landed = land(LocalStore(landing), shared_data, identity=3)
    case = open_landed(rt, str(landing), landed.application_id)
    reads: Counter[str] = Counter()
    count_calls(monkeypatch, rt.store(str(landing)), "get", reads, lambda key: key)
    fresh = intake.open_case(rt, str(landing), case.bundle, case.application, case.refs)
    assert reads == Counter()
    selfie = face_photos(shared_data, GENUINE_IDENTITIES[3])[1].read_bytes()
    assert fresh.images.selfie.data == selfie
    assert fresh.images.selfie.data == selfie  # fetched once, kept
    assert reads == Counter({f"incoming/{landed.application_id}/selfie.jpg": 1})
    assert fresh.application_id == landed.application_id


def _unreadable_signals(app: Application) -> Signals:
    """Signals of an application whose stages found nothing (a cheap, real decision)."""
    return Signals(
        application=app, scan=DocumentScan(fields=MappingProxyType({})), face=None, quality=None
    )


def test_already_decided_and_decided_applications_after_a_decision(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    store = LocalStore(landing)
    one = open_landed(rt, str(landing), land(store, shared_data, identity=4).application_id)
    two = open_landed(rt, str(landing), land(store, shared_data, identity=5).application_id)
    bundles = [one.bundle, two.bundle]
    assert intake.already_decided(rt, one.bundle) is None
    assert intake.decided_applications(rt, bundles) == {}

    result = decide_application(rt, one, _unreadable_signals(one.application))
    assert result.decision is Decision.MANUAL_REVIEW

    standing = intake.already_decided(rt, one.bundle)
    assert standing is not None
    assert (standing.application_id, standing.version, standing.decision) == (
        one.application_id,
        1,
        "MANUAL_REVIEW",
    )
    assert standing.reasons == list(result.reasons)
    assert intake.already_decided(rt, two.bundle) is None
    decided = intake.decided_applications(rt, bundles)
    assert set(decided) == {one.application_id}
    assert decided[one.application_id].version == 1
    stored = intake.stored_application(rt, one.application_id)
    assert stored is not None and stored.latest_version == 1


def test_dead_letter_recorded_and_listed(rt: Runtime, landing: Path) -> None:
    app_id = new_id("dead")
    first = intake.dead_letter(
        rt, str(landing), app_id, "load-form", "APPLICATION_INVALID", "email: required violated",
        {"problems": ["email: required violated"]},
    )  # fmt: skip
    # the same unresolved problem again refreshes the row instead of adding one
    again = intake.dead_letter(
        rt, str(landing), app_id, "load-form", "APPLICATION_INVALID", "still invalid"
    )
    assert again == first
    # a problem without an application id (a folder that never became one)
    folder = intake.dead_letter(rt, str(landing), None, "discover", "INCOMPLETE", "no selfie")
    assert folder != first

    with session_scope(rt.db) as s:
        listed = repo.list_dead_letters(s)
    mine = [d for d in listed if d["dead_letter_id"] in {first, folder}]
    assert [(d["application_id"], d["stage"], d["error_code"], d["detail"]) for d in mine] == [
        (app_id, "load-form", "APPLICATION_INVALID", "still invalid"),
        (None, "discover", "INCOMPLETE", "no selfie"),
    ]
    assert mine[0]["landing_uri"] == rt.store(str(landing)).uri
    assert mine[0]["payload"] is None  # the repeat's payload replaced the first one's
    audit = rows(
        rt,
        "select action, to_state from audit_log where entity = 'dead_letter'"
        " and entity_id = :id order by audit_id",
        id=str(first),
    )
    assert [tuple(a) for a in audit] == [
        ("recorded", "APPLICATION_INVALID"),
        ("repeated", "APPLICATION_INVALID"),
    ]
