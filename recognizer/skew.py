"""A skewed scan's form lines, turned level.

The line search (``lines``) finds printed lines as straight runs of pixels along a row or a
column. A page scanned a degree or two askew has none: an underline 300 px long, turned by
1 degree, steps down a row every 57 px, and a 1 px line breaks into short runs that read as
strokes ("1"s) or join the digit. So before lines are looked for, the ink's longest printed
line gives its skew (``skew``: the angle at which the ink falls in the fewest rows and
columns, then a fit to the line itself), and a skewed image is turned level; boxes are
turned back for the caller (``Turn``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: skews up to this many degrees are looked for (a scan, or a form photographed by hand:
#: turned 4-9 degrees, boxes, underlines and combs read 89, 57 and 45% at 5; 99, 98, 93% at 10)
MAX_SKEW = 10.0
#: ... first in steps of this many degrees
COARSE_STEP = 0.5
#: beyond this many degrees (a scanner's skew), a line down the image needs one across it
#: at the same angle, at least this share as full: a form is turned as a whole, while a
#: digit's straight stroke (a "1") leans 5-15 degrees on its own
SCAN_SKEW = 5.0
CROSSED = 0.5
#: an image is turned only when its longest line steps at least this many px across from
#: end to end: the line search finds a line thicker than that whole
MIN_DRIFT = 1.0
#: the skew is measured on the ink reduced to at most this many pixels on its longer side
SKEW_SIDE = 320
#: a line at the skew spans at least this share of the image's width (height), ...
SPAN = 0.3
#: ... its middle strays from straight by at most this many px (the median) ...
MAX_WOBBLE = 0.3
#: ... and it is at least this many times longer than it is thick: a pen's straight
#: strokes are thicker or waver (a tight crop's "1", a digit of a noisy scan)
ELONGATION = 8.0
#: a line's fit is taken again without its points this many px off (crossing strokes)
OUTLIER = 2.0
#: images smaller than this hold no form lines (as ``lines.MIN_SIDE``)
MIN_SIDE = 40


@dataclass(frozen=True)
class Turn:
    """How a working image was turned level: ``matrix`` maps its pixels to the turned
    image's (2 x 3, ``cv2.warpAffine``'s form), of ``size`` (width, height)."""

    degrees: float
    matrix: np.ndarray
    size: tuple[int, int]

    def image(self, img: np.ndarray) -> np.ndarray:
        """``img`` turned (interpolated linearly; what lies outside it is 0).

        Moved by whole pixels (nearest), a thin line that stepped from row to row came
        level in two rows, each with half its length, and was no line."""
        return cv2.warpAffine(
            img, self.matrix, self.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )

    def box_back(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """``box`` (x, y, w, h) in the turned image: the box round it in the image before."""
        x, y, w, h = box
        corners = np.array([[[x, y], [x + w, y], [x, y + h], [x + w, y + h]]], np.float64)
        back = cv2.transform(corners, cv2.invertAffineTransform(self.matrix))[0]
        x0, y0 = np.floor(back.min(0)).astype(int)
        x1, y1 = np.ceil(back.max(0)).astype(int)
        return int(x0), int(y0), max(1, int(x1 - x0)), max(1, int(y1 - y0))


def skew(binary: np.ndarray) -> float:
    """The angle in degrees (counter-clockwise, as ``cv2.getRotationMatrix2D`` turns) that
    ``binary``'s (0/255, white ink) longest straight line makes with the rows (columns), or
    0.0 when it has none that a level look misses.

    The angle is first found to ``COARSE_STEP`` on the ink reduced to ``SKEW_SIDE`` (where
    the ink falls in the fewest rows and columns), and the line must span ``SPAN`` of the
    image. Then straight lines are fitted through the longest line's own pixels at full
    size (``_fitted``): a thick line's rows fill as well a little askew as level, so no
    count of them tells a fraction of a degree. It must be straight (``MAX_WOBBLE``) and
    thin (``ELONGATION``), as a printed line is and a pen's stroke mostly is not, and the
    image is turned only where it steps ``MIN_DRIFT`` px from end to end.
    """
    H, W = binary.shape
    if min(H, W) < MIN_SIDE:
        return 0.0
    f = max(1, -(-max(H, W) // SKEW_SIDE))
    # reduced, a pixel is ink if any of its f x f block is: a thin line stays whole
    small = binary if f == 1 else cv2.resize(binary, (W // f, H // f), interpolation=cv2.INTER_AREA)
    ys, xs = _ink(small)
    if len(ys) < 2 * MIN_SIDE:
        return 0.0
    h, w = small.shape
    best = _sharpest(ys, xs, _angles(0.0, MAX_SKEW, COARSE_STEP))
    rows, cols = _profiles(ys, xs, best)
    across = rows.max() / w >= cols.max() / h  # the longest line runs across (else down)
    if max(rows.max() / w, cols.max() / h) < SPAN:
        return 0.0  # no long line
    if abs(best) > SCAN_SKEW and not across and rows.max() / w < CROSSED * cols.max() / h:
        return 0.0  # a stroke that leans, such as a "1": no line across it turned as far
    profile = rows if across else cols
    near = _band(ys, xs, best, ys, xs, profile, across)
    # the band's own strip at full size (the reduced pixels' blocks, and one more round)
    y0, x0 = max(0, int(ys[near].min() - 1) * f), max(0, int(xs[near].min() - 1) * f)
    y1, x1 = int(ys[near].max() + 2) * f, int(xs[near].max() + 2) * f
    fy, fx = _ink(binary[y0:y1, x0:x1])
    fy, fx = fy + y0, fx + x0
    band = _band(fy / f, fx / f, best, ys, xs, profile, across)
    along, off = (fx[band], fy[band]) if across else (fy[band], fx[band])
    slope, length, wobble = _fitted(along, off)
    if wobble > MAX_WOBBLE or length < ELONGATION * len(along) / max(1.0, length):
        return 0.0  # a pen's stroke: it wavers, or it is thick for its length
    degrees = float(np.degrees(np.arctan(slope)))
    if not across:  # a line x = x0 - y tan(a) is turned level by a
        degrees = -degrees
    if abs(degrees - best) > 2 * COARSE_STEP or length * abs(slope) < MIN_DRIFT:
        return 0.0  # level; or the fit was drawn off by strokes along the line
    return degrees


def _ink(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows and columns of ``binary``'s ink (float32; OpenCV's search, ten times numpy's)."""
    found = cv2.findNonZero(binary)
    if found is None:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    xy = found.reshape(-1, 2).astype(np.float32)
    return xy[:, 1], xy[:, 0]


def _band(
    fy: np.ndarray,
    fx: np.ndarray,
    degrees: float,
    ys: np.ndarray,
    xs: np.ndarray,
    profile: np.ndarray,
    across: bool,
) -> np.ndarray:
    """Which full-size pixels (``fy``, ``fx`` in reduced units) lie on the fullest row
    (``across``; else column) of the reduced ink ``ys``, ``xs`` turned by ``degrees``,
    ``profile`` being its ink per row (column), or on the rows next to it that are at least
    half as full: the longest line, and the strokes that cross it there."""
    r0, c0 = _bins(ys, xs, degrees)
    r, c = _bins(fy, fx, degrees)
    k = _shifted(r, r0.min()) if across else _shifted(c, c0.min())
    top = int(np.argmax(profile))
    full = profile >= 0.5 * profile[top]
    lo, hi = top, top
    while lo > 0 and full[lo - 1]:
        lo -= 1
    while hi < len(full) - 1 and full[hi + 1]:
        hi += 1
    return (k >= lo - 1) & (k <= hi + 1)


def _fitted(along: np.ndarray, off: np.ndarray) -> tuple[float, float, float]:
    """(slope, length, wobble) of a band of pixels that holds a line: a straight line is
    fitted through each of its edges and its middle (at each step ``along`` it, the least,
    the greatest and the mean ``off`` it; ``_line_fit``), and the straightest of the three
    is taken.
    ``wobble`` is its median distance from the fit (px): a printed line's is its edges'
    rounding, a pen's its hand. A stroke along the line bends its middle and one edge, and
    a crop along the line cuts one edge straight off; the other edge is the line's."""
    steps = along.astype(np.int32)
    counts = np.bincount(steps)
    at = np.flatnonzero(counts)
    if len(at) < 2:
        return 0.0, 0.0, np.inf
    low = np.full(len(counts), np.inf, np.float32)
    high = np.full(len(counts), -np.inf, np.float32)
    np.minimum.at(low, steps, off)
    np.maximum.at(high, steps, off)
    mid = np.bincount(steps, off)[at] / counts[at]
    fits = [_line_fit(at, v) for v in (mid, low[at], high[at])]
    slope, wobble = min(fits, key=lambda f: f[1])
    return slope, float(at[-1] - at[0]), wobble


def _line_fit(at: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """(slope, median distance from it) of the line through points (at, v): least squares,
    then again without the points over ``OUTLIER`` px off the first (where a stroke crosses
    the line; OpenCV's Huber fit did as well at eight times the cost)."""
    x = at.astype(np.float64)
    keep = np.ones(len(x), bool)
    for _ in range(2):
        slope, icpt = np.polyfit(x[keep], v[keep], 1)
        off = np.abs(v - (slope * x + icpt))
        keep = off <= OUTLIER
        if keep.sum() < 2:
            return 0.0, np.inf
    return float(slope), float(np.median(off))


def _angles(mid: float, reach: float, step: float) -> np.ndarray:
    n = round(reach / step)
    return mid + step * np.arange(-n, n + 1)


def _bins(ys: np.ndarray, xs: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """The row and the column each pixel falls in once turned by ``degrees`` (unshifted)."""
    t = np.float32(np.tan(np.radians(degrees)))
    rows = ys - xs * t  # a line y = y0 + x tan(a) falls in one row ...
    cols = xs + ys * t  # ... and a line x = x0 - y tan(a) in one column
    return rows, cols


def _profiles(ys: np.ndarray, xs: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """Ink per row and per column of the image turned by ``degrees`` (1 px bins)."""
    rows, cols = _bins(ys, xs, degrees)
    return np.bincount(_shifted(rows, rows.min())), np.bincount(_shifted(cols, cols.min()))


def _shifted(v: np.ndarray, low: float) -> np.ndarray:
    return (v - low + 0.5).astype(np.int32)


def _sharpest(ys: np.ndarray, xs: np.ndarray, angles: np.ndarray) -> float:
    """The one of ``angles`` (degrees) at which the ink falls in the fewest rows and columns
    (its profiles' energy is greatest). All angles' profiles are counted in one go, each in
    a stretch of bins of its own."""
    t = np.tan(np.radians(angles)).astype(np.float32)[:, None]
    energy = np.zeros(len(angles))
    for bins in (ys[None] - xs[None] * t, xs[None] + ys[None] * t):
        k = (bins - bins.min(1, keepdims=True) + 0.5).astype(np.int32)
        stretch = int(k.max()) + 1
        k += (np.arange(len(angles), dtype=np.int32) * stretch)[:, None]
        counts = np.bincount(k.ravel(), minlength=len(angles) * stretch).astype(np.float64)
        counts = counts.reshape(len(angles), stretch)
        energy += (counts * counts).sum(1)
    return float(angles[int(np.argmax(energy))])


def level(ink: np.ndarray, degrees: float) -> tuple[np.ndarray, Turn]:
    """``ink`` (white on black) turned by ``degrees`` about its centre, on a canvas large
    enough to hold all of it (the corners are paper, 0), and the ``Turn``."""
    H, W = ink.shape
    m = cv2.getRotationMatrix2D((W / 2.0, H / 2.0), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(W * c + H * s)), int(np.ceil(W * s + H * c))
    m[0, 2] += (nw - W) / 2.0
    m[1, 2] += (nh - H) / 2.0
    turn = Turn(degrees, m, (nw, nh))
    return turn.image(ink), turn
