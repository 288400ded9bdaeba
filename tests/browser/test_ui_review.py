"""Correcting with the keyboard only, in a real browser: on the draw page, in a batch's results
and on a batch's review page (the real service and worker behind them)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import wait_until
from tests.browser.test_ui_draw import RESULT_TIMEOUT, draw_digit, open_draw
from tests.support import blended_digits, mnist_test_digits, png_bytes, zip_bytes

pytestmark = pytest.mark.browser


def is_put_label(response) -> bool:
    return response.request.method == "PUT" and response.url.endswith("/label")


def test_correct_a_digit_on_the_draw_page_with_the_keyboard(page, screenshot_dir):
    open_draw(page)
    draw_digit(page, 2, left=30)  # x_test[2] is a 1
    draw_digit(page, 0, left=330)  # x_test[0] is a 7
    page.focus("#recognize")
    page.keyboard.press("Enter")
    expect(page.locator("#answer-text")).to_have_text("17", timeout=RESULT_TIMEOUT)

    # select the second digit, press the key: the page shows the correction at once
    buttons = page.locator("#digit-picker button")
    buttons.nth(0).focus()
    page.keyboard.press("ArrowRight")
    expect(buttons.nth(1)).to_be_focused()
    with page.expect_response(is_put_label) as response_info:
        page.keyboard.press("4")
    saved = response_info.value.json()
    expect(page.locator("#answer-text")).to_have_text("14")
    expect(buttons.nth(1)).to_have_text("4")
    expect(buttons.nth(1)).to_have_class(re.compile(r"\bis-corrected\b"))
    expect(buttons.nth(1)).to_be_focused()
    expect(page.locator("#correction-status")).to_contain_text("Corrected digit 2 from 7 to 4")
    expect(page.locator("#corrected-note")).to_contain_text("the model read 17")
    expect(page.locator("#correct-buttons button.is-current")).to_have_text("4")
    page.screenshot(path=str(screenshot_dir / "draw-correct.png"))

    # stored beside the prediction
    stored = page.request.get(saved["url"]).json()
    assert stored["text"] == "17" and stored["corrected_text"] == "14"
    assert stored["digits"][1]["label"] == 7 and stored["digits"][1]["correction"]["label"] == 4
    assert stored["digits"][0]["correction"] is None

    # the first digit: confirmed with the key of its own label
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("1")
    expect(page.locator("#correction-status")).to_contain_text("Confirmed: digit 1 is a 1")
    confirmed = page.request.get(saved["url"]).json()
    assert confirmed["digits"][0]["correction"]["label"] == 1


def upload_batch(context) -> tuple[str, list[str]]:
    """A zip of clean digits and blends of two (unsure reads) as one batch from this browser;
    returns the batch id once it is done, and its flagged recognitions' ids."""
    clean, _ = mnist_test_digits(5, offset=700)
    members = {f"scans/clean{i}.png": png_bytes(img) for i, img in enumerate(clean)}
    members |= {f"scans/blend{i}.png": png_bytes(img) for i, img in enumerate(blended_digits(4))}
    created = context.request.post(
        "/api/v1/batches",
        multipart={
            "files": {
                "name": "scans.zip",
                "mimeType": "application/zip",
                "buffer": zip_bytes(members),
            }
        },
    )
    assert created.status == 202, created.text()
    batch_id = created.json()["id"]
    deadline = time.monotonic() + 60
    while context.request.get(f"/api/v1/batches/{batch_id}").json()["status"] != "done":
        assert time.monotonic() < deadline, "the batch did not finish"
        time.sleep(0.3)
    items = context.request.get(f"/api/v1/batches/{batch_id}/results?needs_review=true").json()
    return batch_id, [item["id"] for item in items["items"]]


def review_total(context, batch_id: str) -> int:
    return context.request.get(f"/api/v1/review?batch={batch_id}").json()["total"]


def test_review_a_batch_with_the_keyboard(page, context, screenshot_dir):
    batch_id, flagged = upload_batch(context)
    assert flagged, "no digit of the batch was flagged for review"
    page.goto(f"/batches/{batch_id}")
    expect(page.locator("#stat-review")).to_have_text(str(len(flagged)))
    link = page.locator("#review-link")
    expect(link).to_be_visible()
    expect(page.locator("#results-body .badge-review")).to_have_count(len(flagged))

    # in the results: select a digit with the keyboard and press the key
    results = context.request.get(f"/api/v1/batches/{batch_id}/results?per_page=50").json()
    chips = page.locator("#results-body .chip")
    expect(chips).to_have_count(sum(len(i["digits"]) for i in results["items"]))
    chips.first.focus()
    page.keyboard.press("ArrowDown")
    second = chips.nth(1)
    expect(second).to_be_focused()
    before = second.inner_text().rstrip("?")
    label = (int(before) + 1) % 10
    page.keyboard.press(str(label))
    expect(second).to_have_text(str(label))
    expect(second).to_have_class(re.compile(r"\bis-corrected\b"))
    expect(page.locator("#results-body .chip").nth(1)).to_be_focused()
    page.screenshot(path=str(screenshot_dir / "batch-review.png"), full_page=True)

    # the batch page links to its review page; walk through it with keys only
    to_review = review_total(context, batch_id)
    assert to_review >= 1
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*/review\?batch={batch_id}$"))
    card = page.locator("#card")
    expect(card).to_be_visible()
    expect(card).to_be_focused()
    expect(page.locator("#item-position")).to_have_text(f"1 of {to_review}")
    wait_until(page, "document.getElementById('digit-img').naturalWidth === 28")
    page.screenshot(path=str(screenshot_dir / "review.png"), full_page=True)

    answers = []
    for n in range(to_review):
        expect(page.locator("#item-position")).to_have_text(f"{n + 1} of {to_review}")
        predicted = int(page.locator("#predicted").inner_text())
        with page.expect_response(is_put_label) as response_info:
            if n % 2 == 0:  # say what it really is
                answers.append((predicted + 5) % 10)
                page.keyboard.press(str(answers[-1]))
            else:  # confirm what the model read
                answers.append(predicted)
                page.keyboard.press("Enter")
        assert response_info.value.ok
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#empty-text")).to_contain_text(f"Done: {to_review} reviewed.")
    assert review_total(context, batch_id) == 0

    # every answer is stored as a correction
    results = context.request.get(f"/api/v1/batches/{batch_id}/results?per_page=50").json()
    said = sorted(
        d["correction"]["label"] for i in results["items"] for d in i["digits"] if d["correction"]
    )
    assert sorted([*answers, label]) == said


def test_model_page_shows_versions_and_what_users_corrected(page, screenshot_dir):
    """After the corrections above: the serving version, and the users' corrections."""
    summary = page.request.get("/api/v1/corrections/summary").json()
    assert summary["total"] >= 3
    model = page.request.get("/api/v1/model").json()
    page.goto("/model")
    expect(page.locator("#active-version")).to_have_text(model["active"]["version"])
    expect(page.locator("#versions-body tr.is-active")).to_contain_text(model["version"])
    expect(page.locator("#versions-body tr")).to_have_count(len(model["versions"]))
    rows = page.locator("#per-digit-body tr")
    expect(rows).to_have_count(10)
    for row in summary["per_digit"]:
        expect(rows.nth(row["label"]).locator("td").first).to_have_text(str(row["count"]))
    pairs = page.locator("#pairs-body tr")
    expect(pairs).to_have_count(len(summary["confused_pairs"]))
    top = summary["confused_pairs"][0]
    expect(pairs.first).to_have_text(re.compile(rf"^{top['predicted']}\s*{top['label']}\s*"))
    expect(page.locator("#corrections-status")).to_contain_text(
        f"{summary['total']} digits reviewed by users"
    )
    page.locator("#versions-heading").scroll_into_view_if_needed()
    page.locator("#versions-heading").locator("xpath=../..").screenshot(
        path=str(screenshot_dir / "model-corrections.png")
    )
