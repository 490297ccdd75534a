"""The one place engines are chosen (from Settings).

Cloud adapters are imported lazily so that a local installation never needs AWS
libraries configured; an engine that is not available fails here, at start-up, with
a clear message rather than mid-batch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from kyc.engines.base import DocumentReader, EngineUnavailable, FaceMatcher
from kyc.quality.gate import QualityGate
from kyc.settings import Settings


@dataclass(frozen=True, slots=True)
class Engines:
    """Everything with heavy state (models, OCR handles, GX context), built once."""

    document_reader: DocumentReader
    face_matcher: FaceMatcher
    quality_gate: QualityGate

    def versions(self) -> dict[str, str]:
        """Engine name → version, recorded on every decision."""
        return {
            "document_reader": f"{self.document_reader.name}/{self.document_reader.version}",
            "face_matcher": f"{self.face_matcher.name}/{self.face_matcher.version}",
            "quality_gate": "great_expectations/" + _gx_version(),
            "liveness": "not-run",
            "register": "not-run",
        }


def _gx_version() -> str:
    from importlib.metadata import version

    return version("great_expectations")


def build_document_reader(settings: Settings) -> DocumentReader:
    """The DocumentReader chosen by ``KYC_DOCUMENT_ENGINE``."""
    if settings.document_engine == "local":
        from kyc.engines.document_local import LocalDocumentReader

        return LocalDocumentReader()
    if settings.document_engine == "textract":
        # Lazy: a local installation never imports boto3's service models.
        from kyc.engines.document_textract import TextractDocumentReader

        return TextractDocumentReader.from_settings(settings)
    raise EngineUnavailable(f"KYC_DOCUMENT_ENGINE={settings.document_engine!r} is not an engine")


def build_face_matcher(settings: Settings) -> FaceMatcher:
    """The FaceMatcher chosen by ``KYC_FACE_ENGINE``."""
    if settings.face_engine == "local":
        from kyc.engines.face_local import DlibFaceMatcher

        return DlibFaceMatcher()
    if settings.face_engine == "rekognition":
        from kyc.engines.face_rekognition import RekognitionFaceMatcher

        return RekognitionFaceMatcher.from_settings(settings)
    raise EngineUnavailable(f"KYC_FACE_ENGINE={settings.face_engine!r} is not an engine")


_lock = threading.Lock()
_cache: dict[tuple[str, str], Engines] = {}


def build_engines(settings: Settings) -> Engines:
    """Build (once per process and engine choice) the engines named by settings."""
    key = (settings.document_engine, settings.face_engine)
    with _lock:
        if key not in _cache:
            _cache[key] = Engines(
                document_reader=build_document_reader(settings),
                face_matcher=build_face_matcher(settings),
                quality_gate=QualityGate(
                    settings.expectations_dir, worker_process=settings.quality_gate_process
                ),
            )
        return _cache[key]
