"""``kyc read-document`` and ``kyc compare-faces``: one engine over files.

What each input gives is :mod:`kyc.cli.engine_records`'s; this module parses the
arguments, builds the engine and prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kyc.cli.common import JsonLines, console, wide_console


def _engine_settings(**update: Any) -> Any:
    """Settings with an engine choice overridden, or exit 2 with the validation error."""
    from pydantic import ValidationError

    from kyc.settings import Settings

    try:
        # Built afresh (environment + overrides) so the override is validated too.
        return Settings(**{k: v for k, v in update.items() if v is not None})
    except ValidationError as exc:
        console.print(f"[red]invalid settings or option: {exc}")
        raise typer.Exit(2) from exc


def _build_engine(build: Any, settings: Any) -> Any:
    """An engine from kyc.wiring, or exit 2 with its EngineUnavailable message."""
    from kyc.engines.base import EngineUnavailable

    try:
        return build(settings)
    except EngineUnavailable as exc:
        console.print(f"[red]engine unavailable: {exc}")
        raise typer.Exit(2) from exc


def _emit(records: Any, as_json: bool, columns: tuple[str, ...]) -> bool:
    """Print records (JSON lines, or a table); True when every record is ok."""
    all_ok = True
    table = Table(*columns, "reasons")
    for record in records:
        all_ok = all_ok and bool(record["ok"])
        if as_json:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            table.add_row(*(str(record.get(c)) for c in columns), ", ".join(record["reasons"]))
    if not as_json:
        wide_console().print(table)
    return all_ok


def read_document(
    images: Annotated[list[Path], typer.Argument(help="Document fronts, one result each.")],
    back: Annotated[
        list[Path] | None,
        typer.Option("--back", help="Back image (PDF417 side); once per IMAGE, in order."),
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="local | textract (default KYC_DOCUMENT_ENGINE).")
    ] = None,
    as_json: JsonLines = False,
) -> None:
    """Read identity documents; print AnalyzeID-shaped fields, reasons and timings.

    Exits 1 when any input was unreadable (its object says why), 2 on usage errors.
    """
    from kyc.cli.engine_records import document_record
    from kyc.wiring import build_document_reader

    backs: list[Path | None] = list(back or [])
    if backs and len(backs) != len(images):
        console.print(f"[red]--back given {len(backs)} time(s) for {len(images)} image(s)")
        raise typer.Exit(2)
    settings = _engine_settings(document_engine=engine)
    reader = _build_engine(build_document_reader, settings)
    pairs = zip(images, backs or [None] * len(images), strict=True)
    records = (document_record(reader, front, b) for front, b in pairs)
    if not _emit(records, as_json, ("file", "engine")):
        raise typer.Exit(1)


def compare_faces(
    selfie: Annotated[Path | None, typer.Argument(help="Selfie (SourceImage).")] = None,
    document: Annotated[
        Path | None, typer.Argument(help="Document image or portrait (TargetImage).")
    ] = None,
    pairs: Annotated[
        Path | None, typer.Option(help="CSV with columns file_x (selfie), file_y (document).")
    ] = None,
    base: Annotated[
        Path | None, typer.Option(help="Folder for relative CSV paths (default: the CSV's).")
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="local | rekognition (default KYC_FACE_ENGINE).")
    ] = None,
    as_json: JsonLines = False,
) -> None:
    """Compare faces; print similarity, match (vs KYC_FACE_MATCH_THRESHOLD), distance, reasons.

    Exits 1 when any pair could not be compared (its object says why), 2 on usage errors.
    """
    from kyc.cli.engine_records import FacePair, face_records, read_pairs_csv
    from kyc.domain.rules import Thresholds
    from kyc.wiring import build_face_matcher

    if (pairs is None) == (selfie is None or document is None) or (pairs and selfie):
        console.print("[red]give SELFIE DOCUMENT_IMAGE, or --pairs pairs.csv (not both)")
        raise typer.Exit(2)
    if pairs is not None:
        try:
            todo = read_pairs_csv(pairs, base)
        except (OSError, ValueError) as exc:
            console.print(f"[red]cannot read {pairs}: {exc}")
            raise typer.Exit(2) from exc
    else:
        assert selfie is not None and document is not None
        todo = [FacePair(selfie, document)]
    settings = _engine_settings(face_engine=engine)
    matcher = _build_engine(build_face_matcher, settings)
    thresholds = Thresholds(
        face_match=settings.face_match_threshold, face_reject=settings.face_reject_threshold
    )
    records = face_records(matcher, todo, thresholds)
    if not _emit(records, as_json, ("file_x", "file_y", "similarity", "match")):
        raise typer.Exit(1)
