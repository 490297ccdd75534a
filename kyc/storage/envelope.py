r"""Envelope encryption of objects the project writes to a local store.

Each object gets its own random 256-bit data key; the content is sealed with
AES-256-GCM under it, and the data key is wrapped by a key-encryption key (KEK):
a master key from the settings (``KYC_STORE_MASTER_KEY``, AES-256-GCM key wrap)
or an AWS KMS key (``KYC_KMS_KEY_ID``: GenerateDataKey / Decrypt). Rotation
(``kyc keys rotate``) re-wraps the data keys under the current KEK and leaves the
sealed content as it is.

On disk an object is::

    b"KYCENC1\n" | uint32 header length | header (JSON) | nonce + ciphertext + tag

The header names the KEK, carries the wrapped data key, and the MD5 of the
plaintext: the store's ETag of an encrypted object, so that the pipeline's
idempotency key (object ETags) does not change when keys are rotated. The ETag is
authenticated as the content's GCM associated data, and the wrapped key by its KEK:
editing either breaks decryption.

Objects landed by others (DataSync, a client's SFTP drop) carry no header and are
read as they are.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"KYCENC1\n"
_LEN = struct.Struct(">I")
#: Longest header accepted (a KMS ciphertext blob is a few hundred bytes).
MAX_HEADER = 16 * 1024


class DecryptionFailed(ValueError):
    """An encrypted object cannot be opened: unknown KEK, wrong key, or tampered bytes."""


class KeyWrapper(Protocol):
    """A key-encryption key: wraps and unwraps 32-byte data keys."""

    #: Stable id written in each object's header (``local:<hash>`` or ``kms:<key id>``).
    kek_id: str

    def new_data_key(self) -> tuple[bytes, bytes]:
        """A fresh data key and its wrapped form."""
        ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """The data key inside ``wrapped``."""
        ...


def decode_master_key(text: str) -> bytes:
    """A master key from its base64 form (``kyc keys generate`` prints one).

    Raises:
        ValueError: not base64 of exactly 32 bytes.
    """
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise ValueError("a master key is base64 of 32 random bytes") from exc
    if len(key) != 32:
        raise ValueError("a master key is base64 of 32 random bytes")
    return key


def generate_master_key() -> str:
    """A new random master key, base64."""
    return base64.b64encode(os.urandom(32)).decode()


class MasterKey:
    """A KEK held in the settings: data keys wrapped with AES-256-GCM."""

    def __init__(self, key: bytes) -> None:
        """Use ``key`` (32 bytes) as the KEK."""
        if len(key) != 32:
            raise ValueError("a master key has 32 bytes")
        self._aead = AESGCM(key)
        # An id that names the key without revealing it (rotation finds old objects).
        self.kek_id = "local:" + hashlib.sha256(b"kyc-kek\0" + key).hexdigest()[:16]

    def new_data_key(self) -> tuple[bytes, bytes]:
        """A fresh data key and its wrapped form (nonce + sealed key)."""
        data_key = os.urandom(32)
        return data_key, self.wrap(data_key)

    def wrap(self, data_key: bytes) -> bytes:
        """Seal a data key under this KEK."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data_key, self.kek_id.encode())

    def unwrap(self, wrapped: bytes) -> bytes:
        """Open a wrapped data key."""
        try:
            return self._aead.decrypt(wrapped[:12], wrapped[12:], self.kek_id.encode())
        except InvalidTag as exc:
            raise DecryptionFailed("the data key does not open with this master key") from exc


class KmsKey:
    """A KEK in AWS KMS (GenerateDataKey / Decrypt; the key never leaves KMS)."""

    def __init__(self, key_id: str, client: Any) -> None:
        """Use the KMS key ``key_id`` through a boto3 KMS client."""
        self.key_id = key_id
        self.kek_id = f"kms:{key_id}"
        self._client = client

    def new_data_key(self) -> tuple[bytes, bytes]:
        """A data key from KMS, plaintext and wrapped (its CiphertextBlob)."""
        out = self._client.generate_data_key(KeyId=self.key_id, KeySpec="AES_256")
        return bytes(out["Plaintext"]), bytes(out["CiphertextBlob"])

    def unwrap(self, wrapped: bytes) -> bytes:
        """Ask KMS to decrypt a wrapped data key."""
        out = self._client.decrypt(CiphertextBlob=wrapped, KeyId=self.key_id)
        return bytes(out["Plaintext"])


@dataclass(frozen=True, slots=True)
class Header:
    """What an encrypted object says about itself."""

    kek_id: str
    wrapped: bytes
    etag: str

    def encode(self) -> bytes:
        """The header's JSON bytes."""
        return json.dumps(
            {
                "alg": "AES-256-GCM",
                "kek": self.kek_id,
                "wrapped": base64.b64encode(self.wrapped).decode(),
                "etag": self.etag,
            },
            sort_keys=True,
        ).encode()


def is_encrypted(prefix: bytes) -> bool:
    """Do these first bytes start an encrypted object?"""
    return prefix.startswith(MAGIC)


def read_header(blob: bytes) -> tuple[Header, int]:
    """Parse the header of an encrypted object; returns it and where the body starts.

    Raises:
        DecryptionFailed: not a well-formed encrypted object.
    """
    start = len(MAGIC)
    if not blob.startswith(MAGIC) or len(blob) < start + _LEN.size:
        raise DecryptionFailed("not an encrypted object")
    (length,) = _LEN.unpack_from(blob, start)
    if length > MAX_HEADER or len(blob) < start + _LEN.size + length:
        raise DecryptionFailed("truncated or malformed encryption header")
    raw = blob[start + _LEN.size : start + _LEN.size + length]
    try:
        data = json.loads(raw)
        header = Header(data["kek"], base64.b64decode(data["wrapped"]), data["etag"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DecryptionFailed("malformed encryption header") from exc
    return header, start + _LEN.size + length


def _assemble(header: Header, body: bytes) -> bytes:
    raw = header.encode()
    return MAGIC + _LEN.pack(len(raw)) + raw + body


def _aad(header: Header) -> bytes:
    # The body is bound to the plaintext's ETag and its KEK-independent identity;
    # rewrapping (rotation) changes ``kek``/``wrapped`` only, so they are left out.
    return b"kyc-object\0" + header.etag.encode()


class Envelope:
    """Seals and opens objects with the current KEK; opens with older ones too."""

    def __init__(self, current: KeyWrapper, older: Sequence[KeyWrapper] = ()) -> None:
        """Encrypt under ``current``; decrypt under it or any of ``older``."""
        self.current = current
        self._by_id: dict[str, KeyWrapper] = {current.kek_id: current}
        for kek in older:
            self._by_id.setdefault(kek.kek_id, kek)

    def seal(self, plaintext: bytes) -> bytes:
        """The stored form of ``plaintext``."""
        data_key, wrapped = self.current.new_data_key()
        header = Header(
            self.current.kek_id, wrapped, hashlib.md5(plaintext, usedforsecurity=False).hexdigest()
        )
        nonce = os.urandom(12)
        body = nonce + AESGCM(data_key).encrypt(nonce, plaintext, _aad(header))
        return _assemble(header, body)

    def open(self, blob: bytes) -> bytes:
        """The plaintext of a stored object (unencrypted objects are returned as they are).

        Raises:
            DecryptionFailed: unknown KEK, wrong key, or tampered bytes.
        """
        if not is_encrypted(blob):
            return blob
        header, at = read_header(blob)
        kek = self._by_id.get(header.kek_id)
        if kek is None:
            raise DecryptionFailed(f"object sealed under an unknown key {header.kek_id}")
        data_key = kek.unwrap(header.wrapped)
        body = blob[at:]
        try:
            return AESGCM(data_key).decrypt(body[:12], body[12:], _aad(header))
        except InvalidTag as exc:
            raise DecryptionFailed("the object's content was altered or the key is wrong") from exc

    def rewrap(self, blob: bytes) -> bytes | None:
        """The object re-wrapped under the current KEK; None when nothing changes."""
        if not is_encrypted(blob):
            return None
        header, at = read_header(blob)
        if header.kek_id == self.current.kek_id:
            return None
        kek = self._by_id.get(header.kek_id)
        if kek is None:
            raise DecryptionFailed(f"object sealed under an unknown key {header.kek_id}")
        data_key = kek.unwrap(header.wrapped)
        wrapped = _rewrap_key(self.current, data_key)
        return _assemble(Header(self.current.kek_id, wrapped, header.etag), blob[at:])


def _rewrap_key(kek: KeyWrapper, data_key: bytes) -> bytes:
    if isinstance(kek, MasterKey):
        return kek.wrap(data_key)
    if isinstance(kek, KmsKey):
        out = kek._client.encrypt(KeyId=kek.key_id, Plaintext=data_key)
        return bytes(out["CiphertextBlob"])
    raise TypeError(f"cannot wrap a data key with {type(kek).__name__}")


def etag_of(read_prefix: Callable[[int], bytes]) -> str | None:
    """The plaintext ETag of an encrypted object from its first bytes; None if not encrypted."""
    head = read_prefix(len(MAGIC) + _LEN.size + MAX_HEADER)
    if not is_encrypted(head):
        return None
    try:
        header, _ = read_header(head)
    except DecryptionFailed:
        return None
    return header.etag
