"""Console logins, sessions, CSRF and roles, over HTTP against a real uvicorn and database."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from kyc.db.engine import session_scope
from kyc.db.models import ConsoleSession, ConsoleUser
from kyc.domain.review import Role
from kyc.runtime import Runtime
from kyc.services import accounts
from kyc.web.app import create_app
from tests.web.console_fixtures import (
    PASSWORD,
    Console,
    console,
    console_overrides,
    csrf_of,
    login,
    make_user,
    queued_case,
    try_login,
)

__all__ = ["console", "console_overrides"]  # fixtures used by name
pytestmark = pytest.mark.db


def test_every_page_and_image_needs_a_login(console: Console) -> None:
    app_id = queued_case(console)
    client = console.client()
    for path in (
        "/",
        "/queue/rows",
        "/stats",
        f"/cases/{app_id}",
        f"/cases/{app_id}/images/id_document",
        f"/cases/{app_id}/images/selfie",
    ):
        response = client.get(path)
        assert response.status_code == 303, path
        location = response.headers["location"]
        assert location.startswith("/login"), location
        if path != "/":
            assert "next=" in location
    assert client.get("/events").status_code == 401
    # a POST without a session does nothing and goes to the login page
    response = client.post(f"/cases/{app_id}/claim", data={"csrf_token": "x"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_login_ok_sets_a_hardened_cookie_and_a_hashed_session(console: Console) -> None:
    name = make_user(console, Role.REVIEWER)
    client = console.client()
    response = try_login(client, name, PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("kyc_session=")
    )
    token = cookie.split(";")[0].split("=", 1)[1]
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    assert "secure" not in lowered.replace("kyc_session", "")  # web_secure_cookies off here
    with session_scope(console.rt.db) as s:
        stored = s.execute(sa.select(ConsoleSession.token_hash)).scalars().all()
    assert accounts.token_hash(token) in stored and token not in stored
    page = client.get("/")
    assert page.status_code == 200 and name.title() in page.text


def test_an_old_hash_is_upgraded_at_login(console: Console) -> None:
    name = make_user(console, Role.VIEWER)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with session_scope(console.rt.db) as s:
        s.execute(
            sa.update(ConsoleUser).where(ConsoleUser.username == name).values(password_hash=weak)
        )
    login(console, name)
    with session_scope(console.rt.db) as s:
        stored = s.execute(
            sa.select(ConsoleUser.password_hash).where(ConsoleUser.username == name)
        ).scalar_one()
    assert stored != weak and stored.startswith("$argon2id$")
    assert not PasswordHasher().check_needs_rehash(stored)
    login(console, name)  # the new hash verifies


def test_cookies_are_secure_when_configured(console: Console) -> None:
    """The same app with KYC_WEB_SECURE_COOKIES on, over HTTPS on loopback."""
    settings = console.settings.model_copy(update={"web_secure_cookies": True})
    name = make_user(console, Role.VIEWER)

    async def go() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="https://console.test") as c:
            form = await c.get("/login")
            posted = await c.post(
                "/login",
                data={"username": name, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
            )
            return form, posted

    try:
        form, response = asyncio.run(go())
    finally:
        Runtime.from_settings(settings).close()  # the second app's runtime
    assert "secure" in form.headers["set-cookie"].lower()
    assert response.status_code == 303
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("kyc_session=")
    )
    assert "; secure" in cookie.lower() and "httponly" in cookie.lower()
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_next_is_kept_and_only_relative(console: Console) -> None:
    name = make_user(console, Role.VIEWER)
    client = console.client()
    assert client.get("/stats").headers["location"] == "/login?next=/stats"
    form = client.get("/login?next=/stats")
    response = client.post(
        "/login",
        data={
            "username": name,
            "password": PASSWORD,
            "csrf_token": csrf_of(form.text),
            "next": "//evil.example/x",
        },
    )
    assert response.headers["location"] == "/"


def test_wrong_password_unknown_user_and_disabled_user_are_refused_alike(
    console: Console,
) -> None:
    name = make_user(console, Role.REVIEWER)
    gone = make_user(console, Role.REVIEWER)
    accounts.disable_user(console.rt, gone)
    for username, password in (
        (name, "wrong password!"),
        ("nobody-here", PASSWORD),
        (gone, PASSWORD),
    ):
        response = try_login(console.client(), username, password)
        assert response.status_code == 401, username
        assert "wrong username or password" in response.text
        assert "kyc_session=" not in response.headers.get("set-cookie", "")


def test_disabling_a_user_ends_their_sessions(console: Console) -> None:
    name = make_user(console, Role.REVIEWER)
    client = login(console, name)
    assert client.get("/").status_code == 200
    accounts.disable_user(console.rt, name)
    assert client.get("/").status_code == 303


def test_login_rate_limit_per_username(console: Console) -> None:
    name = make_user(console, Role.REVIEWER)
    for _ in range(console.settings.web_login_attempts):
        assert try_login(console.client(), name, "not the password").status_code == 401
    refused = try_login(console.client(), name, PASSWORD)  # even the right password
    assert refused.status_code == 429
    assert "too many failed logins" in refused.text


def test_login_rate_limit_per_address(console: Console) -> None:
    names = [make_user(console, Role.REVIEWER) for _ in range(2)]
    address = "192.0.2.77"
    for i in range(console.settings.web_login_attempts):
        client = console.client(address)
        assert try_login(client, names[i % 2], "not the password").status_code == 401
    fresh = make_user(console, Role.REVIEWER)
    assert try_login(console.client(address), fresh, PASSWORD).status_code == 429
    assert try_login(console.client("192.0.2.78"), fresh, PASSWORD).status_code == 303


def test_session_expiry_and_logout(console: Console) -> None:
    name = make_user(console, Role.VIEWER)
    client = login(console, name)
    with session_scope(console.rt.db) as s:
        s.execute(
            sa.update(ConsoleSession)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            .where(
                ConsoleSession.console_user_id.in_(
                    sa.select(accounts.store.ConsoleUser.console_user_id).where(
                        accounts.store.ConsoleUser.username == name
                    )
                )
            )
        )
    assert client.get("/").status_code == 303  # expired: back to the login page

    client = login(console, name)
    page = client.get("/")
    before = _sessions(console, name)
    response = client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert _sessions(console, name) == before - 1
    assert client.get("/").status_code == 303


def _sessions(console: Console, name: str) -> int:
    with session_scope(console.rt.db) as s:
        return int(
            s.execute(
                sa.select(sa.func.count())
                .select_from(ConsoleSession)
                .join(
                    accounts.store.ConsoleUser,
                    accounts.store.ConsoleUser.console_user_id == ConsoleSession.console_user_id,
                )
                .where(accounts.store.ConsoleUser.username == name)
            ).scalar_one()
        )


def test_csrf_token_and_origin_are_checked(console: Console) -> None:
    app_id = queued_case(console)
    client = login(console, make_user(console, Role.REVIEWER))
    page = client.get(f"/cases/{app_id}")
    token = csrf_of(page.text)
    assert client.post(f"/cases/{app_id}/claim", data={}).status_code == 403
    assert client.post(f"/cases/{app_id}/claim", data={"csrf_token": "forged"}).status_code == 403
    foreign = client.post(
        f"/cases/{app_id}/claim",
        data={"csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert (
        client.get(f"/cases/{app_id}").text.count('assignee <strong data-testid="assignee">nobody')
        == 1
    )
    ok = client.post(
        f"/cases/{app_id}/claim", data={"csrf_token": token}, headers={"Origin": console.url}
    )
    assert ok.status_code == 303
    # the login form has its own token (double-submit cookie)
    fresh = console.client()
    fresh.get("/login")
    assert fresh.post("/login", data={"username": "x", "password": "y"}).status_code == 403


def test_roles_viewer_reads_reviewer_cannot_assign(console: Console) -> None:
    app_id = queued_case(console)
    viewer = login(console, make_user(console, Role.VIEWER))
    page = viewer.get(f"/cases/{app_id}")
    assert page.status_code == 200 and 'id="actions"' not in page.text
    image = viewer.get(f"/cases/{app_id}/images/id_document")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.headers["cache-control"] == "no-store"
    refused = viewer.post(
        f"/cases/{app_id}/approve", data={"csrf_token": csrf_of(page.text), "expected_version": "1"}
    )
    assert refused.status_code == 403 and "reviewer role" in refused.text

    reviewer_name = make_user(console, Role.REVIEWER)
    reviewer = login(console, reviewer_name)
    token = csrf_of(reviewer.get("/").text)
    refused = reviewer.post(
        f"/cases/{app_id}/assign", data={"csrf_token": token, "assignee": reviewer_name}
    )
    assert refused.status_code == 403 and "admin role" in refused.text
    admin = login(console, make_user(console, Role.ADMIN))
    done = admin.post(
        f"/cases/{app_id}/assign",
        data={"csrf_token": csrf_of(admin.get("/").text), "assignee": reviewer_name},
    )
    assert done.status_code == 303
    assert f'data-testid="assignee">{reviewer_name}<' in admin.get(f"/cases/{app_id}").text


def test_images_refuse_traversal_and_unknown_roles(console: Console) -> None:
    app_id = queued_case(console)
    client = login(console, make_user(console, Role.VIEWER))
    for path in (
        f"/cases/{app_id}/images/..%2F..%2Fetc%2Fpasswd",
        f"/cases/{app_id}/images/application.json",
        "/cases/..%2Fincoming/images/selfie",
        "/cases/%2E%2E/images/selfie",
        f"/cases/{app_id}/images/frame-1",
        "/cases/no-such-case/images/selfie",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert not response.headers["content-type"].startswith("image/"), path
    selfie = client.get(f"/cases/{app_id}/images/selfie")
    assert selfie.status_code == 200 and selfie.content[:3] == b"\xff\xd8\xff"
    portrait = client.get(f"/cases/{app_id}/images/portrait")
    assert portrait.status_code == 404 and "found no face" in portrait.text
