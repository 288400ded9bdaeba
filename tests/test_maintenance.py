"""Retention cleanup and stuck-work requeue, on the real database and through the real worker."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from store import (
    DONE,
    FAILED,
    PROCESSING,
    QUEUED,
    Batch,
    DigitResult,
    Recognition,
    session_scope,
    utcnow,
)
from store.maintenance import run_cleanup
from tests.support import _wait_for, mnist_test_digits, png_bytes, start_beat, wait_until

HOUR, DAY = 3600, 86400


def add_item(
    url: str,
    *,
    status: str,
    age: float,
    batch_id: uuid.UUID | None = None,
    digits: int = 0,
    image: bytes = b"not really an image",
    attempts: int = 0,
    started_age: float | None = None,
) -> uuid.UUID:
    now = utcnow()
    rec = Recognition(
        status=status,
        image=image,
        image_size=len(image),
        image_mime="image/png",
        created_at=now - timedelta(seconds=age),
        batch_id=batch_id,
        attempts=attempts,
        started_at=None if started_age is None else now - timedelta(seconds=started_age),
        finished_at=now - timedelta(seconds=age - 1) if status in (DONE, FAILED) else None,
        text="1" * digits if status == DONE else None,
    )
    with session_scope(url) as session:
        session.add(rec)
        session.flush()
        session.add_all(
            DigitResult(
                recognition_id=rec.id,
                position=i,
                label=1,
                confidence=0.9,
                probabilities=[0.01] * 9 + [0.91],
                box_x=0,
                box_y=0,
                box_w=5,
                box_h=5,
                normalized=b"png",
            )
            for i in range(digits)
        )
    return rec.id


def add_batch(
    url: str, *, age: float, total: int, status: str = DONE, upload_left: float | None = None
) -> uuid.UUID:
    """`upload_left`: an upload in progress, whose hold on the batch ends in that many s."""
    now = utcnow()
    batch = Batch(
        total=total,
        status=status,
        created_at=now - timedelta(seconds=age),
        upload_until=None if upload_left is None else now + timedelta(seconds=upload_left),
    )
    with session_scope(url) as session:
        session.add(batch)
    return batch.id


def snapshot(url: str, ids: list[uuid.UUID]) -> dict:
    """id -> (has image, purged, digits with a normalized PNG, digits) for the rows still there."""
    with session_scope(url) as session:
        rows = session.execute(
            select(
                Recognition.id, Recognition.image.is_not(None), Recognition.image_purged_at
            ).where(Recognition.id.in_(ids))
        ).all()
        digits = dict(
            session.execute(
                select(DigitResult.recognition_id, func.count())
                .where(DigitResult.recognition_id.in_(ids))
                .group_by(DigitResult.recognition_id)
            ).all()
        )
        pngs = dict(
            session.execute(
                select(DigitResult.recognition_id, func.count())
                .where(DigitResult.recognition_id.in_(ids), DigitResult.normalized.is_not(None))
                .group_by(DigitResult.recognition_id)
            ).all()
        )
    return {
        r.id: (bool(r[1]), r.image_purged_at is not None, pngs.get(r.id, 0), digits.get(r.id, 0))
        for r in rows
    }


def batch_ids_present(url: str, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    with session_scope(url) as session:
        return set(session.scalars(select(Batch.id).where(Batch.id.in_(ids))))


@pytest.fixture
def aged_data(database_url):
    """Items of every age and status the cleanup has to tell apart."""
    url = database_url
    d = {
        "old_done": add_item(url, status=DONE, age=2 * DAY, digits=2),
        "old_failed": add_item(url, status=FAILED, age=2 * DAY),
        "old_queued": add_item(url, status=QUEUED, age=2 * DAY),
        "old_processing": add_item(url, status=PROCESSING, age=2 * DAY, started_age=2 * DAY),
        "fresh_done": add_item(url, status=DONE, age=HOUR, digits=1),
        "ancient_done": add_item(url, status=DONE, age=40 * DAY, digits=3),
        "ancient_queued": add_item(url, status=QUEUED, age=40 * DAY),
    }
    closed = add_batch(url, age=40 * DAY, total=2)
    d["closed_items"] = [
        add_item(url, status=DONE, age=40 * DAY, batch_id=closed, digits=1) for _ in range(2)
    ]
    open_batch = add_batch(url, age=40 * DAY, total=2, status=PROCESSING)
    d["open_items"] = [
        add_item(url, status=DONE, age=40 * DAY, batch_id=open_batch, digits=1),
        add_item(url, status=QUEUED, age=40 * DAY, batch_id=open_batch),
    ]
    d["closed_batch"], d["open_batch"] = closed, open_batch
    d["all"] = [v for k, v in d.items() if isinstance(v, uuid.UUID) and "batch" not in k]
    d["all"] += d["closed_items"] + d["open_items"]
    return d


def test_cleanup_dry_run_then_run_then_idempotent(database_url, aged_data):
    d, url = aged_data, database_url
    before = snapshot(url, d["all"])
    settings = {"image_retention": DAY, "result_retention": 30 * DAY, "chunk": 2}

    dry = run_cleanup(url, dry_run=True, **settings)
    assert snapshot(url, d["all"]) == before  # the dry run removes nothing
    assert batch_ids_present(url, [d["closed_batch"], d["open_batch"]]) == {
        d["closed_batch"],
        d["open_batch"],
    }
    # old_done, old_failed, ancient_done, the 2 closed and the open batch's done item
    assert dry.images_purged == 6
    # ancient_done and the closed batch's 2 items, with their 3 + 1 + 1 digits, and that batch
    assert (dry.recognitions_deleted, dry.digits_deleted, dry.batches_deleted) == (3, 5, 1)

    report = run_cleanup(url, **settings)  # chunks of 2: several rounds
    # the dry run predicted exactly what the run removed
    assert {k: v for k, v in report.as_dict().items() if k != "dry_run"} == {
        k: v for k, v in dry.as_dict().items() if k != "dry_run"
    }
    after = snapshot(url, d["all"])
    # finished items past IMAGE_RETENTION lose their image and their digits' PNGs, keep results
    assert after[d["old_done"]] == (False, True, 0, 2)
    assert after[d["old_failed"]] == (False, True, 0, 0)
    # open work keeps its image, however old
    assert after[d["old_queued"]] == (True, False, 0, 0)
    assert after[d["old_processing"]] == (True, False, 0, 0)
    assert after[d["ancient_queued"]] == (True, False, 0, 0)
    # recent results are untouched
    assert after[d["fresh_done"]] == (True, False, 1, 1)
    # results past RESULT_RETENTION are deleted with their digits
    assert d["ancient_done"] not in after
    assert not set(d["closed_items"]) & set(after)
    with session_scope(url) as session:
        gone = [d["ancient_done"], *d["closed_items"]]
        left = select(func.count()).where(DigitResult.recognition_id.in_(gone))
        assert session.scalar(left) == 0
    # a batch with an open item is kept with all its items; a closed one is deleted
    assert batch_ids_present(url, [d["closed_batch"], d["open_batch"]]) == {d["open_batch"]}
    done_item, queued_item = d["open_items"]
    assert after[done_item] == (False, True, 0, 1)
    assert after[queued_item] == (True, False, 0, 0)

    again = run_cleanup(url, **settings)
    assert not again.removed_anything, again
    assert snapshot(url, d["all"]) == after


def test_cleanup_command(database_url):
    from cli.cleanup import cleanup

    old = add_item(database_url, status=DONE, age=3 * DAY, digits=1)
    env = {"DATABASE_URL": database_url, "APP_ENV": "development"}
    runner = CliRunner()
    dry = runner.invoke(cleanup, ["--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "would remove images of" in dry.output
    assert snapshot(database_url, [old])[old] == (True, False, 1, 1)

    real = runner.invoke(cleanup, [], env=env)
    assert real.exit_code == 0, real.output
    assert "removed images of" in real.output and "would" not in real.output
    assert snapshot(database_url, [old])[old] == (False, True, 0, 1)

    bad = runner.invoke(cleanup, ["--image-retention", "soon"], env=env)
    assert bad.exit_code != 0


# ---------------------------------------------------------------- stuck work


def wait_status(url: str, ids: list[uuid.UUID], statuses=(DONE, FAILED), timeout=30.0) -> dict:
    def finished() -> dict | None:
        with session_scope(url) as session:
            rows = {
                r.id: r
                for r in session.execute(
                    select(
                        Recognition.id,
                        Recognition.status,
                        Recognition.attempts,
                        Recognition.text,
                        Recognition.error,
                        Recognition.error_code,
                    ).where(Recognition.id.in_(ids))
                )
            }
        last[:] = [rows]
        done = all(r.status in statuses for r in rows.values()) and len(rows) == len(ids)
        return rows if done else None

    last: list = [None]
    return wait_until(finished, timeout, lambda: f"not finished: {last[0]}")


@pytest.fixture(scope="module")
def digit_png():
    images, labels = mnist_test_digits(1, offset=3)
    return png_bytes(images[0]), str(labels[0])


@pytest.mark.usefixtures("worker")
def test_stuck_items_are_requeued_and_finish(app, database_url, digit_png):
    from worker.maintenance import requeue_stuck_now

    png, label = digit_png
    url = database_url
    stuck_single = add_item(
        url, status=PROCESSING, age=HOUR, image=png, attempts=1, started_age=HOUR
    )
    never_sent = add_item(url, status=QUEUED, age=HOUR, image=png)  # web died before its send
    batch = add_batch(url, age=HOUR, total=2, status=PROCESSING)
    stuck_batch = [
        add_item(url, status=PROCESSING, age=HOUR, image=png, attempts=1, started_age=HOUR,
                 batch_id=batch)
        for _ in range(2)
    ]  # fmt: skip
    busy = add_item(url, status=PROCESSING, age=HOUR, image=png, attempts=1, started_age=30)

    report = requeue_stuck_now(app)
    # not `busy`: processing for 30 s only, its worker is alive
    assert sorted(report.requeued) == sorted([stuck_single, never_sent])
    assert {b: sorted(ids) for b, ids in report.requeued_batch_items.items()} == {
        batch: sorted(stuck_batch)
    }

    rows = wait_status(url, [stuck_single, never_sent, *stuck_batch])
    assert all(r.status == DONE and r.text == label for r in rows.values()), rows
    assert rows[stuck_single].attempts == 2 and rows[never_sent].attempts == 1
    with session_scope(url) as session:
        stored = session.get(Batch, batch)
        assert (stored.done, stored.failed, stored.status) == (2, 0, DONE)
        assert session.get(Recognition, busy).status == PROCESSING

    # requeued items are not stale any more: a second check does nothing to them
    again = requeue_stuck_now(app)
    assert (again.requeued, again.requeued_batch_items) == ([], {})


@pytest.mark.usefixtures("worker")
def test_stuck_item_fails_after_max_attempts(app, database_url, digit_png):
    from worker.maintenance import requeue_stuck_now

    url = database_url
    attempts = app.extensions["settings"].max_attempts
    batch = add_batch(url, age=HOUR, total=1, status=PROCESSING)
    item = add_item(
        url, status=PROCESSING, age=HOUR, image=digit_png[0], attempts=attempts,
        started_age=HOUR, batch_id=batch,
    )  # fmt: skip

    report = requeue_stuck_now(app)
    assert report.failed == [item] and report.requeued_batch_items == {}
    row = wait_status(url, [item])[item]
    assert row.status == FAILED and row.error_code == "stuck"
    assert f"gave up after {attempts} attempts" in row.error
    with session_scope(url) as session:
        stored = session.get(Batch, batch)
        assert (stored.done, stored.failed, stored.status) == (0, 1, DONE)


@pytest.mark.usefixtures("worker")
def test_beat_runs_cleanup_and_requeue_through_the_worker(
    service_environment, database_url, digit_png, tmp_path
):
    """`celery beat` (as `make run` and compose start it) sends both tasks; the worker runs
    them: an old finished image is purged and a stuck item is requeued and recognized."""
    url = database_url
    old = add_item(url, status=DONE, age=2 * DAY, digits=1)
    stuck = add_item(
        url, status=PROCESSING, age=HOUR, image=digit_png[0], attempts=1, started_age=HOUR
    )
    env = {**service_environment, "CLEANUP_INTERVAL": "1s", "STUCK_CHECK_INTERVAL": "1s"}
    beat = start_beat(env, tmp_path)
    try:
        _wait_for(lambda: snapshot(url, [old])[old][1], beat, 30, "the old image purged")
        row = wait_status(url, [stuck])[stuck]
        assert row.status == DONE and row.text == digit_png[1]
    finally:
        beat.stop()
    assert "maintenance.cleanup" in beat.log() and "maintenance.requeue_stuck" in beat.log()


def test_an_upload_that_died_half_way_is_finished(app, database_url):
    """A web process killed mid-upload leaves its batch holding the upload placeholder; once
    its hold expired the stuck check drops it, so the batch finishes with the items it has. A
    live upload (an hour long, its hold renewed) and a fresh batch are left alone."""
    from store.queries import UPLOAD_PLACEHOLDER
    from worker.maintenance import requeue_stuck_now

    url = database_url
    dead = add_batch(url, age=HOUR, total=2 + UPLOAD_PLACEHOLDER, status=PROCESSING, upload_left=-1)
    add_item(url, status=DONE, age=HOUR, batch_id=dead, digits=1)
    add_item(url, status=FAILED, age=HOUR, batch_id=dead)
    with session_scope(url) as session:
        session.get(Batch, dead).done, session.get(Batch, dead).failed = 1, 1
    live = add_batch(url, age=HOUR, total=1 + UPLOAD_PLACEHOLDER, status=QUEUED, upload_left=30)
    add_item(url, status=DONE, age=HOUR, batch_id=live)
    fresh = add_batch(url, age=1, total=UPLOAD_PLACEHOLDER, status=QUEUED, upload_left=60)

    report = requeue_stuck_now(app)

    assert report.closed_uploads == [dead]  # not the live upload nor the fresh batch
    with session_scope(url) as session:
        finished = session.get(Batch, dead)
        assert (finished.status, finished.total, finished.done, finished.failed) == (DONE, 2, 1, 1)
        assert session.get(Batch, live).status == QUEUED
        assert session.get(Batch, fresh).status == QUEUED
    assert requeue_stuck_now(app).closed_uploads == []  # idempotent
