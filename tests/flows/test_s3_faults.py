"""Fault injection (issue 16): S3 answering 500/503 through a fault proxy in front of moto.

A real HTTP proxy on loopback forwards the S3 client's requests to moto's server and
breaks some of them on purpose. Every application must end decided exactly once or
in a visible state (a dead letter naming the problem); the batch never crashes. An
object S3 will not give is a store failure, not a fact about the applicant: the
application is left undecided (OBJECT_UNREADABLE) and the next sweep decides it.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from flows.ingest import ingest_landing
from kyc import runtime
from kyc.db.engine import session_scope
from kyc.db.repository import list_dead_letters, list_decisions
from kyc.storage.s3 import S3Store
from tests.services.conftest import land

pytestmark = pytest.mark.slow

#: Decides a request's fate: None forwards it, a status code answers it instead.
Fault = Callable[[str, str, int], int | None]


class FaultProxy:
    """A reverse proxy to moto that injects failures chosen by ``fault``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.fault: Fault = lambda method, path, n: None
        self.count = 0
        self.injected = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    proxy.count += 1
                    n = proxy.count
                status = proxy.fault(self.command, self.path, n)
                if status is not None:
                    with proxy._lock:
                        proxy.injected += 1
                    payload = b"<Error><Code>ServiceUnavailable</Code></Error>"
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = proxy.upstream.netloc
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in {"transfer-encoding", "connection", "content-length"}:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    p = FaultProxy(moto_endpoint)
    yield p
    p.close()


def _landed(s3: S3Store, shared: Path, tmp: Path, n: int) -> list[str]:
    from kyc.storage.local import LocalStore

    local = LocalStore(tmp / "generated")
    ids = []
    for i in range(n):
        landed = land(local, shared, identity=i % 4, app_id=f"s3fault-{i}")
        for obj in local.list(f"incoming/{landed.application_id}/"):
            s3.put(obj.key, local.get(obj.key))
        ids.append(landed.application_id)
    return ids


def test_s3_503s_are_retried_and_an_unreadable_object_is_retried_by_the_next_sweep(
    pipeline_env: Path,
    shared_data: Path,
    moto_endpoint: str,
    s3_bucket: str,
    proxy: FaultProxy,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    if "external" in request.node.name:
        pytest.skip("S3 faults do not depend on the database server: the embedded run suffices")
    s3 = S3Store(s3_bucket, "landing/", endpoint_url=moto_endpoint)
    ids = _landed(s3, shared_data, pipeline_env.parent, 3)
    victim = ids[2]

    def fault(method: str, path: str, n: int) -> int | None:
        if method == "GET" and f"{victim}/selfie" in path:
            return 500  # this object cannot be read, however often it is asked for
        return 503 if n % 3 == 0 else None  # every third request: busy, try again

    proxy.fault = fault
    monkeypatch.setenv("KYC_S3_ENDPOINT_URL", proxy.url)
    runtime.reset()
    outcomes = {o.application_id: o for o in ingest_landing(f"s3://{s3_bucket}/landing")}

    assert proxy.injected > 5  # the faults really happened
    assert set(outcomes) == set(ids)
    for app_id in ids:
        o = outcomes[app_id]
        if app_id == victim:
            # The selfie could not be fetched after the retries: a store failure, not
            # a fact about the applicant. No decision (no human review of a case
            # nobody could read), a visible dead letter, and the next sweep retries.
            assert o.status == "DEAD_LETTER" and o.detail.startswith("OBJECT_UNREADABLE"), o
        else:
            assert o.status == "DECIDED", o
    with session_scope(runtime.database()) as s:
        decided = list_decisions(s, latest_only=False)
        dead = list_dead_letters(s)
        registered = s.execute(
            sa.text("select count(*) from applications where application_id = :a"), {"a": victim}
        ).scalar_one()
    assert sorted(d.application_id for d in decided) == sorted(ids[:2])
    assert [(d["application_id"], d["error_code"], d["stage"]) for d in dead] == [
        (victim, "OBJECT_UNREADABLE", "fetch-images")
    ]
    assert registered == 0  # nothing half-registered for an application not read

    # S3 healthy again: the next sweep decides the victim, once, and nothing twice.
    proxy.fault = lambda method, path, n: None
    again = {o.application_id: o for o in ingest_landing(f"s3://{s3_bucket}/landing")}
    assert all(again[i].status == "ALREADY_DECIDED" for i in ids[:2])
    assert again[victim].status == "DECIDED", again[victim]
    assert "ENGINE_ERROR" not in again[victim].reasons
    with session_scope(runtime.database()) as s:
        decided = list_decisions(s, latest_only=False)
        assert list_dead_letters(s) == []  # resolved by the decision
        [resolved] = list_dead_letters(s, unresolved_only=False)
    assert sorted(d.application_id for d in decided) == sorted(ids)  # each exactly once
    assert resolved["resolved_at"] is not None
