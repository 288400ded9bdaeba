"""Browser fixtures: Debian's Chromium driven by Playwright against the live test service."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
#: Test runs write screenshots under var/; `make screenshots` points this at docs/screenshots on
#: purpose, so `make test` never changes tracked files.
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOTS_DIR") or Path(__file__).resolve().parents[2] / "var" / "screenshots"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 860}


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def base_url(chromium, live_server) -> str:
    return live_server.url


@pytest.fixture(scope="session")
def context(chromium, base_url):
    """One browser 'user' for the session: the history page shows what the other tests sent."""
    ctx = chromium.new_context(base_url=base_url, viewport=VIEWPORT, device_scale_factor=1)
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


def wait_until(page, expression: str, timeout: float = 20) -> None:
    """Poll a JavaScript expression from here until it is true. (`page.wait_for_function` polls
    with `eval` inside the page, which the CSP, with no 'unsafe-eval', refuses after the first
    try; `page.evaluate` runs through the DevTools protocol, which the CSP does not govern.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        page.wait_for_timeout(100)


def watch_errors(page) -> list[str]:
    """JavaScript errors on the page, and anything the CSP blocked (Chromium logs those)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return errors


@pytest.fixture
def page(context) -> Iterator:
    page = context.new_page()
    errors = page.js_errors = watch_errors(page)
    yield page
    page.close()
    assert not errors, f"JavaScript errors or CSP violations on the page: {errors}"


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
