"""The batch flow with KYC_DOCUMENT_ENGINE=textract and KYC_FACE_ENGINE=rekognition.

boto3 talks to the recorded-response replay server (``tests/engines/aws_replay.py``)
on loopback: one applicant whose AnalyzeID and CompareFaces replies agree with the
form, and one whose CompareFaces call stays throttled beyond botocore's retry bound
and the task's own retry, which must end as ENGINE_ERROR for that application only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from flows.ingest import ingest_landing
from kyc import runtime
from kyc.demo.cards import CardData, render_licence_back, render_licence_front
from kyc.demo.generate import application_form
from kyc.settings import get_settings
from kyc.storage.local import LocalStore
from tests.engines.aws_replay import (
    REKOGNITION_COMPARE_FACES,
    TEXTRACT_ANALYZE_ID,
    ReplayServer,
    error,
    saved,
)

pytestmark = pytest.mark.slow

#: The applicant the saved AnalyzeID responses describe (as in the contract suite).
CARD = CardData(
    first_name="Amélie",
    middle_name="Rose",
    last_name="Durand-Smith",
    date_of_birth=dt.date(1988, 4, 9),
    expiry_date=dt.date(2030, 4, 9),
    issue_date=dt.date(2022, 7, 14),
    document_number="F5550123",
    address_line="77 Harbor Blvd",
    city="Long Beach",
    state="CA",
    postal_code="90802",
    sex="F",
)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as srv:
        yield srv


def test_batch_on_aws_engines(
    pipeline_env: Path,
    shared_data: Path,
    server: ReplayServer,
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KYC_TEXTRACT_ENDPOINT_URL", server.endpoint)
    monkeypatch.setenv("KYC_REKOGNITION_ENDPOINT_URL", server.endpoint)
    monkeypatch.setenv("KYC_AWS_MAX_ATTEMPTS", "2")
    # The runtime builds the AWS engines from these settings (kyc.wiring); the
    # quality gate's worker process is shared with the session's other runtimes.
    monkeypatch.setenv("KYC_DOCUMENT_ENGINE", "textract")
    monkeypatch.setenv("KYC_FACE_ENGINE", "rekognition")
    runtime.reset()

    faces = sorted((shared_data / "faces" / "facerec_biden").glob("*.jpg"))
    selfie = faces[1].read_bytes()
    store = LocalStore(pipeline_env)
    images = {}
    for app_id, seed in (("aws-genuine", 11), ("aws-throttled", 12)):
        with Image.open(faces[0]) as portrait:
            front = render_licence_front(CARD, portrait.convert("RGB"), seed=seed)
        back = render_licence_back(CARD, seed=seed)
        images[app_id] = (front, back)
        base = f"incoming/{app_id}/"
        store.put(base + "id_document.jpg", front)
        store.put(base + "id_document_back.jpg", back)
        store.put(base + "selfie.jpg", selfie)
        store.put(base + "application.json", json.dumps(application_form(app_id, CARD)).encode())
        server.add(TEXTRACT_ANALYZE_ID, [front, back], saved("analyze_id_licence_front_back"))
    server.add(
        REKOGNITION_COMPARE_FACES,
        [selfie, images["aws-genuine"][0]],
        error("ThrottlingException"),  # retried by botocore, then answered
        saved("compare_faces_same_person"),
    )
    server.add(
        REKOGNITION_COMPARE_FACES,
        [selfie, images["aws-throttled"][0]],
        error("ThrottlingException"),
    )

    outcomes = {o.application_id: o for o in ingest_landing(str(pipeline_env))}

    genuine, throttled = outcomes["aws-genuine"], outcomes["aws-throttled"]
    assert genuine.status == "DECIDED" and genuine.decision == "PASS", genuine
    assert genuine.scores["face_similarity"] == pytest.approx(98.42)  # the saved reply
    assert throttled.status == "DECIDED" and throttled.decision == "MANUAL_REVIEW", throttled
    assert "ENGINE_ERROR" in throttled.reasons and "FACE_MISMATCH" not in throttled.reasons
    # Bounded: botocore's attempts for each of the task's attempts, no more.
    task_attempts = get_settings().task_retries + 1
    # genuine: one throttled attempt then the answer; throttled: 2 per task attempt.
    assert server.count(REKOGNITION_COMPARE_FACES) == 2 + 2 * task_attempts
