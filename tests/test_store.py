"""Schema and storage: migrations agree with the models; writes are idempotent."""

from __future__ import annotations

import uuid

import numpy as np

from recognizer import Digit, Reading
from store import DONE, Batch, Recognition, session_scope
from store.migrate import pending_diff
from store.queries import claim, store_failures, store_readings


def test_models_and_migrations_agree(database_url):
    assert pending_diff(database_url) == []


def test_results_stored_twice_count_once(database_url):
    with session_scope(database_url) as session:
        batch = Batch(total=2)
        session.add(batch)
        session.flush()
        items = [Recognition(batch=batch, seq=i, image=b"x", image_size=1) for i in range(2)]
        session.add_all(items)
    ids = [r.id for r in items]
    with session_scope(database_url) as session:
        assert {rid for rid, _ in claim(session, ids)} == set(ids)
    seven = Digit(7, 0.9, [0.01] * 9 + [0.91], (1, 2, 3, 4), normalized=np.zeros((28, 28)))
    for attempt in range(2):
        with session_scope(database_url) as session:
            finished = store_readings(session, {ids[0]: Reading([seven], 8, 9)}, model_version="m")
            finished += store_failures(session, {ids[1]: "not an image"}, "unreadable_image")
        assert finished == (ids if attempt == 0 else [])
    with session_scope(database_url) as session:
        stored = session.get(Batch, batch.id)
        assert (stored.done, stored.failed, stored.status) == (1, 1, DONE)
        first = session.get(Recognition, ids[0])
        assert (first.text, first.model_version) == ("7", "m")
        assert [d.box for d in first.digits] == [[1, 2, 3, 4]] and first.digits[0].normalized
        assert session.get(Recognition, ids[1]).error == "not an image"
        # a finished item is not claimed again
        assert claim(session, ids) == []


def test_ids_are_random_uuids(database_url):
    with session_scope(database_url) as session:
        recs = [Recognition(image=b"x", image_size=1) for _ in range(3)]
        session.add_all(recs)
    assert all(isinstance(r.id, uuid.UUID) and r.id.version == 4 for r in recs)
