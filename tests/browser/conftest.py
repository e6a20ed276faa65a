"""The console in a real browser: Playwright (PyPI `playwright`) driving Debian's chromium, which `make test`
installs (never a downloaded browser), against a real stack. A failed test leaves a screenshot of its page in
test-output/browser/failures/; tests also write the screenshots the README and reviewers look at into
test-output/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from server.core.config import ROOT
from tests.support.stack import Stack, running_stack, scratch_database

CHROMIUM = "/usr/bin/chromium"
OUTPUT = ROOT / "test-output"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# How long an expectation waits for the page (Playwright's default is 5 s): the machines that run `make test` may
# be busy, and a send, say, goes through the workers and the simulated WhatsApp before the page shows READ.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """One gateway for the browser tests, on SQLite (the console is a client of the REST API: the backend makes no
    difference to it). The simulator runs 10 times faster than real time: a first QR code lasts 6 s, the next
    ones 2 s, so a test sees one rotate."""
    with scratch_database("sqlite") as url, running_stack(url, WAGW_SIMULATOR_TIME_SCALE="0.1") as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (TEST_DEB_PACKAGES)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"report_{report.when}", report)  # the page fixture reads it to know the test failed
    return report


def open_page(browser: Browser, request: pytest.FixtureRequest, viewport: dict[str, int]) -> Iterator[Page]:
    context = browser.new_context(viewport=viewport, device_scale_factor=2)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
        assert not errors, f"the page had script errors: {errors}"
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
            (OUTPUT / "browser" / "failures").mkdir(parents=True, exist_ok=True)
            page.screenshot(path=OUTPUT / "browser" / "failures" / f"{name}.png", full_page=True)
        context.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser tab (no session storage) at 1280 px."""
    yield from open_page(browser, request, DESKTOP)


@pytest.fixture
def phone_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser tab the size of a phone's screen (390 px)."""
    yield from open_page(browser, request, PHONE)
