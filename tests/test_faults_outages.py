"""Outages with real processes (issue 10): Redis frozen (SIGSTOP of the test's own Redis) and
PostgreSQL unreachable (a TCP proxy the test owns drops and refuses the service's connections).
Every API call answers within 2 s meanwhile, and once the dependency is back the batch finishes
with 0 lost and 0 doubled."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.engine import make_url

from scripts.embedded import free_port
from store import Recognition, session_scope
from store.events import redis_client
from tests.conftest import BACKENDS
from tests.faults import (
    CuttableProxy,
    Figures,
    assert_exact,
    batch_view,
    digit_files,
    lost_and_doubled,
    post_batch,
    report,
    timed,
    wait_batch,
    wait_for,
)
from tests.support import service_env, start_beat, start_web, start_worker
from worker.queues import BULK_QUEUE, QUEUES, UNACKED_KEY, queue_depth, queue_lists

pytestmark = pytest.mark.slow  # real processes, faults and waits: `make test-fast` skips them

API_DEADLINE = 2.0  # seconds any API call may take while a dependency is down
#: the stuck check every second, re-sending what no message carries after 3 s
QUICK_CHECKS = {"STUCK_CHECK_INTERVAL": "1s", "LOST_MESSAGE_GRACE": "3s"}


def open_item(url: str, batch_id: str) -> str:
    with session_scope(url) as session:
        return str(
            session.scalars(
                select(Recognition.id)
                .where(
                    Recognition.batch_id == uuid.UUID(batch_id),
                    Recognition.status.in_(("queued", "processing")),
                )
                .limit(1)
            ).first()
        )


def submit_one(base: str, png: bytes) -> requests.Response:
    body = {"image": base64.b64encode(png).decode()}
    return requests.post(f"{base}/api/v1/recognitions", json=body, timeout=10)


def check_fast(what: str, call) -> requests.Response:
    took, response = timed(call)
    assert took < API_DEADLINE, f"{what} took {took:.2f} s"
    return response


def assert_503_json(response: requests.Response, code: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    assert int(response.headers["Retry-After"]) > 0


@contextlib.contextmanager
def batch_under_way(
    service_url: str, watch_url: str, redis_url: str, model_path: str, tmp_path: Path
) -> Iterator[tuple[str, list[tuple[str, bytes]], str]]:
    """A worker (2 processes), beat and the web on `service_url`, a batch of 400 posted in chunks
    of 20 and 40 of them done (read through `watch_url`): yields (web URL, files, batch id).
    Should the batch not finish, the failure shows the queues and the worker's log."""
    env = service_env(service_url, redis_url, model_path, **QUICK_CHECKS)
    worker = start_worker(env, tmp_path, concurrency=2)
    beat = start_beat(env, tmp_path)
    try:
        web = start_web(env, tmp_path, free_port())
        try:
            base = web.extra["url"]
            files = digit_files(400)
            batch_id = post_batch(base, files, chunk_size=20)
            wait_for(lambda: batch_view(watch_url, batch_id).done >= 40, 60, "40 items done")
            try:
                yield base, files, batch_id
            except AssertionError as exc:
                detail = f"{exc}\n{broker_state(redis_url)}\n{worker.log()[-6000:]}"
                raise AssertionError(detail) from exc
        finally:
            web.stop()
    finally:
        beat.stop()
        worker.stop()


def broker_state(redis_url: str) -> str:
    """What Redis holds: the queues' depths and the messages workers have taken."""
    client = redis_client(redis_url)
    depths = {queue: queue_depth(redis_url, queue) for queue in QUEUES}
    return f"queues {depths}, taken (unacked) {client.hlen(UNACKED_KEY)}"


def test_frozen_redis(fault_db, private_redis, model_path, tmp_path):
    """Redis frozen (SIGSTOP) for 10 s mid-batch: submissions are 503 with Retry-After, polls
    (with ?wait= too) answer from the database, /readyz says "broker" without details; once
    Redis runs again the batch finishes, 0 lost, 0 doubled."""
    backend, url = fault_db
    with batch_under_way(url, url, private_redis.url, model_path, tmp_path) as (
        base,
        files,
        batch_id,
    ):
        waiting = open_item(url, batch_id)
        in_flight = 400 - batch_view(url, batch_id).done
        os.kill(private_redis.process.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            for _ in range(2):  # the first calls meet the freeze, later ones too
                response = check_fast("POST recognition", lambda: submit_one(base, files[0][1]))
                assert_503_json(response, "queue_unavailable")
                response = check_fast(
                    "POST batch",
                    lambda: requests.post(
                        f"{base}/api/v1/batches", files=[("files", files[1])], timeout=10
                    ),
                )
                assert_503_json(response, "queue_unavailable")
                response = check_fast(
                    "GET batch", lambda: requests.get(f"{base}/api/v1/batches/{batch_id}")
                )
                assert response.status_code == 200 and response.json()["total"] == 400
                response = check_fast(
                    "GET ?wait=1",
                    lambda: requests.get(f"{base}/api/v1/recognitions/{waiting}?wait=1"),
                )
                assert response.status_code == 200
                response = check_fast("readyz", lambda: requests.get(f"{base}/readyz"))
                assert response.status_code == 503
                assert response.json()["problems"] == {"broker": "redis unavailable"}
                assert check_fast("healthz", lambda: requests.get(f"{base}/healthz")).ok
            time.sleep(max(0.0, 10 - (time.monotonic() - frozen_at)))
        finally:
            os.kill(private_redis.process.pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        view = wait_batch(url, batch_id, timeout=120)
        recovered = time.monotonic() - resumed_at
        assert_exact(view, expected_done=400)
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
        lost, doubled = lost_and_doubled(view, 400)
        fault = "Redis frozen (SIGSTOP) 10 s mid-batch"
        report(Figures(fault, backend, 400, in_flight, lost, doubled, round(recovered, 1),
                       "recovery: from SIGCONT to batch done"))  # fmt: skip


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="needs TEST_DATABASE_URL")
def test_database_cut_off(make_database, private_redis, model_path, tmp_path):
    """The service's PostgreSQL connections cut for 10 s mid-batch (dropped and refused by a
    proxy the test owns): the API answers 503 JSON (database_unavailable) within 2 s, /readyz
    names "database" without the driver's text, workers retry with backoff and finish once it
    is back: 0 lost, 0 doubled."""
    direct = make_database("postgresql")
    parsed = make_url(direct)
    proxy = CuttableProxy(parsed.port or 5432, parsed.host or "127.0.0.1")
    url = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    with batch_under_way(url, direct, private_redis.url, model_path, tmp_path) as (
        base,
        files,
        batch_id,
    ):
        in_flight = 400 - batch_view(direct, batch_id).done
        proxy.cut()
        cut_at = time.monotonic()
        try:
            for _ in range(2):
                response = check_fast(
                    "GET batch", lambda: requests.get(f"{base}/api/v1/batches/{batch_id}")
                )
                assert_503_json(response, "database_unavailable")
                response = check_fast("POST recognition", lambda: submit_one(base, files[0][1]))
                assert_503_json(response, "database_unavailable")
                response = check_fast("readyz", lambda: requests.get(f"{base}/readyz"))
                assert response.status_code == 503
                assert response.json()["problems"] == {"database": "database unavailable"}
            time.sleep(max(0.0, 10 - (time.monotonic() - cut_at)))
        finally:
            proxy.restore()
        restored_at = time.monotonic()
        view = wait_batch(direct, batch_id, timeout=120)
        recovered = time.monotonic() - restored_at
        assert_exact(view, expected_done=400)
        ok = requests.get(f"{base}/api/v1/batches/{batch_id}", timeout=5)
        assert ok.status_code == 200 and ok.json()["status"] == "done"
        lost, doubled = lost_and_doubled(view, 400)
        fault = "PostgreSQL connections cut 10 s mid-batch (proxy)"
        report(Figures(fault, "postgresql", 400, in_flight, lost, doubled, round(recovered, 1),
                       "recovery: from restore to batch done"))  # fmt: skip
        proxy.close()


def test_a_message_redis_lost_is_re_sent(fault_db, private_redis, model_path, tmp_path):
    """A batch's messages vanish from Redis while no worker holds them (as when a broken
    connection's pending BRPOP pops one for a socket nobody reads): the stuck check re-sends
    those items once they waited LOST_MESSAGE_GRACE, not STUCK_TIMEOUT (10 min) later, and
    re-sends nothing a queue or a worker still holds. 0 lost, 0 doubled."""
    backend, url = fault_db
    env = service_env(url, private_redis.url, model_path, **QUICK_CHECKS)
    worker = start_worker(env, tmp_path, concurrency=1)
    beat = start_beat(env, tmp_path)
    web = start_web(env, tmp_path, free_port())
    try:
        os.kill(worker.popen.pid, signal.SIGSTOP)  # its consumer takes nothing meanwhile
        try:
            batch_id = post_batch(web.extra["url"], digit_files(120), chunk_size=20)
            removed = redis_client(private_redis.url).delete(*queue_lists(BULK_QUEUE))
            assert removed == 1  # the bulk queue, with the messages no worker had taken
        finally:
            os.kill(worker.popen.pid, signal.SIGCONT)
        lost_at = time.monotonic()
        view = wait_batch(url, batch_id, timeout=60)
        recovered = time.monotonic() - lost_at
        assert_exact(view, expected_done=120)
        lost, doubled = lost_and_doubled(view, 120)
        assert "lost re-sent" in worker.log()
        report(Figures("bulk queue deleted from Redis", backend, 120, 120, lost, doubled,
                       round(recovered, 1), "recovery: from the loss to batch done"))  # fmt: skip
    finally:
        web.stop()
        beat.stop()
        worker.stop()
