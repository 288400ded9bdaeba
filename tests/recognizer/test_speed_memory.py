"""What the speed and memory work of issue 12 changed must not change a reading: the numpy-only
model reader against skops, and the serving process's imports. Real files, real model."""

import json
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from recognizer import ModelError, load_model, modelfile
from recognizer.evaluate import encode_png_batch
from recognizer.model import DEFAULT_MODEL_PATH, TRUSTED_TYPES, Model, _skops_load


def test_serving_never_imports_sklearn():
    """Loading the shipped model and reading with it needs neither scikit-learn nor scipy."""
    code = (
        "import sys, numpy as np, recognizer\n"
        "m = recognizer.load_model()\n"
        "m.recognize_many([b'junk'])\n"
        "bad = [k for k in sys.modules if k.split('.')[0] in ('sklearn', 'scipy', 'skops')]\n"
        "assert not bad, bad[:5]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_numpy_reader_predicts_exactly_as_skops(shipped_model, mnist):
    """The same kernel arrays, so the same probabilities bit for bit."""
    meta = json.loads(DEFAULT_MODEL_PATH.with_suffix(".json").read_text())
    via_skops = Model(_skops_load(DEFAULT_MODEL_PATH), meta, network=shipped_model.network)
    blobs = encode_png_batch(mnist["x_test"][:200])
    a = shipped_model.recognize_many(blobs)
    b = via_skops.recognize_many(blobs)
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]
    ours, theirs = shipped_model._kernel, via_skops._kernel
    for name in ("sv_t", "sv_sq", "w", "intercept", "proj", "shift", "classes"):
        assert np.array_equal(getattr(ours, name), getattr(theirs, name))


def test_estimator_loads_on_demand_and_saves(tmp_path):
    model = load_model()
    assert model._estimator is None  # only the arrays were read
    assert type(model.estimator).__name__ == "Pipeline"
    path = model.save(tmp_path)
    again = load_model(path)
    x = np.zeros((2, 28, 28), np.uint8)
    x[:, 8:20, 12:15] = 255
    assert np.array_equal(again.predict_many(x)[1], model.predict_many(x)[1])


def test_reader_refuses_what_it_does_not_know(tmp_path):
    with pytest.raises(modelfile.Unsupported, match="type"):
        modelfile.read_estimator(DEFAULT_MODEL_PATH, [t for t in TRUSTED_TYPES if "SVC" not in t])
    odd = tmp_path / "digits.skops"
    with zipfile.ZipFile(DEFAULT_MODEL_PATH) as src, zipfile.ZipFile(odd, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "schema.json":
                schema = json.loads(data)
                schema["protocol"] = 99
                data = json.dumps(schema).encode()
            dst.writestr(info, data)
    with pytest.raises(modelfile.Unsupported, match="protocol"):
        modelfile.read_estimator(odd, TRUSTED_TYPES)


def test_damaged_model_file_is_a_model_error(tmp_path):
    for name in ("digits.skops", "digits.json"):
        shutil.copy(DEFAULT_MODEL_PATH.with_name(name), tmp_path / name)
    blob = (tmp_path / "digits.skops").read_bytes()
    (tmp_path / "digits.skops").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ModelError, match="not a readable"):
        load_model(tmp_path / "digits.skops")


def _bgra_cases() -> list[np.ndarray]:
    rng = np.random.default_rng(4)
    empty = np.zeros((50, 60, 4), np.uint8)
    faint, light, dark = empty.copy(), empty.copy(), empty.copy()
    faint[10:20, 5:9] = (30, 40, 50, 100)  # nothing even half opaque
    light[10:20, 5:9] = (200, 220, 250, 255)  # light ink: composited onto black
    dark[3:30, 40:58] = (20, 10, 30, 255)  # dark ink: onto white
    dark[30:32, 40:58, 3] = 60  # an anti-aliased fringe
    paper = np.full((50, 60, 4), 255, np.uint8)
    paper[..., 3] = 200  # mostly opaque: onto the paper's colour
    paper[5:40, 10:30, :3] = 20
    paper[:, :3, 3] = 0
    noise = rng.integers(0, 256, (40, 45, 4)).astype(np.uint8)  # alpha everywhere
    return [empty, faint, light, dark, paper, noise]


def test_transparent_canvas_composited_inside_its_ink_box_only():
    """The box-limited compositing gives what the whole-image formula gives."""
    import cv2

    from recognizer.imageio import _composite_bgra, composite_alpha

    for img in _bgra_cases():
        whole = composite_alpha(cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY), img[:, :, 3].copy())
        assert np.array_equal(_composite_bgra(img), whole)


def test_area_resize_of_a_part_is_the_whole_images():
    """Shrinking only the part of an image that is not one level gives OpenCV's pixels."""
    import cv2

    from recognizer.imageio import _area_resize

    rng = np.random.default_rng(8)
    for shape in [(400, 400), (400, 300), (512, 256), (800, 600), (300, 1000), (333, 517)]:
        for _ in range(6):
            img = np.full(shape, int(rng.integers(0, 256)), np.uint8)
            y, x = (int(rng.integers(0, s - 20)) for s in shape)
            h, w = (int(rng.integers(1, s // 2)) for s in shape)
            img[y : y + h, x : x + w] = rng.integers(0, 256, img[y : y + h, x : x + w].shape)
            for side in (64, 32):
                f = side / max(shape)
                size = (max(8, round(shape[1] * f)), max(8, round(shape[0] * f)))
                want = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
                assert np.array_equal(_area_resize(img, size), want)


def test_to_ink_inverts_as_the_formula_says():
    from recognizer.imageio import to_ink

    rng = np.random.default_rng(5)
    for level in (255, 254, 200, 131):
        g = rng.integers(0, 256, (30, 30)).astype(np.uint8)
        g[[0, -1], :] = level
        g[:, [0, -1]] = level
        ink, inverted = to_ink(g)
        assert inverted
        assert np.array_equal(ink, (level - np.minimum(g, level)).astype(np.uint8))


def test_extraction_threads_read_the_same(shipped_model, mnist):
    """Decoding and segmenting in two threads changes nothing, bad items included."""
    from recognizer.synth import canvas_png

    rng = np.random.default_rng(6)
    blobs = encode_png_batch(mnist["x_test"][:20])
    blobs += [canvas_png(mnist["x_test"][i], rng) for i in range(20, 30)]
    blobs.insert(3, b"not an image")
    one = [r.to_dict() for r in shipped_model.recognize_many(blobs)]
    shipped_model.extract_threads = 2
    try:
        two = [r.to_dict() for r in shipped_model.recognize_many(blobs)]
    finally:
        shipped_model.extract_threads = 1
    assert two == one
    assert one[3]["error_code"] == "unreadable_image"


def test_extract_threads_setting(monkeypatch):
    from recognizer.model import EXTRACT_THREADS_ENV, default_extract_threads

    monkeypatch.setenv(EXTRACT_THREADS_ENV, "2")
    assert default_extract_threads() == 2
    monkeypatch.setenv(EXTRACT_THREADS_ENV, "lots")
    assert default_extract_threads() == 1
    monkeypatch.delenv(EXTRACT_THREADS_ENV)
    assert default_extract_threads() == 1


def test_feature_gathers_match_the_plain_formulas():
    """deskew's flat gather and the direction planes (``_split``) give what take_along_axis
    and a scatter by the nested np.where gave (the model was trained on those)."""
    from recognizer import features as F

    rng = np.random.default_rng(8)
    x = rng.random((40, 28, 28), dtype=np.float32)
    x[:10] = 0.0
    d = F.deskew(x)
    # the reference: the same shear, gathered with take_along_axis
    ys = np.arange(28, dtype=np.float32)
    m00 = x.sum(axis=(1, 2)) + 1e-6
    row, col = x.sum(axis=2), x.sum(axis=1)
    cy, cx = (row * ys).sum(1) / m00, (col * ys).sum(1) / m00
    dy, dx = ys[None] - cy[:, None], ys[None] - cx[:, None]
    mu02 = (row * dy * dy).sum(1) / m00
    skew = np.clip(np.einsum("nij,ni,nj->n", x, dy, dx) / m00 / np.maximum(mu02, 1e-3), -1, 1)
    xs = ys[None, None, :] + (skew[:, None] * (ys[None, :] - cy[:, None]))[:, :, None]
    x0 = np.floor(xs)
    f = (xs - x0).astype(np.float32)
    pad = np.zeros((40, 28, 30), np.float32)
    pad[:, :, 1:-1] = x
    i0 = np.clip(x0.astype(np.int64) + 1, 0, 29)
    v0 = np.take_along_axis(pad, i0, axis=2)
    v1 = np.take_along_axis(pad, np.clip(i0 + 1, 0, 29), axis=2)
    assert np.array_equal(d, v0 * (1 - f) + v1 * f)
    gx, gy = rng.normal(size=(2, 5, 28, 28)).astype(np.float32)
    gx[:, :3] = 0.0
    gy[:, 3:6] = 0.0
    gx[:, 6, :5] = gy[:, 6, :5]  # |gx| == |gy|: the x axis
    ax, ay = np.abs(gx), np.abs(gy)
    mn = np.minimum(ax, ay)
    a, b = np.maximum(ax, ay) - mn, mn * np.float32(np.sqrt(2.0))
    ia = np.where(ax >= ay, np.where(gx > 0, 0, 4), np.where(gy > 0, 2, 6))
    idg = np.where(gx > 0, np.where(gy > 0, 1, 7), np.where(gy > 0, 3, 5))
    want = np.zeros((5, 8, 28, 28), np.float32)
    n_, y_, x_ = np.indices((5, 28, 28))
    want[n_, ia, y_, x_] = a
    want[n_, idg, y_, x_] = b
    got = np.empty((5, 8, 784), np.float32)
    px, py = gx > 0, gy > 0
    F._split(a, ax >= ay, px, got[:, 0], got[:, 4], py, got[:, 2], got[:, 6])
    F._split(b, py, px, got[:, 1], got[:, 3], px, got[:, 7], got[:, 5])
    assert np.array_equal(got.reshape(5, 8, 28, 28), want)
