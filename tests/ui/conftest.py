"""The web UI tests: a real headless Chromium (Debian's) driven by Playwright.

One browser per test module, a fresh page (browser context) per test; each test
leaves a screenshot in ``tests/ui/output/`` and fails on any uncaught error in
the page. There is no skip: without ``/usr/bin/chromium`` every test fails and
says how to install it (``make deps``, which ``make test`` runs).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

sys.path.insert(0, str(Path(__file__).parent))  # ui_stack

CHROMIUM = os.environ.get("LWM2M_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = Path(__file__).parent / "output"
#: How long the page may take for anything (ms): loopback answers in a few.
PAGE_TIMEOUT_MS = 10_000


def launch(playwright: object) -> Browser:
    """Debian's Chromium, headless; a clear failure when it is not installed."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the web UI is tested in Debian's Chromium. "
            "Run `make deps` (as root it installs chromium; `make test` runs it), "
            "or point LWM2M_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    return playwright.chromium.launch(  # type: ignore[attr-defined, no-any-return]
        executable_path=CHROMIUM, args=CHROMIUM_ARGS
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page (its own sessionStorage); its uncaught errors fail the test; a
    screenshot of it is kept, whatever the outcome."""
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / f"{request.node.name}.png"))
    finally:
        page.close()
    assert not errors, f"uncaught errors in the page: {errors}"
