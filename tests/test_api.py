"""Service core end to end: Flask -> Redis -> Celery worker -> recognizer -> database -> poll."""

from __future__ import annotations

import base64
import io
import uuid

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from store import DigitResult, Recognition, open_session, session_scope
from tests.support import mnist_test_digits, png_bytes, set_settings


def submit_json(client, data: bytes, *, data_url: bool = False):
    encoded = base64.b64encode(data).decode()
    if data_url:
        encoded = f"data:image/png;base64,{encoded}"
    return client.post("/api/v1/recognitions", json={"image": encoded})


def wait_done(client, url: str) -> dict:
    for _ in range(6):
        body = client.get(f"{url}?wait=10").get_json()
        if body["status"] in ("done", "failed"):
            return body
    raise AssertionError(f"not finished: {body}")


@pytest.mark.usefixtures("worker")
def test_submitted_png_is_recognized_by_polling(client):
    images, labels = mnist_test_digits(4)
    for image, label, as_data_url in zip(images, labels, [False, True, False, True], strict=True):
        response = submit_json(client, png_bytes(image), data_url=as_data_url)
        assert response.status_code == 202, response.get_json()
        body = response.get_json()
        assert body["status"] == "queued"
        assert response.headers["Location"] == body["url"] == f"/api/v1/recognitions/{body['id']}"
        uuid.UUID(body["id"])
        result = wait_done(client, body["url"])
        assert result["status"] == "done", result
        assert result["text"] == str(label)
        digit = result["digits"][0]
        assert digit["label"] == label
        assert len(digit["probabilities"]) == 10
        assert abs(sum(digit["probabilities"]) - 1) < 1e-3
        assert digit["confidence"] == pytest.approx(max(digit["probabilities"]), abs=1e-6)
        x, y, w, h = digit["box"]
        assert 0 <= x < 28 and 0 <= y < 28 and 0 < w <= 28 and 0 < h <= 28
        assert result["model"] and result["created_at"] and result["finished_at"]
        assert result["error"] is None


@pytest.mark.usefixtures("worker")
def test_multipart_upload_and_images_round_trip(client):
    images, labels = mnist_test_digits(1, offset=10)
    data = png_bytes(images[0])
    response = client.post(
        "/api/v1/recognitions",
        data={"image": (io.BytesIO(data), "seven.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202
    result = wait_done(client, response.headers["Location"])
    assert result["text"] == str(labels[0])
    assert result["filename"] == "seven.png"
    original = client.get(f"{response.headers['Location']}/image")
    assert original.status_code == 200 and original.data == data
    assert original.mimetype == "image/png"
    normalized = client.get(result["digits"][0]["normalized_url"])
    assert normalized.status_code == 200 and normalized.mimetype == "image/png"
    pixels = cv2.imdecode(np.frombuffer(normalized.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert pixels.shape == (28, 28) and pixels.max() > 128
    assert client.get(f"{response.headers['Location']}/normalized/5").status_code == 404


@pytest.mark.usefixtures("worker")
def test_several_digits_in_one_image_left_to_right(client):
    images, labels = mnist_test_digits(4, offset=20)
    strip = np.hstack([np.pad(img, ((4, 4), (6, 6))) for img in images])
    result = wait_done(client, submit_json(client, png_bytes(strip)).headers["Location"])
    assert result["text"] == "".join(str(v) for v in labels)
    xs = [d["box"][0] for d in result["digits"]]
    assert xs == sorted(xs)


@pytest.mark.usefixtures("worker")
def test_empty_image_is_done_with_no_digits(client):
    blank = png_bytes(np.zeros((50, 50), np.uint8))
    result = wait_done(client, submit_json(client, blank).headers["Location"])
    assert result["status"] == "done" and result["text"] == "" and result["digits"] == []


@pytest.mark.usefixtures("worker")
def test_task_delivered_twice_stores_one_result(app, client, database_url):
    images, _ = mnist_test_digits(1, offset=30)
    location = submit_json(client, png_bytes(images[0])).headers["Location"]
    first = wait_done(client, location)
    rid = first["id"]
    # A redelivery (acks_late) of the same task: the worker must not store a second result.
    app.extensions["celery"].send_task("recognitions.recognize", args=[rid])
    app.extensions["celery"].send_task("recognitions.recognize", args=[rid])
    # The worker runs tasks in order on one process: a later task proves the two have run.
    marker = wait_done(client, submit_json(client, png_bytes(images[0])).headers["Location"])
    assert marker["status"] == "done"
    again = client.get(location).get_json()
    assert again["finished_at"] == first["finished_at"]
    with open_session(database_url) as session:
        count = session.scalar(
            select(func.count())
            .select_from(DigitResult)
            .where(DigitResult.recognition_id == uuid.UUID(rid))
        )
        attempts = session.scalar(
            select(Recognition.attempts).where(Recognition.id == uuid.UUID(rid))
        )
    assert count == len(first["digits"]) == 1
    assert attempts == 1


# ---------------------------------------------------------------- bad input


def error_of(response) -> str:
    body = response.get_json()
    assert response.mimetype == "application/json", response.data[:200]
    assert set(body["error"]) == {"code", "message"} and body["error"]["message"]
    return body["error"]["code"]


def test_missing_field_is_400(client):
    assert client.post("/api/v1/recognitions", json={}).status_code == 400
    assert error_of(client.post("/api/v1/recognitions", json={"img": "x"})) == "missing_image"
    response = client.post("/api/v1/recognitions", data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and error_of(response) == "missing_image"


def test_bad_base64_and_bad_json_are_400(client):
    response = client.post("/api/v1/recognitions", json={"image": "not base64 at all!!"})
    assert response.status_code == 400 and error_of(response) == "bad_base64"
    response = client.post("/api/v1/recognitions", data="{nope", content_type="application/json")
    assert response.status_code == 400 and error_of(response) == "bad_json"


def test_not_an_image_is_415(client):
    response = submit_json(client, b"hello, I am a text file")
    assert response.status_code == 415 and error_of(response) == "unsupported_image"
    truncated = png_bytes(np.full((40, 40), 200, np.uint8))[:20]
    assert submit_json(client, truncated).status_code == 415
    response = client.post("/api/v1/recognitions", data=b"raw", content_type="text/plain")
    assert response.status_code == 415 and error_of(response) == "unsupported_content_type"


def test_over_the_limits_is_413(app, client, monkeypatch):
    big = png_bytes(np.random.default_rng(0).integers(0, 255, (400, 400), dtype=np.uint8))
    with monkeypatch.context() as patch:
        set_settings(app, patch, max_image_bytes=10_000)
        assert len(big) > 10_000
        response = submit_json(client, big)
        assert response.status_code == 413, response.data[:200]
        error_of(response)
        response = client.post(
            "/api/v1/recognitions",
            data={"image": (io.BytesIO(big), "big.png")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 413
        error_of(response)
    set_settings(app, monkeypatch, max_image_pixels=100 * 100)
    response = submit_json(client, png_bytes(np.zeros((101, 100), np.uint8)))
    assert response.status_code == 413 and error_of(response) == "image_too_large"


def test_unknown_ids_and_routes_are_json_404(client):
    assert error_of(client.get(f"/api/v1/recognitions/{uuid.uuid4()}")) == "not_found"
    assert client.get("/api/v1/recognitions/123").status_code == 404
    assert client.get(f"/api/v1/recognitions/{uuid.uuid4()}/image").status_code == 404
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    error_of(response)
    response = client.delete("/api/v1/recognitions")
    assert response.status_code == 405
    error_of(response)


def test_bad_wait_is_400(client):
    images, _ = mnist_test_digits(1)
    location = submit_json(client, png_bytes(images[0])).headers["Location"]
    for bad in ["soon", "-1", "nan"]:
        response = client.get(f"{location}?wait={bad}")
        assert response.status_code == 400 and error_of(response) == "bad_wait"


# ---------------------------------------------------------------- model, health, openapi


def test_model_metadata(client):
    body = client.get("/api/v1/model").get_json()
    import sklearn

    assert body["version"] and body["sklearn_version"] == sklearn.__version__


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready"


def test_readiness_reports_a_dead_broker_and_database(tmp_path):
    from scripts.embedded import free_port
    from web import create_app

    app = create_app(
        {
            "TESTING": True,
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "DATABASE_URL": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing",
        }
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    problems = response.get_json()["problems"]
    assert set(problems) == {"broker", "database"}, problems
    # each part named, no exception text (no host, port or driver message) leaked
    assert "127.0.0.1" not in response.get_data(as_text=True), problems


def test_submit_with_broker_down_is_503_not_500(tmp_path, database_url):
    from scripts.embedded import free_port
    from web import create_app

    app = create_app(
        {
            "TESTING": True,
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "DATABASE_URL": database_url,
        }
    )
    images, _ = mnist_test_digits(1)
    response = submit_json(app.test_client(), png_bytes(images[0]))
    assert response.status_code == 503 and error_of(response) == "queue_unavailable"
    with session_scope(database_url) as session:  # stored as failed, never left queued
        stored = session.execute(select(Recognition.status, Recognition.error_code)).all()
    assert [tuple(row) for row in stored] == [("failed", "queue_unavailable")]


def test_openapi_lists_exactly_the_api_routes(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(
                f"<{arg}>", "{id}" if arg in ("recognition_id", "batch_id") else f"{{{arg}}}"
            )
            path = path.replace(f"<int:{arg}>", f"{{{arg}}}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routed.add((path, method))
    assert documented == routed
