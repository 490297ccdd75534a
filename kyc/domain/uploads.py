"""What the intake API accepts from a client system (pure rules, no I/O).

* images by content, never by name: JPEG and PNG only (the engines' decoders);
* the multipart parts an upload is made of, how many of each and how large;
* the Idempotency-Key and the digest that tells "the same request" from another;
* a per-key token bucket (the rate limit);
* :class:`UploadRefused`: every refusal as an HTTP status, a stable code and a
  message that names what is accepted and never echoes the client's data.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from kyc.domain.landing import MAX_FRAMES

#: Said in every type refusal.
ACCEPTED_TYPES = "JPEG or PNG"
#: The form is a small JSON document; anything larger is not a form.
MAX_FORM_BYTES = 256 * 1024
#: Bytes a part's headers may take (Content-Disposition, Content-Type).
MAX_PART_HEADER_BYTES = 8 * 1024
#: An Idempotency-Key: 1-255 visible ASCII characters (a UUID is typical).
MAX_IDEMPOTENCY_KEY = 255

FORM_PART = "application"
FRAME_PART = "selfie_frames"
#: Part name -> how many of it an upload may carry.
PART_COUNTS: dict[str, int] = {
    FORM_PART: 1,
    "id_document": 1,
    "id_document_back": 1,
    "selfie": 1,
    FRAME_PART: MAX_FRAMES,
}
REQUIRED_PARTS = (FORM_PART, "id_document", "selfie")

_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"
#: ISO-BMFF brands of HEIF-family images (HEIC, HEIF, AVIF): what phones send.
_HEIF_BRANDS = {
    b"heic",
    b"heix",
    b"heim",
    b"heis",
    b"hevc",
    b"hevx",
    b"hevm",
    b"hevs",
    b"mif1",
    b"mif2",
    b"msf1",
    b"avif",
    b"avis",
}


class UploadRefused(Exception):
    """An upload (or a request for one) that is refused, as the API answers it.

    Attributes:
        status: HTTP status (401, 403, 404, 409, 413, 415, 422, 429, 503, 507).
        code: stable machine-readable code (``file_too_large``, ``unsupported_type``...).
        message: one sentence for a developer; never quotes the uploaded data.
        problems: per-member problems of the form (``path``/``rule``/``detail``).
        retry_after: seconds to wait (429 only).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        problems: Sequence[dict[str, str]] = (),
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = list(problems)
        self.retry_after = retry_after

    def as_json(self) -> dict[str, object]:
        """The response body."""
        body: dict[str, object] = {"error": self.code, "detail": self.message}
        if self.problems:
            body["problems"] = self.problems
        return body


class ImageType(StrEnum):
    """Accepted image types; the value is the landing file suffix."""

    JPEG = "jpg"
    PNG = "png"


def sniff_image(data: bytes, part: str) -> ImageType:
    """The image type of ``data`` from its first bytes (the file name is ignored).

    Args:
        data: the uploaded file.
        part: its multipart field name (named in the refusal).

    Returns:
        JPEG or PNG.

    Raises:
        UploadRefused: 415 for anything else (HEIC/HEIF, PDF, other), naming what is
            accepted; 422 for an empty file.
    """
    if not data:
        raise UploadRefused(422, "empty_file", f"{part}: the file is empty")
    if data.startswith(_JPEG):
        return ImageType.JPEG
    if data.startswith(_PNG):
        return ImageType.PNG
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        found = "a HEIC/HEIF image"
    elif data.startswith(b"%PDF"):
        found = "a PDF document"
    else:
        found = "not a JPEG or PNG image"
    raise UploadRefused(
        415,
        "unsupported_type",
        f"{part}: {found} (the type is read from the content, not the file name); "
        f"send {ACCEPTED_TYPES}",
    )


def check_pixels(width: int, height: int, part: str, max_pixels: int) -> None:
    """Refuse an image whose header promises more pixels than the limit (a decompression bomb).

    Raises:
        UploadRefused: 413 naming the limit.
    """
    if width * height > max_pixels:
        raise UploadRefused(
            413,
            "image_too_large",
            f"{part}: {width}x{height} pixels is more than the {max_pixels:,} pixels accepted",
        )


def part_limit(name: str, max_file_bytes: int) -> int:
    """Largest size of one part named ``name`` (the form is small; images are files)."""
    return MAX_FORM_BYTES if name == FORM_PART else max_file_bytes


def body_limit(max_file_bytes: int) -> int:
    """Largest request body: every part at its limit, plus room for multipart framing."""
    files = sum(count for name, count in PART_COUNTS.items() if name != FORM_PART)
    framing = sum(PART_COUNTS.values()) * (MAX_PART_HEADER_BYTES + 128)
    return files * max_file_bytes + MAX_FORM_BYTES + framing


def too_large(part: str, limit: int) -> UploadRefused:
    """The 413 for a part over its limit."""
    return UploadRefused(
        413, "file_too_large", f"{part}: larger than the {limit:,} bytes accepted per file"
    )


def check_part_name(name: str, seen: int) -> None:
    """Refuse an unknown part, or one more of a part than an upload may carry.

    Args:
        name: the part's field name.
        seen: how many parts of that name came before this one.

    Raises:
        UploadRefused: 422.
    """
    allowed = PART_COUNTS.get(name)
    if allowed is None:
        raise UploadRefused(
            422,
            "unexpected_part",
            f"unexpected multipart field {name[:64]!r}; expected: {', '.join(PART_COUNTS)}",
        )
    if seen >= allowed:
        what = f"at most {allowed} {name}" if allowed > 1 else f"one {name}"
        raise UploadRefused(422, "too_many_parts", f"an upload carries {what}")


def check_required(names: Iterable[str], *, what: str = "multipart fields") -> None:
    """Refuse an upload that lacks a required part.

    Args:
        names: the parts present.
        what: how the refusal names them.

    Raises:
        UploadRefused: 422 naming every missing part.
    """
    present = set(names)
    missing = [name for name in REQUIRED_PARTS if name not in present]
    if missing:
        raise UploadRefused(422, "missing_part", f"missing {what}: {', '.join(missing)}")


def check_idempotency_key(value: str) -> str:
    """Validate an ``Idempotency-Key`` header.

    Raises:
        UploadRefused: 422 when it is empty, too long or not visible ASCII.
    """
    if not 0 < len(value) <= MAX_IDEMPOTENCY_KEY or not all("\x21" <= c <= "\x7e" for c in value):
        raise UploadRefused(
            422,
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} visible ASCII characters",
        )
    return value


def body_digest(parts: Sequence[tuple[str, bytes]]) -> str:
    """SHA-256 over the canonical content of an upload: what makes two requests "the same".

    Each part contributes its field name and its bytes (lengths delimit them), in field
    name order; parts of the same name (liveness frames) keep their order. File names,
    part headers and the multipart boundary are left out: a client retrying with a
    fresh boundary sends the same request.

    Args:
        parts: (field name, content) in the order received.
    """
    h = hashlib.sha256()
    # sorted() is stable: frames keep their order among themselves.
    for name, data in sorted(parts, key=lambda p: p[0]):
        encoded = name.encode()
        h.update(len(encoded).to_bytes(4, "big") + encoded)
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def new_application_id() -> str:
    """A server-generated application id (a client that sends none gets one)."""
    return f"app-{uuid.uuid4().hex}"


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucket:
    """Requests per minute per key, with a burst of the same size (thread-safe).

    A full bucket holds ``per_minute`` tokens and refills continuously at
    ``per_minute / 60`` tokens per second; each request takes one.

    Args:
        per_minute: the sustained rate and the burst.
        clock: monotonic seconds (tests pass their own).
        max_keys: buckets kept; the longest-idle ones (full again by then, or nearly)
            are forgotten past this, so memory stays bounded.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take a token for ``key``.

        Returns:
            0.0 when the request may go ahead; otherwise the seconds until a token is
            available (nothing is taken).
        """
        now = self._clock()
        with self._lock:
            bucket = self._buckets.pop(key, None)
            if bucket is None:
                bucket = _Bucket(self.capacity, now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate)
                bucket.updated = now
            # Re-inserted at the end: dict order is least recently used first.
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_keys:
                del self._buckets[next(iter(self._buckets))]
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate


def retry_after_seconds(wait: float) -> int:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return max(1, math.ceil(wait))


#: Statuses ``GET /v1/applications/{id}`` reports.
AWAITING_UPLOAD = "AWAITING_UPLOAD"
RECEIVED = "RECEIVED"
PROCESSING = "PROCESSING"
DECIDED = "DECIDED"
FAILED_TO_PROCESS = "FAILED_TO_PROCESS"


def upload_status(
    document_status: str | None, *, decided: bool, dead_letter: bool, registered: bool = True
) -> str:
    """Where an upload stands.

    Args:
        document_status: the newest id_document's ``id_doc_status_enum`` label.
        decided: a decision exists on the objects landed now.
        dead_letter: an unresolved dead letter exists for the application.
        registered: the application's rows exist; a presigned upload has none until
            the pipeline finds its objects complete.
    """
    if not registered:
        return FAILED_TO_PROCESS if dead_letter else AWAITING_UPLOAD
    if decided:
        return DECIDED
    if dead_letter or document_status == "ERROR":
        return FAILED_TO_PROCESS
    if document_status in (None, "NEW"):
        return RECEIVED
    return PROCESSING


# --------------------------------------------------------------------------------------
# presigned uploads (POST /v1/uploads): the client declares each file's type and size
# --------------------------------------------------------------------------------------

#: Declared Content-Type -> landing type. The bytes are not seen by the API: S3 holds
#: the client to the declared type and length (both are signed into the URL).
DECLARED_TYPES = {"image/jpeg": ImageType.JPEG, "image/png": ImageType.PNG}


@dataclass(frozen=True, slots=True)
class DeclaredFile:
    """One file a client will PUT to a presigned URL.

    Attributes:
        role: landing name without suffix (``id_document``, ``selfie_frames/0``...).
        type: JPEG or PNG.
        size: its exact length in bytes.
    """

    role: str
    type: ImageType
    size: int

    @property
    def content_type(self) -> str:
        """The Content-Type the PUT must carry."""
        return "image/jpeg" if self.type is ImageType.JPEG else "image/png"


def _declared(value: object, path: str, role: str, max_file_bytes: int) -> DeclaredFile:
    def invalid(rule: str, detail: str) -> UploadRefused:
        return UploadRefused(
            422,
            "invalid_request",
            f"{path}: {detail}",
            problems=[{"path": path, "rule": rule, "detail": detail}],
        )

    if not isinstance(value, dict) or set(value) != {"content_type", "bytes"}:
        raise invalid("type", "must be an object with content_type and bytes")
    kind = DECLARED_TYPES.get(str(value["content_type"]).lower())
    if kind is None:
        raise UploadRefused(
            415, "unsupported_type", f"{path}: only {ACCEPTED_TYPES} images are accepted"
        )
    size = value["bytes"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise invalid("minimum", "bytes must be a positive integer")
    if size > max_file_bytes:
        raise too_large(path, max_file_bytes)
    return DeclaredFile(role, kind, size)


def check_declarations(files: object, max_file_bytes: int) -> list[DeclaredFile]:
    """The files a presigned upload declares, in landing order (front, back, selfie, frames).

    Args:
        files: ``{"id_document": {"content_type": "image/jpeg", "bytes": 123}, ...,
            "selfie_frames": [{...}, ...]}`` as sent.
        max_file_bytes: the per-file limit.

    Raises:
        UploadRefused: 422 (shape, unknown or missing files, too many frames), 415 (a
            type other than JPEG/PNG), 413 (a file over the limit).
    """
    if not isinstance(files, dict):
        raise UploadRefused(
            422,
            "invalid_request",
            "files: must be an object",
            problems=[{"path": "files", "rule": "type", "detail": "must be object"}],
        )
    for name in files:
        if name == FORM_PART:
            raise UploadRefused(
                422,
                "unexpected_part",
                "files/application: the form goes in 'application' beside 'files'",
            )
        check_part_name(str(name), 0)
    check_required([FORM_PART, *files], what="files")
    declared = [
        _declared(files[name], f"files/{name}", name, max_file_bytes)
        for name in ("id_document", "id_document_back", "selfie")
        if name in files
    ]
    frames = files.get(FRAME_PART, [])
    if not isinstance(frames, list):
        raise UploadRefused(
            422,
            "invalid_request",
            "files/selfie_frames: must be a list",
            problems=[{"path": f"files/{FRAME_PART}", "rule": "type", "detail": "must be array"}],
        )
    if len(frames) > PART_COUNTS[FRAME_PART]:
        check_part_name(FRAME_PART, len(frames))
    declared += [
        _declared(f, f"files/{FRAME_PART}/{n}", f"{FRAME_PART}/{n}", max_file_bytes)
        for n, f in enumerate(frames)
    ]
    return declared
