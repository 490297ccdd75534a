"""open_store / parse_s3_uri, and S3Store's errors when the store is unusable."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from kyc.storage import factory, s3
from kyc.storage.base import ObjectNotFound
from kyc.storage.factory import StoreUnavailable, open_store, parse_s3_uri
from kyc.storage.local import LocalStore
from kyc.storage.s3 import S3Store


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket/landing", ("bucket", "landing")),
        ("s3://my.bucket-1/landing/incoming/", ("my.bucket-1", "landing/incoming/")),
        ("S3://bucket/a b/é?x#y", ("bucket", "a b/é?x#y")),
    ],
)
def test_parse_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize(
    "uri", ["s3://", "s3:///landing", "s3:// bucket/x", "s3:/bucket/x", "bucket/x", "gs://b/x", ""]
)
def test_parse_s3_uri_rejects_malformed(uri: str) -> None:
    with pytest.raises(ValueError, match=r"s3://|bucket"):
        parse_s3_uri(uri)


def test_open_store_path_creates_folder(tmp_path: Path) -> None:
    root = tmp_path / "var" / "landing"
    store = open_store(str(root))
    assert isinstance(store, LocalStore)
    assert root.is_dir()
    assert store.root == root.resolve()
    store.put("incoming/a.json", b"{}")
    assert (root / "incoming" / "a.json").read_bytes() == b"{}"


def test_open_store_file_url_and_uri_roundtrip(tmp_path: Path) -> None:
    root = tmp_path / "with space é"
    store = open_store(root.as_uri())
    assert isinstance(store, LocalStore)
    assert store.root == root.resolve()
    assert root.is_dir()
    store.put("x.txt", b"1")
    reopened = open_store(store.uri)
    assert isinstance(reopened, LocalStore)
    assert reopened.root == store.root
    assert reopened.get("x.txt") == b"1"
    assert isinstance(open_store(f"file://localhost{root}"), LocalStore)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("gs://bucket/x", "unsupported"),
        ("http://example.invalid/x", "unsupported"),
        ("file://otherhost/x", "host"),
        ("file://", "no path"),
        ("", "empty"),
        ("s3:///x", "bucket"),
    ],
)
def test_open_store_rejects_bad_uris(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(uri)


def test_open_store_path_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        open_store(str(target))


def test_open_store_s3(s3_bucket: str, moto_endpoint: str) -> None:
    store = open_store(f"s3://{s3_bucket}/landing", endpoint_url=moto_endpoint, region="eu-west-2")
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix) == (s3_bucket, "landing/")
    assert store.uri == f"s3://{s3_bucket}/landing/"
    store.put("incoming/a.json", b"{}")
    assert [info.key for info in store.list()] == ["incoming/a.json"]


def test_missing_bucket_is_store_unavailable(aws_env: None, moto_endpoint: str) -> None:
    with pytest.raises(StoreUnavailable, match="kyc-no-such-bucket") as excinfo:
        S3Store("kyc-no-such-bucket", "landing/", endpoint_url=moto_endpoint)
    assert "does not exist" in str(excinfo.value)
    assert isinstance(excinfo.value, RuntimeError)
    with pytest.raises(StoreUnavailable, match="kyc-no-such-bucket"):
        open_store("s3://kyc-no-such-bucket/landing/", endpoint_url=moto_endpoint)


def test_bucket_removed_later_is_store_unavailable(s3_client: Any, moto_endpoint: str) -> None:
    bucket = f"kyc-short-lived-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    store = S3Store(bucket, "landing/", endpoint_url=moto_endpoint)
    s3_client.delete_bucket(Bucket=bucket)
    with pytest.raises(StoreUnavailable, match=bucket):
        list(store.list())
    with pytest.raises(StoreUnavailable, match=bucket):
        store.get("a.json")
    with pytest.raises(StoreUnavailable, match=bucket):
        store.put("a.json", b"{}")
    with pytest.raises(StoreUnavailable, match=bucket):
        store.delete("a.json")


def test_missing_credentials_is_store_unavailable(
    aws_env: None, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    with pytest.raises(StoreUnavailable, match="credentials"):
        S3Store("any-bucket", endpoint_url=moto_endpoint, region="eu-west-2")


def test_unreachable_endpoint_is_store_unavailable(aws_env: None) -> None:
    import socket

    # A loopback port nobody listens on: bind, read the port, close.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    import boto3
    from botocore.config import Config

    # The store's own client retries with backoff (seconds); one attempt is enough
    # to check how the failure is reported.
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="eu-west-2",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(StoreUnavailable, match="endpoint"):
        S3Store("any-bucket", client=client)


def test_s3store_rejects_empty_bucket() -> None:
    with pytest.raises(ValueError, match="bucket"):
        S3Store("", client=object(), verify=False)


def test_store_unavailable_is_reexported() -> None:
    assert factory.StoreUnavailable is s3.StoreUnavailable


def test_importing_storage_needs_no_boto3() -> None:
    code = (
        "import sys, kyc.storage.factory; "
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    ("code", "status"),
    [("InternalError", 500), ("ServiceUnavailable", 503), ("SlowDown", 503), ("Weird", 502)],
)
def test_s3_failing_after_its_retries_is_a_store_error(
    aws_env: None, code: str, status: int
) -> None:
    """5xx / throttling: a StoreError (retry later), never a fact about the object."""
    import boto3
    from botocore.stub import Stubber

    from kyc.storage.base import StoreError

    client = boto3.client("s3", region_name="eu-west-2")
    store = S3Store("bucket", "landing", client=client, verify=False)
    with Stubber(client) as stub:
        stub.add_client_error("get_object", code, http_status_code=status)
        with pytest.raises(StoreError, match=code):
            store.get("incoming/a/selfie.jpg")
        stub.add_client_error("get_object", "NoSuchKey", http_status_code=404)
        with pytest.raises(ObjectNotFound):
            store.get("incoming/a/selfie.jpg")
