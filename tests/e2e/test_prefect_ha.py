"""Prefect's high-availability layout (README): two API processes, the services apart, Redis.

What Prefect's self-hosted guide prescribes, on this machine: the database migrated
once (``prefect server database upgrade``), two ``prefect server start
--no-services`` API processes and one ``prefect server services start`` process, all
on one PostgreSQL database, with ``prefect-redis`` as the messaging broker, cache,
causal ordering and lease storage and Docket on Redis. An event posted to API A is
published to Redis, persisted by the services process, and read back through API B:
with Prefect's default in-memory broker an API process without services would keep
it to itself and it would never be stored. A work pool created through A is read
through B (one database).

Needs Redis on 127.0.0.1:6379 (skipped, saying so, when none answers).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kyc.db.engine import asyncpg_url, normalise_url
from tests.fixtures.db import DatabaseFactory

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("pg_server", ["embedded"], indirect=True)]

BIN = Path(sys.executable).parent
REDIS = ("127.0.0.1", 6379)
#: A Redis database of its own (the server may be shared with other work).
REDIS_DB = 13


def _redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(url: str, body: Any = None, method: str = "GET") -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        raw = reply.read()
    return json.loads(raw) if raw else None


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if _call(f"{url}/health") is True:
                return
        except (OSError, ValueError):
            pass
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.5)
    pytest.fail(f"{url} did not come up:\n{log.read_text()[-3000:]}")


@pytest.fixture
def ha_env(pg_server: DatabaseFactory, tmp_path: Path) -> dict[str, str]:
    if not _redis_answers():
        pytest.skip("no Redis answers on 127.0.0.1:6379: the HA layout needs one")
    pytest.importorskip("prefect_redis")
    redis_url = f"redis://{REDIS[0]}:{REDIS[1]}/{REDIS_DB}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KYC_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_API_DATABASE_CONNECTION_URL=asyncpg_url(normalise_url(pg_server.create("prefect_ha"))),
        PREFECT_API_DATABASE_MIGRATE_ON_START="false",
        PREFECT_MESSAGING_BROKER="prefect_redis.messaging",
        PREFECT_MESSAGING_CACHE="prefect_redis.messaging",
        PREFECT_SERVER_EVENTS_CAUSAL_ORDERING="prefect_redis.ordering",
        PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE="prefect_redis.lease_storage",
        PREFECT_REDIS_MESSAGING_URL=redis_url,
        PREFECT_SERVER_DOCKET_URL=redis_url,
    )
    return env


@pytest.fixture
def ha_stack(ha_env: dict[str, str], tmp_path: Path) -> Iterator[list[str]]:
    prefect = str(BIN / "prefect")
    done = subprocess.run(
        [prefect, "server", "database", "upgrade", "-y"],
        env=ha_env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        urls = []
        for name in ("api-a", "api-b"):
            port = _free_port()
            log = tmp_path / f"{name}.log"
            out = log.open("wb")
            logs.append(out)
            procs.append(subprocess.Popen(
                [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port),
                 "--no-services"],
                env=ha_env, stdout=out, stderr=subprocess.STDOUT,
            ))
            urls.append((f"http://127.0.0.1:{port}/api", procs[-1], log))
        log = tmp_path / "services.log"
        out = log.open("wb")
        logs.append(out)
        procs.append(subprocess.Popen(
            [prefect, "server", "services", "start"],
            env=ha_env, stdout=out, stderr=subprocess.STDOUT,
        ))
        for url, proc, api_log in urls:
            _wait_healthy(url, proc, api_log)
        assert procs[-1].poll() is None, log.read_text()[-3000:]
        yield [u for u, _, _ in urls]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for out in logs:
            out.close()


def test_two_api_processes_and_the_services_share_postgresql_and_redis(
    ha_stack: list[str], tmp_path: Path
) -> None:
    api_a, api_b = ha_stack
    # One database: what A writes, B reads.
    pool = f"ha-{uuid.uuid4().hex[:8]}"
    _call(f"{api_a}/work_pools/", {"name": pool, "type": "process"}, "POST")
    assert _call(f"{api_b}/work_pools/{pool}")["name"] == pool

    # Events: A publishes to Redis, the services process stores them, B finds them.
    # The services process subscribes some time after it starts (longer on a loaded
    # machine) and does not see what was published before: an event is posted again,
    # under a new id, every 10 s until one arrives.
    marker = f"kyc.ha.{uuid.uuid4().hex[:8]}"
    now = dt.datetime.now(dt.UTC)
    query = {
        "filter": {
            "event": {"name": [marker]},
            "occurred": {
                "since": (now - dt.timedelta(minutes=5)).isoformat(),
                "until": (now + dt.timedelta(minutes=10)).isoformat(),
            },
        },
        "limit": 50,
    }
    posted: list[str] = []
    deadline = time.monotonic() + 150
    next_post = 0.0
    found: list[Any] = []
    while time.monotonic() < deadline and not found:
        if time.monotonic() >= next_post:
            event = {
                "id": str(uuid.uuid4()),
                "occurred": dt.datetime.now(dt.UTC).isoformat(),
                "event": marker,
                "resource": {"prefect.resource.id": f"kyc.ha-test.{uuid.uuid4().hex[:8]}"},
                "payload": {},
            }
            _call(f"{api_a}/events", [event], "POST")
            posted.append(event["id"])
            next_post = time.monotonic() + 10
        found = _call(f"{api_b}/events/filter", query, "POST")["events"]
        time.sleep(0.5)
    assert found and {e["id"] for e in found} <= set(posted), (
        "the event posted to API A never reached the database through Redis and the"
        " services process:\n" + (tmp_path / "services.log").read_text()[-3000:]
    )
