"""Unit tests of kyc.cli.engine_records (what the read-document / compare-faces commands print).

Fake engines here (unit tests); the commands themselves run as subprocesses on real
engines in tests/e2e/test_engine_cli.py.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from kyc.cli.engine_records import (
    FacePair,
    analyze_id_fields,
    document_record,
    face_record,
    read_pairs_csv,
)
from kyc.domain.records import DocumentField, DocumentScan, FaceComparison
from kyc.domain.rules import Thresholds


class _Matcher:
    name = "fake"
    version = "1"

    def __init__(self, similarity: float | None = None, fail: bool = False) -> None:
        self.similarity, self.fail = similarity, fail

    def compare(self, selfie: bytes, document: bytes) -> FaceComparison:
        if self.fail:
            raise ConnectionError("down")
        return FaceComparison(similarity=self.similarity, engine=self.name, engine_version="1")


class _Reader:
    name = "fake"
    version = "1"

    def read(
        self, front: bytes, *, back: bytes | None = None, document_type: object = None
    ) -> DocumentScan:
        fields = {
            "DATE_OF_BIRTH": DocumentField("04/09/1988", "1988-04-09", 97.123, "ocr"),
            "MRZ_CODE": DocumentField("P<UTO...", "P<UTO...", 90.0, "mrz"),
        }
        return DocumentScan(fields=MappingProxyType(fields), engine="fake", engine_version="1")


def test_analyze_id_shape_with_normalized_dates() -> None:
    scan = _Reader().read(b"")
    entries = {e["Type"]["Text"]: e["ValueDetection"] for e in analyze_id_fields(scan)}
    assert entries["DATE_OF_BIRTH"] == {
        "Text": "04/09/1988",
        "Confidence": 97.12,
        "NormalizedValue": {"Value": "1988-04-09T00:00:00", "ValueType": "Date"},
    }
    assert "NormalizedValue" not in entries["MRZ_CODE"]


def test_document_record_mrz_and_missing_file(tmp_path: Path) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(b"x")
    record = document_record(_Reader(), image)
    assert record["ok"] and record["MRZ_CODE"] == "P<UTO..." and "wall" in record["timings_ms"]
    gone = document_record(_Reader(), tmp_path / "missing.jpg")
    assert not gone["ok"] and gone["reasons"] == ["DOCUMENT_UNREADABLE"]


@pytest.mark.parametrize(
    ("similarity", "match", "reasons"),
    [
        (80.0, True, []),  # at the threshold is a match, as in the decision rules
        (75.0, False, ["FACE_INCONCLUSIVE"]),
        (10.0, False, ["FACE_MISMATCH"]),
        (None, None, ["FACE_NOT_FOUND"]),
    ],
)
def test_face_record_match_and_reasons(
    tmp_path: Path, similarity: float | None, match: bool | None, reasons: list[str]
) -> None:
    a = tmp_path / "a.jpg"
    a.write_bytes(b"x")
    record = face_record(_Matcher(similarity), FacePair(a, a), Thresholds(80.0, 70.0))
    assert record["match"] is match and record["reasons"] == reasons
    assert record["ok"] is (similarity is not None)


def test_face_engine_failure_is_a_record(tmp_path: Path) -> None:
    a = tmp_path / "a.jpg"
    a.write_bytes(b"x")
    record = face_record(_Matcher(fail=True), FacePair(a, a), Thresholds())
    assert (
        record["reasons"] == ["ENGINE_ERROR"]
        and "ConnectionError" in record["findings"][0]["detail"]
    )


def test_pairs_csv(tmp_path: Path) -> None:
    csv_file = tmp_path / "pairs.csv"
    csv_file.write_text("file_x,file_y,same_person\na/1.jpg,b/2.jpg,0\n")
    (pair,) = read_pairs_csv(csv_file)
    assert pair.selfie == tmp_path / "a/1.jpg" and pair.labels == {"same_person": "0"}
    (pair,) = read_pairs_csv(csv_file, base=Path("/data"))
    assert pair.document == Path("/data/b/2.jpg")
    csv_file.write_text("selfie,document\na,b\n")
    with pytest.raises(ValueError, match="file_x,file_y"):
        read_pairs_csv(csv_file)
