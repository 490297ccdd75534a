"""Liveness and duplicates in the pipeline, with AWS Face Liveness on a loopback server."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image

from flows.ingest import ingest_landing
from kyc import runtime
from kyc.db.engine import session_scope
from kyc.db.repository import list_decisions
from kyc.demo.cards import render_licence_back, render_licence_front
from kyc.demo.generate import application_form, card_data
from kyc.storage.local import LocalStore
from tests.engines.test_liveness_contract import SESSION_DENIED, SESSION_OK, RekognitionStub

pytestmark = pytest.mark.slow


@pytest.fixture
def liveness_endpoint(shared_data: Path) -> Iterator[str]:
    faces = shared_data / "faces"
    stub = RekognitionStub((faces / "facerec_obama" / "3.jpg").read_bytes(),
                           (faces / "deepface_angelina" / "1.jpg").read_bytes())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            status, payload = stub.respond(self.headers.get("X-Amz-Target", ""), body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _applicant(shared_data: Path) -> tuple[Any, bytes, bytes, bytes]:
    """A rendered licence (front, back) with a public face photo, and a selfie."""
    card = card_data(random.Random(3), dt.date.today(), 0)
    faces = shared_data / "faces" / "facerec_obama"
    with Image.open(faces / "1.jpg") as portrait:
        front = render_licence_front(card, portrait.convert("RGB"), seed=3)
    return card, front, render_licence_back(card, seed=3), (faces / "2.jpg").read_bytes()


def test_selfie_frames_reach_the_local_challenge(
    pipeline_env: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card, front, back, selfie = _applicant(shared_data)
    store = LocalStore(pipeline_env)
    app_id = f"frames-{uuid.uuid4().hex[:6]}"
    form = application_form(app_id, card)
    for key, data in (("id_document.jpg", front), ("id_document_back.jpg", back), ("selfie.jpg", selfie),
                      *((f"selfie_frames/{n}.jpg", selfie) for n in range(3)),
                      ("application.json", json.dumps(form).encode())):
        store.put(f"incoming/{app_id}/{key}", data)
    (outcome,) = ingest_landing(str(pipeline_env))
    # Three copies of a still photo: a complete sequence without blink or head turn.
    assert outcome.decision == "FAIL" and "LIVENESS_FAILED" in outcome.reasons, outcome
    with runtime.database().connect() as conn:
        rows = conn.execute(sa.text(
            "select method, passed, details from liveness_checks where application_id = :a order by method"),
            {"a": app_id}).all()
    assert [(r.method, r.passed) for r in rows] == [("challenge", False), ("replay", None)]
    assert rows[0].details["frames"] == 3 and rows[0].details["blink"] is False


def test_aws_face_liveness_in_the_pipeline_under_policy_require(
    pipeline_env: Path, shared_data: Path, liveness_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KYC_LIVENESS_ENGINE", "rekognition")
    monkeypatch.setenv("KYC_LIVENESS_ENDPOINT_URL", liveness_endpoint)
    monkeypatch.setenv("KYC_LIVENESS_POLICY", "require")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    runtime.reset()
    # One genuine applicant (a rendered licence with a public face photo), three
    # times: a live session, a session the service refuses (a setup error:
    # ENGINE_ERROR), and no session at all.
    card, front, back, selfie = _applicant(shared_data)
    store = LocalStore(pipeline_env)
    ids = {}
    for name, session in (("live", SESSION_OK), ("denied", SESSION_DENIED), ("none", None)):
        app_id = ids[name] = f"aws-{name}-{uuid.uuid4().hex[:6]}"
        form = application_form(app_id, card)
        if session:
            form["liveness"] = {"session_id": session}
        for key, data in (("id_document.jpg", front), ("id_document_back.jpg", back),
                          ("selfie.jpg", selfie), ("application.json", json.dumps(form).encode())):
            store.put(f"incoming/{app_id}/{key}", data)

    outcomes = {o.application_id: o for o in ingest_landing(str(pipeline_env))}
    live, denied, none = (outcomes[ids[k]] for k in ("live", "denied", "none"))
    assert live.decision == "PASS", live
    assert "LIVENESS_NOT_ASSESSED" not in live.reasons
    assert denied.decision == "MANUAL_REVIEW" and "ENGINE_ERROR" in denied.reasons
    assert none.decision == "MANUAL_REVIEW" and "LIVENESS_NOT_ASSESSED" in none.reasons

    with session_scope(runtime.database()) as s:
        rows = {r.application_id: r.as_json() for r in list_decisions(s)}
    record = rows[ids["live"]]
    assert record["engines"]["liveness"].startswith("aws-rekognition-face-liveness/")
    assert record["engines"]["liveness_methods"] == "aws-face-liveness,replay"
    assert record["scores"]["liveness_confidence"] == pytest.approx(98.6)
    # The same face three times under the same name and DOB: no duplicate identity.
    assert all("DUPLICATE_IDENTITY" not in r["reasons"] for r in rows.values())
    with runtime.database().connect() as conn:
        methods = conn.execute(sa.text(
            "select method, passed from liveness_checks where application_id = :a order by method"),
            {"a": ids["live"]}).all()
    assert [tuple(m) for m in methods] == [("aws-face-liveness", True), ("replay", None)]
