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
#: a crop at most this many px on its longer side (a low-resolution scan's digit: MNIST's
#: are 20) is enlarged by cubic interpolation, not linear: its strokes keep sharper edges
#: through the 4x and more to ``WORK``, and digits 10-16 px tall read 0.3-1 point better
SHARP_MAX_SIDE = 16


def stroke_width(binary: np.ndarray, dt_in: np.ndarray | None = None) -> float:
    """Mean stroke width of a 0/1 image (a stroke of width w has mean inside distance w/4 + 1/2)."""
    if dt_in is None:
        dt_in = cv2.distanceTransform(binary, cv2.DIST_L2, cv2.DIST_MASK_5)
    n = cv2.countNonZero(binary)
    if n == 0:
        return 0.0
    return max(1.0, 4.0 * (float(dt_in.sum()) / n - 0.5))


def _clip(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``np.clip(a, lo, hi)`` in place, without np.clip's per-call overhead (same values)."""
    np.maximum(a, lo, out=a)
    return np.minimum(a, hi, out=a)


def _clip01(a: np.ndarray) -> np.ndarray:
    return _clip(a, 0.0, 1.0)


#: the chamfer distance transform (5x5 mask) moves at most 2 px a step: a ring of this many
#: background pixels round the strokes separates them from any background further out
_RING = 2


def _inside_distance(b: np.ndarray, nh: int, nw: int) -> np.ndarray:
    """``cv2.distanceTransform`` of the 0/1 image ``b`` (strokes only inside its PAD border),
    computed on the strokes' part plus a ring of ``_RING`` background pixels: every stroke
    pixel's shortest chamfer path to the background ends in that ring at the latest, so the
    values are the same as on the whole image (zeros elsewhere) at about half the cost. The
    result has ``b``'s shape, for ``stroke_width``'s sum to add up in the same order."""
    dt = np.zeros(b.shape, np.float32)
    y0, y1, x0, x1 = PAD - _RING, PAD + nh + _RING, PAD - _RING, PAD + nw + _RING
    cv2.distanceTransform(b[y0:y1, x0:x1], cv2.DIST_L2, cv2.DIST_MASK_5, dst=dt[y0:y1, x0:x1])
    return dt


def _grown(r: np.ndarray, thr: float, nh: int, nw: int, d: float) -> np.ndarray:
    """The strokes of ``r`` (above ``thr``) grown by ``d`` px, soft-edged: 1 inside, falling
    to 0 at ``d + 1`` px outside. A chamfer distance is at least the Chebyshev distance, so
    nothing more than ``d + 1`` px beyond the rescaled crop gets ink, and only that part
    (plus a pixel) is transformed; the rest of the PAD border stays 0. Paths from there to
    the strokes need not leave it: the shortest runs straight (monotone) between the two.
    The returned array is that part: where the ink lies in it does not matter to the caller
    (it crops the ink's bounding box)."""
    m = min(PAD, int(d + 1.0) + 1)
    part = r[PAD - m : PAD + nh + m, PAD - m : PAD + nw + m]
    _, outside = cv2.threshold(part, thr, 1, cv2.THRESH_BINARY_INV)  # 1 - b
    dt_out = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_5)
    return _clip01(np.subtract(np.float32(d + 1.0), dt_out, out=dt_out))


def stroke_normalized(
    crop: np.ndarray,
    scale: float,
    target_width: float | None,
    steps: dict[str, Any] | None = None,
    sharp: bool = False,
) -> np.ndarray:
    """A white-on-black uint8 crop with ink, rescaled by ``scale`` (enlarged by cubic
    interpolation when ``sharp``, else linear), binarized at 0.45 of its maximum, its strokes
    grown or shrunk to ``target_width`` (sub-pixel, anti-aliased; None: the binary image) and
    cropped to the ink's bounding box: float32 in [0, 1], empty when no ink is left.
    ``steps`` (debug) gets the rescaled, binary and stroke images and the width."""
    h, w = crop.shape
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    up = cv2.INTER_CUBIC if sharp else cv2.INTER_LINEAR
    interp = up if scale > 1 else cv2.INTER_AREA
    # the crop rescaled, inside a border of PAD zeros (resized straight into place)
    r = np.zeros((nh + 2 * PAD, nw + 2 * PAD), np.uint8)
    inner = r[PAD : PAD + nh, PAD : PAD + nw]
    cv2.resize(crop, (nw, nh), dst=inner, interpolation=interp)
    # r > thr as 0/1 (OpenCV compares uint8 pixels with floor(thr): the same test); the
    # border is 0, so r's maximum is its inner part's
    thr = 0.45 * cv2.minMaxLoc(inner)[1]
    _, b = cv2.threshold(r, thr, 1, cv2.THRESH_BINARY)
    dt_in = _inside_distance(b, nh, nw)
    width = stroke_width(b, dt_in)
    if steps is not None:
        steps["rescaled"] = r
        steps["binary"] = b * 255
        steps["width"] = width
    if target_width is None:
        soft = b.astype(np.float32)
    else:
        d = (target_width - width) / 2.0
        d = max(d, -MAX_ERODE_FRACTION * width)
        if d >= 0:
            soft = _grown(r, thr, nh, nw, d)
        else:
            soft = _clip01(np.add(dt_in, np.float32(d), out=dt_in))
    if steps is not None:
        steps["stroke"] = (soft * 255).astype(np.uint8)
    x, y, bw, bh = cv2.boundingRect((soft > 0).view(np.uint8))
    return soft[y : y + bh, x : x + bw]


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
    if h == 0 or w == 0 or cv2.countNonZero(crop) == 0:  # no ink (cheaper than crop.max())
        return (out, steps) if debug else out
    side = max(h, w)
    sharp = side <= SHARP_MAX_SIDE
    soft = stroke_normalized(crop, WORK / side, target_width, steps if debug else None, sharp)
    if soft.size == 0:
        return (out, steps) if debug else out
    bh, bw = soft.shape
    s2 = 20.0 / max(bw, bh)
    fw, fh = max(1, round(bw * s2)), max(1, round(bh * s2))
    small = cv2.resize(soft, (fw, fh), interpolation=cv2.INTER_AREA)
    # round to uint8 (+0.5, truncate). No clip needed: INTER_AREA averages ``soft``'s values
    # in [0, 1] with positive weights, so the sums stay in [0.5, 255.5 + a few ulps]
    small *= 255.0
    small += 0.5
    small = small.astype(np.uint8)
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
