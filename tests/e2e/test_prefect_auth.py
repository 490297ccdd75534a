"""A real Prefect server started as ``make up`` starts it, with KYC_PREFECT_AUTH_STRING.

The server's and the clients' environments come from deployments.local (the code
``make up`` runs); the server keeps its state in SQLite under tmp_path and runs no
background services, so the test needs no PostgreSQL and stays short.

Shows: the API refuses a request without the credential or with a wrong one (401),
answers the unauthenticated health probe ``make up`` waits on, accepts Prefect's own
client with PREFECT_API_AUTH_STRING (creates and reads a flow run), creates the work
pool the way ``make up`` does, and lets Apify's resume webhook (carrying the
credential) resume a suspended flow run.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments import local
from kyc.settings import Settings, basic_authorization
from tests.fixtures.registers import FakeApify, fake_apify

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
AUTH = f"kyc-ops:{secrets.token_urlsafe(18)}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str, *, authorization: str | None = None, body: object = None) -> int:
    """The HTTP status of a POST (or a GET without body) to ``url``; 0: no answer."""
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:  # not listening (yet)
        return 0


@pytest.fixture(scope="module")
def authed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A Prefect server requiring AUTH; yields the environment of its clients."""
    tmp = tmp_path_factory.mktemp("prefect-auth")
    port = _free_port()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, prefect_auth_string=AUTH, prefect_database="sqlite"
    )
    env = local.stack_env(settings, port)
    env.update(
        PREFECT_HOME=str(tmp / "prefect-home"),
        PREFECT_UI_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    env.pop("PREFECT_SERVER_DATABASE_CONNECTION_URL", None)  # SQLite under PREFECT_HOME
    assert env["PREFECT_API_AUTH_STRING"] == AUTH
    assert "PREFECT_SERVER_API_AUTH_STRING" not in env  # the clients do not get the server's
    server_env = local.server_env(settings, env)
    assert server_env["PREFECT_SERVER_API_AUTH_STRING"] == AUTH
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
             "--port", str(port), "--no-services"],
            env=server_env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        # The probe `make up` waits on answers without the credential.
        while _status(f"{env['PREFECT_API_URL']}/health") != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("Prefect server did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.3)
        yield env
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_api_refuses_requests_without_the_right_credential(
    authed_server: dict[str, str],
) -> None:
    api = authed_server["PREFECT_API_URL"]
    assert _status(f"{api}/flows/filter", body={}) == 401
    wrong = basic_authorization("kyc-ops:not-the-password")
    assert _status(f"{api}/flows/filter", body={}, authorization=wrong) == 401
    assert _status(f"{api}/flows/filter", body={}, authorization="Bearer " + AUTH) == 401
    assert _status(f"{api}/flows/filter", body={}, authorization=basic_authorization(AUTH)) == 200
    # `make up`'s work-pool request carries it; without it, make up fails clearly.
    local._ensure_pool(api, AUTH)
    local._ensure_pool(api, AUTH)  # exists already: fine
    with pytest.raises(local.UpError, match="HTTP 401"):
        local._ensure_pool(api)


def test_prefects_client_works_with_the_credential_and_not_without(
    authed_server: dict[str, str],
) -> None:
    from prefect import get_client
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    api = authed_server["PREFECT_API_URL"]
    with (
        temporary_settings({PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: AUTH}),
        get_client(sync_client=True) as client,
    ):
        flow_id = client.create_flow_from_name("auth-check")
        run = client.create_flow_run_from_deployment(
            client.create_deployment(flow_id=flow_id, name="auth-check")
        )
        assert client.read_flow_run(run.id).id == run.id
    with temporary_settings({PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: "kyc-ops:wrong"}):
        with get_client(sync_client=True) as client, pytest.raises(PrefectHTTPStatusError) as err:
            client.read_flow_run(run.id)
        assert err.value.response.status_code == 401
    # A process started with the stack's client environment (a worker, the bridge,
    # `prefect deploy`) authenticates without further configuration.
    done = subprocess.run(
        [str(BIN / "prefect"), "flow", "ls"], env={**authed_server, "COLUMNS": "300"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and "auth-check" in done.stdout, done.stdout + done.stderr


def test_apifys_webhook_resumes_a_suspended_run_through_the_protected_api(
    authed_server: dict[str, str],
) -> None:
    from prefect import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.input.run_input import keyset_from_paused_state
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings
    from prefect.states import Running, Suspended

    from flows.registers import RegisterRunDone
    from kyc.clients.http import RetryPolicy
    from kyc.engines.register_apify import ApifyRegisterClient

    api = authed_server["PREFECT_API_URL"]
    with temporary_settings({PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: AUTH}):
        # What suspend_flow_run(wait_for_input=RegisterRunDone) does inside a
        # deployment's flow run (see tests/flows/test_registers_flow.py).
        with get_client(sync_client=True) as client:
            flow_id = client.create_flow_from_name("process-application-auth-test")
            run = client.create_flow_run_from_deployment(
                client.create_deployment(flow_id=flow_id, name="suspend-auth-test")
            )
            client.set_flow_run_state(run.id, Running(), force=True)
            proposed = Suspended(timeout_seconds=300, pause_key="register-run-auth")
            keyset = keyset_from_paused_state(proposed)
            proposed.state_details.run_input_keyset = keyset
            assert client.set_flow_run_state(run.id, proposed).state.is_paused()  # type: ignore[union-attr]
        RegisterRunDone.save(keyset, flow_run_id=run.id)

        # Without the credential, nobody resumes it.
        resume = f"{api}/flow_runs/{run.id}/resume"
        assert _status(resume, body={"run_input": {"event_type": "x", "event_data": {}}}) == 401

        apify_api = FakeApify(items={("GMC", "7123456"): []}, polls_to_finish=1)
        with fake_apify(apify_api) as base:
            apify = ApifyRegisterClient(
                token="t", actors={"GMC": "kyc~gmc"}, api_url=base,
                policy=RetryPolicy(retries=0), rate_per_second=1000,
            )  # fmt: skip
            run_id = apify.start_resumable(
                "GMC", "7123456", prefect_api_url=api, flow_run_id=str(run.id),
                prefect_auth_string=AUTH,
            )  # fmt: skip
            assert apify.wait("GMC", run_id) == "SUCCEEDED"  # Apify calls the webhook
        assert [c["status"] for c in apify_api.webhook_calls] == [201]
        with get_client(sync_client=True) as client:
            resumed = client.read_flow_run(run.id).state
        assert resumed is not None and resumed.type is StateType.SCHEDULED
        done = RegisterRunDone.load(keyset, flow_run_id=run.id)
        assert done.event_type == "ACTOR.RUN.SUCCEEDED" and done.event_data["actorRunId"] == run_id
