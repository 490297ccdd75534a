"""Register checks inside the flows: beside the face match, through every client.

- per-application flow (task runs, ``.submit()``) with the direct HTTP client, a
  slow register on loopback, and local licence rules;
- batch flow (inline stages, a thread) with the Apify client polling a loopback
  Apify API;
- the suspension path's hand-off: Apify's webhook resumes a suspended flow run
  through the real Prefect API, with the input the flow waits for.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from kyc import runtime
from kyc.demo.cards import render_licence_back, render_licence_front
from kyc.demo.generate import GENUINE_IDENTITIES, application_form, card_data, face_photos
from kyc.storage.local import LocalStore
from tests.fixtures.registers import FakeApify, RegisterSite, fake_apify, register_site

pytestmark = pytest.mark.slow


def _land_doctor(landing: Path, shared: Path, app_id: str, registration: tuple[str, str]) -> str:
    """One genuine applicant (the demo's GMC doctor's card) claiming a registration."""
    card = card_data(random.Random(11), dt.date.today(), 4)  # Noah Walker, a CA licence
    photos = face_photos(shared, GENUINE_IDENTITIES[4])
    with Image.open(photos[0]) as portrait:
        front = render_licence_front(card, portrait.convert("RGB"), seed=4)
    store = LocalStore(landing)
    base = f"incoming/{app_id}/"
    store.put(base + "id_document.jpg", front)
    store.put(base + "id_document_back.jpg", render_licence_back(card, seed=4))
    store.put(base + "selfie.jpg", photos[1].read_bytes())
    form = application_form(app_id, card, registration=registration)
    store.put(base + "application.json", json.dumps(form).encode())
    return f"{card.first_name} {card.last_name}"


@pytest.fixture
def fresh_engines(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Engines built from this test's settings (a runtime per settings value)."""
    runtime.reset()
    yield


def _rows(sql: str) -> list[sa.Row]:
    with runtime.database().connect() as conn:
        return list(conn.execute(sa.text(sql)))


def test_per_application_flow_checks_register_beside_face_match(
    pipeline_env: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch, fresh_engines: None
) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.process_application import process_application

    name = _land_doctor(pipeline_env, shared_data, "reg-http-1", ("GMC", "7123456"))
    site = RegisterSite(entries={("GMC", "7123456"): {
        "name": f"Dr {name}", "number": "7123456", "status": "Registered with a licence to practise"}})
    site.failures[("GMC", "7123456")] = [("slow", 2.0)]  # a slow register, answering within the timeout
    with register_site(site) as base:
        monkeypatch.setenv("KYC_REGISTER_ENGINE", "http")
        monkeypatch.setenv("KYC_REGISTER_HTTP_URLS", json.dumps(site.urls(base)))
        monkeypatch.setenv("KYC_REGISTER_TIMEOUT_SECONDS", "10")
        monkeypatch.setenv("KYC_LICENCE_ENGINE", "local")
        runtime.reset()
        state = process_application("reg-http-1", str(pipeline_env), return_state=True)
        outcome = state.result()
    assert outcome.status == "DECIDED" and outcome.decision == "PASS", outcome
    [reg] = _rows("select status, matched_name, matched_status, snapshot_date,"
                  " raw_response_json->>'source' from reg_checks")
    assert reg[0] == "FOUND" and reg[1] == f"Dr {name}" and reg[2].startswith("Registered")
    assert reg[3] == dt.date.today() and reg[4] == "register-http"
    [lic] = _rows("select engine, verified from licence_checks")
    assert tuple(lic) == ("licence-local", True)
    [(engines,)] = _rows("select engines from kyc_decisions")
    assert engines["register"].startswith("register-http/") and engines["licence"] == "licence-local/1"

    # The register check ran as its own task run, beside the document and face stages
    # (not before the scan started nor after the face match ended). Which of the two it
    # overlaps depends on the machine's load, so the window is the pair of them.
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    spans = {r.name.rsplit("-", 1)[0]: (r.start_time, r.end_time) for r in runs if r.start_time}
    reg_span = spans["check-register"]
    engines_span = (spans["scan-document"][0], spans["match-face"][1])
    assert reg_span[0] < engines_span[1] and engines_span[0] < reg_span[1], spans


def test_batch_flow_with_apify_polls_then_unavailable_register_is_rechecked(
    pipeline_env: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch, fresh_engines: None
) -> None:
    from flows.ingest import ingest_landing
    from flows.registers import recheck_registers

    name = _land_doctor(pipeline_env, shared_data, "reg-apify-1", ("NMC", "98Y1234D"))
    api = FakeApify(items={("NMC", "98Y1234D"): [{
        "registrationNumber": "98Y1234D", "found": True, "name": name, "status": "Registered",
        "conditions": ["Conditions of practice order"]}]}, polls_to_finish=2, final_status="FAILED")
    with fake_apify(api) as base:
        monkeypatch.setenv("KYC_REGISTER_ENGINE", "apify")
        monkeypatch.setenv("KYC_APIFY_TOKEN", "apify-test-token")
        monkeypatch.setenv("KYC_APIFY_API_URL", base)
        monkeypatch.setenv("KYC_APIFY_ACTORS", json.dumps({"NMC": "kyc~nmc-register"}))
        monkeypatch.setenv("KYC_REGISTER_BACKOFF_SECONDS", "0.05")
        runtime.reset()
        [outcome] = ingest_landing(str(pipeline_env))
        # The actor run failed: the register is unavailable, a reviewer looks, and
        # nothing is cached (the next check asks again).
        assert outcome.decision == "MANUAL_REVIEW" and "REGISTER_UNAVAILABLE" in outcome.reasons, outcome
        assert len(api.started) == 1 and api.started[0]["hooks"] == []  # not a deployment run: it polled
        assert _rows("select count(*) from register_cache where result_json is not null")[0][0] == 0

        # The recheck sweep asks again; this time the actor succeeds.
        api.final_status = "SUCCEEDED"
        assert recheck_registers() == [
            {"application_id": "reg-apify-1", "register": "NMC", "outcome": "FOUND"}
        ]
        assert recheck_registers() == []  # answered: off the list
    rows = _rows("select status, raw_response_json->>'source', raw_response_json->'conditions'"
                 " from reg_checks order by checked_at")
    assert [tuple(r) for r in rows] == [
        ("UNAVAILABLE", "register-apify", []),
        ("FOUND", "register-apify", ["Conditions of practice order"]),
    ]
    [(cached,)] = _rows("select count(*) from register_cache where reg_type = 'NMC' and result_json is not null")
    assert cached == 1


def test_apify_webhook_resumes_a_suspended_flow_run_through_the_prefect_api(prefect_api: None) -> None:
    from prefect import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.input.run_input import keyset_from_paused_state
    from prefect.settings import PREFECT_API_URL
    from prefect.states import Running, Suspended

    from flows.registers import RegisterRunDone
    from kyc.clients.http import RetryPolicy
    from kyc.engines.register_apify import ApifyRegisterClient, prefect_resume_webhook

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("process-application-suspend-test")
        deployment_id = client.create_deployment(flow_id=flow_id, name="suspend-test")
        run = client.create_flow_run_from_deployment(deployment_id)
        client.set_flow_run_state(run.id, Running(), force=True)
    # What suspend_flow_run(wait_for_input=RegisterRunDone) does inside the flow run
    # (await_register_run), done here from outside for that deployment run: propose
    # the Suspended state with an input keyset, then save the input's schema.
    # (Prefect 3.8.8's suspend_flow_run(flow_run_id=...) cannot save the schema for
    # another run: it looks the flow run id up in the context.)
    proposed = Suspended(timeout_seconds=300, pause_key="register-run-x")
    keyset = keyset_from_paused_state(proposed)
    proposed.state_details.run_input_keyset = keyset
    with get_client(sync_client=True) as client:
        accepted = client.set_flow_run_state(run.id, proposed)
        assert accepted.state is not None and accepted.state.is_paused(), accepted
    RegisterRunDone.save(keyset, flow_run_id=run.id)
    with get_client(sync_client=True) as client:
        suspended = client.read_flow_run(run.id).state
    assert suspended is not None and suspended.type is StateType.PAUSED and suspended.name == "Suspended"

    api = FakeApify(items={("GMC", "7123456"): []}, polls_to_finish=1)
    with fake_apify(api) as base:
        apify = ApifyRegisterClient(token="t", actors={"GMC": "kyc~gmc"}, api_url=base,
                                    policy=RetryPolicy(retries=0), rate_per_second=1000)
        run_id = apify.start("GMC", "7123456",
                             webhook=prefect_resume_webhook(str(PREFECT_API_URL.value()), str(run.id)))
        assert apify.wait("GMC", run_id) == "SUCCEEDED"  # the run ends: Apify calls the webhook
    assert [c["status"] for c in api.webhook_calls] == [201]  # Prefect accepted the resume

    with get_client(sync_client=True) as client:
        resumed = client.read_flow_run(run.id).state
    assert resumed is not None and resumed.type is StateType.SCHEDULED  # a worker runs it again
    done = RegisterRunDone.load(keyset_from_paused_state(suspended), flow_run_id=run.id)
    assert done.event_type == "ACTOR.RUN.SUCCEEDED" and done.event_data["actorRunId"] == run_id
