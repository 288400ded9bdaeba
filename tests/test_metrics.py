"""/metrics: Prometheus text that parses, and numbers that move when real work is done."""

from __future__ import annotations

import base64

import pytest
from prometheus_client.parser import text_string_to_metric_families

from store import QUEUED, Batch, Recognition, session_scope
from tests.support import mnist_test_digits, png_bytes, wait_until


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.usefixtures("worker")
def test_metrics_move_when_work_is_done(client):
    before = scrape(client)
    for queue in ("interactive", "bulk", "maintenance"):
        assert ("digits_queue_length", (("queue", queue),)) in before
    assert value(before, "digits_metrics_source_up", source="database") == 1
    assert value(before, "digits_metrics_source_up", source="redis") == 1

    image = png_bytes(mnist_test_digits(1, offset=20)[0][0])
    posted = client.post("/api/v1/recognitions", json={"image": base64.b64encode(image).decode()})
    assert posted.status_code == 202
    for _ in range(6):
        body = client.get(f"{posted.headers['Location']}?wait=10").get_json()
        if body["status"] == "done":
            break
    assert body["status"] == "done", body
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    # the tables start empty; the counters (kept in Redis) move by this one drawing
    assert value(before, "digits_recognitions", status="done") == 0
    assert value(after, "digits_recognitions", status="done") == 1
    assert moved("digits_items_finished_total", kind="single", status="done") == 1
    assert moved("digits_digits_found_total", kind="single") == 1
    assert moved("digits_recognition_latency_seconds_count", kind="single") == 1
    assert moved("digits_recognition_latency_seconds_sum", kind="single") > 0
    assert moved("digits_recognition_latency_seconds_bucket", kind="single", le="+Inf") == 1
    # cumulative buckets never decrease and end at the count
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in after.items()
        if name == "digits_recognition_latency_seconds_bucket" and ("kind", "single") in labels
    )
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)
    assert counts[-1] == value(after, "digits_recognition_latency_seconds_count", kind="single")


@pytest.mark.usefixtures("worker")
def test_batch_throughput_metrics(app, client, database_url):
    images, _ = mnist_test_digits(3, offset=30)
    batch = Batch(total=3, status=QUEUED)
    with session_scope(database_url) as session:
        session.add(batch)
        session.flush()
        items = [
            Recognition(batch_id=batch.id, seq=i, source="batch", image=png_bytes(img),
                        image_size=1, image_mime="image/png")
            for i, img in enumerate(images)
        ]  # fmt: skip
        session.add_all(items)
    before = scrape(client)
    app.extensions["celery"].send_task(
        "batches.recognize_chunk", args=[str(batch.id), [str(r.id) for r in items]]
    )

    def done() -> bool:
        with session_scope(database_url) as session:
            return session.get(Batch, batch.id).status == "done"

    wait_until(done, 30, "batch not finished")
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("digits_items_finished_total", kind="batch", status="done") == 3
    assert moved("digits_recognition_latency_seconds_count", kind="batch") == 3
    assert value(after, "digits_recent_batches_images_per_second") > 0
    assert value(after, "digits_batches", status="done") == 1


def test_metrics_survive_a_redis_outage(database_url, model_path):
    from web import create_app

    dead = create_app(
        {"TESTING": True, "DATABASE_URL": database_url, "REDIS_URL": "redis://127.0.0.1:1/0",
         "MODEL_PATH": model_path}
    )  # fmt: skip
    samples = scrape(dead.test_client())
    assert value(samples, "digits_metrics_source_up", source="redis") == 0
    assert value(samples, "digits_metrics_source_up", source="database") == 1
    assert ("digits_recognitions", (("status", "done"),)) in samples
