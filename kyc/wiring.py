"""The one place engines are chosen (from Settings).

Cloud adapters are imported lazily so that a local installation never needs AWS
libraries configured; an engine that is not available fails here, at start-up, with
a clear message rather than mid-batch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kyc.engines.base import (
    DocumentReader,
    EngineUnavailable,
    FaceMatcher,
    LicenceValidator,
    LivenessChecker,
    RegisterClient,
)
from kyc.quality.gate import QualityGate
from kyc.settings import Settings

if TYPE_CHECKING:
    from kyc.engines.register_check import RegisterChecker


@dataclass(frozen=True, slots=True)
class Engines:
    """Everything with heavy state (models, OCR handles, GX context), built once."""

    document_reader: DocumentReader
    face_matcher: FaceMatcher
    quality_gate: QualityGate
    register_checker: RegisterChecker
    licence_validator: LicenceValidator | None
    #: The method chosen by KYC_LIVENESS_ENGINE, then the replay check (always on).
    liveness_checkers: tuple[LivenessChecker, ...] = ()

    def versions(self) -> dict[str, str]:
        """Engine name → version, recorded on every decision."""
        return {
            "document_reader": f"{self.document_reader.name}/{self.document_reader.version}",
            "face_matcher": f"{self.face_matcher.name}/{self.face_matcher.version}",
            "quality_gate": "great_expectations/" + _gx_version(),
            "liveness": " + ".join(f"{c.name}/{c.version}" for c in self.liveness_checkers)
            or "not-run",
            "register": f"{self.register_checker.client.name}/"
            f"{self.register_checker.client.version}",
            "licence": "not-run"
            if self.licence_validator is None
            else f"{self.licence_validator.name}/{self.licence_validator.version}",
        }


def _gx_version() -> str:
    from importlib.metadata import version

    return version("great_expectations")


def build_document_reader(settings: Settings) -> DocumentReader:
    """The DocumentReader chosen by ``KYC_DOCUMENT_ENGINE``."""
    if settings.document_engine == "local":
        from kyc.engines.barcode_zxing import ZxingBarcodeReader
        from kyc.engines.document_local import LocalDocumentReader

        return LocalDocumentReader(barcodes=ZxingBarcodeReader())
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


def build_liveness_checkers(
    settings: Settings, face_matcher: FaceMatcher
) -> tuple[LivenessChecker, ...]:
    """The liveness method chosen by ``KYC_LIVENESS_ENGINE``, plus the replay check.

    The replay check (selfie copied from the document, or printed) runs with every
    method: a Face Liveness session or a challenge says nothing about whether the
    selfie being matched is a photo of the document.
    """
    from kyc.engines.liveness_local import ChallengeLivenessChecker, ReplayLivenessChecker

    primary: LivenessChecker
    if settings.liveness_engine == "local":
        from kyc.engines.face_local import DlibFaceMatcher

        matcher = face_matcher if isinstance(face_matcher, DlibFaceMatcher) else None
        primary = ChallengeLivenessChecker(matcher=matcher)
    elif settings.liveness_engine == "rekognition":
        from kyc.engines.liveness_rekognition import RekognitionLivenessChecker

        primary = RekognitionLivenessChecker(
            region=settings.aws_region,
            endpoint_url=settings.liveness_endpoint_url,
            confidence_threshold=settings.liveness_confidence_threshold,
            face_matcher=face_matcher,
            match_threshold=settings.face_match_threshold,
        )
    else:  # pragma: no cover - Settings validates the literal
        raise EngineUnavailable(f"KYC_LIVENESS_ENGINE={settings.liveness_engine!r} is unknown")
    return (primary, ReplayLivenessChecker())


def build_register_client(settings: Settings) -> RegisterClient:
    """The RegisterClient chosen by ``KYC_REGISTER_ENGINE``."""
    from kyc.clients.http import RetryPolicy

    policy = RetryPolicy(
        retries=settings.register_retries,
        backoff_seconds=settings.register_backoff_seconds,
        max_retry_after_seconds=settings.register_max_retry_after_seconds,
    )
    if settings.register_engine == "snapshot":
        from kyc import runtime
        from kyc.engines.register_snapshot import SnapshotRegisterClient

        return SnapshotRegisterClient(runtime.database)
    if settings.register_engine == "http":
        from kyc.engines.register_http import HttpRegisterClient

        return HttpRegisterClient(
            settings.register_http_urls,
            timeout=settings.register_timeout_seconds,
            policy=policy,
            rate_per_second=settings.register_rate_per_second,
        )
    from kyc.engines.register_apify import ApifyRegisterClient

    token = settings.apify_token.get_secret_value() if settings.apify_token else None
    return ApifyRegisterClient(
        token=token,
        actors=settings.apify_actors,
        api_url=settings.apify_api_url,
        timeout=settings.register_timeout_seconds,
        policy=policy,
        rate_per_second=settings.register_rate_per_second,
        max_wait_seconds=settings.apify_max_wait_seconds,
    )


def build_register_checker(settings: Settings) -> RegisterChecker:
    """The register client behind number validation and the register cache."""
    from kyc import runtime
    from kyc.engines.register_check import RegisterChecker

    return RegisterChecker(
        build_register_client(settings),
        runtime.database,
        ttl_seconds=settings.register_cache_ttl_seconds,
    )


def build_licence_validator(settings: Settings) -> LicenceValidator | None:
    """The LicenceValidator chosen by ``KYC_LICENCE_ENGINE`` (None: ``none``)."""
    if settings.licence_engine == "none":
        return None
    if settings.licence_engine == "local":
        from kyc.engines.licence_local import LocalLicenceValidator

        return LocalLicenceValidator()
    if not settings.licence_http_url:
        raise EngineUnavailable("KYC_LICENCE_ENGINE=http needs KYC_LICENCE_HTTP_URL")
    from kyc.clients.http import RetryPolicy
    from kyc.engines.licence_http import HttpLicenceValidator

    auth = settings.licence_http_auth_value
    return HttpLicenceValidator(
        url=settings.licence_http_url,
        request_map=settings.licence_http_request_map,
        response_map=settings.licence_http_response_map,
        auth_header=settings.licence_http_auth_header,
        auth_value=auth.get_secret_value() if auth else None,
        countries=tuple(settings.licence_http_countries),
        timeout=settings.register_timeout_seconds,
        policy=RetryPolicy(
            retries=settings.register_retries,
            backoff_seconds=settings.register_backoff_seconds,
            max_retry_after_seconds=settings.register_max_retry_after_seconds,
        ),
    )


_lock = threading.Lock()
_cache: dict[tuple[str, ...], Engines] = {}


def build_engines(settings: Settings) -> Engines:
    """Build (once per process and engine choice) the engines named by settings."""
    key = (
        settings.document_engine,
        settings.face_engine,
        settings.liveness_engine,
        settings.liveness_endpoint_url or "",
        settings.register_engine,
        settings.licence_engine,
    )
    with _lock:
        if key not in _cache:
            face_matcher = build_face_matcher(settings)
            _cache[key] = Engines(
                document_reader=build_document_reader(settings),
                face_matcher=face_matcher,
                quality_gate=QualityGate(
                    settings.expectations_dir, worker_process=settings.quality_gate_process
                ),
                liveness_checkers=build_liveness_checkers(settings, face_matcher),
                register_checker=build_register_checker(settings),
                licence_validator=build_licence_validator(settings),
            )
        return _cache[key]
