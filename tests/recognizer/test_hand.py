"""One writer's hand across a string: where a "7" is crossed, a "7" with no bar is a "1"
(``recognizer.hand``)."""

import numpy as np
import pytest

from recognizer import hand
from recognizer.synth import paper_sample
from recognizer.train import writer_form


def _first(y: np.ndarray, label: int, n: int) -> np.ndarray:
    return np.nonzero(y == label)[0][:n]


def test_a_crossed_seven_has_a_bar_and_a_flagged_one_or_a_plain_seven_none(mnist):
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(5)
    sevens, ones = _first(y, 7, 100), _first(y, 1, 100)
    crossed = [hand.bar(writer_form(x[i], 7, rng)) for i in sevens]
    flagged = [hand.bar(writer_form(x[i], 1, rng)) for i in ones]
    plain = [hand.bar(x[i]) for i in sevens]
    # (on these 100 of each: 89%, 11% and 31% -- MNIST's writers cross many of their 7s)
    assert np.mean(np.array(crossed) >= hand.BAR) >= 0.85
    assert np.mean(np.array(flagged) >= hand.BAR) <= 0.2
    assert np.median(plain) < hand.BAR <= np.median(crossed)
    assert hand.bar(np.zeros((28, 28), np.uint8)) == 0


def test_only_a_seven_with_no_bar_that_could_be_a_one_is_read_one():
    stick = np.zeros((28, 28), np.uint8)
    stick[4:24, 13:16] = 255
    crossed = stick.copy()
    crossed[13:15, 7:22] = 255
    p = np.full(10, 0.01)
    p[7], p[1] = 0.8, 0.12  # P(1) > UNCROSSED x P(7)
    q = hand.as_one(p / p.sum(), stick)
    assert q is not None and int(np.argmax(q)) == 1 and q.sum() == pytest.approx(1.0)
    assert hand.as_one(p / p.sum(), crossed) is None  # it is crossed: a "7"
    p[1] = 0.02  # the classifier is surer of the "7" than the hand's prior
    assert hand.as_one(p / p.sum(), stick) is None
    p[1], p[7], p[9] = 0.3, 0.2, 0.5  # read "9": left alone
    assert hand.as_one(p / p.sum(), stick) is None


def test_in_a_hand_that_crosses_its_sevens_a_seven_with_no_bar_is_a_one(
    mnist, shipped_model, monkeypatch
):
    """Strings of 3-5 digits in a continental hand (every "1" flagged, every "7" crossed).
    Without the hand's reading 260 of these 300 were read right, most failures a flagged "1"
    read "7"; with it 271, and no string read right before is read wrong."""
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(41)
    samples = [paper_sample("continental", x, y, rng) for _ in range(300)]
    truth = [t for _, t in samples]
    blobs = [png for png, _ in samples]
    with_hand = [r.text for r in shipped_model.recognize_many(blobs)]
    monkeypatch.setattr(hand, "UNCROSSED", 1.0)  # the hand's prior off: a "7" stays a "7"
    without = [r.text for r in shipped_model.recognize_many(blobs)]
    right = [t == s for t, s in zip(with_hand, truth, strict=True)]
    right_before = [t == s for t, s in zip(without, truth, strict=True)]
    assert sum(right) >= sum(right_before) + 8, (sum(right), sum(right_before))
    assert not any(b and not a for a, b in zip(right, right_before, strict=True))
