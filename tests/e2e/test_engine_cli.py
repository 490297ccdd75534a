"""`kyc read-document` and `kyc compare-faces` as a user runs them (subprocesses).

The AWS engines talk to the recorded-response replay server (``aws_replay.py``)
started in this process and passed by ``KYC_*_ENDPOINT_URL``; the local engines
run for real. Inputs are ``../shared/data`` images plus deliberately bad files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kyc.settings import get_settings
from tests.engines.aws_replay import (
    REKOGNITION_COMPARE_FACES,
    TEXTRACT_ANALYZE_ID,
    ReplayServer,
    dead_endpoint,
    error,
    saved,
)

pytestmark = pytest.mark.slow

KYC = [sys.executable, "-m", "kyc.cli"]
DATA = get_settings().shared_data_dir
PASSPORT = DATA / "mrz/images/passporteye_tests/passport-td3.jpg"
FACES = DATA / "faces"


@pytest.fixture(scope="module", autouse=True)
def _shared_data() -> None:
    if not PASSPORT.is_file() or not FACES.is_dir():
        pytest.skip("../shared/data not present")


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as srv:
        yield srv


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "AWS_"))}
    missing = str(tmp_path / "no-aws-config")
    env.update(
        AWS_CONFIG_FILE=missing,
        AWS_SHARED_CREDENTIALS_FILE=missing,
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost",
        KYC_SHARED_DATA_DIR=str(DATA),
        **extra,
    )
    return env


def _aws_env(tmp_path: Path, endpoint: str, **extra: str) -> dict[str, str]:
    return _env(
        tmp_path,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        KYC_TEXTRACT_ENDPOINT_URL=endpoint,
        KYC_REKOGNITION_ENDPOINT_URL=endpoint,
        **extra,
    )


def _run(args: list[str], env: dict[str, str]) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run(
        [*KYC, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, lines, proc.stderr


def test_read_document_textract(server: ReplayServer, tmp_path: Path) -> None:
    server.add(TEXTRACT_ANALYZE_ID, [PASSPORT.read_bytes()], saved("analyze_id_passport"))
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("not an image")
    missing = tmp_path / "missing.jpg"
    code, out, _ = _run(
        [
            "read-document",
            str(PASSPORT),
            str(not_an_image),
            str(missing),
            "--engine",
            "textract",
            "--json",
        ],
        _aws_env(tmp_path, server.endpoint),
    )
    assert code == 1  # some inputs were unreadable
    assert [r["file"] for r in out] == [str(PASSPORT), str(not_an_image), str(missing)]
    passport, bad, gone = out
    assert passport["ok"] and passport["engine"] == "textract" and passport["reasons"] == []
    assert passport["MRZ_CODE"].startswith("P<UTOERIKSSON<<ANNA<MARIA")
    fields = {
        f["Type"]["Text"]: f["ValueDetection"]
        for f in passport["IdentityDocuments"][0]["IdentityDocumentFields"]
    }
    assert fields["DOCUMENT_NUMBER"]["Text"] == "L898902C3"
    assert fields["DATE_OF_BIRTH"]["NormalizedValue"] == {
        "Value": "1974-08-12T00:00:00",
        "ValueType": "Date",
    }
    assert {"analyze_id", "wall"} <= passport["timings_ms"].keys()
    assert bad["reasons"] == ["DOCUMENT_UNREADABLE"] and not bad["ok"]
    assert gone["reasons"] == ["DOCUMENT_UNREADABLE"]
    assert "cannot open file" in gone["findings"][0]["detail"]
    assert server.count(TEXTRACT_ANALYZE_ID) == 1  # bad files never reached AnalyzeID


def test_read_document_local_same_shape(tmp_path: Path) -> None:
    code, out, _ = _run(
        ["read-document", str(PASSPORT), "--engine", "local", "--json"], _env(tmp_path)
    )
    (record,) = out
    assert record["engine"] != "textract"
    assert {"file", "ok", "reasons", "IdentityDocuments", "fields", "timings_ms"} <= record.keys()
    assert code == (0 if record["ok"] else 1)


def test_compare_faces_pairs_rekognition(server: ReplayServer, tmp_path: Path) -> None:
    obama1, obama2, biden1 = (
        (FACES / name).read_bytes()
        for name in ("facerec_obama/1.jpg", "facerec_obama/2.jpg", "facerec_biden/1.jpg")
    )
    server.add(REKOGNITION_COMPARE_FACES, [obama2, obama1], saved("compare_faces_same_person"))
    server.add(
        REKOGNITION_COMPARE_FACES,
        [obama2, biden1],
        error("ThrottlingException"),
        saved("compare_faces_different_person"),
    )
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "file_x,file_y,same_person\n"
        "facerec_obama/2.jpg,facerec_obama/1.jpg,1\n"
        "facerec_obama/2.jpg,facerec_biden/1.jpg,0\n"
        "facerec_obama/missing.jpg,facerec_obama/1.jpg,1\n"
    )
    code, out, _ = _run(
        [
            "compare-faces",
            "--pairs",
            str(pairs),
            "--base",
            str(FACES),
            "--engine",
            "rekognition",
            "--json",
        ],
        _aws_env(tmp_path, server.endpoint, KYC_FACE_MATCH_THRESHOLD="90"),
    )
    assert code == 1
    same, other, missing = out
    assert same["similarity"] == 98.42 and same["match"] is True and same["threshold"] == 90
    assert same["distance"] is None and same["reasons"] == []
    assert same["labels"] == {"same_person": "1"}
    # Throttled once, retried by botocore, then answered.
    assert other["similarity"] == 1.37 and other["match"] is False
    assert other["reasons"] == ["FACE_MISMATCH"]
    assert missing["reasons"] == ["SELFIE_UNREADABLE"] and missing["ok"] is False


def test_compare_faces_local_single_pair(tmp_path: Path) -> None:
    code, out, _ = _run(
        [
            "compare-faces",
            str(FACES / "facerec_obama/2.jpg"),
            str(FACES / "facerec_obama/1.jpg"),
            "--engine",
            "local",
            "--json",
        ],
        _env(tmp_path),
    )
    assert code == 0
    (record,) = out
    assert record["match"] is True and record["distance"] is not None
    assert record["similarity"] >= record["threshold"]


def test_aws_failures_are_reported_not_raised(tmp_path: Path) -> None:
    selfie, doc = str(FACES / "facerec_obama/2.jpg"), str(FACES / "facerec_obama/1.jpg")
    # Dead endpoint: the pair's object says ENGINE_ERROR, the command exits 1.
    code, out, _ = _run(
        ["compare-faces", selfie, doc, "--engine", "rekognition", "--json"],
        _aws_env(tmp_path, dead_endpoint(), KYC_AWS_MAX_ATTEMPTS="1"),
    )
    assert code == 1 and out[0]["reasons"] == ["ENGINE_ERROR"]
    assert "EndpointConnectionError" in out[0]["findings"][0]["detail"]
    # No credentials: one clear message, exit 2, nothing on stdout.
    code, out, err = _run(
        ["read-document", str(PASSPORT), "--engine", "textract", "--json"], _env(tmp_path)
    )
    assert code == 2 and out == [] and "no AWS credentials" in err
