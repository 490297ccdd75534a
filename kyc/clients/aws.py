"""What the AWS engines share: building a boto3 client, classifying service errors.

The Textract and Rekognition adapters (``document_textract.py``,
``face_rekognition.py``) call boto3 through a client built here, so that every AWS
call has the same bounded retry policy and timeouts, and a missing region or missing
credentials fail at start-up (``kyc.wiring``) with one clear message.

Retries happen in two layers on purpose: botocore retries throttling
(``ThrottlingException``, ``ProvisionedThroughputExceededException``), 5xx replies
and dropped connections a bounded number of times with exponential backoff; when
those are used up the adapter raises :class:`AwsEngineError`, which the Prefect
task layer retries later (it is not a ``ValueError``, so it is not "bad input").
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from kyc.engines.base import EngineUnavailable
from kyc.imaging.decode import MIN_SIDE, ImageUnreadable, load_image
from kyc.settings import Settings

logger = logging.getLogger(__name__)


class AwsEngineError(RuntimeError):
    """An AWS call failed after botocore's bounded retries (throttled, 5xx, unreachable).

    Transient by nature: the task layer retries the stage. ``code`` is the AWS error
    code when the service answered (e.g. ``ThrottlingException``), else the botocore
    exception name (e.g. ``EndpointConnectionError``).
    """

    def __init__(self, service: str, code: str, message: str) -> None:
        super().__init__(f"{service}: {code}: {message}")
        self.service = service
        self.code = code


#: Codes that mean our request will never succeed as it stands (permissions, keys):
#: raised as EngineUnavailable, since a retry cannot help and it is not the
#: applicant's fault either.
NOT_AUTHORISED_CODES = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)


def botocore_version() -> str:
    """Version of botocore, part of each AWS engine's recorded version."""
    from importlib.metadata import version

    return version("botocore")


def make_client(
    service: str, settings: Settings, *, endpoint_url: str | None, session: Any = None
) -> Any:
    """Build a boto3 client with the project's retry policy and timeouts.

    Args:
        service: boto3 service name (``textract``, ``rekognition``).
        settings: region, endpoint, retry and timeout settings.
        endpoint_url: endpoint override (VPC endpoint, loopback replay server); None
            for the regional AWS endpoint.
        session: a ``boto3.Session`` to use instead of the default one (tests pass
            one with dummy credentials).

    Returns:
        The boto3 client.

    Raises:
        EngineUnavailable: boto3 is missing, no region is set, or no credentials are
            found by boto3's default chain.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - boto3 is a core dependency
        raise EngineUnavailable(f"the {service} engine needs boto3 (pip install boto3)") from exc

    if not settings.aws_region:
        raise EngineUnavailable(f"the {service} engine needs a region: set KYC_AWS_REGION")
    session = session or boto3.Session(region_name=settings.aws_region)
    if session.get_credentials() is None:
        raise EngineUnavailable(
            f"the {service} engine found no AWS credentials: set AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an instance/task role"
        )
    config = Config(
        region_name=settings.aws_region,
        retries={"total_max_attempts": settings.aws_max_attempts, "mode": settings.aws_retry_mode},
        connect_timeout=settings.aws_timeout_seconds,
        read_timeout=settings.aws_timeout_seconds,
        user_agent_extra="kyc-pipeline",
        # One client is shared by the batch flow's worker threads (boto3 clients are
        # thread-safe); a smaller pool would make them queue for connections.
        max_pool_connections=max(10, settings.concurrency),
    )
    return session.client(service, endpoint_url=endpoint_url or None, config=config)


def error_code(exc: Exception) -> tuple[str, str]:
    """AWS error code and message of a botocore ClientError (or the exception's name).

    Args:
        exc: an exception raised by a boto3 call.

    Returns:
        ``(code, message)``; for non-ClientErrors the class name and ``str(exc)``.
    """
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error") or {}
        code = str(err.get("Code") or type(exc).__name__)
        # JSON-protocol services may send a namespaced type: "aws.foo#ThrottlingException".
        return code.rsplit("#", 1)[-1], str(err.get("Message") or "")
    return type(exc).__name__, str(exc)


def raise_for_service_error(service: str, exc: Exception) -> NoReturn:
    """Re-raise a boto3 failure that is not about the input as a typed engine error.

    Args:
        service: service name for the message.
        exc: the exception from the boto3 call.

    Raises:
        EngineUnavailable: credentials or permissions are wrong.
        AwsEngineError: anything else (throttled after retries, 5xx, unreachable).
    """
    code, message = error_code(exc)
    # Ids and codes only: AWS messages never echo image bytes, but stay terse anyway.
    logger.warning("%s call failed: %s", service, code)
    if code in NOT_AUTHORISED_CODES:
        raise EngineUnavailable(
            f"{service}: {code}: {message} (the IAM identity needs the permission named in "
            "the README)"
        ) from exc
    raise AwsEngineError(service, code, message) from exc


#: Long side an over-size image is reduced to before upload: AnalyzeID and
#: CompareFaces gain nothing from more pixels than this on an ID card or a face.
FIT_MAX_SIDE = 2400


def fit_image(data: bytes, *, max_bytes: int) -> bytes:
    """The image as is when it is within ``max_bytes``, else a smaller JPEG copy.

    Phone photos saved as PNG, or straight from a 50 MP camera, exceed the services'
    byte limits although they are perfectly readable; refusing them would turn a
    good application into manual review. Deterministic (same input, same bytes).

    Args:
        data: image bytes.
        max_bytes: the service's limit for images passed as bytes.

    Returns:
        ``data`` unchanged, or a JPEG within the limit (EXIF orientation applied,
        long side at most FIT_MAX_SIDE); unreadable input is returned unchanged for
        :func:`image_problem` to explain.
    """
    if len(data) <= max_bytes:
        return data
    try:
        image = load_image(data)
    except ImageUnreadable:
        return data
    from io import BytesIO

    image.thumbnail((FIT_MAX_SIDE, FIT_MAX_SIDE))
    for quality in (90, 80, 70):
        buf = BytesIO()
        image.save(buf, format="JPEG", quality=quality)
        if buf.tell() <= max_bytes:
            return buf.getvalue()
    return data  # still too large: image_problem reports the limit


def image_problem(data: bytes, *, formats: frozenset[str], max_bytes: int) -> str | None:
    """Why AWS would reject these image bytes, checked locally first; None when fine.

    Checking before the call tells *which* image is bad (Rekognition's
    InvalidImageFormatException does not say) and saves a billed request. The same
    guards as the local engines apply (:mod:`kyc.imaging.decode`: decompression-bomb
    limit, smallest side), but a JPEG is decoded at 1/8 scale: that still reads the
    whole entropy-coded stream, so truncation is caught, at a fraction of the cost
    (the service decodes the full image anyway).

    Args:
        data: image bytes.
        formats: Pillow format names the service accepts (``JPEG``, ``PNG``, ...).
        max_bytes: the service's limit for images passed as bytes.

    Returns:
        A short reason without PII, or None.
    """
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    if len(data) > max_bytes:
        return f"{len(data)} bytes is over the {max_bytes // 1_000_000} MB limit for image bytes"
    if not data:
        return "empty file"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt, size = image.format, image.size
                if fmt not in formats:
                    return f"{fmt} images are not accepted (only {', '.join(sorted(formats))})"
                if min(size) < MIN_SIDE:
                    return f"image too small: {size[0]}x{size[1]} px"
                if fmt == "JPEG":
                    image.draft(image.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return f"image too large (decompression bomb guard): {exc}"
    except UnidentifiedImageError:
        return "not a recognised image format"
    except (OSError, SyntaxError, ValueError) as exc:
        return f"corrupt image: {exc}"
    return None
