"""The pages blueprint without a browser: every page renders, and the two model-page helpers."""

from __future__ import annotations

import base64

import pytest

from web import create_app

PAGES = {
    "/": "Draw digits",
    "/batches/new": "Upload images",
    "/batches/0d5c1f7a-0000-4000-8000-000000000002": "Batch",
    "/history": "History",
    "/model": "The model",
    "/review": "Review",
}


@pytest.fixture
def pages_client(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "MODEL_PATH": str(tmp_path / "digits.skops"),
            # a database of its own: none has a version activated, so MODEL_PATH decides
            "DATABASE_URL": f"sqlite:///{tmp_path / 'digits.db'}",
        }
    )
    return app.test_client()


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_with_nav_and_skip_link(pages_client, path):
    response = pages_client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert PAGES[path] in html
    assert 'class="skip-link" href="#main"' in html
    assert 'id="main"' in html
    for label in ("Draw", "Upload", "Review", "History", "Model"):
        assert f">{label}</a>" in html
    assert "/static/css/style.css" in html and "/static/js/common.js" in html
    assert "http://" not in html and "https://" not in html  # nothing from a CDN


def test_batch_page_rejects_a_malformed_id(pages_client):
    assert pages_client.get("/batches/not-a-uuid").status_code == 404


def test_static_files_are_served(pages_client):
    for name in ("css/style.css", "js/common.js", "js/draw.js", "img/example-digit.png"):
        response = pages_client.get(f"/static/{name}")
        assert response.status_code == 200, name
        response.close()


def test_confusion_png_is_served_from_next_to_the_model(pages_client, tmp_path):
    assert pages_client.get("/model/confusion.png").status_code == 404
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
    )
    (tmp_path / "confusion.png").write_bytes(png)
    with pages_client.get("/model/confusion.png") as response:  # closes the served file
        assert response.status_code == 200
        assert response.mimetype == "image/png"
        assert response.data == png


def test_preprocessing_steps_of_the_example_digit(pages_client):
    response = pages_client.get("/model/steps.json")
    assert response.status_code == 200
    body = response.get_json()
    assert body["example"].startswith("data:image/png;base64,")
    assert len(body["steps"]) >= 3
    for step in body["steps"]:
        assert step["name"] and step["description"]
        assert step["image"].startswith("data:image/png;base64,")
        assert base64.b64decode(step["image"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
