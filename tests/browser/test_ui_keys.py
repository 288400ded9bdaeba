"""The pages with AUTH=keys, in a real browser: sign in once with a key, then draw as usual.
Also: the CSP (no inline script or style) blocks nothing the pages use."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from store import session_scope
from store.keys import create_key
from tests.browser.conftest import VIEWPORT
from tests.browser.test_ui_draw import RESULT_TIMEOUT, draw_digit

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sign_in_with_a_key_then_draw(chromium, keyed_stack):
    stack = keyed_stack
    with session_scope(stack.database_url) as session:
        _, key = create_key(session, "browser")
    context = chromium.new_context(base_url=stack.url, viewport=VIEWPORT)
    context.set_default_timeout(20_000)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
    try:
        page.goto("/")
        expect(page).to_have_url(f"{stack.url}/signin?next=/")
        page.fill("#key", "dr_not-a-key")
        page.click("button[type=submit]")
        expect(page.locator("#error")).to_contain_text("Unknown or revoked key")
        page.fill("#key", key)
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{stack.url}/")
        expect(page.locator("#pad")).to_be_visible()
        label = draw_digit(page, 1, left=180)
        page.click("#recognize")
        expect(page.locator("#answer-text")).to_have_text(str(label), timeout=RESULT_TIMEOUT)
        top_bar = page.locator("#prob-chart li.is-top .prob-bar")
        assert top_bar.bounding_box()["width"] > 10  # styled through CSSOM, allowed by the CSP
        page.goto("/history")
        expect(page.locator("#recognitions li")).to_have_count(1)
        page.click("text=Sign out")
        expect(page).to_have_url(f"{stack.url}/signin")
        blocked = [m for m in console if "Content Security Policy" in m or "pageerror" in m]
        assert not blocked, blocked
    finally:
        context.close()
