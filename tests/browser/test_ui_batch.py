"""Upload a folder of 50 images in a real browser and watch the batch page finish."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import wait_until
from tests.browser.strokes import mnist_test

COUNT = 50


def _batch_api_exists() -> bool:
    try:
        from web import create_app

        app = create_app({"TESTING": True})
    except Exception:
        return False
    return any(
        rule.rule == "/api/v1/batches" and "POST" in (rule.methods or ())
        for rule in app.url_map.iter_rules()
    )


pytestmark = pytest.mark.browser
needs_batch_api = pytest.mark.skipif(
    not _batch_api_exists(), reason="POST /api/v1/batches is not implemented yet"
)


@pytest.fixture
def digit_folder(tmp_path):
    """50 MNIST test digits as PNGs in a folder `digits/`, half of them black on white."""
    folder = tmp_path / "digits"
    folder.mkdir()
    x, _ = mnist_test(list(range(100, 100 + COUNT)))
    for i, img in enumerate(x):
        img = cv2.resize(img, (84, 84), interpolation=cv2.INTER_CUBIC)
        if i % 2:
            img = 255 - img
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(img))
        assert ok
        (folder / f"d{i:03d}.png").write_bytes(buf.tobytes())
    return folder


@needs_batch_api
def test_upload_folder_and_watch_batch(page, digit_folder, screenshot_dir):
    # record the multipart parts the page builds (Chromium does not expose file bodies)
    page.add_init_script(
        """(() => {
            const append = FormData.prototype.append;
            FormData.prototype.append = function (name, value, filename) {
                const parts = JSON.parse(sessionStorage.getItem("parts") || "[]");
                parts.push([name, filename === undefined ? null : filename]);
                sessionStorage.setItem("parts", JSON.stringify(parts));
                return append.apply(this, arguments);
            };
        })()"""
    )
    page.goto("/batches/new")
    expect(page.locator("#upload")).to_be_disabled()
    page.set_input_files("#pick-folder", str(digit_folder))
    expect(page.locator("#summary")).to_contain_text(f"{COUNT} files selected")
    expect(page.locator("#file-list li")).to_have_count(COUNT)
    expect(page.locator("#file-list li").first).to_have_text("digits/d000.png")
    page.screenshot(path=str(screenshot_dir / "upload.png"))

    def is_upload(request):
        return request.method == "POST" and request.url.endswith("/api/v1/batches")

    with page.expect_request(is_upload) as request_info:
        page.click("#upload")
    assert "multipart/form-data" in request_info.value.headers.get("content-type", "")
    page.wait_for_url(re.compile(r".*/batches/[0-9a-f-]{36}$"), timeout=30_000)
    # one `files` part per file, named with the folder path
    parts = page.evaluate("JSON.parse(sessionStorage.getItem('parts'))")
    assert [name for name, _ in parts] == ["files"] * COUNT
    assert [filename for _, filename in parts] == [f"digits/d{i:03d}.png" for i in range(COUNT)]

    batch_id = page.url.rsplit("/", 1)[1]
    progress = page.locator("#progress")
    expect(progress).to_be_visible()
    expect(progress).to_have_attribute("value", "100", timeout=90_000)
    expect(page.locator("#status-badge")).to_have_text("done")
    expect(page.locator("#stat-total")).to_have_text(str(COUNT))
    done = int(page.locator("#stat-done").inner_text())
    failed = int(page.locator("#stat-failed").inner_text())
    assert done + failed == COUNT
    assert done >= COUNT * 0.8, f"only {done} of {COUNT} recognized"
    expect(page.locator("#stat-eta")).to_have_text("done")

    # results table with thumbnails, then the CSV
    rows = page.locator("#results-body tr")
    expect(rows).to_have_count(COUNT)
    expect(page.locator("#results-status")).to_contain_text(f"{COUNT} images")
    wait_until(
        page,
        "[...document.querySelectorAll('#results-body img.thumb')].some(i => i.naturalWidth > 0)",
    )
    csv_link = page.locator("#csv")
    expect(csv_link).to_be_visible()
    href = csv_link.get_attribute("href")
    assert href == f"/api/v1/batches/{batch_id}/results?format=csv"
    page.screenshot(path=str(screenshot_dir / "batch.png"))

    response = page.request.get(href)
    assert response.ok, response.status
    text = response.text()
    assert "d000.png" in text and "d049.png" in text
    assert len([line for line in text.splitlines() if line.strip()]) >= COUNT + 1

    # failed-only filter
    page.check("#only-failed")
    expect(page.locator("#results-status")).to_contain_text(f"{failed} failed image")
    expect(page).to_have_url(re.compile(r"status=failed"))
    if failed == 0:
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_text("No failed images.")
    else:
        expect(page.locator("#results-body .reason").first).to_be_visible()


def test_batch_page_reports_an_unreachable_service(page):
    page.route("**/api/v1/batches/**", lambda route: route.abort("connectionrefused"))
    page.goto("/batches/00000000-0000-4000-8000-000000000000")
    alert = page.locator("#error")
    expect(alert).to_be_visible(timeout=10_000)
    expect(alert).to_contain_text("Could not reach the service")
    expect(alert).to_contain_text("Retrying")


def test_upload_errors_are_shown(page, tmp_path):
    (tmp_path / "one.png").write_bytes(cv2.imencode(".png", np.zeros((28, 28), np.uint8))[1])
    page.route(
        "**/api/v1/batches",
        lambda route: route.fulfill(
            status=413,
            json={"error": {"code": "batch_too_large", "message": "The batch is too large."}},
        ),
    )
    page.goto("/batches/new")
    page.set_input_files("#pick-files", str(tmp_path / "one.png"))
    expect(page.locator("#summary")).to_contain_text("1 file selected")
    page.click("#upload")
    alert = page.locator("#error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("The upload was refused: The batch is too large.")
    expect(page.locator("#upload")).to_be_enabled()  # the selection is kept for another try
    page.unroute("**/api/v1/batches")
    page.route("**/api/v1/batches", lambda route: route.abort("connectionrefused"))
    page.click("#upload")
    expect(alert).to_contain_text("Could not reach the service")
    assert page.url.endswith("/batches/new")


def test_batch_progress_rate_and_paging_against_a_scripted_api(page):
    """The batch API scripted by the test: live progress, rate and ETA, then paging and filter."""
    bid = "0d5c1f7a-0000-4000-8000-000000000002"
    state = {"done": 0, "status": "processing", "calls": 0}
    requested = []

    def batch(route):
        state["calls"] += 1
        if state["status"] == "processing":
            state["done"] = min(100, state["done"] + 5)
        route.fulfill(
            json={
                "id": bid,
                "status": state["status"],
                "total": 120,
                "done": state["done"],
                "failed": 3 if state["status"] == "done" else 0,
                "created_at": "2026-01-01T10:00:00Z",
                "started_at": "2026-01-01T10:00:01Z",
                "finished_at": "2026-01-01T10:01:01Z" if state["status"] == "done" else None,
                "results_url": f"/api/v1/batches/{bid}/results",
            }
        )

    def results(route):
        from urllib.parse import parse_qs, urlparse

        q = {k: v[0] for k, v in parse_qs(urlparse(route.request.url).query).items()}
        requested.append(q)
        n = int(q.get("page", 1))
        failed = q.get("status") == "failed"
        total = 3 if failed else 120
        count = 3 if failed else (20 if n == 3 else 50)
        items = [
            {
                "id": f"r{n}-{i}",
                "filename": f"p{n}/img{i}.png",
                "status": "failed" if failed else "done",
                "text": None if failed else str(i % 10),
                "confidence": None if failed else 0.95,
                "error": "no digit found" if failed else None,
                "image_url": None,
            }
            for i in range(count)
        ]
        route.fulfill(
            json={
                "items": items,
                "page": n,
                "per_page": 50,
                "total": total,
                "pages": -(-total // 50),
            }
        )

    page.route(f"**/api/v1/batches/{bid}", batch)
    page.route(f"**/api/v1/batches/{bid}/results?*", results)
    page.goto(f"/batches/{bid}")
    expect(page.locator("#status-badge")).to_have_text("processing")
    expect(page.locator("#stat-eta")).to_have_text(re.compile(r"\d+ (s|min)"), timeout=8_000)
    expect(page.locator("#stat-rate")).to_have_text(re.compile(r"\d"))
    expect(page.locator("#results")).to_be_hidden()
    assert 0 < int(page.locator("#progress").get_attribute("value")) < 100

    state["status"], state["done"] = "done", 117
    expect(page.locator("#progress")).to_have_attribute("value", "100", timeout=5_000)
    expect(page.locator("#stat-rate")).to_have_text("2.0")  # 120 images in 60 s
    expect(page.locator("#results-body tr")).to_have_count(50)
    expect(page.locator("#page-info")).to_have_text("Page 1 of 3")
    expect(page.locator("#prev")).to_be_disabled()
    page.click("#next")
    expect(page.locator("#page-info")).to_have_text("Page 2 of 3")
    expect(page.locator("#results-body tr").first).to_contain_text("p2/img0.png")
    expect(page).to_have_url(re.compile(r"\?page=2$"))
    page.click("#next")
    expect(page.locator("#results-body tr")).to_have_count(20)
    expect(page.locator("#next")).to_be_disabled()
    page.check("#only-failed")
    expect(page.locator("#results-body tr")).to_have_count(3)
    expect(page.locator("#results-body .reason").first).to_have_text("no digit found")
    assert requested[-1] == {"page": "1", "per_page": "50", "status": "failed"}
    calls = state["calls"]
    page.wait_for_timeout(1500)
    assert state["calls"] == calls  # polling stopped once the batch was done
