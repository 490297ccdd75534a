"""What ``kyc read-document`` and ``kyc compare-faces`` do, apart from argument parsing.

Both commands run one engine over files so that the local and AWS backends can be
compared on the same inputs. Each input gives one JSON-ready dict; a file that
cannot be opened or read, or an engine failure, is a dict with reason codes and
``"ok": false`` (the command exits non-zero at the end), never a traceback.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kyc.domain.records import DocumentScan, FaceComparison, Finding, Reason
from kyc.domain.rules import Thresholds, face_findings
from kyc.engines.base import DocumentReader, FaceMatcher

logger = logging.getLogger(__name__)

#: AnalyzeID keys whose NormalizedValue is a date.
DATE_KEYS = frozenset({"DATE_OF_BIRTH", "EXPIRATION_DATE", "DATE_OF_ISSUE"})


def analyze_id_fields(scan: DocumentScan) -> list[dict[str, Any]]:
    """The scan's fields as AnalyzeID ``IdentityDocumentFields`` entries.

    Args:
        scan: a scan from any DocumentReader.

    Returns:
        ``{"Type": {"Text": key}, "ValueDetection": {"Text", "Confidence",
        "NormalizedValue"?}}`` per field, sorted by key; dates carry their ISO value
        as AnalyzeID's ``NormalizedValue`` (``YYYY-MM-DDT00:00:00``, ``Date``).
    """
    out: list[dict[str, Any]] = []
    for key, f in sorted(scan.fields.items()):
        detection: dict[str, Any] = {"Text": f.text, "Confidence": round(f.confidence, 2)}
        if key in DATE_KEYS and f.value:
            detection["NormalizedValue"] = {"Value": f"{f.value}T00:00:00", "ValueType": "Date"}
        out.append({"Type": {"Text": key}, "ValueDetection": detection, "Source": f.source})
    return out


def _failure(reason: Reason, detail: str, **extra: Any) -> dict[str, Any]:
    finding = Finding(reason, detail)
    return {**extra, "ok": False, "reasons": [reason.value], "findings": [finding.as_dict()]}


def _read_file(path: Path) -> bytes:
    return path.read_bytes()


def document_record(
    reader: DocumentReader, front: Path, back: Path | None = None
) -> dict[str, Any]:
    """Read one document with one engine; one JSON-ready dict.

    Args:
        reader: the engine.
        front: front image file.
        back: back image file, if any.

    Returns:
        ``file``, ``back``, ``ok`` (False when unreadable), ``reasons``, ``findings``,
        ``MRZ_CODE`` (when read), ``IdentityDocuments`` (AnalyzeID shape), ``fields``
        (the pipeline's record form), engine name/version and ``timings_ms``.
    """
    ident = {"file": str(front), "back": None if back is None else str(back)}
    try:
        front_bytes = _read_file(front)
        back_bytes = None if back is None else _read_file(back)
    except OSError as exc:
        return _failure(Reason.DOCUMENT_UNREADABLE, f"cannot open file: {exc.strerror}", **ident)
    started = time.perf_counter()
    try:
        scan = reader.read(front_bytes, back=back_bytes)
    except Exception as exc:  # an engine failure is this input's outcome, not a crash
        logger.warning("document engine failed on one input: %s", type(exc).__name__)
        return _failure(Reason.ENGINE_ERROR, f"{type(exc).__name__}: {exc}", **ident)
    wall_ms = round((time.perf_counter() - started) * 1000.0, 2)
    record: dict[str, Any] = {
        **ident,
        "ok": scan.readable,
        "reasons": [f.reason.value for f in scan.findings],
        "findings": [f.as_dict() for f in scan.findings],
    }
    mrz = scan.fields.get("MRZ_CODE")
    if mrz is not None:
        record["MRZ_CODE"] = mrz.text
    record["IdentityDocuments"] = [
        {"DocumentIndex": 1, "IdentityDocumentFields": analyze_id_fields(scan)}
    ]
    record["fields"] = scan.as_dict()["fields"]
    record["engine"] = scan.engine
    record["engine_version"] = scan.engine_version
    record["timings_ms"] = {**scan.timings_ms, "wall": wall_ms}
    return record


@dataclass(frozen=True, slots=True)
class FacePair:
    """One selfie/document pair to compare, plus any extra CSV columns (labels)."""

    selfie: Path
    document: Path
    labels: dict[str, str] = field(default_factory=dict)


def read_pairs_csv(path: Path, base: Path | None = None) -> list[FacePair]:
    """Pairs from a CSV with columns ``file_x`` (selfie) and ``file_y`` (document).

    Args:
        path: the CSV file.
        base: folder that relative paths are relative to (default: the CSV's folder).

    Returns:
        The pairs, other columns kept as labels (e.g. ``same_person``).

    Raises:
        ValueError: the file lacks the ``file_x`` / ``file_y`` columns.
        OSError: the file cannot be opened.
    """
    folder = base if base is not None else path.parent
    with path.open(newline="", encoding="utf-8") as fh:
        rows = csv.DictReader(fh)
        columns = set(rows.fieldnames or ())
        if not {"file_x", "file_y"} <= columns:
            raise ValueError(f"{path}: needs columns file_x,file_y (has {sorted(columns)})")
        return [
            FacePair(
                selfie=folder / row["file_x"],
                document=folder / row["file_y"],
                labels={k: v for k, v in row.items() if k not in {"file_x", "file_y"} and k},
            )
            for row in rows
        ]


def face_record(matcher: FaceMatcher, pair: FacePair, thresholds: Thresholds) -> dict[str, Any]:
    """Compare one pair with one engine; one JSON-ready dict.

    Args:
        matcher: the engine.
        pair: selfie and document files.
        thresholds: ``face_match`` decides ``match``; the decision rules' face
            findings (FACE_MISMATCH, FACE_INCONCLUSIVE, ...) become ``reasons``.

    Returns:
        ``file_x``, ``file_y``, ``similarity``, ``match`` (None without a score),
        ``threshold``, ``distance``, ``reasons``, ``ok`` (False when no comparison
        was possible) and the comparison's other figures.
    """
    ident: dict[str, Any] = {"file_x": str(pair.selfie), "file_y": str(pair.document)}
    if pair.labels:
        ident["labels"] = pair.labels
    files: list[bytes] = []
    for role, path, reason in (
        ("selfie", pair.selfie, Reason.SELFIE_UNREADABLE),
        ("document", pair.document, Reason.FACE_NOT_FOUND),
    ):
        try:
            files.append(_read_file(path))
        except OSError as exc:
            return _failure(reason, f"cannot open {role} file: {exc.strerror}", **ident)
    started = time.perf_counter()
    try:
        result: FaceComparison = matcher.compare(files[0], files[1])
    except Exception as exc:  # an engine failure is this pair's outcome, not a crash
        logger.warning("face engine failed on one pair: %s", type(exc).__name__)
        return _failure(Reason.ENGINE_ERROR, f"{type(exc).__name__}: {exc}", **ident)
    wall_ms = round((time.perf_counter() - started) * 1000.0, 2)
    findings = face_findings(result, thresholds)
    details = result.as_dict()
    return {
        **ident,
        "ok": result.similarity is not None,
        "similarity": details.pop("similarity"),
        "match": None if result.similarity is None else result.similarity >= thresholds.face_match,
        "threshold": thresholds.face_match,
        "distance": details.pop("distance"),
        "reasons": [f.reason.value for f in findings],
        "findings": [f.as_dict() for f in findings],
        **{k: v for k, v in details.items() if k not in {"findings", "timings_ms"}},
        "timings_ms": {**result.timings_ms, "wall": wall_ms},
    }


def face_records(
    matcher: FaceMatcher, pairs: Iterable[FacePair], thresholds: Thresholds
) -> Iterator[dict[str, Any]]:
    """:func:`face_record` over many pairs, lazily (print as they come)."""
    for pair in pairs:
        yield face_record(matcher, pair, thresholds)
