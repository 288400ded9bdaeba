"""MNIST-style normalization of one digit crop, including stroke-width normalization.

crop -> rescale so the box's longer side is WORK px -> binarize -> estimate stroke width from the
distance transform -> grow/shrink strokes to TARGET_WIDTH (sub-pixel, anti-aliased) -> re-crop ->
INTER_AREA into 20x20 keeping the aspect ratio -> center of mass at the center of 28x28.
"""

from __future__ import annotations

from typing import Any, Literal, overload

import cv2
import numpy as np

WORK = 64  # working resolution: longer side of the box
PAD = 12  # room for growing strokes
#: target stroke width at WORK resolution (about the median of MNIST digits)
TARGET_WIDTH = 8.3
#: never erode away more than this fraction of the estimated width
MAX_ERODE_FRACTION = 0.3


def stroke_width(binary: np.ndarray, dt_in: np.ndarray | None = None) -> float:
    """Mean stroke width of a 0/1 image (a stroke of width w has mean inside distance w/4 + 1/2)."""
    if dt_in is None:
        dt_in = cv2.distanceTransform(binary, cv2.DIST_L2, cv2.DIST_MASK_5)
    n = int(np.count_nonzero(binary))
    if n == 0:
        return 0.0
    return max(1.0, 4.0 * (float(dt_in.sum()) / n - 0.5))


def _clip(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``np.clip(a, lo, hi)`` in place, without np.clip's per-call overhead (same values)."""
    np.maximum(a, lo, out=a)
    return np.minimum(a, hi, out=a)


def _clip01(a: np.ndarray) -> np.ndarray:
    return _clip(a, 0.0, 1.0)


@overload
def normalize_digit(
    crop: np.ndarray, target_width: float | None = ..., debug: Literal[False] = ...
) -> np.ndarray: ...
@overload
def normalize_digit(
    crop: np.ndarray, target_width: float | None = ..., *, debug: Literal[True]
) -> tuple[np.ndarray, dict[str, Any]]: ...


def normalize_digit(
    crop: np.ndarray, target_width: float | None = TARGET_WIDTH, debug: bool = False
) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]:
    """Normalize a white-on-black uint8 crop to a 28x28 uint8 MNIST-like digit.

    Returns the 28x28 image, or (image, steps) with ``debug=True`` where ``steps`` is a dict of
    intermediate images (float or uint8) for display."""
    steps: dict[str, Any] = {}  # filled only with debug=True
    h, w = crop.shape
    out = np.zeros((28, 28), np.uint8)
    if h == 0 or w == 0 or int(crop.max()) == 0:
        return (out, steps) if debug else out
    s = WORK / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    interp = cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA
    r = cv2.resize(crop, (nw, nh), interpolation=interp)
    r = cv2.copyMakeBorder(r, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=0)
    # r > thr as 0/1 (OpenCV compares uint8 pixels with floor(thr): the same test)
    thr = 0.45 * cv2.minMaxLoc(r)[1]
    _, b = cv2.threshold(r, thr, 1, cv2.THRESH_BINARY)
    dt_in = cv2.distanceTransform(b, cv2.DIST_L2, cv2.DIST_MASK_5)
    width = stroke_width(b, dt_in)
    if debug:
        steps["rescaled"] = r
        steps["binary"] = b * 255
        steps["width"] = width
    if target_width is None:
        soft = b.astype(np.float32)
    else:
        d = (target_width - width) / 2.0
        d = max(d, -MAX_ERODE_FRACTION * width)
        if d >= 0:
            _, outside = cv2.threshold(r, thr, 1, cv2.THRESH_BINARY_INV)  # 1 - b
            dt_out = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_5)
            soft = _clip01(np.subtract(np.float32(d + 1.0), dt_out, out=dt_out))
        else:
            soft = _clip01(np.add(dt_in, np.float32(d), out=dt_in))
    if debug:
        steps["stroke"] = (soft * 255).astype(np.uint8)
    x, y, bw, bh = cv2.boundingRect((soft > 0).view(np.uint8))
    if bw == 0 or bh == 0:
        return (out, steps) if debug else out
    soft = soft[y : y + bh, x : x + bw]
    s2 = 20.0 / max(bw, bh)
    fw, fh = max(1, round(bw * s2)), max(1, round(bh * s2))
    small = cv2.resize(soft, (fw, fh), interpolation=cv2.INTER_AREA)
    small *= 255.0
    small += 0.5
    small = _clip(small, 0.0, 255.0).astype(np.uint8)
    if debug:
        steps["fit20"] = small
    m = cv2.moments(small)
    if m["m00"] > 0:
        cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
    else:
        cx, cy = (fw - 1) / 2.0, (fh - 1) / 2.0
    ox, oy = int(round(13.5 - cx)), int(round(13.5 - cy))
    # paste with clipping
    sx0, sy0 = max(0, -ox), max(0, -oy)
    dx0, dy0 = max(0, ox), max(0, oy)
    cw, ch = min(fw - sx0, 28 - dx0), min(fh - sy0, 28 - dy0)
    if cw > 0 and ch > 0:
        out[dy0 : dy0 + ch, dx0 : dx0 + cw] = small[sy0 : sy0 + ch, sx0 : sx0 + cw]
    return (out, steps) if debug else out
