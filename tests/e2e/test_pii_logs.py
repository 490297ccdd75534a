"""No form value in any log line, dead letter, exception or CLI output, at DEBUG (issue 16).

The demo's applications (genuine, impostors, invalid forms, tampered documents) go
through ``kyc ingest`` with every logger at DEBUG (Prefect's run logs included, read
back from its database), and a few through the intake API with the root logger at
DEBUG. Any form value — names, birth dates, document numbers, emails, addresses —
found in what was printed or stored outside the PII tables fails the test.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kyc.demo.generate import generate_demo
from kyc.services.api_keys import create_api_key
from kyc.storage.local import LocalStore
from tests.fixtures.db import DatabaseFactory
from tests.services.conftest import service_settings
from tests.web.conftest import INTAKE_OVERRIDES, serve_intake

pytestmark = [pytest.mark.slow, pytest.mark.db]

ROOT = Path(__file__).resolve().parents[2]


def form_values(landing: Path) -> dict[str, set[str]]:
    """Per application: the form's personal values worth looking for (5+ characters)."""
    out: dict[str, set[str]] = {}
    for path in sorted((landing / "incoming").glob("*/application.json")):
        try:
            form = json.loads(path.read_bytes())
        except ValueError:
            continue
        if not isinstance(form, dict):
            continue
        address = form.get("address") if isinstance(form.get("address"), dict) else {}
        document = form.get("document") if isinstance(form.get("document"), dict) else {}
        values = {
            form.get("first_name"),
            form.get("last_name"),
            form.get("email"),
            form.get("date_of_birth"),
            document.get("number"),
            address.get("line1"),
            address.get("postal_code"),
        }
        out[path.parent.name] = {v for v in values if isinstance(v, str) and len(v) >= 5}
    return out


def leaks(text: str, values: dict[str, set[str]]) -> list[str]:
    return sorted({f"{app}: {v!r}" for app, vs in values.items() for v in vs if v in text})


def test_demo_and_intake_at_debug_print_no_form_value(
    pg_server: DatabaseFactory, tmp_path: Path, shared_data: Path, request: pytest.FixtureRequest
) -> None:
    if "external" in request.node.name:
        pytest.skip("what is printed does not depend on the server: the embedded run suffices")
    landing = tmp_path / "landing"
    generate_demo(LocalStore(landing), shared_data)
    values = form_values(landing)
    assert sum(len(v) for v in values.values()) > 100  # not vacuous

    db_url = pg_server.create("kyc_pii")
    prefect_home = tmp_path / "prefect"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KYC_"))} | {
        "KYC_DATABASE_URL": db_url,
        "KYC_LANDING": str(landing),
        "KYC_LIVENESS_POLICY": "record",
        "KYC_SHARED_DATA_DIR": str(shared_data),
        "KYC_LANDING_SETTLE_SECONDS": "0",
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_LOGGING_LEVEL": "DEBUG",
        "PREFECT_LOGGING_ROOT_LEVEL": "DEBUG",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PREFECT_SERVER_LOGGING_LEVEL": "DEBUG",
        "GX_ANALYTICS_ENABLED": "false",
    }
    run = subprocess.run(
        [sys.executable, "-m", "kyc.cli", "ingest", str(landing), "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    outcomes = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(outcomes) >= 20, run.stderr[-3000:]
    assert "DEBUG" in run.stderr  # the loggers really were at DEBUG
    found = leaks(run.stdout + run.stderr, values)

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            stored = [
                str(r)
                for table in ("dead_letters", "audit_log", "notification_outbox", "kyc_decisions")
                for r in conn.execute(sa.text(f"SELECT t::text FROM {table} t"))
            ]
    finally:
        engine.dispose()
    assert any("APPLICATION_INVALID" in r for r in stored)  # the demo's bad forms are there
    found += leaks("\n".join(stored), values)

    # Prefect's own run logs (its ephemeral API database).
    databases = list(prefect_home.rglob("*.db"))
    for path in databases:
        with sqlite3.connect(path) as lite:
            tables = {r[0] for r in lite.execute("SELECT name FROM sqlite_master")}
            if "log" in tables:
                messages = "\n".join(m for (m,) in lite.execute("SELECT message FROM log"))
                found += leaks(messages, values)

    # The intake API, its root logger at DEBUG.
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        web_landing = tmp_path / "web-landing"
        settings = service_settings(
            pg_server.create("kyc_pii_web"), web_landing, **INTAKE_OVERRIDES
        )
        with serve_intake(settings) as server:
            key = create_api_key(server.rt, "pii", None, actor="test").key
            sent: dict[str, Any] = {}
            for app_id in sorted(values)[:4]:
                folder = landing / "incoming" / app_id
                form = json.loads((folder / "application.json").read_bytes())
                form.pop("application_id", None)
                parts = [
                    ("application", ("application.json", json.dumps(form), "application/json")),
                    (
                        "id_document",
                        ("f.jpg", (folder / "id_document.jpg").read_bytes(), "image/jpeg"),
                    ),
                    ("selfie", ("s.jpg", (folder / "selfie.jpg").read_bytes(), "image/jpeg")),
                ]
                r = httpx.post(
                    f"{server.url}/v1/applications",
                    files=parts,
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=60,
                )
                assert r.status_code in (202, 422), r.text
                found += leaks(r.text, {app_id: values[app_id]})
                if r.status_code == 202:
                    sent[r.json()["application_id"]] = r.json()["status_url"]
            deadline = time.monotonic() + 180
            for url in sent.values():
                while time.monotonic() < deadline:
                    s = httpx.get(
                        server.url + url, headers={"Authorization": f"Bearer {key}"}, timeout=30
                    )
                    found += leaks(s.text, values)
                    if s.json()["status"] in ("DECIDED", "FAILED_TO_PROCESS"):
                        break
                    time.sleep(0.5)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert any(r for r in records), "nothing was logged at DEBUG by the web app"
    found += leaks("\n".join(records), values)
    assert not found, "form values leaked:\n" + "\n".join(found[:40])
