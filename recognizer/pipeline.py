"""Bytes -> gray -> ink -> segments -> normalized 28x28 digits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from .errors import UnreadableImage
from .imageio import DEFAULT_MAX_PIXELS, Box, decode_drawn, ink_drawn, pixel_block
from .normalize import normalize_digit
from .segment import Segment, Segmentation, segment
from .skew import Turn
from .split import ASPECT_MIN

#: an image no bigger than this on its longer side (an MNIST-style 28x28 digit) holds at most
#: one digit of ~20 px: no form lines to look for, no touching digits to split
SMALL_SIDE = 32
#: an image no bigger than this (datasets' frames are 16-32 px; a tight crop of a written
#: digit is larger) whose one digit fills this share of its width or height may hold a digit
#: stretched to fill its frame (USPS, Semeion, ...: a "1" becomes a block) ...
FILLED_MAX_SIDE = 40
FILLED_SHARE = 0.78
#: (and at least this share the other way: a narrow digit written to its frame's height,
#: aspect kept, is not stretched)
FILLED_OTHER = 0.65
#: ... so it is also read narrowed to these shares of its width (``Extracted.narrowed``)
NARROWED = (0.5, 0.7)
#: two neighbouring segments of a line at most this share of the taller one apart (or
#: overlapping) are also read joined (``Joined``): a pen that skips, a faint stroke lost to
#: the threshold or a digit written in two strokes that do not meet leaves one digit in
#: pieces, and only a reading tells them from two digits written close
JOIN_GAP = 0.1


@dataclass(eq=False)
class Joined:
    """Segments ``index`` and ``index`` + 1 of a reading taken as one digit."""

    index: int
    digit: np.ndarray  # (28, 28) uint8, normalized
    crop: np.ndarray  # ink of both, working pixels
    box: tuple[int, int, int, int]  # original pixels


@dataclass
class Extracted:
    width: int
    height: int
    boxes: list[tuple[int, int, int, int]]  # original pixels
    digits: np.ndarray  # (k, 28, 28) uint8
    #: for segments wide enough to hold two touching digits: (crop, box in working pixels)
    wide: dict[int, tuple[np.ndarray, tuple[int, int, int, int]]] = field(default_factory=dict)
    scale: float = 1.0  # working pixels per original pixel
    #: how a skewed image was turned level before it was read (``Segmentation.turn``)
    turn: Turn | None = None
    #: the same image read with the other polarity, when it cannot be told (``ink_drawn``)
    other: Extracted | None = None
    #: the same image narrowed, when its digit fills its frame (``NARROWED``); a reading of
    #: one digit keeps the original image's box
    narrowed: list[Extracted] = field(default_factory=list)
    #: this is a narrowed reading (or one of its polarities)
    squeezed: bool = False
    #: neighbouring segments close enough to be one digit in pieces, read joined (``JOIN_GAP``)
    joins: list[Joined] = field(default_factory=list)

    def readings(self) -> list[Extracted]:
        """This reading and every other way of reading the same image (``other``,
        ``narrowed``), this one first; the likeliest is kept (``model._reads_better``)."""
        out = [self]
        for alt in ([self.other] if self.other is not None else []) + self.narrowed:
            out += alt.readings()
        return out

    def original_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A working-pixel box in original pixels."""
        return Segmentation.box_to_original(box, self.scale, self.width, self.height, self.turn)

    def joined(self, join: Joined) -> Extracted:
        """This reading with ``join``'s two segments as one digit (never offered cuts: it is
        joined because it reads as one)."""
        i = join.index
        wide = {k - (k > i): v for k, v in self.wide.items() if k not in (i, i + 1)}
        return replace(
            self,
            boxes=[*self.boxes[:i], join.box, *self.boxes[i + 2 :]],
            digits=np.concatenate([self.digits[:i], join.digit[None], self.digits[i + 2 :]]),
            wide=wide,
            joins=[],
        )


def extract_gray(
    gray: np.ndarray,
    single: bool = False,
    remove_form_lines: bool = True,
    light_paper: bool | None = None,
    drawn: Box | None = None,
) -> tuple[Extracted, Segmentation]:
    """The digits of ``gray``; ``light_paper`` forces the polarity (see ``to_ink``). A small
    image whose polarity is unsure is also read the other way (``Extracted.other``).
    ``drawn``: the box of a canvas's drawing, when known (``imageio.decode_drawn``); no form
    lines are looked for in a drawing."""
    H, W = gray.shape
    small = max(H, W) <= SMALL_SIDE
    ink, inverted, unsure, inked = ink_drawn(gray, light_paper, drawn)
    look_for_lines = remove_form_lines and not small
    # a drawing on a transparent canvas has no printed lines: its straight strokes (a base
    # dragged with the mouse, the flat side of a digit run off the canvas) are the digit's
    seg = segment(
        ink, single=single, remove_form_lines=look_for_lines, drawn=inked, drawing=drawn is not None
    )
    boxes = []
    wide = {}
    arr = np.empty((len(seg.segments), 28, 28), np.uint8)
    for i, s in enumerate(seg.segments):
        boxes.append(seg.original_box(s, W, H))
        crop = seg.crop(s)
        arr[i] = normalize_digit(crop)
        if not (single or small) and s.box[2] >= ASPECT_MIN * s.box[3]:
            wide[i] = (crop, s.box)
    ex = Extracted(W, H, boxes, arr, wide, seg.scale, seg.turn)
    if not (single or small):
        ex.joins = _joins(seg, W, H)
    if unsure and not single:
        ex.other, _ = extract_gray(gray, False, remove_form_lines, light_paper=not inverted)
    if not single and _fills_frame(seg, W, H):
        ex.narrowed = [_narrowed_reading(gray, f, ex) for f in NARROWED]
    return ex, seg


def _joins(seg: Segmentation, width: int, height: int) -> list[Joined]:
    """Each pair of neighbouring segments on one line (their boxes overlap down the page)
    at most ``JOIN_GAP`` of the taller apart, read joined."""
    out = []
    segs = seg.segments
    for i in range(len(segs) - 1):
        (xa, ya, wa, ha), (xb, yb, wb, hb) = segs[i].box, segs[i + 1].box
        gap = max(xa, xb) - min(xa + wa, xb + wb)
        if min(ya + ha, yb + hb) <= max(ya, yb) or gap > JOIN_GAP * max(ha, hb):
            continue
        x0, y0 = min(xa, xb), min(ya, yb)
        box = (x0, y0, max(xa + wa, xb + wb) - x0, max(ya + ha, yb + hb) - y0)
        both = Segment(box, segs[i].labels + segs[i + 1].labels, segs[i].area + segs[i + 1].area)
        crop = seg.crop(both)
        out.append(Joined(i, normalize_digit(crop), crop, seg.original_box(both, width, height)))
    return out


def _fills_frame(seg: Segmentation, width: int, height: int) -> bool:
    """One digit fills a small image across or down (``FILLED_MAX_SIDE``, ``FILLED_SHARE``)."""
    if max(width, height) > FILLED_MAX_SIDE or len(seg.segments) != 1:
        return False
    _, _, w, h = seg.original_box(seg.segments[0], width, height)
    across, down = w / width, h / height
    return max(across, down) >= FILLED_SHARE and min(across, down) >= FILLED_OTHER


def _narrowed_reading(gray: np.ndarray, share: float, ex: Extracted) -> Extracted:
    """``gray`` squeezed to ``share`` of its width, on a margin of its border's median level
    (the paper, as the image was before it was stretched), read; one digit keeps ``ex``'s box."""
    h, w = gray.shape
    nw = max(2, round(w * share))
    squeezed = cv2.resize(gray, (nw, h), interpolation=cv2.INTER_AREA)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    pad, side = max(2, h // 4), max(2, h // 4) + (w - nw) // 2
    level = int(np.median(border))
    framed = cv2.copyMakeBorder(squeezed, pad, pad, side, side, cv2.BORDER_CONSTANT, value=level)
    alt, _ = extract_gray(framed, remove_form_lines=False)
    for one in alt.readings():
        if len(one.boxes) == 1:
            one.boxes = list(ex.boxes)
        one.width, one.height, one.scale, one.wide = ex.width, ex.height, ex.scale, {}
        one.turn = ex.turn
        one.joins = []
        one.squeezed = True
    return alt


def extract_bytes(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Extracted:
    """Raises UnreadableImage / ImageTooLarge; never lets cv2 errors escape."""
    gray, _info, drawn = decode_drawn(data, max_pixels)
    try:
        ex, _ = extract_gray(unblocked(gray, drawn)[0], drawn=drawn)
    except cv2.error as exc:
        raise UnreadableImage(f"image processing failed: {exc.err}") from exc
    return ex


def unblocked(gray: np.ndarray, drawn: Box | None = None) -> tuple[np.ndarray, int]:
    """``gray`` and 1; or, when it was enlarged by repeating each pixel ``block`` times
    (``imageio.pixel_block``), the same image enlarged smoothly from its own resolution
    (cubic), and ``block``. Read as they come, the blocks' staircase edges are long straight
    runs taken for form lines ("0" read "5"), and a small image's blocks are taken for the
    pen's outline; read at its own resolution, a binarized digit keeps its 1-px steps. A
    drawing is read as drawn."""
    if drawn is not None:
        return gray, 1
    H, W = gray.shape
    block = pixel_block(gray)
    if block == 1:
        return gray, 1
    own = cv2.resize(gray, (-(-W // block), -(-H // block)), interpolation=cv2.INTER_AREA)
    return cv2.resize(own, (W, H), interpolation=cv2.INTER_CUBIC), block


def normalize_training_images(
    x: np.ndarray | Sequence[np.ndarray], progress: Callable[[int], None] | None = None
) -> np.ndarray:
    """Apply the inference normalization to single-digit images (N, h, w) uint8 white-on-black."""
    out = np.zeros((len(x), 28, 28), np.uint8)
    for i, img in enumerate(x):
        ex, _ = extract_gray(np.ascontiguousarray(img), single=True, remove_form_lines=False)
        if len(ex.digits):
            out[i] = ex.digits[0]
        if progress is not None and (i + 1) % 1000 == 0:
            progress(1000)
    return out
