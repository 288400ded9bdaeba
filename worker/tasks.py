"""Celery tasks. They take ids, never payloads; the images are read from the database.

What goes wrong is contained here:

- The database is unreachable: the task is retried with backoff (a new message) until it is
  back; nothing is lost and nothing counts as an attempt of the items' own.
- A chunk's run failed, ran out of time, or its process died (a redelivered message whose items
  were claimed already): the chunk is split in two halves, sent as two tasks. A poison item ends
  up alone, where after MAX_ATTEMPTS tries it ends `failed` (store.queries.claim); its
  neighbours finish. Each split halves the chunk, so the number of retries is bounded.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app
from sqlalchemy.exc import DBAPIError, OperationalError

from config import current_settings
from store import session_scope
from store.queries import open_attempts, store_failures
from worker.processing import process
from worker.queues import RECOGNIZE, RECOGNIZE_CHUNK

log = logging.getLogger(__name__)

#: backoff of a task waiting for the database: 1, 2, 4 ... 30 s, for about 30 minutes in all
DB_RETRY_MAX = 70
DB_RETRY_CAP = 30.0


def _db_down(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def _backoff(retries: int) -> float:
    return min(DB_RETRY_CAP, 2.0**retries)


def _max_attempts(attempt: int) -> int:
    """Tries an item gets once alone: MAX_ATTEMPTS beyond those its chunk's splits cost."""
    return attempt + current_settings().max_attempts


def _fail(ids: list[str], reason: str, code: str) -> None:
    with session_scope(current_settings().database_url) as session:
        store_failures(session, {uuid.UUID(i): reason for i in ids}, code)


def _split(batch_id: str, ids: list[str], attempt: int) -> None:
    """Send `ids` again as two halves; `attempt` is what their items have had so far."""
    half = len(ids) // 2
    celery = current_app.extensions["celery"]
    for part in (ids[:half], ids[half:]):
        celery.send_task(RECOGNIZE_CHUNK, args=[batch_id, part], kwargs={"attempt": attempt})
    log.warning(
        "chunk of %d items of batch %s split in two after a failed run",
        len(ids),
        batch_id,
        extra={"batch_id": batch_id, "items": len(ids), "attempt": attempt},
    )


def _run(
    task: Task, ids: list[str], attempt: int, on_failure: Callable[[BaseException], None]
) -> None:
    """process(ids) with the fault handling above; `on_failure(exc)` handles a failed run."""
    try:
        process(ids, max_attempts=_max_attempts(attempt))
    except Exception as exc:
        if _db_down(exc):
            retries = task.request.retries
            log.warning("database unavailable; retrying in %.0f s", _backoff(retries))
            raise task.retry(
                exc=exc,
                countdown=_backoff(retries),
                max_retries=DB_RETRY_MAX,
                kwargs={"attempt": attempt + 1},
            ) from exc
        log.exception("a run of %d items failed", len(ids))
        on_failure(exc)


def _tried(ids: list[str]) -> int:
    keys = [uuid.UUID(str(i)) for i in ids]
    with session_scope(current_settings().database_url) as session:
        return open_attempts(session, keys)


def _reason(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, SoftTimeLimitExceeded):
        limit = current_settings().task_soft_time_limit
        return f"processing took longer than the {limit} s limit", "time_limit"
    return f"processing failed: {type(exc).__name__}", "processing_error"


@shared_task(name=RECOGNIZE, ignore_result=True, bind=True)  # type: ignore[untyped-decorator]
def recognize(self: Task, recognition_id: str, attempt: int = 0) -> None:
    """One interactive recognition (a drawing or a single upload)."""
    _run(self, [recognition_id], attempt, lambda exc: _fail([recognition_id], *_reason(exc)))


@shared_task(name=RECOGNIZE_CHUNK, ignore_result=True, bind=True)  # type: ignore[untyped-decorator]
def recognize_chunk(
    self: Task, batch_id: str, recognition_ids: list[str], attempt: int = 0
) -> None:
    """A chunk of a bulk batch, predicted with one vectorized call.

    `attempt`: the attempts its items had when this message was sent. More, now, means a run of
    this very message was cut short (its process died): then the chunk is split instead."""
    ids = list(recognition_ids)
    if len(ids) > 1:
        try:
            tried = _tried(ids)
        except Exception as exc:
            if not _db_down(exc):
                raise
            raise self.retry(
                exc=exc, countdown=_backoff(self.request.retries), max_retries=DB_RETRY_MAX
            ) from exc
        if tried > attempt:
            _split(batch_id, ids, tried)
            return

    def failed(exc: BaseException) -> None:
        if len(ids) > 1:
            _split(batch_id, ids, attempt + 1)
        else:
            _fail(ids, *_reason(exc))

    _run(self, ids, attempt, failed)
