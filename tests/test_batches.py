"""Bulk batches end to end: streamed multipart upload -> chunks on the bulk queue -> a real worker
-> counters, paginated results and the CSV export. Runs on every database backend."""

from __future__ import annotations

import csv
import io
import os
import uuid

import pytest
from sqlalchemy import func, select

from store import Batch, Recognition, open_session
from tests.support import mnist_test_digits, png_bytes, wait_until, zip_bytes
from web import create_app


def post_batch(client, files: list[tuple[str, bytes]], query: str = ""):
    return client.post(
        f"/api/v1/batches{query}",
        data={"files": [(io.BytesIO(data), name) for name, data in files]},
        content_type="multipart/form-data",
    )


def wait_batch(client, url: str, timeout: float = 60) -> dict:
    last: dict = {}

    def done() -> dict | None:
        last.update(client.get(url).get_json())
        return dict(last) if last["status"] == "done" else None

    return wait_until(done, timeout, lambda: f"batch not finished: {last}", interval=0.2)


def error_of(response) -> str:
    body = response.get_json()
    assert set(body["error"]) >= {"code", "message"}, body
    return body["error"]["code"]


@pytest.fixture(scope="module")
def mixed_folder():
    """(parts to upload, expected {filename: text or None for failed}) in upload order."""
    images, labels = mnist_test_digits(12)
    pngs = [png_bytes(i) for i in images]
    inner = zip_bytes(
        {
            "d/": b"",
            "d/1.png": pngs[6],
            "d/2.png": pngs[7],
            "d/readme.txt": b"these are scans",
            "../evil.png": pngs[8],
            "/abs/path.png": pngs[9],
            "__MACOSX/d/._1.png": b"\x00\x05\x16\x07 apple double junk",
            "d/.DS_Store": b"junk",
            "nested.zip": zip_bytes({"x.png": pngs[10]}),
        }
    )
    parts = [(f"scans/a/{i}.png", pngs[i]) for i in range(5)]
    parts += [
        ("scans/notes.txt", b"not an image at all\n"),
        ("scans/b/truncated.png", pngs[5][:60]),
        ("scans/more.zip", inner),
        ("scans/b/last.png", pngs[11]),
    ]
    expected = {f"scans/a/{i}.png": str(labels[i]) for i in range(5)}
    expected.update(
        {
            "scans/notes.txt": None,
            "scans/b/truncated.png": None,
            "scans/more.zip/d/1.png": str(labels[6]),
            "scans/more.zip/d/2.png": str(labels[7]),
            "scans/more.zip/d/readme.txt": None,
            "scans/more.zip/../evil.png": str(labels[8]),
            "scans/more.zip//abs/path.png": str(labels[9]),
            "scans/more.zip/nested.zip": None,
            "scans/b/last.png": str(labels[11]),
        }
    )
    return parts, expected


@pytest.fixture
def finished_batch(client, worker, mixed_folder):
    parts, _ = mixed_folder
    response = post_batch(client, parts, "?chunk_size=3")
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert set(body) == {"id", "status", "total", "url"}
    assert body["status"] == "queued" and body["total"] == 14
    assert response.headers["Location"] == body["url"] == f"/api/v1/batches/{body['id']}"
    return wait_batch(client, body["url"])


def test_mixed_folder_counts_and_digits(finished_batch, client, mixed_folder):
    _, expected = mixed_folder
    batch = finished_batch
    assert batch["total"] == 14 and batch["done"] == 10 and batch["failed"] == 4, batch
    assert batch["finished_at"] and batch["created_at"]
    assert batch["results_url"] == f"/api/v1/batches/{batch['id']}/results"
    body = client.get(f"{batch['results_url']}?per_page=200").get_json()
    items = body["items"]
    assert [i["filename"] for i in items] == list(expected)  # upload order
    for item in items:
        want = expected[item["filename"]]
        if want is None:
            assert item["status"] == "failed" and item["error"], item
            assert item["text"] is None
        else:
            assert item["status"] == "done" and item["text"] == want, item
            assert item["image_url"] and 0 < item["confidence"] <= 1
            assert item["batch_id"] == batch["id"]
    reasons = {i["filename"]: i["error"] for i in items if i["status"] == "failed"}
    assert "nested archives are not opened" in reasons["scans/more.zip/nested.zip"]
    assert "not a supported image" in reasons["scans/notes.txt"]
    image = client.get(items[0]["image_url"])
    assert image.status_code == 200 and image.mimetype == "image/png"


def test_pagination_and_failed_filter(finished_batch, client, mixed_folder):
    _, expected = mixed_folder
    url = finished_batch["results_url"]
    seen = []
    for page in (1, 2, 3):
        body = client.get(f"{url}?page={page}&per_page=5").get_json()
        assert (body["page"], body["per_page"], body["total"], body["pages"]) == (page, 5, 14, 3)
        seen += [i["filename"] for i in body["items"]]
    assert seen == list(expected)
    assert client.get(f"{url}?page=4&per_page=5").get_json()["items"] == []
    failed = client.get(f"{url}?status=failed").get_json()
    assert failed["total"] == 4 and failed["pages"] == 1
    assert [i["filename"] for i in failed["items"]] == [k for k, v in expected.items() if v is None]
    assert client.get(f"{url}?status=queued").get_json()["total"] == 0
    assert client.get(f"{url}?per_page=5000").get_json()["per_page"] == 200
    assert error_of(client.get(f"{url}?status=nope")) == "bad_status"
    assert error_of(client.get(f"{url}?page=0")) == "bad_page"
    assert error_of(client.get(f"{url}?format=xml")) == "bad_format"


def test_csv_export(finished_batch, client, mixed_folder):
    _, expected = mixed_folder
    response = client.get(f"{finished_batch['results_url']}?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    # the original columns keep their places; needs_review and corrected_text come after them
    assert rows[0] == [
        *("filename", "status", "text", "confidence", "error"),
        *("needs_review", "corrected_text"),
    ]
    assert [r[0] for r in rows[1:]] == list(expected)
    for filename, status, text, confidence, error, needs_review, corrected in rows[1:]:
        assert needs_review in ("true", "false") and corrected == ""
        if expected[filename] is None:
            assert status == "failed" and text == "" and confidence == "" and error
            assert needs_review == "false"
        else:
            assert status == "done" and text == expected[filename] and error == ""
            assert 0 < float(confidence) <= 1
    nested = next(r for r in rows if r[0] == "scans/more.zip/nested.zip")
    assert nested[4] == "nested archives are not opened"


def test_unknown_batch_is_json_404(client):
    for url in (f"/api/v1/batches/{uuid.uuid4()}", "/api/v1/batches/nope/results"):
        response = client.get(url)
        assert response.status_code == 404 and error_of(response) == "not_found"


def test_bad_requests(client):
    assert error_of(client.post("/api/v1/batches", json={"files": []})) == (
        "unsupported_content_type"
    )
    response = client.post(
        "/api/v1/batches", data={"other": "x"}, content_type="multipart/form-data"
    )
    assert response.status_code == 400 and error_of(response) == "no_files"
    for size in ("0", "1001", "x"):
        response = post_batch(client, [("a.png", b"x")], f"?chunk_size={size}")
        assert response.status_code == 400 and error_of(response) == "bad_chunk_size"


@pytest.mark.usefixtures("worker")
def test_more_than_a_thousand_parts(client, database_url):
    """Flask's MAX_FORM_PARTS (1,000) does not apply: the upload is parsed as a stream."""
    images, labels = mnist_test_digits(20, offset=100)
    pngs = [png_bytes(i) for i in images]
    parts = [(f"many/{n:04d}.png", pngs[n % 20]) for n in range(1100)]
    response = post_batch(client, parts)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["total"] == 1100
    batch = wait_batch(client, response.headers["Location"], timeout=90)
    assert batch["done"] == 1100 and batch["failed"] == 0
    body = client.get(f"{batch['results_url']}?page=55&per_page=20").get_json()
    assert [i["filename"] for i in body["items"]][-1] == "many/1099.png"
    assert body["items"][-1]["text"] == str(labels[1099 % 20])


def _count_batches(database_url: str) -> int:
    with open_session(database_url) as session:
        return session.scalar(select(func.count()).select_from(Batch))


def _count_items(database_url: str) -> int:
    with open_session(database_url) as session:
        return session.scalar(select(func.count()).select_from(Recognition))


@pytest.fixture
def small_limits_client(database_url, redis_url, model_path):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "MODEL_PATH": model_path,
            "BATCH_MAX_BYTES": 200_000,
            "BATCH_MAX_FILES": 5,
            "MAX_IMAGE_BYTES": 2_000,
        }
    )
    return app.test_client()


def test_limits_are_413_and_leave_nothing_behind(small_limits_client, database_url):
    client = small_limits_client
    images, _ = mnist_test_digits(6)
    pngs = [png_bytes(i) for i in images]
    too_many = post_batch(client, [(f"{i}.png", p) for i, p in enumerate(pngs)])
    assert too_many.status_code == 413 and error_of(too_many) == "too_many_files"
    assert "5" in too_many.get_json()["error"]["message"]

    members = {f"{i}.png": p for i, p in enumerate(pngs)}
    in_zip = post_batch(client, [("a.png", pngs[0]), ("d.zip", zip_bytes(members))])
    assert in_zip.status_code == 413 and error_of(in_zip) == "too_many_files"

    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * 3_000
    too_big = post_batch(client, [("ok.png", pngs[0]), ("big.png", big)])
    assert too_big.status_code == 413 and error_of(too_big) == "image_too_large"
    assert "big.png" in too_big.get_json()["error"]["message"]
    big_member = post_batch(client, [("d.zip", zip_bytes({"big.png": big}))])
    assert big_member.status_code == 413 and error_of(big_member) == "image_too_large"

    total = post_batch(client, [("a.png", pngs[0]), ("big.zip", os.urandom(250_000))])
    assert total.status_code == 413 and error_of(total) == "batch_too_large"

    assert (_count_batches(database_url), _count_items(database_url)) == (0, 0)
    ok = post_batch(client, [(f"{i}.png", p) for i, p in enumerate(pngs[:5])])
    assert ok.status_code == 202 and ok.get_json()["total"] == 5


def test_batch_status_counts_immediate_failures(client):
    """A batch of nothing but non-images is finished at once: nothing to wait for."""
    response = post_batch(client, [("a.txt", b"hello"), ("b.pdf", b"%PDF-1.4 ...")])
    assert response.status_code == 202
    batch = client.get(response.headers["Location"]).get_json()
    assert (batch["status"], batch["total"], batch["done"], batch["failed"]) == ("done", 2, 0, 2)
    assert batch["finished_at"]


def test_batch_is_remembered_in_history(client):
    response = post_batch(client, [("a.txt", b"hello")])
    bid = response.get_json()["id"]
    history = client.get("/api/v1/history").get_json()
    assert [b["id"] for b in history["batches"]] == [bid]


def test_broker_down_is_503_and_leaves_nothing_behind(database_url, model_path):
    from scripts.embedded import free_port

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "MODEL_PATH": model_path,
        }
    )
    images, _ = mnist_test_digits(2)
    files = [(f"{i}.png", png_bytes(image)) for i, image in enumerate(images)]
    response = post_batch(app.test_client(), files)
    assert response.status_code == 503 and error_of(response) == "queue_unavailable"
    assert (_count_batches(database_url), _count_items(database_url)) == (0, 0)
