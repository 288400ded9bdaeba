"""Synthetic "user drawings" made from MNIST digits, for benchmarks and tests.

``canvas_png(digit28, rng)``: one digit re-drawn as a user would on a 400x400 transparent RGBA
canvas -- scaled up ~10x, redrawn along its skeleton with a round brush 15-30 px wide, in a random
ink colour with alpha, placed off-center, PNG encoded.

``multi_digit_canvas(digits, rng)``: several digits side by side on one canvas; returns the PNG
and the ground-truth boxes.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["render_stroke", "canvas_png", "canvas_rgba", "multi_digit_canvas", "random_ink"]


def _thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a 0/1 uint8 mask (vectorized), giving a 1-px skeleton."""
    img = np.pad(mask.astype(np.uint8), 1)
    for _ in range(100):
        changed = False
        for step in (0, 1):
            c = img[1:-1, 1:-1]
            p2, p3, p4 = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:]
            p5, p6, p7 = img[2:, 2:], img[2:, 1:-1], img[2:, :-2]
            p8, p9 = img[1:-1, :-2], img[:-2, :-2]
            seq = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            b = sum(q.astype(np.int16) for q in seq[:8])
            a = sum(((seq[k] == 0) & (seq[k + 1] == 1)).astype(np.int16) for k in range(8))
            if step == 0:
                cond = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                cond = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            rm = (c == 1) & (b >= 2) & (b <= 6) & (a == 1) & cond
            if rm.any():
                c[rm] = 0
                changed = True
        if not changed:
            break
    return img[1:-1, 1:-1]


def render_stroke(
    digit28: np.ndarray, scale: float, brush: float, style: str = "thicken"
) -> np.ndarray:
    """Re-draw a white-on-black digit at ``scale`` with strokes ``brush`` px wide.

    style "thicken" (default): the digit is scaled up (cubic), thresholded, and its strokes are
    grown/shrunk (distance transform) so their mean width is ``brush``; the shape is preserved.
    style "skeleton": the digit's skeleton (thinned at 4x) is painted with a round brush, so the
    width is ``brush`` everywhere (filled blobs become lines).
    Returns float32 coverage in [0, 1], cropped with a margin."""
    d = np.asarray(digit28, dtype=np.uint8)
    ys, xs = np.nonzero(d > 40)
    if len(ys) == 0:
        return np.zeros((1, 1), np.float32)
    d = d[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = d.shape
    if style == "thicken":
        m = int(brush) + 4
        W, H = max(1, round(w * scale)), max(1, round(h * scale))
        up = cv2.resize(d, (W, H), interpolation=cv2.INTER_CUBIC)
        up = cv2.copyMakeBorder(up, m, m, m, m, cv2.BORDER_CONSTANT, value=0)
        mask = (up > 110).astype(np.uint8)
        dt_in = cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        n = max(1, int(np.count_nonzero(mask)))
        width = max(1.0, 4.0 * (float(dt_in.sum()) / n - 0.5))
        g = max((brush - width) / 2.0, -0.15 * width)  # gentle: keep thin parts
        if g >= 0:
            dt_out = cv2.distanceTransform(1 - mask, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
            return np.clip(g + 1.0 - dt_out, 0.0, 1.0).astype(np.float32)
        return np.clip(dt_in + g, 0.0, 1.0).astype(np.float32)
    up4 = cv2.resize(d, (w * 4, h * 4), interpolation=cv2.INTER_CUBIC)
    skel = _thin((up4 > 110).astype(np.uint8))
    sy, sx = np.nonzero(skel)
    if len(sy) == 0:
        sy, sx = np.nonzero(up4 > 0)
    f = scale / 4.0
    m = int(brush) + 2
    W, H = round(w * scale) + 2 * m, round(h * scale) + 2 * m
    pts = np.zeros((H, W), np.uint8)
    py = np.clip(np.round((sy + 0.5) * f - 0.5).astype(int) + m, 0, H - 1)
    px = np.clip(np.round((sx + 0.5) * f - 0.5).astype(int) + m, 0, W - 1)
    pts[py, px] = 1
    # join neighbouring skeleton samples so the brush path is continuous
    pts = cv2.dilate(
        pts,
        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)),
        iterations=max(1, int(np.ceil(f / 2))),
    )
    dt = cv2.distanceTransform(1 - pts, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    r = brush / 2.0 - max(1, int(np.ceil(f / 2)))
    return np.clip(r + 0.5 - dt, 0.0, 1.0).astype(np.float32)


def random_ink(rng: np.random.Generator) -> tuple[tuple[int, int, int], float]:
    """A random ink colour (BGR) that is clearly dark or clearly light, and an opacity."""
    dark = rng.random() < 0.75
    for _ in range(100):
        c = rng.integers(0, 256, 3)
        lum = 0.114 * c[0] + 0.587 * c[1] + 0.299 * c[2]
        if (dark and lum < 90) or (not dark and lum > 170):
            break
    return (int(c[0]), int(c[1]), int(c[2])), float(rng.uniform(0.75, 1.0))


def _paint(canvas: np.ndarray, cov: np.ndarray, x: int, y: int, color, opacity: float) -> None:
    h, w = cov.shape
    H, W = canvas.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return
    c = cov[y0 - y : y1 - y, x0 - x : x1 - x]
    region = canvas[y0:y1, x0:x1]
    a = np.maximum(region[:, :, 3].astype(np.float32) / 255.0, c * opacity)
    on = c > 0
    for ch in range(3):
        region[:, :, ch][on] = color[ch]
    region[:, :, 3] = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)


def canvas_rgba(
    digit28: np.ndarray,
    rng: np.random.Generator,
    size: int = 400,
    scale: float | None = None,
    brush: float | None = None,
    style: str = "thicken",
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """BGRA canvas (transparent background) with one re-drawn digit, and the digit's box."""
    scale = float(rng.uniform(8.5, 11.5)) if scale is None else scale
    brush = float(rng.uniform(15, 30)) if brush is None else brush
    cov = render_stroke(digit28, scale, brush, style)
    ys, xs = np.nonzero(cov > 0)
    cov = cov[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = cov.shape
    if max(h, w) > size - 4:
        f = (size - 4) / max(h, w)
        cov = cv2.resize(
            cov, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA
        )
        h, w = cov.shape
    x = int(rng.integers(0, size - w + 1))
    y = int(rng.integers(0, size - h + 1))
    canvas = np.zeros((size, size, 4), np.uint8)
    color, opacity = random_ink(rng)
    _paint(canvas, cov, x, y, color, opacity)
    return canvas, (x, y, w, h)


def canvas_png(
    digit28: np.ndarray, rng: np.random.Generator | None = None, size: int = 400, **kw
) -> bytes:
    """PNG bytes of ``canvas_rgba``: a user-style drawing of one MNIST digit."""
    rng = rng if rng is not None else np.random.default_rng()
    canvas, _ = canvas_rgba(digit28, rng, size=size, **kw)
    return cv2.imencode(".png", canvas)[1].tobytes()


def multi_digit_canvas(
    digits28: Sequence[np.ndarray],
    rng: np.random.Generator | None = None,
    digit_height: float | None = None,
    gap: tuple[float, float] = (0.15, 0.5),
    margin: int = 30,
    style: str = "thicken",
) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """Several digits drawn side by side, left to right, on one transparent canvas.

    ``gap`` is the range of the horizontal space between digits as a fraction of the digit
    height.  Returns (PNG bytes, [box (x, y, w, h) of each digit])."""
    rng = rng if rng is not None else np.random.default_rng()
    dh = float(rng.uniform(140, 220)) if digit_height is None else digit_height
    color, opacity = random_ink(rng)
    brush = float(rng.uniform(15, 30))
    covs = []
    for d in digits28:
        d = np.asarray(d)
        ys, _ = np.nonzero(d > 40)
        hpx = (ys.max() - ys.min() + 1) if len(ys) else 20
        # MNIST digits are 20 px tall in 28: keep their relative size
        scale = dh / 20.0 * float(rng.uniform(0.9, 1.1))
        cov = render_stroke(d, scale, brush, style)
        ys2, xs2 = np.nonzero(cov > 0)
        if len(ys2):
            cov = cov[ys2.min() : ys2.max() + 1, xs2.min() : xs2.max() + 1]
        del hpx
        covs.append(cov)
    hmax = max(c.shape[0] for c in covs)
    gaps = [int(rng.uniform(*gap) * dh) for _ in covs[1:]]
    width = 2 * margin + sum(c.shape[1] for c in covs) + sum(gaps)
    height = 2 * margin + int(hmax * 1.2)
    canvas = np.zeros((height, width, 4), np.uint8)
    boxes = []
    x = margin
    for i, cov in enumerate(covs):
        h, w = cov.shape
        y = margin + int(rng.uniform(0, height - 2 * margin - h + 1))
        _paint(canvas, cov, x, y, color, opacity)
        boxes.append((x, y, w, h))
        x += w + (gaps[i] if i < len(gaps) else 0)
    return cv2.imencode(".png", canvas)[1].tobytes(), boxes
