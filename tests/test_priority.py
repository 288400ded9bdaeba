"""Bulk work cannot starve interactive work: with `make run`'s worker layout (one worker on
`interactive`, a separate one on `bulk`), drawings submitted while a big batch is being worked
through finish before the batch does. Ordering is asserted, never wall-clock time."""

from __future__ import annotations

import base64
import io
from datetime import datetime

import pytest

from tests.support import (
    mnist_test_digits,
    png_bytes,
    service_env,
    start_worker,
    wait_until,
    zip_bytes,
)
from web import create_app

pytestmark = pytest.mark.slow  # real processes, faults and waits: `make test-fast` skips them

BATCH_ITEMS = 1000


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def layout(backend, make_database, redis_dbs, model_path, tmp_path_factory):
    """A database, a Redis db and the two workers of its own (so no other worker helps)."""
    database = make_database(backend)
    redis_url = redis_dbs.take()
    env = service_env(database, redis_url, model_path)
    logs = tmp_path_factory.mktemp("priority")
    interactive = start_worker(env, logs, queues="interactive", name="interactive")
    try:
        bulk = start_worker(env, logs, queues="bulk", name="bulk")
    except BaseException:
        interactive.stop()
        raise
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database,
            "REDIS_URL": redis_url,
            "MODEL_PATH": model_path,
        }
    )
    yield app.test_client()
    bulk.stop()
    interactive.stop()
    redis_dbs.give_back(redis_url)


def test_drawings_finish_while_a_big_batch_runs(layout):
    client = layout
    images, labels = mnist_test_digits(50)
    pngs = [png_bytes(i) for i in images]
    archive = zip_bytes({f"{n:05d}.png": pngs[n % 50] for n in range(BATCH_ITEMS)})
    response = client.post(
        "/api/v1/batches?chunk_size=1",  # one task per image: the bulk queue is long
        data={"files": [(io.BytesIO(archive), "big.zip")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    batch_url = response.headers["Location"]

    # Let the bulk worker get going, then draw.
    wait_until(
        lambda: client.get(batch_url).get_json()["done"] >= 20,
        30,
        "bulk work not started",
        interval=0.05,
    )
    finished = []
    for n in range(3):
        encoded = base64.b64encode(pngs[n]).decode()
        submitted = client.post("/api/v1/recognitions", json={"image": encoded})
        assert submitted.status_code == 202
        result = client.get(f"{submitted.headers['Location']}?wait=10").get_json()
        assert result["status"] == "done", result
        assert result["text"] == str(labels[n])
        finished.append(parse_time(result["finished_at"]))

    batch = client.get(batch_url).get_json()
    assert batch["status"] != "done" and batch["finished_at"] is None, batch
    assert batch["done"] + batch["failed"] < batch["total"] == BATCH_ITEMS
    # The batch was running before the drawings and finished after them.
    batch = wait_until(
        lambda: (b := client.get(batch_url).get_json())["status"] == "done" and b,
        120,
        "the batch did not finish",
        interval=0.5,
    )
    assert batch["done"] == BATCH_ITEMS, batch
    assert parse_time(batch["started_at"]) < min(finished)
    assert max(finished) < parse_time(batch["finished_at"])
