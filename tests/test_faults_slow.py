"""Slow is not dead (issue 10): with a short STUCK_TIMEOUT and lease, and beat running the
stuck check every second, an item that takes far longer than both (its worker renews the
lease) is never re-sent or failed, and an upload slower than both is never closed early: its
batch's total stays right."""

from __future__ import annotations

import http.client
import json
import re
import time
import uuid

import pytest

from scripts.embedded import EmbeddedRedis, free_port
from store import Batch, session_scope
from tests.conftest import BACKENDS
from tests.faults import (
    assert_exact,
    batch_item,
    digit_files,
    post_batch,
    wait_batch,
    wait_for,
)
from tests.support import service_env, start_beat, start_web, start_worker
from worker.maintenance import held_ids

pytestmark = pytest.mark.slow  # real processes, faults and waits: `make test-fast` skips them

FAST_CHECKS = {
    "STUCK_TIMEOUT": "2s",
    "LEASE_TIMEOUT": "3s",
    "STUCK_CHECK_INTERVAL": "1s",
    "MAX_ATTEMPTS": "2",
    "LOST_MESSAGE_GRACE": "2s",
}


@pytest.fixture(scope="module", params=BACKENDS)
def slow_stack(request, make_database, model_path, tmp_path_factory):
    """web + a 2-process worker + beat, with the fast stuck checks above."""
    url = make_database(request.param)
    tmp_path = tmp_path_factory.mktemp("slow")
    with EmbeddedRedis(tmp_path / "redis") as redis:
        env = service_env(url, redis.url, model_path, **FAST_CHECKS)
        worker = start_worker(
            {**env, "DIGITS_FAULT_SLOW_FILENAME": "slow.png", "DIGITS_FAULT_SLOW_SECONDS": "8"},
            tmp_path,
            concurrency=2,
        )
        web = start_web(env, tmp_path, free_port())
        beat = start_beat(env, tmp_path)
        try:
            yield url, web.extra["url"], worker, beat, redis.url
        finally:
            beat.stop()
            web.stop()
            worker.stop()


def test_a_slow_item_keeps_its_lease(slow_stack):
    url, base, worker, beat, redis_url = slow_stack
    files = digit_files(6)
    files.insert(2, ("slow.png", files[0][1]))
    started = time.monotonic()
    batch_id = post_batch(base, files, chunk_size=1)
    wait_for(lambda: batch_item(url, batch_id, "slow.png").status == "processing", 30, "slow")
    # its message is taken, not acknowledged: the lost-message check counts it as held
    slow_id = str(batch_item(url, batch_id, "slow.png").id)
    assert slow_id in held_ids(redis_url, reserved=True) - held_ids(redis_url)
    view = wait_batch(url, batch_id, timeout=60)
    assert time.monotonic() - started >= 8  # it really was slower than the timeouts
    assert_exact(view, expected_done=7)
    slow = batch_item(url, batch_id, "slow.png")
    assert slow.status == "done" and slow.attempts == 1  # never taken back nor re-sent
    assert beat.log().count("maintenance.requeue_stuck") >= 3  # the check ran meanwhile
    assert not re.search(r"[1-9]\d* lost re-sent", worker.log())


def slow_upload(
    base: str, files: list[tuple[str, bytes]], pause_after: tuple[int, ...], chunk_size: int
) -> str:
    """POST `files` as one multipart body, pausing 4 s after each file in `pause_after`."""
    from web.uploads import READ_SIZE

    boundary = uuid.uuid4().hex

    def part(name: str, data: bytes) -> bytes:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: image/png\r\n\r\n"
        )
        return head.encode() + data + b"\r\n"

    # the web reads the body 256 KB at a time: a field it ignores, sent before each pause,
    # makes it read up to there
    filler = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\n'.encode()
        + b"." * READ_SIZE
        + b"\r\n"
    )
    parts = [
        part(name, data) + (filler if i in pause_after else b"")
        for i, (name, data) in enumerate(files)
    ]
    parts.append(f"--{boundary}--\r\n".encode())
    # a browser's or curl's upload: a Content-Length, the body as it comes
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.putrequest("POST", f"/api/v1/batches?chunk_size={chunk_size}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(sum(len(p) for p in parts)))
    conn.endheaders()
    for i, data in enumerate(parts):
        conn.send(data)
        if i in pause_after:
            time.sleep(4)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 202, body
    return json.loads(body)["id"]


def test_a_slow_upload_is_never_closed(slow_stack):
    """The multipart body arrives over ~8 s (4 x STUCK_TIMEOUT) with items stored early."""
    url, base, worker, beat, redis_url = slow_stack
    batch_id = slow_upload(base, digit_files(12), (3, 7), chunk_size=2)
    view = wait_batch(url, batch_id, timeout=60)
    assert_exact(view, expected_done=12)  # total 12: the placeholder was dropped once
    with session_scope(url) as session:
        assert session.get(Batch, uuid.UUID(batch_id)).upload_until is None
    assert not re.search(r"[1-9]\d* abandoned uploads closed", worker.log())


def test_the_partial_chunk_of_a_running_upload_is_not_taken_for_lost(slow_stack):
    """300 files, chunks of 100: the first 256 are stored at once and 200 of them sent, and
    56 wait in the database for more (4 s, twice STUCK_TIMEOUT and LOST_MESSAGE_GRACE) with no
    message yet. Neither check re-sends them: the upload sends them once it goes on."""
    url, base, worker, beat, redis_url = slow_stack
    batch_id = slow_upload(base, digit_files(300), (270,), chunk_size=100)
    view = wait_batch(url, batch_id, timeout=60)
    assert_exact(view, expected_done=300)
    assert not re.search(r"[1-9]\d* (requeued|lost re-sent)", worker.log())
