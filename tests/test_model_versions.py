"""Closing the loop with a real worker: correct, export, train with the corrections, activate the
new version, and see new results stamped with it (old ones keep theirs). Bad versions are refused
and the serving one goes on. Runs on every database backend."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cli import main
from recognizer.model import model_files
from store import ModelActivation, session_scope
from store.model_versions import ModelSettings, record_activation
from tests.support import MNIST, mnist_test_digits, png_bytes, service_env, start_worker
from tests.test_api import submit_json, wait_done
from tests.test_batches import post_batch, wait_batch
from web import create_app

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::recognizer.ModelVersionWarning"),  # the broken file's
]
CORRECTIONS = 30


@pytest.fixture
def service(backend, make_database, redis_dbs, model_path, tmp_path):
    """A database, Redis db, MODELS_DIR and worker of this test's own (activations are global)."""
    database = make_database(backend)
    models = tmp_path / "models"
    (models / "shipped").mkdir(parents=True)
    for src in model_files(model_path):
        (models / "shipped" / src.name).symlink_to(src)
    redis_url = redis_dbs.take()
    env = service_env(database, redis_url, model_path, MODELS_DIR=str(models))
    worker = start_worker(env, tmp_path)
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database,
            "REDIS_URL": redis_url,
            "MODEL_PATH": model_path,
            "MODELS_DIR": str(models),
        }
    )

    class Service:
        client = app.test_client()
        models_dir = models
        environment = env
        database_url = database

        @staticmethod
        def digits(*args: str) -> str:
            result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
            assert result.exit_code == 0, result.output
            return result.output

        @staticmethod
        def refused(*args: str) -> str:
            result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
            assert result.exit_code == 1, result.output
            return result.output

    Service.worker = worker
    yield Service
    worker.stop()
    redis_dbs.give_back(redis_url)


def recognize_one(service, offset: int) -> dict:
    images, _ = mnist_test_digits(1, offset=offset)
    response = submit_json(service.client, png_bytes(images[0]))
    return wait_done(service.client, response.headers["Location"])


def correct_a_batch(service) -> None:
    """Users go through a batch of MNIST test digits and give each its true label."""
    images, labels = mnist_test_digits(CORRECTIONS, offset=500)
    files = [(f"{i}.png", png_bytes(img)) for i, img in enumerate(images)]
    batch = wait_batch(service.client, post_batch(service.client, files).headers["Location"])
    items = service.client.get(f"{batch['results_url']}?per_page=200").get_json()["items"]
    for item, label in zip(items, labels, strict=True):
        assert len(item["digits"]) == 1, item
        response = service.client.put(item["digits"][0]["label_url"], json={"label": int(label)})
        assert response.status_code == 200


def test_corrections_train_a_new_version_that_workers_pick_up(service, tmp_path):
    old = recognize_one(service, offset=0)
    shipped = old["model"]
    info = service.client.get("/api/v1/model").get_json()
    assert info["version"] == shipped and info["active"]["source"] == "setting"

    correct_a_batch(service)
    export = tmp_path / "corrections.npz"
    service.digits("export-corrections", "--out", str(export), "--holdout", "0.5")
    sidecar = json.loads(export.with_suffix(".json").read_text())
    assert sidecar["count"] == CORRECTIONS and len(sidecar["items"]) == CORRECTIONS
    item = sidecar["items"][0]
    assert {"id", "recognition_id", "position", "label", "predicted", "corrected_at"} <= set(item)
    with np.load(export) as data:
        assert data["x"].shape == (CORRECTIONS, 28, 28) and data["x"].dtype == np.uint8
        assert data["y"].shape == (CORRECTIONS,)
        held = int(data["y_test"].shape[0])
        assert 0 < held < CORRECTIONS and len(data["y_train"]) == CORRECTIONS - held
        assert held == sum(i["held_out"] for i in sidecar["items"])

    out = service.models_dir / "with-corrections"
    trained = service.digits(
        *("train", "--data", str(MNIST), "--extra", str(export), "--extra-weight", "2"),
        *("--limit", "1500", "--test-limit", "200", "--augment", "0", "--redraw", "0"),
        *("--out", str(out)),
    )
    assert f"{CORRECTIONS - held} to train on, {held} held out" in trained
    assert "corrections accuracy:" in trained
    meta = json.loads((out / "digits.json").read_text())
    new = meta["version"]
    assert new != shipped and meta["corrections_test_size"] == held
    assert meta["extra_train_size"] == CORRECTIONS - held and meta["extra_weight"] == 2
    assert 0 <= meta["corrections_accuracy"] <= 1 and meta["test_accuracy"] > 0.8

    evaluated = service.digits(
        *("evaluate", "--data", str(MNIST), "--model", str(out / "digits.skops")),
        *("--limit", "100", "--extra", str(export)),
    )
    assert "accuracy:" in evaluated and f"({held} held-out digits)" in evaluated

    listed = service.digits("model", "list")
    assert new in listed and shipped in listed
    assert f"{meta['corrections_accuracy'] * 100:.2f}%" in listed
    assert next(line for line in listed.splitlines() if shipped in line).startswith("*")

    activated = service.digits("model", "activate", new)
    assert f"activated {new}" in activated
    fresh = recognize_one(service, offset=1)
    assert fresh["model"] == new  # the same worker process, no restart
    assert service.client.get(old["url"]).get_json()["model"] == shipped
    info = service.client.get("/api/v1/model").get_json()
    assert info["version"] == new and info["active"]["version"] == new
    assert info["active"]["source"] == "database" and info["active"]["activated_by"]
    assert {v["version"]: v["active"] for v in info["versions"]} == {new: True, shipped: False}
    assert "sklearn_version" in info and "test_accuracy" in info  # the metadata, as before
    listed = service.digits("model", "list").splitlines()
    assert next(line for line in listed if new in line).startswith("*")

    refuse_bad_versions(service, serving=new)


def refuse_bad_versions(service, serving: str) -> None:
    """A corrupt file and a model that cannot read digits are refused; serving goes on."""
    import recognizer

    broken = service.models_dir / "broken"
    broken.mkdir()
    (broken / "digits.skops").write_bytes(b"PK\x03\x04 this is not a model" * 50)
    (broken / "digits.json").write_text(json.dumps({"version": "broken-1"}))
    said = service.refused("model", "activate", "broken-1")
    assert "refused:" in said and "not a valid model" in said and f"{serving}" in said

    x, y = mnist_test_digits(300, offset=1000)
    wrong = recognizer.train_model(x, (y + 1) % 10, augment=0, pca=20)  # every label off by one
    wrong.metadata["version"] = "off-by-one"
    wrong.save(service.models_dir / "off-by-one")
    said = service.refused("model", "activate", "off-by-one")
    assert "failed the smoke test" in said and "sample digits" in said

    said = service.refused("model", "activate", "no-such-version")
    assert "no model version or file" in said
    assert recognize_one(service, offset=2)["model"] == serving

    # even a corrupt file recorded behind the command's back never stops the workers
    with session_scope(service.database_url) as session:
        record_activation(
            session,
            version="broken-1",
            path=broken / "digits.skops",
            sha256="0" * 64,
            settings=ModelSettings(service.models_dir),
            smoke_accuracy=None,
            activated_by="test",
        )
    assert recognize_one(service, offset=3)["model"] == serving
    assert "cannot load model version broken-1" in service.worker.log()
    with session_scope(service.database_url) as session:
        assert session.scalar(select(func.count()).select_from(ModelActivation)) == 2
    assert uuid.UUID(recognize_one(service, offset=4)["id"])  # and it goes on
