"""Intermediate images of the preprocessing pipeline, for display on a web page."""

from __future__ import annotations

import cv2
import numpy as np

from . import features as F
from .errors import UnreadableImage
from .imageio import DEFAULT_MAX_PIXELS, Box, ImageInfo, decode_drawn, to_ink
from .normalize import TARGET_WIDTH, normalize_digit
from .pipeline import unblocked
from .segment import Segmentation, segment

DISPLAY_MAX = 512


def _png(img: np.ndarray, min_side: int = 0) -> bytes:
    img = np.ascontiguousarray(img)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    if max(h, w) > DISPLAY_MAX:
        f = DISPLAY_MAX / max(h, w)
        img = cv2.resize(
            img, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA
        )
    elif min_side and max(h, w) < min_side:
        f = max(1, min_side // max(h, w))
        img = cv2.resize(img, (w * f, h * f), interpolation=cv2.INTER_NEAREST)
    ok, buf = cv2.imencode(".png", img)
    return buf.tobytes() if ok else b""


def preprocess_steps(
    data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS
) -> list[tuple[str, str, bytes]]:
    """(step name, one-line description, PNG) for each stage, following the first digit.

    "form lines" (printed rulings and box borders taken out) and "touching digits" (where a
    segment too wide for one digit is offered a cut) appear when the image has them.
    Raises UnreadableImage / ImageTooLarge like ``Model.recognize``."""
    gray, info, drawn = decode_drawn(data, max_pixels)
    try:
        return _steps(gray, info, drawn)
    except cv2.error as exc:
        raise UnreadableImage(f"image processing failed: {exc.err}") from exc


def _steps(gray: np.ndarray, info: ImageInfo, drawn: Box | None) -> list[tuple[str, str, bytes]]:
    """The steps of ``gray``; a drawing on a transparent canvas (``drawn``) has no form lines
    looked for in it (``segment.segment``)."""
    H, W = gray.shape
    out = [
        (
            "decode",
            f"{info.format} {W}x{H} decoded to grayscale (transparency composited as background)",
            _png(gray, 112),
        )
    ]
    gray, block = unblocked(gray, drawn)
    if block > 1:
        out.append(
            (
                "pixels",
                f"enlarged by repeating each pixel {block}x: enlarged smoothly from its own "
                "resolution instead",
                _png(gray, 112),
            )
        )
    ink, inverted = to_ink(gray)
    out.append(
        (
            "polarity",
            "light background detected: inverted to white ink on black"
            if inverted
            else "dark background detected: kept as white ink on black",
            _png(ink, 112),
        )
    )
    seg = segment(ink, drawing=drawn is not None)
    if seg.turn is not None:
        out.append(
            (
                "level",
                f"scanned {abs(seg.turn.degrees):.1f}° askew: turned so its lines lie level",
                _png(seg.ink),
            )
        )
    if seg.lines is not None:
        out.append(_lines_step(seg, seg.lines))
    vis = cv2.cvtColor(seg.ink, cv2.COLOR_GRAY2BGR)
    t = max(1, round(max(vis.shape[:2]) / 200))
    for i, s in enumerate(seg.segments):
        x, y, w, h = s.box
        color = (0, 0, 255) if i == 0 else (0, 200, 0)
        cv2.rectangle(vis, (x, y), (x + w - 1, y + h - 1), color, t)
    if max(vis.shape[:2]) < 112:
        f = 112 // max(vis.shape[:2])
        vis = cv2.resize(
            cv2.cvtColor(seg.ink, cv2.COLOR_GRAY2BGR),
            None,
            fx=f,
            fy=f,
            interpolation=cv2.INTER_NEAREST,
        )
        for i, s in enumerate(seg.segments):
            x, y, w, h = (v * f for v in s.box)
            cv2.rectangle(
                vis, (x, y), (x + w - 1, y + h - 1), (0, 0, 255) if i == 0 else (0, 200, 0), 1
            )
    n = len(seg.segments)
    out.append(
        (
            "segmentation",
            f"{n} digit{'s' if n != 1 else ''} found left to right (first one in red)",
            _png(vis),
        )
    )
    if not seg.segments:
        return out
    touching = _touching_step(seg)
    if touching is not None:
        out.append(touching)
    crop = seg.crop(seg.segments[0])
    out.append(
        ("crop", f"first digit cropped: {crop.shape[1]}x{crop.shape[0]} px", _png(crop, 112))
    )
    img28, st = normalize_digit(crop, debug=True)
    out.append(
        (
            "binarize",
            "rescaled so the longer side is 64 px and thresholded",
            _png(st["binary"], 128),
        )
    )
    out.append(
        (
            "stroke width",
            f"stroke width {st['width']:.1f} px normalized to {TARGET_WIDTH:.1f} px (at 64 px)",
            _png(st["stroke"], 128),
        )
    )
    out.append(("fit 20x20", "fitted into 20x20 keeping the aspect ratio", _png(st["fit20"], 120)))
    out.append(("center 28x28", "center of mass moved to the center of 28x28", _png(img28, 112)))
    img01 = img28.astype(np.float32)[None] / 255.0
    desk = F.deskew(img01)
    out.append(
        (
            "deskew",
            "sheared so the main axis is vertical (moments)",
            _png(np.clip(desk[0] * 255, 0, 255), 112),
        )
    )
    g = F.gradient_features(desk)[0].reshape(F.N_DIR, F.GRID, F.GRID)
    g = g / max(float(g.max()), 1e-6) * 255
    tiles = [cv2.resize(t, (56, 56), interpolation=cv2.INTER_NEAREST) for t in g]
    sep = np.full((56, 4), 80, np.float32)
    row = np.hstack([np.hstack([t, sep]) for t in tiles])[:, :-4]
    out.append(
        (
            "features",
            f"{F.N_DIR} gradient-direction planes, blurred and sampled {F.GRID}x{F.GRID}",
            _png(row),
        )
    )
    return out


def _lines_step(seg: Segmentation, lines: np.ndarray) -> tuple[str, str, bytes]:
    """The working ink with the removed form-line pixels (`lines`) in red."""
    base = (
        cv2.resize(seg.binary, lines.shape[::-1]) if seg.binary.shape != lines.shape else seg.binary
    )
    vis = cv2.cvtColor(np.maximum(seg.ink, base // 2), cv2.COLOR_GRAY2BGR)
    vis[lines > 0] = (0, 0, 255)
    n = int(np.count_nonzero(lines))
    return (
        "form lines",
        f"printed lines and box borders taken out ({n} px, red); strokes that crossed them kept",
        _png(vis, 112),
    )


def _touching_step(seg: Segmentation) -> tuple[str, str, bytes] | None:
    """Segments wide enough to hold two touching digits, with the cut they are offered first
    (the least-ink path at the best column; the classifier decides whether it is taken)."""
    from .split import WIDE, cuts

    wide = [s for s in seg.segments if s.box[2] >= WIDE * s.box[3]]
    if not wide:
        return None
    vis = cv2.cvtColor(seg.ink, cv2.COLOR_GRAY2BGR)
    t = max(1, round(max(vis.shape[:2]) / 200))
    shown = 0
    for s in wide:
        cs = cuts(seg.crop(s), s.box)
        if not cs:
            continue
        c = min(cs, key=lambda c: c.ink_at_cut)
        for (x, y, w, h), color in zip(c.boxes, ((255, 128, 0), (0, 200, 255)), strict=True):
            cv2.rectangle(vis, (x, y), (x + w - 1, y + h - 1), color, t)
        shown += 1
    if not shown:
        return None
    return (
        "touching digits",
        f"{shown} segment{'s' if shown != 1 else ''} too wide for one digit: cut where the "
        "strokes are thinnest; the cut is kept if the classifier reads the two pieces better",
        _png(vis, 112),
    )
