"""Draw page in a real browser: strokes traced from MNIST test digits, replayed with the mouse."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import wait_until
from tests.browser.strokes import digit_strokes, mnist_test, replay

pytestmark = pytest.mark.browser

RESULT_TIMEOUT = 40_000
SCALE = 10.0  # a 28 px MNIST digit becomes 280 canvas pixels (the pad is 640x320)


def draw_digit(page, index: int, left: float) -> int:
    """Trace x_test[index] and draw it with its 28x28 frame at canvas x=left; returns the label."""
    x, y = mnist_test([index])
    replay(page, "#pad", digit_strokes(x[0]), origin=(left, 20), scale=SCALE)
    return int(y[0])


def open_draw(page):
    page.goto("/")
    expect(page.locator("#pad")).to_be_visible()
    expect(page.locator("#recognize")).to_be_disabled()


def test_draw_one_digit_recognized(page):
    open_draw(page)
    label = draw_digit(page, 1, left=180)  # x_test[1] is a 2
    assert label == 2
    expect(page.locator("#recognize")).to_be_enabled()
    page.click("#recognize")
    expect(page.locator("#answer-text")).to_have_text(str(label), timeout=RESULT_TIMEOUT)
    # one box drawn over the strokes, ten probability bars, the 28x28 image the model saw
    expect(page.locator("#prob-chart li")).to_have_count(10)
    expect(page.locator("#prob-chart li.is-top .prob-digit")).to_have_text(str(label))
    expect(page.locator("#status")).to_contain_text(f"Recognized {label}")
    wait_until(page, "document.getElementById('normalized').naturalWidth === 28")
    assert page.locator("#error").is_hidden()


def test_draw_17_with_boxes_and_digit_selection(page, screenshot_dir):
    open_draw(page)
    draw_digit(page, 2, left=30)  # x_test[2] is a 1
    draw_digit(page, 0, left=330)  # x_test[0] is a 7
    page.click("#recognize")
    expect(page.locator("#answer-text")).to_have_text("17", timeout=RESULT_TIMEOUT)
    buttons = page.locator("#digit-picker button")
    expect(buttons).to_have_count(2)
    expect(buttons.nth(0)).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#probs-caption")).to_contain_text("read as 1 (1 of 2)")

    # keyboard: the picker is one tab stop; arrows move the selection and the chart follows
    buttons.nth(0).focus()
    page.keyboard.press("ArrowRight")
    expect(buttons.nth(1)).to_have_attribute("aria-pressed", "true")
    expect(buttons.nth(1)).to_be_focused()
    expect(page.locator("#probs-caption")).to_contain_text("read as 7 (2 of 2)")
    expect(page.locator("#prob-chart li.is-top .prob-digit")).to_have_text("7")
    wait_until(page, "document.getElementById('normalized').naturalWidth === 28")

    # the boxes are painted on the overlay: left half around the 1, right half around the 7
    painted = page.evaluate(
        """() => {
            const c = document.getElementById('overlay');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let left = 0, right = 0;
            for (let i = 3; i < d.length; i += 4) {
                if (d[i]) ((i / 4) % c.width < c.width / 2 ? left++ : right++);
            }
            return {left, right};
        }"""
    )
    assert painted["left"] > 200 and painted["right"] > 200, painted
    page.screenshot(path=str(screenshot_dir / "draw.png"))

    # clear resets everything
    page.click("#clear")
    expect(page.locator("#result")).to_be_hidden()
    expect(page.locator("#recognize")).to_be_disabled()


def test_undo_removes_the_last_stroke(page):
    open_draw(page)
    draw_digit(page, 2, left=30)
    draw_digit(page, 0, left=330)
    ink = "() => { const c = document.getElementById('pad'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"  # noqa: E501
    before = page.evaluate(ink)
    page.click("#undo")
    after = page.evaluate(ink)
    assert 0 < after < before
    page.keyboard.press("Control+z")
    while page.locator("#undo").is_enabled():
        page.click("#undo")
    assert page.evaluate(ink) == 0
    expect(page.locator("#recognize")).to_be_disabled()


# ---------------------------------------------------------------- errors: never hang


def _recognize_expecting_error(page, text: str) -> None:
    draw_digit(page, 0, left=180)
    started = time.monotonic()
    page.click("#recognize")
    alert = page.locator("#error")
    expect(alert).to_be_visible(timeout=10_000)
    expect(alert).to_contain_text(text)
    assert alert.get_attribute("role") == "alert"
    assert time.monotonic() - started < 10
    expect(page.locator("#status")).to_have_text("Recognition failed.")
    expect(page.locator("#recognize")).to_be_enabled()  # the user can try again


def test_service_down_shows_an_error(page):
    open_draw(page)
    page.route("**/api/v1/**", lambda route: route.abort("connectionrefused"))
    _recognize_expecting_error(page, "Could not reach the service")


def test_service_dies_while_polling(page):
    open_draw(page)
    # the submission reaches the real service, then the service goes away
    page.route("**/api/v1/recognitions/*", lambda route: route.abort("connectionreset"))
    _recognize_expecting_error(page, "Could not reach the service")


def test_server_error_and_rejected_image_are_readable(page):
    open_draw(page)

    def reply(status, code, message):
        body = json.dumps({"error": {"code": code, "message": message}})
        return lambda route: route.fulfill(
            status=status, body=body, content_type="application/json"
        )

    page.route("**/api/v1/recognitions?*", reply(503, "queue_unavailable", "The queue is down."))
    _recognize_expecting_error(page, "The service is having trouble right now: The queue is down.")
    page.unroute("**/api/v1/recognitions?*")
    page.click("#clear")
    page.route(
        "**/api/v1/recognitions?*", reply(415, "unsupported_image", "Not a supported image: nope")
    )
    _recognize_expecting_error(page, "Not a supported image: nope")


def test_low_confidence_answer_says_not_sure(page):
    """A (mocked) answer under 70% confidence is flagged, in text and on the box."""
    open_draw(page)
    rid = "5f0c3e7e-0000-4000-8000-000000000001"
    probs = [0.02, 0.01, 0.01, 0.40, 0.01, 0.48, 0.02, 0.01, 0.03, 0.01]
    done = {
        "id": rid,
        "status": "done",
        "error": None,
        "error_code": None,
        "text": "5",
        "confidence": 0.48,
        "digits": [
            {
                "label": 5,
                "confidence": 0.48,
                "probabilities": probs,
                "box": [200, 40, 200, 240],
                "normalized_url": "/static/img/example-digit.png",
            }
        ],
        "width": 640,
        "height": 320,
        "url": f"/api/v1/recognitions/{rid}",
    }
    queued = {"id": rid, "status": "queued", "url": done["url"]}
    page.route(
        "**/api/v1/recognitions?*",
        lambda route: route.fulfill(status=202, json=queued),
    )
    page.route("**/api/v1/recognitions/*", lambda route: route.fulfill(json=done))
    draw_digit(page, 8, left=180)
    page.click("#recognize")
    expect(page.locator("#answer-text")).to_have_text("5")
    expect(page.locator("#unsure")).to_be_visible()
    expect(page.locator("#unsure")).to_contain_text("Not sure")
    expect(page.locator("#status")).to_contain_text("(not sure)")
    expect(page.locator("#prob-chart li.is-top .prob-digit")).to_have_text("5")
    expect(page.locator("#prob-chart li").nth(3)).to_contain_text("40.0%")
