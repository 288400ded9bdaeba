import json
import shutil
import warnings

import cv2
import numpy as np
import pytest
from recognizer_testutil import first_of, paper_image, png

from recognizer import (
    ImageTooLarge,
    ModelError,
    ModelVersionMismatch,
    ModelVersionWarning,
    Reading,
    UnreadableImage,
    load_model,
    preprocess_steps,
    train_model,
)
from recognizer.evaluate import confusion_png, encode_png_batch, metrics, predict_png_path


@pytest.fixture(scope="module")
def tiny(mnist, tmp_path_factory):
    """A model trained on 2,000 MNIST images (a few seconds)."""
    model = train_model(
        mnist["x_train"][:2000], mnist["y_train"][:2000], augment=0, data_sha256="0" * 64
    )
    directory = tmp_path_factory.mktemp("tiny")
    path = model.save(directory)
    return model, path


def test_tiny_model_beats_chance(mnist, tiny):
    model, _ = tiny
    x, y = mnist["x_test"][:500], mnist["y_test"][:500]
    preds = predict_png_path(model, x)
    assert (preds == y).mean() > 0.85
    labels, probs = model.predict_many(np.stack([first_of(mnist, 3)]))
    assert probs.shape == (1, 10) and abs(probs.sum() - 1) < 1e-6


def test_virtual_support_vectors(mnist):
    """--vsv: a second fit on the support vectors plus transformed copies of their images; the
    recipe is recorded in the metadata and the model still reads digits."""
    x, y = mnist["x_train"][:600], mnist["y_train"][:600]
    model = train_model(x, y, augment=0, pca=20, vsv=2, seed=3)
    meta = model.metadata
    assert meta["vsv_copies"] == 2 and meta["vsv_keep_all"] is False
    first = meta["first_fit_support_vectors"]
    assert first <= 600 and meta["training_images"] == 600 + 2 * first
    preds = predict_png_path(model, mnist["x_test"][:200])
    assert (preds == mnist["y_test"][:200]).mean() > 0.8


def test_save_load_roundtrip(mnist, tiny):
    model, path = tiny
    meta = json.loads(path.with_suffix(".json").read_text())
    for key in ("version", "training_data_sha256", "sklearn_version", "created", "features"):
        assert key in meta
    loaded = load_model(path)
    assert loaded.version == model.version
    x = mnist["x_test"][:64]
    a = model.predict_many(x)
    b = loaded.predict_many(x)
    assert (a[0] == b[0]).all() and np.allclose(a[1], b[1])
    assert load_model(path.parent).version == model.version  # a directory works too


def test_version_mismatch(tiny, tmp_path):
    _, path = tiny
    for name in (path.name, path.with_suffix(".json").name):
        shutil.copy(path.parent / name, tmp_path / name)
    mpath = tmp_path / path.with_suffix(".json").name
    meta = json.loads(mpath.read_text())
    meta["sklearn_version"] = "0.24.2"
    mpath.write_text(json.dumps(meta))
    with pytest.raises(ModelVersionMismatch, match="scikit-learn 0.24.2"):
        load_model(tmp_path / path.name)
    import sklearn

    major, minor = sklearn.__version__.split(".")[:2]
    meta["sklearn_version"] = f"{major}.{minor}.999"
    mpath.write_text(json.dumps(meta))
    with pytest.warns(ModelVersionWarning):
        load_model(tmp_path / path.name)


def _not_trusted(x):
    return x


def test_untrusted_types_refused(tmp_path):
    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    sio.dump(make_pipeline(FunctionTransformer(_not_trusted)), tmp_path / "digits.skops")
    (tmp_path / "digits.json").write_text(json.dumps({"sklearn_version": "1.9.1"}))
    with pytest.raises(ModelError, match="untrusted"):
        load_model(tmp_path / "digits.skops")
    with pytest.raises(ModelError):
        load_model(tmp_path / "missing.skops")


def test_recognize_results(mnist, tiny):
    model, _ = tiny
    img, boxes = paper_image([first_of(mnist, 1), first_of(mnist, 0)])
    rec = model.recognize(png(img))
    assert isinstance(rec, Reading) and rec.error is None
    assert (rec.width, rec.height) == (img.shape[1], img.shape[0])
    assert len(rec.digits) == 2 and rec.text == "".join(str(d.label) for d in rec.digits)
    for d, box in zip(rec.digits, boxes, strict=True):
        assert len(d.probabilities) == 10 and abs(sum(d.probabilities) - 1) < 1e-6
        assert d.confidence == max(d.probabilities) and d.label == int(np.argmax(d.probabilities))
        assert abs(d.box[0] - box[0]) <= 3
        assert d.normalized.shape == (28, 28) and d.normalized.dtype == np.uint8
        back = cv2.imdecode(np.frombuffer(d.normalized_png(), np.uint8), cv2.IMREAD_GRAYSCALE)
        assert (back == d.normalized).all()


def test_recognize_errors(tiny):
    model, _ = tiny
    with pytest.raises(UnreadableImage):
        model.recognize(b"definitely not an image")
    good = png(np.full((50, 50), 255, np.uint8))
    with pytest.raises(ImageTooLarge):
        model.recognize(good, max_pixels=100)
    recs = model.recognize_many([b"junk", good, b"", good], max_pixels=10_000)
    assert [r.error_code for r in recs] == ["unreadable_image", None, "unreadable_image", None]
    assert recs[1].digits == [] and recs[1].text == ""
    recs = model.recognize_many([good], max_pixels=100)
    assert recs[0].error_code == "image_too_large" and recs[0].digits == []
    assert model.recognize_many([]) == []


def test_batch_equals_single(mnist, tiny):
    model, _ = tiny
    blobs = encode_png_batch(mnist["x_test"][:20])
    many = model.recognize_many(blobs)
    for blob, r in zip(blobs, many, strict=True):
        one = model.recognize(blob)
        assert one.text == r.text
        assert np.allclose(one.digits[0].probabilities, r.digits[0].probabilities, atol=1e-5)


def test_preprocess_steps(mnist):
    img, _ = paper_image([first_of(mnist, 4), first_of(mnist, 2)])
    steps = preprocess_steps(png(img))
    names = [s[0] for s in steps]
    for want in (
        "decode",
        "polarity",
        "segmentation",
        "crop",
        "stroke width",
        "fit 20x20",
        "center 28x28",
        "deskew",
        "features",
    ):
        assert want in names
    for _name, desc, data in steps:
        assert isinstance(desc, str) and desc
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) is not None
    empty = preprocess_steps(png(np.full((30, 30), 255, np.uint8)))
    assert [s[0] for s in empty] == ["decode", "polarity", "segmentation"]
    with pytest.raises(UnreadableImage):
        preprocess_steps(b"nope")


def test_metrics_and_confusion_png():
    y = np.array([0, 1, 2, 2, 1])
    p = np.array([0, 1, 2, 1, -1])
    m = metrics(y, p, n_classes=3)
    assert m["accuracy"] == pytest.approx(0.6) and m["not_one_digit"] == 1
    assert m["per_class"][2]["recall"] == pytest.approx(0.5)
    assert m["per_class"][1]["precision"] == pytest.approx(0.5)
    img = cv2.imdecode(np.frombuffer(confusion_png(m), np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[0] > 100


def test_no_web_imports():
    import subprocess
    import sys

    code = (
        "import sys, recognizer, recognizer.cli, recognizer.model\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'celery', 'sqlalchemy', 'psycopg', 'redis', 'matplotlib')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_warnings_clean_on_load(tiny):
    _, path = tiny
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelVersionWarning)
        load_model(path)
