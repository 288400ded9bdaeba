"""Faults with real processes (issue 10): poison items, killed pool processes, bounded work.

Each test owns its Redis (a private redis-server) and a fresh database of each backend, so it
can kill, freeze or restart them. Figures (in flight, lost, doubled, time to recover) are
printed and, with DIGITS_FAULT_FIGURES=path, appended there (bench/RESULTS.md quotes them).
"""

from __future__ import annotations

import os
import signal
import time

import cv2
import numpy as np
import pytest

from scripts.embedded import free_port
from tests.faults import (
    Figures,
    assert_exact,
    batch_item,
    batch_view,
    digit_files,
    lost_and_doubled,
    post_batch,
    report,
    wait_batch,
    wait_for,
)
from tests.support import child_pids, service_env, start_web, start_worker

pytestmark = pytest.mark.slow  # real processes, faults and waits: `make test-fast` skips them


def test_a_poison_item_fails_alone_and_the_loop_ends(fault_db, private_redis, model_path, tmp_path):
    """An item whose processing kills its pool process every time it is claimed (as a crash in
    native code would): the chunk is retried by halves, the poison item ends `failed` after
    MAX_ATTEMPTS tries alone, every neighbour ends `done`, and nothing is sent again after."""
    backend, url = fault_db
    env = service_env(url, private_redis.url, model_path, MAX_ATTEMPTS="2")
    worker = start_worker(
        {**env, "DIGITS_FAULT_KILL_FILENAME": "poison.png"}, tmp_path, "bulk,maintenance",
        concurrency=2,
    )  # fmt: skip
    web = start_web(env, tmp_path, free_port())
    try:
        files = digit_files(31)
        files.insert(13, ("poison.png", files[0][1]))
        started = time.monotonic()
        batch_id = post_batch(web.extra["url"], files, chunk_size=8)
        view = wait_batch(url, batch_id, timeout=120)
        took = time.monotonic() - started
        assert_exact(view, expected_done=31, expected_failed=1)
        poison = batch_item(url, batch_id, "poison.png")
        assert poison.status == "failed" and poison.error_code == "too_many_attempts"
        assert "gave up after" in poison.error
        # the loop has ended: no message left, and the poison item is not tried again
        time.sleep(2)
        assert batch_item(url, batch_id, "poison.png").attempts == poison.attempts
        deaths = worker.log().count("exited with 'signal 9")
        lost, doubled = lost_and_doubled(view, 32)
        note = f"{poison.attempts} claims of the poison item, {deaths} process deaths"
        fault = "poison item (pool process SIGKILLed on each claim)"
        report(Figures(fault, backend, 32, 8, lost, doubled, round(took, 1), note))
    finally:
        web.stop()
        worker.stop()


def test_killing_pool_processes_mid_batch_loses_and_doubles_nothing(
    fault_db, private_redis, model_path, tmp_path
):
    """SIGKILL both bulk pool processes in the middle of a batch: every item ends done once."""
    backend, url = fault_db
    env = service_env(url, private_redis.url, model_path)
    worker = start_worker(env, tmp_path, "bulk,maintenance", concurrency=2)
    web = start_web(env, tmp_path, free_port())
    try:
        files = digit_files(600)
        batch_id = post_batch(web.extra["url"], files, chunk_size=40)
        wait_for(lambda: batch_view(url, batch_id).done >= 120, 60, "120 items done")
        in_flight = batch_view(url, batch_id).items.get("processing", 0)
        children = child_pids(worker.popen.pid)
        assert len(children) == 2
        killed_at = time.monotonic()
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        view = wait_batch(url, batch_id, timeout=120)
        recovered = time.monotonic() - killed_at
        assert_exact(view, expected_done=600)
        lost, doubled = lost_and_doubled(view, 600)
        fault = "SIGKILL of both bulk pool processes mid-batch"
        fig = Figures(fault, backend, 600, in_flight, lost, doubled, round(recovered, 1))
        report(fig)
    finally:
        web.stop()
        worker.stop()


def stroke_image(strokes: int) -> bytes:
    """`strokes` separate short strokes: the recognizer finds that many 'digits'."""
    image = np.zeros((40, strokes * 12), np.uint8)
    for i in range(strokes):
        cv2.line(image, (6 + i * 12, 8), (8 + i * 12, 32), 255, 2)
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def test_too_many_digits_fail_alone_and_text_fits(fault_db, private_redis, model_path, tmp_path):
    """280 strokes in one image: over DIGITS_MAX_PER_IMAGE, that item fails `too_many_digits`
    (on PostgreSQL a 280-character text would break the chunk's transaction), its chunk's
    neighbours finish; an image under the cap stores its whole text."""
    backend, url = fault_db
    env = service_env(url, private_redis.url, model_path, DIGITS_MAX_PER_IMAGE="256")
    worker = start_worker(env, tmp_path, "bulk,maintenance")
    web = start_web(env, tmp_path, free_port())
    try:
        files = digit_files(10)
        files.insert(3, ("strokes280.png", stroke_image(280)))
        files.insert(7, ("strokes250.png", stroke_image(250)))
        batch_id = post_batch(web.extra["url"], files, chunk_size=64)
        view = wait_batch(url, batch_id, timeout=60)
        assert_exact(view, expected_done=11, expected_failed=1)
        big = batch_item(url, batch_id, "strokes280.png")
        assert big.status == "failed" and big.error_code == "too_many_digits"
        assert "280 digits found; at most 256" in big.error
        under = batch_item(url, batch_id, "strokes250.png")
        assert under.status == "done" and len(under.text) == 250
    finally:
        web.stop()
        worker.stop()
