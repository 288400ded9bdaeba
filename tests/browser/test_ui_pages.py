"""History and model pages, keyboard access and the phone layout, in a real browser."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import wait_until
from tests.browser.strokes import digit_strokes, mnist_test

pytestmark = pytest.mark.browser

PAGES = [
    "/",
    "/batches/new",
    "/batches/00000000-0000-4000-8000-000000000000",
    "/review",
    "/history",
    "/model",
]


def _submit_from_this_browser(context) -> None:
    """A recognition sent with the browser's cookies, so it is in this browser's history."""
    x, _ = mnist_test([3])
    canvas = np.zeros((320, 640, 4), np.uint8)
    ink = cv2.resize(x[0], (280, 280), interpolation=cv2.INTER_CUBIC)
    canvas[20:300, 180:460, 3] = ink
    ok, buf = cv2.imencode(".png", canvas)
    assert ok
    image = "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()
    created = context.request.post("/api/v1/recognitions?source=draw", data={"image": image})
    assert created.status == 202, created.text()
    url = created.json()["url"]
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if context.request.get(f"{url}?wait=5").json()["status"] in ("done", "failed"):
            return
    raise AssertionError("recognition did not finish")


def test_history_shows_this_browsers_work(page, context, chromium, base_url, screenshot_dir):
    _submit_from_this_browser(context)
    page.goto("/history")
    items = page.locator("#recognitions li")
    expect(items.first).to_be_visible()
    assert items.count() >= 1
    expect(page.locator("#status")).to_contain_text("from this browser")
    wait_until(
        page,
        "[...document.querySelectorAll('#recognitions img')]"
        ".every(i => i.complete && i.naturalWidth > 0)",
    )
    page.screenshot(path=str(screenshot_dir / "history.png"), full_page=True)

    # another browser (no cookie) sees none of it
    stranger = chromium.new_context(base_url=base_url)
    try:
        other = stranger.new_page()
        other.goto("/history")
        expect(other.locator("#rec-empty")).to_be_visible()
        expect(other.locator("#recognitions li")).to_have_count(0)
    finally:
        stranger.close()


def test_model_page(page, model_path, screenshot_dir):
    page.goto("/model")
    expect(page.locator("#meta dt").first).to_be_visible()
    assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
    steps = page.locator("#steps li")
    expect(steps.first).to_be_visible()
    assert steps.count() >= 3
    steps.last.scroll_into_view_if_needed()  # the pictures load lazily, as a user scrolls
    wait_until(
        page,
        "[...document.querySelectorAll('#steps img')].every(i => i.complete && i.naturalWidth > 0)",
    )
    # the confusion matrix loads, or (no picture next to this model) says it is missing
    wait_until(
        page,
        "(() => { const i = document.getElementById('confusion'); "
        "return document.getElementById('confusion-link').hidden "
        "|| (i.complete && i.naturalWidth > 0); })()",
    )
    if (Path(model_path).parent / "confusion.png").is_file():
        expect(page.locator("#confusion")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "model.png"), full_page=True)


def test_skip_link_and_nav_by_keyboard(page):
    page.goto("/history")
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    current = page.locator('nav a[aria-current="page"]')
    expect(current).to_have_text("History")


@pytest.mark.parametrize("path", PAGES)
def test_fits_a_phone(chromium, base_url, path, screenshot_dir):
    ctx = chromium.new_context(
        base_url=base_url,
        viewport={"width": 375, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        page = ctx.new_page()
        page.goto(path)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{path} scrolls sideways by {overflow}px on a phone"
        if path == "/":
            touch_action = page.evaluate(
                "getComputedStyle(document.getElementById('pad')).touchAction"
            )
            assert touch_action == "none"
    finally:
        ctx.close()


def test_draw_on_a_phone_with_touch(chromium, base_url, screenshot_dir):
    """Touch pointer events on a phone-sized pad (taller than on a desktop) are recognized."""
    ctx = chromium.new_context(
        base_url=base_url,
        viewport={"width": 375, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        page = ctx.new_page()
        page.goto("/")
        size = page.locator("#pad").evaluate("c => [c.width, c.height]")
        assert size[0] == 640 and size[1] > 400, size  # 4:3 on a portrait phone
        x, y = mnist_test([4])  # a 4
        scale = (size[1] - 20) / 28  # canvas pixels per MNIST pixel
        strokes = [
            [(96 + px * scale, 10 + py * scale) for px, py in st] for st in digit_strokes(x[0])
        ]
        page.locator("#pad").evaluate(
            """(pad, strokes) => {
                const r = pad.getBoundingClientRect();
                const at = ([x, y]) => ({
                    clientX: r.left + (x * r.width) / pad.width,
                    clientY: r.top + (y * r.height) / pad.height,
                });
                const fire = (type, p) => pad.dispatchEvent(new PointerEvent(type, {
                    pointerId: 7, pointerType: "touch", isPrimary: true, bubbles: true,
                    cancelable: true, button: 0, buttons: type === "pointerup" ? 0 : 1, ...at(p),
                }));
                for (const s of strokes) {
                    fire("pointerdown", s[0]);
                    s.slice(1).forEach((p) => fire("pointermove", p));
                    fire("pointerup", s[s.length - 1]);
                }
            }""",
            strokes,
        )
        page.click("#recognize")
        expect(page.locator("#answer-text")).to_have_text(str(int(y[0])), timeout=40_000)
        page.screenshot(path=str(screenshot_dir / "draw-phone.png"), full_page=True)
    finally:
        ctx.close()


def test_model_page_renders_any_metadata_shape(page):
    """Training-CLI-shaped metadata: accuracy, a per-class list, nested and unknown keys."""
    meta = {
        "version": "20260101-000000-abcdef12",
        "test_accuracy": 0.9912,
        "test_size": 10000,
        "sklearn_version": "1.9.1",
        "training_data_sha256": "ab" * 32,
        "per_class": [
            {"class": c, "precision": 0.99 - c / 1000, "recall": 0.98, "support": 1000}
            for c in range(10)
        ],
        "something_new": {"nested": True, "count": 3},
        "confusion": [[0] * 10 for _ in range(10)],
    }
    page.route("**/api/v1/model", lambda route: route.fulfill(json=meta))
    page.goto("/model")
    meta_list = page.locator("#meta")
    expect(meta_list).to_contain_text("Test accuracy")
    expect(meta_list).to_contain_text("99.12%")
    expect(meta_list).to_contain_text("scikit-learn version")
    expect(meta_list).to_contain_text("Something new")
    table = page.locator("#per-class table")
    expect(table.locator("tbody tr")).to_have_count(10)
    expect(table.locator("thead")).to_contain_text("Precision")
    expect(table.locator("thead")).to_contain_text("Recall")
    expect(table.locator("tbody tr").first).to_contain_text("99.0%")


def test_model_page_without_metadata_shows_an_error(page):
    body = {"error": {"code": "model_unavailable", "message": "No model metadata."}}
    page.route("**/api/v1/model", lambda route: route.fulfill(status=503, json=body))
    page.goto("/model")
    expect(page.locator("#error")).to_contain_text("No model metadata.")
