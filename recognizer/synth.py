"""Synthetic "user drawings" made from MNIST digits, for benchmarks and tests.

``canvas_png(digit28, rng)``: one digit re-drawn as a user would on a 400x400 transparent RGBA
canvas -- scaled up ~10x, redrawn along its skeleton with a round brush 15-30 px wide, in a random
ink colour with alpha, placed off-center, PNG encoded.

``multi_digit_canvas(digits, rng)``: several digits side by side on one canvas; returns the PNG
and the ground-truth boxes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

__all__ = [
    "PAPER_CONDITIONS",
    "canvas_png",
    "canvas_rgba",
    "multi_digit_canvas",
    "paper_sample",
    "random_ink",
    "render_stroke",
]


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


def _paint(
    canvas: np.ndarray, cov: np.ndarray, x: int, y: int, color: Sequence[float], opacity: float
) -> None:
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
    digit28: np.ndarray, rng: np.random.Generator | None = None, size: int = 400, **kw: Any
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


# -- paper conditions: dark ink on light paper, form lines, touching digits ------------------
# Every generator is deterministic given ``rng`` and returns encoded image bytes (PNG unless
# said otherwise) plus the expected text.

PAPER_CONDITIONS = (
    "boxed",
    "underline",
    "comb",
    "touching",
    "rotated",
    "jpeg25",
    "lowres16",
    "thin_pen",
    "thick_pen",
    "shadow",
    "dashed",
    "grid",
    "rows",
    "desk",
    "hyphenated",
    "circled",
    "touching3",
    "shaded",
    "continental",
    "slashed_zero",
)


def _paper(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Light paper (float32 0..255) with a slight gradient and sensor noise."""
    level = float(rng.uniform(215, 250))
    grad = np.linspace(0, float(rng.uniform(-8, 8)), w, dtype=np.float32)[None, :]
    paper = np.full((h, w), level, np.float32) + grad
    paper += rng.normal(0, 2.0, (h, w)).astype(np.float32)
    return paper


def _lay(paper: np.ndarray, cov: np.ndarray, x: int, y: int, ink: float) -> None:
    """Lay coverage ``cov`` of ink level ``ink`` (0 = black) onto ``paper`` at (x, y)."""
    h, w = cov.shape
    H, W = paper.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return
    c = cov[y0 - y : y1 - y, x0 - x : x1 - x]
    region = paper[y0:y1, x0:x1]
    np.minimum(region, region * (1 - c) + ink * c, out=region)


def _to_png(paper: np.ndarray) -> bytes:
    img = np.clip(paper + 0.5, 0, 255).astype(np.uint8)
    return cv2.imencode(".png", img)[1].tobytes()


def _ink_level(rng: np.random.Generator) -> float:
    return float(rng.uniform(10, 80))


def _line_level(rng: np.random.Generator) -> float:
    return float(rng.uniform(20, 150))


def pen_digit(
    digit28: np.ndarray,
    rng: np.random.Generator,
    height: float | None = None,
    pen: float | None = None,
) -> np.ndarray:
    """Coverage (float32 0..1) of one MNIST digit re-drawn ``height`` px tall with a pen whose
    width is ``pen`` (a fraction of the height; default 0.08..0.16)."""
    height = float(rng.uniform(34, 64)) if height is None else height
    pen = float(rng.uniform(0.08, 0.16)) if pen is None else pen
    cov = render_stroke(digit28, height / 20.0, max(1.0, pen * height))
    ys, xs = np.nonzero(cov > 0)
    if len(ys) == 0:
        return cov
    return cov[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _single_on_paper(cov: np.ndarray, rng: np.random.Generator, margin: float = 0.6) -> np.ndarray:
    h, w = cov.shape
    m = int(margin * max(h, w)) + 4
    paper = _paper(h + 2 * m, w + 2 * m, rng)
    _lay(paper, cov, m + int(rng.integers(-m // 3, m // 3 + 1)), m, _ink_level(rng))
    return paper


def boxed_png(
    digit28: np.ndarray, rng: np.random.Generator, dashed: bool = False, fill: float | None = None
) -> bytes:
    """One digit written inside a printed box (a form field); the box border is 1-3 px,
    dashed or dotted if ``dashed``. With ``fill``, the box is that many times the digit's
    height and width (under 1: the digit spills over the border), centred on it."""
    cov = pen_digit(digit28, rng)
    h, w = cov.shape
    if fill is not None:
        return _overfilled_box(cov, fill, rng)
    bh = int(h * rng.uniform(1.15, 1.5))
    bw = max(int(bh * rng.uniform(0.75, 1.1)), w + 6)
    t = int(rng.integers(1, 4))
    m = int(rng.uniform(0.3, 1.0) * bh) + 4
    paper = _paper(bh + 2 * m, bw + 2 * m, rng)
    lines = np.zeros(paper.shape, np.float32)
    cv2.rectangle(lines, (m, m), (m + bw, m + bh), 1.0, t)
    if dashed:
        lines = _broken_up(lines, t, rng)
    _lay(paper, lines, 0, 0, _line_level(rng))
    x = m + t + 1 + int(rng.integers(0, max(1, bw - w - 2 * t - 1)))
    y = m + t + 1 + int(rng.integers(0, max(1, bh - h - 2 * t - 1)))
    _lay(paper, cov, x, y, _ink_level(rng))
    return _to_png(paper)


def _overfilled_box(cov: np.ndarray, fill: float, rng: np.random.Generator) -> bytes:
    h, w = cov.shape
    bh, bw = int(h * fill), int(max(w, 0.8 * h) * fill)
    m = int(0.6 * h) + 4
    paper = _paper(bh + 2 * m, bw + 2 * m, rng)
    lines = np.zeros(paper.shape, np.float32)
    cv2.rectangle(lines, (m, m), (m + bw, m + bh), 1.0, int(rng.integers(1, 3)))
    _lay(paper, lines, 0, 0, _line_level(rng))
    _lay(paper, cov, m + (bw - w) // 2, m + (bh - h) // 2, _ink_level(rng))
    return _to_png(paper)


def underline_png(digit28: np.ndarray, rng: np.random.Generator, dashed: bool = False) -> bytes:
    """One digit written above or on a printed underline that runs well past it (dashed or
    dotted if ``dashed``)."""
    cov = pen_digit(digit28, rng)
    h, w = cov.shape
    t = int(rng.integers(1, 4))
    lw = int(w * rng.uniform(3, 6)) + 2 * h
    m = int(0.5 * h) + 4
    paper = _paper(h + 2 * m, lw + 2 * m, rng)
    x = m + int(rng.integers(0, lw - w))
    # the digit's foot ends between a few px above the line and a few px through it
    foot = m + h + int(rng.integers(-3, 6))
    lines = np.zeros(paper.shape, np.float32)
    cv2.line(lines, (m, foot), (m + lw, foot), 1.0, t)
    if dashed:
        lines = _broken_up(lines, t, rng)
    _lay(paper, lines, 0, 0, _line_level(rng))
    _lay(paper, cov, x, m, _ink_level(rng))
    return _to_png(paper)


def comb_png(
    digits28: Sequence[np.ndarray | None], rng: np.random.Generator
) -> tuple[bytes, list[int]]:
    """A form image with a comb field: one box per entry of ``digits28`` (None = empty box),
    boxes sharing their borders, a label rule above and a signature line below.

    Returns (PNG bytes, indices of the non-empty boxes in order)."""
    n = len(digits28)
    bh = int(rng.uniform(44, 72))
    bw = int(bh * rng.uniform(0.75, 1.0))
    t = int(rng.integers(1, 3))
    mx, top = int(rng.uniform(30, 120)), int(rng.uniform(60, 120))
    W, H = 2 * mx + n * bw, top + bh + int(rng.uniform(80, 140))
    paper = _paper(H, W, rng)
    lines = np.zeros(paper.shape, np.float32)
    cv2.line(lines, (10, top // 3), (W - 10, top // 3), 1.0, int(rng.integers(1, 3)))
    closed = rng.random() < 0.5  # a row of closed boxes, else a comb with short teeth
    tick = bh if closed else int(bh * rng.uniform(0.3, 1.0))
    cv2.line(lines, (mx, top + bh), (mx + n * bw, top + bh), 1.0, t)
    for i in range(n + 1):
        x = mx + i * bw
        cv2.line(lines, (x, top + bh - tick), (x, top + bh), 1.0, t)
    if closed:
        cv2.line(lines, (mx, top + bh - tick), (mx + n * bw, top + bh - tick), 1.0, t)
    sig = H - int(rng.uniform(20, 40))
    cv2.line(lines, (mx, sig), (W - mx, sig), 1.0, 1)
    _lay(paper, lines, 0, 0, _line_level(rng))
    ink = _ink_level(rng)
    pen = float(rng.uniform(0.08, 0.15))
    kept = []
    for i, d in enumerate(digits28):
        if d is None:
            continue
        cov = pen_digit(d, rng, height=bh * float(rng.uniform(0.6, 0.85)), pen=pen)
        h, w = cov.shape
        if w > bw - 2 * t - 2:
            f = (bw - 2 * t - 2) / w
            cov = cv2.resize(cov, (max(1, int(w * f)), max(1, int(h * f))), cv2.INTER_AREA)
            h, w = cov.shape
        x = mx + i * bw + t + 1 + int(rng.integers(0, max(1, bw - w - 2 * t - 1)))
        y = top + bh - h - int(rng.integers(t + 1, max(t + 2, int(0.2 * bh))))
        _lay(paper, cov, x, y, ink)
        kept.append(i)
    return _to_png(paper), kept


def touching_png(
    left28: np.ndarray,
    right28: np.ndarray,
    rng: np.random.Generator,
    overlap: tuple[int, int] = (1, 5),
    pens: tuple[float, float] = (0.08, 0.14),
) -> bytes:
    """Two digits side by side whose strokes touch or overlap by ``overlap`` px (at a digit
    height of 34-64 px, a pen of ``pens`` x the height)."""
    hgt = float(rng.uniform(34, 64))
    pen = float(rng.uniform(*pens))
    a = pen_digit(left28, rng, hgt, pen)
    b = pen_digit(right28, rng, hgt * float(rng.uniform(0.92, 1.08)), pen)
    H = max(a.shape[0], b.shape[0])
    ya = (H - a.shape[0]) // 2 + int(rng.integers(-2, 3))
    yb = (H - b.shape[0]) // 2 + int(rng.integers(-2, 3))
    m = 24
    canvas_h = H + 2 * m
    A = np.zeros((canvas_h, a.shape[1]), np.float32)
    A[m + ya : m + ya + a.shape[0]] = a
    B = np.zeros((canvas_h, b.shape[1]), np.float32)
    B[m + yb : m + yb + b.shape[0]] = b
    # per row: right edge of A and left edge of B; shift B so the smallest gap is -overlap
    ra = np.where((A > 0.5).any(1), A.shape[1] - 1 - np.argmax((A > 0.5)[:, ::-1], 1), -(10**6))
    lb = np.where((B > 0.5).any(1), np.argmax(B > 0.5, 1), 10**6)
    gap0 = int((lb - ra).min())  # gap if B started at x = 0 (relative to A's origin)
    ov = int(rng.integers(overlap[0], overlap[1] + 1))
    xb = max(a.shape[1] // 3, -gap0 - ov + 1)
    W = xb + b.shape[1] + 2 * m
    paper = _paper(canvas_h, W, rng)
    ink = _ink_level(rng)
    _lay(paper, A, m, 0, ink)
    _lay(paper, B, m + xb, 0, ink)
    return _to_png(paper)


def touching_run_png(
    digits28: Sequence[np.ndarray],
    rng: np.random.Generator,
    overlap: tuple[int, int] = (1, 5),
    pens: tuple[float, float] = (0.08, 0.14),
) -> bytes:
    """Three or more digits in a row, each touching or overlapping the next by ``overlap``
    px (as in ``touching_png``): one component holding several digits ("000", "2024")."""
    hgt = float(rng.uniform(34, 64))
    pen = float(rng.uniform(*pens))
    covs = [pen_digit(d, rng, hgt * float(rng.uniform(0.92, 1.08)), pen) for d in digits28]
    m = 24
    canvas_h = max(c.shape[0] for c in covs) + 2 * m
    row = np.zeros((canvas_h, 0), np.float32)
    for c in covs:
        y = (canvas_h - c.shape[0]) // 2 + int(rng.integers(-2, 3))
        B = np.zeros((canvas_h, c.shape[1]), np.float32)
        B[y : y + c.shape[0]] = c
        if row.shape[1] == 0:
            row = B
            continue
        a = row > 0.5
        ra = np.where(a.any(1), row.shape[1] - 1 - np.argmax(a[:, ::-1], 1), -(10**6))
        lb = np.where((B > 0.5).any(1), np.argmax(B > 0.5, 1), 10**6)
        ov = int(rng.integers(overlap[0], overlap[1] + 1))
        # (at least 0: a wide digit after a narrow "1" would otherwise start left of it)
        xb = max(0, row.shape[1] - c.shape[1] // 2, int(-(lb - ra).min()) - ov + 1)
        grown = np.zeros((canvas_h, max(row.shape[1], xb + c.shape[1])), np.float32)
        grown[:, : row.shape[1]] = row
        np.maximum(grown[:, xb : xb + c.shape[1]], B, out=grown[:, xb : xb + c.shape[1]])
        row = grown
    paper = _paper(canvas_h, row.shape[1] + 2 * m, rng)
    _lay(paper, row, m, 0, _ink_level(rng))
    return _to_png(paper)


def rotated_png(digit28: np.ndarray, rng: np.random.Generator, max_deg: float = 15) -> bytes:
    """One digit on paper, rotated by up to +-``max_deg`` degrees."""
    cov = pen_digit(digit28, rng)
    h, w = cov.shape
    p = max(h, w)
    big = cv2.copyMakeBorder(cov, p // 2, p // 2, p // 2, p // 2, cv2.BORDER_CONSTANT, value=0)
    c = (big.shape[1] / 2.0, big.shape[0] / 2.0)
    ang = float(rng.uniform(-max_deg, max_deg))
    big = cv2.warpAffine(big, cv2.getRotationMatrix2D(c, ang, 1.0), big.shape[::-1])
    ys, xs = np.nonzero(big > 0.01)
    return _to_png(_single_on_paper(big[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1], rng))


def jpeg_bytes(digit28: np.ndarray, rng: np.random.Generator, quality: int = 25) -> bytes:
    """One digit on noisy paper, saved as JPEG at ``quality`` (JPEG bytes, not PNG)."""
    paper = _single_on_paper(pen_digit(digit28, rng), rng)
    paper += rng.normal(0, 6.0, paper.shape).astype(np.float32)
    img = np.clip(paper + 0.5, 0, 255).astype(np.uint8)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def lowres_png(digit28: np.ndarray, rng: np.random.Generator, height: int = 16) -> bytes:
    """A digit reduced to ``height`` px tall, binarized, then scaled back up 2-4x (a low
    resolution fax/scan)."""
    paper = _single_on_paper(pen_digit(digit28, rng, height=float(height) * 2), rng, 0.5)
    h, w = paper.shape
    small = cv2.resize(paper, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    small = np.where(small < 140, 20.0, 235.0).astype(np.float32)
    f = float(rng.uniform(2, 4))
    up = cv2.resize(
        small,
        (int(small.shape[1] * f), int(small.shape[0] * f)),
        interpolation=cv2.INTER_NEAREST if rng.random() < 0.5 else cv2.INTER_LINEAR,
    )
    return _to_png(up)


def pen_png(digit28: np.ndarray, rng: np.random.Generator, pen: float) -> bytes:
    """One digit on paper drawn with a pen ``pen`` x the digit height wide (thin ~0.04,
    thick ~0.25)."""
    return _to_png(_single_on_paper(pen_digit(digit28, rng, pen=pen), rng))


def broken_png(digit28: np.ndarray, rng: np.random.Generator) -> bytes:
    """One digit written with a pen that skips: a quarter of the stroke missing in 4 px
    patches."""
    cov = pen_digit(digit28, rng, pen=0.07)
    keep = rng.random((cov.shape[0] // 4 + 1, cov.shape[1] // 4 + 1)) > 0.25
    mask = cv2.resize(keep.astype(np.float32), cov.shape[::-1], interpolation=cv2.INTER_NEAREST)
    return _to_png(_single_on_paper(cov * mask, rng))


def pencil_png(digit28: np.ndarray, rng: np.random.Generator) -> bytes:
    """One digit in a light, grainy pencil line: a quarter of the stroke's pixels missing one
    by one, the rest 150 levels darker than the paper."""
    cov = pen_digit(digit28, rng, pen=0.06)
    p = _paper(cov.shape[0] + 60, cov.shape[1] + 60, rng)
    _lay(p, cov * (rng.random(cov.shape) < 0.75), 30, 30, 150.0)
    return _to_png(p)


def show_through_png(
    digit28: np.ndarray, back28: np.ndarray, rng: np.random.Generator, level: float | None = None
) -> bytes:
    """One digit with another showing through from the back of the page beside it: mirrored,
    ``level`` (default 25-50%) as dark as the ink, left or right of the digit, clear of it."""
    a = pen_digit(digit28, rng, height=48.0)
    b = pen_digit(back28, rng, height=48.0)[:, ::-1]
    p = _paper(140, 240, rng)
    ink = _ink_level(rng)
    paper = float(np.median(p))
    faint = paper - (paper - ink) * (float(rng.uniform(0.25, 0.5)) if level is None else level)
    right = rng.random() < 0.5
    bx = 150 + int(rng.integers(-10, 20)) if right else int(rng.integers(0, 12))
    _lay(p, b, bx, 30 + int(rng.integers(-15, 15)), faint)
    _lay(p, a, 100 if not right else 60, 40, ink)
    return _to_png(p)


def _broken_up(lines: np.ndarray, t: int, rng: np.random.Generator) -> np.ndarray:
    """Solid ``t`` px lines made dashed (dashes 4-12 px, gaps 3-7 px) or dotted (dots as
    wide as the line, gaps 1-3 times that): each run is cut along its own direction."""
    if rng.random() < 0.5:
        on, off = int(rng.integers(4, 13)), int(rng.integers(3, 8))
    else:
        on = t + 1
        off = int(on * rng.uniform(1, 3)) + 1
    h, w = lines.shape
    keep_x = (np.arange(w) % (on + off)) < on
    keep_y = (np.arange(h) % (on + off)) < on
    k = max(3, 2 * t + 1)
    horiz = cv2.morphologyEx(lines, cv2.MORPH_OPEN, np.ones((1, 3 * k), np.uint8))
    vert = cv2.morphologyEx(lines, cv2.MORPH_OPEN, np.ones((3 * k, 1), np.uint8))
    return np.maximum(horiz * keep_x[None, :], vert * keep_y[:, None])


def dashed_png(digit28: np.ndarray, rng: np.random.Generator) -> bytes:
    """One digit in a dashed or dotted box, or above a dashed or dotted underline."""
    if rng.random() < 0.5:
        return boxed_png(digit28, rng, dashed=True)
    return underline_png(digit28, rng, dashed=True)


def grid_png(digit28: np.ndarray, rng: np.random.Generator) -> bytes:
    """One digit written on squared paper: a light printed grid of 1-2 px lines, the squares
    0.3-0.6 x the digit's height, lines running through the digit."""
    cov = pen_digit(digit28, rng)
    h, w = cov.shape
    m = int(rng.uniform(0.4, 1.0) * h) + 4
    paper = _paper(h + 2 * m, w + 2 * m, rng)
    step = max(6, int(h * rng.uniform(0.3, 0.6)))
    t = int(rng.integers(1, 3))
    grid = np.zeros(paper.shape, np.float32)
    x0, y0 = int(rng.integers(step)), int(rng.integers(step))
    for k in range(t):
        grid[y0 + k :: step, :] = 1.0
        grid[:, x0 + k :: step] = 1.0
    _lay(paper, grid, 0, 0, float(rng.uniform(120, 200)))
    _lay(paper, cov, m + int(rng.integers(-m // 3, m // 3 + 1)), m, _ink_level(rng))
    return _to_png(paper)


def rows_png(digits28: Sequence[Sequence[np.ndarray]], rng: np.random.Generator) -> bytes:
    """Rows of digits on one page (a list of rows, each a list of digits), the rows a digit's
    height and a half to two apart, each row's start and the digits' baseline a little off."""
    h = float(rng.uniform(34, 60))
    pitch = int(h * rng.uniform(1.5, 2.0))
    covs = [[pen_digit(d, rng, height=h) for d in row] for row in digits28]
    width = max(sum(c.shape[1] for c in row) + int(0.5 * h) * len(row) for row in covs)
    paper = _paper(pitch * len(covs) + int(h), width + int(2 * h), rng)
    for r, row in enumerate(covs):
        x = int(h * rng.uniform(0.4, 0.8))
        for c in row:
            y = int(h / 2) + r * pitch + int(rng.integers(-int(h / 10), int(h / 10) + 1))
            _lay(paper, c, x, y, _ink_level(rng))
            x += c.shape[1] + int(h * rng.uniform(0.2, 0.5))
    return _to_png(paper)


def _stem_centre(cov: np.ndarray, row: float) -> float | None:
    cols = np.nonzero(cov[min(cov.shape[0] - 1, max(0, round(row)))] > 0.5)[0]
    return float(cols.mean()) if len(cols) else None


def _pen_line(cov: np.ndarray, p: tuple[float, float], q: tuple[float, float], pen: int) -> None:
    a, b = (round(p[0] * 4), round(p[1] * 4)), (round(q[0] * 4), round(q[1] * 4))
    cv2.line(cov, a, b, 1.0, pen, cv2.LINE_AA, 2)


def continental_form(
    cov: np.ndarray, label: int, rng: np.random.Generator, pen: float
) -> np.ndarray:
    """Pen coverage (``pen_digit``) of a "1" or a "7" as most of Europe writes it: the "1"
    with a flag from its top down to the left (0.25-0.5 of its height) and, one time in three,
    a foot; the "7" crossed half-way down. ``pen`` is the pen's width in pixels. Other digits
    are returned as they are."""
    if label not in (1, 7):
        return cov
    h = cov.shape[0]
    m = int(0.5 * h)
    out = cv2.copyMakeBorder(cov, m, m, m, m, cv2.BORDER_CONSTANT, value=0.0)
    width = max(1, round(pen))
    top, bottom = m + 0.4 * pen, m + h - 1 - 0.4 * pen
    if label == 7:
        row = m + float(rng.uniform(0.45, 0.6)) * h
        c = _stem_centre(out, row)
        if c is not None:
            half = float(rng.uniform(0.2, 0.35)) * max(cov.shape[1], 0.6 * h)
            tilt = float(rng.uniform(-0.1, 0.05)) * half
            _pen_line(out, (c - half, row + tilt), (c + half, row - tilt), width)
    else:
        c = _stem_centre(out, top)
        if c is not None:
            length, angle = h * float(rng.uniform(0.25, 0.5)), np.deg2rad(rng.uniform(25, 65))
            _pen_line(
                out, (c, top), (c - length * np.cos(angle), top + length * np.sin(angle)), width
            )
        foot = _stem_centre(out, bottom) if rng.random() < 1 / 3 else None
        if foot is not None:
            half = h * float(rng.uniform(0.15, 0.3))
            _pen_line(out, (foot - half, bottom), (foot + half, bottom), width)
    ys, xs = np.nonzero(out > 0)
    return out[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def slashed_form(cov: np.ndarray, label: int, rng: np.random.Generator, pen: float) -> np.ndarray:
    """Pen coverage (``pen_digit``) of a "0" with a slash from its upper right to its lower
    left, as engineers, programmers and much of Scandinavia write it (each end from inside
    the ring to a fifth of its size beyond, a slight lean). ``pen`` is the pen's width in
    pixels. Other digits are returned as they are."""
    if label != 0:
        return cov
    h, w = cov.shape
    m = int(0.5 * h)
    out = cv2.copyMakeBorder(cov, m, m, m, m, cv2.BORDER_CONSTANT, value=0.0)
    a, b = rng.uniform(-0.08, 0.2, size=2)
    lean = float(rng.uniform(-0.12, 0.12)) * w
    upper = (m + w - 1 + a * w + lean, m - a * h)
    lower = (m - b * w - lean, m + h - 1 + b * h)
    _pen_line(out, upper, lower, max(1, round(pen)))
    ys, xs = np.nonzero(out > 0)
    return out[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def formed_string_png(
    digits28: Sequence[np.ndarray],
    labels: Sequence[int],
    rng: np.random.Generator,
    form: Callable[[np.ndarray, int, np.random.Generator, float], np.ndarray],
) -> bytes:
    """A string of digits written with a pen on paper, each in the hand `form` gives it
    (``continental_form``, ``slashed_form``), a third to a half of their height apart."""
    h, pen = float(rng.uniform(34, 60)), float(rng.uniform(0.08, 0.16))
    covs = [
        form(pen_digit(d, rng, height=h, pen=pen), int(lab), rng, pen * h)
        for d, lab in zip(digits28, labels, strict=True)
    ]
    paper = _paper(
        int(2.2 * h), sum(c.shape[1] for c in covs) + int(h * (0.5 * len(covs) + 1)), rng
    )
    x, ink = int(h * 0.5), _ink_level(rng)
    for c in covs:
        _lay(paper, c, x, int(0.6 * h) + int(rng.integers(-int(h / 12), int(h / 12) + 1)), ink)
        x += c.shape[1] + int(h * rng.uniform(0.33, 0.5))
    return _to_png(paper)


def continental_png(
    digits28: Sequence[np.ndarray], labels: Sequence[int], rng: np.random.Generator
) -> bytes:
    """A string of digits in a continental European hand, pen on paper: every "1" flagged
    (some with a foot) and every "7" crossed (``continental_form``)."""
    return formed_string_png(digits28, labels, rng, continental_form)


def slashed_png(
    digits28: Sequence[np.ndarray], labels: Sequence[int], rng: np.random.Generator
) -> bytes:
    """A string of digits, pen on paper, every "0" slashed (``slashed_form``)."""
    return formed_string_png(digits28, labels, rng, slashed_form)


def shadow_png(digit28: np.ndarray, rng: np.random.Generator, depth: float | None = None) -> bytes:
    """One digit on paper lit unevenly, as in a phone photo: the light falls off linearly
    towards one side or corner by ``depth`` (default 30-60%) of the brightest paper; the ink
    darkens with it."""
    paper = _single_on_paper(pen_digit(digit28, rng), rng)
    h, w = paper.shape
    ang = float(rng.uniform(0, 2 * np.pi))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx - w / 2) * np.cos(ang) + (yy - h / 2) * np.sin(ang)
    t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    light = 1.0 - t * (float(rng.uniform(0.3, 0.6)) if depth is None else depth)
    return _to_png(paper * light)


def hyphenated_png(groups: Sequence[Sequence[np.ndarray]], rng: np.random.Generator) -> bytes:
    """Groups of digits joined by hyphens on one line, as in a date or a phone number
    ("12-05-24", "555-0142"): each hyphen a short stroke across the middle of the line, as
    thick as the pen, 0.25-0.5 x a digit long, set a little apart from its neighbours."""
    h = float(rng.uniform(34, 60))
    pen = float(rng.uniform(0.08, 0.16))
    covs = [[pen_digit(d, rng, height=h, pen=pen) for d in g] for g in groups]
    dash_len = [int(h * rng.uniform(0.25, 0.5)) for _ in groups]
    width = sum(c.shape[1] + int(0.4 * h) for g in covs for c in g) + sum(dash_len) + int(3 * h)
    paper = _paper(int(2.2 * h), width, rng)
    ink = _ink_level(rng)
    x, top = int(0.6 * h), int(0.6 * h)
    for k, g in enumerate(covs):
        if k:
            x += int(h * rng.uniform(0.12, 0.3))
            y = top + int(h * rng.uniform(0.42, 0.58))
            stroke = np.zeros(paper.shape, np.float32)
            t = max(1, round(pen * h))
            cv2.line(
                stroke, (x, y), (x + dash_len[k], y + int(rng.integers(-2, 3))), 1.0, t, cv2.LINE_AA
            )
            _lay(paper, stroke, 0, 0, ink)
            x += dash_len[k] + int(h * rng.uniform(0.12, 0.3))
        for c in g:
            _lay(paper, c, x, top + int(rng.integers(-3, 4)), ink)
            x += c.shape[1] + int(h * rng.uniform(0.1, 0.35))
    return _to_png(paper)


def dash_touching_png(digit28: np.ndarray, rng: np.random.Generator) -> bytes:
    """One digit with a hyphen stuck to its left or right side (as ``hyphenated_png`` draws
    them, but touching: written in a hurry): one segment that holds one digit."""
    h = float(rng.uniform(34, 60))
    pen = float(rng.uniform(0.08, 0.16))
    cov = pen_digit(digit28, rng, height=h, pen=pen)
    dash = int(h * rng.uniform(0.25, 0.5))
    m = int(0.6 * h)
    paper = _paper(cov.shape[0] + 2 * m, cov.shape[1] + dash + 2 * m, rng)
    ink = _ink_level(rng)
    left = bool(rng.random() < 0.5)
    x0 = m + (dash if left else 0)
    _lay(paper, cov, x0, m, ink)
    y = m + int(cov.shape[0] * rng.uniform(0.42, 0.58))
    row = cov[min(cov.shape[0] - 1, y - m)] > 0.5
    cols = np.nonzero(row)[0]
    edge = (x0 + int(cols.min()) if left else x0 + int(cols.max())) if len(cols) else x0
    reach = int(rng.integers(0, 4))  # into the stroke by up to 3 px
    a, b = (edge - dash, edge + reach) if left else (edge - reach, edge + dash)
    stroke = np.zeros(paper.shape, np.float32)
    t = max(1, round(pen * h))
    cv2.line(stroke, (a, y), (b, y + int(rng.integers(-2, 3))), 1.0, t, cv2.LINE_AA)
    _lay(paper, stroke, 0, 0, ink)
    return _to_png(paper)


def circled_png(digit28: np.ndarray, rng: np.random.Generator) -> bytes:
    """One digit with a loop drawn round it by hand, as an answer is marked: an ellipse
    (left open by up to 30 deg) or a box of four wobbly strokes, clear of the digit."""
    cov = pen_digit(digit28, rng)
    h, w = cov.shape
    paper = _paper(h + 100, w + 100, rng)
    _lay(paper, cov, 50, 50, _ink_level(rng))
    loop = np.zeros(paper.shape, np.float32)
    t = max(2, round(h * float(rng.uniform(0.05, 0.1))))
    cx, cy = 50 + w // 2, 50 + h // 2
    if rng.random() < 0.5:
        axes = (int(max(w, h) * rng.uniform(0.75, 0.9)), int(h * rng.uniform(0.8, 0.95)))
        start = float(rng.uniform(0, 360))
        end = start + 360 - float(rng.uniform(0, 30))
        cv2.ellipse(
            loop, (cx, cy), axes, float(rng.uniform(-20, 20)), start, end, 1.0, t, cv2.LINE_AA
        )
    else:
        m = int(h * 0.3)

        def wobble() -> int:
            return int(rng.integers(-int(h * 0.06), int(h * 0.06) + 1))

        x0, y0, x1, y1 = cx - w // 2 - m, cy - h // 2 - m, cx + w // 2 + m, cy + h // 2 + m
        pts = [(x0 + wobble(), y0 + wobble()), (x1 + wobble(), y0 + wobble())]
        pts += [(x1 + wobble(), y1 + wobble()), (x0 + wobble(), y1 + wobble())]
        for a, b in zip(pts, pts[1:] + pts[:1], strict=True):
            mid = ((a[0] + b[0]) // 2 + wobble() // 2, (a[1] + b[1]) // 2 + wobble() // 2)
            cv2.line(loop, a, mid, 1.0, t, cv2.LINE_AA)
            cv2.line(loop, mid, b, 1.0, t, cv2.LINE_AA)
    _lay(paper, loop, 0, 0, _ink_level(rng))
    return _to_png(paper)


def shaded_png(
    digits28: Sequence[np.ndarray], rng: np.random.Generator, screen: bool | None = None
) -> bytes:
    """Digits written in a shaded form field: the field printed 60-90% as light as the paper,
    as a flat tint or (half the time) a halftone screen of dots 2-4 px apart softened by the
    scan, with a printed border a third of the time; it holds the digits with a margin of
    0.15-0.6 of a digit and may run off the image's edge (a crop of a form). ``screen``
    forces the halftone screen (True) or the flat tint (False)."""
    h = float(rng.uniform(34, 60))
    pen = float(rng.uniform(0.08, 0.16))
    covs = [pen_digit(d, rng, height=h, pen=pen) for d in digits28]
    gaps = [int(h * rng.uniform(0.15, 0.4)) for _ in covs]
    inner = sum(c.shape[1] for c in covs) + sum(gaps[1:])
    mx, my = (int(h * rng.uniform(0.15, 0.6)) for _ in range(2))
    fw, fh = inner + 2 * mx, int(h) + 2 * my
    out = [int(h * rng.uniform(0.3, 1.0)) if rng.random() < 0.7 else 0 for _ in range(4)]
    paper = _paper(fh + out[1] + out[3], fw + out[0] + out[2], rng)
    x0, y0 = out[0], out[1]
    field = np.zeros(paper.shape, np.float32)
    field[y0 : y0 + fh, x0 : x0 + fw] = 1.0
    shade = float(rng.uniform(0.6, 0.9))
    drawn = rng.random() < 0.5  # drawn either way: the same draws follow
    screen = drawn if screen is None else screen
    if screen:  # a halftone screen: dark dots covering (1 - shade) of the field
        step = int(rng.integers(2, 5))
        dots = np.zeros((paper.shape[0] * 4, paper.shape[1] * 4), np.float32)
        r = 4 * step * np.sqrt((1 - shade) / np.pi)
        for yy in range(4 * y0, 4 * (y0 + fh), 4 * step):
            for xx in range(4 * x0 + (yy // (4 * step) % 2) * 2 * step, 4 * (x0 + fw), 4 * step):
                cv2.circle(dots, (xx, yy), round(r), 1.0, -1)
        field *= cv2.resize(dots, paper.shape[::-1], interpolation=cv2.INTER_AREA)
        paper *= 1.0 - field * 0.7
    else:
        paper *= 1.0 - field * (1.0 - shade)
    if rng.random() < 1 / 3:
        border = np.zeros(paper.shape, np.float32)
        cv2.rectangle(border, (x0, y0), (x0 + fw - 1, y0 + fh - 1), 1.0, int(rng.integers(1, 3)))
        _lay(paper, border, 0, 0, _line_level(rng))
    ink, x = _ink_level(rng), x0 + mx
    for c, g in zip(covs, [0, *gaps[1:]], strict=True):
        x += g
        _lay(paper, c, x, y0 + my + (int(h) - c.shape[0]) // 2, ink)
        x += c.shape[1]
    if screen:
        paper = cv2.GaussianBlur(paper, (0, 0), float(rng.uniform(0.5, 1.0)))
    return _to_png(paper)


def desk_png(digits28: Sequence[np.ndarray], rng: np.random.Generator) -> bytes:
    """Digits written on a card or sheet, photographed on a darker desk: the sheet, turned up to
    8 deg, fills 45-85% of the frame and sometimes runs off one side; the desk (level 15-120)
    has a grain and a slow texture, and the light falls off a little towards one side."""
    h = float(rng.uniform(34, 60))
    covs = [pen_digit(d, rng, height=h) for d in digits28]
    sw = sum(c.shape[1] for c in covs) + int(0.3 * h) * (len(covs) - 1) + int(2 * h)
    sh = int(h * rng.uniform(2.2, 3.2))
    sheet = _paper(sh, sw, rng)
    x = int(h * rng.uniform(0.6, 1.4))
    for c in covs:
        _lay(sheet, c, x, (sh - c.shape[0]) // 2 + int(rng.integers(-4, 5)), _ink_level(rng))
        x += c.shape[1] + int(0.3 * h)
    H, W = int(sh / rng.uniform(0.45, 0.85)), int(sw / rng.uniform(0.45, 0.85))
    turn = cv2.getRotationMatrix2D((sw / 2, sh / 2), float(rng.uniform(-8, 8)), 1.0)
    turn[:, 2] += (int(rng.integers(0, W - sw + 1)), int(rng.integers(0, H - sh + 1)))
    on = cv2.warpAffine(np.ones((sh, sw), np.float32), turn, (W, H), flags=cv2.INTER_LINEAR)
    sheet = cv2.warpAffine(sheet, turn, (W, H), flags=cv2.INTER_LINEAR)
    texture = cv2.GaussianBlur(rng.normal(0, 1, (H, W)).astype(np.float32), (0, 0), 12)
    desk = float(rng.uniform(15, 120)) + texture * (25 / max(1e-6, float(texture.std())))
    desk += rng.normal(0, 3, (H, W)).astype(np.float32)
    page = sheet * on + desk * (1 - on)
    page *= np.linspace(1.0, float(rng.uniform(0.75, 1.0)), W, dtype=np.float32)[None, :]
    if rng.random() < 0.35:  # the frame cuts the sheet on one side, clear of the writing
        ys, xs = np.nonzero(on > 0.5)
        side = int(rng.integers(4))
        if side == 0:
            page = page[:, int(xs.min() + 0.3 * h * rng.random()) :]
        elif side == 1:
            page = page[:, : int(xs.max() - 0.3 * h * rng.random())]
        elif side == 2:
            page = page[int(ys.min() + 0.2 * h * rng.random()) :]
        else:
            page = page[: int(ys.max() - 0.2 * h * rng.random())]
    return _to_png(page)


def paper_sample(
    condition: str, x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> tuple[bytes, str]:
    """One synthetic input for ``condition`` (see PAPER_CONDITIONS) built from random digits of
    (x, y), and the text it holds."""
    i = int(rng.integers(len(x)))
    label = str(int(y[i]))
    if condition == "boxed":
        return boxed_png(x[i], rng), label
    if condition == "underline":
        return underline_png(x[i], rng), label
    if condition == "comb":
        idx = rng.integers(len(x), size=8)
        empty = rng.random(8) < 0.2
        digits = [None if e else x[j] for j, e in zip(idx, empty, strict=True)]
        png, kept = comb_png(digits, rng)
        return png, "".join(str(int(y[idx[k]])) for k in kept)
    if condition == "touching":
        j = int(rng.integers(len(x)))
        return touching_png(x[i], x[j], rng), label + str(int(y[j]))
    if condition == "rotated":
        return rotated_png(x[i], rng), label
    if condition == "jpeg25":
        return jpeg_bytes(x[i], rng), label
    if condition == "lowres16":
        return lowres_png(x[i], rng), label
    if condition == "thin_pen":
        return pen_png(x[i], rng, float(rng.uniform(0.03, 0.05))), label
    if condition == "thick_pen":
        return pen_png(x[i], rng, float(rng.uniform(0.2, 0.28))), label
    if condition == "shadow":
        return shadow_png(x[i], rng), label
    if condition == "dashed":
        return dashed_png(x[i], rng), label
    if condition == "grid":
        return grid_png(x[i], rng), label
    if condition == "rows":
        rows, text = _groups(x, y, rng, (2, 6))
        return rows_png(rows, rng), text
    if condition == "desk":
        idx = rng.integers(len(x), size=int(rng.integers(1, 4)))
        return desk_png([x[j] for j in idx], rng), _text(y, idx)
    if condition == "touching3":
        idx = rng.integers(len(x), size=3)
        return touching_run_png([x[j] for j in idx], rng), _text(y, idx)
    if condition == "circled":
        return circled_png(x[i], rng), label
    if condition == "shaded":
        idx = rng.integers(len(x), size=int(rng.integers(1, 5)))
        return shaded_png([x[j] for j in idx], rng), _text(y, idx)
    if condition in ("continental", "slashed_zero"):
        # 3-5 digits, each one of the formed digits half of the time, so most strings hold one
        continental = condition == "continental"
        formed = np.nonzero(np.isin(y, (1, 7) if continental else (0,)))[0]
        n = int(rng.integers(3, 6))
        idx = np.array(
            [
                int(rng.choice(formed)) if rng.random() < 0.5 else int(rng.integers(len(x)))
                for _ in range(n)
            ]
        )
        draw = continental_png if continental else slashed_png
        return draw([x[j] for j in idx], [int(y[j]) for j in idx], rng), _text(y, idx)
    if condition == "hyphenated":
        groups, text = _groups(x, y, rng, (2, 5))
        return hyphenated_png(groups, rng), text
    raise ValueError(f"unknown condition {condition!r}")


def _text(y: np.ndarray, idx: np.ndarray) -> str:
    return "".join(str(int(y[j])) for j in idx)


def _groups(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, size: tuple[int, int]
) -> tuple[list[list[np.ndarray]], str]:
    """2-3 groups of random digits of ``size`` (low, high exclusive) each, and their text."""
    shape = [int(rng.integers(*size)) for _ in range(int(rng.integers(2, 4)))]
    groups = [rng.integers(len(x), size=n) for n in shape]
    return [[x[j] for j in g] for g in groups], "".join(_text(y, g) for g in groups)
