"""Turn an MNIST digit into pen strokes (polylines) a browser test can replay with the mouse.

28x28 digit -> upscale -> threshold -> Zhang-Suen thinning -> follow the skeleton into paths.
"""

from __future__ import annotations

import cv2
import numpy as np

from tests.support import MNIST

UPSCALE = 4  # skeleton grid: 28 * 4 = 112


def mnist_test(indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
    with np.load(MNIST) as data:
        return data["x_test"][indices], data["y_test"][indices]


def zhang_suen(binary: np.ndarray) -> np.ndarray:
    """One-pixel-wide skeleton of a 0/1 image (vectorized Zhang-Suen thinning)."""
    img = (binary > 0).astype(np.uint8)
    while True:
        changed = False
        for step in (0, 1):
            p = np.pad(img, 1)
            p2, p3, p4 = p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:]
            p5, p6, p7 = p[2:, 2:], p[2:, 1:-1], p[2:, :-2]
            p8, p9 = p[1:-1, :-2], p[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            b = sum(n.astype(int) for n in ring[:8])
            a = sum(((ring[i] == 0) & (ring[i + 1] == 1)).astype(int) for i in range(8))
            if step == 0:
                c = ((p2 * p4 * p6) == 0) & ((p4 * p6 * p8) == 0)
            else:
                c = ((p2 * p4 * p8) == 0) & ((p2 * p6 * p8) == 0)
            remove = (img == 1) & (b >= 2) & (b <= 6) & (a == 1) & c
            if remove.any():
                img[remove] = 0
                changed = True
        if not changed:
            return img


def trace(skeleton: np.ndarray) -> list[list[tuple[int, int]]]:
    """Follow skeleton pixels into paths of (row, col), starting from line ends."""
    pixels = {(int(r), int(c)) for r, c in zip(*np.nonzero(skeleton), strict=True)}
    visited: set[tuple[int, int]] = set()

    def neighbours(p):
        r, c = p
        return [
            (r + dr, c + dc)
            for dr in (-1, 0, 1)
            for dc in (-1, 0, 1)
            if (dr or dc) and (r + dr, c + dc) in pixels
        ]

    paths = []
    while len(visited) < len(pixels):
        remaining = sorted(p for p in pixels if p not in visited)
        ends = [p for p in remaining if sum(q not in visited for q in neighbours(p)) <= 1]
        start = (ends or remaining)[0]
        path = []
        joined = [q for q in neighbours(start) if q in visited]
        if joined:  # a branch off an already drawn path: start on that path so strokes connect
            path.append(joined[0])
        path.append(start)
        visited.add(start)
        cur, direction = start, (0, 0)
        while True:
            cand = [q for q in neighbours(cur) if q not in visited]
            if not cand:
                break

            def cost(q, cur=cur, direction=direction):
                d = (q[0] - cur[0], q[1] - cur[1])
                return (abs(d[0]) + abs(d[1]), -(d[0] * direction[0] + d[1] * direction[1]))

            nxt = min(cand, key=cost)
            direction = (nxt[0] - cur[0], nxt[1] - cur[1])
            visited.add(nxt)
            path.append(nxt)
            cur = nxt
        paths.append(path)
    long = [p for p in paths if len(p) >= 4]
    return long or paths


def digit_strokes(digit28: np.ndarray) -> list[list[tuple[float, float]]]:
    """Strokes as (x, y) in 0..28 digit coordinates."""
    size = 28 * UPSCALE
    big = cv2.resize(digit28, (size, size), interpolation=cv2.INTER_CUBIC)
    skeleton = zhang_suen(big > 110)
    out = []
    for path in trace(skeleton):
        pts = np.array([((c + 0.5) / UPSCALE, (r + 0.5) / UPSCALE) for r, c in path])
        if len(pts) > 4:  # smooth the pixel staircase, keep the ends
            k = 5
            padded = np.concatenate(
                [np.repeat(pts[:1], k // 2, 0), pts, np.repeat(pts[-1:], k // 2, 0)]
            )
            smooth = np.stack(
                [np.convolve(padded[:, i], np.ones(k) / k, "valid") for i in (0, 1)], 1
            )
            smooth[0], smooth[-1] = pts[0], pts[-1]
            pts = np.concatenate([smooth[:-1:2], smooth[-1:]])
        out.append([(float(x), float(y)) for x, y in pts])
    return out


def replay(page, canvas_selector: str, strokes, origin, scale) -> None:
    """Draw strokes (digit coordinates) on a canvas with the mouse.

    `origin` (x, y) and `scale` are in the canvas's native pixels; the canvas may be displayed at
    another CSS size, so positions are mapped through its bounding box."""
    canvas = page.locator(canvas_selector)
    box = canvas.bounding_box()
    assert box, "canvas not visible"
    native = canvas.evaluate("c => [c.width, c.height]")
    kx, ky = box["width"] / native[0], box["height"] / native[1]

    def to_page(p):
        return box["x"] + (origin[0] + p[0] * scale) * kx, box["y"] + (
            origin[1] + p[1] * scale
        ) * ky

    for stroke in strokes:
        x, y = to_page(stroke[0])
        page.mouse.move(x, y)
        page.mouse.down()
        for p in stroke[1:]:
            x, y = to_page(p)
            page.mouse.move(x, y)
        page.mouse.up()
