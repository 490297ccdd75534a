"""The one place engines are chosen (from Settings) and given their configuration.

Cloud adapters are imported lazily so that a local installation never needs AWS
libraries configured; an engine that is not available fails here, at start-up, with
a clear message rather than mid-batch. No engine reads the settings itself: each
receives what it needs from here.

Nothing is cached here: :class:`kyc.runtime.Runtime` builds the engines once per
settings value. Engines that hold heavy, configuration-free state (the local
document reader's Tesseract handles) are taken from the runtime's ``shared`` pool,
keyed on exactly the arguments they are built with, so that two settings values that
differ in, say, the landing folder do not load the OCR models twice.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa

from kyc.engines.base import (
    AsyncRegisterClient,
    DocumentReader,
    EngineUnavailable,
    FaceMatcher,
    LicenceValidator,
    LivenessChecker,
    RegisterClient,
)
from kyc.settings import Settings

T = TypeVar("T")
#: ``share(key, build)``: the instance built for ``key`` in this process, built once.
Share = Callable[[Hashable, Callable[[], T]], T]


def _not_shared(key: Hashable, build: Callable[[], T]) -> T:
    return build()


@dataclass(frozen=True, slots=True)
class Engines:
    """Every external capability the pipeline uses, as chosen by the settings."""

    document_reader: DocumentReader
    face_matcher: FaceMatcher
    register_client: RegisterClient
    licence_validator: LicenceValidator | None
    #: The method chosen by KYC_LIVENESS_ENGINE, then the replay check (always on).
    liveness_checkers: tuple[LivenessChecker, ...] = ()
    #: Set when register look-ups can run while a flow run waits suspended (Apify with
    #: ``KYC_APIFY_WEBHOOK_PREFECT_API_URL``); None: look-ups block (poll) instead.
    async_register_client: AsyncRegisterClient | None = None

    def versions(self) -> dict[str, str]:
        """Engine name → ``name/version``, recorded on every decision."""
        return {
            "document_reader": f"{self.document_reader.name}/{self.document_reader.version}",
            "face_matcher": f"{self.face_matcher.name}/{self.face_matcher.version}",
            "liveness": " + ".join(f"{c.name}/{c.version}" for c in self.liveness_checkers)
            or "not-run",
            "register": f"{self.register_client.name}/{self.register_client.version}",
            "licence": "not-run"
            if self.licence_validator is None
            else f"{self.licence_validator.name}/{self.licence_validator.version}",
        }


def build_document_reader(settings: Settings, *, share: Share = _not_shared) -> DocumentReader:
    """The DocumentReader chosen by ``KYC_DOCUMENT_ENGINE``."""
    if settings.document_engine == "local":
        from kyc.engines.barcode_zxing import ZxingBarcodeReader
        from kyc.engines.document_local import LocalDocumentReader

        # Configuration-free and heavy (Tesseract handles): one per process.
        return share(
            ("document-reader", "local"),
            lambda: LocalDocumentReader(barcodes=ZxingBarcodeReader()),
        )
    if settings.document_engine == "textract":
        # Lazy: a local installation never imports boto3's service models.
        from kyc.engines.document_textract import TextractDocumentReader

        return TextractDocumentReader.from_settings(settings)
    raise EngineUnavailable(f"KYC_DOCUMENT_ENGINE={settings.document_engine!r} is not an engine")


def build_face_matcher(settings: Settings, *, share: Share = _not_shared) -> FaceMatcher:
    """The FaceMatcher chosen by ``KYC_FACE_ENGINE``."""
    if settings.face_engine == "local":
        from kyc.engines.face_local import DescriptorWorker, DlibFaceMatcher, model_directory

        workers = None
        if settings.face_descriptor_process:
            # One worker process per model folder and process (heavy: dlib + network).
            folder = model_directory().resolve()
            workers = share(("face-descriptors", str(folder)), lambda: DescriptorWorker(folder))
        return DlibFaceMatcher(upsample=settings.face_upsample, descriptors=workers)
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
    from kyc.engines.face_local import DlibFaceMatcher, similarity_to_distance
    from kyc.engines.liveness_local import ChallengeLivenessChecker, ReplayLivenessChecker

    primary: LivenessChecker
    if settings.liveness_engine == "local":
        # The challenge compares frames with the selfie by dlib embedding: it shares
        # the pipeline's matcher when that is dlib (one embedding of the selfie).
        matcher = (
            face_matcher
            if isinstance(face_matcher, DlibFaceMatcher)
            else DlibFaceMatcher(upsample=settings.face_upsample)
        )
        primary = ChallengeLivenessChecker(
            matcher=matcher,
            max_distance=similarity_to_distance(settings.face_match_threshold),
        )
    elif settings.liveness_engine == "rekognition":
        from kyc.engines.liveness_rekognition import RekognitionLivenessChecker

        primary = RekognitionLivenessChecker.from_settings(settings, face_matcher=face_matcher)
    else:  # pragma: no cover - Settings validates the literal
        raise EngineUnavailable(f"KYC_LIVENESS_ENGINE={settings.liveness_engine!r} is unknown")
    return (primary, ReplayLivenessChecker(upsample=settings.face_upsample))


def build_register_client(
    settings: Settings, *, database: Callable[[], sa.Engine] | None = None
) -> RegisterClient:
    """The RegisterClient chosen by ``KYC_REGISTER_ENGINE``.

    Args:
        settings: the settings.
        database: the migrated database (the snapshot client reads the loaded
            extract from it); needed for ``snapshot`` only.
    """
    from kyc.clients.http import RetryPolicy

    policy = RetryPolicy(
        retries=settings.register_retries,
        backoff_seconds=settings.register_backoff_seconds,
        max_retry_after_seconds=settings.register_max_retry_after_seconds,
    )
    if settings.register_engine == "snapshot":
        from kyc.engines.register_snapshot import SnapshotRegisterClient

        if database is None:
            raise EngineUnavailable("KYC_REGISTER_ENGINE=snapshot needs the database")
        return SnapshotRegisterClient(database)
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


def async_register_client(settings: Settings, client: RegisterClient) -> AsyncRegisterClient | None:
    """The client itself when its look-ups can run while a flow run waits suspended.

    Only Apify runs can call back (a webhook to Prefect's API), and only when that API
    is reachable from Apify (``KYC_APIFY_WEBHOOK_PREFECT_API_URL``).
    """
    if not settings.apify_webhook_prefect_api_url:
        return None
    return client if isinstance(client, AsyncRegisterClient) else None


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


def build_engines(
    settings: Settings,
    *,
    database: Callable[[], sa.Engine] | None = None,
    share: Share = _not_shared,
) -> Engines:
    """Build every engine the settings name (see :class:`kyc.runtime.Runtime`).

    Args:
        settings: the settings.
        database: the migrated database, for engines that read it (register snapshot).
        share: the runtime's pool for heavy, configuration-free engines.

    Raises:
        EngineUnavailable: an engine cannot run here (missing library, model,
            credentials or configuration), with a message saying what to set.
    """
    face_matcher = build_face_matcher(settings, share=share)
    register_client = build_register_client(settings, database=database)
    return Engines(
        document_reader=build_document_reader(settings, share=share),
        face_matcher=face_matcher,
        liveness_checkers=build_liveness_checkers(settings, face_matcher),
        register_client=register_client,
        async_register_client=async_register_client(settings, register_client),
        licence_validator=build_licence_validator(settings),
    )
