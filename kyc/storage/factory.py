"""Open the ObjectStore named by a landing URI (``KYC_LANDING``).

``s3://bucket/prefix`` opens an :class:`~kyc.storage.s3.S3Store`; a folder path or a
``file://`` URL opens a :class:`~kyc.storage.local.LocalStore`.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from kyc.storage.base import ObjectStore
from kyc.storage.envelope import Envelope
from kyc.storage.local import LocalStore
from kyc.storage.s3 import S3Store, StoreUnavailable

__all__ = ["StoreUnavailable", "open_store", "parse_s3_uri"]

# A URL scheme followed by "://"; a bare path (even "C:\\x") has none.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/prefix`` into bucket and prefix.

    The prefix is returned as written (possibly empty, not necessarily ending in
    ``/``); :class:`~kyc.storage.s3.S3Store` normalises it. ``?`` and ``#`` are
    ordinary key characters in S3, so they are kept as part of the prefix.

    Args:
        uri: an ``s3://`` URI.

    Returns:
        ``(bucket, prefix)``.

    Raises:
        ValueError: not an ``s3://`` URI, or no bucket name.
    """
    match = _SCHEME.match(uri)
    if match is None or match.group(1).lower() != "s3":
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, prefix = uri[match.end() :].partition("/")
    if not bucket or bucket.strip() != bucket:
        raise ValueError(f"S3 URI has no bucket name: {uri!r} (expected s3://bucket/prefix)")
    return bucket, prefix


def _local_path(uri: str) -> Path:
    match = _SCHEME.match(uri)
    if match is None:
        return Path(uri).expanduser()
    if match.group(1).lower() != "file":
        raise ValueError(
            f"unsupported store URI scheme {match.group(1)!r} in {uri!r}; "
            "use a folder path, file:// or s3://"
        )
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"file:// URI must name a local path, got host {parts.netloc!r}")
    if not parts.path:
        raise ValueError(f"file:// URI has no path: {uri!r}")
    return Path(unquote(parts.path))


def open_store(
    uri: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    envelope: Envelope | None = None,
    kms_key_id: str | None = None,
    require_encryption: bool = False,
) -> ObjectStore:
    """Open the store at ``uri``.

    Args:
        uri: ``s3://bucket/prefix``, ``file:///path`` or a folder path. A local
            folder is created if missing.
        endpoint_url: S3-compatible endpoint (MinIO, moto); ignored for local stores.
        region: AWS region; ignored for local stores.
        envelope: a local store encrypts what it writes with it (envelope encryption).
        kms_key_id: an S3 store writes with SSE-KMS under this key.
        require_encryption: an S3 store refuses a bucket without default encryption.

    Returns:
        An S3Store or a LocalStore.

    Raises:
        ValueError: malformed URI or unsupported scheme.
        StoreUnavailable: the S3 bucket cannot be used (credentials, existence,
            access, endpoint).
    """
    if not uri or not uri.strip():
        raise ValueError("store URI is empty")
    match = _SCHEME.match(uri)
    if match is not None and match.group(1).lower() == "s3":
        bucket, prefix = parse_s3_uri(uri)
        return S3Store(
            bucket,
            prefix,
            endpoint_url=endpoint_url,
            region=region,
            kms_key_id=kms_key_id,
            require_encryption=require_encryption,
        )
    path = _local_path(uri)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ValueError(f"local store root {str(path)!r} exists and is not a folder") from None
    return LocalStore(path, envelope=envelope)
