"""Recognize a list of stored items with one vectorized call, and store the outcomes."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence

from flask import current_app

import recognizer
from store import events, session_scope
from store.queries import DigitOutcome, Outcome, claim, store_outcomes
from worker.model import get_model

log = logging.getLogger(__name__)


def _outcome(rid: uuid.UUID, result: recognizer.Recognition, version: str) -> Outcome:
    if result.error:
        return Outcome(rid, error=result.error, error_code=result.error_code, model_version=version)
    digits = [
        DigitOutcome(d.label, float(d.confidence), list(d.probabilities), d.box, d.normalized_png())
        for d in result.digits
    ]
    return Outcome(rid, digits=digits, model_version=version)


def process(ids: Sequence[object]) -> list[uuid.UUID]:
    """Claim, recognize and store `ids`; return the ids finished by this call."""
    started = time.perf_counter()
    db_url = current_app.config["DATABASE_URL"]
    keys = [uuid.UUID(str(i)) for i in ids]
    with session_scope(db_url) as session:
        claimed = claim(session, keys)
    if not claimed:
        return []
    model = get_model()
    missing = [rid for rid, data in claimed if data is None]
    present = [(rid, data) for rid, data in claimed if data is not None]
    results = model.recognize_many(
        [data for _, data in present], max_pixels=current_app.config["MAX_IMAGE_PIXELS"]
    )
    outcomes = [
        _outcome(rid, res, model.version) for (rid, _), res in zip(present, results, strict=True)
    ]
    outcomes += [
        Outcome(
            rid, error="the image was removed before it was processed", error_code="image_missing"
        )
        for rid in missing
    ]
    with session_scope(db_url) as session:
        finished = store_outcomes(session, outcomes)
    try:
        events.publish_finished(current_app.config["REDIS_URL"], finished)
    except Exception:  # a missed wake-up only delays a waiting client until its next check
        log.warning("could not publish finished ids", exc_info=True)
    log.info(
        "processed %d items",
        len(outcomes),
        extra={
            "items": len(outcomes),
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return finished
