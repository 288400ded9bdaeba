"""Candidate cuts of touching digits (issue 12, second round): non-straight paths, overlap,
and how a cut is chosen. Real images and the shipped model, no mocks."""

import cv2
import numpy as np

from recognizer import split
from recognizer.synth import touching_png


def _slanted_pair() -> np.ndarray:
    """Two slanted bars (white on black), 6 px apart, slanting 13 px: no straight column
    parts them, a path that follows the slant does."""
    crop = np.zeros((40, 44), np.uint8)
    for y in range(40):
        crop[y, 4 + y // 3 : 10 + y // 3] = 255  # left bar leans right
        crop[y, 16 + y // 3 : 22 + y // 3] = 255  # right bar, same slant, 6 px away
    crop[30:33, 18:27] = 255  # they touch near the bottom
    return crop


def test_drop_fall_slides_around_ink_and_stays_in_its_band():
    ink = _slanted_pair() > 0
    path = split.drop_fall(ink, 13, 8)
    assert path.shape == (40,)
    assert np.all(np.abs(np.diff(path)) <= 3)
    assert np.all((path >= 5) & (path <= 21))
    # above the bridge, the drop falls through the background between the bars
    assert not ink[np.arange(29), path[:29]].any()
    rise = split.drop_fall(ink[::-1], 26, 8)[::-1]
    assert not ink[np.arange(34, 40), rise[34:]].any()
    # a drop that starts on ink moves to the nearest background of its row first
    assert not ink[0, split.drop_fall(ink, 7, 4)[0]]


def test_a_slanted_gap_is_cut_by_a_curved_path_not_a_straight_one():
    crop = _slanted_pair()
    cs = split.cuts(crop, (0, 0, 44, 40))
    kinds = {c.kind for c in cs}
    assert {"straight", "seam", "drop", "rise"} <= kinds
    assert {c.overlap for c in cs} == set(split.OVERLAPS)

    def clean(c):  # each piece about one whole bar: full height, a bar's width (6 + 13 px)
        (ax, _, aw, ah), (bx, _, bw, bh) = c.boxes
        return ah == bh == 40 and aw <= 20 and bw <= 20 and ax == 4

    assert any(clean(c) for c in cs if c.kind != "straight")
    assert not any(clean(c) for c in cs if c.kind == "straight" and c.overlap == 0)


def test_overlap_lets_both_pieces_keep_the_shared_stroke():
    crop = np.zeros((30, 40), np.uint8)
    crop[3:27, 4:10] = 255
    crop[3:27, 30:36] = 255
    crop[12:16, 8:32] = 255  # a shared bar
    c0 = [c for c in split.cuts(crop, (0, 0, 40, 30)) if c.kind == "straight" and c.overlap == 0]
    c2 = [c for c in split.cuts(crop, (0, 0, 40, 30)) if c.kind == "straight" and c.overlap > 0]
    assert c0 and c2
    w0 = {c.column: c.boxes[0][2] + c.boxes[1][2] for c in c0}
    w2 = {c.column: c.boxes[0][2] + c.boxes[1][2] for c in c2}
    shared = [col for col in w0 if col in w2]
    assert shared and all(w2[col] > w0[col] for col in shared)


def test_cut_rank_prefers_pieces_that_do_not_still_look_like_a_pair():
    p = np.array([0.99, 0.99])
    rank = split.cut_rank(p, p, np.array([0.0, 0.95]), np.array([0.0, 0.0]))
    assert rank[0] > rank[1]
    # and otherwise the more confident reading
    rank = split.cut_rank(np.array([0.6, 0.99]), p, np.zeros(2), np.zeros(2))
    assert rank[1] > rank[0]


def test_touching_pairs_read_right_in_most_cases(mnist, shipped_model):
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(29)
    n, right = 60, 0
    for k in range(n):
        i, j = (2 * k) % len(x), (2 * k + 1) % len(x)
        r = shipped_model.recognize(touching_png(x[i], x[j], rng))
        right += r.text == f"{y[i]}{y[j]}"
    assert right >= 0.7 * n


def test_a_lone_28x28_digit_skips_the_touching_check_a_bigger_one_does_not():
    from recognizer.pipeline import SMALL_SIDE, extract_bytes

    wide = np.zeros((28, 28), np.uint8)
    wide[6:22, 3:25] = 255  # a wide blob: would be asked "one digit or two?" if it were big
    wide[10:18, 7:21] = 0
    small = cv2.imencode(".png", 255 - wide)[1].tobytes()
    assert max(wide.shape) <= SMALL_SIDE
    assert extract_bytes(small).wide == {}
    big = cv2.resize(255 - wide, (84, 84), interpolation=cv2.INTER_NEAREST)
    ex = extract_bytes(cv2.imencode(".png", big)[1].tobytes())
    assert len(ex.digits) == 1 and 0 in ex.wide


def test_the_pair_detector_reads_the_same_with_the_classifiers_features(mnist, shipped_model):
    from recognizer import features as F

    digits = mnist["x_test"][:20]
    aspects = np.linspace(0.8, 1.6, 20)
    params = shipped_model.metadata["touching"]
    a = split.pair_probability(params, digits, aspects)
    b = split.pair_probability(params, digits, aspects, F.extract(digits))
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    _, _, _, feats = shipped_model._predict(digits, with_features=True)
    np.testing.assert_allclose(feats, F.extract(digits), rtol=1e-5, atol=1e-6)


def _accept(threshold: float) -> dict:
    """A split decision that reads only the detector's log-odds (the first feature)."""
    n = 19
    return {
        "mean": [0.0] * n,
        "scale": [1.0] * n,
        "coef": [1.0] + [0.0] * (n - 1),
        "intercept": 0.0,
        "threshold": threshold,
    }


def _cuts(n: int) -> list[split.Cut]:
    boxes = ((0, 0, 28, 40), (30, 0, 28, 40))
    return [split.Cut(30, 0.1, boxes, np.zeros((2, 28, 28), np.uint8)) for _ in range(n)]


def test_choose_cut_takes_the_best_ranked_cut_when_the_learned_decision_says_split():
    raw = np.full((4, 10), 0.01)
    raw[0, 3] = raw[1, 5] = 0.95  # cut 0: "35", both pieces sure
    raw[2, 3] = raw[3, 5] = 0.7  # cut 1: the same, less sure
    pair, cs = np.zeros(4), _cuts(2)
    box = (0, 0, 60, 40)
    params = {"accept": _accept(2.0)}
    assert split.choose_cut(params, cs, box, raw, pair, 0.99, 0.5) == 0  # log-odds 4.6 > 2
    assert split.choose_cut(params, cs, box, raw, pair, 0.8, 0.5) is None  # 1.4 < 2
    # a piece read below MIN_PIECE_P is never taken, whatever the decision says
    raw[0, 3] = raw[2, 3] = 0.4
    assert split.choose_cut({"accept": _accept(-99.0)}, cs, box, raw, pair, 0.99, 0.5) is None


def test_choose_cut_without_a_learned_decision_uses_split_score():
    raw = np.full((2, 10), 0.005)
    raw[0, 1] = raw[1, 7] = 0.98
    pair, box, cs = np.zeros(2), (0, 0, 60, 40), _cuts(1)
    expect = split.split_score(0.999, 0.6, 0.98, 0.98) > 0
    assert (split.choose_cut({}, cs, box, raw, pair, 0.999, 0.6) == 0) == expect
    assert split.choose_cut({}, cs, box, raw, pair, 0.5, 0.9999) is None


def test_accept_features_are_finite_at_the_extremes():
    raw = np.zeros((2, 10))
    raw[0, 0] = 1.0
    f = split.accept_features(1.0, 0.0, raw, np.array([1.0, 0.0]), -30.0, _cuts(1)[0], (0, 0, 9, 3))
    assert len(f) == 19 and np.all(np.isfinite(f))


def test_the_shipped_split_decision_was_learned_and_keeps_single_digits_whole(mnist, shipped_model):
    """The shipped model's decision (``digits calibrate``) splits few of the singles it was
    fitted on, and on committed test digits drawn with a thick pen (the singles most often
    taken for pairs), at most one in a hundred is read as two digits."""
    from recognizer.synth import pen_png

    accept = shipped_model.metadata["touching"]["accept"]
    assert accept["fit_singles_split"] <= 0.001
    assert accept["fit_pairs_split_right"] > 0.7
    x = mnist["x_test"]
    rng = np.random.default_rng(31)
    blobs = [pen_png(x[i], rng, float(rng.uniform(0.2, 0.28))) for i in range(100)]
    texts = [r.text for r in shipped_model.recognize_many(blobs)]
    assert sum(len(t) > 1 for t in texts) <= 1


def _seam_reference(ink: np.ndarray, column: int, band: int) -> np.ndarray:
    """The least-ink path written plainly (argmin over stacked predecessors per row)."""
    h, w = ink.shape
    lo, hi = max(0, column - band), min(w, column + band + 1)
    acc = ink[:, lo:hi].astype(np.float64) * 10.0 + 1.0
    acc += 0.02 * np.abs(np.arange(lo, hi) - column)[None, :]
    back = np.zeros(acc.shape, np.int8)
    for y in range(1, h):
        prev = acc[y - 1]
        stack = np.vstack([np.r_[np.inf, prev[:-1]], prev, np.r_[prev[1:], np.inf]])
        k = stack.argmin(0)
        acc[y] += stack[k, np.arange(len(prev))]
        back[y] = k - 1
    xs = np.empty(h, np.int64)
    xs[-1] = int(acc[-1].argmin())
    for y in range(h - 1, 0, -1):
        xs[y - 1] = xs[y] + back[y, xs[y]]
    return xs + lo


def test_seam_is_the_least_ink_path_ties_included():
    """The row loop's preallocated predecessors give the same path as the plain version, on
    binary ink (many ties) at the edges of the image and in the middle."""
    rng = np.random.default_rng(3)
    for _ in range(40):
        h, w = int(rng.integers(5, 60)), int(rng.integers(3, 50))
        ink = rng.random((h, w)) < rng.uniform(0.1, 0.7)
        column = int(rng.integers(0, w))
        band = int(rng.integers(1, 12))
        assert (split.seam(ink, column, band) == _seam_reference(ink, column, band)).all()


def test_a_tall_crop_is_cut_at_cut_height_with_boxes_in_its_own_pixels():
    """A 400x400 drawing's wide digit is cut at ``CUT_HEIGHT`` (cheap); the cuts' boxes and
    columns come back in the crop's working pixels and agree with cutting it at full size."""
    small = _slanted_pair()
    f = 5
    tall = cv2.resize(small, (44 * f, 40 * f), interpolation=cv2.INTER_NEAREST)
    box = (100, 50, 44 * f, 40 * f)
    cs = split.cuts(tall, box)
    assert cs and 40 * f > split.CUT_HEIGHT
    for c in cs:
        assert 0 <= c.column < 44 * f
        for x, y, w, h in c.boxes:
            assert box[0] <= x and x + w <= box[0] + box[2] + 1
            assert box[1] <= y and y + h <= box[1] + box[3] + 1
    # the left bar alone, full height, is one of the left pieces, as at full size
    lefts = {(b[0][0], b[0][2], b[0][3]) for b in (c.boxes for c in cs)}
    assert any(
        abs(x - 100 - 4 * f) <= f and abs(h - 40 * f) <= f and w <= 20 * f for x, w, h in lefts
    )
    # the same pieces are never offered twice
    keys = [c.digits.tobytes() for c in cs]
    assert len(keys) == len(set(keys))


def test_a_sure_pair_gets_drop_falls_started_beside_each_column_too():
    crop = _slanted_pair()
    few = split.cuts(crop, (0, 0, 44, 40))
    many = split.cuts(crop, (0, 0, 44, 40), more=True)
    key = [(c.kind, c.column, c.overlap, c.boxes) for c in few]
    # the cheap set comes first, unchanged; the extra ones are drop-falls only
    assert [(c.kind, c.column, c.overlap, c.boxes) for c in many[: len(few)]] == key
    assert len(many) > len(few)
    assert {c.kind for c in many[len(few) :]} <= {"drop", "rise"}


def test_a_narrow_segment_is_offered_cuts_only_when_the_classifier_is_unsure():
    """Two touching digits with a "1" among them are often narrower than 0.75 x their height:
    from ``ASPECT_MIN`` (0.55) they are asked too, but only when the whole is not read surely,
    and the pair detector is fitted on the segments it was fitted on before (0.75 and wider)."""
    assert split.ASPECT_MIN <= 0.55 < 0.75 <= split.FIT_ASPECT_MIN
    assert split.wants_cut((0, 0, 62, 100), 0.95)
    assert not split.wants_cut((0, 0, 62, 100), 0.99995)
    # narrow: only when the whole is read below NARROW_CONFIDENCE (a drawn single digit that
    # narrow, read at 0.99, is not cut: it would cost the drawing 20-50 ms)
    assert not split.wants_cut((0, 0, 62, 100), 0.99)
    assert split.wants_cut((0, 0, 80, 100), 0.99)
    assert not split.wants_cut((0, 0, 50, 100), 0.5)
    assert split.wants_cut((0, 0, 110, 100), 0.99995)


def _narrow_pairs_with_a_one(x, y, n, rng):
    """``n`` touching pairs of committed test digits, one of them a "1", whose one segment is
    narrower than 0.75 x its height, with their texts."""
    from recognizer.pipeline import extract_bytes

    ones = np.nonzero(y == 1)[0]
    out = []
    k = 0
    while len(out) < n and k < 40 * n:
        i = int(ones[k % len(ones)])
        j = int(rng.integers(len(x)))
        pair = (i, j) if k % 2 else (j, i)
        k += 1
        blob = touching_png(x[pair[0]], x[pair[1]], rng)
        ex = extract_bytes(blob)
        if len(ex.boxes) == 1 and ex.boxes[0][2] < 0.75 * ex.boxes[0][3]:
            out.append((blob, f"{y[pair[0]]}{y[pair[1]]}"))
    return out


def test_narrow_touching_pairs_with_a_one_are_split(mnist, shipped_model):
    x, y = mnist["x_test"], mnist["y_test"]
    pairs = _narrow_pairs_with_a_one(x, y, 40, np.random.default_rng(41))
    assert len(pairs) == 40
    texts = [r.text for r in shipped_model.recognize_many([b for b, _ in pairs])]
    right = sum(t == u for t, (_, u) in zip(texts, pairs, strict=True))
    assert right >= 8


def test_the_split_decision_is_fitted_on_the_segments_the_detector_was_fitted_on(
    mnist, shipped_model
):
    """``digits calibrate`` fits the split decision on segments at least ``FIT_ASPECT_MIN``
    wide, as the detector; narrow pairs (asked since ``ASPECT_MIN`` 0.55) are left out of the
    fit: with them in, it kept more of the widest pairs whole."""
    from recognizer.calibrate import split_examples

    x, y = mnist["x_test"], mnist["y_test"]
    narrow = _narrow_pairs_with_a_one(x, y, 20, np.random.default_rng(41))
    rows, _, _ = split_examples(shipped_model, [b for b, _ in narrow], [t for _, t in narrow], 0.5)
    assert len(rows) == 0
    rng = np.random.default_rng(5)
    wide = [touching_png(x[2 * k], x[2 * k + 1], rng) for k in range(20)]
    texts = [f"{y[2 * k]}{y[2 * k + 1]}" for k in range(20)]
    rows, right, _ = split_examples(shipped_model, wide, texts, 0.5)
    assert len(rows) >= 10 and right.sum() >= 5


def _scorer(valid_right: float) -> dict:
    """A piece scorer whose log-odds is ``valid_right`` times the "which side" feature (the
    right piece's validity), so that the second-best cut by ``cut_rank`` can be preferred."""
    d = split.piece_features(
        np.zeros((2, 3)), np.full((2, 10), 0.1), np.zeros(2), _cuts(1), (0, 0, 60, 40)
    ).shape[1]
    w1 = np.zeros((d, 1))
    w1[-3, 0] = 1.0  # "which side": 0 left, 1 right
    return {
        "mean": [0.0] * d,
        "scale": [1.0] * d,
        "w1": w1.tolist(),
        "b1": [0.0],
        "w2": [valid_right],
        "b2": 0.0,
        "weight": 1.0,
    }


def test_the_piece_scorer_picks_the_cut_but_the_decision_still_reads_the_best_by_cut_rank():
    raw = np.full((4, 10), 0.01)
    raw[0, 6] = raw[1, 2] = 0.95  # cut 0: "62", ranked first by cut_rank
    raw[2, 1] = raw[3, 2] = 0.9  # cut 1: "12"
    pair, cs, box = np.zeros(4), _cuts(2), (0, 0, 60, 40)
    valid = np.array([-5.0, 0.0, 0.0, 0.0])  # cut 0's left piece is not one whole digit
    params = {"accept": _accept(2.0)}
    assert split.choose_cut(params, cs, box, raw, pair, 0.99, 0.5) == 0
    assert split.choose_cut(params, cs, box, raw, pair, 0.99, 0.5, valid) == 0  # no scorer
    params["pieces"] = {"weight": 0.5}
    assert split.choose_cut(params, cs, box, raw, pair, 0.99, 0.5, valid) == 1
    # whether to split at all is decided on cut_rank's best as before
    assert split.choose_cut(params, cs, box, raw, pair, 0.8, 0.5, valid) is None
    # a preferred cut with a piece read below MIN_PIECE_P falls back to cut_rank's best
    raw[2, 1] = 0.5
    assert split.choose_cut(params, cs, box, raw, pair, 0.99, 0.5, valid) == 0


def test_piece_validity_is_a_log_probability_per_piece():
    cs, box = _cuts(3), (0, 0, 60, 40)
    x = split.piece_features(np.ones((6, 3)), np.full((6, 10), 0.1), np.full(6, 0.5), cs, box)
    assert x.shape == (6, 3 + 10 + 5 + 1) and np.all(np.isfinite(x))
    v = split.piece_validity(_scorer(4.0), x)
    assert v.shape == (6,) and np.all(v <= 0)
    assert np.all(v[1::2] > v[0::2])  # the right pieces score higher with this scorer


#: of 400 touching pairs of the committed test digits (seed 61), the ones the piece scorer
#: reads differently: 14 read right only with it, 8 only without it
_SCORER_GAINED = (13, 46, 109, 169, 181, 211, 212, 239, 284, 312, 345, 356, 373, 377)
_SCORER_LOST = (18, 80, 89, 171, 172, 251, 347, 358)


def test_the_shipped_piece_scorer_reads_more_touching_pairs_right(mnist, shipped_model):
    """``touching["pieces"]`` (``digits calibrate``): a piece holding part of its neighbour
    ("12" read "62") ranks lower; on the pairs where it changes the reading, it gains more
    than it loses."""
    import copy

    from recognizer.model import Model

    assert "pieces" in shipped_model.metadata["touching"]
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(61)
    blobs, texts = [], []
    for _ in range(400):
        i, j = rng.integers(len(x), size=2)
        blobs.append(touching_png(x[i], x[j], rng))
        texts.append(f"{y[i]}{y[j]}")
    pick = sorted(_SCORER_GAINED + _SCORER_LOST)
    without = Model(
        metadata=copy.deepcopy(shipped_model.metadata),
        kernel=shipped_model._kernel,
        path=shipped_model._path,
    )
    del without.metadata["touching"]["pieces"]

    def right(model: Model) -> int:
        got = model.recognize_many([blobs[k] for k in pick])
        return sum(r.text == texts[k] for r, k in zip(got, pick, strict=True))

    assert right(shipped_model) >= right(without) + 4
