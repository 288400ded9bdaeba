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


def _normalize_whole_image(crop, target_width=TARGET_WIDTH):
    """normalize_digit as it was before the distance transforms were cut down to the strokes'
    part (``_inside_distance``, ``_grown``): both transforms on the whole padded image."""
    from recognizer.normalize import MAX_ERODE_FRACTION, PAD, SHARP_MAX_SIDE, _clip, _clip01

    out = np.zeros((28, 28), np.uint8)
    h, w = crop.shape
    if h == 0 or w == 0 or int(crop.max()) == 0:
        return out
    s = WORK / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    up = cv2.INTER_CUBIC if max(h, w) <= SHARP_MAX_SIDE else cv2.INTER_LINEAR
    r = cv2.resize(crop, (nw, nh), interpolation=up if s > 1 else cv2.INTER_AREA)
    r = cv2.copyMakeBorder(r, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=0)
    thr = 0.45 * cv2.minMaxLoc(r)[1]
    _, b = cv2.threshold(r, thr, 1, cv2.THRESH_BINARY)
    dt_in = cv2.distanceTransform(b, cv2.DIST_L2, cv2.DIST_MASK_5)
    width = stroke_width(b, dt_in)
    d = max((target_width - width) / 2.0, -MAX_ERODE_FRACTION * width)
    if d >= 0:
        dt_out = cv2.distanceTransform(1 - b, cv2.DIST_L2, cv2.DIST_MASK_5)
        soft = _clip01(np.float32(d + 1.0) - dt_out)
    else:
        soft = _clip01(dt_in + np.float32(d))
    x, y, bw, bh = cv2.boundingRect((soft > 0).view(np.uint8))
    if bw == 0 or bh == 0:
        return out
    s2 = 20.0 / max(bw, bh)
    fw, fh = max(1, round(bw * s2)), max(1, round(bh * s2))
    small = cv2.resize(soft[y : y + bh, x : x + bw], (fw, fh), interpolation=cv2.INTER_AREA)
    small = _clip(small * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)
    m = cv2.moments(small)
    cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
    ox, oy = int(round(13.5 - cx)), int(round(13.5 - cy))
    sx0, sy0, dx0, dy0 = max(0, -ox), max(0, -oy), max(0, ox), max(0, oy)
    cw, ch = min(fw - sx0, 28 - dx0), min(fh - sy0, 28 - dy0)
    if cw > 0 and ch > 0:
        out[dy0 : dy0 + ch, dx0 : dx0 + cw] = small[sy0 : sy0 + ch, sx0 : sx0 + cw]
    return out


def _odd_small_images(mnist):
    """28x28 MNIST digits and odd small images: dark on light, blank, noise, two blobs,
    16x16, 32x32, a stretched digit, speckles, a faint digit."""
    rng = np.random.default_rng(20)
    x = mnist["x_test"][:300]
    out = [a for a in x] + [255 - a for a in x[:50]]
    out += [np.zeros((28, 28), np.uint8), np.full((28, 28), 255, np.uint8)]
    out += [rng.integers(0, 256, (h, w), dtype=np.uint8) for h, w in [(28, 28), (16, 16), (32, 32)]]
    two = np.zeros((28, 28), np.uint8)
    cv2.circle(two, (8, 14), 5, 255, 2)
    cv2.circle(two, (20, 14), 5, 255, 2)
    out.append(two)
    out += [cv2.resize(a, (16, 16), interpolation=cv2.INTER_AREA) for a in x[:20]]
    out += [cv2.resize(a, (32, 32), interpolation=cv2.INTER_LINEAR) for a in x[20:40]]
    out += [cv2.resize(a[4:24, 6:22], (28, 28)) for a in x[40:60]]  # fills its frame
    out += [(a // 6).astype(np.uint8) for a in x[60:70]]
    spots = (rng.random((40, 28, 28)) < 0.03).astype(np.uint8) * 255
    out += [np.maximum(a, s) for a, s in zip(x[70:110], spots, strict=True)]
    return out


def test_cut_down_distance_transforms_change_nothing(mnist):
    """The distance transforms on the strokes' part alone give the very digits the whole-image
    transforms gave (the readings depend on every pixel), for MNIST digits and odd small
    images, at the usual stroke width and at thin and thick targets."""
    from recognizer.pipeline import extract_gray

    crops = []
    for img in _odd_small_images(mnist):
        for ex in (extract_gray(img)[0], extract_gray(255 - img)[0]):
            crops += [cv2.resize(d, (d.shape[1] * 3, d.shape[0] * 2)) for d in ex.digits[:1]]
            crops += list(ex.digits)
    crops += [img for img in _odd_small_images(mnist)]
    assert len(crops) > 1000
    for target in (TARGET_WIDTH, 3.0, 14.0):
        for c in crops:
            assert np.array_equal(normalize_digit(c, target), _normalize_whole_image(c, target))
