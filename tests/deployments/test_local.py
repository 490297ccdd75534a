"""make up / make down bookkeeping: pid files, process groups, pid reuse."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deployments import local
from tests.fixtures.db import DatabaseFactory


def test_down_stops_what_was_started_and_its_children(tmp_path: Path) -> None:
    # A "service" that spawns a child, like the worker spawning flow-run processes.
    script = (
        "import subprocess, sys, time;"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "time.sleep(60)"
    )
    started = local._start(tmp_path, "worker", [sys.executable, "-c", script], {})
    assert local.read_started(tmp_path, "worker") == started
    time.sleep(0.5)
    children = subprocess.run(
        ["pgrep", "-g", str(started.pid)], capture_output=True, text=True
    ).stdout.split()
    assert len(children) == 2
    assert local.down(tmp_path, log=False, grace=5) == ["worker"]
    assert not local.is_running(started)
    time.sleep(0.3)
    assert subprocess.run(["pgrep", "-g", str(started.pid)], capture_output=True).returncode == 1
    assert not (tmp_path / "worker.pid").exists()


def test_down_leaves_a_reused_pid_alone(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        # A stale pid file whose pid now belongs to an unrelated process.
        (tmp_path / "bridge.pid").write_text(
            json.dumps({"pid": other.pid, "started_at": 1.0, "command": ["kyc", "bridge"]})
        )
        assert local.down(tmp_path, log=False) == []
        assert other.poll() is None
        assert not (tmp_path / "bridge.pid").exists()
    finally:
        other.kill()
        other.wait()


def test_stack_env_points_prefect_at_the_local_server_and_postgres(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kyc.settings import Settings

    monkeypatch.delenv("PREFECT_HOME", raising=False)
    env = local.stack_env(Settings(prefect_database_url="postgresql://u:p@db:5432/prefect"), 4300)
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:4300/api"
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://u:p@db")
    assert env["PREFECT_HOME"].endswith("var/prefect")
    monkeypatch.delenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", raising=False)
    assert "PREFECT_SERVER_DATABASE_CONNECTION_URL" not in local.stack_env(Settings(), 4300)


def test_warm_worker_runs_only_this_projects_flows() -> None:
    from deployments.warm_worker import flow_for_entrypoint
    from flows.reprocess import reprocess_application

    assert flow_for_entrypoint("flows/reprocess.py:reprocess_application") is reprocess_application
    for foreign in ("other/x.py:f", "flows/x.py:not an identifier", "/abs/flows/x.py:f", "flows"):
        with pytest.raises(ValueError):
            flow_for_entrypoint(foreign)


def test_kyc_bridge_needs_exactly_one_source() -> None:
    from typer.testing import CliRunner

    from kyc.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["bridge"]).exit_code == 2
    both = runner.invoke(app, ["bridge", "--sqs-queue-url", "http://q", "--watch", "/tmp"])
    assert both.exit_code == 2
    not_s3 = runner.invoke(
        app, ["bridge", "--sqs-queue-url", "http://q", "--landing", "/some/folder"]
    )
    assert not_s3.exit_code == 2


def test_up_refuses_an_s3_landing_without_a_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kyc.settings import get_settings

    monkeypatch.setenv("KYC_LANDING", "s3://bucket/prefix")
    monkeypatch.delenv("KYC_SQS_QUEUE_URL", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(local.UpError, match="KYC_SQS_QUEUE_URL"):
            local.up(port=1, run_dir=tmp_path, log=False)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert list(tmp_path.iterdir()) == []


def test_make_up_starts_the_web_app_after_the_database_and_stops_it_first() -> None:
    assert local.SERVICES.index("web") == local.SERVICES.index("database") + 1
    # `down` walks SERVICES backwards: the web app stops before the database it uses.
    assert list(reversed(local.SERVICES))[-2:] == ["web", "database"]


@pytest.mark.parametrize(
    ("fields", "env", "expected"),
    [
        # the loopback demo: plain HTTP, cookies without Secure
        ({}, {}, "false"),
        ({"web_host": "localhost"}, {}, "false"),
        ({"web_host": "::1"}, {}, "false"),
        # the operator chose: left alone
        ({}, {"KYC_WEB_SECURE_COOKIES": "true"}, "true"),
        # reachable from other machines, or not development: Secure stays on
        ({"web_host": "0.0.0.0"}, {}, None),
        ({"web_host": "10.1.2.3"}, {}, None),
        ({"environment": "test"}, {}, None),
        ({"environment": "production", "store_allow_plaintext": True}, {}, None),
    ],
)
def test_web_env_turns_secure_cookies_off_only_for_the_loopback_development_demo(
    fields: dict[str, str], env: dict[str, str], expected: str | None
) -> None:
    from kyc.settings import Settings

    stack = {"PATH": "/usr/bin", **env}
    web = local.web_env(Settings(**fields), stack)
    assert web.get("KYC_WEB_SECURE_COOKIES") == expected
    assert web["PATH"] == "/usr/bin"
    assert stack == {"PATH": "/usr/bin", **env}  # the other services' env is not changed


def test_console_url_is_reachable_from_this_machine() -> None:
    from kyc.settings import Settings

    assert local.console_url(Settings()) == "http://127.0.0.1:8000"
    assert local.console_url(Settings(web_host="0.0.0.0", web_port=8080)) == "http://127.0.0.1:8080"
    assert local.console_url(Settings(web_host="::", web_port=8080)) == "http://[::1]:8080"
    assert local.console_url(Settings(web_host="kyc.internal")) == "http://kyc.internal:8000"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_up_refuses_a_taken_console_port_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from kyc.settings import get_settings

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("KYC_WEB_PORT", str(taken.getsockname()[1]))
        monkeypatch.setenv("KYC_LANDING", str(tmp_path / "landing"))
        get_settings.cache_clear()
        try:
            with pytest.raises(local.UpError, match="KYC_WEB_PORT"):
                local.up(port=_free_port(), run_dir=tmp_path / "run", log=False)
        finally:
            monkeypatch.undo()
            get_settings.cache_clear()
    assert list((tmp_path / "run").iterdir()) == []


@pytest.mark.db
def test_the_web_service_serves_the_app_on_a_fresh_database_and_down_stops_it(
    tmp_path: Path, pg_server: DatabaseFactory
) -> None:
    """`kyc serve` exactly as `up` starts it: it migrates, listens, and `down` ends it."""
    import os

    from kyc.settings import Settings

    settings = Settings(web_port=_free_port())
    env = dict(os.environ, KYC_DATABASE_URL=pg_server.create("kyc_up"))
    started = local._start(
        tmp_path, "web", local.web_command(settings), local.web_env(settings, env)
    )
    try:
        local._wait_http(f"{local.console_url(settings)}/healthz", started, tmp_path, timeout=120)
    finally:
        assert local.down(tmp_path, log=False, grace=5) == ["web"]
    assert not local.is_running(started)


@pytest.mark.parametrize("pg_server", ["embedded"], indirect=True)
def test_prefect_gets_its_own_postgresql_database_beside_ours(pg_server, pg_url: str) -> None:
    import psycopg2
    from pydantic import SecretStr

    from kyc.db.engine import DatabaseConfigError, asyncpg_url, prefect_database_url
    from kyc.settings import Settings
    from tests.fixtures.db import _libpq_dsn

    # Beside KYC_DATABASE_URL: the database "prefect" on the same server, created.
    url = prefect_database_url(Settings(database_url=SecretStr(pg_url)))
    assert url is not None and url.split("?")[0].endswith("/prefect")
    psycopg2.connect(_libpq_dsn(url)).close()
    assert prefect_database_url(Settings(database_url=SecretStr(pg_url))) == url  # exists now
    env = local.stack_env(Settings(), 4300, url)
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] == asyncpg_url(url)
    # Named explicitly; SQLite only when asked for; embedded: the holder says where.
    named = Settings(database_url=SecretStr(pg_url), prefect_database_url=SecretStr(pg_url))
    assert prefect_database_url(named) == pg_url
    assert prefect_database_url(Settings(prefect_database="sqlite")) is None
    assert prefect_database_url(Settings(), "postgresql+psycopg2://x@/prefect") is not None
    with pytest.raises(DatabaseConfigError):
        prefect_database_url(Settings())


def test_workers_are_numbered_services(tmp_path: Path) -> None:
    assert [local.worker_name(n) for n in (1, 2, 10)] == ["worker", "worker-2", "worker-10"]
    for name in ("worker-10", "worker-2", "bridge"):
        (tmp_path / f"{name}.pid").write_text("{}")
    assert local.service_names(tmp_path) == [
        "database", "web", "server", "worker", "worker-2", "worker-10", "bridge"
    ]


def test_the_prefect_credential_goes_to_the_server_and_to_every_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kyc.settings import Settings

    # A stale credential in the caller's environment is not passed on.
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "old:credential")
    monkeypatch.setenv("PREFECT_SERVER_API_AUTH_STRING", "old:credential")
    settings = Settings(_env_file=None, prefect_auth_string="kyc-ops:s3cret-enough-1")  # type: ignore[call-arg]
    env = local.stack_env(settings, 4300)
    # Workers, the bridge, `prefect deploy` and the web app run with `env`.
    assert env["PREFECT_API_AUTH_STRING"] == "kyc-ops:s3cret-enough-1"
    assert "PREFECT_SERVER_API_AUTH_STRING" not in env
    server = local.server_env(settings, env)
    assert server["PREFECT_SERVER_API_AUTH_STRING"] == "kyc-ops:s3cret-enough-1"
    assert "PREFECT_SERVER_API_AUTH_STRING" not in env  # not changed in place
    assert local.web_env(settings, env)["PREFECT_API_AUTH_STRING"] == "kyc-ops:s3cret-enough-1"
    # None set: no credential at all (not the stale one).
    bare = local.stack_env(Settings(_env_file=None), 4300)  # type: ignore[call-arg]
    assert "PREFECT_API_AUTH_STRING" not in bare
    assert "PREFECT_SERVER_API_AUTH_STRING" not in local.server_env(Settings(_env_file=None), bare)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("fields", "refused"),
    [
        ({}, False),  # loopback: only this machine reaches it
        ({"environment": "production", "store_allow_plaintext": True}, False),
        ({"prefect_host": "localhost", "environment": "test"}, False),
        ({"prefect_host": "0.0.0.0"}, False),  # development: a warning only
        ({"prefect_host": "0.0.0.0", "environment": "test"}, True),
        ({"prefect_host": "10.1.2.3", "environment": "production", "store_allow_plaintext": True}, True),
        ({"prefect_host": "::", "environment": "test"}, True),
        ({"prefect_host": "0.0.0.0", "environment": "test", "prefect_auth_string": "kyc-ops:s3cret-enough-1"}, False),
    ],
)  # fmt: skip
def test_an_exposed_prefect_api_needs_a_credential_outside_development(
    fields: dict[str, object], refused: bool
) -> None:
    from kyc.settings import Settings

    problem = local.prefect_exposure_problem(Settings(_env_file=None, **fields))  # type: ignore[arg-type]
    assert (problem is not None) is refused
    if problem:
        assert "KYC_PREFECT_AUTH_STRING" in problem


def test_up_refuses_an_unauthenticated_exposed_prefect_api_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kyc.settings import get_settings

    monkeypatch.setenv("KYC_ENVIRONMENT", "test")
    monkeypatch.setenv("KYC_PREFECT_HOST", "0.0.0.0")
    monkeypatch.delenv("KYC_PREFECT_AUTH_STRING", raising=False)
    monkeypatch.setenv("KYC_LANDING", str(tmp_path / "landing"))
    get_settings.cache_clear()
    try:
        with pytest.raises(local.UpError, match="KYC_PREFECT_AUTH_STRING"):
            local.up(port=_free_port(), run_dir=tmp_path / "run", log=False)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert list((tmp_path / "run").iterdir()) == []


def test_the_prefect_address_is_reachable_from_this_machine() -> None:
    from kyc.settings import Settings

    assert local.prefect_url(Settings(), 4200) == "http://127.0.0.1:4200"
    assert local.prefect_url(Settings(prefect_host="0.0.0.0"), 4300) == "http://127.0.0.1:4300"
    assert local.prefect_url(Settings(prefect_host="10.1.2.3"), 4200) == "http://10.1.2.3:4200"
