"""Great Expectations (GX Core 1.x) data-quality gate over parsed document fields.

One suite per document type lives as JSON in ``expectations/<document_type>.json``.
The gate builds a one-row DataFrame from a DocumentScan (plus derived columns such
as the holder's age) and validates it before every decision. A failed expectation
becomes ``DATA_QUALITY_FAILED`` naming the expectation and its column.

GX contexts are not documented as thread-safe, and validating one row takes ~20 ms,
so validations are serialised with a lock rather than building a context per call.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
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


class QualityGate:
    """Validates document scans against the suites in an ``expectations/`` folder."""

    def __init__(self, expectations_dir: Path) -> None:
        """Load every suite now, so a broken suite fails at start-up, not mid-batch.

        Args:
            expectations_dir: folder holding ``<document_type>.json`` suites.

        Raises:
            QualityGateError: a suite for a document type is missing or invalid.
        """
        # GX reads these at import time; set before importing it.
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._gx = gx
        self._lock = threading.Lock()
        self._context = gx.get_context(mode="ephemeral")
        # Progress bars on stderr for every one-row validation would drown the logs.
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = self._context.data_sources.add_pandas("kyc_documents")
        self._batch_definition = source.add_dataframe_asset(
            "document_fields"
        ).add_batch_definition_whole_dataframe("one_document")
        self._suites: dict[DocumentType, Any] = {}
        for doc_type in DocumentType:
            path = expectations_dir / f"{doc_type.value}.json"
            try:
                data = json.loads(path.read_text())
                suite = gx.ExpectationSuite(
                    name=data["name"], expectations=data["expectations"], meta=data.get("meta")
                )
                self._suites[doc_type] = self._context.suites.add(suite)
            except (OSError, KeyError, ValueError, TypeError) as exc:
                raise QualityGateError(f"expectation suite {path} unusable: {exc}") from exc

    def suite_name(self, document_type: DocumentType) -> str:
        """Name of the suite used for a document type."""
        return str(self._suites[document_type].name)

    def validate(
        self, scan: DocumentScan, *, document_type: DocumentType, today: dt.date
    ) -> QualityResult:
        """Validate one scan.

        Args:
            scan: parsed document fields.
            document_type: selects the suite.
            today: reference date for derived columns.

        Returns:
            Success flag and the failing expectations as ``type(column)``.
        """
        import pandas as pd

        suite = self._suites[document_type]
        frame = pd.DataFrame([document_frame_row(scan, today=today)])
        with self._lock:
            result = self._batch_definition.get_batch(
                batch_parameters={"dataframe": frame}
            ).validate(suite)
        failed = []
        for r in result.results:
            if not r.success:
                kw = r.expectation_config.kwargs
                column = kw.get("column") or f"{kw.get('column_A')},{kw.get('column_B')}"
                failed.append(f"{r.expectation_config.type}({column})")
        return QualityResult(
            success=bool(result.success),
            suite=str(suite.name),
            failed_expectations=tuple(failed),
            evaluated=len(result.results),
        )
