"""The intake API over HTTP: a real uvicorn on loopback, a real PostgreSQL, a real landing.

The first test sends a demo-style application (a rendered licence carrying a public
face photo, and another photo of the same person as the selfie) and follows it to
its decision, made in the web process (``intake_process = inline``); that decision
must equal the one the services make on the same objects in a fresh database. The
other tests probe each refusal the contract names, and what is left behind (nothing).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import random
import shutil
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from kyc.demo.generate import GENUINE_IDENTITIES, application_form, card_data, face_photos
from kyc.runtime import Runtime
from kyc.services.api_keys import revoke_api_key
from tests.fixtures.db import DatabaseFactory
from tests.services.conftest import _licence, open_landed, run_chain, service_settings
from tests.web.conftest import HEIC, PDF, IntakeServer, jpeg, png, png_of_size

pytestmark = pytest.mark.db

STATUS_KEYS = {"application_id", "status", "decision", "reasons", "version", "decided_at"}


def form(app_id: str | None = None, **over: Any) -> dict[str, Any]:
    """A valid application.json (invented person); ``app_id`` None: no id sent."""
    card = card_data(random.Random(7), dt.date.today(), 3)
    data = application_form("placeholder" if app_id is None else app_id, card)
    data = data | {"email": "applicant@example.org"} | over
    if app_id is None:
        del data["application_id"]
    return data


def files(
    application: dict[str, Any] | bytes | str,
    *,
    front: bytes | None = None,
    selfie: bytes | None = None,
    back: bytes | None = None,
    frames: list[bytes] = (),  # type: ignore[assignment]
    front_name: str = "front.jpg",
) -> list[tuple[str, tuple[str, bytes | str, str]]]:
    """The multipart parts of an upload."""
    text = application if isinstance(application, bytes | str) else json.dumps(application)
    parts: list[tuple[str, tuple[str, bytes | str, str]]] = [
        ("application", ("application.json", text, "application/json")),
        ("id_document", (front_name, jpeg() if front is None else front, "image/jpeg")),
        (
            "selfie",
            ("selfie.jpg", jpeg(colour="white") if selfie is None else selfie, "image/jpeg"),
        ),
    ]
    if back is not None:
        parts.append(("id_document_back", ("back.jpg", back, "image/jpeg")))
    parts += [("selfie_frames", (f"{n}.jpg", f, "image/jpeg")) for n, f in enumerate(frames)]
    return parts


def post(
    server: IntakeServer,
    key: str | None,
    parts: list[Any],
    *,
    idempotency_key: str | None = None,
    header: str = "bearer",
) -> httpx.Response:
    headers = {}
    if key is not None:
        headers = {"Authorization": f"Bearer {key}"} if header == "bearer" else {"X-API-Key": key}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return httpx.post(f"{server.url}/v1/applications", files=parts, headers=headers, timeout=60)


def status(server: IntakeServer, key: str, path: str) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30)


def count(rt: Runtime, query: str, **params: Any) -> int:
    with rt.db.connect() as conn:
        return int(conn.execute(sa.text(query), params).scalar_one())


def landed(server: IntakeServer, app_id: str) -> list[str]:
    folder = server.landing / "incoming" / app_id
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def everything_landed(server: IntakeServer) -> set[str]:
    root = server.landing
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def key(intake_server: IntakeServer) -> str:
    return intake_server.new_key("main client")


# --------------------------------------------------------------------------------------
# the happy path, first: its decision must not see the other tests' faces
# --------------------------------------------------------------------------------------


def test_upload_is_decided_like_the_services_decide_it(
    intake_server: IntakeServer,
    key: str,
    shared_data: Path,
    pg_server: DatabaseFactory,
    tmp_path: Path,
) -> None:
    identity = 0
    card = card_data(random.Random(1000 + identity), dt.date.today(), identity)
    front, back = _licence(shared_data, identity, card)
    selfie = face_photos(shared_data, GENUINE_IDENTITIES[identity])[1].read_bytes()
    application = application_form("placeholder", card)
    del application["application_id"]  # the server names it

    started = time.perf_counter()
    r = post(intake_server, key, files(application, front=front, selfie=selfie, back=back))
    assert r.status_code == 202, r.text
    body = r.json()
    app_id = body["application_id"]
    assert app_id.startswith("app-") and len(app_id) == 36
    assert body == {
        "application_id": app_id,
        "status": "RECEIVED",
        "status_url": f"/v1/applications/{app_id}",
    }
    assert r.headers["location"] == body["status_url"]
    assert "idempotent-replayed" not in r.headers
    # The landing layout, the form last (its id added), the rows registered NEW.
    assert landed(intake_server, app_id) == [
        "application.json",
        "id_document.jpg",
        "id_document_back.jpg",
        "selfie.jpg",
    ]
    stored = json.loads(
        (intake_server.landing / "incoming" / app_id / "application.json").read_text()
    )
    assert stored == {"application_id": app_id} | application
    folder = intake_server.landing / "incoming" / app_id
    assert (folder / "id_document.jpg").read_bytes() == front
    assert (
        count(
            intake_server.rt,
            "select count(*) from users u join applications a using (user_id) where a.application_id = :a",
            a=app_id,
        )
        == 1
    )

    seen: list[str] = []
    deadline = time.monotonic() + 120
    while True:
        s = status(intake_server, key, body["status_url"])
        if s.status_code == 429:  # polling faster than the key's rate: as told, wait
            time.sleep(int(s.headers["retry-after"]))
            continue
        assert s.status_code == 200, s.text
        seen.append(s.json()["status"])
        if s.json()["status"] in {"DECIDED", "FAILED_TO_PROCESS"} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    decided = s.json()
    assert decided["status"] == "DECIDED", seen
    assert set(decided) == STATUS_KEYS
    assert decided["version"] == 1 and decided["decided_at"]
    print(
        f"upload to decision: {time.perf_counter() - started:.1f} s; statuses seen: {sorted(set(seen))}"
    )

    # No personal data in the status response.
    for value in (
        card.first_name,
        card.last_name,
        card.document_number,
        card.date_of_birth.isoformat(),
        card.address_line,
        application["email"],
    ):
        assert str(value) not in s.text

    # The same objects decided by the services, in a fresh database and landing.
    fresh = tmp_path / "landing"
    shutil.copytree(folder, fresh / "incoming" / app_id)
    rt = Runtime(service_settings(pg_server.create("kyc_web_ref"), fresh))
    try:
        chain = run_chain(rt, open_landed(rt, str(fresh), app_id))
    finally:
        rt.close()
    assert (decided["decision"], decided["reasons"]) == (
        chain.result.decision.value,
        list(chain.result.reasons),
    )


# --------------------------------------------------------------------------------------
# idempotency and retries
# --------------------------------------------------------------------------------------


def test_idempotent_replay_returns_the_first_response_and_makes_one_application(
    intake_server: IntakeServer, key: str
) -> None:
    parts = files(form())  # no id: each new request would get a new one
    applications = count(intake_server.rt, "select count(*) from applications")
    first = post(intake_server, key, parts, idempotency_key="retry-1")
    assert first.status_code == 202, first.text
    again = post(intake_server, key, parts, idempotency_key="retry-1")
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    app_id = first.json()["application_id"]
    assert (
        count(
            intake_server.rt,
            "select count(*) from intake_uploads where application_id = :a",
            a=app_id,
        )
        == 1
    )
    assert (
        count(
            intake_server.rt,
            "select count(*) from intake_requests where idempotency_key = 'retry-1'",
        )
        == 1
    )
    assert count(intake_server.rt, "select count(*) from applications") == applications + 1

    # Same key, another body: refused, nothing new.
    before = everything_landed(intake_server)
    other = post(intake_server, key, files(form(), selfie=png()), idempotency_key="retry-1")
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"
    assert everything_landed(intake_server) == before

    # Idempotency-Keys are per API key: another client may use the same string.
    mine = post(intake_server, intake_server.new_key("other"), parts, idempotency_key="retry-1")
    assert mine.status_code == 202 and mine.json()["application_id"] != app_id


def test_concurrent_twins_make_one_application(intake_server: IntakeServer, key: str) -> None:
    parts = files(form())
    answers: list[httpx.Response] = []
    go = threading.Barrier(3)

    def send() -> None:
        go.wait()
        answers.append(post(intake_server, key, parts, idempotency_key="twins"))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
    ids = {a.json()["application_id"] for a in answers}
    assert len(ids) == 1
    assert sorted(a.headers.get("idempotent-replayed", "") for a in answers) == ["", "true", "true"]
    # Every folder holding a form is an accepted upload, and the other way round.
    forms = {p.parent.name for p in (intake_server.landing / "incoming").glob("*/application.json")}
    with intake_server.rt.db.connect() as conn:
        uploads = set(conn.execute(sa.text("select application_id from intake_uploads")).scalars())
    assert ids <= forms
    assert forms == uploads


def test_an_existing_application_id_is_a_conflict(intake_server: IntakeServer, key: str) -> None:
    parts = files(form("client-id-1"))
    assert post(intake_server, key, parts).status_code == 202
    before = everything_landed(intake_server)
    again = post(intake_server, key, files(form("client-id-1"), selfie=png()))
    assert again.status_code == 409
    assert again.json()["error"] == "application_exists"
    assert everything_landed(intake_server) == before
    # Objects landed by another path (DataSync) for an id: also taken.
    (intake_server.landing / "incoming" / "synced-1").mkdir(parents=True)
    (intake_server.landing / "incoming" / "synced-1" / "selfie.jpg").write_bytes(jpeg())
    assert post(intake_server, key, files(form("synced-1"))).status_code == 409


# --------------------------------------------------------------------------------------
# limits and types
# --------------------------------------------------------------------------------------


def test_oversize_file_is_refused_while_streaming(intake_server: IntakeServer, key: str) -> None:
    before = everything_landed(intake_server)
    big = b"\xff\xd8\xff\xe0" + b"\x00" * (11 * 1024 * 1024)
    r = post(intake_server, key, files(form(), front=big))
    assert r.status_code == 413
    assert r.json()["error"] == "file_too_large"
    assert "id_document" in r.json()["detail"]
    assert everything_landed(intake_server) == before


def test_a_declared_body_over_the_limits_is_refused_before_it_is_sent(
    intake_server: IntakeServer, key: str
) -> None:
    url = urlsplit(intake_server.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        conn.putrequest("POST", "/v1/applications")
        conn.putheader("Authorization", f"Bearer {key}")
        conn.putheader("Content-Type", "multipart/form-data; boundary=xyz")
        conn.putheader("Content-Length", str(10**12))
        conn.endheaders()  # no body follows
        r = conn.getresponse()
        assert r.status == 413
        assert json.loads(r.read())["error"] == "body_too_large"
    finally:
        conn.close()


def test_type_is_read_from_the_content_not_the_name(intake_server: IntakeServer, key: str) -> None:
    # A PNG named .jpg is accepted and lands as .png; frames land numbered.
    r = post(
        intake_server,
        key,
        files(form("png-named-jpg"), front=png(), frames=[jpeg(), png(), jpeg()]),
    )
    assert r.status_code == 202, r.text
    assert landed(intake_server, "png-named-jpg") == [
        "application.json",
        "id_document.png",
        "selfie.jpg",
        "selfie_frames/0.jpg",
        "selfie_frames/1.png",
        "selfie_frames/2.jpg",
    ]
    # A PDF named .jpg with an image/jpeg content type is not an image.
    r = post(intake_server, key, files(form(), front=PDF, front_name="scan.jpg"))
    assert r.status_code == 415
    assert "PDF" in r.json()["detail"] and "JPEG or PNG" in r.json()["detail"]


@pytest.mark.parametrize(
    ("data", "words"),
    [(HEIC, "HEIC"), (b"GIF89a" + b"\x00" * 64, "not a JPEG or PNG"), (PDF, "PDF")],
    ids=["heic", "gif", "pdf"],
)
def test_other_types_get_415_naming_what_is_accepted(
    intake_server: IntakeServer, key: str, data: bytes, words: str
) -> None:
    r = post(intake_server, key, files(form(), selfie=data))
    assert r.status_code == 415
    body = r.json()
    assert body["error"] == "unsupported_type"
    assert words in body["detail"] and "JPEG or PNG" in body["detail"]
    assert body["detail"].startswith("selfie:")


def test_image_dimensions_over_the_limit_are_refused(intake_server: IntakeServer, key: str) -> None:
    bomb = png_of_size(3400, 3300)  # 11.2 megapixels, a few kB
    assert len(bomb) < 100_000
    r = post(intake_server, key, files(form(), front=bomb))
    assert r.status_code == 413
    assert r.json()["error"] == "image_too_large"
    assert "3400x3300" in r.json()["detail"]


@pytest.mark.parametrize(
    "data",
    [b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, png()[:40] + b"\x00" * 60],
    ids=["jpeg", "png"],
)
def test_corrupt_image_is_422(intake_server: IntakeServer, key: str, data: bytes) -> None:
    r = post(intake_server, key, files(form(), front=data))
    assert r.status_code == 422
    assert r.json()["error"] == "corrupt_image"


def test_part_rules(intake_server: IntakeServer, key: str) -> None:
    missing = [p for p in files(form()) if p[0] != "selfie"]
    r = post(intake_server, key, missing)
    assert (r.status_code, r.json()["error"]) == (422, "missing_part")
    assert "selfie" in r.json()["detail"]
    r = post(intake_server, key, [*files(form()), ("passport", ("p.jpg", jpeg(), "image/jpeg"))])
    assert (r.status_code, r.json()["error"]) == (422, "unexpected_part")
    r = post(intake_server, key, files(form(), frames=[jpeg()] * 31))
    assert (r.status_code, r.json()["error"]) == (422, "too_many_parts")
    r = httpx.post(
        f"{intake_server.url}/v1/applications",
        json=form(),
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 415 and "multipart/form-data" in r.json()["detail"]


# --------------------------------------------------------------------------------------
# the form
# --------------------------------------------------------------------------------------


def test_bad_json_is_422_with_where_not_what(intake_server: IntakeServer, key: str) -> None:
    r = post(intake_server, key, files('{"first_name": "Secretia", '))
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_application"
    assert body["problems"] == [
        {
            "path": "<root>",
            "rule": "json",
            "detail": "not valid JSON: JSONDecodeError at line 1 column 28",
        }
    ]
    assert "Secretia" not in r.text


def test_schema_errors_name_each_path_and_rule_never_the_value(
    intake_server: IntakeServer, key: str
) -> None:
    bad = form(
        first_name=["Zebedee Secret"],
        email="zebedee-at-nowhere",
        registration={"type": "PRIVATE-REGISTER", "number": None},
        nickname="Zeb",
    )
    bad["document"] = dict(bad["document"], number="")
    del bad["address"]["city"]
    r = post(intake_server, key, files(bad))
    assert r.status_code == 422
    problems = {(p["path"], p["rule"]) for p in r.json()["problems"]}
    assert problems == {
        ("first_name", "type"),
        ("email", "pattern"),
        ("registration/type", "enum"),
        ("nickname", "additionalProperties"),
        ("document/number", "minLength"),
        ("address/city", "required"),
    }
    for value in ("Zebedee", "zebedee-at-nowhere", "PRIVATE-REGISTER", 'Zeb"'):
        assert value not in r.text


@pytest.mark.parametrize("app_id", ["../evil", "a/b", "", ".hidden", "x" * 129])
def test_client_ids_must_name_a_landing_folder(
    intake_server: IntakeServer, key: str, app_id: str
) -> None:
    before = everything_landed(intake_server)
    r = post(intake_server, key, files(form(app_id)))
    assert r.status_code == 422
    assert [p["path"] for p in r.json()["problems"]] == ["application_id"]
    assert everything_landed(intake_server) == before


# --------------------------------------------------------------------------------------
# keys
# --------------------------------------------------------------------------------------


def test_keys(intake_server: IntakeServer, key: str) -> None:
    url = f"{intake_server.url}/v1/applications"
    r = httpx.post(url, files=files(form()))
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")
    invalid = [
        "nonsense",
        "kyc_00000000_" + "a" * 43,  # well-formed, unknown
        key[:-2] + ("AA" if not key.endswith("AA") else "BB"),  # a real prefix, wrong secret
    ]
    revoked = intake_server.new_key("leaver")
    revoke_api_key(intake_server.rt, revoked.split("_")[1], actor="test")
    details = set()
    for presented in [*invalid, revoked]:
        for header in ("bearer", "x-api-key"):
            r = post(intake_server, presented, files(form()), header=header)
            assert r.status_code == 401, (presented, header)
            details.add(r.json()["detail"])
    assert details == {"invalid or revoked API key"}  # no oracle
    r = httpx.get(f"{url}/anything", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    no_scope = intake_server.new_key("reporting", ["reports"])
    r = post(intake_server, no_scope, files(form()))
    assert r.status_code == 403 and "intake" in r.json()["detail"]
    # X-API-Key works like Bearer.
    r = post(intake_server, key, files(form("via-x-api-key")), header="x-api-key")
    assert r.status_code == 202
    assert (
        count(
            intake_server.rt,
            "select count(*) from api_keys where last_used_at is not null and prefix = :p",
            p=key.split("_")[1],
        )
        == 1
    )


def test_rate_limit_per_key(intake_server: IntakeServer) -> None:
    busy, calm = intake_server.new_key("busy"), intake_server.new_key("calm")
    rate = intake_server.settings.intake_rate_per_minute
    codes = []
    started = time.monotonic()
    # The bucket refills continuously (rate/60 per second): on a loaded machine the
    # requests are slower and more of them get through before the first 429, so the
    # bound counts the tokens refilled while they ran rather than assuming speed.
    for _ in range(3 * rate):
        r = status(intake_server, busy, "/v1/applications/unknown-1")
        codes.append(r.status_code)
        if r.status_code == 429:
            break
    refilled = (time.monotonic() - started) * rate / 60
    assert codes[-1] == 429, codes
    assert rate - 2 <= codes.count(404) <= rate + refilled + 2, (len(codes), refilled)
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["error"] == "rate_limited"
    # Another key is not slowed down by it.
    assert status(intake_server, calm, "/v1/applications/unknown-1").status_code == 404


# --------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------


def test_status_ids_that_name_no_folder_are_404_without_touching_anything(
    intake_server: IntakeServer, key: str
) -> None:
    before = everything_landed(intake_server)
    for path in [
        "/v1/applications/%2e%2e",
        "/v1/applications/..%2F..%2Fetc%2Fpasswd",
        "/v1/applications/%2E%2E%2Fincoming",
        "/v1/applications/" + "a" * 129,
        "/v1/applications/unknown-app",
        "/v1/applications/.hidden",
    ]:
        r = status(intake_server, key, path)
        assert r.status_code == 404, path
    # A raw ``..`` segment (httpx would normalise it away).
    url = urlsplit(intake_server.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        conn.request("GET", "/v1/applications/..", headers={"Authorization": f"Bearer {key}"})
        assert conn.getresponse().status == 404
    finally:
        conn.close()
    assert everything_landed(intake_server) == before


def test_a_key_sees_only_its_own_uploads(intake_server: IntakeServer, key: str) -> None:
    r = post(intake_server, key, files(form("mine-only")))
    assert r.status_code == 202
    assert status(intake_server, key, "/v1/applications/mine-only").status_code == 200
    other = intake_server.new_key("other client")
    r = status(intake_server, other, "/v1/applications/mine-only")
    assert r.status_code == 404
    assert r.json() == {
        "error": "not_found",
        "detail": "no application with this id for this API key",
    }


def test_status_has_no_personal_data(intake_server: IntakeServer, key: str) -> None:
    data = form("no-pii-1")
    assert post(intake_server, key, files(data)).status_code == 202
    r = status(intake_server, key, "/v1/applications/no-pii-1")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == STATUS_KEYS
    assert body["status"] in {"RECEIVED", "PROCESSING", "DECIDED", "FAILED_TO_PROCESS"}
    for value in (
        data["first_name"],
        data["last_name"],
        data["email"],
        data["date_of_birth"],
        data["document"]["number"],
        data["address"]["line1"],
    ):
        assert value not in r.text


def test_presigned_uploads_need_an_s3_landing(intake_server: IntakeServer, key: str) -> None:
    r = httpx.post(
        f"{intake_server.url}/v1/uploads",
        json={
            "application": form(),
            "files": {"id_document": {"content_type": "image/jpeg", "bytes": 10}},
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 409
    assert r.json()["error"] == "presign_unavailable"
    assert "POST /v1/applications" in r.json()["detail"]
