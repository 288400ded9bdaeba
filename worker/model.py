"""The recognizer model, loaded once per worker process (never per task, never in the web)."""

from __future__ import annotations

import functools
import logging

from celery.signals import worker_process_init
from flask import current_app

import recognizer

log = logging.getLogger(__name__)


@functools.cache
def _load(path: str | None) -> recognizer.Model:
    model = recognizer.load_model(path)
    log.info("model loaded", extra={"model_version": model.version, "path": path})
    return model


def get_model() -> recognizer.Model:
    return _load(current_app.config.get("MODEL_PATH"))


def _warm(**_: object) -> None:
    """Load the model before the first task arrives, so the first drawing is not slow."""
    from worker.entry import flask_app  # the app this worker runs; imported only in workers

    with flask_app.app_context():
        get_model()


# Sent in each prefork child and by the solo pool, i.e. exactly in the processes that run tasks;
# a prefork parent never loads a copy. (A threads pool loads lazily on its first task.)
worker_process_init.connect(_warm, weak=False)
