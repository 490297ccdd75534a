"""ObjectStore port: the landing prefix as a flat key space.

Keys are relative to the store's root (a folder or ``s3://bucket/prefix``) and use
``/`` separators, e.g. ``incoming/app-001/selfie.jpg``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class ObjectNotFound(KeyError):
    """The key does not exist in the store."""


class StoreError(RuntimeError):
    """A store call failed for a reason a later attempt may not have.

    S3 answering 5xx or throttling after the client's own retries, a timeout, a
    dropped connection, an unreachable endpoint (see ``StoreUnavailable``), a
    local read failing with an I/O error. What was asked for is not known to be
    bad: callers must not draw conclusions from it (an application whose images
    cannot be read now is retried, never decided on that).
    """


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object.

    Attributes:
        key: key relative to the store root.
        size: bytes.
        etag: a content fingerprint (S3 ETag; MD5 hex for local files) used to make
            ingestion idempotent.
        last_modified: epoch seconds when the object landed (None if unknown); used
            to report applications that stay incomplete. Not part of equality.
    """

    key: str
    size: int
    etag: str
    last_modified: float | None = field(default=None, compare=False)


@runtime_checkable
class ObjectStore(Protocol):
    """Read/write access to a landing prefix."""

    uri: str

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield every object whose key starts with ``prefix``, in key order."""
        ...

    def get(self, key: str) -> bytes:
        """Return the object's bytes. Raises ObjectNotFound."""
        ...

    def put(self, key: str, data: bytes) -> ObjectInfo:
        """Store bytes under ``key`` (overwriting) and return its info."""
        ...

    def head(self, key: str) -> ObjectInfo:
        """Return the object's info without its body. Raises ObjectNotFound."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        ...
