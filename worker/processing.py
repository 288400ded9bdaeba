"""Recognize a list of stored items with one vectorized call, and store the outcomes."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence

from flask import current_app
from sqlalchemy import select

import recognizer
from store import Recognition, events, session_scope, stats
from store.queries import DigitOutcome, Outcome, claim, store_outcomes
from worker.model import get_model, needs_review

log = logging.getLogger(__name__)


def _outcome(rid: uuid.UUID, result: recognizer.Recognition, model: recognizer.Model) -> Outcome:
    version = model.version
    if result.error:
        return Outcome(rid, error=result.error, error_code=result.error_code, model_version=version)
    digits = [
        DigitOutcome(
            d.label,
            float(d.confidence),
            list(d.probabilities),
            d.box,
            d.normalized_png(),
            needs_review=needs_review(d, model),
        )
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
    outcomes = [_outcome(rid, res, model) for (rid, _), res in zip(present, results, strict=True)]
    outcomes += [
        Outcome(
            rid, error="the image was removed before it was processed", error_code="image_missing"
        )
        for rid in missing
    ]
    with session_scope(db_url) as session:
        finished = store_outcomes(session, outcomes)
        rows = _finished_rows(session, finished)
    try:
        events.publish_finished(current_app.config["REDIS_URL"], finished)
    except Exception:  # a missed wake-up only delays a waiting client until its next check
        log.warning("could not publish finished ids", exc_info=True)
    _record_metrics(rows, outcomes)
    ids = {"recognition_id": str(keys[0])} if len(keys) == 1 else {}
    log.info(
        "processed %d items",
        len(outcomes),
        extra={
            **ids,
            "items": len(outcomes),
            "finished": len(finished),
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return finished


def _finished_rows(session, finished: list[uuid.UUID]) -> list:
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


def _record_metrics(rows: list, outcomes: list[Outcome]) -> None:
    """End-to-end latency and finished counters in Redis, read by the web's /metrics."""
    if not rows:
        return
    digits = {o.recognition_id: len(o.digits) for o in outcomes}
    try:
        stats.record_finished(
            current_app.config["REDIS_URL"],
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
