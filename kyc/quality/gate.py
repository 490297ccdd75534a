"""Great Expectations (GX Core 1.x) data-quality gate over parsed document fields.

One suite per document type lives as JSON in ``expectations/<document_type>.json``.
The gate builds a one-row DataFrame from a DocumentScan (plus derived columns such
as the holder's age) and validates it before every decision. A failed expectation
becomes ``DATA_QUALITY_FAILED`` naming the expectation and its column.

GX contexts are not documented as thread-safe, so validations run one at a time;
concurrent callers are coalesced into one validation of several rows (see
``QualityGate.validate``), which keeps the gate cheap under load.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kyc.domain.application import DocumentType
from kyc.domain.matching import parse_iso_date
from kyc.domain.records import DocumentScan, QualityResult

log = logging.getLogger(__name__)

#: Columns handed to GX: the AnalyzeID fields the suites look at.
FIELD_COLUMNS = ("FIRST_NAME", "LAST_NAME", "DATE_OF_BIRTH", "EXPIRATION_DATE", "DOCUMENT_NUMBER")


class QualityGateError(RuntimeError):
    """A suite is missing or invalid (a deployment error, not bad input)."""


def document_frame_row(scan: DocumentScan, *, today: dt.date) -> dict[str, Any]:
    """The one row validated by GX: document fields plus derived columns.

    Args:
        scan: the document scan.
        today: reference date for the derived columns.

    Returns:
        Column name to value (None where a field was not read).
    """
    row: dict[str, Any] = {k: scan.value(k) for k in FIELD_COLUMNS}
    dob = parse_iso_date(row["DATE_OF_BIRTH"])
    exp = parse_iso_date(row["EXPIRATION_DATE"])
    row["AGE_YEARS"] = None if dob is None else round((today - dob).days / 365.2425, 2)
    row["VALIDITY_YEARS_FROM_TODAY"] = (
        None if exp is None else round((exp - today).days / 365.2425, 2)
    )
    return row


class _GxValidator:
    """All Great Expectations state: one ephemeral context and a suite per document type.

    Lives in the process that validates: the caller's, or the gate's worker process.
    """

    def __init__(self, expectations_dir: Path) -> None:
        # GX reads these at import time; set before importing it.
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._context = gx.get_context(mode="ephemeral")
        # Progress bars on stderr for every one-row validation would drown the logs.
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = self._context.data_sources.add_pandas("kyc_documents")
        self._batch_definition = source.add_dataframe_asset(
            "document_fields"
        ).add_batch_definition_whole_dataframe("one_document")
        self.suites: dict[DocumentType, Any] = {}
        for doc_type in DocumentType:
            path = expectations_dir / f"{doc_type.value}.json"
            try:
                data = json.loads(path.read_text())
                suite = gx.ExpectationSuite(
                    name=data["name"], expectations=data["expectations"], meta=data.get("meta")
                )
                self.suites[doc_type] = self._context.suites.add(suite)
            except (OSError, KeyError, ValueError, TypeError) as exc:
                raise QualityGateError(f"expectation suite {path} unusable: {exc}") from exc

    def suite_names(self) -> dict[DocumentType, str]:
        """Suite name per document type."""
        return {t: str(s.name) for t, s in self.suites.items()}

    def run(self, document_type: DocumentType, rows: list[dict[str, Any]]) -> list[QualityResult]:
        """Validate rows of one document type in one GX run; one result per row."""
        import pandas as pd

        suite = self.suites[document_type]
        frame = pd.DataFrame([{"ROW_ID": i, **row} for i, row in enumerate(rows)])
        batch_data = self._batch_definition.get_batch(batch_parameters={"dataframe": frame})
        # One row: pass/fail per expectation is all we need, and BOOLEAN_ONLY costs
        # half of COMPLETE (35 vs 66 ms CPU measured); several rows need the failing
        # row ids that only COMPLETE returns.
        result = batch_data.validate(
            suite,
            result_format=(
                {"result_format": "BOOLEAN_ONLY"}
                if len(rows) == 1
                else {
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": ["ROW_ID"],
                    "return_unexpected_index_query": False,
                }
            ),
        )
        failed: list[list[str]] = [[] for _ in rows]
        for r in result.results:
            if r.success:
                continue
            kw = r.expectation_config.kwargs
            column = kw.get("column") or f"{kw.get('column_A')},{kw.get('column_B')}"
            name = f"{r.expectation_config.type}({column})"
            indexes = (r.result or {}).get("unexpected_index_list")
            # A lone row, or no row indexes (an exception inside GX): every row in
            # the group fails it.
            hit = range(len(rows)) if indexes is None else {int(i["ROW_ID"]) for i in indexes}
            for i in hit:
                failed[i].append(name)
        return [
            QualityResult(
                success=not failures,
                suite=str(suite.name),
                failed_expectations=tuple(failures),
                evaluated=len(result.results),
            )
            for failures in failed
        ]


#: The validator inside the gate's worker process (set by its initializer).
_WORKER_VALIDATOR: _GxValidator | None = None


_WORKER_ERROR: QualityGateError | None = None


def _worker_init(expectations_dir: str, parent_pid: int) -> None:
    # An exception here would break the pool without its message; keep it for the
    # first call instead, which hands it back to the parent.
    global _WORKER_VALIDATOR, _WORKER_ERROR  # one validator per worker process
    from kyc.lifeline import die_with_parent

    # A parent killed with SIGKILL cannot stop us: we stop ourselves.
    die_with_parent(parent_pid)
    try:
        _WORKER_VALIDATOR = _GxValidator(Path(expectations_dir))
    except QualityGateError as exc:
        _WORKER_ERROR = exc


def _worker_suite_names() -> dict[DocumentType, str]:
    if _WORKER_ERROR is not None:
        raise _WORKER_ERROR
    assert _WORKER_VALIDATOR is not None
    return _WORKER_VALIDATOR.suite_names()


def _worker_run(document_type: DocumentType, rows: list[dict[str, Any]]) -> list[QualityResult]:
    assert _WORKER_VALIDATOR is not None
    return _WORKER_VALIDATOR.run(document_type, rows)


class QualityGate:
    """Validates document scans against the suites in an ``expectations/`` folder."""

    def __init__(self, expectations_dir: Path, *, worker_process: bool = False) -> None:
        """Load every suite now, so a broken suite fails at start-up, not mid-batch.

        Args:
            expectations_dir: folder holding ``<document_type>.json`` suites.
            worker_process: run GX in one worker process instead of this one. The
                engines keep this process's GIL busy (dlib holds it ~63 ms per face),
                so GX's ~35-70 ms of pure Python per run is cheaper on the other core.

        Raises:
            QualityGateError: a suite for a document type is missing or invalid, or
                the worker process could not start.
        """
        self._lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Request] = []
        self._pool: ProcessPoolExecutor | None = None
        self._local: _GxValidator | None = None
        if worker_process:
            # spawn, not fork: this process runs threads (Prefect, engines).
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(str(expectations_dir), os.getpid()),
            )
            try:
                self._suite_names = self._pool.submit(_worker_suite_names).result()
            except QualityGateError:
                self._pool.shutdown(cancel_futures=True)
                raise
            except Exception as exc:
                self._pool.shutdown(cancel_futures=True)
                raise QualityGateError(f"quality gate worker did not start: {exc}") from exc
        else:
            self._local = _GxValidator(expectations_dir)
            self._suite_names = self._local.suite_names()

    def suite_name(self, document_type: DocumentType) -> str:
        """Name of the suite used for a document type."""
        return self._suite_names[document_type]

    def close(self) -> None:
        """Stop the worker process, if any."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def validate(
        self, scan: DocumentScan, *, document_type: DocumentType, today: dt.date
    ) -> QualityResult:
        """Validate one scan now (coalesced with every row queued meanwhile).

        Same as ``submit(...).result()``; see :meth:`submit` for the coalescing.

        Args:
            scan: parsed document fields.
            document_type: selects the suite.
            today: reference date for derived columns.

        Returns:
            Success flag and the failing expectations as ``type(column)``.

        Raises:
            QualityGateError: GX (or its worker process) failed on this row's batch.
        """
        return self.submit(scan, document_type=document_type, today=today).result()

    def submit(
        self, scan: DocumentScan, *, document_type: DocumentType, today: dt.date
    ) -> GateTicket:
        """Queue one scan for validation; the returned ticket's ``result()`` gives its result.

        A GX validation costs ~35-70 ms of CPU whether it checks one row or fifty (its
        cost is building the metric graph per expectation, not the data), and runs one
        at a time. So rows wait in a queue, and the first caller that asks for a
        result validates every queued row in one DataFrame; the others find theirs
        ready. A caller that submits as soon as its document is read and asks only
        before its decision (the batch flow: face match and liveness run meanwhile)
        lets the rows of other applications join its run, at no cost in latency; a
        caller that asks at once is not delayed either.

        Args:
            scan: parsed document fields.
            document_type: selects the suite.
            today: reference date for derived columns.

        Returns:
            A ticket; nothing is validated until some ticket's ``result()`` is called.
        """
        request = _Request(document_frame_row(scan, today=today), document_type)
        with self._queue_lock:
            self._queue.append(request)
        return GateTicket(self, request)

    def _flush_for(self, request: _Request) -> None:
        """Make sure ``request`` is validated: run the queue unless another caller has."""
        with self._lock:
            if not request.done.is_set():
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._run(batch)

    def _run(self, batch: list[_Request]) -> None:
        """Validate queued rows, one GX run per document type; never leaves one waiting."""
        try:
            for doc_type in {r.document_type for r in batch}:
                group = [r for r in batch if r.document_type is doc_type]
                rows = [r.row for r in group]
                if self._pool is not None:
                    results = self._pool.submit(_worker_run, doc_type, rows).result()
                else:
                    assert self._local is not None
                    results = self._local.run(doc_type, rows)
                for request, result in zip(group, results, strict=True):
                    request.result = result
        except Exception as exc:  # handed to every waiting caller
            for request in batch:
                if request.result is None:
                    request.error = exc
        finally:
            for request in batch:
                request.done.set()


@dataclass(eq=False)
class _Request:
    """One queued row awaiting validation."""

    row: dict[str, Any]
    document_type: DocumentType
    result: QualityResult | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class GateTicket:
    """A row submitted to :meth:`QualityGate.submit`; ``result()`` validates if needed."""

    def __init__(self, gate: QualityGate, request: _Request) -> None:
        self._gate = gate
        self._request = request

    def result(self) -> QualityResult:
        """The row's result, validating the queue now if no other caller has yet.

        Raises:
            QualityGateError: GX (or its worker process) failed on this row's batch.
        """
        request = self._request
        self._gate._flush_for(request)
        if request.error is not None:
            raise QualityGateError(f"validation failed: {request.error}") from request.error
        if request.result is None:  # pragma: no cover - _run always sets one of the two
            raise QualityGateError("validation produced no result")
        return request.result
