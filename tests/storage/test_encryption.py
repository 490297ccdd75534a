"""Encryption at rest: local envelopes (master key or KMS), rotation, S3 SSE-KMS (issue 16)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from kyc.storage.envelope import (
    DecryptionFailed,
    Envelope,
    KmsKey,
    MasterKey,
    decode_master_key,
    generate_master_key,
)
from kyc.storage.local import LocalStore
from kyc.storage.s3 import S3Store, StoreUnavailable
from tests.fixtures.s3 import REGION

SECRET = b"PASSPORT P<GBRDOE<<JANE<<<<<<<<<<<<<<<<<<<< 1990-01-31 " * 50


def key() -> MasterKey:
    return MasterKey(decode_master_key(generate_master_key()))


def test_seal_and_open_with_a_data_key_per_object() -> None:
    env = Envelope(key())
    a, b = env.seal(SECRET), env.seal(SECRET)
    assert a != b  # a fresh data key and nonce per object
    assert b"JANE" not in a and env.open(a) == SECRET
    assert env.open(b"plain bytes landed by someone else") == b"plain bytes landed by someone else"


@pytest.mark.parametrize("where", ["body", "etag", "wrapped"])
def test_tampered_objects_do_not_open(where: str) -> None:
    env = Envelope(key())
    blob = bytearray(env.seal(SECRET))
    if where == "body":
        blob[-5] ^= 1
    elif where == "etag":
        i = blob.index(b'"etag": "') + 9
        blob[i] = ord("0") if blob[i] != ord("0") else ord("1")
    else:
        i = blob.index(b'"wrapped": "') + 14
        blob[i] = ord("A") if blob[i] != ord("A") else ord("B")
    with pytest.raises(DecryptionFailed):
        env.open(bytes(blob))


def test_another_key_cannot_open_and_rotation_rewraps_only(tmp_path: Path) -> None:
    old, new = key(), key()
    store = LocalStore(tmp_path, envelope=Envelope(old))
    info = store.put("incoming/a/selfie.jpg", SECRET)
    assert info.etag == hashlib.md5(SECRET).hexdigest()  # as an unencrypted store reports it
    on_disk = (tmp_path / "incoming/a/selfie.jpg").read_bytes()
    assert b"JANE" not in on_disk and b"1990" not in on_disk

    with pytest.raises(DecryptionFailed, match="unknown key"):
        LocalStore(tmp_path, envelope=Envelope(new)).get("incoming/a/selfie.jpg")
    with pytest.raises(DecryptionFailed, match="no key is configured"):
        LocalStore(tmp_path).get("incoming/a/selfie.jpg")

    rotated = LocalStore(tmp_path, envelope=Envelope(new, [old]))
    raw = rotated.get_raw("incoming/a/selfie.jpg")
    again = rotated.envelope.rewrap(raw)  # type: ignore[union-attr]
    assert again is not None and again != raw
    rotated.put_raw("incoming/a/selfie.jpg", again)
    assert rotated.envelope.rewrap(again) is None  # type: ignore[union-attr]
    # the new key alone opens it now, and the ETag (idempotency key) did not move
    fresh = LocalStore(tmp_path, envelope=Envelope(new))
    assert fresh.get("incoming/a/selfie.jpg") == SECRET
    assert [o.etag for o in fresh.list()] == [info.etag]
    assert fresh.head("incoming/a/selfie.jpg").etag == info.etag


def test_kms_wraps_data_keys(aws_env: None, moto_endpoint: str) -> None:
    import boto3

    kms = boto3.client("kms", endpoint_url=moto_endpoint, region_name=REGION)
    key_id = kms.create_key(Description="kyc test")["KeyMetadata"]["KeyId"]
    env = Envelope(KmsKey(key_id, kms))
    blob = env.seal(SECRET)
    assert b"JANE" not in blob and env.open(blob) == SECRET
    # rotation from a local master key to KMS
    local = key()
    sealed_locally = Envelope(local).seal(SECRET)
    moved = Envelope(KmsKey(key_id, kms), [local]).rewrap(sealed_locally)
    assert moved is not None and env.open(moved) == SECRET


def test_s3_refuses_an_unencrypted_bucket_and_writes_with_sse_kms(
    aws_env: None, moto_endpoint: str, s3_client: Any
) -> None:
    import boto3

    plain = "kyc-plain-bucket"
    s3_client.create_bucket(Bucket=plain, CreateBucketConfiguration={"LocationConstraint": REGION})
    with pytest.raises(StoreUnavailable, match="no default encryption"):
        S3Store(plain, endpoint_url=moto_endpoint, region=REGION, require_encryption=True)
    S3Store(plain, endpoint_url=moto_endpoint, region=REGION)  # told to accept it

    kms = boto3.client("kms", endpoint_url=moto_endpoint, region_name=REGION)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    s3_client.put_bucket_encryption(
        Bucket=plain,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    store = S3Store(
        plain, endpoint_url=moto_endpoint, region=REGION, require_encryption=True, kms_key_id=key_id
    )
    store.put("incoming/a/selfie.jpg", SECRET)
    head = s3_client.head_object(Bucket=plain, Key="incoming/a/selfie.jpg")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(key_id)
    assert store.get("incoming/a/selfie.jpg") == SECRET
    s3_client.delete_object(Bucket=plain, Key="incoming/a/selfie.jpg")
    s3_client.delete_bucket(Bucket=plain)


def test_master_keys_must_be_32_random_bytes() -> None:
    with pytest.raises(ValueError, match="32"):
        decode_master_key("c2hvcnQ=")
    with pytest.raises(ValueError, match="base64"):
        decode_master_key("not base64 !!")
