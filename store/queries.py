"""The queries the web and the workers share. Writes are idempotent: a task that runs twice
stores one result, because only the transition from an open status to a final one counts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from store.models import (
    DONE,
    FAILED,
    OPEN_STATUSES,
    PROCESSING,
    Batch,
    DigitResult,
    Recognition,
    utcnow,
)


@dataclass
class DigitOutcome:
    label: int
    confidence: float
    probabilities: list[float]
    box: Sequence[int]
    normalized_png: bytes | None = None


@dataclass
class Outcome:
    """What a worker found for one recognition (or why it failed)."""

    recognition_id: uuid.UUID
    digits: list[DigitOutcome] = field(default_factory=list)
    error: str | None = None
    error_code: str | None = None
    model_version: str | None = None

    @property
    def status(self) -> str:
        return FAILED if self.error else DONE


def as_uuid(value: object) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError):
        return None


def get_recognition(
    session: Session, rid: object, *, with_digits: bool = True
) -> Recognition | None:
    key = as_uuid(rid)
    if key is None:
        return None
    options = [selectinload(Recognition.digits)] if with_digits else []
    return session.get(Recognition, key, options=options)


def claim(session: Session, ids: Sequence[uuid.UUID]) -> list[tuple[uuid.UUID, bytes | None]]:
    """Mark the still-open items of `ids` as processing and return their image bytes."""
    rows = session.execute(
        select(Recognition.id, Recognition.image).where(
            Recognition.id.in_(ids), Recognition.status.in_(OPEN_STATUSES)
        )
    ).all()
    if rows:
        session.execute(
            update(Recognition)
            .where(Recognition.id.in_([r.id for r in rows]), Recognition.status.in_(OPEN_STATUSES))
            .values(status=PROCESSING, started_at=utcnow(), attempts=Recognition.attempts + 1)
        )
    return [(r.id, r.image) for r in rows]


def store_outcomes(session: Session, outcomes: Sequence[Outcome]) -> list[uuid.UUID]:
    """Store final results; return the ids this call moved to a final status.

    Items already final (a redelivered task) are left alone, and batch counters only move
    for the transitions made here, so counts stay right when a task runs twice.
    """
    now = utcnow()
    finished: list[uuid.UUID] = []
    per_batch: dict[uuid.UUID, list[int]] = {}
    for outcome in outcomes:
        confidence = min((d.confidence for d in outcome.digits), default=None)
        moved = session.execute(
            update(Recognition)
            .where(Recognition.id == outcome.recognition_id, Recognition.status.in_(OPEN_STATUSES))
            .values(
                status=outcome.status,
                error=outcome.error,
                error_code=outcome.error_code,
                text="".join(str(d.label) for d in outcome.digits) if not outcome.error else None,
                confidence=confidence,
                model_version=outcome.model_version,
                finished_at=now,
            )
            .returning(Recognition.batch_id)
        ).first()
        if moved is None:
            continue
        finished.append(outcome.recognition_id)
        session.execute(
            delete(DigitResult).where(DigitResult.recognition_id == outcome.recognition_id)
        )
        session.add_all(
            DigitResult(
                recognition_id=outcome.recognition_id,
                position=i,
                label=d.label,
                confidence=d.confidence,
                probabilities=[round(float(p), 6) for p in d.probabilities],
                box_x=int(d.box[0]),
                box_y=int(d.box[1]),
                box_w=int(d.box[2]),
                box_h=int(d.box[3]),
                normalized=d.normalized_png,
            )
            for i, d in enumerate(outcome.digits)
        )
        if moved.batch_id is not None:
            counts = per_batch.setdefault(moved.batch_id, [0, 0])
            counts[0 if outcome.status == DONE else 1] += 1
    for batch_id, (done, failed) in per_batch.items():
        bump_batch(session, batch_id, done=done, failed=failed, now=now)
    return finished


def bump_batch(
    session: Session, batch_id: uuid.UUID, *, done: int, failed: int, now: datetime
) -> None:
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(
            done=Batch.done + done,
            failed=Batch.failed + failed,
            status=PROCESSING,
            started_at=func.coalesce(Batch.started_at, now),
        )
    )
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.done + Batch.failed >= Batch.total)
        .values(status=DONE, finished_at=now)
    )
