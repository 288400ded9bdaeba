"""A faster decoder for the PNGs a drawing canvas makes, pixel for pixel what
``cv2.imdecode(data, cv2.IMREAD_UNCHANGED)`` gives.

OpenCV's encoder (and so the bench's canvases) writes 8-bit RGBA with every row filtered "Sub",
Chromium's canvas every row "Up": decoding it is inflating ~640 KB for a 400x400 canvas, then
a running sum along each row (Sub) or down each column (Up).
libpng inflates with zlib, which copies the long runs of a mostly transparent canvas a few
bytes at a time; libdeflate (the ``deflate`` package) is several times faster there. The
running sum is done only over the box of rows and columns that hold any non-zero byte.

Only the plainest PNGs are taken: 8-bit gray, RGB or RGBA, not interlaced, rows filtered
"None" or "Sub" only, or every row "Up" (what Chromium's ``canvas.toBlob`` writes), the
critical chunks and a few text/metadata chunks, every CRC right. ``decode`` returns None
for anything else -- or when ``deflate`` is not installed -- and the caller decodes with
OpenCV as before.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

try:  # optional: without it every PNG goes to OpenCV
    from deflate import crc32 as _crc32
    from deflate import zlib_decompress as _inflate
except ImportError:  # pragma: no cover - a dependency; an odd install
    _inflate = None  # type: ignore[assignment]
    _crc32 = zlib.crc32  # type: ignore[assignment]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: chunks that change no pixel of the decoded image (libpng reads or skips them)
_HARMLESS = {b"tEXt", b"zTXt", b"iTXt", b"pHYs", b"tIME"}
_CHANNELS = {0: 1, 2: 3, 6: 4}  # colour type -> channels
#: a PNG of more chunks than this is left to OpenCV (each chunk's CRC is checked here in
#: Python: a file of a million tiny chunks would take seconds)
MAX_CHUNKS = 4096
#: below this many pixels OpenCV is as fast (an MNIST-size PNG)
MIN_PIXELS = 4096
#: a running sum of 16-bit lanes holds this many bytes of up to 255, plus a carry, without
#: overflowing (256 x 255 + 255 = 65,535)
_LANE_RUN = 256
_LOW_BYTES = np.uint64(0x00FF00FF00FF00FF)
#: filtered bytes whose rows hold a non-zero byte at both ends at least this often have their
#: box found by OpenCV (``_nonzero_box``)
_FULL_ENDS = 0.5


def available() -> bool:
    return _inflate is not None


def decode(data: bytes) -> np.ndarray | None:
    """The image as ``cv2.imdecode(..., IMREAD_UNCHANGED)`` decodes it (gray 2-D, BGR or
    BGRA), or None when this PNG is not one this decoder takes."""
    found = decode_part(data)
    return None if found is None else whole(*found)


def whole(size: tuple[int, int], at: tuple[int, int], part: np.ndarray) -> np.ndarray:
    """The whole image of a ``decode_part`` answer."""
    (h, w), (x, y) = size, at
    if part.shape[:2] == (h, w):
        return part
    out = np.zeros((h, w, *part.shape[2:]), np.uint8)
    out[y : y + part.shape[0], x : x + part.shape[1]] = part
    return out


def decode_part(data: bytes) -> tuple[tuple[int, int], tuple[int, int], np.ndarray] | None:
    """``decode``'s image as ((height, width), (x, y), part): every pixel outside the ``part``
    that starts at (x, y) is 0 in every channel (a canvas's transparent surround need not be
    built at all); None as for ``decode``."""
    if _inflate is None:
        return None
    data = bytes(data)
    if data[:8] != _SIGNATURE or len(data) < 24:
        return None
    w, h = struct.unpack_from(">II", data, 16)  # IHDR's, if it is one (checked below)
    if w * h < MIN_PIXELS:
        return None
    head = _chunks(data)
    if head is None:
        return None
    (w, h, c), idat = head
    stride = w * c + 1
    try:
        raw = _inflate(idat, h * stride)
    except Exception:
        return None  # bad data: OpenCV gives its own answer
    if len(raw) != h * stride:
        return None
    rows = np.frombuffer(raw, np.uint8).reshape(h, stride)
    filters = rows[:, 0]
    if int(filters.min()) == int(filters.max()) == 2:  # every row "Up": Chromium's canvases
        return (h, w), *_unfilter_up(rows[:, 1:], w, h, c)
    if int(filters.max()) > 1:
        return None  # Up mixed with others, Average or Paeth rows: left to libpng
    return (h, w), *_unfilter(rows[:, 1:], filters, w, h, c)


def _chunks(data: bytes) -> tuple[tuple[int, int, int], bytes | memoryview] | None:
    """((width, height, channels), the IDAT data) of a PNG this decoder takes, else None."""
    pos, n = 8, len(data)
    view = memoryview(data)  # chunks are checked and joined without copying each one
    size = None
    parts: list[memoryview] = []
    state = 0  # 0: before IDAT, 1: in the IDATs, 2: after them
    first = True
    for _ in range(MAX_CHUNKS):
        if pos + 12 > n:
            return None
        (length,) = struct.unpack_from(">I", data, pos)
        end = pos + 12 + length
        if end > n:
            return None
        kind = data[pos + 4 : pos + 8]
        body = view[pos + 8 : pos + 8 + length]
        # (libdeflate's CRC-32: the same value as zlib's, ten times faster on a big IDAT)
        if _crc32(view[pos + 4 : end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
            return None
        pos = end
        if first:
            if kind != b"IHDR" or length != 13:
                return None
            w, h, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in _CHANNELS or comp or filt or interlace or not w or not h:
                return None
            size = (w, h, _CHANNELS[ctype])
            first = False
        elif kind == b"IDAT":
            if state == 2:
                return None
            state = 1
            parts.append(body)
        elif kind == b"IEND":
            if state != 1 or size is None:
                return None
            return size, parts[0] if len(parts) == 1 else b"".join(parts)
        elif kind in _HARMLESS:
            if state == 1:
                state = 2
        else:
            return None
    return None


def _unfilter(
    filtered: np.ndarray, filters: np.ndarray, w: int, h: int, c: int
) -> tuple[tuple[int, int], np.ndarray]:
    """Rows filtered None (0) or Sub (1) -> ((x, y), part) as ``decode_part`` gives them
    (gray, BGR or BGRA as OpenCV gives them).

    A filtered byte of 0 leaves a None row's pixel 0 and repeats a Sub row's pixel to its
    left, so only the box of non-zero filtered bytes needs the running sum; to its right a
    Sub row keeps its last value (the part then runs to the right edge)."""
    x, y, bw, bh = _nonzero_box(filtered)
    if not (bw and bh):
        return (0, 0), np.zeros((1, 1) if c == 1 else (1, 1, c), np.uint8)
    x0, x1 = x // c, (x + bw + c - 1) // c  # in pixels
    box = filtered[y : y + bh, x0 * c : x1 * c]
    sub = filters[y : y + bh] == 1
    if sub.all():
        part = _running_sum(box, c)
    else:
        part = box.copy()
        if sub.any():
            part[sub] = _running_sum(box[sub], c)
    part = part.reshape(bh, x1 - x0, c)
    if x1 < w:
        last = part[:, -1:] * sub[:, None, None].view(np.uint8)
        if last.any():
            part = np.concatenate([part, np.broadcast_to(last, (bh, w - x1, c))], axis=1)
    return (x0, y), _channels(part, c)


def _unfilter_up(
    filtered: np.ndarray, w: int, h: int, c: int
) -> tuple[tuple[int, int], np.ndarray]:
    """Rows all filtered Up (2) -> ((x, y), part) as ``decode_part`` gives them.

    Undoing Up is a running sum down each column. A filtered byte of 0 repeats the byte above
    (0 above the first row), so only the box of non-zero filtered bytes needs the sum; below
    it every row repeats its last one (the part then runs to the bottom edge)."""
    x, y, bw, bh = _nonzero_box(filtered)
    if not (bw and bh):
        return (0, 0), np.zeros((1, 1) if c == 1 else (1, 1, c), np.uint8)
    x0, x1 = x // c, (x + bw + c - 1) // c  # in pixels
    part = np.cumsum(filtered[y : y + bh, x0 * c : x1 * c], axis=0, dtype=np.uint8)
    if y + bh < h and part[-1].any():
        part = np.concatenate([part, np.broadcast_to(part[-1:], (h - y - bh, part.shape[1]))])
    part = part.reshape(part.shape[0], x1 - x0, c)
    return (x0, y), _channels(part, c)


def _nonzero_box(rows: np.ndarray) -> tuple[int, int, int, int]:
    """``cv2.boundingRect(rows)`` of 2-D uint8 ``rows`` (x, y, w, h of its non-zero bytes;
    all 0 when there are none).

    OpenCV looks at each row's bytes one at a time from both ends to the first non-zero one:
    quick on a scan's rows, which mostly hold one at both ends (``_FULL_ENDS``), but on a
    canvas's empty rows it reads every byte, three times NumPy's instructions for the same
    box (its vectorized maxima: the rows that hold any non-zero byte, then their columns)."""
    ends = np.count_nonzero((rows[:, 0] > 0) & (rows[:, -1] > 0))
    if ends >= _FULL_ENDS * rows.shape[0]:
        return cv2.boundingRect(rows)
    ys = np.flatnonzero(rows.max(axis=1))
    if not ys.size:
        return 0, 0, 0, 0
    y0, y1 = int(ys[0]), int(ys[-1]) + 1
    xs = np.flatnonzero(rows[y0:y1].max(axis=0))
    x0, x1 = int(xs[0]), int(xs[-1]) + 1
    return x0, y0, x1 - x0, y1 - y0


def _channels(part: np.ndarray, c: int) -> np.ndarray:
    """Gray, RGB or RGBA pixels as OpenCV gives them (gray 2-D, BGR, BGRA)."""
    if c == 1:
        return part.reshape(part.shape[:2])
    return cv2.cvtColor(part, cv2.COLOR_RGBA2BGRA if c == 4 else cv2.COLOR_RGB2BGR)


def _running_sum(box: np.ndarray, c: int) -> np.ndarray:
    """The Sub filter undone: each byte plus the undone byte ``c`` to its left, mod 256, along
    every row of ``box`` (rows x bytes)."""
    if c != 4:
        return _running_sum_integral(box, c)
    n_rows, n = box.shape
    # each pixel's channels as 16-bit lanes of one 64-bit word: one running sum per pixel
    lanes = box.reshape(n_rows, -1, 4).astype(np.uint16)
    words = lanes.view(np.uint64).reshape(n_rows, -1)
    carry = None
    for s in range(0, words.shape[1], _LANE_RUN):
        part = words[:, s : s + _LANE_RUN]
        np.cumsum(part, axis=1, out=part)
        if carry is not None:
            part += carry
        carry = part[:, -1:] & _LOW_BYTES
    return lanes.astype(np.uint8).reshape(n_rows, n)


#: ``_running_sum_integral`` takes rows in bands of about this many bytes (its int32 sums
#: then stay far from overflowing, and its buffers small)
_BAND_BYTES = 1 << 18
#: a row of this many bytes of 255 would overflow an int32 sum
_INT32_ROW = (1 << 31) // 255


def _running_sum_integral(box: np.ndarray, c: int) -> np.ndarray:
    """``_running_sum`` for gray (``c`` 1) and RGB (3) rows: the band of rows laid end to end
    as one row of ``c``-channel pixels, whose running sums per channel ``cv2.integral`` gives
    (exact int32: a band's sum stays below 2**31); a row's own sums are those minus the sum
    before its first pixel, mod 256 (the low bytes alone)."""
    n_rows, n = box.shape
    w = n // c
    if n >= _INT32_ROW:  # one row's sums could overflow int32
        return np.cumsum(box.reshape(n_rows, w, c), axis=1, dtype=np.uint8).reshape(n_rows, n)
    out = np.empty((n_rows, n), np.uint8)
    step = max(1, _BAND_BYTES // n)
    for s in range(0, n_rows, step):
        band = box[s : s + step]
        r = band.shape[0]
        sums = cv2.integral(band.reshape(1, r * w, c), sdepth=cv2.CV_32S)[1]
        low = sums.reshape(-1).astype(np.uint8)  # (r * w + 1) * c: a 0 first, per channel
        rows = low[c:].reshape(r, n)
        before = low[:-c].reshape(r, n)[:, :c]  # the sums before each row's first pixel
        if c == 1:
            np.subtract(rows, before, out=out[s : s + r])
        else:
            np.subtract(rows, np.tile(before, (1, w)), out=out[s : s + r])
    return out
