"""The Apify register wait, whole: suspend, webhook, resume, decide — on a real worker.

A real Prefect server (the prefect_server fixture of test_deployment), the project's
deployments, a process worker run once per step, and the Apify API on loopback whose
actor run ends by itself a moment after it starts and then calls its webhook.

1. The worker runs the process-application deployment: the flow starts the Apify
   run and suspends; the worker's run ends, nothing is decided yet.
2. The actor run ends; Apify's webhook resumes the flow run through Prefect's API.
3. The worker runs it again: the flow collects the run's dataset and decides.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from kyc.settings import PROJECT_ROOT
from tests.e2e.test_deployment import BIN, _run, prefect_server  # noqa: F401 - fixture
from tests.fixtures.registers import FakeApify, fake_apify

pytestmark = [
    pytest.mark.slow,
    # ~2 minutes (a Prefect server, a deploy, two worker runs): opt-in, to keep the
    # suite's time; run with KYC_TEST_SUSPEND_CYCLE=1.
    pytest.mark.skipif(
        os.environ.get("KYC_TEST_SUSPEND_CYCLE") != "1",
        reason="full suspend/resume cycle on a worker: set KYC_TEST_SUSPEND_CYCLE=1",
    ),
]


def _flow_runs(api_url: str) -> list[dict]:
    req = urllib.request.Request(
        f"{api_url}/flow_runs/filter", data=b"{}", headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _land(landing: Path, shared: Path) -> str:
    from kyc.demo.cards import render_licence_back, render_licence_front
    from kyc.demo.generate import GENUINE_IDENTITIES, application_form, card_data, face_photos
    from kyc.storage.local import LocalStore

    card = card_data(random.Random(5), dt.date.today(), 4)
    photos = face_photos(shared, GENUINE_IDENTITIES[4])
    with Image.open(photos[0]) as portrait:
        front = render_licence_front(card, portrait.convert("RGB"), seed=4)
    store = LocalStore(landing)
    store.put("incoming/reg-suspend-1/id_document.jpg", front)
    store.put("incoming/reg-suspend-1/id_document_back.jpg", render_licence_back(card, seed=4))
    store.put("incoming/reg-suspend-1/selfie.jpg", photos[1].read_bytes())
    form = application_form("reg-suspend-1", card, registration=("GMC", "7123456"))
    store.put("incoming/reg-suspend-1/application.json", json.dumps(form).encode())
    return f"Dr {card.first_name} {card.last_name}"


def test_flow_suspends_for_the_apify_run_and_a_worker_finishes_it(
    prefect_server: dict[str, str], fresh_pg_url: str, tmp_path: Path  # noqa: F811 - fixture
) -> None:
    from kyc.settings import get_settings

    shared = get_settings().shared_data_dir
    if not (shared / "faces").is_dir():
        pytest.skip("../shared/data not present")
    name = _land(tmp_path / "landing", shared)
    api = FakeApify(
        items={("GMC", "7123456"): [{"registrationNumber": "7123456", "found": True, "name": name,
                                     "status": "Registered with a licence to practise", "conditions": []}]},
        polls_to_finish=10_000,  # nobody polls in this path; the test ends the run
    )
    api_url = prefect_server["PREFECT_API_URL"]
    with fake_apify(api) as apify_url:
        env = dict(prefect_server)
        env.update(
            KYC_PROJECT_DIR=str(PROJECT_ROOT),
            KYC_DATABASE_URL=fresh_pg_url,
            KYC_LIVENESS_POLICY="record",
            KYC_REGISTER_ENGINE="apify",
            KYC_APIFY_TOKEN="apify-test-token",
            KYC_APIFY_API_URL=apify_url,
            KYC_APIFY_ACTORS=json.dumps({"GMC": "kyc~gmc-register"}),
            KYC_APIFY_WEBHOOK_PREFECT_API_URL=api_url,
        )
        prefect = str(BIN / "prefect")
        _run([prefect, "work-pool", "create", "kyc-process", "--type", "process"], env)
        _run([prefect, "--no-prompt", "deploy", "--name", "process-application"], env)
        _run([prefect, "deployment", "run", "process-application/process-application",
              "--param", "application_id=reg-suspend-1", "--param", f"landing={tmp_path / 'landing'}"], env)

        # 1. The worker starts the flow; it starts the actor run and suspends.
        _run([prefect, "worker", "start", "--pool", "kyc-process", "--run-once"], env, timeout=600)
        [run] = _flow_runs(api_url)
        assert run["state"]["name"] == "Suspended", run["state"]
        assert len(api.started) == 1 and api.started[0]["hooks"], api.started
        engine = sa.create_engine(fresh_pg_url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("select count(*) from kyc_decisions")).scalar_one() == 0

        # 2. The actor run ends and its webhook resumes the flow run.
        api.end_run(api.started[0]["run_id"])
        assert [c["status"] for c in api.webhook_calls] == [201]
        [run] = _flow_runs(api_url)
        assert run["state"]["type"] == "SCHEDULED", run["state"]

        # 3. The worker runs it again: collect, decide.
        _run([prefect, "worker", "start", "--pool", "kyc-process", "--run-once"], env, timeout=600)
    [run] = _flow_runs(api_url)
    assert run["state"]["type"] == "COMPLETED", run["state"]
    assert len(api.started) == 1  # the resumed run reused its actor run
    try:
        with engine.connect() as conn:
            decisions = conn.execute(sa.text("select decision::text from kyc_decisions")).scalars().all()
            regs = conn.execute(sa.text(
                "select status, raw_response_json->>'source' from reg_checks")).all()
    finally:
        engine.dispose()
    assert decisions == ["PASS"]
    assert [tuple(r) for r in regs] == [("FOUND", "register-apify")]
