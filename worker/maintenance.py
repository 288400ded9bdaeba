"""Periodic maintenance tasks run by Celery beat: retention cleanup and stuck-work requeue.

Both run on the `maintenance` queue (consumed by the bulk workers). A Redis lock keeps two runs
of the same task from overlapping; each run works in bounded chunks and is idempotent.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from celery import current_app as current_celery
from celery import shared_task
from celery.signals import worker_ready
from flask import Flask, current_app

from config import Settings, current_settings
from store import maintenance, utcnow
from store.events import redis_client
from worker.queues import (
    BULK_QUEUE,
    CLEANUP,
    INTERACTIVE_QUEUE,
    RECOGNIZE,
    RECOGNIZE_CHUNK,
    REQUEUE_STUCK,
    RESUME,
    UNACKED_KEY,
    queue_depth,
    queue_lists,
)

log = logging.getLogger(__name__)


@contextlib.contextmanager
def single_run(name: str, ttl: int, wait: float = 0) -> Iterator[bool]:
    """Yield True if this process got the lock for `name` (held at most `ttl` seconds), waiting
    up to `wait` seconds for it."""
    lock = redis_client(current_settings().redis_url).lock(
        f"digits:lock:{name}", timeout=max(ttl, 10), blocking=False
    )
    got = lock.acquire(blocking=wait > 0, blocking_timeout=wait or None)
    try:
        yield got
    finally:
        if got:
            with contextlib.suppress(Exception):
                lock.release()


def cleanup_now(app: Flask, *, dry_run: bool = False) -> maintenance.CleanupReport:
    """The retention cleanup with the app's settings (used by the task and `digits cleanup`)."""
    settings: Settings = app.extensions["settings"]
    return maintenance.run_cleanup(
        settings.database_url,
        image_retention=settings.image_retention,
        result_retention=settings.result_retention,
        chunk=settings.cleanup_chunk_size,
        dry_run=dry_run,
    )


def requeue_stuck_now(app: Flask) -> maintenance.StuckReport:
    """Requeue (or fail, after MAX_ATTEMPTS) the work no worker is doing, with the app's
    settings. Stale *queued* items are only re-sent while the queue they would wait in is
    empty: then no message can be carrying them, and a long healthy backlog is never
    duplicated."""
    celery = app.extensions["celery"]
    settings: Settings = app.extensions["settings"]

    def send_single(rid: uuid.UUID) -> None:
        celery.send_task(RECOGNIZE, args=[str(rid)])

    def send_batch(batch_id: uuid.UUID, ids: list[uuid.UUID]) -> None:
        celery.send_task(RECOGNIZE_CHUNK, args=[str(batch_id), [str(i) for i in ids]])

    def queued_for(single: bool) -> bool:
        return queue_depth(settings.redis_url, INTERACTIVE_QUEUE if single else BULK_QUEUE) == 0

    return maintenance.requeue_stuck(
        settings.database_url,
        timeout=settings.stuck_timeout,
        max_attempts=settings.max_attempts,
        send_single=send_single,
        send_batch=send_batch,
        queued_for=queued_for,
        chunk=settings.cleanup_chunk_size,
        batch_chunk=settings.batch_chunk_size,
    )


def held_ids(redis_url: str, *, reserved: bool = False) -> set[str]:
    """The recognition ids that messages waiting in the interactive and bulk queues carry; with
    `reserved`, also those of the messages workers have taken and not yet acknowledged (kombu's
    `unacked` hash: waiting for a free process, or running under acks_late)."""
    client = redis_client(redis_url)
    held: set[str] = set()
    for queue in (INTERACTIVE_QUEUE, BULK_QUEUE):
        for name in queue_lists(queue):
            for raw in client.lrange(name, 0, -1):
                held.update(_message_ids(raw))
    if reserved:
        for raw in client.hvals(UNACKED_KEY):
            held.update(_message_ids(raw))
    return held


def _message_ids(raw: bytes | str) -> list[str]:
    """The ids in one Celery message (protocol 2, JSON), or in an unacked entry (the message,
    its exchange and routing key): a task's first or second argument."""
    try:
        message = json.loads(raw)
        if isinstance(message, list):
            message = message[0]
        args = json.loads(base64.b64decode(message["body"]))[0]
        task = message["headers"]["task"]
    except (ValueError, KeyError, IndexError, TypeError):
        return []
    if task == RECOGNIZE and args:
        return [str(args[0])]
    if task == RECOGNIZE_CHUNK and len(args) > 1:
        return [str(i) for i in args[1]]
    return []


#: at start-up, items queued this recently may still be on their way to the broker
RESUME_GRACE = 2.0
#: seconds the start-up resume holds its lock at most (it takes well under a second)
RESUME_LOCK_TTL = 15
#: the lost-message check reads every queued message; above this many it waits for a shorter
#: queue (the stuck check's STUCK_TIMEOUT rule remains)
LOST_SCAN_MAX = 20_000


def resume_now(
    app: Flask,
    worker: str | None,
    *,
    grace: float = RESUME_GRACE,
    reserved: bool = False,
    lock_wait: float = RESUME_LOCK_TTL * 2,
) -> int:
    """Re-send at once what the database says is open but no queue holds and no live worker
    holds (e.g. after the whole stack stopped mid-batch), without waiting for the stuck check.
    With `reserved`, messages workers have taken count as held too (see `recover_lost_now`).
    Returns how many items were re-sent."""
    celery = app.extensions["celery"]
    settings: Settings = app.extensions["settings"]
    url = settings.database_url
    # The lock lives in Redis, which keeps it across a restart: a run killed while it held the
    # lock must not keep the next start-up from resuming, so it expires well within the wait.
    with single_run("resume", RESUME_LOCK_TTL, wait=lock_wait) as mine:
        if not mine:
            log.warning("resume skipped: another process is resuming")
            return 0
        held = held_ids(settings.redis_url, reserved=reserved)
        now = utcnow()
        rows = [
            (rid, bid)
            for rid, bid in maintenance.resumable(url, now=now, worker=worker, grace=grace)
            if str(rid) not in held
        ]
        if not rows:
            return 0
        maintenance.mark_requeued(url, [rid for rid, _ in rows], now=now)
        chunk = max(1, app.extensions["settings"].batch_chunk_size)
        by_batch: dict[uuid.UUID, list[str]] = {}
        for rid, bid in rows:
            if bid is None:
                celery.send_task(RECOGNIZE, args=[str(rid)])
            else:
                by_batch.setdefault(bid, []).append(str(rid))
        for bid, ids in by_batch.items():
            for start in range(0, len(ids), chunk):
                celery.send_task(RECOGNIZE_CHUNK, args=[str(bid), ids[start : start + chunk]])
        log.warning(
            "resumed %d items no queue held (%d batches)",
            len(rows),
            len(by_batch),
            extra={"task": RESUME, "items": len(rows), "batches": len(by_batch)},
        )
        return len(rows)


def recover_lost_now(app: Flask) -> int:
    """Re-send the open items that no message in Redis carries any more, once they have waited
    LOST_MESSAGE_GRACE: not in a queue, not taken by a worker, not being processed.

    A message can vanish without any process dying: when a broker connection breaks while a
    BRPOP is pending, Redis may still pop the message and answer a socket nobody reads. The
    stuck check would find such items only after STUCK_TIMEOUT and an empty queue; this finds
    them within a check or two, and never re-sends what a healthy backlog holds, nor the
    partial chunk an upload still running keeps back."""
    settings: Settings = app.extensions["settings"]
    depth = sum(queue_depth(settings.redis_url, q) for q in (INTERACTIVE_QUEUE, BULK_QUEUE))
    if depth > LOST_SCAN_MAX:  # reading them all would cost more than a late re-send
        log.info("lost-message check skipped: %d messages queued", depth)
        return 0
    grace = float(settings.lost_message_grace)
    return resume_now(app, None, grace=grace, reserved=True, lock_wait=0)


def _resume_on_start(sender: object = None, **_: object) -> None:
    """worker_ready: resume in the background (the worker starts consuming meanwhile)."""
    flask_app = current_celery.flask_app  # set by celery_init_app

    hostname = getattr(sender, "hostname", None)

    def run() -> None:
        try:
            with flask_app.app_context():
                count = resume_now(flask_app, hostname)
            log.info("start-up resume done: %d items re-sent", count)
        except Exception:  # the stuck check remains the safety net
            log.warning("start-up resume failed", exc_info=True)

    threading.Thread(target=run, name="resume", daemon=True).start()


worker_ready.connect(_resume_on_start, weak=False)


@shared_task(name=CLEANUP, ignore_result=True)  # type: ignore[untyped-decorator]
def cleanup() -> dict[str, Any] | None:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    with single_run("cleanup", app.extensions["settings"].cleanup_interval * 2) as mine:
        if not mine:
            log.info("cleanup already running elsewhere; skipped", extra={"task": "cleanup"})
            return None
        started = time.perf_counter()
        report = cleanup_now(app)
        log.info(
            "cleanup %s",
            report.summary(),
            extra={
                "task": CLEANUP,
                **report.as_dict(),
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return report.as_dict()


@shared_task(name=REQUEUE_STUCK, ignore_result=True)  # type: ignore[untyped-decorator]
def requeue_stuck() -> dict[str, Any] | None:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    with single_run("requeue_stuck", app.extensions["settings"].stuck_check_interval * 2) as mine:
        if not mine:
            return None
        started = time.perf_counter()
        report = requeue_stuck_now(app)
        report.lost = recover_lost_now(app)
        counts = report.counts()
        duration = round((time.perf_counter() - started) * 1000, 1)
        for rid in report.requeued:
            log.warning(
                "requeued stuck recognition %s",
                rid,
                extra={"task": REQUEUE_STUCK, "recognition_id": str(rid)},
            )
        for batch_id, ids in report.requeued_batch_items.items():
            log.warning(
                "requeued %d stuck items of batch %s",
                len(ids),
                batch_id,
                extra={
                    "task": REQUEUE_STUCK,
                    "batch_id": str(batch_id),
                    "items": len(ids),
                },
            )
        for rid in report.failed:
            log.warning(
                "gave up on recognition %s after the maximum attempts",
                rid,
                extra={"task": REQUEUE_STUCK, "recognition_id": str(rid)},
            )
        level = logging.DEBUG if not any(counts.values()) else logging.WARNING
        log.log(
            level,
            "stuck check: {requeued} requeued, {failed} failed, {lost} lost re-sent, "
            "{closed_uploads} abandoned uploads closed".format(**counts),
            extra={"task": REQUEUE_STUCK, **counts, "duration_ms": duration},
        )
        return counts
