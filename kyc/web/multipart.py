"""A multipart/form-data reader that enforces the intake limits while the body streams in.

Starlette's form parser spools every file part to disk whatever its size and only
then hands it over; a 2 GB upload would be read in full before it could be refused.
This reader feeds python-multipart's push parser chunk by chunk from the socket and
stops at the first byte over a limit: an unknown field, one part too many, a part
over its size, or a body over the sum of the limits is refused at once, and the rest
of the body is never read.
"""

from __future__ import annotations

from collections import Counter

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from kyc.domain.uploads import (
    MAX_PART_HEADER_BYTES,
    UploadRefused,
    body_limit,
    check_part_name,
    part_limit,
    too_large,
)


def _malformed(why: str) -> UploadRefused:
    return UploadRefused(422, "malformed_multipart", f"malformed multipart body: {why}")


class _Parts:
    """python-multipart callbacks collecting parts within their limits."""

    def __init__(self, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.parts: list[tuple[str, bytes]] = []
        self.ended = False
        self._counts: Counter[str] = Counter()
        self._name = ""
        self._limit = 0
        self._data = bytearray()
        self._header_bytes = 0
        self._field = b""
        self._value = b""
        self._disposition = b""

    def on_part_begin(self) -> None:
        self._data = bytearray()
        self._header_bytes = 0
        self._disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]
        self._count_header(end - start)

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]
        self._count_header(end - start)

    def _count_header(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > MAX_PART_HEADER_BYTES:
            raise _malformed(f"part headers over {MAX_PART_HEADER_BYTES} bytes")

    def on_header_end(self) -> None:
        if self._field.lower() == b"content-disposition":
            self._disposition = self._value
        self._field, self._value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        raw = options.get(b"name")
        if raw is None:
            raise _malformed("a part without a Content-Disposition name")
        try:
            name = raw.decode()
        except UnicodeDecodeError:
            raise _malformed("a part name that is not UTF-8") from None
        check_part_name(name, self._counts[name])
        self._counts[name] += 1
        self._name = name
        self._limit = part_limit(name, self.max_file_bytes)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if len(self._data) + (end - start) > self._limit:
            raise too_large(self._name, self._limit)
        self._data += data[start:end]

    def on_part_end(self) -> None:
        self.parts.append((self._name, bytes(self._data)))
        self._data = bytearray()

    def on_end(self) -> None:
        self.ended = True


def _boundary(request: Request) -> bytes:
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise UploadRefused(
            415,
            "unsupported_media_type",
            "send the upload as multipart/form-data (fields: application, id_document, "
            "optional id_document_back, selfie, optional selfie_frames)",
        )
    return options[b"boundary"]


def check_content_length(request: Request, max_file_bytes: int) -> None:
    """Refuse a declared body larger than every part at its limit, before reading any.

    Raises:
        UploadRefused: 413 (too large), 400-style 422 (not a number).
    """
    declared = request.headers.get("content-length")
    if declared is None:
        return  # chunked: the streaming count below applies
    if not declared.isdigit():
        raise _malformed("Content-Length is not a number")
    limit = body_limit(max_file_bytes)
    if int(declared) > limit:
        raise UploadRefused(
            413, "body_too_large", f"the request body is larger than the {limit:,} bytes accepted"
        )


async def read_parts(request: Request, *, max_file_bytes: int) -> list[tuple[str, bytes]]:
    """Read an upload's parts from the request stream, enforcing the limits as bytes arrive.

    Returns:
        (field name, content) in the order received.

    Raises:
        UploadRefused: 415 not multipart; 413 a part or the body over its limit;
            422 an unexpected field, too many of a field, or a malformed body.
    """
    boundary = _boundary(request)
    check_content_length(request, max_file_bytes)
    limit = body_limit(max_file_bytes)
    sink = _Parts(max_file_bytes)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": sink.on_part_begin,
            "on_part_data": sink.on_part_data,
            "on_part_end": sink.on_part_end,
            "on_header_field": sink.on_header_field,
            "on_header_value": sink.on_header_value,
            "on_header_end": sink.on_header_end,
            "on_headers_finished": sink.on_headers_finished,
            "on_end": sink.on_end,
        },
    )
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise UploadRefused(
                    413,
                    "body_too_large",
                    f"the request body is larger than the {limit:,} bytes accepted",
                )
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise _malformed("not valid multipart/form-data") from None
    except ClientDisconnect:
        # Nothing was stored; the answer only reaches a client that is still there.
        raise _malformed("the client went away before the body ended") from None
    if not sink.ended:
        raise _malformed("the body ended before its closing boundary")
    return sink.parts
