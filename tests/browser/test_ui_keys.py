"""The pages with AUTH=keys, in a real browser: sign in once with a key, then draw, review and
correct as usual, and read the model page. Also: the CSP (no inline script or style) blocks
nothing the pages use."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from store import session_scope
from store.keys import create_key
from tests.browser.conftest import VIEWPORT, watch_errors
from tests.browser.test_ui_draw import RESULT_TIMEOUT, draw_digit

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sign_in_with_a_key_then_draw(chromium, keyed_stack):
    stack = keyed_stack
    with session_scope(stack.database_url) as session:
        _, key = create_key(session, "browser")
    context = chromium.new_context(base_url=stack.url, viewport=VIEWPORT)
    context.set_default_timeout(20_000)
    page = context.new_page()
    blocked = watch_errors(page)
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
        review_and_correct(page, label)
        page.goto("/history")
        expect(page.locator("#recognitions li")).to_have_count(1)
        page.goto("/model")
        model = page.request.get("/api/v1/model").json()
        expect(page.locator("#active-version")).to_have_text(model["active"]["version"])
        expect(page.locator("#per-digit-body tr")).to_have_count(10)
        page.click("text=Sign out")
        expect(page).to_have_url(f"{stack.url}/signin")
        assert not blocked, blocked
    finally:
        context.close()


def review_and_correct(page, label: int) -> None:
    """The review queue holds this key's digit only (the stack has other clients' digits); the
    correction made with a key press is stored with the key's name."""
    page.goto("/review?below=1")
    expect(page.locator("#scope")).to_contain_text("Your digits")
    expect(page.locator("#card")).to_be_visible()
    expect(page.locator("#item-position")).to_have_text("1 of 1")
    expect(page.locator("#predicted")).to_have_text(str(label))
    wrong = (label + 1) % 10
    with page.expect_response(lambda r: r.request.method == "PUT") as response_info:
        page.keyboard.press(str(wrong))
    correction = response_info.value.json()["digits"][0]["correction"]
    assert correction["label"] == wrong and correction["corrected_by"] == "browser"
    expect(page.locator("#empty")).to_be_visible()
