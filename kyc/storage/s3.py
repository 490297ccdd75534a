"""S3Store: the ObjectStore port over an S3 (or S3-compatible) bucket and prefix.

boto3 is imported when a store is built, never at module import, so ``kyc`` imports
and runs on the local store without any AWS configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from kyc.storage.base import ObjectInfo, ObjectNotFound, StoreError
from kyc.storage.local import validate_key

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Error codes that mean "the bucket itself cannot be used", not "this object".
_UNAVAILABLE_CODES = {"NoSuchBucket", "AccessDenied", "AllAccessDisabled", "403"}
#: Error codes of a missing object (HEAD responses carry no body, hence "404").
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}
#: Error codes of a busy or failing service (besides any HTTP 5xx): try again later.
_TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "Throttling",
    "ThrottlingException",
}


class StoreUnavailable(StoreError):
    """The store cannot be used at all.

    No credentials, no such bucket, no access, or an unreachable endpoint. Raised
    instead of botocore's exceptions so callers can report a configuration problem
    without importing botocore.
    """


def _strip_etag(etag: str) -> str:
    # S3 returns the ETag as a quoted string ("d41d8..."); callers compare bare hex.
    return etag.strip('"')


class S3Store:
    """ObjectStore over ``s3://bucket/prefix``.

    Keys given to the store are relative to ``prefix``: with the prefix
    ``landing/``, key ``incoming/a/x.jpg`` is the S3 object
    ``landing/incoming/a/x.jpg``. ETags are S3's, without the quotes (the MD5 hex
    of the content for a single-part, non-KMS upload).

    Attributes:
        bucket: bucket name.
        prefix: key prefix inside the bucket, empty or ending with ``/``.
        uri: ``s3://bucket/prefix``.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any | None = None,
        verify: bool = True,
        kms_key_id: str | None = None,
        require_encryption: bool = False,
    ) -> None:
        """Connect to the bucket.

        Args:
            bucket: bucket name.
            prefix: folder inside the bucket; a trailing ``/`` is added if missing.
            endpoint_url: S3-compatible endpoint (MinIO, moto); None for AWS.
            region: AWS region; None to use boto3's default chain.
            client: a ready boto3 S3 client (then endpoint_url/region are ignored).
            verify: check at once that the bucket exists and the credentials work
                (``HeadBucket``), so misconfiguration fails here with a clear
                message. Turn off for credentials scoped to a prefix that may not
                call HeadBucket.
            kms_key_id: objects this store writes are encrypted with SSE-KMS under
                this key (None: the bucket's default encryption applies).
            require_encryption: (with ``verify``) refuse a bucket without default
                encryption: objects landed by others would sit there unencrypted.

        Raises:
            ValueError: empty bucket name or a malformed prefix.
            StoreUnavailable: (with ``verify``) missing credentials, missing bucket,
                access denied or unreachable endpoint.
        """
        if not bucket or "/" in bucket or bucket.strip() != bucket:
            raise ValueError(f"invalid S3 bucket name: {bucket!r}")
        prefix = prefix.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        if prefix:
            validate_key(prefix.rstrip("/"))
        self.bucket = bucket
        self.prefix = prefix
        self.uri = f"s3://{bucket}/{prefix}"
        if client is None:
            import boto3
            from botocore.config import Config

            # Bounded timeouts and retries: a wrong endpoint must fail in seconds,
            # not hang a flow run.
            config = Config(
                connect_timeout=10,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
            )
            # A session of its own, not boto3's process-wide default: that one caches
            # the first credentials it resolved and is not safe to share across
            # threads while clients are being created.
            session = boto3.session.Session(region_name=region)
            client = session.client("s3", endpoint_url=endpoint_url, config=config)
        self._client = client
        self.kms_key_id = kms_key_id
        if verify:
            self._call(lambda: self._client.head_bucket(Bucket=bucket))
            if require_encryption:
                self._check_default_encryption()

    def _check_default_encryption(self) -> None:
        """Refuse a bucket whose objects are not encrypted by default."""
        from botocore.exceptions import ClientError

        try:
            config = self._call(lambda: self._client.get_bucket_encryption(Bucket=self.bucket))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            raise StoreUnavailable(
                f"S3 bucket {self.bucket!r} has no default encryption: set SSE-KMS on it"
                " (deployments/aws does), or KYC_S3_REQUIRE_ENCRYPTION=false to accept it"
            ) from exc
        rules = config.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        algorithms = {
            r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules
        }
        if not algorithms & {"aws:kms", "aws:kms:dsse", "AES256"}:
            raise StoreUnavailable(f"S3 bucket {self.bucket!r} has no default encryption rule")

    def __repr__(self) -> str:
        return f"S3Store({self.uri!r})"

    # -- helpers ---------------------------------------------------------------------

    def _call(self, operation: Callable[[], _T], key: str | None = None) -> _T:
        """Run one S3 call, translating botocore errors into the port's exceptions."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        try:
            return operation()
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise StoreUnavailable(
                f"no usable AWS credentials for {self.uri} ({exc}); set AWS_PROFILE or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use an instance role"
            ) from exc
        except EndpointConnectionError as exc:
            raise StoreUnavailable(f"cannot reach the S3 endpoint for {self.uri}: {exc}") from exc
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if key is not None and code in _NOT_FOUND_CODES:
                raise ObjectNotFound(key) from None
            if code in _UNAVAILABLE_CODES or (key is None and code in _NOT_FOUND_CODES):
                reason = {
                    "NoSuchBucket": "the bucket does not exist",
                    "404": "the bucket does not exist",
                    "NotFound": "the bucket does not exist",
                }.get(code, "access denied")
                raise StoreUnavailable(
                    f"S3 bucket {self.bucket!r} is unavailable: {reason} ({code})"
                ) from exc
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if status >= 500 or code in _TRANSIENT_CODES:
                # Still failing after botocore's own retries: the caller decides
                # whether to retry later; nothing is known about the object itself.
                raise StoreError(
                    f"S3 {self.uri} answered {status or code} ({code})"
                    + (f" for {key}" if key is not None else "")
                ) from exc
            raise
        except BotoCoreError as exc:
            raise StoreUnavailable(f"S3 store {self.uri} failed: {exc}") from exc

    def _full_key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    # -- ObjectStore ------------------------------------------------------------------

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield every object whose key starts with ``prefix``, in key order.

        S3 lists keys in UTF-8 byte order, which is the order of the keys relative
        to the store's prefix too. Zero-byte "folder markers" (keys ending in ``/``,
        created by the AWS console) are skipped: they are not objects of this port.

        Args:
            prefix: plain string prefix of the keys (need not end at a ``/``).

        Yields:
            ObjectInfo with keys relative to the store's prefix.

        Raises:
            StoreUnavailable: the bucket cannot be listed.
        """
        paginator = self._client.get_paginator("list_objects_v2")
        pages = self._call(
            lambda: iter(paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix))
        )
        cut = len(self.prefix)
        while True:
            page = self._call(lambda: next(pages, None))
            if page is None:
                return
            for item in page.get("Contents", []):
                full_key: str = item["Key"]
                if full_key.endswith("/"):
                    continue
                modified = item.get("LastModified")
                yield ObjectInfo(
                    key=full_key[cut:],
                    size=int(item["Size"]),
                    etag=_strip_etag(item["ETag"]),
                    last_modified=modified.timestamp() if modified is not None else None,
                )

    def get(self, key: str) -> bytes:
        """Return the object's bytes.

        Args:
            key: object key relative to the store's prefix.

        Returns:
            The whole content.

        Raises:
            ObjectNotFound: no object has this key.
            ValueError: the key is malformed.
            StoreUnavailable: the bucket cannot be used.
        """
        full_key = self._full_key(key)

        def read() -> bytes:
            response = self._client.get_object(Bucket=self.bucket, Key=full_key)
            with response["Body"] as body:
                data: bytes = body.read()
            return data

        return self._call(read, key)

    def put(self, key: str, data: bytes) -> ObjectInfo:
        """Store ``data`` under ``key`` (overwriting) with one PutObject call.

        Args:
            key: object key relative to the store's prefix.
            data: the content.

        Returns:
            The stored object's info.

        Raises:
            ValueError: the key is malformed.
            StoreUnavailable: the bucket cannot be used.
        """
        full_key = self._full_key(key)
        extra: dict[str, str] = {}
        if self.kms_key_id:
            # Our own uploads (intake) under our key, whatever the bucket default is.
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        response = self._call(
            lambda: self._client.put_object(Bucket=self.bucket, Key=full_key, Body=data, **extra)
        )
        return ObjectInfo(key=key, size=len(data), etag=_strip_etag(response["ETag"]))

    def presign_put(
        self, key: str, *, content_type: str, content_length: int, expires_seconds: int
    ) -> str:
        """A URL that lets its holder PUT this one object until it expires (no credentials).

        Content-Type and Content-Length are part of the signature (SigV4 signed
        headers): S3 refuses a PUT whose type or length differs, so a size checked
        when the URL was made is enforced by S3 itself. Not part of the ObjectStore
        port: only an S3 landing can hand out such URLs.

        Raises:
            ValueError: the key is malformed.
        """
        full_key = self._full_key(key)
        url: str = self._call(
            lambda: self._client.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": full_key,
                    "ContentType": content_type,
                    "ContentLength": content_length,
                },
                ExpiresIn=expires_seconds,
                HttpMethod="PUT",
            ),
            key,
        )
        return url

    def head(self, key: str) -> ObjectInfo:
        """Return the object's info without its body.

        Args:
            key: object key relative to the store's prefix.

        Returns:
            Key, size and etag.

        Raises:
            ObjectNotFound: no object has this key.
            ValueError: the key is malformed.
            StoreUnavailable: the bucket cannot be used.
        """
        full_key = self._full_key(key)
        response = self._call(
            lambda: self._client.head_object(Bucket=self.bucket, Key=full_key), key
        )
        modified = response.get("LastModified")
        return ObjectInfo(
            key=key,
            size=int(response["ContentLength"]),
            etag=_strip_etag(response["ETag"]),
            last_modified=modified.timestamp() if modified is not None else None,
        )

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error (as in S3).

        Args:
            key: object key relative to the store's prefix.

        Raises:
            ValueError: the key is malformed.
            StoreUnavailable: the bucket cannot be used.
        """
        full_key = self._full_key(key)
        self._call(lambda: self._client.delete_object(Bucket=self.bucket, Key=full_key))
