"""The streaming multipart reader on a real Starlette request, fed chunk by chunk.

What matters is what is NOT read: a part over its limit stops the reading at once,
so a client cannot make the server take in gigabytes before refusing them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from kyc.domain.uploads import UploadRefused
from kyc.web.multipart import read_parts

CHUNK = 64 * 1024


def _body(parts: list[tuple[str, tuple[str, bytes, str]]]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", files=parts)
    return request.read(), request.headers["content-type"]


class Feed:
    """An ASGI receive() over a body, counting what the app asked for."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sent = 0

    async def __call__(self) -> dict[str, Any]:
        chunk = self.body[self.sent : self.sent + CHUNK]
        self.sent += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": self.sent < len(self.body)}


def _read(body: bytes, content_type: str, *, limit: int, length: bool = True) -> tuple[Any, Feed]:
    feed = Feed(body)
    headers = [(b"content-type", content_type.encode())]
    if length:
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
    request = Request(scope, feed)

    async def run() -> Any:
        try:
            return await read_parts(request, max_file_bytes=limit)
        except UploadRefused as exc:
            return exc

    return asyncio.run(run()), feed


def test_parts_in_order() -> None:
    body, ctype = _body(
        [
            ("application", ("a.json", b'{"x": 1}', "application/json")),
            ("id_document", ("f.jpg", b"F" * 200_000, "image/jpeg")),
            ("selfie_frames", ("0.jpg", b"0", "image/jpeg")),
            ("selfie_frames", ("1.jpg", b"1", "image/jpeg")),
        ]
    )
    parts, feed = _read(body, ctype, limit=1_000_000)
    assert parts == [
        ("application", b'{"x": 1}'),
        ("id_document", b"F" * 200_000),
        ("selfie_frames", b"0"),
        ("selfie_frames", b"1"),
    ]
    assert feed.sent == len(body)


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_an_oversize_part_stops_the_reading(length: bool) -> None:
    limit = 1_000_000
    body, ctype = _body([("selfie", ("s.jpg", b"S" * 20_000_000, "image/jpeg"))])
    refused, feed = _read(body, ctype, limit=limit, length=length)
    assert isinstance(refused, UploadRefused)
    assert (refused.status, refused.code) == (413, "file_too_large")
    assert feed.sent <= limit + 2 * CHUNK  # 20 MB offered, about 1 MB read


def test_a_body_over_every_limit_is_refused_by_its_length() -> None:
    body, ctype = _body([("selfie", ("s.jpg", b"S" * 100, "image/jpeg"))])
    feed = Feed(body)
    headers = [(b"content-type", ctype.encode()), (b"content-length", b"999999999999")]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
    with pytest.raises(UploadRefused) as err:
        asyncio.run(read_parts(Request(scope, feed), max_file_bytes=1000))
    assert (err.value.status, err.value.code) == (413, "body_too_large")
    assert feed.sent == 0


def test_a_chunked_body_over_every_limit_stops_too() -> None:
    # Many small parts of unknown names would be refused by name; frames are allowed,
    # 30 of them, each under the per-file limit: the body limit is what stops this.
    parts = [("selfie_frames", (f"{n}.jpg", b"F" * 9_000, "image/jpeg")) for n in range(30)]
    body, ctype = _body([("application", ("a.json", b"{}", "application/json")), *parts])
    refused, _ = _read(body, ctype, limit=1_000, length=False)
    assert isinstance(refused, UploadRefused) and refused.status == 413


def test_an_unknown_field_stops_the_reading() -> None:
    body, ctype = _body(
        [
            ("passport", ("p.jpg", b"P" * 5_000_000, "image/jpeg")),
            ("selfie", ("s.jpg", b"S", "image/jpeg")),
        ]
    )
    refused, feed = _read(body, ctype, limit=10_000_000)
    assert isinstance(refused, UploadRefused) and refused.code == "unexpected_part"
    assert feed.sent <= CHUNK


@pytest.mark.parametrize(
    ("body", "ctype", "code"),
    [
        (b"{}", "application/json", "unsupported_media_type"),
        (b"x", "multipart/form-data", "unsupported_media_type"),  # no boundary
        (
            b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
            "malformed_multipart",
        ),
        (
            b'--b\r\nContent-Disposition: form-data; name="selfie"\r\n\r\nxx',
            "multipart/form-data; boundary=b",
            "malformed_multipart",
        ),
    ],
    ids=["json", "no-boundary", "no-name", "truncated"],
)
def test_malformed(body: bytes, ctype: str, code: str) -> None:
    refused, _ = _read(body, ctype, limit=1000)
    assert isinstance(refused, UploadRefused) and refused.code == code, refused


def test_a_client_that_goes_away_is_not_an_error() -> None:
    body, ctype = _body([("selfie", ("s.jpg", b"S" * 300_000, "image/jpeg"))])
    sent = {"n": 0}

    async def receive() -> dict[str, Any]:
        sent["n"] += 1
        if sent["n"] > 2:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": body[:CHUNK], "more_body": True}

    headers = [(b"content-type", ctype.encode())]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
    with pytest.raises(UploadRefused) as err:
        asyncio.run(read_parts(Request(scope, receive), max_file_bytes=1_000_000))
    assert err.value.code == "malformed_multipart" and "went away" in err.value.message
