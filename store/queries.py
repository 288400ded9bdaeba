"""The queries the web and the workers share. Writes are idempotent: a task that runs twice
stores one result, because only the transition from an open status to a final one counts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Row, Table, bindparam, delete, func, insert, select, true, update
from sqlalchemy.orm import Session, selectinload, with_expression
from sqlalchemy.orm.interfaces import LoaderOption

from store.db import rowcount
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

if TYPE_CHECKING:  # the store takes the recognizer's readings as they are, without importing it
    from recognizer import Digit, Reading


def as_uuid(value: object) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError):
        return None


def with_review_count() -> LoaderOption:
    """A loader option for Batch queries: fills `Batch.needs_review`, how many of the batch's
    items have a digit to review (index ix_recognitions_batch_review)."""
    count = (
        select(func.count())
        .where(Recognition.batch_id == Batch.id, Recognition.needs_review == true())
        .correlate(Batch)
        .scalar_subquery()
    )
    return with_expression(Batch.needs_review, count)


def get_recognition(
    session: Session, rid: object, *, with_digits: bool = True
) -> Recognition | None:
    key = as_uuid(rid)
    if key is None:
        return None
    options = (
        [selectinload(Recognition.digits), selectinload(Recognition.corrections)]
        if with_digits
        else []
    )
    return session.get(Recognition, key, options=options)


def claim(
    session: Session,
    ids: Sequence[uuid.UUID],
    *,
    max_attempts: int | None = None,
    lease_seconds: float | None = None,
    worker: str | None = None,
) -> list[tuple[uuid.UUID, bytes | None]]:
    """Mark the still-open items of `ids` as processing and return their image bytes.

    Each claim counts an attempt. An item claimed alone that was already tried `max_attempts`
    times is not processed again: it ends `failed` (`too_many_attempts`). (Inside a bigger
    chunk it is not refused: a chunk that keeps failing is retried by halves, see
    worker.tasks, so that a poison item ends up alone and fails there, and its neighbours
    finish.) With `lease_seconds`, the claim is a lease held by `worker` until then.

    A batch counts as started when its first item is claimed, so its rate excludes queue time.
    """
    now = utcnow()
    if max_attempts is not None and len(ids) == 1:
        refuse_exhausted(session, ids, max_attempts)
    values: dict[str, Any] = {
        "status": PROCESSING,
        "started_at": now,
        "attempts": Recognition.attempts + 1,
    }
    if lease_seconds is not None:
        values.update(leased_until=now + timedelta(seconds=lease_seconds), leased_by=worker)
    rows = session.execute(
        update(Recognition)
        .where(Recognition.id.in_(ids), Recognition.status.in_(OPEN_STATUSES))
        .values(**values)
        .returning(Recognition.id, Recognition.image, Recognition.batch_id)
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        return []
    batch_ids = {r.batch_id for r in rows if r.batch_id is not None}
    if batch_ids:
        session.execute(
            update(Batch)
            .where(Batch.id.in_(batch_ids), Batch.started_at.is_(None))
            .values(started_at=now, status=PROCESSING)
        )
    return [(r.id, r.image) for r in rows]


def refuse_exhausted(
    session: Session, ids: Sequence[uuid.UUID], max_attempts: int
) -> list[uuid.UUID]:
    """Fail the open items of `ids` already tried `max_attempts` times; return their ids."""
    rows = session.execute(
        select(Recognition.id, Recognition.attempts).where(
            Recognition.id.in_(ids),
            Recognition.status.in_(OPEN_STATUSES),
            Recognition.attempts >= max_attempts,
        )
    ).all()
    errors = {
        r.id: (
            f"gave up after {r.attempts} attempts: processing this image never finished "
            "(its worker process died or ran out of time each time)"
        )
        for r in rows
    }
    return store_failures(session, errors, "too_many_attempts") if errors else []


def open_attempts(session: Session, ids: Sequence[uuid.UUID]) -> int:
    """The most attempts any still-open item of `ids` has had (0 if none is open)."""
    value = session.scalar(
        select(func.max(Recognition.attempts)).where(
            Recognition.id.in_(ids), Recognition.status.in_(OPEN_STATUSES)
        )
    )
    return int(value or 0)


def renew_lease(
    session: Session, ids: Sequence[uuid.UUID], *, until: datetime, worker: str | None
) -> int:
    """Extend the lease `worker` holds on the still-processing items of `ids`."""
    return rowcount(
        session.execute(
            update(Recognition)
            .where(
                Recognition.id.in_(ids),
                Recognition.status == PROCESSING,
                Recognition.leased_by == worker,
            )
            .values(leased_until=until)
            .execution_options(synchronize_session=False)
        )
    )


def store_readings(
    session: Session, readings: Mapping[uuid.UUID, Reading], *, model_version: str | None
) -> list[uuid.UUID]:
    """Store what the recognizer read for each item (its digits, or why it failed); return the
    ids this call moved to a final status. The digits' PNGs are encoded here, before the
    transaction writes anything."""
    finals = {
        rid: _final_values(
            error=reading.error,
            error_code=reading.error_code,
            digits=[] if reading.error else reading.digits,
            model_version=model_version,
        )
        for rid, reading in readings.items()
    }
    return _store_finals(session, finals)


def store_failures(
    session: Session, errors: Mapping[uuid.UUID, str], error_code: str
) -> list[uuid.UUID]:
    """Fail items with no reading of the recognizer (`errors`: id -> message); return the ids
    this call moved to a final status."""
    finals = {
        rid: _final_values(error=error, error_code=error_code, digits=[], model_version=None)
        for rid, error in errors.items()
    }
    return _store_finals(session, finals)


def _final_values(
    *, error: str | None, error_code: str | None, digits: Sequence[Digit], model_version: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The final values of a `recognitions` row and its `digits` rows."""
    row = {
        "status": FAILED if error else DONE,
        "error": error,
        "error_code": error_code,
        "text": None if error else "".join(str(d.label) for d in digits),
        "confidence": min((float(d.confidence) for d in digits), default=None),
        "model_version": model_version,
        "needs_review": any(d.needs_review for d in digits),
    }
    digit_rows = [
        {
            "position": i,
            "label": d.label,
            "confidence": float(d.confidence),
            "probabilities": [round(float(p), 6) for p in d.probabilities],
            "box_x": int(d.box[0]),
            "box_y": int(d.box[1]),
            "box_w": int(d.box[2]),
            "box_h": int(d.box[3]),
            "normalized": d.normalized_png(),
            "needs_review": bool(d.needs_review),
        }
        for i, d in enumerate(digits)
    ]
    return row, digit_rows


#: id -> (the recognitions row's final values, its digits rows)
Finals = Mapping[uuid.UUID, tuple[dict[str, Any], list[dict[str, Any]]]]


def _store_finals(session: Session, finals: Finals) -> list[uuid.UUID]:
    """Store final results; return the ids this call moved to a final status.

    Items already final (a redelivered task) are left alone, and batch counters only move
    for the transitions made here, so counts stay right when a task runs twice.

    Set-based, so a chunk costs a few statements rather than a few per item: one UPDATE picks
    the still-open items (RETURNING which), one executemany UPDATE stores their values, then one
    DELETE and one multi-row INSERT for their digits. This keeps the write transaction short, which
    matters on SQLite, where it holds the database's only write lock.
    """
    now = utcnow()
    finished: list[uuid.UUID] = []
    per_batch: dict[uuid.UUID, list[int]] = {}
    ids = list(finals)
    for start in range(0, len(ids), STORE_SLICE):
        part = ids[start : start + STORE_SLICE]
        moved = _move_to_final(session, {rid: finals[rid][0] for rid in part}, now)
        if not moved:
            continue
        done = [rid for rid in part if rid in moved]
        finished += done
        session.execute(delete(DigitResult).where(DigitResult.recognition_id.in_(done)))
        digits = [{"recognition_id": rid, **d} for rid in done for d in finals[rid][1]]
        if digits:
            session.execute(insert(DigitResult), digits)
        for rid in done:
            batch_id = moved[rid]
            if batch_id is not None:
                counts = per_batch.setdefault(batch_id, [0, 0])
                counts[0 if finals[rid][0]["status"] == DONE else 1] += 1
    for batch_id, (done_n, failed_n) in per_batch.items():
        bump_batch(session, batch_id, done=done_n, failed=failed_n, now=now)
    return finished


STORE_SLICE = 200  # outcomes per UPDATE (bound parameters stay far below backend limits)


def _move_to_final(
    session: Session, rows: Mapping[uuid.UUID, dict[str, Any]], now: datetime
) -> dict[uuid.UUID, uuid.UUID | None]:
    """Move the still-open items among `rows` (id -> final values) to those values; return
    {id: batch_id} of those moved here.

    The first UPDATE is a no-op write that picks (and, until commit, locks) exactly the rows
    still open — a concurrent run of the same task blocks on them, then finds them final —
    so the per-item values can follow as one executemany with a cached statement.
    """
    picked = session.execute(
        update(Recognition)
        .where(Recognition.id.in_(list(rows)), Recognition.status.in_(OPEN_STATUSES))
        .values(status=Recognition.status)
        .returning(Recognition.id, Recognition.batch_id)
        .execution_options(synchronize_session=False)
    ).all()
    moved = {row.id: row.batch_id for row in picked}
    if not moved:
        return moved
    table = cast(
        Table, Recognition.__table__
    )  # declared as FromClause; a mapped class's is a Table
    session.connection().execute(
        table.update()
        .where(table.c.id == bindparam("rid"))
        .values(
            status=bindparam("status"),
            error=bindparam("error"),
            error_code=bindparam("error_code"),
            text=bindparam("text"),
            confidence=bindparam("confidence"),
            model_version=bindparam("model_version"),
            needs_review=bindparam("needs_review"),
            finished_at=bindparam("finished_at"),
        ),
        [
            {"rid": rid, **values, "finished_at": now}
            for rid, values in rows.items()
            if rid in moved
        ],
    )
    for obj in list(session.identity_map.values()):  # what this session holds is now stale
        if isinstance(obj, Recognition) and obj.id in moved:
            session.expire(obj)
    return moved


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


# ---------------------------------------------------------------- batches

# While a batch is still being uploaded its `total` is one more than the items stored so far,
# so the workers' "done + failed >= total" check cannot finish it before the upload ends.
UPLOAD_PLACEHOLDER = 1


def add_batch_items(
    session: Session, batch_id: uuid.UUID, rows: Sequence[dict[str, Any]], *, failed: int
) -> None:
    """Insert `rows` (Recognition column values) and count them into the batch."""
    if not rows:
        return
    session.execute(insert(Recognition), list(rows))
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(total=Batch.total + len(rows), failed=Batch.failed + failed)
    )


def finish_batch_upload(session: Session, batch_id: uuid.UUID, *, now: datetime) -> bool:
    """Drop the upload placeholder, once: a batch whose items are all final already is done.
    Returns False when the placeholder was dropped already (the batch's total never drifts)."""
    moved = rowcount(
        session.execute(
            update(Batch)
            .where(Batch.id == batch_id, Batch.upload_until.is_not(None))
            .values(total=Batch.total - UPLOAD_PLACEHOLDER, upload_until=None)
        )
    )
    if not moved:
        return False
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.done + Batch.failed >= Batch.total)
        .values(status=DONE, started_at=func.coalesce(Batch.started_at, now), finished_at=now)
    )
    return True


def renew_upload(session: Session, batch_id: uuid.UUID, *, until: datetime) -> None:
    """The upload of `batch_id` is alive: the stuck check leaves it alone until `until`."""
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.upload_until.is_not(None))
        .values(upload_until=until)
    )


def batch_items_page(
    session: Session,
    batch_id: uuid.UUID,
    *,
    status: str | None,
    page: int,
    per_page: int,
    needs_review: bool | None = None,
) -> tuple[list[Recognition], int]:
    """One page of a batch's items in upload order, and how many match the filters."""
    where = [Recognition.batch_id == batch_id]
    if status:
        where.append(Recognition.status == status)
    if needs_review is not None:
        where.append(Recognition.needs_review == needs_review)
    total = session.scalar(select(func.count()).select_from(Recognition).where(*where)) or 0
    items = session.scalars(
        select(Recognition)
        .options(selectinload(Recognition.digits), selectinload(Recognition.corrections))
        .where(*where)
        .order_by(Recognition.seq)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(items), total


# id, needs_review, seq, filename, status, text, confidence, error
ExportRow = Row[uuid.UUID, bool, int | None, str | None, str, str | None, float | None, str | None]


def batch_rows_after(
    session: Session,
    batch_id: uuid.UUID,
    after_seq: int,
    limit: int,
    status: str | None = None,
    needs_review: bool | None = None,
) -> Sequence[ExportRow]:
    """Keyset pagination for exports: the next `limit` items (summary columns) after a seq."""
    where = [Recognition.batch_id == batch_id, Recognition.seq > after_seq]
    if status:
        where.append(Recognition.status == status)
    if needs_review is not None:
        where.append(Recognition.needs_review == needs_review)
    return session.execute(
        select(
            Recognition.id,
            Recognition.needs_review,
            Recognition.seq,
            Recognition.filename,
            Recognition.status,
            Recognition.text,
            Recognition.confidence,
            Recognition.error,
        )
        .where(*where)
        .order_by(Recognition.seq)
        .limit(limit)
    ).all()
