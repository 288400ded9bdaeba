"""The pair reader: its input, its heads, its training and how the model uses it."""

import json

import numpy as np
import pytest

from recognizer import convnet, load_model, pairs, split
from recognizer.errors import ModelError
from recognizer.model import (
    metadata_path,
    pairs_path,
    save_pair_reader,
    sha256_file,
)
from recognizer.synth import canvas_png, touching_png


def test_pair_input_fits_the_strokes_into_the_frame():
    crop = np.zeros((60, 100), np.uint8)
    crop[5:55, 10:16] = 255  # two bars, 6 px thick, 50 px tall
    crop[5:55, 80:86] = 255
    x = pairs.pair_input(crop)
    assert x.shape == pairs.SIZE and x.dtype == np.uint8
    rows, cols = np.nonzero(x > 127)
    assert rows.min() >= 1 and rows.max() <= 26  # the ink is INNER (24 px) tall, centred
    assert rows.max() - rows.min() >= 20
    assert cols.min() > 2 and cols.max() < 53  # aspect kept: not stretched to the width
    # strokes brought to one width: a thin and a thick pen give about the same image
    thin = np.zeros((60, 100), np.uint8)
    thin[5:55, 12:14] = 255
    thin[5:55, 82:84] = 255
    thick_ink, thin_ink = int((x > 127).sum()), int((pairs.pair_input(thin) > 127).sum())
    assert abs(thin_ink - thick_ink) < 0.35 * thick_ink  # (the 2 px pen as drawn: 3x less)
    assert not pairs.pair_input(np.zeros((10, 10), np.uint8)).any()


def test_the_heads_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    net = convnet.ConvNet.initial(rng, (4, 6), 12, pairs.SIZE, pairs.HEADS)
    net.b3 += np.float32(0.1)
    x = rng.random((5, *pairs.SIZE, 1)).astype(np.float32)
    y = np.array([[1, 2, 10], [3, 10, 10], [0, 0, 4], [9, 10, 10], [4, 7, 10]])
    _, g = net.gradients(x, y, None)
    for name in ("w1", "w4"):
        w, d = getattr(net, name), g[name]
        eps = 1e-3 / float(np.linalg.norm(d))
        w += eps * d
        up = net.gradients(x, y, None)[0]
        w -= 2 * eps * d
        down = net.gradients(x, y, None)[0]
        w += eps * d
        assert (up - down) / (2 * eps) == pytest.approx(float((d * d).sum()), rel=0.05)
    left, right, middle = net.probabilities((x[..., 0] * 255).astype(np.uint8))
    assert left.shape == (5, 10) and right.shape == (5, 11) and middle.shape == (5, 11)
    # the loss is the heads' cross-entropies summed
    z = net.logits((x[..., 0] * 255).astype(np.uint8)).astype(np.float64)
    expected = -sum(
        np.mean(np.log(convnet.softmax(z[:, a:b])[np.arange(5), y[:, k]]))
        for k, (a, b) in enumerate(((0, 10), (10, 21), (21, 32)))
    )
    got = net.gradients(((x * 255).astype(np.uint8) / np.float32(255)), y, None)[0]
    assert got == pytest.approx(expected, rel=1e-4)


def test_examples_are_pairs_threes_and_wide_singles_as_the_pipeline_crops_them(mnist):
    xs, ys = pairs.examples(mnist["x_train"][:200], mnist["y_train"][:200], 120, seed=3)
    assert xs.shape == (120, *pairs.SIZE) and ys.shape == (120, 3)
    single = ys[:, 1] == pairs.NONE
    three = ys[:, 2] != pairs.NONE
    assert 0.15 < single.mean() < 0.55 and 0.03 < three.mean() < 0.3
    assert not (single & three).any()
    assert set(ys[:, 0]) <= set(range(10))
    # a pair is wider than a single digit, and a run of three wider than a pair
    width = (xs > 64).any(1).sum(1)
    pair = ~single & ~three
    assert np.median(width[single]) < np.median(width[pair]) < np.median(width[three])


def test_a_small_reader_learns_to_tell_one_from_two(mnist):
    xs, ys = pairs.examples(mnist["x_train"][:3000], mnist["y_train"][:3000], 3000, seed=4)
    net = convnet.train(
        xs[:2500], ys[:2500], epochs=6, batch=32, channels=(8, 16), hidden=32, heads=pairs.HEADS
    )
    left, right, _ = net.probabilities(xs[2500:])
    truth_one = ys[2500:, 1] == pairs.NONE
    said_one = right[:, pairs.NONE] > 0.5
    assert (said_one == truth_one).mean() >= 0.8  # always saying "two": ~0.7
    assert (left.argmax(1) == ys[2500:, 0]).mean() >= 0.5  # chance: 0.1


def _job(one, left_digit=3, right_digit=5, sure=0.99):
    left = np.full(10, (1 - sure) / 9)
    left[left_digit] = sure
    right = np.full(11, (1 - one) * (1 - sure) / 9)
    right[right_digit] = (1 - one) * sure
    right[pairs.NONE] = one
    raw = np.array([[0.1] * 10, [0.1] * 10, np.eye(10)[left_digit], np.eye(10)[right_digit]])
    return split.Job(
        None,
        [],
        0,
        (0, 0, 60, 40),
        0.95,
        0.6,
        [None, None],
        raw=raw,
        piece_pair=np.zeros(4),
        reader=(left, right),
        detector=0.5,
    )


def test_the_reader_undoes_a_cut_of_one_digit_and_cuts_a_kept_pair():
    settings = {"veto": 0.98, "rescue": 0.98, "confident": 0.9}
    assert pairs.decide(settings, _job(one=0.995), 0) is None  # sure of one: kept whole
    assert pairs.decide(settings, _job(one=0.5), 0) == 0  # unsure: the decision stands
    assert pairs.decide(settings, _job(one=0.001), None) == 1  # sure of two: the best cut
    assert pairs.decide(settings, _job(one=0.001, sure=0.6), None) is None  # misread: kept
    assert pairs.decide(settings, _job(one=0.5), None) is None
    # the detector must not rule a pair out
    assert pairs.decide({**settings, "detector_min": 0.6}, _job(one=0.001), None) is None
    # labels: the piece's opinion times the reader's
    p = np.full(10, 0.05)
    p[8] = 0.55
    out = pairs.combined(settings, p, [(_job(one=0.01).reader, 0)])
    assert out.argmax() == 3 and out.sum() == pytest.approx(1.0)
    assert pairs.combined(settings, p, []) is p


def test_a_wide_looped_two_the_reader_takes_for_one_digit_is_not_cut(mnist, shipped_model):
    # the split decision cuts this canvas "2" (a wide loop at its foot) in two; the reader's
    # best guess is one digit (P 0.89), which undid the cut only at 0.98 or more: "22", "27"
    two = mnist["x_train"][1165]
    assert mnist["y_train"][1165] == 2
    for seed in (0, 2, 4):
        assert shipped_model.recognize(canvas_png(two, np.random.default_rng(seed))).text == "2"


def test_a_run_of_three_is_cut_where_one_digit_is_left_alone():
    """``three_cut``: the lone piece must agree with the reader's end digit, and the other
    piece must hold two (the pair detector)."""
    left, right = np.eye(10)[2] * 0.9 + 0.01, np.append(np.eye(10)[7] * 0.9 + 0.01, 0.0)
    middle = np.append(np.eye(10)[4] * 0.9 + 0.01, 0.0)
    reading = (left, right, middle)
    assert pairs.three(reading) == pytest.approx(1.0) and pairs.three((left, right)) == 0.0
    assert pairs.holds_three({}, reading) and not pairs.holds_three({"three": 1.01}, reading)
    flat = np.full(10, 0.1)
    # cut 0: a "2" alone on the left, a pair on the right; cut 1: a "2" alone, but the rest
    # is no pair; cut 2: a "7" alone on the right, a pair on the left, read less surely
    raw = np.array([np.eye(10)[2], flat, np.eye(10)[2], flat, flat, np.eye(10)[7] * 0.6 + 0.04])
    piece_pair = np.array([0.1, 0.9, 0.1, 0.05, 0.9, 0.1])
    assert pairs.three_cut(reading, raw, piece_pair) == (0, 1)
    piece_pair[1] = 0.2  # the right piece of cut 0 no likelier a pair than cut 2's left
    assert pairs.three_cut(reading, raw, piece_pair) == (2, 0)


def test_the_shipped_reader_reads_touching_pairs_as_two_digits(shipped_model, mnist):
    assert shipped_model.pair_reader is not None
    rng = np.random.default_rng(8)
    x, y = mnist["x_test"], mnist["y_test"]
    idx = rng.integers(len(x), size=(40, 2))
    blobs = [touching_png(x[i], x[j], rng) for i, j in idx]
    readings = shipped_model.recognize_many(blobs)
    right = [r.text == f"{y[i]}{y[j]}" for r, (i, j) in zip(readings, idx, strict=True)]
    assert np.mean(right) >= 0.75
    for r in readings:
        if len(r.digits) == 2:
            assert r.digits[0].box[0] < r.digits[1].box[0]  # left to right, a box each


def test_a_reader_without_a_middle_head_loads_and_reads_no_run_of_three(model_copy, mnist):
    path = model_copy
    rng = np.random.default_rng(0)
    save_pair_reader(path, convnet.ConvNet.initial(rng, (4, 6), 12, pairs.SIZE, (10, 11)), {})
    model = load_model(path)
    assert model.pair_reader.heads == (10, 11)
    blob = touching_png(mnist["x_test"][0], mnist["x_test"][1], rng)
    (reading,) = pairs.read(model.pair_reader, [next(iter(_wide(blob)))])
    assert len(reading) == 2 and pairs.three(reading) == 0.0
    assert len(model.recognize(blob).digits) in (1, 2)


def _wide(blob):
    from recognizer.pipeline import extract_bytes

    return [crop for crop, _ in extract_bytes(blob).wide.values()]


def test_a_damaged_reader_file_is_refused_and_a_saved_one_loads(model_copy):
    path = model_copy
    net = convnet.ConvNet.initial(np.random.default_rng(0), (4, 6), 12, pairs.SIZE, pairs.HEADS)
    skops_before = path.read_bytes()
    save_pair_reader(path, net, {"veto": 0.9})
    assert path.read_bytes() == skops_before  # the SVC's file is left alone
    loaded = load_model(path)
    assert loaded.metadata["pair_reader"]["veto"] == 0.9
    np.testing.assert_array_equal(loaded.pair_reader.w4, net.w4)
    data = bytearray(pairs_path(path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    pairs_path(path).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_model(path)
    meta = json.loads(metadata_path(path).read_text())
    meta["pair_reader"]["sha256"] = sha256_file(pairs_path(path))
    metadata_path(path).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="readable"):
        load_model(path)


def test_a_digit_with_a_hyphen_stuck_to_it_is_one_wide_segment(mnist):
    from recognizer.pipeline import extract_bytes
    from recognizer.synth import dash_touching_png

    rng = np.random.default_rng(9)
    exs = [extract_bytes(dash_touching_png(mnist["x_test"][i], rng)) for i in range(20)]
    assert sum(len(ex.boxes) == 1 for ex in exs) >= 18  # the dash joined to its digit
    assert sum(bool(ex.wide) for ex in exs) >= 15


def test_a_piece_cut_again_never_repeats_a_digit_of_the_image(shipped_model, mnist):
    """A printed "km" after three digits: the reader has its segment cut, and the cut's left
    piece spans the whole segment (the path leaves the right piece inside it). Cut again,
    that piece gave the same two digits, so the right one was read twice, on one box (13 of
    6,000 such lines: "469" + "km" read "469611")."""
    import bench.unseen as unseen

    x = np.concatenate([mnist["x_train"], mnist["x_test"]])
    unseen._DATA.update(x=x, y=np.concatenate([mnist["y_train"], mnist["y_test"]]))
    blobs = []
    for seed, k in ((24, 90), (26, 68), (27, 32), (27, 77)):
        rng = np.random.default_rng(seed)
        for _ in range(k + 1):
            i = int(rng.integers(len(x)))
            blob, _text = unseen.unit_after(x[i], rng)
        blobs.append(blob)
    for r in shipped_model.recognize_many(blobs):
        boxes = [d.box for d in r.digits]
        assert len(set(boxes)) == len(boxes), (r.text, boxes)
