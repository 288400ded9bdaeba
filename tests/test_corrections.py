"""Corrections, the review flag and the review queue, through the API with a real worker."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from recognizer.model import DEFAULT_REVIEW_THRESHOLD
from store import Batch, Correction, DigitResult, Recognition, session_scope, utcnow
from store.keys import create_key
from store.maintenance import run_cleanup
from tests.support import app_like, blended_digits, mnist_test_digits, png_bytes
from tests.test_api import submit_json, wait_done
from tests.test_batches import error_of, post_batch, wait_batch

HOUR, DAY = 3600, 86400


def strip_of(images: np.ndarray) -> bytes:
    """Digits side by side in one image."""
    return png_bytes(np.hstack([np.pad(img, ((4, 4), (6, 6))) for img in images]))


def label_url(rid: str, n: int) -> str:
    return f"/api/v1/recognitions/{rid}/digits/{n}/label"


def correction_row(url: str, rid: str, position: int) -> Correction | None:
    with session_scope(url) as session:
        row = session.scalars(
            select(Correction).where(
                Correction.recognition_id == uuid.UUID(rid), Correction.position == position
            )
        ).first()
        if row is not None:
            _ = row.image  # load the deferred copy while the session is open
        return row


def threshold_of(model_path: str) -> float:
    meta = json.loads(Path(model_path).with_suffix(".json").read_text())
    return float(meta.get("review_threshold", DEFAULT_REVIEW_THRESHOLD))


# ---------------------------------------------------------------- correcting


@pytest.mark.usefixtures("worker")
def test_correct_a_digit_through_the_api(client, database_url):
    images, labels = mnist_test_digits(2, offset=40)
    done = wait_done(client, submit_json(client, strip_of(images)).headers["Location"])
    rid, text = done["id"], done["text"]
    assert text == "".join(map(str, labels)) and done["corrected_text"] is None
    predicted = done["digits"][1]["label"]
    wrong = (predicted + 3) % 10
    assert done["digits"][1]["label_url"] == label_url(rid, 1)

    response = client.put(label_url(rid, 1), json={"label": wrong})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    # stored beside the prediction, never over it
    assert body["id"] == rid and body["text"] == text
    assert body["digits"][1]["label"] == predicted
    correction = body["digits"][1]["correction"]
    assert correction["label"] == wrong and correction["predicted"] == predicted
    assert correction["corrected_by"] is None and correction["corrected_at"].endswith("Z")
    assert body["digits"][0]["correction"] is None
    assert body["corrected_text"] == text[0] + str(wrong)
    assert client.get(done["url"]).get_json() == body

    # the row keeps the 28x28 the model saw, what it said, and when
    row = correction_row(database_url, rid, 1)
    assert (row.label, row.predicted, row.model_version) == (wrong, predicted, done["model"])
    pixels = cv2.imdecode(np.frombuffer(row.image, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert pixels.shape == (28, 28)

    # correcting again replaces the label; confirming is a correction with the same label
    again = client.put(label_url(rid, 1), json={"label": predicted}).get_json()
    assert again["digits"][1]["correction"]["label"] == predicted
    assert again["corrected_text"] == text
    with session_scope(database_url) as session:
        rows = session.scalars(
            select(Correction).where(Correction.recognition_id == uuid.UUID(rid))
        ).all()
        assert [(r.position, r.label) for r in rows] == [(1, predicted)]
        assert rows[0].corrected_at >= row.corrected_at and rows[0].created_at == row.created_at


def test_bad_labels_and_unknown_digits(client, database_url):
    with session_scope(database_url) as session:
        rec = Recognition(status="done", image=b"x", image_size=1, text="5", finished_at=utcnow())
        session.add(rec)
        session.flush()
        session.add(
            DigitResult(
                recognition_id=rec.id, position=0, label=5, confidence=0.5,
                probabilities=[0.1] * 10, box_x=0, box_y=0, box_w=1, box_h=1,
            )
        )  # fmt: skip
        queued = Recognition(status="queued", image=b"x", image_size=1)
        session.add(queued)
    url = label_url(str(rec.id), 0)
    for body in ({"label": 10}, {"label": -1}, {"label": "4"}, {"label": 4.5}, {"label": True}):
        response = client.put(url, json=body)
        assert response.status_code == 400 and error_of(response) == "bad_label", body
    for body in ({}, [4], "4", None):
        response = client.put(url, data=json.dumps(body), content_type="application/json")
        assert response.status_code == 400 and error_of(response) == "bad_json", body
    response = client.put(url, data={"label": "4"})
    assert response.status_code == 415 and error_of(response) == "unsupported_content_type"
    for missing in (
        label_url(str(rec.id), 1),
        label_url(str(uuid.uuid4()), 0),
        label_url("not-an-id", 0),
        label_url(str(queued.id), 0),
    ):
        response = client.put(missing, json={"label": 4})
        assert response.status_code == 404 and error_of(response) == "not_found", missing
    negative = client.put(f"/api/v1/recognitions/{rec.id}/digits/-1/label", json={"label": 4})
    assert negative.status_code == 404
    huge = client.put(label_url(str(rec.id), 10**23), json={"label": 4})
    assert huge.status_code == 404  # not an integer overflow in the query
    assert correction_row(database_url, str(rec.id), 0) is None
    # 4.0 is a JSON Schema integer: schemathesis sent one, and it is a label (found by fuzzing)
    assert client.put(url, json={"label": 4.0}).get_json()["digits"][0]["correction"]["label"] == 4


# ---------------------------------------------------------------- the review flag (issue 12)


@pytest.fixture
def flagged_batch(app, worker):
    """A finished batch of clean MNIST digits and blends of two digits (unsure reads)."""
    client = app.test_client()
    clean, _ = mnist_test_digits(6, offset=60)
    files = [(f"clean{i}.png", png_bytes(img)) for i, img in enumerate(clean)]
    # 12 blends: the calibrated model reads some overlays confidently; enough stay unsure
    files += [(f"blend{i}.png", png_bytes(img)) for i, img in enumerate(blended_digits(12))]
    created = post_batch(client, files)
    assert created.status_code == 202, created.get_json()
    batch = wait_batch(client, created.headers["Location"])
    items = client.get(f"{batch['results_url']}?per_page=200").get_json()["items"]
    return batch, items


def test_needs_review_is_stored_and_filtered(flagged_batch, client, model_path):
    batch, items = flagged_batch
    threshold = threshold_of(model_path)
    for item in items:
        assert item["status"] == "done"
        for d in item["digits"]:
            assert d["needs_review"] == (d["confidence"] < threshold), (item["filename"], d)
        assert item["needs_review"] == any(d["needs_review"] for d in item["digits"])
    flagged = [i["filename"] for i in items if i["needs_review"]]
    assert any(name.startswith("blend") for name in flagged), "no blended digit was flagged"
    fresh = client.get(batch["url"]).get_json()
    assert fresh["needs_review"] == len(flagged)
    assert fresh["review_url"] == f"/api/v1/review?batch={batch['id']}"
    only = client.get(f"{batch['results_url']}?needs_review=true").get_json()
    assert [i["filename"] for i in only["items"]] == flagged and only["total"] == len(flagged)
    others = client.get(f"{batch['results_url']}?needs_review=false").get_json()
    assert others["total"] == len(items) - len(flagged)
    response = client.get(f"{batch['results_url']}?needs_review=maybe")
    assert response.status_code == 400 and error_of(response) == "bad_needs_review"
    rows = list(csv.DictReader(io.StringIO(client.get(f"{batch['results_url']}?format=csv").text)))
    assert [r["filename"] for r in rows if r["needs_review"] == "true"] == flagged
    rows = csv.DictReader(
        io.StringIO(client.get(f"{batch['results_url']}?format=csv&needs_review=true").text)
    )
    assert [r["filename"] for r in rows] == flagged


# ---------------------------------------------------------------- the review queue


def queue_keys(client, query: str = "") -> list[tuple[str, int]]:
    body = client.get(f"/api/v1/review?per_page=200{query}").get_json()
    assert body["total"] == len(body["items"])
    return [(i["recognition_id"], i["position"]) for i in body["items"]]


def test_review_queue_lowest_confidence_first(flagged_batch, client):
    batch, items = flagged_batch
    query = f"&batch={batch['id']}"
    body = client.get(f"/api/v1/review?per_page=200{query}").get_json()
    expected = sorted(
        ((d["confidence"], i["id"], n) for i in items for n, d in enumerate(i["digits"])),
    )
    flagged = [(rid, n) for conf, rid, n in expected if items_digit(items, rid, n)["needs_review"]]
    assert [(i["recognition_id"], i["position"]) for i in body["items"]] == flagged
    first = body["items"][0]
    assert first["normalized_url"] and first["label_url"] == label_url(*flagged[0])
    assert first["batch_id"] == batch["id"] and first["filename"].endswith(".png")
    assert client.get(first["normalized_url"]).status_code == 200

    # every digit under a confidence the caller gives, still lowest first
    everything = queue_keys(client, f"{query}&below=1")
    assert everything == [(rid, n) for conf, rid, n in expected if conf < 1]

    # a confirmed digit and a corrected one have been looked at: they drop out
    for rid, n in flagged[:2]:
        d = items_digit(items, rid, n)
        label = d["label"] if n == 0 else (d["label"] + 1) % 10
        assert client.put(label_url(rid, n), json={"label": label}).status_code == 200
    assert queue_keys(client, query) == flagged[2:]
    assert queue_keys(client) == flagged[2:]  # all batches and drawings: this batch only here

    paged = client.get(f"/api/v1/review?per_page=1&page=2{query}").get_json()
    assert paged["total"] == len(flagged) - 2 and paged["pages"] == len(flagged) - 2
    for bad in ("below=0", "below=1.5", "below=x", "batch=nope", "page=0", "per_page=x"):
        response = client.get(f"/api/v1/review?{bad}")
        assert response.status_code == 400, bad
    response = client.get(f"/api/v1/review?batch={uuid.uuid4()}")
    assert response.status_code == 404 and error_of(response) == "not_found"


def items_digit(items: list[dict], rid: str, n: int) -> dict:
    return next(i for i in items if i["id"] == rid)["digits"][n]


def test_corrections_summary_counts_digits_and_confused_pairs(client, database_url):
    rids = [make_done(database_url, [(9, 0.6), (1, 0.99)]) for _ in range(3)]
    for rid in rids:  # users say the 9s are 4s, and confirm the 1s
        client.put(label_url(rid, 0), json={"label": 4})
        client.put(label_url(rid, 1), json={"label": 1})
    seven = make_done(database_url, [(7, 0.5)])  # ... and once that a 7 is a 1
    client.put(label_url(seven, 0), json={"label": 1})
    after = client.get("/api/v1/corrections/summary").get_json()
    assert (after["total"], after["changed"]) == (7, 4)
    per = {row["label"]: (row["count"], row["changed"]) for row in after["per_digit"]}
    assert per == {label: (0, 0) for label in range(10)} | {4: (3, 3), 1: (4, 1)}
    pairs = [(p["predicted"], p["label"], p["count"]) for p in after["confused_pairs"]]
    assert pairs == [(9, 4, 3), (7, 1, 1)]  # most often first


def make_done(
    url: str,
    digits: list[tuple[int, float]],
    *,
    age: float = 0,
    owner_id: int | None = None,
    batch_id: uuid.UUID | None = None,
) -> str:
    """A finished recognition with these (label, confidence) digits and their 28x28 PNGs."""
    created = utcnow() - timedelta(seconds=age)
    with session_scope(url) as session:
        rec = Recognition(
            status="done", image=b"an image", image_size=8, image_mime="image/png",
            text="".join(str(label) for label, _ in digits), created_at=created,
            finished_at=created, model_version="test-model", owner_id=owner_id,
            batch_id=batch_id, needs_review=any(c < 0.9 for _, c in digits),
        )  # fmt: skip
        session.add(rec)
        session.flush()
        for n, (label, confidence) in enumerate(digits):
            pixels = np.zeros((28, 28), np.uint8)
            pixels[4:24, 10 + n : 14 + n] = 255
            session.add(
                DigitResult(
                    recognition_id=rec.id, position=n, label=label, confidence=confidence,
                    probabilities=[0.05] * 10, box_x=0, box_y=0, box_w=5, box_h=5,
                    normalized=png_bytes(pixels), needs_review=confidence < 0.9,
                )
            )  # fmt: skip
    return str(rec.id)


# ---------------------------------------------------------------- retention and export


def test_retention_leaves_corrections_alone(client, database_url, tmp_path, monkeypatch):
    rid = make_done(database_url, [(3, 0.55), (8, 0.97)], age=2 * DAY)
    assert client.put(label_url(rid, 0), json={"label": 5}).status_code == 200
    normalized = [client.get(f"/api/v1/recognitions/{rid}/normalized/{n}").data for n in (0, 1)]

    # the images go after a day: the corrected digit keeps its 28x28 (a copy), the other not
    run_cleanup(database_url, image_retention=DAY, result_retention=30 * DAY)
    assert client.get(f"/api/v1/recognitions/{rid}/image").status_code == 410
    kept = client.get(f"/api/v1/recognitions/{rid}/normalized/0")
    assert kept.status_code == 200 and kept.data == normalized[0]
    assert client.get(f"/api/v1/recognitions/{rid}/normalized/1").status_code == 404
    body = client.get(f"/api/v1/recognitions/{rid}").get_json()
    assert body["digits"][0]["correction"]["label"] == 5 and body["corrected_text"] == "58"
    # correcting after the purge still works, and keeps the first copy of the image
    assert client.put(label_url(rid, 0), json={"label": 6}).status_code == 200
    assert client.get(f"/api/v1/recognitions/{rid}/normalized/0").data == normalized[0]

    # the whole result goes after RESULT_RETENTION; the correction never does
    report = run_cleanup(database_url, image_retention=DAY, result_retention=DAY)
    assert report.recognitions_deleted == 1
    assert client.get(f"/api/v1/recognitions/{rid}").status_code == 404
    row = correction_row(database_url, rid, 0)
    assert row is not None and row.label == 6 and row.image == normalized[0]
    assert client.get(f"/api/v1/recognitions/{rid}/normalized/0").data == normalized[0]

    # ... and it is still exported as training data
    from cli import main

    out = tmp_path / "corrections.npz"
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["export-corrections", "--out", str(out)])
    assert result.exit_code == 0, result.output
    sidecar = json.loads(out.with_suffix(".json").read_text())
    index = next(i["index"] for i in sidecar["items"] if i["id"] == f"{rid}/0")
    with np.load(out) as data:
        expected = cv2.imdecode(np.frombuffer(normalized[0], np.uint8), cv2.IMREAD_GRAYSCALE)
        assert (data["x"][index] == expected).all() and data["y"][index] == 6


# ---------------------------------------------------------------- with API keys (AUTH=keys)


@pytest.fixture
def two_clients(app, database_url):
    """An app with AUTH=keys, and two clients' keys: {name: (key id, headers)}."""
    keyed_app = app_like(app, AUTH="keys")
    clients = {}
    with session_scope(database_url) as session:
        for who in ("alice", "bob"):
            row, key = create_key(session, f"{who}-{uuid.uuid4().hex[:6]}")
            clients[who] = (row.id, row.name, {"Authorization": f"Bearer {key}"})
    return keyed_app.test_client(), clients


def owned_batch(url: str, owner_id: int, digits: list[tuple[int, float]]) -> tuple[str, str]:
    """A finished batch of one recognition with these digits, all the owner's."""
    with session_scope(url) as session:
        batch = Batch(status="done", total=1, done=1, owner_id=owner_id, finished_at=utcnow())
        session.add(batch)
    rid = make_done(url, digits, owner_id=owner_id, batch_id=batch.id)
    return str(batch.id), rid


def test_with_keys_a_client_corrects_only_its_own(two_clients, database_url):
    client, people = two_clients
    (alice_id, alice_name, alice), (bob_id, _, bob) = people["alice"], people["bob"]
    rid = make_done(database_url, [(7, 0.5), (1, 0.99)], owner_id=alice_id)
    _, batch_rid = owned_batch(database_url, alice_id, [(2, 0.4)])

    for target in (rid, batch_rid):
        refused = client.put(label_url(target, 0), json={"label": 3}, headers=bob)
        assert refused.status_code == 404 and error_of(refused) == "not_found"
        assert correction_row(database_url, target, 0) is None
    assert client.put(label_url(rid, 0), json={"label": 3}).status_code == 401  # no key

    done = client.put(label_url(rid, 0), json={"label": 3}, headers=alice)
    assert done.status_code == 200, done.get_json()
    correction = done.get_json()["digits"][0]["correction"]
    assert correction["label"] == 3 and correction["corrected_by"] == alice_name
    assert correction_row(database_url, rid, 0).corrected_by == alice_name  # stored, not derived
    assert client.get(f"/api/v1/recognitions/{rid}", headers=bob).status_code == 404
    batch_fix = client.put(label_url(batch_rid, 0), json={"label": 2}, headers=alice)
    assert batch_fix.get_json()["corrected_text"] == "2"

    # bob's own recognition: his name on his correction
    his = make_done(database_url, [(5, 0.6)], owner_id=bob_id)
    mine = client.put(label_url(his, 0), json={"label": 6}, headers=bob).get_json()
    assert mine["digits"][0]["correction"]["corrected_by"] == people["bob"][1]


def test_with_keys_the_review_queue_is_the_callers(two_clients, database_url):
    client, people = two_clients
    (alice_id, _, alice), (bob_id, _, bob) = people["alice"], people["bob"]
    alice_batch, alice_rid = owned_batch(database_url, alice_id, [(4, 0.31), (4, 0.32)])
    bob_batch, bob_rid = owned_batch(database_url, bob_id, [(8, 0.33)])
    alice_single = make_done(database_url, [(1, 0.34)], owner_id=alice_id)

    def queue(headers, query: str = "") -> list[tuple[str, int]]:
        response = client.get(f"/api/v1/review?per_page=200{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return [(i["recognition_id"], i["position"]) for i in response.get_json()["items"]]

    assert queue(alice) == [(alice_rid, 0), (alice_rid, 1), (alice_single, 0)]
    assert queue(bob) == [(bob_rid, 0)]
    assert queue(alice, "&below=1") == [(alice_rid, 0), (alice_rid, 1), (alice_single, 0)]
    assert queue(alice, f"&batch={alice_batch}") == [(alice_rid, 0), (alice_rid, 1)]
    for other in (bob_batch, str(uuid.uuid4())):
        response = client.get(f"/api/v1/review?batch={other}", headers=alice)
        assert response.status_code == 404 and error_of(response) == "not_found"
    assert client.get("/api/v1/review").status_code == 401

    # a batch's review count and its needs_review filter are its owner's only
    assert client.get(f"/api/v1/batches/{alice_batch}", headers=alice).json["needs_review"] == 1
    assert client.get(f"/api/v1/batches/{alice_batch}", headers=bob).status_code == 404
    filtered = f"/api/v1/batches/{alice_batch}/results?needs_review=true"
    assert client.get(filtered, headers=bob).status_code == 404
    assert client.get(filtered, headers=alice).json["total"] == 1

    # confirming drops the digit from its owner's queue; the other's queue is untouched
    assert client.put(label_url(alice_rid, 0), json={"label": 4}, headers=alice).status_code == 200
    assert queue(alice) == [(alice_rid, 1), (alice_single, 0)]
    assert queue(bob) == [(bob_rid, 0)]


def test_with_keys_a_kept_digit_image_is_its_owners(two_clients, database_url):
    """After retention, a corrected digit's 28x28 comes from the correction: still only for the
    recognition's owner."""
    client, people = two_clients
    (alice_id, _, alice), (_, _, bob) = people["alice"], people["bob"]
    rid = make_done(database_url, [(3, 0.55)], owner_id=alice_id, age=2 * DAY)
    assert client.put(label_url(rid, 0), json={"label": 5}, headers=alice).status_code == 200
    run_cleanup(database_url, image_retention=DAY, result_retention=30 * DAY)
    digit = f"/api/v1/recognitions/{rid}/normalized/0"
    assert client.get(digit, headers=alice).status_code == 200
    assert client.get(digit, headers=bob).status_code == 404
