"""Recorded-response replay server for AWS JSON 1.1 services (Textract, Rekognition).

Not an AWS test: a real HTTP server on 127.0.0.1 (free port) that speaks the AWS
JSON 1.1 protocol closely enough for boto3 pointed at it with ``endpoint_url`` —
it routes on the ``X-Amz-Target`` header (``Textract.AnalyzeID``,
``RekognitionService.CompareFaces``), requires a SigV4-signed JSON request, and
answers with saved responses from ``tests/engines/data/aws/`` written in the shape
of the AWS API reference examples.

Replies are keyed on the request content: the SHA-256 of the image bytes in the
request (Textract ``DocumentPages[].Bytes``; Rekognition ``SourceImage.Bytes`` then
``TargetImage.Bytes``). A test registers which saved response answers which images
(:meth:`ReplayServer.add`); a list of replies is served in order, the last one
repeating, which scripts throttling (``ThrottlingException`` twice, then success).
A request nobody registered is answered with a non-retryable 400
``ReplayMissException`` so that a wrong request fails the test loudly.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "aws"

TEXTRACT_ANALYZE_ID = "Textract.AnalyzeID"
REKOGNITION_COMPARE_FACES = "RekognitionService.CompareFaces"


@dataclass(frozen=True)
class Reply:
    """One HTTP reply: status and JSON body."""

    status: int
    body: dict[str, Any]


def saved(name: str) -> Reply:
    """A saved 200 response, ``tests/engines/data/aws/<name>.json``."""
    return Reply(200, json.loads((DATA / f"{name}.json").read_text(encoding="utf-8")))


def error(name: str) -> Reply:
    """A saved error reply from ``tests/engines/data/aws/errors.json``."""
    entry = json.loads((DATA / "errors.json").read_text(encoding="utf-8"))[name]
    return Reply(int(entry["status"]), dict(entry["body"]))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _images(target: str, body: dict[str, Any]) -> list[bytes]:
    """The image bytes a request carries, in the order that keys the reply."""
    if target == TEXTRACT_ANALYZE_ID:
        pages = body.get("DocumentPages") or []
        return [base64.b64decode(p.get("Bytes", "")) for p in pages]
    if target == REKOGNITION_COMPARE_FACES:
        return [
            base64.b64decode((body.get(side) or {}).get("Bytes", ""))
            for side in ("SourceImage", "TargetImage")
        ]
    return []


class ReplayServer:
    """The replay server; use as a context manager or call start()/stop()."""

    def __init__(self) -> None:
        """Create the server (not yet listening)."""
        self._replies: dict[tuple[str, tuple[str, ...]], list[Reply]] = {}
        self._lock = threading.Lock()
        #: Every request received: (target, parsed JSON body), for assertions.
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- registration ------------------------------------------------------------------
    def add(self, target: str, images: Sequence[bytes], *replies: Reply) -> None:
        """Answer requests carrying exactly these images with these replies, in order.

        Args:
            target: ``X-Amz-Target`` value.
            images: the image bytes, in request order.
            replies: served in order; the last one repeats.
        """
        assert replies, "at least one reply"
        with self._lock:
            self._replies[(target, tuple(_digest(i) for i in images))] = list(replies)

    def count(self, target: str) -> int:
        """Requests received so far for one target."""
        with self._lock:
            return sum(1 for t, _ in self.requests if t == target)

    def _next_reply(self, target: str, images: list[bytes]) -> Reply:
        key = (target, tuple(_digest(i) for i in images))
        with self._lock:
            queue = self._replies.get(key)
            if not queue:
                return Reply(
                    400,
                    {
                        "__type": "ReplayMissException",
                        "Message": f"no recorded response for {target} with these images",
                    },
                )
            return queue.pop(0) if len(queue) > 1 else queue[0]

    # --- lifecycle ---------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ReplayServer:
        """Listen on a free loopback port, serving from a daemon thread."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                target = self.headers.get("X-Amz-Target", "")
                if not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 "):
                    self._send(Reply(403, {"__type": "MissingAuthenticationTokenException"}))
                    return
                if self.headers.get("Content-Type") != "application/x-amz-json-1.1":
                    self._send(Reply(400, {"__type": "SerializationException"}))
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(Reply(400, {"__type": "SerializationException"}))
                    return
                with server._lock:
                    server.requests.append((target, body))
                self._send(server._next_reply(target, _images(target, body)))

            def _send(self, reply: Reply) -> None:
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amzn-RequestId", "00000000-0000-4000-8000-000000000000")
                self.end_headers()
                self.wfile.write(payload)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        httpd = self._httpd
        # A short poll interval: stop() waits for it, once per test.
        self._thread = threading.Thread(
            target=lambda: httpd.serve_forever(poll_interval=0.05), name="aws-replay", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def dead_endpoint() -> str:
    """A loopback URL nothing listens on (a port bound, then closed, by us)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@functools.lru_cache(maxsize=1)
def dummy_session() -> Any:
    """A boto3 session with dummy credentials that never reads ~/.aws or IMDS.

    Shared (tests run one at a time): a session caches the loaded service models,
    which take most of a second to load.
    """
    import boto3

    return boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
        region_name="eu-west-2",
    )


_shared: ReplayServer | None = None
_shared_lock = threading.Lock()


def shared_server() -> ReplayServer:
    """One server per test process for the contract suites' zero-argument factories.

    The contract modules build implementations from factories without fixtures;
    the server lives as long as the process (daemon thread), which is the lifetime of
    the pytest run.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ReplayServer().start()
        return _shared


def iter_requests(server: ReplayServer, target: str) -> Iterator[dict[str, Any]]:
    """Bodies of the requests received for one target."""
    with server._lock:
        bodies = [b for t, b in server.requests if t == target]
    yield from bodies
