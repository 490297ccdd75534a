"""Review console fixtures: a real uvicorn on loopback, a real database, seeded cases.

Import the fixtures into a test module (``from tests.web.console_fixtures import *``
style, by name). Each module gets its own database, landing folder and server.
Accounts are made through :mod:`kyc.services.accounts` (the code under test for
logins); MANUAL_REVIEW cases the way tests/services/test_review.py makes them.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from kyc.domain.records import DocumentField, DocumentScan, Finding, Reason
from kyc.domain.review import Role
from kyc.domain.rules import Signals
from kyc.runtime import Runtime
from kyc.services import accounts, decide
from kyc.settings import Settings
from kyc.storage.local import LocalStore
from kyc.web.app import create_app
from tests.fixtures.db import DatabaseFactory
from tests.services.conftest import land, open_landed, service_settings

#: Every console test account's password.
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Console:
    """A running console: its base URL, runtime, settings and landing folder."""

    url: str
    rt: Runtime
    settings: Settings
    landing: Path
    shared: Path
    app: FastAPI

    def client(self, address: str | None = None) -> httpx.Client:
        """A fresh browser-like client (its own cookies), not following redirects.

        Each client claims its own address (``X-Forwarded-For``, trusted from
        loopback as behind a proxy) so that the per-address login limit counts
        each test's failures apart.
        """
        import random

        address = address or f"198.51.100.{random.randint(1, 254)}"
        return httpx.Client(
            base_url=self.url,
            follow_redirects=False,
            timeout=30,
            headers={"X-Forwarded-For": address},
        )


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def console_settings(db_url: str, landing: Path, **overrides: Any) -> Settings:
    """Settings of a console test: plain-HTTP loopback cookies, a small login limit."""
    fields: dict[str, Any] = {
        "web_secure_cookies": False,
        "web_login_attempts": 3,
        "web_login_window_seconds": 60.0,
        "review_sla_hours": 24.0,
    }
    return service_settings(db_url, landing, **(fields | overrides))


@pytest.fixture(scope="module")
def console_overrides() -> dict[str, Any]:
    """Extra settings for this module's console (override in a module)."""
    return {}


@pytest.fixture(scope="module")
def console(
    pg_server: DatabaseFactory,
    tmp_path_factory: pytest.TempPathFactory,
    shared_data: Path,
    console_overrides: dict[str, Any],
) -> Iterator[Console]:
    """A console app under uvicorn on loopback, on a fresh database (stopped after)."""
    landing = tmp_path_factory.mktemp("console-landing")
    settings = console_settings(pg_server.create("kyc_web"), landing, **console_overrides)
    rt = Runtime.from_settings(settings)
    _ = rt.db  # migrate before the server starts
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the console did not start")
        time.sleep(0.05)
    try:
        yield Console(f"http://127.0.0.1:{config.port}", rt, settings, landing, shared_data, app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        rt.close()


def make_user(console: Console, role: Role, name: str | None = None) -> str:
    """A console account of ``role`` with :data:`PASSWORD`; returns its username."""
    import uuid

    name = name or f"{role.value}-{uuid.uuid4().hex[:6]}"
    accounts.add_user(console.rt, name, role=role, password=PASSWORD, display_name=name.title())
    return name


_HIDDEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The first CSRF token in a page's forms."""
    m = _HIDDEN.search(html)
    assert m, "no csrf_token in the page"
    return m.group(1)


def login(console: Console, username: str, password: str = PASSWORD) -> httpx.Client:
    """A client logged in as ``username`` (asserts the login worked)."""
    client = console.client()
    response = try_login(client, username, password)
    assert response.status_code == 303, response.text
    return client


def try_login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    """Post the login form as a browser would (token from the form and its cookie)."""
    form = client.get("/login")
    assert form.status_code == 200
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_of(form.text),
            "next": "/",
        },
    )


def queued_case(console: Console, *extra: Reason, fields: dict[str, str] | None = None) -> str:
    """A MANUAL_REVIEW decision, with extra findings and optionally fields 'read'.

    Args:
        console: the running console.
        extra: findings added to the decision's signals.
        fields: AnalyzeID key -> value for a scan recorded with the decision
            (source barcode, confidence 95); none: nothing read.
    """
    rt = console.rt
    landed = land(LocalStore(console.landing), console.shared, identity=8)
    case = open_landed(rt, str(console.landing), landed.application_id)
    scan = DocumentScan(
        fields=MappingProxyType(
            {k: DocumentField(v, v, 95.0, "barcode") for k, v in (fields or {}).items()}
        ),
        engine="test-reader",
        engine_version="1",
    )
    if fields:
        from kyc.db import repository as repo
        from kyc.db.engine import session_scope

        with session_scope(rt.db) as s:
            repo.record_doc_scan(s, id_document_id=case.refs.id_document_id, scan=scan)
    signals = Signals(
        case.application,
        scan,
        None,
        None,
        extra_findings=tuple(Finding(r, "test") for r in extra),
    )
    result = decide.decide_application(rt, case, signals)
    assert result.decision.value == "MANUAL_REVIEW", result
    return case.application_id
