"""Contract tests every LivenessChecker must pass, then each implementation's own cases.

Implementations: the local challenge, the local replay check, and AWS Rekognition
Face Liveness — the latter against a real HTTP server on 127.0.0.1 speaking the AWS
JSON 1.1 protocol (routed on ``X-Amz-Target``), with responses in the documented
shape of ``GetFaceLivenessSessionResults``.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import random
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kyc.demo import replays
from kyc.demo.cards import render_licence_front
from kyc.demo.generate import card_data, photo_of_portrait
from kyc.domain.records import LivenessEvidence, LivenessResult, Reason
from kyc.engines.base import LivenessChecker
from kyc.engines.face_local import DlibFaceMatcher
from kyc.engines.liveness_local import ChallengeLivenessChecker, ReplayLivenessChecker
from kyc.engines.liveness_rekognition import RekognitionLivenessChecker
from kyc.settings import Settings

SESSION_OK = "11111111-1111-4111-8111-111111111111"
SESSION_LOW = "22222222-2222-4222-8222-222222222222"
SESSION_FAILED = "33333333-3333-4333-8333-333333333333"
SESSION_EXPIRED = "44444444-4444-4444-8444-444444444444"
SESSION_MISSING = "55555555-5555-4555-8555-555555555555"
SESSION_THROTTLED_ONCE = "66666666-6666-4666-8666-666666666666"
SESSION_ALWAYS_THROTTLED = "77777777-7777-4777-8777-777777777777"
SESSION_OTHER_PERSON = "88888888-8888-4888-8888-888888888888"
SESSION_DENIED = "99999999-0000-4000-8000-000000000000"
TARGET = "RekognitionService.GetFaceLivenessSessionResults"


# --------------------------------------------------------------------------------------
# the loopback Rekognition server
# --------------------------------------------------------------------------------------


class RekognitionStub:
    """State of the loopback server: canned sessions and the requests it saw."""

    def __init__(self, reference: bytes, stranger: bytes) -> None:
        self.requests: list[dict[str, Any]] = []
        self.throttled: dict[str, int] = {SESSION_THROTTLED_ONCE: 1}
        self.reference = reference
        self.stranger = stranger

    def respond(self, target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.requests.append({"target": target, "body": body})
        if target != TARGET:
            return 400, {"__type": "UnknownOperationException", "message": target}
        session = body.get("SessionId", "")
        if session == SESSION_ALWAYS_THROTTLED or self.throttled.get(session, 0) > 0:
            if session in self.throttled:
                self.throttled[session] -= 1
            return 400, {"__type": "ThrottlingException", "Message": "Rate exceeded"}
        if session == SESSION_DENIED:
            return 400, {"__type": "AccessDeniedException", "Message": "not authorised"}
        if session == SESSION_MISSING:
            return 400, {
                "__type": "SessionNotFoundException",
                "Message": "Session not found",
            }
        box = {"Width": 0.4, "Height": 0.5, "Left": 0.3, "Top": 0.2}
        image = {"Bytes": base64.b64encode(self.reference).decode(), "BoundingBox": box}
        shapes: dict[str, dict[str, Any]] = {
            SESSION_OK: {"Status": "SUCCEEDED", "Confidence": 98.6, "ReferenceImage": image},
            SESSION_THROTTLED_ONCE: {"Status": "SUCCEEDED", "Confidence": 91.0},
            SESSION_LOW: {"Status": "SUCCEEDED", "Confidence": 41.5, "ReferenceImage": image},
            SESSION_FAILED: {"Status": "FAILED"},
            SESSION_EXPIRED: {"Status": "EXPIRED"},
            SESSION_OTHER_PERSON: {
                "Status": "SUCCEEDED",
                "Confidence": 99.1,
                "ReferenceImage": {
                    "Bytes": base64.b64encode(self.stranger).decode(),
                    "BoundingBox": box,
                },
            },
        }
        return 200, {
            "SessionId": session,
            "AuditImages": [],
            **shapes.get(session, {"Status": "CREATED"}),
        }


@pytest.fixture(scope="module")
def photos(faces_dir: Path) -> dict[str, bytes]:
    return {
        "card_face": (faces_dir / "facerec_obama" / "1.jpg").read_bytes(),
        "selfie": (faces_dir / "facerec_obama" / "2.jpg").read_bytes(),
        "selfie2": (faces_dir / "facerec_obama" / "3.jpg").read_bytes(),
        "stranger": (faces_dir / "deepface_angelina" / "1.jpg").read_bytes(),
    }


@pytest.fixture(scope="module")
def card(photos: dict[str, bytes]) -> bytes:
    with Image.open(io.BytesIO(photos["card_face"])) as portrait:
        return render_licence_front(
            card_data(random.Random(1), dt.date(2026, 1, 1), 0), portrait.convert("RGB"), seed=1
        )


@pytest.fixture(scope="module")
def rekognition_server(photos: dict[str, bytes]) -> Iterator[tuple[str, RekognitionStub]]:
    stub = RekognitionStub(photos["selfie2"], photos["stranger"])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            status, payload = stub.respond(self.headers.get("X-Amz-Target", ""), body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", "test-request")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", stub
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def matcher() -> DlibFaceMatcher:
    return DlibFaceMatcher(upsample=1)


def _rekognition(url: str, matcher: DlibFaceMatcher) -> RekognitionLivenessChecker:
    settings = Settings(aws_region="eu-west-2", liveness_endpoint_url=url, aws_max_attempts=3)
    return RekognitionLivenessChecker.from_settings(settings, face_matcher=matcher)


CHECKERS: dict[str, Callable[..., LivenessChecker]] = {
    "challenge": lambda url, m: ChallengeLivenessChecker(matcher=m),
    "replay": lambda url, m: ReplayLivenessChecker(),
    "rekognition": _rekognition,
}


@pytest.fixture(params=sorted(CHECKERS))
def checker(
    request: pytest.FixtureRequest,
    rekognition_server: tuple[str, RekognitionStub],
    matcher: DlibFaceMatcher,
) -> LivenessChecker:
    return CHECKERS[request.param](rekognition_server[0], matcher)


# --------------------------------------------------------------------------------------
# the contract
# --------------------------------------------------------------------------------------


def check_invariants(result: LivenessResult, checker: LivenessChecker) -> None:
    assert isinstance(result, LivenessResult)
    assert result.method == checker.method and result.engine == checker.name
    assert result.engine_version == checker.version
    reasons = {f.reason for f in result.findings}
    assert reasons <= {Reason.LIVENESS_FAILED, Reason.LIVENESS_NOT_ASSESSED, Reason.SELFIE_REPLAY_SUSPECTED}
    assert all(f.detail for f in result.findings)
    if result.passed is False:
        assert Reason.LIVENESS_FAILED in reasons
    if result.passed is True:
        assert result.findings == ()
    assert result.confidence is None or 0 <= result.confidence <= 100
    json.dumps(result.as_dict())  # JSON-ready, no bytes


def test_port_is_implemented(checker: LivenessChecker) -> None:
    assert isinstance(checker, LivenessChecker)
    assert checker.method in {"challenge", "replay", "aws-face-liveness"}


def test_a_single_still_selfie_is_never_a_silent_pass(
    checker: LivenessChecker, photos: dict[str, bytes], card: bytes
) -> None:
    result = checker.check(LivenessEvidence(selfie=photos["selfie"], document=card))
    check_invariants(result, checker)
    assert result.passed is None
    if checker.method != "replay":  # replay found nothing, which is no evidence either
        assert {f.reason for f in result.findings} == {Reason.LIVENESS_NOT_ASSESSED}


@pytest.mark.parametrize("bad", [b"", b"not an image", b"\xff\xd8\xff\xe0truncated"])
def test_bad_input_is_a_result_not_an_exception(
    checker: LivenessChecker, bad: bytes, photos: dict[str, bytes]
) -> None:
    result = checker.check(
        LivenessEvidence(selfie=bad, document=bad, frames=(bad, bad, bad), session_id="not-a-uuid")
    )
    check_invariants(result, checker)
    assert result.passed is None


# --------------------------------------------------------------------------------------
# challenge
# --------------------------------------------------------------------------------------


def test_challenge_frames_of_a_still_photo_fail_without_blink_or_turn(
    matcher: DlibFaceMatcher, photos: dict[str, bytes]
) -> None:
    checker = ChallengeLivenessChecker(matcher=matcher)
    still = photos["selfie2"]
    result = checker.check(LivenessEvidence(selfie=photos["selfie"], frames=(still,) * 4))
    check_invariants(result, checker)
    assert result.passed is False
    details = " ".join(f.detail for f in result.findings)
    assert "no blink" in details and "no head turn" in details
    ears = result.details["ear"]
    assert all(0.15 < e < 0.45 for e in ears)  # open eyes measured on a real face
    assert max(result.details["distance"]) < checker.max_distance


def test_challenge_frame_of_another_person_fails(
    matcher: DlibFaceMatcher, photos: dict[str, bytes]
) -> None:
    checker = ChallengeLivenessChecker(matcher=matcher)
    frames = (photos["selfie2"], photos["stranger"], photos["selfie2"])
    result = checker.check(LivenessEvidence(selfie=photos["selfie"], frames=frames))
    assert result.passed is False
    assert "frame(s) 1 show another person" in result.findings[0].detail


def test_challenge_with_unusable_frames_is_not_assessed(
    matcher: DlibFaceMatcher, photos: dict[str, bytes]
) -> None:
    checker = ChallengeLivenessChecker(matcher=matcher)
    blank = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 200, 200)).save(blank, "PNG")
    frames = (photos["selfie2"], b"garbage", blank.getvalue())
    result = checker.check(LivenessEvidence(selfie=photos["selfie"], frames=frames))
    assert result.passed is None
    assert result.details["problems"]["2"] == "no face"
    assert result.details["problems"]["1"].startswith("unreadable")


# --------------------------------------------------------------------------------------
# replay
# --------------------------------------------------------------------------------------


def _halftoned(photo: bytes, lines: float = 90.0) -> bytes:
    with Image.open(io.BytesIO(photo)) as img:
        return replays.jpeg(replays.halftone(img.convert("RGB"), lines, 0.0), 88)


def test_replay_of_the_document_portrait_fails(card: bytes) -> None:
    # The demo's replayed-portrait case: a phone photo of the card's portrait. Face and
    # surroundings are near-identical to the portrait: strong evidence.
    checker = ReplayLivenessChecker()
    result = checker.check(LivenessEvidence(selfie=photo_of_portrait(card), document=card))
    check_invariants(result, checker)
    assert result.passed is False
    assert [f.reason for f in result.findings] == [Reason.LIVENESS_FAILED]
    assert "copy of the document portrait" in result.findings[0].detail
    assert result.details["portrait_ncc"] >= checker.thresholds.strong_copy_ncc
    assert result.details["context_ncc"] >= checker.thresholds.strong_context_ncc


@pytest.mark.parametrize("seed", range(4))
def test_portrait_photographed_at_a_strong_angle_is_flagged(card: bytes, seed: int) -> None:
    # Up to a fifth of the side foreshortened: flagged, as a suspicion at least (seed 2
    # stays below the strong level; make bench-replay misses ~15 % of such angles).
    checker = ReplayLivenessChecker()
    selfie = replays.rephotographed_portrait(card, random.Random(seed), angle=0.2)
    result = checker.check(LivenessEvidence(selfie=selfie, document=card))
    check_invariants(result, checker)
    [finding] = result.findings
    assert finding.reason in {Reason.SELFIE_REPLAY_SUSPECTED, Reason.LIVENESS_FAILED}
    assert result.passed is (False if finding.reason is Reason.LIVENESS_FAILED else None)


def test_printed_replay_of_the_portrait_fails(card: bytes) -> None:
    # A copy of the portrait seen through a halftone screen: copy and print pattern together.
    checker = ReplayLivenessChecker()
    rng = random.Random(3)
    selfie = replays.printed(replays.portrait_crop(card, rng), rng)
    result = checker.check(LivenessEvidence(selfie=selfie, document=card))
    check_invariants(result, checker)
    assert result.passed is False and "print or screen" in result.findings[0].detail


def test_genuine_selfie_is_not_a_replay(card: bytes, photos: dict[str, bytes]) -> None:
    checker = ReplayLivenessChecker()
    result = checker.check(LivenessEvidence(selfie=photos["selfie"], document=card))
    assert result.passed is None and result.findings == ()
    assert result.details["portrait_ncc"] < checker.thresholds.copy_ncc
    assert result.details["context_ncc"] < checker.thresholds.context_ncc
    assert result.details["print_peak_ratio"] < checker.thresholds.print_peak_ratio


#: Genuine same-person pairs of the public set (portrait photo on the card, selfie =
#: another photo) whose faces correlate the most (make bench-replay: 0.93, 0.91, 0.90),
#: the kind the old face-correlation threshold 0.865 failed. None may fail (the first
#: is above the suspicion threshold on the face alone: a review is allowed).
CLOSE_GENUINE_PAIRS = [
    ("deepface_marissa", "2.jpg", "1.jpg"),
    ("deepface_angelina", "2.jpg", "4.jpg"),
    ("compreface_person_a", "6.jpg", "5.jpg"),
]


@pytest.mark.parametrize(("identity", "portrait", "selfie"), CLOSE_GENUINE_PAIRS)
def test_a_different_photo_of_the_same_person_is_never_failed(
    faces_dir: Path, identity: str, portrait: str, selfie: str
) -> None:
    checker = ReplayLivenessChecker()
    with Image.open(faces_dir / identity / portrait) as img:
        document = render_licence_front(
            card_data(random.Random(2), dt.date(2026, 1, 1), 0), img.convert("RGB"), seed=2
        )
    result = checker.check(
        LivenessEvidence(selfie=(faces_dir / identity / selfie).read_bytes(), document=document)
    )
    check_invariants(result, checker)
    assert result.passed is None
    assert Reason.LIVENESS_FAILED not in {f.reason for f in result.findings}
    assert result.details["portrait_ncc"] > 0.865  # close faces indeed: the old rule failed them


def test_printed_selfie_carries_a_print_pattern(photos: dict[str, bytes]) -> None:
    # A print of another photo of the person: only the pattern shows, a suspicion.
    checker = ReplayLivenessChecker()
    result = checker.check(LivenessEvidence(selfie=_halftoned(photos["selfie"])))
    check_invariants(result, checker)
    assert result.passed is None
    assert [f.reason for f in result.findings] == [Reason.SELFIE_REPLAY_SUSPECTED]
    assert "print or screen pattern" in result.findings[0].detail


# --------------------------------------------------------------------------------------
# AWS Face Liveness
# --------------------------------------------------------------------------------------


@pytest.fixture
def aws(
    rekognition_server: tuple[str, RekognitionStub], matcher: DlibFaceMatcher
) -> tuple[RekognitionLivenessChecker, RekognitionStub]:
    return _rekognition(rekognition_server[0], matcher), rekognition_server[1]


def _aws_check(checker: RekognitionLivenessChecker, selfie: bytes, session: str) -> LivenessResult:
    result = checker.check(LivenessEvidence(selfie=selfie, session_id=session))
    check_invariants(result, checker)
    return result


def test_aws_succeeded_above_threshold_passes_and_the_reference_is_the_selfie_person(
    aws: tuple[RekognitionLivenessChecker, RekognitionStub], photos: dict[str, bytes]
) -> None:
    checker, stub = aws
    result = _aws_check(checker, photos["selfie"], SESSION_OK)
    assert result.passed is True and result.confidence == pytest.approx(98.6)
    assert result.details["status"] == "SUCCEEDED" and result.details["reference_compared"] is True
    assert stub.requests[-1] == {"target": TARGET, "body": {"SessionId": SESSION_OK}}


@pytest.mark.parametrize(
    ("session", "passed", "text"),
    [
        (SESSION_LOW, False, "confidence 41.5 < 80"),
        (SESSION_FAILED, False, "session FAILED"),
        (SESSION_EXPIRED, None, "session EXPIRED"),
        ("99999999-9999-4999-8999-999999999999", None, "session CREATED"),
        (SESSION_MISSING, None, "SessionNotFoundException"),
        (SESSION_OTHER_PERSON, False, "reference face is not the selfie's person"),
    ],
)
def test_aws_statuses_map_to_verdicts_with_detail(
    aws: tuple[RekognitionLivenessChecker, RekognitionStub],
    photos: dict[str, bytes],
    session: str,
    passed: bool | None,
    text: str,
) -> None:
    result = _aws_check(aws[0], photos["selfie"], session)
    assert result.passed is passed
    assert text in result.findings[0].detail


def test_aws_throttling_is_retried(
    aws: tuple[RekognitionLivenessChecker, RekognitionStub], photos: dict[str, bytes]
) -> None:
    checker, stub = aws
    before = len(stub.requests)
    result = _aws_check(checker, photos["selfie"], SESSION_THROTTLED_ONCE)
    assert result.passed is True
    assert len(stub.requests) - before == 2


def test_aws_persistent_throttling_raises_for_the_pipeline_to_retry(
    aws: tuple[RekognitionLivenessChecker, RekognitionStub], photos: dict[str, bytes]
) -> None:
    from botocore.exceptions import ClientError

    url = aws[0]._client.meta.endpoint_url
    quick = RekognitionLivenessChecker.from_settings(
        Settings(aws_region="eu-west-2", liveness_endpoint_url=url, aws_max_attempts=2),
        face_matcher=None,
    )
    with pytest.raises(ClientError, match="ThrottlingException"):
        quick.check(LivenessEvidence(selfie=photos["selfie"], session_id=SESSION_ALWAYS_THROTTLED))
    with pytest.raises(ClientError, match="AccessDeniedException"):  # a setup error, not a verdict
        quick.check(LivenessEvidence(selfie=photos["selfie"], session_id=SESSION_DENIED))


def test_aws_without_session_id_does_not_call_aws(
    aws: tuple[RekognitionLivenessChecker, RekognitionStub], photos: dict[str, bytes]
) -> None:
    checker, stub = aws
    before = len(stub.requests)
    result = _aws_check(checker, photos["selfie"], "")
    assert result.passed is None and "no Face Liveness session id" in result.findings[0].detail
    assert len(stub.requests) == before
