"""Header inspection and decoding of image bytes into a white-ink-on-black grayscale image."""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from . import pngfast
from .errors import ImageTooLarge, UnreadableImage
from .lines import edge_line

DEFAULT_MAX_PIXELS = 40_000_000

_MIME = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
}
SUPPORTED_FORMATS = tuple(_MIME)

#: (x, y, width, height) of the part of an image that holds its drawing: every pixel outside
#: it is the same level (a canvas's plain surround), so a search for the drawing need look
#: inside it only
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class ImageInfo:
    """What the header says. ``width`` and ``height`` are as the image is shown: a photo
    stored sideways with an EXIF ``orientation`` of 5-8 has them swapped from its pixels."""

    format: str
    width: int
    height: int
    mime: str
    orientation: int = 1


def _fast_header(data: bytes) -> tuple[str, int, int] | None:
    """Tiny parsers for the common formats; None means "ask Pillow"."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return "PNG", w, h
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return "GIF", w, h
    return None


def _pillow_header(data: bytes) -> tuple[str, int, int]:
    try:
        from PIL import Image
    except Exception as exc:  # pragma: no cover - pillow is a dependency
        raise UnreadableImage(f"cannot inspect image header: {exc}") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below
            try:
                with Image.open(io.BytesIO(data)) as im:  # lazy: parses the header only
                    fmt = (im.format or "").upper()
                    w, h = im.size
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except Exception as exc:
        raise UnreadableImage(f"not a recognised image: {type(exc).__name__}") from exc
    if fmt == "MPO":  # multi-picture JPEG
        fmt = "JPEG"
    return fmt, int(w), int(h)


def image_info(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Format and size from the header only (cheap, no full decode).

    Raises UnreadableImage for bytes that are not a supported image and ImageTooLarge when
    width*height exceeds ``max_pixels``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UnreadableImage(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 8:
        raise UnreadableImage("empty or truncated data")
    head = _fast_header(data) or _pillow_header(data)
    fmt, w, h = head
    if fmt not in _MIME:
        raise UnreadableImage(f"unsupported image format {fmt or 'unknown'}")
    if w <= 0 or h <= 0:
        raise UnreadableImage(f"invalid image size {w}x{h}")
    if max_pixels is not None and w * h > max_pixels:
        raise ImageTooLarge(
            f"image is {w}x{h} = {w * h} pixels, limit is {max_pixels}",
            width=w,
            height=h,
            max_pixels=max_pixels,
        )
    orientation = _orientation(data)
    if orientation >= 5:  # turned a quarter: shown the other way round
        w, h = h, w
    return ImageInfo(fmt, w, h, _MIME[fmt], orientation)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    if img.dtype.kind == "f":
        mx = float(np.nanmax(img)) if img.size else 1.0
        scale = 255.0 if mx <= 1.0 else 255.0 / max(mx, 1e-6)
        return np.clip(np.nan_to_num(img) * scale, 0, 255).astype(np.uint8)
    return np.clip(img, 0, 255).astype(np.uint8)


def decode_gray(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, ImageInfo]:
    """Decode to a single-channel uint8 image with transparency composited as background."""
    gray, info, _ = decode_drawn(data, max_pixels)
    return gray, info


def decode_drawn(
    data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, ImageInfo, Box | None]:
    """``decode_gray``, and for a drawing canvas the ``Box`` of its drawing (None when not
    known: the drawing may then be anywhere)."""
    info = image_info(data, max_pixels)
    fast = info.format == "PNG" and info.width * info.height >= pngfast.MIN_PIXELS
    found = _fast_png(data) if fast else None
    img = None
    if found is not None:
        size, at, part = found
        if part.ndim == 3 and part.shape[2] == 4:  # a canvas: composited from its part alone
            gray, drawn = _composited(part, at, size)
            if info.orientation != 1:  # turned: the box would have to turn with it
                return np.ascontiguousarray(_upright(gray, info.orientation)), info, None
            return np.ascontiguousarray(gray), info, drawn
        img = pngfast.whole(size, at, part)
    try:
        if img is None:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise UnreadableImage(f"could not decode {info.format}: {exc.err}") from exc
    except Exception as exc:
        raise UnreadableImage(f"could not decode {info.format}: {exc}") from exc
    if img is None or img.size == 0:
        raise UnreadableImage(f"could not decode {info.format} data")
    try:
        img = _to_uint8(img)
        if img.ndim == 2:
            gray = img
        elif img.ndim == 3 and img.shape[2] == 1:
            gray = img[:, :, 0]
        elif img.ndim == 3 and img.shape[2] == 3:
            gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        elif img.ndim == 3 and img.shape[2] in (2, 4):
            if img.shape[2] == 2:
                color, alpha = img[:, :, 0], img[:, :, 1]
                gray = composite_alpha(color, alpha)
            else:
                gray = _composite_bgra(img)
        else:
            raise UnreadableImage(f"unsupported pixel layout {img.shape}")
    except cv2.error as exc:
        raise UnreadableImage(f"could not convert {info.format}: {exc.err}") from exc
    return np.ascontiguousarray(_upright(gray, info.orientation)), info, None


def _fast_png(data: bytes) -> tuple[tuple[int, int], tuple[int, int], np.ndarray] | None:
    """``pngfast.decode_part`` (the same pixels as OpenCV's decoder, faster for a drawing
    canvas), or None to decode with OpenCV."""
    try:
        return pngfast.decode_part(data)
    except Exception:  # pragma: no cover - anything odd goes to OpenCV
        return None


#: EXIF orientation -> the operations that turn the stored pixels upright, in order
_UPRIGHT: dict[int, tuple[str, ...]] = {
    2: ("flip_h",),
    3: ("rot180",),
    4: ("flip_v",),
    5: ("transpose",),
    6: ("rot90cw",),
    7: ("transpose", "rot180"),
    8: ("rot90ccw",),
}


def _orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) of a JPEG, PNG or WebP that carries EXIF data, else 1.

    A phone stores a portrait photo sideways with orientation 6; browsers show it upright,
    and so must we (OpenCV's unchanged decoding ignores the tag)."""
    head = data[:65536]
    if b"Exif" not in head and b"eXIf" not in head and b"EXIF" not in head:
        return 1
    try:
        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:  # the header only
                value = int(im.getexif().get(0x0112, 1))
    except Exception:
        return 1  # unreadable EXIF: take the pixels as stored
    return value if value in _UPRIGHT else 1


def _upright(img: np.ndarray, orientation: int) -> np.ndarray:
    for op in _UPRIGHT.get(orientation, ()):
        if op == "flip_h":
            img = cv2.flip(img, 1)
        elif op == "flip_v":
            img = cv2.flip(img, 0)
        elif op == "transpose":
            img = cv2.transpose(img)
        elif op == "rot180":
            img = cv2.rotate(img, cv2.ROTATE_180)
        elif op == "rot90cw":
            img = cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
        else:
            img = cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return img


def composite_alpha(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite a gray+alpha image so that transparent pixels become background.

    If most of the image is transparent the opaque pixels are the ink, and we composite onto a
    background contrasting with them; otherwise the opaque pixels contain the paper, and we
    composite onto the paper colour (median of the opaque pixels)."""
    amin = int(alpha.min())
    if amin == 255:
        return color
    bg = _background(color, alpha, alpha.size)
    if bg is None:
        return np.zeros_like(color)  # fully transparent: empty
    return _over(color, alpha, bg)


def _background(color: np.ndarray, alpha: np.ndarray, size: int) -> int | None:
    """The level transparent pixels become (see ``composite_alpha``); None: nothing opaque.

    ``color`` and ``alpha`` may be the part of an image of ``size`` pixels that holds every
    pixel that is not fully transparent: the answer is the same as for the whole image."""
    opaque = cv2.compare(alpha, 128, cv2.CMP_GE)
    n_opaque = cv2.countNonZero(opaque)
    if n_opaque == 0:
        return None
    if n_opaque < 0.5 * size:
        mean_ink = cv2.mean(color, mask=opaque)[0]
        return 255 if mean_ink < 128 else 0
    return int(round(float(np.median(color[opaque > 0]))))


def _composite_bgra(
    img: np.ndarray, at: tuple[int, int] = (0, 0), size: tuple[int, int] | None = None
) -> np.ndarray:
    """``composite_alpha`` of a BGRA image, computed only inside the box of the pixels that
    are not fully transparent (a drawing on a transparent canvas is mostly empty): outside it
    the result is the background level, as the whole-image computation gives.

    ``img`` may be the part at ``at`` (x, y) of an image of ``size`` (height, width) outside
    which every pixel is fully transparent (``pngfast.decode_part``)."""
    return _composited(img, at, size)[0]


def _composited(
    img: np.ndarray, at: tuple[int, int] = (0, 0), size: tuple[int, int] | None = None
) -> tuple[np.ndarray, Box | None]:
    """``_composite_bgra``'s image, and the ``Box`` of the pixels that are not fully
    transparent (None when there are none or they reach every edge)."""
    alpha = cv2.extractChannel(img, 3)
    H, W = alpha.shape if size is None else size
    x, y, w, h = cv2.boundingRect(alpha)
    if w * h == H * W:
        return composite_alpha(cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY), alpha), None
    if w == 0 or h == 0:
        return np.zeros((H, W), np.uint8), None  # fully transparent: empty
    color = cv2.cvtColor(img[y : y + h, x : x + w], cv2.COLOR_BGRA2GRAY)
    alpha = alpha[y : y + h, x : x + w]
    bg = _background(color, alpha, H * W)
    if bg is None:
        return np.zeros((H, W), np.uint8), None  # nothing even half opaque: empty
    x, y = x + at[0], y + at[1]
    # the background round the box as a border: each pixel written once
    gray = cv2.copyMakeBorder(
        _over(color, alpha, bg), y, H - y - h, x, W - x - w, cv2.BORDER_CONSTANT, value=bg
    )
    return gray, (x, y, w, h)


def _over(color: np.ndarray, alpha: np.ndarray, bg: int) -> np.ndarray:
    """color * a + bg * (1 - a), rounded as the whole-image formulas always were."""
    if bg == 0:  # color * a
        return cv2.multiply(color, alpha, scale=1.0 / 255.0)
    if bg == 255:  # 255 - (255 - color) * a
        return cv2.subtract(255, cv2.multiply(cv2.subtract(255, color), alpha, scale=1.0 / 255.0))
    a = alpha.astype(np.float32) * (1.0 / 255.0)
    out = color.astype(np.float32) * a + bg * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def to_ink(gray: np.ndarray, light_paper: bool | None = None) -> tuple[np.ndarray, bool]:
    """Return (ink, inverted): white ink on black with the background level removed.

    Polarity comes from the image: the border pixels' median decides the background unless the
    border is mixed, in which case the local contrast decides (``_light_paper``; the majority
    of all pixels for an image under 40 px: see ``ink_and_polarity``). ``light_paper`` forces
    it: the paper's level is then the median of its side of the range."""
    ink, inverted, _ = ink_and_polarity(gray, light_paper)
    return ink, inverted


def ink_and_polarity(
    gray: np.ndarray, light_paper: bool | None = None, drawn: Box | None = None
) -> tuple[np.ndarray, bool, bool]:
    """``to_ink``, and whether its polarity was a guess: an image too small for local
    contrast (under 40 px) whose border is mixed, where ink and paper are told apart only by
    which covers more -- and a digit stretched to fill its frame (USPS, Semeion) may cover
    more than its paper. Such an image is worth reading both ways round.

    ``drawn``: the ``Box`` of ``gray``'s drawing, when known (``decode_drawn``)."""
    ink, inverted, unsure, _ = ink_drawn(gray, light_paper, drawn)
    return ink, inverted, unsure


def ink_drawn(
    gray: np.ndarray, light_paper: bool | None = None, drawn: Box | None = None
) -> tuple[np.ndarray, bool, bool, Box | None]:
    """``ink_and_polarity``, and ``drawn`` again when the ink is 0 outside it (None when not
    known): so it is when the ink is ``gray``'s distance from one paper level, pixel by
    pixel, and the plain surround's distance is 0."""
    if light_paper is not None:
        return (*_forced_ink(gray, light_paper), False, None)
    h, w = gray.shape
    if h >= 3 and w >= 3:
        border = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    else:
        border = gray.ravel()
    k = border.size // 2
    bmed = float(np.partition(border, k)[k])
    lo_f, hi_f, _, _ = cv2.minMaxLoc(gray)  # one pass instead of two
    lo, hi = int(lo_f), int(hi_f)
    mid = (lo + hi) / 2.0
    # a border at the midpoint counts as dark, as it does for ``inverted`` below (a frame
    # printed at exactly the midpoint's grey was neither dark nor light paper)
    dark = np.count_nonzero(border <= mid) if hi > lo else 0
    dark_frac = float(dark) / border.size
    if dark_frac > SHEET_MIN_BORDER:
        sheet = _on_sheet(gray)
        if sheet is not None:  # the surround is now paper: judge the page as a scan
            return (*ink_and_polarity(sheet), None)
    unsure = False
    framed = _framed_paper(gray, mid) if dark_frac >= FRAME_DARK else None
    if framed is not None:  # a printed frame along the edge: its paper lies inside it
        bmed = framed
    elif 0.3 < dark_frac < 0.7:  # mixed border: decide by the majority of all pixels
        light = _light_paper(gray, hi - lo)
        unsure = light is None
        flat = gray.ravel()
        if light is not None:  # the paper's level: the median of its side of the range
            flat = flat[flat > mid] if light else flat[flat <= mid]
        bmed = float(np.partition(flat, flat.size // 2)[flat.size // 2])
    inverted = bmed > mid
    even = _flattened(gray, inverted, drawn)
    if even is not None:
        return even, inverted, unsure, None
    ink = _minus_paper(gray, int(round(bmed)), inverted)
    return ink, inverted, unsure, _zero_outside(ink, drawn)


#: a dark border of at least this share may be a frame printed along the image's edge (a
#: form field cut out along its box) ...
FRAME_DARK = 0.3
#: ... when, going in from each edge, a row (column) this share light, but for its ends,
#: comes within this share of the shorter side
FRAME_LIGHT = 0.8
FRAME_DEPTH = 0.15
#: ... and on this many of the sides a dark line comes first (a crop may cut one side off),
#: the paper at most this share of the shorter side (or 6 px) past where the line begins
FRAME_SIDES = 3
FRAME_THIN = 0.08
#: a row (column) of the frame's line is at most this share light
FRAME_LINE = 0.2
#: a side that runs slantwise along the edge (``_slanted_side``) meets this share of it
FRAME_SLANT_ALONG = 0.5
#: images smaller than this are left alone: a digit stretched to fill its frame (USPS,
#: Semeion) may draw a light ring of its own
FRAME_MIN_SIDE = 40


def _framed_paper(gray: np.ndarray, mid: float) -> float | None:
    """The paper's level inside a dark frame that runs along ``gray``'s edge, or None.

    A form field cut out along its printed box has the box's sides for its border: taken
    for the paper, they made the light paper inside "ink" and the digit a hole in it (a "6"
    read "11"). Going in from each edge, such an image turns light (a row or column, but
    for its ends, ``FRAME_LIGHT`` light) within a few pixels, past a dark line on most sides,
    and inside it is mostly light; a light digit on dark paper is not."""
    h, w = gray.shape
    if min(h, w) < FRAME_MIN_SIDE:
        return None
    depth = max(2, round(FRAME_DEPTH * min(h, w)))
    thin = max(6, round(FRAME_THIN * min(h, w)))
    cut_w, cut_h = w // 10, h // 10
    edges = (
        gray[:depth, cut_w : w - cut_w],
        gray[: h - depth - 1 : -1, cut_w : w - cut_w],
        gray[cut_h : h - cut_h, :depth].T,
        gray[cut_h : h - cut_h, : w - depth - 1 : -1].T,
    )
    found, framed = [], 0
    for k, edge in enumerate(edges):  # rows from the edge inwards
        if framed + len(edges) - k < FRAME_SIDES:
            return None  # (too few sides left to frame it: a dark page, most often)
        share = np.count_nonzero(edge > mid, axis=1) / edge.shape[1]
        line = share < FRAME_LINE
        if not line.any():
            slanted = _slanted_side(edge, mid, thin)
            if slanted is not None:
                framed += 1
                found.append(slanted)
                continue
        start = int(np.argmax(line)) if line.any() else 0  # the paper lies past a dark line
        light = share[start:] >= FRAME_LIGHT
        if not light.any():  # a line thicker than ``depth``, or a side cut off dark
            continue
        if line.any():
            # mostly light just past the line: a printed line, no light shape's curved edge
            if int(np.argmax(share[start:] >= 0.5)) > thin:
                return None
            framed += 1
        found.append(edge[start + int(np.argmax(light))])
    if framed < FRAME_SIDES:
        return None  # (a thick light loop running off the image is light from its edge)
    inside = gray[depth:-depth, depth:-depth]
    if np.count_nonzero(inside > mid) < 0.5 * inside.size:
        return None  # light rings round dark paper: a light digit
    paper = np.concatenate(found)
    return float(np.median(paper[paper > mid]))


def _slanted_side(edge: np.ndarray, mid: float, thin: int) -> np.ndarray | None:
    """The paper just inside a frame's side that runs slantwise along an edge (``edge``: its
    rows going in from it), or None. Cut from a skewed scan, the side lies in the edge's
    first row along part of it and a row or two further in along the rest, so no one row
    is dark; going in from the edge, each column meets it first (``lines.edge_line``), in
    ``FRAME_SLANT_ALONG`` of the edge: the side may leave the image a third of the way along."""
    found = edge_line(edge <= mid, thin, FRAME_SLANT_ALONG)
    if found is None:
        return None
    near, start, run = found.near, found.start, found.run
    inside = start + run
    side = near & (run <= thin) & (inside < len(edge))
    return edge[inside[side], np.flatnonzero(side)]


def _zero_outside(ink: np.ndarray, drawn: Box | None) -> Box | None:
    """``drawn`` if ``ink``, one level outside it, is 0 there (judged by one pixel outside
    it), else None."""
    if drawn is None:
        return None
    x, y, w, h = drawn
    H, W = ink.shape
    if (x, y) != (0, 0):
        outside = ink[0, 0]
    elif x + w < W or y + h < H:
        outside = ink[-1, -1]
    else:
        return None  # the whole image: nothing outside
    return drawn if outside == 0 else None


def _minus_paper(gray: np.ndarray, level: int, light_paper: bool) -> np.ndarray:
    """White ink on black: ``gray``'s distance from one paper ``level``, saturated at 0."""
    if light_paper:  # level - min(gray, level), i.e. (255 - gray) - (255 - level)
        ink = cv2.bitwise_not(gray)
        return cv2.subtract(ink, 255 - level) if level < 255 else ink
    return cv2.subtract(gray, level) if level > 0 else gray


def _forced_ink(gray: np.ndarray, light_paper: bool) -> tuple[np.ndarray, bool]:
    """``to_ink`` with the polarity given: one paper level, the median of its side."""
    lo_f, hi_f, _, _ = cv2.minMaxLoc(gray)
    mid = (lo_f + hi_f) / 2.0
    side = gray[gray > mid] if light_paper else gray[gray <= mid]
    level = int(np.median(side)) if side.size else (255 if light_paper else 0)
    return _minus_paper(gray, level, light_paper), light_paper


#: the paper map is estimated at this size (longest side, px) ...
_SHADE_SIZE = 64
#: ... and at least this size on the shorter side: a digit is no taller than that side, and
#: at 64 px on the longer side a long strip's shaded field was as thin as a stroke
_SHADE_SHORT = 48
#: flatten only when the paper's level varies by more than this share of its brightest level
SHADE_MIN_SPREAD = 0.2
#: wider than any stroke at ``_SHADE_SIZE`` px: a max (min) filter this wide leaves the paper
_STROKE_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (21, 21))
#: a shaded region wider than this (at ``_SHADE_SIZE`` px) and at least half as light as the
#: paper round it is paper too (a form's shaded field), not ink; square, so that the field's
#: corners stay in it (an ellipse rounded them off, and they were left as ink)
_FIELD_KERNEL = cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15))


def paper_map(gray: np.ndarray, inverted: bool, drawn: Box | None = None) -> np.ndarray | None:
    """The paper's own level at every pixel, small (``_SHADE_SIZE`` px on the longer side,
    at least ``_SHADE_SHORT`` on the shorter) and smooth, or None for an image too small to
    tell.

    Strokes are filtered out by a max filter (a min filter for light ink on dark) wider than
    any stroke at that size: every stroke pixel has paper within half a stroke width. That
    filter also spreads the paper a third of the image into a shaded form field, so where a
    closing (``_FIELD_KERNEL``, square: a printed field's corners are square too) keeps a
    region at least half as light as that paper, the region is paper at its own level: a
    printed tint is far lighter than ink, and a thick stroke the closing keeps is as dark as
    ink. ``drawn``: as for ``ink_and_polarity``."""
    if min(gray.shape) < 40:
        return None
    small = _shrunk(gray, drawn, short=True)
    if not inverted:  # light ink on dark paper: work on the negative
        small = 255 - small
    bg = cv2.dilate(small, _STROKE_KERNEL)
    closed = cv2.morphologyEx(small, cv2.MORPH_CLOSE, _FIELD_KERNEL)
    field = closed.astype(np.int16) * 2 >= bg  # at least half as light as the paper round it
    bg[field] = closed[field]
    bg = cv2.blur(bg, (9, 9))
    return bg if inverted else 255 - bg


#: a sheet of paper photographed on a darker surface: the surround covers at least this share
#: of the image's border ...
SHEET_MIN_BORDER = 0.25
#: ... and the sheet at least this share of the image; at most this share of the sheet is ink
SHEET_MIN_AREA = 0.2
SHEET_MAX_INK = 0.25
#: somewhere the surround is at least this many px (of ``_SHADE_SIZE``) wide: a desk, not
#: the printed frame of a field cut out along its box (desk photos: >= 6.7 px; the frames of
#: rows of boxes and of skewed box crops: mostly 1-4 px). Taken for a sheet, such a frame
#: was painted the paper's level, and with it a digit that touched it
SHEET_SURROUND = 4.0
#: share of the sheet's outline that must be a sharp step (a desk photo: >= 0.76, shadows on
#: one page: <= 0.54 in bench.unseen's and synth's shadow conditions)
SHEET_SHARP = 0.7
#: the marks on a sheet are thin beside its paper: their widest point at most this share of
#: the paper's (desk photos: <= 0.33; the loops of light 0s and 8s on dark paper: >= 0.57)
SHEET_THIN = 0.45


def _on_sheet(gray: np.ndarray) -> np.ndarray | None:
    """``gray`` with the dark surround of a light sheet of paper (a phone photo of a page on a
    desk, a scan with the dark scanner bed beside the page) painted the sheet's own level, or
    None when the image shows no such sheet.

    Without this the surround, dark and along the border, is taken for the background and the
    whole sheet for one huge light stroke. The sheet is looked for at ``_SHADE_SIZE`` px above
    Otsu's threshold, then above one halfway to the paper (a desk's light patches may join
    the sheet at Otsu's: see ``_sheet``)."""
    h, w = gray.shape
    if min(h, w) < 40:
        return None
    sample = gray[::4, ::4]
    lo, hi = int(sample.min()), int(sample.max())
    if np.count_nonzero(sample > (lo + hi) / 2) < 0.15 * sample.size:
        return None  # too little is light for a sheet (light strokes on dark paper)
    small = _shrunk(gray)
    t, _ = cv2.threshold(small, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    for thr in (t, None):
        if thr is None:  # halfway between Otsu's threshold and the light side's level
            above = small[small > t]
            thr = (t + float(np.median(above))) / 2 if above.size else t
        found = _sheet(small, thr)
        if found is not None:
            sheet, level = found
            # off the sheet's blurred edge, and off the image's own edge (a sliver of the
            # surround thinner than a small pixel may line it)
            inside = cv2.erode(
                sheet, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0
            )
            inside = cv2.resize(inside, (w, h), interpolation=cv2.INTER_NEAREST)
            out = gray.copy()
            out[inside == 0] = level
            return out
    return None


def _sheet(small: np.ndarray, thr: float) -> tuple[np.ndarray, int] | None:
    """(filled 0/1 mask of the sheet, its paper level) in ``small``, or None: the biggest
    region above ``thr`` must be solid (its outline nearly convex), mostly paper (the marks in
    it at most ``SHEET_MAX_INK`` of it, and thin: ``SHEET_THIN``), much wider than a stroke,
    nearly filling its turned bounding rectangle, with a sharp outline, and the surround --
    mostly darker than ``thr`` -- along ``SHEET_MIN_BORDER`` of the image's edge: a light digit
    on dark paper, even a thick one with its loops filled, is not, nor a cell of squared
    paper."""
    light = (small > thr).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(light, connectivity=4)
    if n < 2:
        return None
    paper = (lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    contours, _ = cv2.findContours(paper, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    outline = max(contours, key=cv2.contourArea)
    sheet = np.zeros_like(paper)
    cv2.drawContours(sheet, [outline], -1, 1, cv2.FILLED)
    area = int(np.count_nonzero(sheet))
    marks = area - int(np.count_nonzero(paper))
    if not (SHEET_MIN_AREA * small.size <= area and 0 < marks <= SHEET_MAX_INK * area):
        return None
    if cv2.contourArea(outline) < 0.9 * cv2.contourArea(cv2.convexHull(outline)):
        return None
    edge = np.concatenate([sheet[0], sheet[-1], sheet[1:-1, 0], sheet[1:-1, -1]])
    if np.count_nonzero(edge == 0) < SHEET_MIN_BORDER * edge.size:
        return None
    if float(np.mean(light[sheet == 0])) > 0.3:
        return None  # the surround is mostly paper too: a cell of squared paper, a form box
    surround = np.pad(1 - sheet, 1, constant_values=1)
    if cv2.distanceTransform(surround, cv2.DIST_L2, 3)[1:-1, 1:-1].max() < SHEET_SURROUND:
        return None  # a printed frame along the edge (a field cut out along its box), no desk
    # (the image's edge counts as the paper's end: a light digit may run off it)
    margin = float(cv2.distanceTransform(np.pad(paper, 1), cv2.DIST_L2, 3).max())
    if margin < 0.1 * min(small.shape):
        return None  # light strokes, not a page
    (_, _), (rw, rh), _ = cv2.minAreaRect(outline)
    if cv2.contourArea(outline) < 0.8 * rw * rh:
        return None  # a page is a (turned) rectangle, a light "0" or "8" is not
    ink = cv2.subtract(sheet, light)  # dark inside the sheet (a written loop's inside is not)
    thick = float(cv2.distanceTransform(ink, cv2.DIST_L2, 3).max())
    if thick > SHEET_THIN * margin:
        return None  # the loop of a light digit on dark paper, not writing on a page
    level = int(np.median(small[paper > 0]))
    if not _sharp_outline(small, sheet, level):
        return None  # a shadow falling across one page, not a page's edge
    return sheet, level


def _sharp_outline(small: np.ndarray, sheet: np.ndarray, level: int) -> bool:
    """The sheet's outline (where it is not the image's edge) is a step, not a ramp: across
    most of it (``SHEET_SHARP``) the level changes by at least half of the sheet-to-surround
    difference within 3 px. A shadow's edge is a ramp but where it runs along ink."""
    ring = cv2.subtract(sheet, cv2.erode(sheet, np.ones((3, 3), np.uint8)))
    ring[[0, -1], :] = 0
    ring[:, [0, -1]] = 0
    step = cv2.morphologyEx(small, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))[ring > 0]
    if step.size == 0:
        return False
    surround = float(np.median(small[sheet == 0]))
    return float(np.mean(step >= 0.5 * (level - surround))) >= SHEET_SHARP


def _light_paper(gray: np.ndarray, spread: int) -> bool | None:
    """Whether the paper is lighter than the ink, judged locally: the pixels darker than
    their surroundings (dark ink on light paper) against those lighter than theirs; the
    fewer are the ink. Unlike the majority of all pixels, shading does not sway it. None for
    an image too small to tell."""
    h, w = gray.shape
    if min(h, w) < 40 or spread <= 0:
        return None
    small = _shrunk(gray)
    t = 0.25 * spread
    darker = np.count_nonzero(cv2.subtract(cv2.dilate(small, _STROKE_KERNEL), small) > t)
    lighter = np.count_nonzero(cv2.subtract(small, cv2.erode(small, _STROKE_KERNEL)) > t)
    return bool(darker <= lighter)


def _shrunk(gray: np.ndarray, drawn: Box | None = None, short: bool = False) -> np.ndarray:
    """``gray`` at ``_SHADE_SIZE`` px on its longer side -- with ``short``, and at least
    ``_SHADE_SHORT`` on its shorter one -- (a sample of a big page first). ``drawn``: as for
    ``ink_and_polarity``."""
    h, w = gray.shape
    side, target = max(h, w), _SHADE_SIZE
    if short and _SHADE_SHORT * max(h, w) > _SHADE_SIZE * min(h, w):
        side, target = min(h, w), _SHADE_SHORT
    f = target / side
    size = (max(8, round(w * f)), max(8, round(h * f)))
    step = max(1, side // (4 * target))  # a sample is enough at 4x the size
    if step > 1:
        return _area_resize(gray[::step, ::step], size)
    return _area_resize(gray, size, drawn)


def _area_resize(src: np.ndarray, size: tuple[int, int], drawn: Box | None = None) -> np.ndarray:
    """``cv2.resize(src, size, interpolation=cv2.INTER_AREA)``, shrinking only the part of
    ``src`` that is not one level (a canvas's drawing inside its plain surround).

    When each side's ratio is p/q with q a power of two (400 -> 64 px: 25/4), every output
    pixel's weights are exact and the same for a part cut at multiples of p source pixels
    (q output pixels): the part is shrunk alone and the rest is the level (checked pixel for
    pixel against the whole-image call). ``drawn``: a ``Box`` outside which ``src`` is one
    level, when known: the part is then looked for inside it only."""
    sh, sw = src.shape
    fx, fy = Fraction(sw, size[0]), Fraction(sh, size[1])
    qx, qy = fx.denominator, fy.denominator
    if (
        src.dtype != np.uint8
        or fx < 1
        or fy < 1
        or qx & (qx - 1)
        or qy & (qy - 1)
        or sh * sw < 4096
    ):
        return cv2.resize(src, size, interpolation=cv2.INTER_AREA)
    level, x, y, bw, bh = _unlevel_box(src, drawn)
    px, py = fx.numerator, fy.numerator
    x0, x1 = x // px, -(-(x + bw) // px)  # in periods of p source / q output pixels
    y0, y1 = y // py, -(-(y + bh) // py)
    if (x1 - x0) * qx * 2 > size[0] and (y1 - y0) * qy * 2 > size[1]:
        return cv2.resize(src, size, interpolation=cv2.INTER_AREA)  # little to leave out
    out = np.full((size[1], size[0]), level, np.uint8)
    if bw and bh:
        part = src[y0 * py : y1 * py, x0 * px : x1 * px]
        out[y0 * qy : y1 * qy, x0 * qx : x1 * qx] = cv2.resize(
            part, ((x1 - x0) * qx, (y1 - y0) * qy), interpolation=cv2.INTER_AREA
        )
    return out


def _unlevel_box(src: np.ndarray, drawn: Box | None) -> tuple[int, int, int, int, int]:
    """(level, x, y, w, h): the box of the pixels of ``src`` that differ from its top left
    one's level. With ``drawn`` (``src`` is one level outside it) and that pixel outside it,
    only ``drawn`` is searched (a canvas's drawing covers a fifth of it or less): the same
    box, found in less time."""
    level = int(src[0, 0])
    if drawn is None or drawn[:2] == (0, 0):  # the top left pixel may be the drawing's
        return level, *cv2.boundingRect(cv2.compare(src, level, cv2.CMP_NE))
    x0, y0, w0, h0 = drawn
    part = src[y0 : y0 + h0, x0 : x0 + w0]
    x, y, w, h = cv2.boundingRect(cv2.compare(part, level, cv2.CMP_NE))
    if not (w and h):
        return level, 0, 0, 0, 0  # as the whole image's search finds nothing
    return level, x + x0, y + y0, w, h


def _flattened(gray: np.ndarray, inverted: bool, drawn: Box | None = None) -> np.ndarray | None:
    """White ink on black relative to the paper around it, for a page whose paper is lit
    unevenly (a shadow, a phone photo's fall-off); None when the paper is even enough for one
    level (the usual case: those images keep the plain subtraction, unchanged).

    Shading multiplies the paper and the ink alike, so ink is measured as a share of the local
    paper level and put back on the scale of the brightest paper. ``drawn``: as for
    ``ink_and_polarity``."""
    bg = paper_map(gray, inverted, drawn)
    if bg is None:
        return None
    if not inverted:  # light ink on dark paper: work on the negative
        bg = 255 - bg
    lo, hi = int(bg.min()), int(bg.max())
    if hi <= 0 or hi - lo <= SHADE_MIN_SPREAD * hi:
        return None
    paper = cv2.resize(bg, gray.shape[::-1], interpolation=cv2.INTER_LINEAR).astype(np.float32)
    np.maximum(paper, 1.0, out=paper)
    g = gray.astype(np.float32) if inverted else 255 - gray.astype(np.float32)
    ink = (paper - g) * (hi / paper)
    return np.clip(ink + 0.5, 0, 255).astype(np.uint8)


#: the fewest changes from one row (column) to the next for an image's blocks to be measured:
#: a plain frame or a bar alone says nothing of its resolution
BLOCK_CHANGES = 4
#: rows (columns) compared at a time: a scan's noise or a drawing's curve ends the search in
#: the first few
_BLOCK_CHUNK = 32


def pixel_block(gray: np.ndarray) -> int:
    """The side of the blocks ``gray`` is made of when it was enlarged by repeating each pixel
    (nearest neighbour: a low-resolution digit blown up by a viewer or an old ``PIL.resize``),
    else 1. Such an image changes from one row to the next, and from one column to the next,
    only every k-th time (the whole part of k, when the enlargement was not by a whole number);
    a scan or a drawing changes on neighbouring rows somewhere along any curve."""
    if _changes_twice(gray):
        return 1
    rows = _least_run(gray)
    return 1 if rows < 2 else min(rows, _least_run(gray.T))


def _changes_twice(gray: np.ndarray) -> bool:
    """Whether the three rows in the middle of ``gray`` differ each from the next: a quick
    answer (most images, an MNIST digit among them) that it was not enlarged by repeating
    its pixels, at the cost of two rows' bytes."""
    i = gray.shape[0] // 2 - 1
    if i < 0 or i + 2 >= gray.shape[0]:
        return False
    a, b, c = (gray[k].tobytes() for k in (i, i + 1, i + 2))
    return a != b and b != c


def _least_run(img: np.ndarray) -> int:
    """The fewest rows of ``img`` between two changes from one row to the next: 1 as soon as
    two neighbouring rows both change, or when there are too few changes to tell."""
    parts: list[np.ndarray] = []
    for lo in range(0, img.shape[0] - 1, _BLOCK_CHUNK):
        hi = min(img.shape[0], lo + _BLOCK_CHUNK + 1)
        part = np.any(img[lo + 1 : hi] != img[lo : hi - 1], axis=1)
        if np.any(part[1:] & part[:-1]) or (parts and parts[-1][-1] and part[0]):
            return 1
        parts.append(part)
    at = np.flatnonzero(np.concatenate(parts)) if parts else np.empty(0, np.intp)
    if len(at) < BLOCK_CHANGES:
        return 1
    return int(np.diff(at).min())
