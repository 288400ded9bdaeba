"""Sending work to the queues from the web: one attempt, and a 503 the client can retry."""

from __future__ import annotations

import logging

from flask import current_app

from web.errors import queue_unavailable

log = logging.getLogger(__name__)

#: the web's sends give up fast (the API answers 503 rather than hang): one retry at once
SEND_RETRY_POLICY = {"max_retries": 0, "interval_start": 0, "interval_step": 0.1}


def enqueue(task: str, *args: object) -> None:
    """Send `task(*args)`; raise the 503 `queue_unavailable` ApiError when the broker fails."""
    celery = current_app.extensions["celery"]
    try:
        celery.send_task(task, args=list(args), retry=True, retry_policy=SEND_RETRY_POLICY)
    except Exception as exc:
        log.error("could not enqueue %s%s: %s", task, args[:1], exc)
        raise queue_unavailable() from exc
