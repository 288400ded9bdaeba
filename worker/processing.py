"""Recognize a list of stored items with one vectorized call, and store the readings."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

import recognizer
from config import current_settings
from store import Recognition, events, session_scope, stats, utcnow
from store.heartbeat import Heartbeat
from store.queries import claim, renew_lease, store_failures, store_readings
from worker.model import get_model

log = logging.getLogger(__name__)


def _capped(reading: recognizer.Reading, cap: int) -> recognizer.Reading:
    """The reading, or a failure when it found more digits than an item may have."""
    if len(reading.digits) <= cap:  # `text` holds MAX_TEXT characters; the cap is at most that
        return reading
    return replace(
        reading,
        digits=[],
        error=f"{len(reading.digits)} digits found; at most {cap} per image are recognized",
        error_code="too_many_digits",
    )


def process(ids: Sequence[object], *, max_attempts: int | None = None) -> list[uuid.UUID]:
    """Claim, recognize and store `ids`; return the ids finished by this call.

    The claim is a lease this worker renews while it works (see store.heartbeat), so the stuck
    check never takes back items that are slow rather than abandoned."""
    started = time.perf_counter()
    db_url = current_settings().database_url
    keys = [uuid.UUID(str(i)) for i in ids]
    lease = current_settings().lease_timeout
    me = worker_name()
    with session_scope(db_url) as session:
        claimed = claim(session, keys, max_attempts=max_attempts, lease_seconds=lease, worker=me)
    if not claimed:
        return []

    def renew() -> None:
        with session_scope(db_url) as session:
            renew_lease(session, keys, until=utcnow() + timedelta(seconds=lease), worker=me)

    with Heartbeat(renew, every=lease / 3):
        _fault_hook(db_url, [rid for rid, _ in claimed])
        return _recognize_and_store(keys, claimed, started)


def _recognize_and_store(
    keys: list[uuid.UUID], claimed: list[tuple[uuid.UUID, bytes | None]], started: float
) -> list[uuid.UUID]:
    db_url = current_settings().database_url
    cap = current_settings().digits_max_per_image
    model = get_model()
    missing = [rid for rid, data in claimed if data is None]
    present = [(rid, data) for rid, data in claimed if data is not None]
    results = model.recognize_many(
        [data for _, data in present], max_pixels=current_settings().max_image_pixels
    )
    readings = {
        rid: _capped(reading, cap) for (rid, _), reading in zip(present, results, strict=True)
    }
    with session_scope(db_url) as session:
        finished = store_readings(session, readings, model_version=model.version)
        message = "the image was removed before it was processed"
        finished += store_failures(session, dict.fromkeys(missing, message), "image_missing")
        rows = _finished_rows(session, finished)
    try:
        events.publish_finished(current_settings().redis_url, finished)
    except Exception:  # a missed wake-up only delays a waiting client until its next check
        log.warning("could not publish finished ids", exc_info=True)
    _record_metrics(rows, {rid: len(r.digits) for rid, r in readings.items()})
    ids = {"recognition_id": str(keys[0])} if len(keys) == 1 else {}
    log.info(
        "processed %d items",
        len(claimed),
        extra={
            **ids,
            "items": len(claimed),
            "finished": len(finished),
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return finished


def worker_name() -> str:
    """This worker's node name (e.g. `bulk@host`): who holds a lease."""
    from celery import current_task

    request = getattr(current_task, "request", None)
    return str(getattr(request, "hostname", None) or f"pid-{os.getpid()}@{socket.gethostname()}")


def _fault_hook(db_url: str, ids: list[uuid.UUID]) -> None:
    """Fault tests only, off unless set in the worker's own environment: a process that
    claims an item named DIGITS_FAULT_KILL_FILENAME dies at once (as a crash in native code
    would); one named DIGITS_FAULT_SLOW_FILENAME takes DIGITS_FAULT_SLOW_SECONDS longer."""
    kill = os.environ.get("DIGITS_FAULT_KILL_FILENAME")
    slow = os.environ.get("DIGITS_FAULT_SLOW_FILENAME")
    if not (kill or slow):
        return
    with session_scope(db_url) as session:
        names = set(session.scalars(select(Recognition.filename).where(Recognition.id.in_(ids))))
    if kill and kill in names:
        os.kill(os.getpid(), signal.SIGKILL)
    if slow and slow in names:
        time.sleep(float(os.environ.get("DIGITS_FAULT_SLOW_SECONDS", "10")))


# id, batch_id, status, created_at, finished_at
FinishedRow = Row[uuid.UUID, uuid.UUID | None, str, datetime, datetime | None]


def _finished_rows(session: Session, finished: list[uuid.UUID]) -> Sequence[FinishedRow]:
    if not finished:
        return []
    return session.execute(
        select(
            Recognition.id,
            Recognition.batch_id,
            Recognition.status,
            Recognition.created_at,
            Recognition.finished_at,
        ).where(Recognition.id.in_(finished))
    ).all()


def _record_metrics(rows: Sequence[FinishedRow], digits: dict[uuid.UUID, int]) -> None:
    """End-to-end latency and finished counters in Redis, read by the web's /metrics
    (`digits`: how many each item has)."""
    if not rows:
        return
    try:
        stats.record_finished(
            current_settings().redis_url,
            (
                (
                    "batch" if r.batch_id else "single",
                    r.status,
                    r.created_at,
                    r.finished_at,
                    digits.get(r.id, 0),
                )
                for r in rows
            ),
        )
    except Exception:  # metrics must never fail the work itself
        log.warning("could not record metrics", exc_info=True)
