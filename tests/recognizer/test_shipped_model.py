"""Checks on the model committed in models/ (skipped only if the file is absent)."""

import numpy as np
from recognizer_testutil import first_of

from recognizer import DEFAULT_MODEL_PATH
from recognizer.evaluate import predict_png_path
from recognizer.synth import canvas_png, multi_digit_canvas


def test_metadata(shipped_model):
    meta = shipped_model.metadata
    for key in ("version", "training_data_sha256", "sklearn_version", "test_accuracy", "created"):
        assert meta.get(key), key
    assert meta["test_accuracy"] >= 0.99
    assert DEFAULT_MODEL_PATH.stat().st_size <= 25 * 1024 * 1024


def test_reads_mnist_digits(shipped_model, mnist):
    x, y = mnist["x_test"][-50:], mnist["y_test"][-50:]
    assert (predict_png_path(shipped_model, x) == y).sum() >= 48


def test_reads_thick_canvas_drawings(shipped_model, mnist):
    rng = np.random.default_rng(5)
    right = 0
    for label in range(10):
        rec = shipped_model.recognize(canvas_png(first_of(mnist, label), rng, brush=28.0))
        right += rec.text == str(label)
        assert rec.width == rec.height == 400
    assert right >= 9


def test_reads_2026_canvas(shipped_model, mnist):
    rng = np.random.default_rng(6)
    data, boxes = multi_digit_canvas([first_of(mnist, k) for k in (2, 0, 2, 6)], rng)
    rec = shipped_model.recognize(data)
    assert rec.text == "2026"
    for d, (x, _y, w, _h) in zip(rec.digits, boxes, strict=True):
        assert abs(d.box[0] - x) <= 3 and abs(d.box[2] - w) <= 6
