import cv2
import numpy as np
from recognizer_testutil import first_of

from recognizer.normalize import TARGET_WIDTH, WORK, normalize_digit, stroke_width
from recognizer.synth import canvas_png, multi_digit_canvas, render_stroke


def _com(img):
    m = cv2.moments(img.astype(np.float32))
    return m["m10"] / m["m00"], m["m01"] / m["m00"]


def test_normalized_like_mnist(mnist):
    out = normalize_digit(first_of(mnist, 0))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    ys, xs = np.nonzero(out)
    assert max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 <= 21
    cx, cy = _com(out)
    assert abs(cx - 13.5) < 1 and abs(cy - 13.5) < 1


def test_stroke_width_normalized(mnist):
    d = first_of(mnist, 7)
    thin = render_stroke(d, 10, 12)
    thick = render_stroke(d, 10, 34)
    a = normalize_digit((thin * 255).astype(np.uint8), debug=True)
    b = normalize_digit((thick * 255).astype(np.uint8), debug=True)
    assert b[1]["width"] > 1.5 * a[1]["width"]  # very different input widths ...
    wa = stroke_width((cv2.resize(a[0], (WORK, WORK)) > 127).astype(np.uint8))
    wb = stroke_width((cv2.resize(b[0], (WORK, WORK)) > 127).astype(np.uint8))
    assert abs(wa - wb) < 0.25 * TARGET_WIDTH  # ... similar normalized widths
    assert np.abs(a[0].astype(int) - b[0].astype(int)).mean() < 25


def test_empty_crop():
    assert normalize_digit(np.zeros((5, 5), np.uint8)).sum() == 0


def test_synth_canvas_and_multi(mnist):
    rng = np.random.default_rng(3)
    im = cv2.imdecode(
        np.frombuffer(canvas_png(first_of(mnist, 1), rng), np.uint8), cv2.IMREAD_UNCHANGED
    )
    assert im.shape == (400, 400, 4) and im[..., 3].min() == 0 and im[..., 3].max() > 150
    data, boxes = multi_digit_canvas([first_of(mnist, k) for k in (2, 0, 2, 6)], rng)
    assert len(boxes) == 4 and all(boxes[i][0] < boxes[i + 1][0] for i in range(3))
