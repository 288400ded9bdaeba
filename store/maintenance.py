"""Retention cleanup and stuck-work detection, in bounded chunks.

Every step selects at most `chunk` ids, changes exactly those rows, commits and goes on: no
table-wide lock and no long transaction, so the web and the workers keep writing meanwhile.
Every step is idempotent (a second run finds nothing left to do) and never touches an item
that is still queued or processing, nor a batch that still has such items.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Exists,
    Row,
    and_,
    delete,
    exists,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from store.db import rowcount, session_scope
from store.models import (
    DONE,
    FINAL_STATUSES,
    OPEN_STATUSES,
    PROCESSING,
    QUEUED,
    Batch,
    DigitResult,
    Recognition,
    utcnow,
)
from store.queries import finish_batch_upload, store_failures

# A guard against a loop that could not make progress (it never should: every chunk moves its
# rows out of the selection). 100k chunks of 500 is 50 million rows per run.
MAX_CHUNKS = 100_000


@dataclass
class CleanupReport:
    """What a cleanup run removed (or, with `dry_run`, would remove)."""

    dry_run: bool = False
    images_purged: int = 0  # recognitions whose uploaded image bytes were dropped
    image_bytes_purged: int = 0
    recognitions_deleted: int = 0  # single items and batch items together
    digits_deleted: int = 0
    batches_deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def removed_anything(self) -> bool:
        return any(v for k, v in self.as_dict().items() if k != "dry_run")

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"{verb}: images of {self.images_purged} recognitions "
            f"({self.image_bytes_purged} bytes), {self.recognitions_deleted} recognitions "
            f"with {self.digits_deleted} digits, {self.batches_deleted} batches"
        )


def _final_before(cutoff: datetime) -> ColumnElement[bool]:
    return and_(Recognition.status.in_(FINAL_STATUSES), Recognition.created_at < cutoff)


def _open_items_of_batch() -> Exists:
    return exists().where(Recognition.batch_id == Batch.id, Recognition.status.in_(OPEN_STATUSES))


# ---------------------------------------------------------------- images


def purge_images(
    url: str, cutoff: datetime, chunk: int, *, dry_run: bool = False
) -> tuple[int, int]:
    """Drop the image bytes (and the digits' normalized PNGs) of finished items created before
    `cutoff`. Returns (items, bytes)."""
    where = and_(_final_before(cutoff), Recognition.image_purged_at.is_(None))
    if dry_run:
        with session_scope(url) as session:
            row = session.execute(
                select(func.count(), func.coalesce(func.sum(Recognition.image_size), 0)).where(
                    where
                )
            ).one()
        return int(row[0]), int(row[1])
    items = size = 0
    for _ in range(MAX_CHUNKS):
        with session_scope(url) as session:
            rows = session.execute(
                select(Recognition.id, Recognition.image_size).where(where).limit(chunk)
            ).all()
            if not rows:
                break
            ids = [r.id for r in rows]
            now = utcnow()
            moved = rowcount(
                session.execute(
                    update(Recognition)
                    .where(Recognition.id.in_(ids), where)
                    .values(image=None, image_purged_at=now)
                    .execution_options(synchronize_session=False)
                )
            )
            session.execute(
                update(DigitResult)
                .where(DigitResult.recognition_id.in_(ids))
                .values(normalized=None)
                .execution_options(synchronize_session=False)
            )
        items += moved
        size += sum(r.image_size or 0 for r in rows)
        if len(rows) < chunk or moved == 0:
            break
    return items, size


# ---------------------------------------------------------------- results


def _delete_items(session: Session, ids: list[uuid.UUID]) -> tuple[int, int]:
    """Delete finished items `ids` and their digits (explicitly, not relying on FK cascades)."""
    digits = rowcount(
        session.execute(
            delete(DigitResult)
            .where(
                DigitResult.recognition_id.in_(
                    select(Recognition.id).where(
                        Recognition.id.in_(ids), Recognition.status.in_(FINAL_STATUSES)
                    )
                )
            )
            .execution_options(synchronize_session=False)
        )
    )
    items = rowcount(
        session.execute(
            delete(Recognition)
            .where(Recognition.id.in_(ids), Recognition.status.in_(FINAL_STATUSES))
            .execution_options(synchronize_session=False)
        )
    )
    return items, digits


def _count_digits(session: Session, where: ColumnElement[bool]) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(DigitResult)
            .join(Recognition, Recognition.id == DigitResult.recognition_id)
            .where(where)
        )
        or 0
    )


def _delete_in_chunks(url: str, where: ColumnElement[bool], chunk: int) -> tuple[int, int]:
    """Delete the recognitions matching `where`, `chunk` ids per short transaction.

    Returns (recognitions, digits) deleted."""
    recs = digits = 0
    for _ in range(MAX_CHUNKS):
        with session_scope(url) as session:
            ids = list(session.scalars(select(Recognition.id).where(where).limit(chunk)))
            if not ids:
                break
            n_items, n_digits = _delete_items(session, ids)
        recs, digits = recs + n_items, digits + n_digits
        if len(ids) < chunk or n_items == 0:
            break
    return recs, digits


def delete_results(
    url: str, cutoff: datetime, chunk: int, *, dry_run: bool = False
) -> tuple[int, int, int]:
    """Delete finished single recognitions and closed batches created before `cutoff`, with
    their digits. Returns (recognitions, digits, batches)."""
    singles = and_(_final_before(cutoff), Recognition.batch_id.is_(None))
    old_batches = and_(Batch.created_at < cutoff, ~_open_items_of_batch())
    if dry_run:
        with session_scope(url) as session:
            in_batches = Recognition.batch_id.in_(select(Batch.id).where(old_batches))
            recs = session.scalar(
                select(func.count()).select_from(Recognition).where(or_(singles, in_batches))
            )
            digits = _count_digits(session, or_(singles, in_batches))
            batches = session.scalar(select(func.count()).select_from(Batch).where(old_batches))
        return int(recs or 0), int(digits or 0), int(batches or 0)

    batches = 0
    recs, digits = _delete_in_chunks(url, singles, chunk)
    # closed batches: their items a chunk at a time, then the batch row itself
    for _ in range(MAX_CHUNKS):
        with session_scope(url) as session:
            batch_ids = list(session.scalars(select(Batch.id).where(old_batches).limit(chunk)))
        if not batch_ids:
            break
        for batch_id in batch_ids:
            of_batch = and_(
                Recognition.batch_id == batch_id, Recognition.status.in_(FINAL_STATUSES)
            )
            n_items, n_digits = _delete_in_chunks(url, of_batch, chunk)
            recs, digits = recs + n_items, digits + n_digits
            with session_scope(url) as session:
                # re-checked here: never delete a batch that (still) has open items
                batches += rowcount(
                    session.execute(
                        delete(Batch)
                        .where(Batch.id == batch_id, ~_open_items_of_batch())
                        .execution_options(synchronize_session=False)
                    )
                )
        if len(batch_ids) < chunk:
            break
    return recs, digits, batches


def run_cleanup(
    url: str,
    *,
    image_retention: int,
    result_retention: int,
    chunk: int = 500,
    dry_run: bool = False,
    now: datetime | None = None,
) -> CleanupReport:
    """The whole retention cleanup: old images first, then old results (seconds of retention)."""
    now = now or utcnow()
    chunk = max(1, int(chunk))
    report = CleanupReport(dry_run=dry_run)
    report.images_purged, report.image_bytes_purged = purge_images(
        url, now - timedelta(seconds=image_retention), chunk, dry_run=dry_run
    )
    report.recognitions_deleted, report.digits_deleted, report.batches_deleted = delete_results(
        url, now - timedelta(seconds=result_retention), chunk, dry_run=dry_run
    )
    return report


# ---------------------------------------------------------------- stuck work


@dataclass
class StuckReport:
    requeued: list[uuid.UUID] = field(default_factory=list)  # single items re-sent
    requeued_batch_items: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    failed: list[uuid.UUID] = field(default_factory=list)  # gave up after max attempts
    closed_uploads: list[uuid.UUID] = field(default_factory=list)  # batches whose upload died
    lost: int = 0  # items re-sent because no message carried them any more

    def counts(self) -> dict[str, int]:
        return {
            "closed_uploads": len(self.closed_uploads),
            "requeued": len(self.requeued)
            + sum(len(v) for v in self.requeued_batch_items.values()),
            "requeued_batches": len(self.requeued_batch_items),
            "failed": len(self.failed),
            "lost": self.lost,
        }


def close_abandoned_uploads(url: str, cutoff: datetime, now: datetime) -> list[uuid.UUID]:
    """Finish the uploads that died half-way (e.g. the web process was killed mid-request).

    While an upload runs, a batch's `total` counts one placeholder beyond its stored items, so
    workers cannot mark it done early, and the request renews the batch's `upload_until`. An
    upload whose `upload_until` has passed (its request is gone) gets the placeholder dropped
    here: the batch then finishes like any other with the items it has. A live upload, however
    slow, is never closed.
    """
    closed = []
    with session_scope(url) as session:
        candidates = session.scalars(
            select(Batch.id).where(
                Batch.status != DONE, Batch.upload_until.is_not(None), Batch.upload_until < now
            )
        ).all()
        for batch_id in candidates:
            if finish_batch_upload(session, batch_id, now=now):
                closed.append(batch_id)
    return closed


def processing_stale(cutoff: datetime, now: datetime) -> ColumnElement[bool]:
    """Processing items whose worker is gone: their lease expired (or, without a lease, they
    started before `cutoff`)."""
    return and_(
        Recognition.status == PROCESSING,
        or_(
            Recognition.leased_until < now,
            and_(Recognition.leased_until.is_(None), Recognition.started_at < cutoff),
        ),
    )


def queued_stale(cutoff: datetime, now: datetime) -> ColumnElement[bool]:
    """Items queued since before `cutoff` (a requeued item's `started_at` is when it was),
    but not in a batch whose upload is still running: it sends a partial chunk only once
    more items come or the upload ends, however long that takes."""
    uploading = select(Batch.id).where(Batch.upload_until.is_not(None), Batch.upload_until >= now)
    return and_(
        Recognition.status == QUEUED,
        func.coalesce(Recognition.started_at, Recognition.created_at) < cutoff,
        or_(Recognition.batch_id.is_(None), Recognition.batch_id.not_in(uploading)),
    )


def stale_condition(
    cutoff: datetime, now: datetime | None = None, *, include_queued: bool = True
) -> ColumnElement[bool]:
    """Items processing whose lease expired (their worker died), and, with `include_queued`,
    items queued since before `cutoff` that no message may carry (e.g. the web died between
    its commit and its send)."""
    now = now or utcnow()
    processing = processing_stale(cutoff, now)
    if not include_queued:
        return processing
    return or_(processing, queued_stale(cutoff, now))


def find_stale(
    url: str,
    cutoff: datetime,
    *,
    limit: int,
    queued_for: Callable[[bool], bool],
    now: datetime | None = None,
) -> Sequence[Row[uuid.UUID, uuid.UUID | None, str, int]]:
    """Up to `limit` stale items as rows (id, batch_id, status, attempts).

    `queued_for(single: bool) -> bool` says whether stale queued items of that kind should be
    considered at all (the caller checks that the broker queue they would wait in is empty, so
    a long but healthy backlog is never re-sent).
    """
    now = now or utcnow()
    conditions = [processing_stale(cutoff, now)]
    if queued_for(True):
        conditions.append(and_(queued_stale(cutoff, now), Recognition.batch_id.is_(None)))
    if queued_for(False):
        conditions.append(and_(queued_stale(cutoff, now), Recognition.batch_id.is_not(None)))
    with session_scope(url) as session:
        return session.execute(
            select(Recognition.id, Recognition.batch_id, Recognition.status, Recognition.attempts)
            .where(or_(*conditions))
            .limit(limit)
        ).all()


def requeue_stuck(
    url: str,
    *,
    timeout: int,
    max_attempts: int,
    send_single: Callable[[uuid.UUID], None],
    send_batch: Callable[[uuid.UUID, list[uuid.UUID]], None],
    queued_for: Callable[[bool], bool] = lambda single: True,
    chunk: int = 500,
    batch_chunk: int = 64,
    now: datetime | None = None,
) -> StuckReport:
    """Requeue stale items (back to queued, then re-sent) or, after `max_attempts` claims,
    fail them with the reason. The database is updated first and the message sent after the
    commit: if a send fails the item stays queued and is picked up again one timeout later."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=timeout)
    report = StuckReport(closed_uploads=close_abandoned_uploads(url, cutoff, now))
    seen: set[uuid.UUID] = set()
    for _ in range(MAX_CHUNKS):
        rows = [
            r
            for r in find_stale(url, cutoff, limit=chunk, queued_for=queued_for, now=now)
            if r.id not in seen
        ]
        if not rows:
            break
        seen.update(r.id for r in rows)
        give_up = [r for r in rows if r.attempts >= max_attempts]
        retry = [r for r in rows if r.attempts < max_attempts]
        with session_scope(url) as session:
            if give_up:
                errors = {
                    r.id: (
                        f"gave up after {r.attempts} attempts: no worker finished it within "
                        f"{timeout} s (the worker probably died)"
                    )
                    for r in give_up
                }
                report.failed += store_failures(session, errors, "stuck")
            moved: Sequence[Row[uuid.UUID, uuid.UUID | None]] = []
            if retry:
                moved = session.execute(
                    update(Recognition)
                    .where(
                        Recognition.id.in_([r.id for r in retry]),
                        stale_condition(cutoff, now),
                    )
                    .values(status=QUEUED, started_at=now, leased_until=None, leased_by=None)
                    .returning(Recognition.id, Recognition.batch_id)
                    .execution_options(synchronize_session=False)
                ).all()
        for row in moved:
            if row.batch_id is None:
                send_single(row.id)
                report.requeued.append(row.id)
            else:
                report.requeued_batch_items.setdefault(row.batch_id, []).append(row.id)
        if len(rows) < chunk:
            break
    for batch_id, ids in report.requeued_batch_items.items():
        for start in range(0, len(ids), max(1, batch_chunk)):
            send_batch(batch_id, ids[start : start + batch_chunk])
    return report


# ---------------------------------------------------------------- resuming at start-up


def resumable(
    url: str, *, now: datetime, worker: str | None, grace: float
) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
    """(id, batch_id) of the open items no worker can be doing, in upload order: queued since
    before `now - grace` (`queued_stale`), processing under an expired lease, or processing
    under the lease of `worker` itself (a worker that starts is not processing anything yet)."""
    cutoff = now - timedelta(seconds=grace)
    mine = (
        and_(Recognition.status == PROCESSING, Recognition.leased_by == worker)
        if worker
        else false()
    )
    with session_scope(url) as session:
        rows = session.execute(
            select(Recognition.id, Recognition.batch_id)
            .where(
                or_(
                    queued_stale(cutoff, now),
                    and_(Recognition.status == PROCESSING, Recognition.leased_until < now),
                    mine,
                )
            )
            .order_by(Recognition.batch_id, Recognition.seq)
        ).all()
    return [(r.id, r.batch_id) for r in rows]


def mark_requeued(url: str, ids: list[uuid.UUID], *, now: datetime, slice_: int = 500) -> None:
    """Open items `ids` go back to queued (their lease dropped) before they are sent again."""
    for start in range(0, len(ids), slice_):
        with session_scope(url) as session:
            session.execute(
                update(Recognition)
                .where(
                    Recognition.id.in_(ids[start : start + slice_]),
                    Recognition.status.in_(OPEN_STATUSES),
                )
                .values(status=QUEUED, started_at=now, leased_until=None, leased_by=None)
                .execution_options(synchronize_session=False)
            )
