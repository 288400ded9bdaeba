"""Helpers shared by the recognizer tests (module name kept unique across the test tree)."""

import cv2
import numpy as np


def first_of(mnist, label, k=0):
    """The k-th MNIST test digit with this label."""
    idx = np.nonzero(mnist["y_test"] == label)[0]
    return mnist["x_test"][idx[k]]


def paper_image(digits, scale=4, gap=30, margin=20, dark_on_light=True):
    """Digits (28x28 white on black) scaled up side by side on one gray image.

    Returns (image, boxes) where boxes are the tight ink boxes in image pixels."""
    ups = []
    for d in digits:
        ys, xs = np.nonzero(d > 30)
        crop = d[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        ups.append(cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC))
    h = max(u.shape[0] for u in ups) + 2 * margin
    w = sum(u.shape[1] for u in ups) + gap * (len(ups) - 1) + 2 * margin
    img = np.zeros((h, w), np.uint8)
    x = margin
    boxes = []
    for u in ups:
        y = margin + (h - 2 * margin - u.shape[0]) // 2
        img[y : y + u.shape[0], x : x + u.shape[1]] = u
        boxes.append((x, y, u.shape[1], u.shape[0]))
        x += u.shape[1] + gap
    if dark_on_light:
        img = 255 - img
    return img, boxes


def png(img) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()
