"""The recognizer model of this worker process (never loaded in the web).

Which version serves is in the database (store.model_versions). `get_model()` looks it up
before each task, so a version activated with `digits model activate` is picked up between
tasks without a restart; it is loaded once per process. A version this process cannot load
(missing file, changed file, broken file) is logged once and the model it holds keeps serving.
"""

from __future__ import annotations

import logging
import threading

from celery import current_app as current_celery
from celery.signals import worker_process_init
from sqlalchemy.exc import SQLAlchemyError

import recognizer
from config import current_settings
from recognizer.model import sha256_file
from store.model_versions import (
    SETTING,
    ActiveModel,
    ModelSettings,
    active_model,
    from_setting,
)

log = logging.getLogger(__name__)

_lock = threading.Lock()
_held: tuple[tuple[str, str | None], recognizer.Model] | None = None  # (key, model)
_refused: set[tuple[str, str | None]] = set()  # keys already tried and refused here


def _load(choice: ActiveModel) -> recognizer.Model:
    if choice.sha256 is not None and sha256_file(choice.path) != choice.sha256:
        raise recognizer.ModelError(
            f"{choice.path} is not the file that was activated (its SHA-256 differs)"
        )
    model = recognizer.load_model(choice.path)
    log.info(
        "model loaded",
        extra={"model_version": model.version, "path": str(choice.path), "source": choice.source},
    )
    return model


def _choice() -> ActiveModel | None:
    settings = ModelSettings.of(current_settings())
    try:
        return active_model(current_settings().database_url, settings)
    except SQLAlchemyError:
        log.warning("could not read the active model version; keeping this one", exc_info=True)
        return None if _held else from_setting(settings)


def get_model() -> recognizer.Model:
    """The active version's model, loading it if this process does not hold it yet."""
    global _held
    choice = _choice()
    with _lock:
        if _held is not None and (choice is None or _held[0] == choice.key):
            return _held[1]
        assert choice is not None  # _choice() gives None only while a model is held (never unset)
        if choice.key in _refused and _held is not None:
            return _held[1]
        try:
            model = _load(choice)
        except Exception as exc:
            if choice.key not in _refused:
                log.error("cannot load model version %s: %s", choice.version or choice.path, exc)
                _refused.add(choice.key)
            if _held is not None:
                return _held[1]
            if choice.source == SETTING:
                raise
            choice = from_setting(ModelSettings.of(current_settings()))
            model = _load(choice)  # a fresh process falls back to the configured model
        _held = (choice.key, model)
        return model


def _warm(**_: object) -> None:
    """Load the model before the first task arrives, so the first drawing is not slow."""
    flask_app = current_celery.flask_app  # set by celery_init_app

    with flask_app.app_context():
        get_model()


# Sent in each prefork child and by the solo pool, i.e. exactly in the processes that run tasks;
# a prefork parent never loads a copy. (A threads pool loads lazily on its first task.)
worker_process_init.connect(_warm, weak=False)
