"""The Great Expectations gate over real suites in expectations/."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import pytest

from kyc.domain.application import DocumentType
from kyc.domain.records import DocumentField, DocumentScan
from kyc.quality.gate import QualityGate, QualityGateError, document_frame_row
from kyc.settings import get_settings

TODAY = dt.date(2026, 11, 23)


@pytest.fixture(scope="module", params=["in-process", "worker-process"])
def gate(request: pytest.FixtureRequest) -> Iterator[QualityGate]:
    """Both ways the gate runs GX: in this process, or in its spawned worker."""
    g = QualityGate(get_settings().expectations_dir, worker_process=request.param == "worker-process")
    yield g
    g.close()


def scan(**over: str | None) -> DocumentScan:
    base = {"FIRST_NAME": "OLIVIA", "LAST_NAME": "SMITH-JONES", "DATE_OF_BIRTH": "1990-04-01",
            "EXPIRATION_DATE": "2030-01-01", "DOCUMENT_NUMBER": "D1234567"}
    base.update(over)
    return DocumentScan(fields=MappingProxyType({k: DocumentField(v, v, 99.0) for k, v in base.items() if v is not None}))


def test_every_document_type_has_a_suite(gate: QualityGate) -> None:
    for doc_type in DocumentType:
        assert gate.suite_name(doc_type) == f"kyc_{doc_type.value}"


def test_clean_licence_passes(gate: QualityGate) -> None:
    result = gate.validate(scan(), document_type=DocumentType.DRIVING_LICENCE, today=TODAY)
    assert result.success, result.failed_expectations
    assert result.evaluated >= 10


@pytest.mark.parametrize(
    ("over", "doc_type", "failing"),
    [
        ({"DATE_OF_BIRTH": "1990-02-30"}, DocumentType.DRIVING_LICENCE, "expect_column_values_to_match_strftime_format(DATE_OF_BIRTH)"),
        ({"DATE_OF_BIRTH": "2020-01-01"}, DocumentType.DRIVING_LICENCE, "expect_column_values_to_be_between(AGE_YEARS)"),
        ({"LAST_NAME": None}, DocumentType.DRIVING_LICENCE, "expect_column_values_to_not_be_null(LAST_NAME)"),
        ({"FIRST_NAME": "0LIVIA"}, DocumentType.DRIVING_LICENCE, "expect_column_values_to_match_regex(FIRST_NAME)"),
        ({"DOCUMENT_NUMBER": "D1234567890"}, DocumentType.PASSPORT, "expect_column_values_to_match_regex(DOCUMENT_NUMBER)"),
        ({"EXPIRATION_DATE": "2060-01-01"}, DocumentType.PASSPORT, "expect_column_values_to_be_between(VALIDITY_YEARS_FROM_TODAY)"),
        ({"EXPIRATION_DATE": "1980-01-01"}, DocumentType.ID_CARD, "expect_column_pair_values_a_to_be_greater_than_b(EXPIRATION_DATE,DATE_OF_BIRTH)"),
    ],
)
def test_failures_name_the_expectation(gate: QualityGate, over: dict, doc_type: DocumentType, failing: str) -> None:
    result = gate.validate(scan(**over), document_type=doc_type, today=TODAY)
    assert not result.success
    assert failing in result.failed_expectations


def test_derived_columns() -> None:
    row = document_frame_row(scan(), today=TODAY)
    assert 36 < row["AGE_YEARS"] < 37
    assert 3 < row["VALIDITY_YEARS_FROM_TODAY"] < 4
    assert document_frame_row(scan(DATE_OF_BIRTH="bad"), today=TODAY)["AGE_YEARS"] is None


def test_missing_or_broken_suite_fails_at_start_up(tmp_path: Path) -> None:
    src = get_settings().expectations_dir
    for f in src.glob("*.json"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "passport.json").unlink()
    with pytest.raises(QualityGateError, match="passport"):
        QualityGate(tmp_path)
    with pytest.raises(QualityGateError, match="passport"):
        QualityGate(tmp_path, worker_process=True)
    (tmp_path / "passport.json").write_text(json.dumps({"expectations": []}))
    with pytest.raises(QualityGateError, match="passport"):
        QualityGate(tmp_path)


def test_concurrent_callers_each_get_their_own_rows_result(gate: QualityGate) -> None:
    """Rows validated together in one GX run must not leak failures to each other."""
    from concurrent.futures import ThreadPoolExecutor

    cases = [
        ({}, DocumentType.DRIVING_LICENCE, None),
        ({"DATE_OF_BIRTH": "1990-02-30"}, DocumentType.DRIVING_LICENCE, "expect_column_values_to_match_strftime_format(DATE_OF_BIRTH)"),
        ({"LAST_NAME": None}, DocumentType.PASSPORT, "expect_column_values_to_not_be_null(LAST_NAME)"),
        ({}, DocumentType.PASSPORT, None),
        ({"FIRST_NAME": "0LIVIA"}, DocumentType.ID_CARD, "expect_column_values_to_match_regex(FIRST_NAME)"),
    ] * 8
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda c: gate.validate(scan(**c[0]), document_type=c[1], today=TODAY), cases))
    for (over, doc_type, failing), result in zip(cases, results, strict=True):
        assert result.suite == f"kyc_{doc_type.value}"
        if failing is None:
            assert result.success, (over, result.failed_expectations)
        else:
            assert result.failed_expectations == (failing,), (over, result.failed_expectations)


def test_submitted_rows_share_one_run_when_a_result_is_asked(gate: QualityGate, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows queued by submit() are validated together by the first result() call, once."""
    runs: list[int] = []
    original = gate._run

    def counting(batch: list) -> None:  # type: ignore[type-arg]
        runs.append(len(batch))
        original(batch)

    monkeypatch.setattr(gate, "_run", counting)
    tickets = [
        gate.submit(scan(), document_type=DocumentType.DRIVING_LICENCE, today=TODAY),
        gate.submit(scan(DATE_OF_BIRTH="1990-02-30"), document_type=DocumentType.DRIVING_LICENCE, today=TODAY),
        gate.submit(scan(LAST_NAME=None), document_type=DocumentType.PASSPORT, today=TODAY),
    ]
    assert runs == []  # nothing runs until somebody asks
    last = tickets[2].result()
    assert runs == [3]
    first, second = tickets[0].result(), tickets[1].result()
    assert runs == [3]  # already validated in that run: no second run
    assert first.success and first.suite == "kyc_driving_licence"
    assert second.failed_expectations == ("expect_column_values_to_match_strftime_format(DATE_OF_BIRTH)",)
    assert last.failed_expectations == ("expect_column_values_to_not_be_null(LAST_NAME)",)


def test_a_failed_shared_run_fails_every_ticket_in_it(gate: QualityGate, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody is left waiting, and the error reaches each caller as QualityGateError."""
    def broken(document_type: DocumentType, rows: list) -> list:  # type: ignore[type-arg]
        raise RuntimeError("worker died")

    if gate._pool is not None:
        monkeypatch.setattr(gate._pool, "submit", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("worker died")))
    else:
        monkeypatch.setattr(gate._local, "run", broken)
    tickets = [gate.submit(scan(), document_type=DocumentType.DRIVING_LICENCE, today=TODAY) for _ in range(2)]
    for ticket in tickets:
        with pytest.raises(QualityGateError, match="worker died"):
            ticket.result()
