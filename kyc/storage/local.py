"""LocalStore: the ObjectStore port over a folder on the local filesystem.

The default landing store. Keys map to files below the root (``incoming/a/x.jpg`` is
``<root>/incoming/a/x.jpg``); directories are only an artefact of the mapping and are
never listed as objects, just as S3 has no folders.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import os
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from kyc.storage.base import ObjectInfo, ObjectNotFound
from kyc.storage.envelope import MAGIC, DecryptionFailed, Envelope, is_encrypted, read_header

logger = logging.getLogger(__name__)

#: Name prefix of the temporary files that :meth:`LocalStore.put` writes before the
#: atomic rename. ``list`` skips them and keys may not use it, so a half-written
#: upload (or one left behind by a crash) is never taken for an object.
TEMP_PREFIX = ".kyc-tmp-"

_HASH_CHUNK = 1 << 20


def validate_key(key: str) -> str:
    """Check that ``key`` is a canonical, relative, ``/``-separated object key.

    Both stores apply the same rules so that a key accepted by one is accepted by
    the other (and maps to exactly one file for LocalStore).

    Args:
        key: the key to check.

    Returns:
        The key, unchanged.

    Raises:
        ValueError: the key is empty, absolute, has empty, ``.`` or ``..`` segments,
            contains a backslash or NUL, or uses the reserved temporary-file prefix.
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"object key must be a non-empty string, got {key!r}")
    if key.startswith("/"):
        raise ValueError(f"object key must be relative, got {key!r}")
    # Backslashes are path separators on Windows and a classic traversal trick.
    if "\\" in key or "\x00" in key:
        raise ValueError(f"object key may not contain a backslash or NUL: {key!r}")
    segments = key.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise ValueError(f"object key may not contain empty, '.' or '..' segments: {key!r}")
    if segments[-1].startswith(TEMP_PREFIX):
        raise ValueError(f"object key uses the reserved prefix {TEMP_PREFIX!r}: {key!r}")
    return key


def _md5_file(path: Path) -> str:
    """The object's ETag: MD5 of the content, read in chunks.

    An encrypted object (:mod:`kyc.storage.envelope`) carries the MD5 of its
    plaintext in its header: that is its ETag, so rotating keys (which rewrites the
    file) keeps the idempotency key of the application it belongs to.
    """
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        first = handle.read(_HASH_CHUNK)
        if is_encrypted(first):
            try:
                return read_header(first)[0].etag
            except DecryptionFailed:
                pass  # not ours after all: an ordinary file that starts like one
        digest.update(first)
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class LocalStore:
    """ObjectStore over a local folder.

    ETags are the MD5 hex digest of the content, as S3 gives for a single-part
    upload (without the quotes). They are cached in memory keyed by the file's
    path, size, mtime and inode, so listing a large landing folder does not re-read
    every file; any rewrite (``put`` always creates a new inode) invalidates the
    entry.

    Symbolic links below the root are not followed when listing (a link cycle
    or a link out of the landing folder must not change what is ingested).

    Attributes:
        root: the absolute folder that holds the objects.
        uri: ``file://`` URL of the root; ``open_store(store.uri)`` reopens it.
    """

    def __init__(self, root: Path | str, *, envelope: Envelope | None = None) -> None:
        """Open the store rooted at ``root`` (the folder need not exist yet).

        Args:
            root: folder holding the objects; created on the first ``put``.
            envelope: encrypt what ``put`` writes (and open encrypted objects on
                ``get``); None stores plain bytes. Unencrypted objects are always
                read as they are.
        """
        self.envelope = envelope
        self.root = Path(root).expanduser().resolve()
        self.uri = self.root.as_uri()
        # path -> ((size, mtime_ns, inode), etag)
        self._etags: dict[str, tuple[tuple[int, int, int], str]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # -- helpers ---------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def _etag(self, path: Path, st: os.stat_result) -> str:
        signature = (st.st_size, st.st_mtime_ns, st.st_ino)
        cache_key = str(path)
        with self._lock:
            cached = self._etags.get(cache_key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        etag = _md5_file(path)
        with self._lock:
            self._etags[cache_key] = (signature, etag)
        return etag

    def _stat_file(self, key: str, path: Path) -> os.stat_result:
        """Stat ``path`` as an object: a missing file or a directory is not one."""
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        if not stat.S_ISREG(st.st_mode):
            raise ObjectNotFound(key)
        return st

    # -- ObjectStore ------------------------------------------------------------------

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield every object whose key starts with ``prefix``, in key order.

        The order is that of S3 (code point order of the whole key, the same as
        UTF-8 byte order): within a folder, entries are sorted by name with a ``/``
        appended to sub-folder names, so ``a.txt`` comes before ``a/b``.

        Args:
            prefix: plain string prefix of the keys (need not end at a ``/``).

        Yields:
            ObjectInfo of each regular file, skipping directories, symbolic links and
            temporary files of unfinished writes.
        """
        yield from self._walk(self.root, "", prefix)

    def symlinks(self, prefix: str = "") -> builtins.list[str]:
        """Keys of the symbolic links under ``prefix`` (``list`` never follows them).

        So that a linked application folder or file can be reported instead of
        silently ignored.
        """
        found: builtins.list[str] = []
        stack = [(self.root, "")]
        while stack:
            folder, key_prefix = stack.pop()
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        key = key_prefix + entry.name
                        if not (key.startswith(prefix) or prefix.startswith(key + "/")):
                            continue
                        if entry.is_symlink():
                            found.append(key)
                        elif entry.is_dir(follow_symlinks=False):
                            stack.append((Path(entry.path), key + "/"))
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                continue
        return sorted(found)

    def _walk(self, folder: Path, key_prefix: str, prefix: str) -> Iterator[ObjectInfo]:
        try:
            with os.scandir(folder) as entries:
                listed = []
                for entry in entries:
                    if entry.name.startswith(TEMP_PREFIX) or entry.is_symlink():
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        listed.append((key_prefix + entry.name + "/", entry, True))
                    elif entry.is_file(follow_symlinks=False):
                        listed.append((key_prefix + entry.name, entry, False))
        except (FileNotFoundError, NotADirectoryError):
            return  # a missing root (or a folder removed meanwhile) holds no objects
        listed.sort(key=lambda item: item[0])
        for key, entry, is_dir in listed:
            if is_dir:
                # Descend only where the prefix can still match below.
                if key.startswith(prefix) or prefix.startswith(key):
                    yield from self._walk(Path(entry.path), key, prefix)
                continue
            if not key.startswith(prefix):
                continue
            path = Path(entry.path)
            try:
                st = entry.stat(follow_symlinks=False)
                etag = self._etag(path, st)
            except FileNotFoundError:
                continue  # deleted between scandir and stat: no longer an object
            yield ObjectInfo(key=key, size=st.st_size, etag=etag, last_modified=st.st_mtime)

    def get(self, key: str) -> bytes:
        """Return the object's bytes.

        Args:
            key: object key.

        Returns:
            The whole content.

        Raises:
            ObjectNotFound: no object has this key.
            ValueError: the key is malformed (see :func:`validate_key`).
        """
        path = self._path(key)
        try:
            blob = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key) from None
        if not blob.startswith(MAGIC):
            return blob
        if self.envelope is None:
            raise DecryptionFailed(
                f"{key} is encrypted and no key is configured (KYC_STORE_MASTER_KEY)"
            )
        return self.envelope.open(blob)

    def get_raw(self, key: str) -> bytes:
        """The stored bytes as they are on disk (key rotation reads these)."""
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key) from None

    def put(self, key: str, data: bytes) -> ObjectInfo:
        """Store ``data`` under ``key`` atomically, overwriting any previous object.

        The bytes go to a temporary file in the target folder which is then renamed
        over the target, so a concurrent reader sees either the old or the new
        content, never part of it.

        Args:
            key: object key.
            data: the content.

        Returns:
            The stored object's info.

        Raises:
            ValueError: the key is malformed, or it collides with the folder of other
                objects (``a`` when ``a/b`` exists) or runs through an existing object
                (``a/b`` when ``a`` exists), which a filesystem cannot represent.
        """
        stored = self.envelope.seal(data) if self.envelope is not None else data
        info = self.put_raw(key, stored)
        return ObjectInfo(
            key=key, size=info.size, etag=hashlib.md5(data, usedforsecurity=False).hexdigest()
        )

    def put_raw(self, key: str, data: bytes) -> ObjectInfo:
        """Write bytes exactly as given (already sealed, or plain); atomic like :meth:`put`."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ValueError(f"cannot store {key!r}: a parent of it is already an object") from None
        if path.is_dir():
            raise ValueError(f"cannot store {key!r}: other objects live under this key")
        tmp = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
        try:
            with tmp.open("xb") as handle:
                handle.write(data)
                handle.flush()
                # The rename must not be persisted before the bytes it points at.
                os.fsync(handle.fileno())
                st = os.fstat(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        etag = (
            read_header(data)[0].etag
            if is_encrypted(data)
            else hashlib.md5(data, usedforsecurity=False).hexdigest()
        )
        with self._lock:
            self._etags[str(path)] = ((st.st_size, st.st_mtime_ns, st.st_ino), etag)
        return ObjectInfo(key=key, size=len(data), etag=etag)

    def head(self, key: str) -> ObjectInfo:
        """Return the object's info without reading it (unless its etag is unknown).

        Args:
            key: object key.

        Returns:
            Key, size and etag.

        Raises:
            ObjectNotFound: no object has this key.
            ValueError: the key is malformed.
        """
        path = self._path(key)
        st = self._stat_file(key, path)
        try:
            etag = self._etag(path, st)
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectNotFound(key) from None
        return ObjectInfo(key=key, size=st.st_size, etag=etag, last_modified=st.st_mtime)

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error.

        Emptied folders are left in place: removing them could race with a
        concurrent ``put`` into the same folder, and listing ignores them anyway.

        Args:
            key: object key.

        Raises:
            ValueError: the key is malformed.
        """
        path = self._path(key)
        try:
            if path.is_dir() and not path.is_symlink():
                return  # a "folder" is not an object, so there is nothing to delete
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            pass
        with self._lock:
            self._etags.pop(str(path), None)
