"""The review console in a real browser: headless Chromium against uvicorn on loopback.

One console (real uvicorn, real PostgreSQL, the app of ``kyc serve``) for the module,
with MANUAL_REVIEW cases decided through the services on synthetic pictures
(tests/browser/seed.py). Chromium logs in through the login form, reads the queue,
opens a case (its images load, the fields table is filled), approves under
four-eyes, rejects with reasons, asks for a resubmission (and sees the new landing
decided as a new version), and watches a new decision arrive in an open queue page
over server-sent events without reloading it. Screenshots are taken on the way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kyc.db.engine import session_scope
from kyc.db.models import KycDecision
from kyc.domain.records import Reason
from kyc.domain.review import Role
from tests.browser.conftest import ONE_SERVER
from tests.browser.seed import queued_case, reland
from tests.web.console_fixtures import PASSWORD, Console, console, make_user

__all__ = ["console"]  # a fixture used by name
pytestmark = [
    pytest.mark.browser,
    pytest.mark.db,
    # one database server is enough here: the SQL is tested on both elsewhere
    pytest.mark.parametrize("pg_server", [ONE_SERVER], indirect=True),
]

#: Playwright waits (ms): generous for a loaded 2-core machine, never a fixed sleep.
WAIT = 15_000


@pytest.fixture(scope="module")
def console_overrides() -> dict[str, Any]:
    # The default liveness policy: no liveness evidence sends a case to review, so a
    # document read for real (the showcase case) still lands in the queue.
    return {"liveness_policy": "require", "face_descriptor_process": False}


@pytest.fixture(scope="module")
def people(console: Console) -> dict[str, str]:
    """A reviewer and two approvers (accounts made through the accounts service)."""
    return {
        "reviewer": make_user(console, Role.REVIEWER, "browser-reviewer"),
        "approver": make_user(console, Role.APPROVER, "browser-approver"),
        "second": make_user(console, Role.APPROVER, "browser-approver-2"),
    }


@pytest.fixture(scope="module")
def cases(console: Console) -> dict[str, str]:
    """The module's open cases: the showcase (document read for real) and the others."""
    rt, landing = console.rt, console.landing
    return {
        "showcase": queued_case(rt, landing, 1, read=True),
        "four_eyes": queued_case(rt, landing, 2, Reason.DOCUMENT_INCONSISTENT),
        "reject": queued_case(rt, landing, 3),
        "resubmit": queued_case(rt, landing, 4),
        "escalated": queued_case(rt, landing, 5, Reason.DUPLICATE_IDENTITY),
    }


@pytest.fixture
def open_browser(chromium: Any, console: Console) -> Iterator[Any]:
    """``open_browser(username)``: a fresh browser context, logged in; a page in it."""
    contexts: list[Any] = []

    def login(username: str) -> Any:
        context = chromium.new_context(
            base_url=console.url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(WAIT)
        contexts.append(context)
        page = context.new_page()
        page.goto("/")
        page.wait_for_url(re.compile(r"/login"))
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#queue-region")
        return page

    yield login
    for context in contexts:
        context.close()


def latest(console: Console, app_id: str) -> dict[str, Any]:
    """The application's latest decision version, as stored."""
    d = KycDecision
    with session_scope(console.rt.db) as s:
        found = s.execute(
            sa.select(d).where(d.application_id == app_id).order_by(d.version.desc()).limit(1)
        ).scalar_one()
        return {
            "version": found.version,
            "decision": str(found.decision),
            "reasons": list(found.reasons),
            "source": found.source,
            "reviewed_by": list(found.reviewed_by),
        }


def case_page(open_browser: Any, username: str, app_id: str) -> Any:
    """A page logged in as ``username`` showing the case."""
    page = open_browser(username)
    page.goto(f"/cases/{app_id}")
    return page


def row(page: Any, app_id: str) -> Any:
    return page.locator(f'#queue tr[data-application-id="{app_id}"]')


def flash(page: Any) -> str:
    return str(page.locator("#flash").inner_text())


def test_login_then_the_queue_lists_the_open_cases(
    chromium: Any, console: Console, people: dict[str, str], cases: dict[str, str], shots: Path
) -> None:
    context = chromium.new_context(base_url=console.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT)
    try:
        page = context.new_page()
        page.goto("/")
        page.wait_for_url(re.compile(r"/login$"))  # not logged in: sent to log in
        page.screenshot(path=shots / "01-login.png")
        page.fill("#username", people["reviewer"])
        page.fill("#password", "not the password")
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#flash.error")  # the form again, with the refusal
        assert "/login" in page.url
        assert "password" in flash(page).lower() or "username" in flash(page).lower()

        page.fill("#username", people["reviewer"])
        page.fill("#password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#queue")
        assert page.url.rstrip("/") == console.url
        for app_id in cases.values():
            assert row(page, app_id).count() == 1, app_id
        assert int(page.get_by_test_id("count-open").inner_text()) == len(cases)
        assert row(page, cases["escalated"]).locator(".badge.reason").first.is_visible()
        page.screenshot(path=shots / "02-queue.png", full_page=True)

        # A filter keeps exactly the matching cases; clearing it shows them all again.
        page.select_option("#filters select[name=reason]", "DOCUMENT_INCONSISTENT")
        page.click("#filters button[type=submit]")
        page.wait_for_url(re.compile(r"reason=DOCUMENT_INCONSISTENT"))
        ids = page.locator("#queue tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.applicationId)"
        )
        assert ids == [cases["four_eyes"]]
        page.click("#filters a.clear")
        page.wait_for_selector(f'#queue tr[data-application-id="{cases["reject"]}"]')

        # Logging out ends the session: the queue sends to the login page again.
        page.click("form[action='/logout'] button")
        page.wait_for_url(re.compile(r"/login"))
        page.goto("/")
        page.wait_for_url(re.compile(r"/login"))
    finally:
        context.close()


def test_case_page_shows_the_images_and_the_fields_table(
    open_browser: Any, people: dict[str, str], cases: dict[str, str], shots: Path
) -> None:
    page = open_browser(people["reviewer"])
    app_id = cases["showcase"]
    page.click(f'#queue tr[data-application-id="{app_id}"] a[href="/cases/{app_id}"]')
    page.wait_for_url(re.compile(f"/cases/{app_id}$"))
    assert page.locator("#case").get_attribute("data-application-id") == app_id

    # Every picture is loaded by the browser (decoded: a non-zero natural width).
    images = page.locator("#images img")
    # front, back, selfie, and the portrait the reader cropped from the front
    assert images.count() == 4
    page.wait_for_function(
        "() => [...document.querySelectorAll('#images img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    sizes = images.evaluate_all("imgs => imgs.map(i => [i.alt, i.naturalWidth])")
    assert all(width >= 100 for _, width in sizes), sizes

    # The fields read from the barcode, beside the form, with source and confidence.
    fields = page.locator("#fields-table tbody tr")
    assert fields.count() >= 5
    family = page.locator('#fields-table tr[data-field="LAST_NAME"]')
    cells = family.locator("td").all_inner_texts()
    assert cells[1] and cells[1] == cells[2].upper(), cells  # document vs form
    assert cells[3].startswith("barcode") and float(cells[4]) >= 50, cells
    assert "agrees" in cells[5]

    page.screenshot(path=shots / "03-case.png", full_page=True)
    page.locator("#images").scroll_into_view_if_needed()
    page.evaluate("() => window.scrollTo(0, document.querySelector('#images').offsetTop - 8)")
    page.screenshot(path=shots / "03-case-evidence.png")

    # Zoom and rotate act on the picture itself (console.js; no inline script).
    front = page.get_by_test_id("image-id_document")
    front.locator("button[data-zoom=in]").click()
    front.locator("button[data-rotate]").click()
    transform = front.locator("img").evaluate("i => i.style.transform")
    assert "scale(1.25)" in transform and "rotate(90deg)" in transform, transform
    front.locator("button[data-reset]").click()
    assert "scale(1)" in front.locator("img").evaluate("i => i.style.transform")


def test_four_eyes_needs_a_second_approver_and_refuses_the_same_person(
    console: Console,
    open_browser: Any,
    people: dict[str, str],
    cases: dict[str, str],
    shots: Path,
) -> None:
    app_id = cases["four_eyes"]
    first = case_page(open_browser, people["approver"], app_id)
    assert first.locator(".badge.foureyes").is_visible()
    first.click("#approve-form button[type=submit]")
    first.wait_for_selector("#pending-approval")
    assert "second approver" in flash(first)
    assert latest(console, app_id)["version"] == 1  # nothing decided yet

    # The same person cannot give the second approval.
    first.click("#approve-form button[type=submit]")
    first.wait_for_selector("#flash.error")
    assert "not you" in flash(first)
    first.screenshot(path=shots / "04-four-eyes-refused.png")
    assert latest(console, app_id)["version"] == 1

    # A reviewer (not an approver) cannot either.
    reviewer = case_page(open_browser, people["reviewer"], app_id)
    reviewer.click("#approve-form button[type=submit]")
    reviewer.wait_for_selector("#flash.error")
    assert "approver role" in flash(reviewer)

    # A second approver decides it: back to the queue, the case gone from it.
    second = case_page(open_browser, people["second"], app_id)
    assert people["approver"] in second.locator("#pending-approval").inner_text()
    second.click("#approve-form button[type=submit]")
    second.wait_for_url(re.compile(r"/$"))
    assert "approved" in flash(second).lower()
    assert row(second, app_id).count() == 0
    assert latest(console, app_id) == {
        "version": 2,
        "decision": "PASS",
        "reasons": ["REVIEW_APPROVED"],
        "source": "review",
        "reviewed_by": [people["approver"], people["second"]],
    }
    second.goto(f"/cases/{app_id}")
    version_2 = second.locator('#versions tr[data-version="2"]').inner_text()
    assert "REVIEW_APPROVED" in version_2 and people["second"] in version_2


def test_reject_with_reasons_and_a_note(
    console: Console, open_browser: Any, people: dict[str, str], cases: dict[str, str]
) -> None:
    app_id = cases["reject"]
    page = case_page(open_browser, people["reviewer"], app_id)
    # No reason ticked: refused, nothing decided.
    page.click("#reject-form button[type=submit]")
    page.wait_for_selector("#flash.error")
    assert "at least one reason" in flash(page)
    page.check("#reject-form input[value=FACE_MISMATCH]")
    page.check("#reject-form input[value=DOCUMENT_FORGED]")
    page.fill("#reject-form textarea[name=note]", "selfie and card do not belong together")
    page.click("#reject-form button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    assert row(page, app_id).count() == 0
    decided = latest(console, app_id)
    assert decided["decision"] == "FAIL" and decided["source"] == "review"
    assert decided["reasons"] == ["REVIEW_REJECTED", "DOCUMENT_FORGED", "FACE_MISMATCH"]
    page.goto(f"/cases/{app_id}")
    assert "selfie and card do not belong together" in page.locator("#notes").inner_text()
    assert page.locator("#reject-form").count() == 0  # decided: no more actions


def test_resubmission_waits_for_the_applicant_then_the_new_landing_is_a_new_version(
    console: Console, open_browser: Any, people: dict[str, str], cases: dict[str, str]
) -> None:
    app_id = cases["resubmit"]
    page = case_page(open_browser, people["reviewer"], app_id)
    page.select_option("#resubmit-form select[name=document]", "selfie")
    page.click("#resubmit-form button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    assert row(page, app_id).count() == 0
    assert latest(console, app_id)["reasons"] == ["RESUBMISSION_REQUESTED"]
    page.goto(f"/cases/{app_id}")
    assert page.locator(".badge.waiting").is_visible()

    # The applicant lands a new selfie: decided again, as version 3, back in the queue.
    reland(console.rt, console.landing, app_id, 4)
    page.goto("/")
    row(page, app_id).wait_for()
    page.goto(f"/cases/{app_id}")
    assert page.locator("#case").get_attribute("data-version") == "3"
    assert page.locator('#versions tr[data-version="3"]').inner_text().count("pipeline") == 1


def test_a_new_decision_appears_live_in_an_open_queue_page(
    console: Console, open_browser: Any, people: dict[str, str], cases: dict[str, str], shots: Path
) -> None:
    page = open_browser(people["reviewer"])
    page.wait_for_selector("#live[data-state=live]")
    # A mark on this very document: a reload or a navigation would lose it.
    page.evaluate("() => { window.__stillHere = true; }")
    app_id = queued_case(console.rt, console.landing, 6, Reason.NAME_MISMATCH)
    row(page, app_id).wait_for()
    assert page.evaluate("() => window.__stillHere === true"), "the page was reloaded"
    assert "NAME_MISMATCH" in row(page, app_id).inner_text()
    page.screenshot(path=shots / "05-queue-live.png", full_page=True)
