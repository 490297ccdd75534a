"""One contract suite for the ObjectStore port, run over every implementation.

LocalStore runs on a temporary folder, S3Store on moto's S3 server (loopback) with a
fresh bucket and the non-empty prefix ``landing/``. Implementation-specific
behaviour is tested at the end of the file.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kyc.storage.base import ObjectInfo, ObjectNotFound, ObjectStore
from kyc.storage.local import TEMP_PREFIX, LocalStore
from kyc.storage.s3 import S3Store

PREFIX = "landing/"


@dataclass
class StoreCase:
    """A store under test plus a way to write objects next to (outside) its root."""

    store: ObjectStore
    write_outside: Callable[[str, bytes], None]


@pytest.fixture(params=["local", "s3"])
def store_case(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    if request.param == "local":
        root = tmp_path / "landing"
        root.mkdir()

        def write_local(name: str, data: bytes) -> None:
            target = tmp_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

        return StoreCase(LocalStore(root), write_local)

    endpoint: str = request.getfixturevalue("moto_endpoint")
    bucket: str = request.getfixturevalue("s3_bucket")
    client: Any = request.getfixturevalue("s3_client")

    def write_s3(name: str, data: bytes) -> None:
        client.put_object(Bucket=bucket, Key=name, Body=data)

    # Built from the environment (fake credentials), not from the raw client, so the
    # store's own client construction is what is tested.
    return StoreCase(S3Store(bucket, PREFIX, endpoint_url=endpoint), write_s3)


@pytest.fixture
def store(store_case: StoreCase) -> ObjectStore:
    return store_case.store


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def keys(store: ObjectStore, prefix: str = "") -> list[str]:
    return [info.key for info in store.list(prefix)]


BINARY = bytes(range(256)) * 64 + b"\x00\xff\r\n"


def test_is_an_object_store(store: ObjectStore) -> None:
    assert isinstance(store, ObjectStore)
    assert store.uri.startswith(("file://", "s3://"))


def test_put_get_roundtrip_binary(store: ObjectStore) -> None:
    info = store.put("incoming/app-001/selfie.jpg", BINARY)
    assert info == ObjectInfo(key="incoming/app-001/selfie.jpg", size=len(BINARY), etag=md5(BINARY))
    assert store.get("incoming/app-001/selfie.jpg") == BINARY


def test_empty_object(store: ObjectStore) -> None:
    info = store.put("incoming/app-001/empty.json", b"")
    assert info.size == 0
    assert info.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert store.get("incoming/app-001/empty.json") == b""
    assert store.head("incoming/app-001/empty.json") == info


def test_head_matches_put_and_list(store: ObjectStore) -> None:
    put_info = store.put("incoming/app-001/application.json", b'{"a": 1}')
    head_info = store.head("incoming/app-001/application.json")
    assert head_info == put_info
    assert head_info.size == 8
    assert not head_info.etag.startswith('"')
    assert list(store.list("incoming/app-001/")) == [put_info]


def test_list_prefix_in_key_order_relative_and_filtered(store_case: StoreCase) -> None:
    store = store_case.store
    wanted = [
        "incoming/a/x.jpg",
        "incoming/a-b",
        "incoming/a.txt",
        "incoming/a0",
        "incoming/b/c/d/e.png",
        "incoming/b/c.png",
        "incoming/é.jpg",
        "incoming/z.jpg",
    ]
    others = ["incominG/x", "incomin", "processed/a.jpg", "zzz"]
    # Written in scrambled order: listing order must not depend on write order.
    for key in [*reversed(wanted), *others]:
        store.put(key, key.encode())
    # Next to the store's root (another prefix of the bucket / a sibling folder).
    store_case.write_outside("outside/incoming/a.txt", b"not in this store")

    listed = list(store.list("incoming/"))
    assert [info.key for info in listed] == sorted(wanted)
    # Byte order of the UTF-8 keys, as S3 lists them.
    assert [info.key.encode() for info in listed] == sorted(k.encode() for k in wanted)
    for info in listed:
        assert info == ObjectInfo(
            key=info.key, size=len(info.key.encode()), etag=md5(info.key.encode())
        )
    assert keys(store) == sorted([*wanted, *others])


def test_list_partial_segment_prefix(store: ObjectStore) -> None:
    for key in ("incoming/app-001/a.jpg", "incoming/app-002/b.jpg", "incoming/bpp-003/c.jpg"):
        store.put(key, b"x")
    assert keys(store, "incoming/app-0") == ["incoming/app-001/a.jpg", "incoming/app-002/b.jpg"]
    assert keys(store, "incoming/app-001/a") == ["incoming/app-001/a.jpg"]
    assert keys(store, "incoming/app-001/a.jpg") == ["incoming/app-001/a.jpg"]


def test_list_missing_prefix_is_empty(store: ObjectStore) -> None:
    assert keys(store) == []
    assert keys(store, "incoming/") == []
    store.put("incoming/app-001/a.jpg", b"x")
    assert keys(store, "incoming/app-999/") == []
    assert keys(store, "nothing-here") == []
    assert keys(store, "incoming/app-001/a.jpg/") == []


def test_get_and_head_missing_raise_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound) as excinfo:
        store.get("incoming/nope/selfie.jpg")
    assert excinfo.value.args == ("incoming/nope/selfie.jpg",)
    with pytest.raises(ObjectNotFound) as excinfo:
        store.head("incoming/nope/selfie.jpg")
    assert excinfo.value.args == ("incoming/nope/selfie.jpg",)
    # ObjectNotFound is a KeyError, so mapping-style callers can catch that.
    with pytest.raises(KeyError):
        store.get("missing")


def test_a_folder_is_not_an_object(store: ObjectStore) -> None:
    store.put("incoming/app-001/a.jpg", b"x")
    with pytest.raises(ObjectNotFound):
        store.get("incoming/app-001")
    with pytest.raises(ObjectNotFound):
        store.head("incoming/app-001")
    with pytest.raises(ObjectNotFound):
        store.get("incoming/app-001/a.jpg/more")
    store.delete("incoming/app-001")  # not an object: nothing happens
    assert keys(store) == ["incoming/app-001/a.jpg"]


def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.put("incoming/app-001/a.jpg", b"x")
    store.put("incoming/app-001/b.jpg", b"y")
    store.delete("incoming/app-001/a.jpg")
    store.delete("incoming/app-001/a.jpg")
    store.delete("never/existed.jpg")
    with pytest.raises(ObjectNotFound):
        store.get("incoming/app-001/a.jpg")
    with pytest.raises(ObjectNotFound):
        store.head("incoming/app-001/a.jpg")
    assert keys(store) == ["incoming/app-001/b.jpg"]


def test_overwrite_changes_etag_and_content(store: ObjectStore) -> None:
    first = store.put("incoming/app-001/a.jpg", b"first version")
    second = store.put("incoming/app-001/a.jpg", b"second, longer version")
    assert first.etag != second.etag
    assert second == ObjectInfo("incoming/app-001/a.jpg", 22, md5(b"second, longer version"))
    assert store.head("incoming/app-001/a.jpg") == second
    assert list(store.list()) == [second]
    assert store.get("incoming/app-001/a.jpg") == b"second, longer version"
    # Same size, different bytes: the etag must still change.
    third = store.put("incoming/app-001/a.jpg", b"third, longer version!")
    assert third.size == second.size and third.etag != second.etag
    assert store.head("incoming/app-001/a.jpg").etag == third.etag
    assert [info.etag for info in store.list()] == [third.etag]


@pytest.mark.parametrize(
    "key",
    [
        "incoming/app 001/selfie photo.jpg",
        "incoming/Zoë Ñandú/東京 ☃.png",
        "incoming/a+b=c&d%20e?f#g/x;y,z@~'.jpg",
        "incoming/😀/emoji.jpg",
    ],
)
def test_keys_with_spaces_unicode_and_punctuation(store: ObjectStore, key: str) -> None:
    info = store.put(key, b"content")
    assert info.key == key
    assert store.get(key) == b"content"
    assert store.head(key) == info
    assert keys(store) == [key]
    assert keys(store, key.rsplit("/", 1)[0] + "/") == [key]
    store.delete(key)
    assert keys(store) == []


@pytest.mark.parametrize(
    "key",
    ["", "/abs/x.jpg", "../x", "a/../../x", "a/./b", "a//b", "a/", ".", "a\\..\\b", "a\x00b"],
)
def test_malformed_keys_are_rejected(store: ObjectStore, key: str) -> None:
    for operation in (
        lambda: store.put(key, b"x"),
        lambda: store.get(key),
        lambda: store.head(key),
        lambda: store.delete(key),
    ):
        with pytest.raises(ValueError):
            operation()
    assert keys(store) == []


# -- LocalStore specifics ---------------------------------------------------------------


def test_local_refuses_escape_from_root(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "root")
    with pytest.raises(ValueError, match=re.escape("'..'")):
        store.put("../x", b"escaped")
    with pytest.raises(ValueError, match="relative"):
        store.put(str(tmp_path / "abs"), b"escaped")
    assert not (tmp_path / "x").exists()
    assert not (tmp_path / "abs").exists()


def test_local_list_skips_temp_files_dirs_and_symlinks(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("incoming/a/x.jpg", b"x")
    (tmp_path / "incoming" / "a" / f"{TEMP_PREFIX}abc").write_bytes(b"half")
    (tmp_path / "incoming" / "empty-folder").mkdir()
    (tmp_path / "incoming" / "link").symlink_to(tmp_path / "incoming" / "a")
    assert keys(store) == ["incoming/a/x.jpg"]
    with pytest.raises(ValueError, match="reserved"):
        store.put(f"incoming/{TEMP_PREFIX}x", b"x")


def test_local_uri_and_missing_root(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "not yet")
    assert store.uri == (tmp_path / "not yet").as_uri()
    assert keys(store) == []
    store.put("a/b.txt", b"x")
    assert (tmp_path / "not yet" / "a" / "b.txt").read_bytes() == b"x"
    assert not [p for p in (tmp_path / "not yet" / "a").iterdir() if p.name != "b.txt"]


def test_local_object_and_folder_cannot_share_a_key(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("a/b", b"x")
    with pytest.raises(ValueError, match="other objects"):
        store.put("a", b"y")
    store.put("c", b"x")
    with pytest.raises(ValueError, match="already an object"):
        store.put("c/d", b"y")
    assert keys(store) == ["a/b", "c"]


def test_local_etags_are_cached_and_invalidated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kyc.storage.local as local_module

    reads: list[Path] = []
    real_md5_file = local_module._md5_file

    def counting_md5_file(path: Path) -> str:
        reads.append(path)
        return real_md5_file(path)

    monkeypatch.setattr(local_module, "_md5_file", counting_md5_file)
    for i in range(5):
        path = tmp_path / "incoming" / f"{i}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(bytes([i]) * 10)

    store = LocalStore(tmp_path)
    first = list(store.list())
    assert len(reads) == 5
    assert [info.etag for info in first] == [md5(bytes([i]) * 10) for i in range(5)]
    assert list(store.list()) == first
    store.head("incoming/0.bin")
    assert len(reads) == 5  # served from the cache

    # An in-place rewrite by another process: same size, same inode, new mtime.
    changed = tmp_path / "incoming" / "3.bin"
    stat_before = changed.stat()
    with changed.open("r+b") as handle:
        handle.write(b"\x99" * 10)
    os.utime(changed, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns + 1_000_000))
    again = {info.key: info.etag for info in store.list()}
    assert len(reads) == 6
    assert again["incoming/3.bin"] == md5(b"\x99" * 10)

    # put() knows the etag of what it wrote: no re-read afterwards.
    store.put("incoming/new.bin", b"new")
    assert store.head("incoming/new.bin").etag == md5(b"new")
    assert len(reads) == 6


def test_local_concurrent_reader_never_sees_partial_content(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    versions = [bytes([v]) * (1 << 20) for v in (1, 2)]
    store.put("big.bin", versions[0])
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(40):
                store.put("big.bin", versions[i % 2])
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)
        finally:
            stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reads = 0
    while not stop.is_set() or reads == 0:
        assert store.get("big.bin") in versions
        reads += 1
    thread.join()
    assert not errors
    assert reads > 0
    assert keys(store) == ["big.bin"]  # no temp files left behind


# -- S3Store specifics ------------------------------------------------------------------


def test_s3_prefix_is_normalised_and_keys_are_relative(
    s3_bucket: str, s3_client: Any, moto_endpoint: str
) -> None:
    store = S3Store(s3_bucket, "landing", endpoint_url=moto_endpoint)
    assert store.prefix == "landing/"
    assert store.uri == f"s3://{s3_bucket}/landing/"
    store.put("incoming/a.jpg", b"x")
    objects = s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert [o["Key"] for o in objects] == ["landing/incoming/a.jpg"]

    whole_bucket = S3Store(s3_bucket, endpoint_url=moto_endpoint)
    assert whole_bucket.uri == f"s3://{s3_bucket}/"
    assert keys(whole_bucket) == ["landing/incoming/a.jpg"]


def test_s3_skips_folder_markers(s3_bucket: str, s3_client: Any, moto_endpoint: str) -> None:
    store = S3Store(s3_bucket, PREFIX, endpoint_url=moto_endpoint)
    # What the AWS console's "Create folder" leaves behind.
    s3_client.put_object(Bucket=s3_bucket, Key="landing/incoming/", Body=b"")
    store.put("incoming/a.jpg", b"x")
    assert keys(store) == ["incoming/a.jpg"]


class _SmallPages:
    """A boto3 client stand-in that forwards everything but lists two keys a page."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.pages = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_paginator(self, operation: str) -> Any:
        real = self._client.get_paginator(operation)
        outer = self

        class Paginator:
            def paginate(self, **kwargs: Any) -> Any:
                for page in real.paginate(**kwargs, PaginationConfig={"PageSize": 2}):
                    outer.pages += 1
                    yield page

        return Paginator()


def test_s3_lists_across_pages(s3_bucket: str, s3_client: Any) -> None:
    client = _SmallPages(s3_client)
    store = S3Store(s3_bucket, PREFIX, client=client)
    wanted = [f"incoming/{i}.json" for i in range(5)]
    for key in reversed(wanted):
        store.put(key, b"{}")
    assert keys(store, "incoming/") == wanted
    assert client.pages == 3
