"""Browser tests: Debian's headless Chromium driven by Playwright for Python.

The browser is the system's ``/usr/bin/chromium`` (``make browser-deps`` installs it
with apt-get), launched through ``executable_path``: Playwright's own browser
downloads are never used (nothing may be downloaded here). Without it the tests
skip and say how to install it.

Screenshots go to ``KYC_TEST_SCREENSHOTS`` when set (the README's pictures are
taken that way), else to a temporary folder; the path is printed in the summary.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.db import EXTERNAL_URL

CHROMIUM = Path("/usr/bin/chromium")
#: One PostgreSQL for the browser tests (they check pages, not SQL dialects): the
#: external server when one is configured (it is already running), else the embedded.
ONE_SERVER = "external" if EXTERNAL_URL else "embedded"

_SHOTS: list[Path] = []


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """The headless system Chromium under Playwright (one per test module).

    Module scope, not session: Playwright's sync API keeps an asyncio event loop
    running in the main thread while it is open, and every later test that calls
    ``asyncio.run`` (Prefect, the web tests) would fail with "cannot be called from a
    running event loop".
    """
    if not CHROMIUM.exists():
        pytest.skip(
            f"Debian's Chromium is not installed at {CHROMIUM}: run `make browser-deps`"
            " (apt-get install chromium); Playwright's browser downloads are not used"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            # no sandbox: the tests run as root in CI containers, where Chromium's
            # sandbox cannot start; the pages are our own, on loopback
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots are written."""
    chosen = os.environ.get("KYC_TEST_SCREENSHOTS", "").strip()
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    _SHOTS.append(path)
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for path in _SHOTS:
        terminalreporter.write_line(f"browser screenshots: {path}")
