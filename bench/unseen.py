"""Conditions nobody tuned for: a check of how the full path generalizes, not a target.

    .venv/bin/python -m bench.unseen [-n 300] [--conditions shadow,usps]

Each condition re-draws MNIST *test* digits (seed 7) the way another writer, pen, paper,
scanner or file format might give them, and prints the share read right (the whole string),
how many readings have too many / too few digits, and the time per image. The generators of
the conditions the issue names live in ``recognizer/synth.py``; these are probes around them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import cv2
import numpy as np

from recognizer.synth import (
    _ink_level,
    _lay,
    _paper,
    _single_on_paper,
    _thin,
    _to_png,
    boxed_png,
    broken_png,
    comb_png,
    pen_digit,
    pencil_png,
    rotated_png,
    show_through_png,
    underline_png,
)

Rng = np.random.Generator
Sample = bytes | tuple[bytes, str]


def _single(x: np.ndarray, rng: Rng, **kw: float) -> np.ndarray:
    return _single_on_paper(pen_digit(x, rng, **kw), rng)


def _crop(x: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(x > 30)
    return x[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _on_colour(cov: np.ndarray, paper_bgr: tuple, ink_bgr: tuple, m: int = 40) -> np.ndarray:
    h, w = cov.shape
    page = np.empty((h + 2 * m, w + 2 * m, 3), np.float32)
    page[...] = paper_bgr
    c = np.zeros(page.shape[:2], np.float32)
    c[m : m + h, m : m + w] = cov
    return page * (1 - c[..., None]) + np.array(ink_bgr, np.float32) * c[..., None]


def shadow(x: np.ndarray, rng: Rng) -> Sample:
    """Light falling to 45% across the page (a phone photo)."""
    p = _single(x, rng)
    h, w = p.shape
    g = np.linspace(1.0, 0.45, w, dtype=np.float32)[None, :]
    g = g * np.linspace(1.0, 0.8, h, dtype=np.float32)[:, None]
    return _to_png(p * (g[:, ::-1] if rng.random() < 0.5 else g))


def tight_shadow(x: np.ndarray, rng: Rng) -> Sample:
    """A thick-pen digit cropped 5 px from its ink, the light falling to 50%."""
    cov = pen_digit(x, rng, pen=float(rng.uniform(0.1, 0.25)))
    h, w = cov.shape
    paper = _paper(h + 10, w + 10, rng)
    _lay(paper, cov, 5, 5, _ink_level(rng))
    return _to_png(paper * np.linspace(1.0, 0.5, w + 10, dtype=np.float32)[None, :])


def _ruled(x: np.ndarray, rng: Rng, draw: Callable[[np.ndarray, int, int], None]) -> Sample:
    cov = pen_digit(x, rng)
    h, w = cov.shape
    paper = _paper(h + 60, w + 120, rng)
    lines = np.zeros(paper.shape, np.float32)
    draw(lines, 30 + h + int(rng.integers(2, 8)), int(rng.integers(2, 4)))
    _lay(paper, lines, 0, 0, 60.0)
    _lay(paper, cov, 60, 30, _ink_level(rng))
    return _to_png(paper)


def dashed_underline(x: np.ndarray, rng: Rng) -> Sample:
    def draw(lines: np.ndarray, y: int, t: int) -> None:
        for x0 in range(5, lines.shape[1] - 5, 12):
            lines[y : y + 2, x0 : x0 + 7] = 1

    return _ruled(x, rng, draw)


def dotted_underline(x: np.ndarray, rng: Rng) -> Sample:
    step = int(rng.integers(5, 9))

    def draw(lines: np.ndarray, y: int, t: int) -> None:
        for x0 in range(5, lines.shape[1] - 5, step):
            lines[y : y + t, x0 : x0 + t] = 1

    return _ruled(x, rng, draw)


def thick_underline(x: np.ndarray, rng: Rng) -> Sample:
    def draw(lines: np.ndarray, y: int, t: int) -> None:
        lines[y - 8 : y - 8 + 2 * t, 5:-5] = 1

    return _ruled(x, rng, draw)


def dashed_box(x: np.ndarray, rng: Rng) -> Sample:
    cov = pen_digit(x, rng)
    h, w = cov.shape
    bh, bw = int(h * 1.35), int(max(w, h * 0.8) * 1.35)
    paper = _paper(bh + 40, bw + 40, rng)
    lv = np.zeros(paper.shape, np.float32)
    t = int(rng.integers(1, 3))
    dash, gap = int(rng.integers(5, 10)), int(rng.integers(3, 6))
    for xx in range(20, 20 + bw, dash + gap):
        lv[20 : 20 + t, xx : min(20 + bw, xx + dash)] = 1
        lv[20 + bh : 20 + bh + t, xx : min(20 + bw, xx + dash)] = 1
    for yy in range(20, 20 + bh, dash + gap):
        lv[yy : min(20 + bh, yy + dash), 20 : 20 + t] = 1
        lv[yy : min(20 + bh, yy + dash), 20 + bw : 20 + bw + t] = 1
    _lay(paper, lv, 0, 0, 70.0)
    _lay(paper, cov, 20 + (bw - w) // 2, 20 + (bh - h) // 2, _ink_level(rng))
    return _to_png(paper)


def mouse(x: np.ndarray, rng: Rng) -> Sample:
    """Drawn with a mouse on a transparent 400x400 canvas: the digit's skeleton simplified to
    straight strokes (4-8% of its size off the curve), a round brush of 10-24 px, the digit
    150-300 px tall (narrower, when it is wide) anywhere on the canvas."""
    d = _crop(x)
    h, w = d.shape
    up = cv2.resize(d, (w * 4, h * 4), interpolation=cv2.INTER_CUBIC)
    skel = _thin((up > 110).astype(np.uint8))
    contours, _ = cv2.findContours(skel, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    brush = int(rng.integers(10, 25))
    f = min(float(rng.uniform(150, 300)) / (h * 4), (396 - 2 * brush) / (w * 4))
    pw, ph = int(w * 4 * f) + 2 * brush, int(h * 4 * f) + 2 * brush
    ox, oy = int(rng.integers(0, 400 - pw + 1)), int(rng.integers(0, 400 - ph + 1))
    canvas = np.zeros((400, 400, 4), np.uint8)
    eps = float(rng.uniform(0.04, 0.08)) * 4 * max(h, w)
    for c in contours:
        poly = cv2.approxPolyDP(c, eps, False).reshape(-1, 2).astype(np.float32)
        pts = np.round(poly * f + [ox + brush, oy + brush]).astype(np.int32)
        cv2.polylines(canvas, [pts], False, (40, 30, 20, 255), brush, cv2.LINE_AA)
    return cv2.imencode(".png", canvas)[1].tobytes()


def box_small(x: np.ndarray, rng: Rng) -> Sample:
    """The box 0.9 x the digit: the digit spills over its border."""
    return boxed_png(x, rng, fill=0.9)


def box_smaller(x: np.ndarray, rng: Rng) -> Sample:
    """The box 0.8 x the digit."""
    return boxed_png(x, rng, fill=0.8)


def box_crop(x: np.ndarray, rng: Rng) -> Sample:
    """A form field cut out along its printed box (a template's crop): the border 1-3 px
    runs along the image's edge, with 0-2 px of paper beyond it on some sides."""
    cov = pen_digit(x, rng)
    h, w = cov.shape
    bh = int(h * rng.uniform(1.15, 1.5))
    bw = max(int(bh * rng.uniform(0.75, 1.1)), w + 6)
    t = int(rng.integers(1, 4))
    pad = [int(rng.integers(1, 3)) if rng.random() < 0.4 else 0 for _ in range(4)]
    paper = _paper(bh + t + pad[1] + pad[3], bw + t + pad[0] + pad[2], rng)
    lines = np.zeros(paper.shape, np.float32)
    cv2.rectangle(lines, (pad[0], pad[1]), (pad[0] + bw, pad[1] + bh), 1.0, t)
    _lay(paper, lines, 0, 0, float(rng.uniform(20, 150)))
    x0 = pad[0] + t + 1 + int(rng.integers(0, max(1, bw - w - 2 * t - 1)))
    y0 = pad[1] + t + 1 + int(rng.integers(0, max(1, bh - h - 2 * t - 1)))
    _lay(paper, cov, x0, y0, _ink_level(rng))
    return _to_png(paper)


def skewed_box_crop(x: np.ndarray, rng: Rng) -> Sample:
    """``box_crop`` from a skewed scan: the page turned by up to 3 degrees, then the field
    cut out along the turned box's extent, 0-2 px inside it. The box's sides run slantwise
    into the image's edge."""
    cov = pen_digit(x, rng)
    h, w = cov.shape
    bh = int(h * rng.uniform(1.15, 1.5))
    bw = max(int(bh * rng.uniform(0.75, 1.1)), w + 6)
    t, m = int(rng.integers(1, 4)), 30
    paper = _paper(bh + 2 * m, bw + 2 * m, rng)
    lines = np.zeros(paper.shape, np.float32)
    cv2.rectangle(lines, (m, m), (m + bw, m + bh), 1.0, t)
    _lay(paper, lines, 0, 0, float(rng.uniform(20, 150)))
    x0 = m + t + 1 + int(rng.integers(0, max(1, bw - w - 2 * t - 1)))
    y0 = m + t + 1 + int(rng.integers(0, max(1, bh - h - 2 * t - 1)))
    _lay(paper, cov, x0, y0, _ink_level(rng))
    return _to_png(_turned_crop(paper, (m, m, m + bw, m + bh), rng))


def _turned_crop(paper: np.ndarray, box: tuple[int, int, int, int], rng: Rng) -> np.ndarray:
    """``paper`` turned by up to 3 degrees (a skewed scan), cut out along the turned ``box``'s
    extent (x0, y0, x1, y1), 0-2 px inside it."""
    turn = cv2.getRotationMatrix2D(
        (paper.shape[1] / 2, paper.shape[0] / 2), float(rng.uniform(-3, 3)), 1.0
    )
    page = cv2.warpAffine(paper, turn, paper.shape[::-1], borderMode=cv2.BORDER_REPLICATE)
    x0, y0, x1, y1 = box
    corners = np.array([[[x0, y0], [x1, y0], [x0, y1], [x1, y1]]], np.float32)
    turned = cv2.transform(corners, turn)[0]
    inset = int(rng.integers(0, 3))
    (left, top), (right, bottom) = (
        turned.min(0).astype(int) + inset,
        turned.max(0).astype(int) - inset,
    )
    return page[top : bottom + 1, left : right + 1]


def skewed_boxes_crop(x: np.ndarray, rng: Rng) -> Sample:
    """``boxes_crop`` from a skewed scan: a row of 3-6 boxes turned by up to 3 degrees, cut
    out along the turned row's extent, 0-2 px inside it."""
    n = int(rng.integers(3, 7))
    idx = rng.integers(len(_DATA["x"]), size=n)
    bh = int(rng.uniform(44, 72))
    bw = int(bh * rng.uniform(0.75, 1.0))
    t, m = int(rng.integers(1, 4)), 30
    paper = _paper(bh + 2 * m, n * bw + 2 * m, rng)
    _row_of_boxes(paper, (m, m), (bw, bh, t), idx, rng)
    crop = _turned_crop(paper, (m, m, m + n * bw, m + bh), rng)
    return _to_png(crop), "".join(str(int(_DATA["y"][j])) for j in idx)


def _skewed(png: bytes, rng: Rng, most: float = 3.0, least: float = 0.0) -> bytes:
    """``png`` as a page scanned askew: turned by ``least`` to ``most`` degrees either way,
    the paper at the edges carried out to the corners."""
    page = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    h, w = page.shape
    if least:
        degrees = float(rng.uniform(least, most)) * (1 if rng.random() < 0.5 else -1)
    else:
        degrees = float(rng.uniform(-most, most))
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return _to_png(cv2.warpAffine(page, turn, (w, h), borderMode=cv2.BORDER_REPLICATE))


def skewed_boxed(x: np.ndarray, rng: Rng) -> Sample:
    """A digit in a printed box (``synth.boxed_png``) on a page scanned up to 3 degrees
    askew."""
    return _skewed(boxed_png(x, rng), rng)


def skewed_underline(x: np.ndarray, rng: Rng) -> Sample:
    """A digit above a long printed underline (``synth.underline_png``), scanned up to 3
    degrees askew: the line steps a row every 20-60 px."""
    return _skewed(underline_png(x, rng), rng)


def skewed_comb(x: np.ndarray, rng: Rng) -> Sample:
    """A comb field of 8 boxes in a form (``synth.comb_png``), scanned up to 3 degrees
    askew."""
    idx = rng.integers(len(_DATA["x"]), size=8)
    png, _ = comb_png([_DATA["x"][j] for j in idx], rng)
    return _skewed(png, rng), "".join(str(int(_DATA["y"][j])) for j in idx)


def tilted_boxed(x: np.ndarray, rng: Rng) -> Sample:
    """A digit in a printed box, on a form photographed by hand: turned 4-9 degrees."""
    return _skewed(boxed_png(x, rng), rng, most=9.0, least=4.0)


def tilted_underline(x: np.ndarray, rng: Rng) -> Sample:
    """A digit above a long printed underline, photographed turned 4-9 degrees."""
    return _skewed(underline_png(x, rng), rng, most=9.0, least=4.0)


def tilted_comb(x: np.ndarray, rng: Rng) -> Sample:
    """A comb field of 8 boxes in a form, photographed turned 4-9 degrees."""
    idx = rng.integers(len(_DATA["x"]), size=8)
    png, _ = comb_png([_DATA["x"][j] for j in idx], rng)
    return _skewed(png, rng, most=9.0, least=4.0), "".join(str(int(_DATA["y"][j])) for j in idx)


def boxes_crop(x: np.ndarray, rng: Rng) -> Sample:
    """A row of 3-6 boxes sharing their sides, one digit in each, cut out along the row's
    outer border (``box_crop`` for a comb field)."""
    n = int(rng.integers(3, 7))
    idx = rng.integers(len(_DATA["x"]), size=n)
    bh = int(rng.uniform(44, 72))
    bw = int(bh * rng.uniform(0.75, 1.0))
    t = int(rng.integers(1, 4))
    pad = [int(rng.integers(1, 3)) if rng.random() < 0.4 else 0 for _ in range(4)]
    paper = _paper(bh + t + pad[1] + pad[3], n * bw + t + pad[0] + pad[2], rng)
    _row_of_boxes(paper, (pad[0], pad[1]), (bw, bh, t), idx, rng)
    return _to_png(paper), "".join(str(int(_DATA["y"][j])) for j in idx)


def _row_of_boxes(
    paper: np.ndarray, at: tuple[int, int], size: tuple[int, int, int], idx: np.ndarray, rng: Rng
) -> None:
    """Print on ``paper`` a row of boxes sharing their sides, from ``at`` (its top left
    corner), each ``size`` (width, height, line thickness), and write digits ``idx`` in
    them, one a box."""
    (ox, oy), (bw, bh, t), n = at, size, len(idx)
    lines = np.zeros(paper.shape, np.float32)
    cv2.rectangle(lines, (ox, oy), (ox + n * bw, oy + bh), 1.0, t)
    for i in range(1, n):
        cv2.line(lines, (ox + i * bw, oy), (ox + i * bw, oy + bh), 1.0, t)
    _lay(paper, lines, 0, 0, float(rng.uniform(20, 150)))
    ink = _ink_level(rng)
    for i, j in enumerate(idx):
        cov = pen_digit(_DATA["x"][j], rng, height=bh * float(rng.uniform(0.6, 0.85)))
        h, w = cov.shape
        if w > bw - 2 * t - 2:
            f = (bw - 2 * t - 2) / w
            cov = cv2.resize(cov, (max(1, int(w * f)), max(1, int(h * f))), cv2.INTER_AREA)
            h, w = cov.shape
        x0 = ox + i * bw + t + 1 + int(rng.integers(0, max(1, bw - w - 2 * t - 1)))
        y0 = oy + t + 1 + int(rng.integers(0, max(1, bh - h - 2 * t - 1)))
        _lay(paper, cov, x0, y0, ink)


def graph_paper(x: np.ndarray, rng: Rng) -> Sample:
    cov = pen_digit(x, rng, height=60.0)
    h, w = cov.shape
    paper = _paper(h + 80, w + 80, rng)
    step = int(rng.integers(18, 26))
    off = int(rng.integers(step))
    lv = np.zeros(paper.shape, np.float32)
    lv[off::step, :] = 1
    lv[:, off::step] = 1
    _lay(paper, lv, 0, 0, 170.0)
    _lay(paper, cov, 40, 40, _ink_level(rng))
    return _to_png(paper)


def notebook(x: np.ndarray, rng: Rng) -> Sample:
    """Blue ruled notebook paper, the digit crossing a rule."""
    cov = pen_digit(x, rng, height=50.0)
    h, w = cov.shape
    page = np.full((200, w + 200, 3), 245, np.float32)
    sp = int(rng.integers(30, 42))
    for yy in range(int(rng.integers(sp)), 200, sp):
        page[yy : yy + 2, :] = (230, 190, 150)
    c = np.zeros(page.shape[:2], np.float32)
    oy = 70 + int(rng.integers(-10, 10))
    c[oy : oy + h, 100 : 100 + w] = cov
    return _to_png(page * (1 - c[..., None]) + 30 * c[..., None])


def tick_mark(x: np.ndarray, rng: Rng) -> Sample:
    """A reviewer's small check mark beside the digit."""
    cov = pen_digit(x, rng)
    h, w = cov.shape
    p = _paper(h + 80, w + 120, rng)
    _lay(p, cov, 40, 40, _ink_level(rng))
    tick = np.zeros((12, 12), np.float32)
    cv2.line(tick, (1, 6), (4, 10), 1.0, 2)
    cv2.line(tick, (4, 10), (10, 1), 1.0, 2)
    _lay(p, tick, 40 + w + 40, 40 + h // 2, 40.0)
    return _to_png(p)


def blue_ink(x: np.ndarray, rng: Rng) -> Sample:
    return _to_png(_on_colour(pen_digit(x, rng), (240, 240, 240), (160, 60, 30)))


def yellow_paper(x: np.ndarray, rng: Rng) -> Sample:
    return _to_png(_on_colour(pen_digit(x, rng), (150, 235, 245), (120, 40, 20)))


def red_box(x: np.ndarray, rng: Rng) -> Sample:
    """A form's drop-out red box around a dark digit."""
    cov = pen_digit(x, rng)
    h, w = cov.shape
    bh, bw = int(h * 1.3), int(max(w, h * 0.8) * 1.3)
    page = np.full((bh + 40, bw + 40, 3), 245, np.float32)
    cv2.rectangle(page, (20, 20), (20 + bw, 20 + bh), (120, 120, 230), 2)
    c = np.zeros(page.shape[:2], np.float32)
    oy, ox = 20 + (bh - h) // 2, 20 + (bw - w) // 2
    c[oy : oy + h, ox : ox + w] = cov
    return _to_png(page * (1 - c[..., None]) + 30 * c[..., None])


def low_contrast_blur(x: np.ndarray, rng: Rng) -> Sample:
    cov = pen_digit(x, rng)
    paper = _paper(cov.shape[0] + 60, cov.shape[1] + 60, rng) * 0.5 + 90
    _lay(paper, cov, 30, 30, 140.0)
    return _to_png(cv2.GaussianBlur(paper, (0, 0), 1.5))


def pencil(x: np.ndarray, rng: Rng) -> Sample:
    """A light, grainy pencil line."""
    return pencil_png(x, rng)


def broken(x: np.ndarray, rng: Rng) -> Sample:
    """A pen that skips: a quarter of the stroke missing in 4 px patches."""
    return broken_png(x, rng)


def speckle(x: np.ndarray, rng: Rng) -> Sample:
    p = _single(x, rng)
    n = int(p.size * 0.004)
    p[rng.integers(p.shape[0], size=n), rng.integers(p.shape[1], size=n)] = 30
    return _to_png(p)


def noise25(x: np.ndarray, rng: Rng) -> Sample:
    p = _single(x, rng)
    return _to_png(p + rng.normal(0, 25, p.shape).astype(np.float32))


def jpeg10(x: np.ndarray, rng: Rng) -> Sample:
    img = np.clip(_single(x, rng), 0, 255).astype(np.uint8)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 10])[1].tobytes()


def jpeg_photo(x: np.ndarray, rng: Rng) -> Sample:
    p = cv2.GaussianBlur(_single(x, rng, height=120.0), (0, 0), 1.2)
    p = p + rng.normal(0, 8, p.shape).astype(np.float32)
    img = np.clip(np.dstack([p * 0.95, p, p * 0.9]), 0, 255).astype(np.uint8)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 60])[1].tobytes()


def exif_rotated(x: np.ndarray, rng: Rng) -> Sample:
    """A phone JPEG stored sideways with EXIF orientation 6 (shown upright by browsers)."""
    import io

    from PIL import Image

    stored = cv2.rotate(
        np.clip(_single(x, rng), 0, 255).astype(np.uint8), cv2.ROTATE_90_COUNTERCLOCKWISE
    )
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(stored).save(buf, "JPEG", quality=85, exif=exif.tobytes())
    return buf.getvalue()


def motion(x: np.ndarray, rng: Rng) -> Sample:
    k = np.zeros((9, 9), np.float32)
    k[4, :] = 1 / 9
    return _to_png(cv2.filter2D(_single(x, rng, height=70.0), -1, k))


def chalk(x: np.ndarray, rng: Rng) -> Sample:
    """Light ink on a dark board."""
    return _to_png(255 - _single(x, rng))


def gray_alpha(x: np.ndarray, rng: Rng) -> Sample:
    """Black ink on a transparent background (only alpha carries the digit)."""
    cov = pen_digit(x, rng)
    a = cv2.copyMakeBorder(cov, 30, 30, 30, 30, cv2.BORDER_CONSTANT, value=0)
    z = np.zeros_like(a)
    return _to_png(np.dstack([z, z, z, a * 255]))


def big500(x: np.ndarray, rng: Rng) -> Sample:
    return _to_png(_single(x, rng, height=500.0))


def big_page(x: np.ndarray, rng: Rng) -> Sample:
    """A 60 px digit somewhere on a 2,000 x 1,500 page."""
    cov = pen_digit(x, rng, height=60.0)
    p = _paper(1500, 2000, rng)
    _lay(p, cov, int(rng.integers(100, 1800)), int(rng.integers(100, 1300)), _ink_level(rng))
    return _to_png(p)


def _shrunk(x: np.ndarray, rng: Rng, f: float, height: float = 48.0) -> Sample:
    p = _single_on_paper(pen_digit(x, rng, height=height), rng)
    return _to_png(cv2.resize(p, None, fx=f, fy=f, interpolation=cv2.INTER_AREA))


def tiny11(x: np.ndarray, rng: Rng) -> Sample:
    return _shrunk(x, rng, 0.5, 22.0)


def small12(x: np.ndarray, rng: Rng) -> Sample:
    return _shrunk(x, rng, 0.25)


def small8(x: np.ndarray, rng: Rng) -> Sample:
    return _shrunk(x, rng, 1 / 6)


def pixelated(x: np.ndarray, rng: Rng) -> Sample:
    """A digit on paper 9-16 px tall, blown up 3-8x by repeating its pixels (nearest
    neighbour, as a viewer or an old ``PIL.resize`` enlarges), half the time by a whole number."""
    p = _single_on_paper(pen_digit(x, rng, height=48.0), rng)
    r = float(rng.uniform(9, 16)) / 48
    small = cv2.resize(p, None, fx=r, fy=r, interpolation=cv2.INTER_AREA)
    f = float(rng.integers(3, 9)) if rng.random() < 0.5 else float(rng.uniform(3, 8))
    return _to_png(cv2.resize(small, None, fx=f, fy=f, interpolation=cv2.INTER_NEAREST))


def uci8x8(x: np.ndarray, rng: Rng) -> Sample:
    """Not MNIST: a digit of the UCI optical-recognition set that ships with scikit-learn
    (``load_digits``: 1,797 digits of 13 writers other than MNIST's, each 8 x 8 counts of a
    32 x 32 bitmap), with a 2-pixel margin shown dark on light at 96 x 96, enlarged smoothly
    (cubic or linear) or by repeating its pixels. The same digits whichever ``--digits``."""
    if "uci_x" not in _DATA:
        from sklearn.datasets import load_digits

        d = load_digits()
        _DATA["uci_x"], _DATA["uci_y"] = d.images.astype(np.float32), d.target
    i = int(rng.integers(len(_DATA["uci_y"])))
    g = np.pad(_DATA["uci_x"][i] * (255 / 16), 2)
    how = (cv2.INTER_CUBIC, cv2.INTER_LINEAR, cv2.INTER_NEAREST)[int(rng.integers(3))]
    big = np.clip(cv2.resize(g, (96, 96), interpolation=how), 0, 255)
    return _to_png(255 - big), str(_DATA["uci_y"][i])


def slant25(x: np.ndarray, rng: Rng) -> Sample:
    cov = pen_digit(x, rng)
    h, w = cov.shape
    sh = float(rng.choice([-1, 1]) * rng.uniform(0.3, 0.45))
    m = np.float32([[1, sh, (abs(sh) * h if sh < 0 else 0) + 2], [0, 1, 0]])
    return _to_png(_single_on_paper(cv2.warpAffine(cov, m, (w + int(abs(sh) * h) + 4, h)), rng))


def rot30(x: np.ndarray, rng: Rng) -> Sample:
    return rotated_png(x, rng, max_deg=30)


def tight_thick(x: np.ndarray, rng: Rng) -> Sample:
    cov = pen_digit(x, rng, pen=float(rng.uniform(0.2, 0.3)))
    p = _paper(cov.shape[0] + 6, cov.shape[1] + 6, rng)
    _lay(p, cov, 3, 3, _ink_level(rng))
    return _to_png(p)


def tight_big(x: np.ndarray, rng: Rng) -> Sample:
    cov = pen_digit(x, rng, height=120.0)
    p = _paper(cov.shape[0] + 4, cov.shape[1] + 4, rng)
    _lay(p, cov, 2, 2, _ink_level(rng))
    return _to_png(p)


def optdigits32(x: np.ndarray, rng: Rng) -> Sample:
    """A 32 x 32 binary bitmap, the digit scaled to fill it (aspect kept)."""
    c = _crop(x)
    h, w = c.shape
    f = 32 / max(h, w)
    d = cv2.resize(c, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    out = np.zeros((32, 32), np.float32)
    oy, ox = (32 - d.shape[0]) // 2, (32 - d.shape[1]) // 2
    out[oy : oy + d.shape[0], ox : ox + d.shape[1]] = d
    return _to_png(np.where(out > 100, 255.0, 0.0))


def usps(x: np.ndarray, rng: Rng) -> Sample:
    """Stretched to fill 16 x 16 (aspect not kept), dark on light."""
    return _to_png(255.0 - cv2.resize(_crop(x), (16, 16), interpolation=cv2.INTER_AREA))


def semeion(x: np.ndarray, rng: Rng) -> Sample:
    """Stretched to fill 16 x 16, then binarized."""
    d = cv2.resize(_crop(x), (16, 16), interpolation=cv2.INTER_AREA)
    return _to_png(np.where(d > 100, 255.0, 0.0))


def fill28(x: np.ndarray, rng: Rng) -> Sample:
    """Stretched to fill 28 x 28, white on black."""
    return _to_png(cv2.resize(_crop(x), (28, 28), interpolation=cv2.INTER_AREA).astype(np.float32))


def _string(rng: Rng, n: int, gaps: tuple[int, int], jitter: int, heights: tuple) -> Sample:
    idx = rng.integers(len(_DATA["x"]), size=n)
    covs = [pen_digit(_DATA["x"][i], rng, height=float(rng.uniform(*heights))) for i in idx]
    paper = _paper(140, sum(c.shape[1] for c in covs) + 40 * (n + 4), rng)
    xx = 40
    for c in covs:
        _lay(paper, c, xx, 40 + int(rng.integers(-jitter, jitter + 1)), _ink_level(rng))
        xx += c.shape[1] + int(rng.integers(gaps[0], gaps[1] + 1))
    return _to_png(paper), "".join(str(_DATA["y"][i]) for i in idx)


def spaced5(x: np.ndarray, rng: Rng) -> Sample:
    return _string(rng, 5, (8, 25), 5, (50.0, 50.0))


def close4(x: np.ndarray, rng: Rng) -> Sample:
    return _string(rng, 4, (1, 6), 5, (50.0, 50.0))


def mild5(x: np.ndarray, rng: Rng) -> Sample:
    return _string(rng, 5, (4, 20), 6, (45.0, 60.0))


def varied5(x: np.ndarray, rng: Rng) -> Sample:
    return _string(rng, 5, (4, 20), 10, (35.0, 65.0))


def shaded_field(x: np.ndarray, rng: Rng) -> Sample:
    """A form field shaded grey (70-90% of the paper) with the digit written in it."""
    cov = pen_digit(x, rng)
    h, w = cov.shape
    paper = _paper(h + 80, w + 120, rng)
    paper[20 : 20 + h + 40, 30 : 30 + w + 60] *= float(rng.uniform(0.7, 0.9))
    _lay(paper, cov, 60, 40, _ink_level(rng))
    return _to_png(paper)


def printed_label(x: np.ndarray, rng: Rng) -> Sample:
    """A printed label ("No.", "Total:") left of three handwritten digits: only the digits."""
    idx = rng.integers(len(_DATA["x"]), size=3)
    covs = [pen_digit(_DATA["x"][i], rng, height=44.0) for i in idx]
    paper = _paper(120, 420, rng)
    text = np.zeros(paper.shape, np.uint8)
    label = ["No.", "Total:", "Qty", "ID"][int(rng.integers(4))]
    cv2.putText(text, label, (10, 80), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2, cv2.LINE_AA)
    _lay(paper, text.astype(np.float32) / 255, 0, 0, 40.0)
    left = 150
    for c in covs:
        _lay(paper, c, left, 40, _ink_level(rng))
        left += c.shape[1] + 12
    return _to_png(paper), "".join(str(_DATA["y"][i]) for i in idx)


def label_near(x: np.ndarray, rng: Rng) -> Sample:
    """A printed label in a font of random size (0.3-0.55 of the digits' height) only a third
    to one digit height left of three handwritten digits: only the digits."""
    idx = rng.integers(len(_DATA["x"]), size=3)
    covs = [pen_digit(_DATA["x"][i], rng, height=44.0) for i in idx]
    paper = _paper(120, 460, rng)
    text = np.zeros(paper.shape, np.uint8)
    label = ["No.", "Total:", "Qty", "ID", "Box", "Ref"][int(rng.integers(6))]
    font, size = cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.5, 0.95))
    thick = int(rng.integers(1, 3))
    (tw, _), _ = cv2.getTextSize(label, font, size, thick)
    cv2.putText(text, label, (10, 84), font, size, 255, thick, cv2.LINE_AA)
    _lay(paper, text.astype(np.float32) / 255, 0, 0, 40.0)
    left = 10 + tw + int(44 * rng.uniform(0.33, 1.0))
    for c in covs:
        _lay(paper, c, left, 40, _ink_level(rng))
        left += c.shape[1] + 12
    return _to_png(paper), "".join(str(_DATA["y"][i]) for i in idx)


def unit_after(x: np.ndarray, rng: Rng) -> Sample:
    """A printed unit ("kg", "mm", "pcs") 0.3-0.55 of the digits' height, a third to one digit
    height right of three handwritten digits: only the digits."""
    idx = rng.integers(len(_DATA["x"]), size=3)
    covs = [pen_digit(_DATA["x"][i], rng, height=44.0) for i in idx]
    paper = _paper(120, 460, rng)
    left = 20
    for c in covs:
        _lay(paper, c, left, 40, _ink_level(rng))
        left += c.shape[1] + 12
    text = np.zeros(paper.shape, np.uint8)
    unit = ["kg", "cm", "mm", "pcs", "EUR", "km"][int(rng.integers(6))]
    font, size = cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.5, 0.95))
    left += int(44 * rng.uniform(0.33, 1.0)) - 12
    cv2.putText(text, unit, (left, 84), font, size, 255, int(rng.integers(1, 3)), cv2.LINE_AA)
    _lay(paper, text.astype(np.float32) / 255, 0, 0, 40.0)
    return _to_png(paper), "".join(str(_DATA["y"][i]) for i in idx)


def show_through(x: np.ndarray, rng: Rng) -> Sample:
    """Another digit showing through from the back of the page beside this one (mirrored,
    25-50% as dark)."""
    return show_through_png(x, _DATA["x"][int(rng.integers(len(_DATA["x"])))], rng)


def caption_above(x: np.ndarray, rng: Rng) -> Sample:
    """A printed caption ("Amount", "Date of birth") over a field of two to four handwritten
    digits, 0.25-1 digit height above them: only the digits."""
    idx = rng.integers(len(_DATA["x"]), size=int(rng.integers(2, 5)))
    covs = [pen_digit(_DATA["x"][i], rng, height=46.0) for i in idx]
    paper = _paper(180, 340, rng)
    text = np.zeros(paper.shape, np.uint8)
    words = ["Amount", "Date of birth", "Total", "Quantity", "Postcode", "Room", "Age"]
    word = words[int(rng.integers(len(words)))]
    size, thick = float(rng.uniform(0.45, 0.8)), int(rng.integers(1, 3))
    (_, th), _ = cv2.getTextSize(word, cv2.FONT_HERSHEY_DUPLEX, size, thick)
    base = 20 + th + int(rng.integers(0, 10))
    cv2.putText(
        text,
        word,
        (int(rng.integers(10, 60)), base),
        cv2.FONT_HERSHEY_DUPLEX,
        size,
        255,
        thick,
        cv2.LINE_AA,
    )
    _lay(paper, text.astype(np.float32) / 255, 0, 0, 40.0)
    left, top = int(rng.integers(20, 50)), base + int(46 * rng.uniform(0.25, 1.0))
    for c in covs:
        _lay(paper, c, left, top, _ink_level(rng))
        left += c.shape[1] + int(rng.integers(8, 20))
    return _to_png(paper), "".join(str(_DATA["y"][i]) for i in idx)


def keystone(x: np.ndarray, rng: Rng) -> Sample:
    """Three digits on a page photographed at an angle (one side 70-85% of the other)."""
    idx = rng.integers(len(_DATA["x"]), size=3)
    covs = [pen_digit(_DATA["x"][i], rng, height=48.0) for i in idx]
    paper = _paper(150, 320, rng)
    left = 40
    for c in covs:
        _lay(paper, c, left, 50, _ink_level(rng))
        left += c.shape[1] + 14
    H, W = paper.shape
    d = (1 - float(rng.uniform(0.7, 0.85))) / 2 * H
    src = np.float32([[0, 0], [W, 0], [W, H], [0, H]])
    dst = np.float32([[0, 0], [W, d], [W, H - d], [0, H]])
    warp = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(paper, warp, (W, H), borderValue=float(np.median(paper)))
    return _to_png(out), "".join(str(_DATA["y"][i]) for i in idx)


def _amount(rng: Rng, after: int, mark: Callable[[tuple, int, int, int], tuple]) -> Sample:
    """Four digits written as an amount, with a printed-by-hand ``mark`` after digit ``after``:
    ``mark(shape, left, baseline, pen)`` gives (coverage, width it takes)."""
    idx = rng.integers(len(_DATA["x"]), size=4)
    h = float(rng.uniform(38, 60))
    covs = [pen_digit(_DATA["x"][i], rng, height=h) for i in idx]
    paper = _paper(int(h) + 80, sum(c.shape[1] for c in covs) + 180, rng)
    left, ink, pen = 30, _ink_level(rng), max(2, int(h * 0.1))
    for k, c in enumerate(covs):
        _lay(paper, c, left, 40, ink)
        left += c.shape[1] + int(rng.integers(6, 14))
        if k == after:
            cov, width = mark(paper.shape, left, 40 + int(h), pen)
            _lay(paper, cov, 0, 0, ink)
            left += width + int(rng.integers(6, 12))
    return _to_png(paper), "".join(str(_DATA["y"][i]) for i in idx)


def decimal(x: np.ndarray, rng: Rng) -> Sample:
    """An amount with a decimal point ("12.50"): the point is no digit."""

    def point(shape: tuple, left: int, base: int, pen: int) -> tuple:
        dot = np.zeros(shape, np.float32)
        cv2.circle(dot, (left + pen, base - pen), max(1, int(pen * 0.7)), 1.0, -1)
        return dot, 3 * pen

    return _amount(rng, 1, point)


def thousands(x: np.ndarray, rng: Rng) -> Sample:
    """An amount with a thousands comma after its first digit ("1,250"): a round head on the
    baseline and a tail down to the left; the comma is no digit."""

    def comma(shape: tuple, left: int, base: int, pen: int) -> tuple:
        mark = np.zeros(shape, np.float32)
        head = (left + pen, base - pen // 2)
        tail = (left + pen - int(pen * rng.uniform(0.4, 1.0)), base + int(pen * 1.6))
        cv2.circle(mark, head, max(1, int(pen * 0.6)), 1.0, -1, cv2.LINE_AA)
        cv2.line(mark, head, tail, 1.0, max(1, int(pen * 0.6)), cv2.LINE_AA)
        return mark, 2 * pen

    return _amount(rng, 0, comma)


CONDITIONS: dict[str, Callable[[np.ndarray, Rng], Sample]] = {
    f.__name__: f
    for f in (
        shadow, tight_shadow, dashed_underline, dotted_underline, dashed_box, thick_underline,
        box_small, box_smaller, box_crop, boxes_crop, skewed_box_crop, skewed_boxes_crop,
        skewed_boxed, skewed_underline, skewed_comb, tilted_boxed, tilted_underline, tilted_comb,
        mouse,
        graph_paper, notebook, tick_mark, blue_ink, yellow_paper, red_box, low_contrast_blur,
        pencil, broken, speckle, noise25, jpeg10, jpeg_photo, exif_rotated, motion, chalk,
        gray_alpha,
        big500, big_page, tiny11, small12, small8, pixelated, uci8x8, slant25, rot30, tight_thick,
        tight_big,
        optdigits32, usps, semeion, fill28, spaced5, close4, mild5, varied5,
        shaded_field, printed_label, label_near, unit_after, keystone, decimal, thousands,
        show_through, caption_above,
    )
}  # fmt: skip
_DATA: dict[str, np.ndarray] = {}


def run(model, name: str, n: int, seed: int = 7) -> str:
    """One condition's line: share right, too many / too few digits, errors, ms per image."""
    rng = np.random.default_rng(seed)
    x, y = _DATA["x"], _DATA["y"]
    blobs, truth = [], []
    for _ in range(n):
        i = int(rng.integers(len(x)))
        out = CONDITIONS[name](x[i], rng)
        blob, text = out if isinstance(out, tuple) else (out, str(y[i]))
        blobs.append(blob)
        truth.append(text)
    t = time.perf_counter()
    recs = model.recognize_many(blobs)
    ms = (time.perf_counter() - t) / n * 1000
    read = [r.text if r.error is None else "" for r in recs]
    ok = sum(r == s for r, s in zip(read, truth, strict=True))
    extra = sum(len(r) > len(s) for r, s in zip(read, truth, strict=True))
    fewer = sum(len(r) < len(s) for r, s in zip(read, truth, strict=True))
    errors = sum(r.error is not None for r in recs)
    return (
        f"{name:18s} {100 * ok / n:6.1f}%  too many {extra:3d}  too few {fewer:3d}  "
        f"errors {errors:3d}  {ms:5.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    from recognizer import load_model
    from recognizer.datasets import find_mnist

    ap = argparse.ArgumentParser(prog="python -m bench.unseen", description=__doc__)
    ap.add_argument("-n", type=int, default=300, help="images per condition")
    ap.add_argument("--data", default=None, help="MNIST .npz [default: $DIGITS_MNIST]")
    ap.add_argument("--model", default=None, help="model path [default: shipped model]")
    ap.add_argument("--conditions", default=None, help="comma-separated [default: all]")
    ap.add_argument("--seed", type=int, default=7, help="the inputs' seed [default: 7]")
    ap.add_argument(
        "--digits",
        choices=("test", "dev"),
        default="test",
        help="MNIST test digits, or train 50,000-59,999 to choose a change on before the test "
        "digits check it [default: test]",
    )
    args = ap.parse_args(argv)
    with np.load(find_mnist(args.data)) as d:
        if args.digits == "dev":
            _DATA["x"], _DATA["y"] = d["x_train"][50_000:], d["y_train"][50_000:]
        else:
            _DATA["x"], _DATA["y"] = d["x_test"], d["y_test"]
    model = load_model(args.model) if args.model else load_model()
    for name in args.conditions.split(",") if args.conditions else CONDITIONS:
        print(run(model, name, args.n, args.seed), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
