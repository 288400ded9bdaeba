"""Form-line removal: printed rulings, underlines, box borders and comb teeth.

Candidates are the pixels kept by a morphological opening with a long horizontal (vertical)
kernel, i.e. straight runs much longer than a stroke is thick. A candidate is a form line only
if one of these holds (a digit's own straight stroke never satisfies them):

* horizontal and much longer than the tallest thing in the image that is not a horizontal line
  (``LONG_FACTOR`` x the digit height): rulings, underlines, the base of a comb;
* part of a frame: both of its ends meet candidates of the other direction that themselves
  meet at both ends (a printed box);
* a comb tooth: a vertical candidate with an end on a form line, with at least two more teeth
  of about the same length on that line, on one grid of equal steps with them.

Dashed and dotted lines are bridged first (``_bridge_dashes``) and then judged the same way;
squared paper (``_grid``: lines across the whole image, both ways) is removed whole.

Strokes that crossed a removed line are repaired: a line pixel with stroke ink just above and
below it (just left and right for a vertical line) is put back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

#: a horizontal line is "long" beyond this many digit heights
LONG_FACTOR = 1.4
#: a candidate is at least this many times longer than it is thick
ELONGATION = 6.0
#: images smaller than this (a lone 28x28 digit) hold no form lines
MIN_SIDE = 40
#: lines are looked for at about this size (shorter side), for speed
DETECT_SIDE = 160
#: ... after a first look at about this size
GATE_SIDE = 80
#: comb teeth: at least this many on one line, lengths within this ratio
MIN_TEETH = 3
TEETH_RATIO = 0.75
#: ... standing on one grid of equal steps, within this share of a step (``_comb_grid``)
GRID_SLACK = 0.15
#: ... the grid that best explains them: a slot left empty costs half a tooth found
EMPTY_SLOT = 0.5
#: ... and its step is over this share of the teeth's length (a box is no narrower)
COMB_STEP = 0.5
#: a tooth is at least this many times longer than it is thick (a page turned level spreads a
#: short tooth over a column more; standing on a line, evenly spaced, it is still a tooth)
TEETH_ELONGATION = 4.5
#: dashed and dotted lines: pieces at most this share of the digit height long, about this
#: share thick, at least this many, with gaps of at most this share bridged
DASH_LONG = 0.4
DASH_THICK = 0.15
MIN_DASHES = 4
#: ... and more dash-like pieces than this are a halftone screen or noise, not dotted lines
MAX_DOTS = 400
DASH_GAP = 0.25
#: the sides of a frame meet within this share of the digit height of each other's ends
CORNER_SLACK = 0.12
#: squared paper: at least this many lines each way, each across this share of the image
MIN_RULES = 3
PAGE_SPAN = 0.8
#: a frame's side also takes the row (column) just outside its core where ink runs along
#: this share of it, if the next one out holds under ``EDGE_BEYOND`` as much (``_outer_edges``)
EDGE_RUN = 0.8
EDGE_BEYOND = 0.3
#: a printed line along the image's edge (a field cut out along its box; on a skewed scan
#: the box's sides run slantwise into the edge, and no straight run is left of them): at
#: most this share of the shorter side thick (or ``EDGE_LINE_PX``), ...
EDGE_LINE_THIN = 0.1
EDGE_LINE_PX = 5
#: ... or up to this share thick, or straight only without the columns where a digit runs
#: close to the edge, on a frame found along this many edges or more (a tight crop's "7"
#: has a straight bar along one edge and a straight stem along another)
EDGE_LINE_THICK = 0.14
EDGE_LINE_DOUBTFUL_SIDES = 3
#: ... with at most 2 px and this share of the edge's length of paper between it and the
#: edge (a crop's margin, and the drift of a line 3 degrees askew), ...
EDGE_LINE_GAP = 0.06
#: ... along this share of the edge (a tenth at each end, the corners, left out) ...
EDGE_LINE_ALONG = 0.7
#: ... running into one of the edge's ends (in this share of its tenth there: a slanted side
#: may leave the image before the other), and touching the edge somewhere (within this many
#: px: a field cut out along its box, its box askew) ...
EDGE_LINE_END = 0.5
EDGE_LINE_TOUCH = 3
#: ... its inner edge straight: its pixels this many px from a straight line (the median)
EDGE_LINE_WOBBLE = 0.5
#: ... on at least this many edges: a tight crop's digit may run a bar along one edge
EDGE_LINE_SIDES = 2
#: a row of boxes cut out inside its frame: at least this many dividers from its top edge
#: to its bottom one (``_cut_dividers``)
CUT_DIVIDERS = 3
#: ... in a row this many times wider than tall, or more
CUT_ROW = 2.0
#: a row of boxes' divider that a digit touches: columns with ink in this share of the rows
#: between the row's top and bottom sides (``_upright_runs``) ...
DIVIDER_FULL = 0.97
#: ... on the row's grid of equal boxes (``_box_grid``), each box at least this share of the
#: row's height wide, give or take this share of a box and a pixel
DIVIDER_PITCH = 0.5
DIVIDER_AT = 0.08
#: the low threshold's binary holds this many times the ink of the image's own binary: a
#: tinted field passed it whole, and lines are looked for in the image's binary instead
FLOODED = 3.0


@dataclass
class _Seg:
    label: int
    x0: int
    y0: int
    x1: int  # exclusive
    y1: int
    horizontal: bool
    #: the candidate component it is a core of (``_cores``: a line and a stroke along it)
    parent: int

    @property
    def length(self) -> int:
        return (self.x1 - self.x0) if self.horizontal else (self.y1 - self.y0)

    @property
    def thick(self) -> int:
        return (self.y1 - self.y0) if self.horizontal else (self.x1 - self.x0)

    def ends(self, tol: int) -> list[tuple[int, int, int, int]]:
        if self.horizontal:
            return [
                (self.x0 - tol, self.y0 - tol, self.x0 + tol, self.y1 + tol),
                (self.x1 - tol, self.y0 - tol, self.x1 + tol, self.y1 + tol),
            ]
        return [
            (self.x0 - tol, self.y0 - tol, self.x1 + tol, self.y0 + tol),
            (self.x0 - tol, self.y1 - tol, self.x1 + tol, self.y1 + tol),
        ]

    def hits(self, box: tuple[int, int, int, int]) -> bool:
        return self.x0 < box[2] and box[0] < self.x1 and self.y0 < box[3] and box[1] < self.y1


def _candidates(
    binary: np.ndarray, k: int, horizontal: bool, elongation: float = ELONGATION
) -> tuple[np.ndarray, np.ndarray | None, list[_Seg]]:
    """Straight runs of at least ``k`` px: (opened image, label image, [_Seg]).

    Each segment is reduced to its core: the rows (columns) whose run spans most of its
    length, so a stroke that merges with a line at one place does not widen it. A stroke
    that runs alongside a line, touching it (the stem of a "4" along a box's side), makes one
    component of two straight runs: each is a core of its own (``_cores``)."""
    opened = _runs(binary, k, horizontal)
    if not opened.any():
        return opened, None, []
    n, lab, st, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    segs = []
    extra = n
    for i in range(1, n):
        x, y, w, h, _a = (int(v) for v in st[i])
        box = lab[y : y + h, x : x + w] == i
        counts = box.sum(1 if horizontal else 0)
        length = w if horizontal else h
        top = int(counts.max())
        if top < 0.8 * length:
            continue  # not one straight run from end to end
        view = lab[y : y + h, x : x + w] if horizontal else lab[y : y + h, x : x + w].T
        inside = box if horizontal else box.T
        keep = np.zeros(len(counts), bool)
        for j, (c0, c1) in enumerate(_cores(counts, top)):
            keep[c0:c1] = True
            if j == 0:  # the longest: along the whole component, as it always was
                label, a0, a1 = i, 0, length
            else:  # a run beside it: as far along as its own ink goes
                label, extra = extra, extra + 1
                along = np.nonzero(inside[c0:c1].any(0))[0]
                a0, a1 = int(along[0]), int(along[-1]) + 1
                view[c0:c1][inside[c0:c1]] = label
            if horizontal:
                s = _Seg(label, x + a0, y + c0, x + a1, y + c1, True, i)
            else:
                s = _Seg(label, x + c0, y + a0, x + c1, y + a1, False, i)
            if s.length >= elongation * max(1, s.thick):
                segs.append(s)
        if not keep.all():  # what lies outside the cores is no part of a line
            view[:] = np.where(inside & ~keep[:, None], 0, view)
    return opened, lab, segs


def _runs(binary: np.ndarray, k: int, horizontal: bool) -> np.ndarray:
    """The pixels of ``binary`` on straight runs of at least ``k`` px: OpenCV's opening with
    a ``k``-long line, but with no ink beyond the image's edge.

    OpenCV's opening counts what lies beyond the edge as ink, so a line along the edge,
    thinner than ``k``, stayed in as a run across it (a row of boxes cut out along its
    border: its top and bottom sides joined the dividers into one block, no line). So the
    opening is taken on a margin of paper. There a run that reaches the edge loses its
    pixel at the edge (for an even ``k`` OpenCV's opening sits a pixel off the run), so that
    pixel is taken from the plain opening where the edge-exact one (``_exact_runs``) has it.
    Inside the image the result is OpenCV's opening, pixel for pixel."""
    shape = (k, 1) if horizontal else (1, k)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, shape)
    plain = cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel)
    ends = (plain[:, :k], plain[:, -k:]) if horizontal else (plain[:k], plain[-k:])
    if not any(cv2.hasNonZero(np.ascontiguousarray(e)) for e in ends):
        return plain  # no run within reach of the edges (where the two differ)
    pad = (0, 0, k, k) if horizontal else (k, k, 0, 0)
    framed = cv2.copyMakeBorder(binary, *pad, cv2.BORDER_CONSTANT, value=0)
    h, w = binary.shape
    y, x = pad[0], pad[2]
    inside = cv2.morphologyEx(framed, cv2.MORPH_OPEN, kernel)[y : y + h, x : x + w]
    at_edge = cv2.bitwise_and(plain, _exact_runs(binary, kernel, k, horizontal))
    return cv2.bitwise_or(inside, at_edge)


def _exact_runs(binary: np.ndarray, kernel: np.ndarray, k: int, horizontal: bool) -> np.ndarray:
    """The opening of ``binary`` with ``kernel`` (a ``k``-long line), exact at every ``k``
    and with nothing beyond the edge: the dilation's anchor mirrors the erosion's."""
    a = k // 2
    first, second = ((a, 0), (k - 1 - a, 0)) if horizontal else ((0, a), (0, k - 1 - a))
    cut = cv2.erode(binary, kernel, anchor=first, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.dilate(cut, kernel, anchor=second, borderType=cv2.BORDER_CONSTANT, borderValue=0)


def _cores(counts: np.ndarray, top: int) -> list[tuple[int, int]]:
    """The cores of one candidate component, from its run lengths across (``counts``, per
    row of a horizontal candidate, per column of a vertical one; ``top`` their maximum).

    Rows at least 0.8 of the longest make groups, parted by valleys (runs under 0.8 of the
    longest). The first core runs from the first row at least 0.9 of the longest to the
    last, and another group, parted from it by a valley under 0.8 of its own longest, is a
    straight run of its own: a line and a stroke that runs along it, touching it, have such
    a valley between them; one thick line has none. The first core comes first.

    With two groups (a line and one stroke), the first core lies within the group with the
    most ink in rows at 0.9 of the longest. Across the valley it would span both (a box's
    bottom side and the flat foot of a loop standing on it): too thick for a line, and the
    box was not found. Many groups are a speckled band (noise, a halftone screen), no
    straight runs: it stays one core."""
    near = counts >= 0.8 * top
    edges = np.flatnonzero(np.diff(np.concatenate([[0], near, [0]]).astype(np.int8)))
    groups = list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
    strong = np.where(counts >= 0.9 * top, counts, 0)
    if len(groups) == 2:
        within = max(groups, key=lambda g: int(strong[g[0] : g[1]].sum()))
    else:
        within = (0, len(counts))
    idx = np.flatnonzero(strong[within[0] : within[1]]) + within[0]
    first = (int(idx[0]), int(idx[-1]) + 1)
    out = [first]
    for g0, g1 in groups:
        if g1 <= first[0] or g0 >= first[1]:  # a group beside the first core, not within it
            between = counts[g1 : first[0]] if g1 <= first[0] else counts[first[1] : g0]
            if len(between) and between.min() < 0.8 * counts[g0:g1].max():
                out.append((g0, g1))
    return out


def _digit_height(
    binary: np.ndarray,
    hmask: np.ndarray,
    components: tuple[int, np.ndarray, np.ndarray] | None = None,
) -> tuple[int, int]:
    """(tallest component, tallest component once its horizontal runs are taken out).

    The second is the digit height even when a digit stands on a line it touches: the line
    is taken out of the component, the digit's height remains. ``components`` is
    ``binary``'s (n, labels, stats) when the caller has them already."""
    if components is None:
        components = cv2.connectedComponentsWithStats(binary, connectivity=8)[:3]
    n, lab, st = components
    if n <= 1:
        return 0, 0
    areas = st[1:, cv2.CC_STAT_AREA]
    big = np.nonzero(areas >= 0.1 * areas.max())[0] + 1
    tallest = int(st[big, cv2.CC_STAT_HEIGHT].max())
    rest = cv2.subtract(binary, cv2.dilate(hmask, np.ones((3, 1), np.uint8)))
    if n == 2:  # one component (a drawing): what is left of it is all of ``rest``
        return tallest, cv2.boundingRect(rest)[3]
    rows = np.nonzero(rest)[0]
    if len(rows) == 0:
        return tallest, 0
    owner = lab[rest > 0]
    ok = np.isin(owner, big)
    if not ok.any():
        return tallest, 0
    owner, rows = owner[ok], rows[ok]
    lo = np.full(n, 1 << 30)
    hi = np.full(n, -1)
    np.minimum.at(lo, owner, rows)
    np.maximum.at(hi, owner, rows)
    return tallest, int((hi - lo + 1).max())


def find_lines(binary: np.ndarray) -> tuple[np.ndarray, int]:
    """0/255 mask of the form-line pixels in a 0/255 binary (white ink) image, and the
    thickness of the thickest line found: solid lines, and dashed or dotted ones."""
    n, lab, st, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 1:
        return np.zeros_like(binary), 0
    dashed = _bridge_dashes(binary, lab, st)
    if dashed is None:
        return _solid_lines(binary, (n, lab, st))
    bridged, dashes = dashed
    mask, thick = _solid_lines(
        bridged, cv2.connectedComponentsWithStats(bridged, connectivity=8)[:3]
    )
    mask = cv2.bitwise_and(mask, binary)
    if thick:
        # a dash the line runs through is the line's whole: the line's core leaves the
        # dash's edges, which would stack up into a thin "1" beside the digit
        mask[np.isin(lab, np.unique(lab[(mask > 0) & dashes[lab]]))] = 255
    return mask, thick


def _bridge_dashes(
    binary: np.ndarray, lab: np.ndarray, st: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """``binary`` with the gaps of dashed and dotted lines closed, and which of ``lab``'s
    labels are dashes (a bool per label, background included); None when it holds too few
    dash-like pieces to make a line.

    A dash is a component much smaller and thinner than the digits (at most ``DASH_LONG`` of
    the tallest big component's height long, and of about ``DASH_THICK`` of it thick). Dashes
    are bridged to each other, and along the rows (columns) a dashed line runs on, to the ink
    there too: the pieces of the line that merged with a digit written on it. Whether the
    bridged runs are form lines is then decided like any line (long, a frame, a comb, a
    grid), and only the original pixels are removed."""
    small, ref = _dash_like(st)
    if np.count_nonzero(small) < MIN_DASHES:
        return None
    areas = st[1:, cv2.CC_STAT_AREA]
    w, h = st[1:, cv2.CC_STAT_WIDTH], st[1:, cv2.CC_STAT_HEIGHT]
    dashes = np.isin(lab, np.nonzero(small)[0] + 1).astype(np.uint8) * 255
    # grown by a pixel first, so that pieces a pixel or two out of line still join
    dashes = cv2.dilate(dashes, np.ones((3, 3), np.uint8))
    gap = max(3, round(DASH_GAP * ref)) + 1
    # the rows (columns) a dashed line runs along: there, the pieces that merged with a
    # digit written on the line are bridged too, so the line runs on under the digit; only
    # pieces of at least 2 x 2 px count, not the specks of a noisy page
    marks = small & (np.minimum(w, h) >= 2) & (areas >= 4)
    printed = np.isin(lab, np.nonzero(marks)[0] + 1)
    rows = np.count_nonzero(printed, axis=1) >= 0.3 * ref
    cols = np.count_nonzero(printed, axis=0) >= 0.3 * ref
    along_h = cv2.bitwise_or(dashes, binary * rows[:, None].astype(np.uint8))
    along_v = cv2.bitwise_or(dashes, binary * cols[None, :].astype(np.uint8))
    joined = cv2.bitwise_or(
        cv2.morphologyEx(along_h, cv2.MORPH_CLOSE, np.ones((1, gap), np.uint8)),
        cv2.morphologyEx(along_v, cv2.MORPH_CLOSE, np.ones((gap, 1), np.uint8)),
    )
    return cv2.bitwise_or(binary, joined), np.concatenate([[False], small])


def _dash_like(st: np.ndarray) -> tuple[np.ndarray, float]:
    """Which components (``st``: stats, background first) look like the pieces of a dashed
    or dotted line, and the height of the tallest big one they are measured against."""
    areas = st[1:, cv2.CC_STAT_AREA].astype(np.float64)
    ref = float(st[1:, cv2.CC_STAT_HEIGHT][areas >= 0.1 * areas.max()].max())
    w, h = st[1:, cv2.CC_STAT_WIDTH], st[1:, cv2.CC_STAT_HEIGHT]
    return (np.maximum(w, h) <= DASH_LONG * ref) & (areas <= DASH_THICK * ref * (w + h)), ref


def _dotted(stats: np.ndarray | None) -> bool:
    """Component ``stats`` (background first) hold the dots or dashes of a dotted or dashed
    line: ``MIN_DASHES`` to ``MAX_DOTS`` dash-like pieces (more are a halftone screen)."""
    if stats is None or len(stats) <= 1:
        return False
    return MIN_DASHES <= int(np.count_nonzero(_dash_like(stats)[0])) <= MAX_DOTS


def _grid(
    binary: np.ndarray, hlab: np.ndarray | None, hsegs: list[_Seg], k: int
) -> tuple[np.ndarray, int] | None:
    """Squared paper: at least ``MIN_RULES`` horizontal and as many vertical lines that each
    cross nearly the whole image (the lines of the grid make one component with the digits
    on it, so the height of "the tallest digit" means nothing there). None if not a grid."""
    H, W = binary.shape
    rules_h = [s for s in hsegs if s.length >= PAGE_SPAN * W]
    if len(rules_h) < MIN_RULES:
        return None
    _, vlab, vsegs = _candidates(binary, k, False)
    rules_v = [s for s in vsegs if s.length >= PAGE_SPAN * H]
    if len(rules_v) < MIN_RULES:
        return None
    mask = np.zeros_like(binary)
    thick = max(_paint(mask, hlab, rules_h), _paint(mask, vlab, rules_v))
    return mask, thick


def _solid_lines(
    binary: np.ndarray, components: tuple[int, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, int]:
    """``find_lines`` for solid lines, given ``binary``'s (n, labels, stats)."""
    H, W = binary.shape
    zero = np.zeros_like(binary)
    n, lab, st = components
    areas = st[1:, cv2.CC_STAT_AREA]
    tallest = int(st[1:, cv2.CC_STAT_HEIGHT][areas >= 0.1 * areas.max()].max())
    widest = int(st[1:, cv2.CC_STAT_WIDTH].max())
    # runs shorter than half the tallest thing are never lines (a digit's straight strokes)
    k = max(8, round(0.45 * tallest))
    kh = max(8, min(k, round(0.45 * widest)))
    hopen, hlab, hsegs = _candidates(binary, kh, True)
    if not hsegs:  # every kind of form line has a horizontal part: no need to look further
        return zero, 0
    grid = _grid(binary, hlab, hsegs, k)
    if grid is not None:
        return grid
    _, ref_h = _digit_height(binary, hopen, components)
    ref_h = max(ref_h, 8)
    found_h = [s for s in hsegs if s.length >= LONG_FACTOR * ref_h]
    # frames: keep candidates whose two ends meet the other direction, until nothing changes
    # (a box is taller than what it holds; a digit's own loops and bars are not)
    frame_h = [s for s in hsegs if s.length >= 0.5 * ref_h]
    if not found_h and not frame_h:  # neither a long line nor the side of a frame
        return zero, 0
    _, vlab, vsegs = _candidates(binary, k, False)
    mask = zero.copy()
    thick = 0
    # (0.6: a digit may spill over a small box, standing taller than its sides)
    frame_v = [s for s in vsegs if s.length >= 0.6 * ref_h]
    slack = round(CORNER_SLACK * ref_h)
    while True:
        nh = [s for s in frame_h if _cornered(s, frame_v, slack)]
        nv = [s for s in frame_v if _cornered(s, nh, slack)]
        if len(nh) == len(frame_h) and len(nv) == len(frame_v):
            break
        frame_h, frame_v = nh, nv
    frame_h, frame_v = _outermost_of_kin(frame_h, frame_v), _outermost_of_kin(frame_v, frame_h)
    if frame_h and frame_v:
        found_h += [s for s in frame_h if s not in found_h]
        thick = _paint(mask, vlab, frame_v)
    thick = max(thick, _paint(mask, hlab, found_h))
    if frame_h and frame_v:
        _outer_edges(mask, binary, frame_v, frame_h)
        _outer_edges(mask, binary, frame_h, frame_v)
    # comb teeth standing on (or hanging from) a long form line
    long_h = [s for s in found_h if s.length >= LONG_FACTOR * ref_h]
    if long_h:
        k0 = min(k, max(6, min(H, W) // 40))
        _, vlab, vsegs = _candidates(binary, k0, False, TEETH_ELONGATION)
    for line in long_h:
        # teeth are printed like the line: as thin as it is (a written 1 is a pen stroke)
        thin = max(line.thick + 1, 1.5 * line.thick)
        teeth = [v for v in vsegs if v.thick <= thin and _reaches(v, line)]
        if len(teeth) < MIN_TEETH:
            continue
        similar, step = _regular(teeth)
        if len(similar) >= MIN_TEETH:
            thick = max(thick, _paint(mask, vlab, similar))
            _tooth_edges(mask, binary, similar)
            _missing_teeth(mask, binary, similar, line, step)
    return mask, thick


def _reaches(tooth: _Seg, line: _Seg) -> bool:
    """Whether ``tooth`` (vertical) stands on or hangs from ``line``: one of its ends lies
    within ``tol`` of the line, or it runs through the line and ends at most ``tol`` past
    it. On a page turned level a tooth's square end is a slanted one, and the line's core
    is a row or two thinner than its ink: the tooth runs on past the core."""
    r = tol(tooth)
    if any(line.hits(e) for e in tooth.ends(r)):
        return True
    if not (line.x0 < tooth.x1 and tooth.x0 < line.x1):
        return False
    down = tooth.y0 < line.y0 and line.y1 <= tooth.y1 <= line.y1 + r
    up = tooth.y1 > line.y1 and line.y0 - r <= tooth.y0 <= line.y0
    return down or up


def _outermost_of_kin(sides: list[_Seg], across: list[_Seg]) -> list[_Seg]:
    """Of the sides of frames that are cores of one candidate (a side and a stroke that runs
    along it, inside the box), the one farthest from the middle of the sides ``across``
    (the other direction's, whose midpoints are the frame's middle): the stroke lies
    inside the frame, the side is its edge."""
    if not across:
        return sides

    def mid(t: _Seg, along: bool) -> float:
        return (t.x0 + t.x1) / 2 if t.horizontal == along else (t.y0 + t.y1) / 2

    centre = float(np.mean([mid(t, True) for t in across]))
    best: dict[int, _Seg] = {}
    for t in sides:
        if t.parent not in best or abs(mid(t, False) - centre) > abs(
            mid(best[t.parent], False) - centre
        ):
            best[t.parent] = t
    return [t for t in sides if best[t.parent] is t]


def _outer_edges(
    mask: np.ndarray, binary: np.ndarray, sides: list[_Seg], across: list[_Seg]
) -> None:
    """Paint the outer edge of each of a frame's ``sides`` onto ``mask``: the row (column)
    just outside the side's core, away from the middle of the sides ``across``, where ink
    runs along ``EDGE_RUN`` of the side and the next row out is nearly clear.

    A side's core is its rows whose run is 0.9 of the longest. A stroke that carries the
    side on past a corner lengthens the longest, and the side's own anti-aliased edge falls
    out of the core. Left behind, that 1 px line joined the digit and was read as a "1"
    beside it. A stroke written along the side is thicker than 1 px, so it keeps its ink."""
    if not sides:
        return
    horizontal = sides[0].horizontal  # (a frame's sides of one direction)
    m, b = (mask, binary) if horizontal else (mask.T, binary.T)  # vertical: transposed
    centre = float(np.mean([(t.y0 + t.y1 if horizontal else t.x0 + t.x1) / 2 for t in across]))
    for s in sides:
        a0, a1, c0, c1 = (s.x0, s.x1, s.y0, s.y1) if horizontal else (s.y0, s.y1, s.x0, s.x1)
        _edge(m, b, a0, a1, c0, c1, 1 if (c0 + c1) / 2 > centre else -1)


def _tooth_edges(mask: np.ndarray, binary: np.ndarray, teeth: list[_Seg]) -> None:
    """Paint both outer edges of each comb tooth onto ``mask`` (``_edge``), a tooth longer
    than its comb's others first widened to their width (``_widened``): a tooth on a page
    turned level is spread over a column more than it is thick, at half strength, and its
    fainter outer columns fell out of its core. Left behind, each was read as a "1"."""
    m, b = mask.T, binary.T
    width = int(np.median([s.thick for s in teeth]))
    length = float(np.median([s.length for s in teeth]))
    for s in teeth:
        c0, c1 = _widened(m, b, s, width) if s.length > length else (s.x0, s.x1)
        for out in (-1, 1):
            _edge(m, b, s.y0, s.y1, c0, c1, out)


def _missing_teeth(
    mask: np.ndarray, binary: np.ndarray, teeth: list[_Seg], line: _Seg, step: float
) -> None:
    """Paint onto ``mask`` the teeth that no candidate found on the comb's grid (``step``, as
    ``_comb_grid`` found it, fitted to the teeth) between its first tooth and its last, and
    beyond them as far as its ``line`` runs: the columns there whose ink runs along
    ``EDGE_RUN`` of the teeth's rows, as wide as a tooth. A digit's stroke that touches a
    tooth makes one component with it that is no straight run, and the tooth was left as a
    "1" (at the comb's ends too; and where teeth were missing, the median gap between those
    found, once taken for the step, was longer than the comb's)."""
    xs = np.array(sorted((t.x0 + t.x1) / 2.0 for t in teeth))
    slots = np.round((xs - xs[0]) / step)
    if slots[-1] > 0:
        step = float(np.polyfit(slots, xs, 1)[0])
    width = int(np.median([t.thick for t in teeth]))
    y0 = int(np.median([t.y0 for t in teeth]))
    y1 = int(np.median([t.y1 for t in teeth]))
    ink = np.count_nonzero(binary[y0:y1], axis=0)
    first = -int((xs[0] - line.x0 + step / 4) // step)  # grid slots along the whole line
    last = int((line.x1 - xs[0] + step / 4) // step)
    for at in (xs[0] + k * step for k in range(first, last + 1)):
        if np.min(np.abs(xs - at)) < step / 3:
            continue  # found
        lo, hi = max(0, round(at - step / 4)), min(binary.shape[1], round(at + step / 4) + 1)
        cols = lo + np.flatnonzero(ink[lo:hi] >= EDGE_RUN * (y1 - y0))
        if not len(cols):
            continue
        groups = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1)  # side by side
        tooth = min(groups, key=lambda g: abs(g.mean() - at))
        if len(tooth) <= width + 2:
            for c in tooth:
                mask[y0:y1, c][binary[y0:y1, c] > 0] = 255


def _widened(m: np.ndarray, b: np.ndarray, s: _Seg, width: int) -> tuple[int, int]:
    """The columns of tooth ``s`` (transposed: rows of ``m`` and ``b``), grown to the comb's
    tooth ``width`` by the neighbouring columns whose ink runs along ``EDGE_RUN`` of it,
    painted onto ``m``. A digit's stroke that runs on up from a tooth makes its longest
    column longer than the rest (and than the comb's other teeth), and the tooth's core kept
    that column alone."""
    c0, c1 = s.x0, s.x1
    while c1 - c0 < width:
        runs = {c: np.count_nonzero(b[c, s.y0 : s.y1]) for c in (c0 - 1, c1) if 0 <= c < len(b)}
        best = max(runs, key=lambda c: runs[c]) if runs else None
        if best is None or runs[best] < EDGE_RUN * (s.y1 - s.y0):
            break
        m[best, s.y0 : s.y1][b[best, s.y0 : s.y1] > 0] = 255
        c0, c1 = min(c0, best), max(c1, best + 1)
    return c0, c1


def _edge(m: np.ndarray, b: np.ndarray, a0: int, a1: int, c0: int, c1: int, out: int) -> None:
    """Paint onto ``m`` the row of ``b`` just outside a line's core (rows ``c0``..``c1``,
    along ``a0``..``a1``) on the side ``out`` (+1 below, -1 above) where ink runs along
    ``EDGE_RUN`` of it and the next row out holds under ``EDGE_BEYOND`` as much."""
    edge = c1 if out > 0 else c0 - 1
    if edge < 0 or not 0 <= edge + out < b.shape[0]:
        return
    run = b[edge, a0:a1] > 0
    beyond = np.count_nonzero(b[edge + out, a0:a1])
    if run.mean() >= EDGE_RUN and beyond < EDGE_BEYOND * (a1 - a0):
        m[edge, a0:a1][run] = 255


def _regular(teeth: list[_Seg]) -> tuple[list[_Seg], float]:
    """The teeth of a comb -- about the same length and on one grid of equal steps (a written
    1 standing on the line is neither) -- and the grid's step."""
    lens = np.array([v.length for v in teeth], np.float64)
    med = float(np.median(lens))
    teeth = [
        v for v, n in zip(teeth, lens, strict=True) if TEETH_RATIO * med <= n <= med / TEETH_RATIO
    ]
    if len(teeth) < MIN_TEETH:
        return [], 0.0
    teeth.sort(key=lambda v: v.x0)
    on, step = _comb_grid(np.array([(v.x0 + v.x1) / 2.0 for v in teeth]), COMB_STEP * med)
    return [v for v, k in zip(teeth, on, strict=True) if k], step


def _comb_grid(xs: np.ndarray, least: float = 0.0) -> tuple[np.ndarray, float]:
    """Which of the sorted tooth centres ``xs`` stand on the comb's grid, and its step: of
    the grids whose step is a gap between two neighbouring centres and which pass through
    one of them, the one whose slots from its first tooth to its last are best filled
    (slots with a tooth less ``EMPTY_SLOT`` for each slot left empty, where a digit hid its
    tooth; the longer step on a tie). A tooth is on it within ``GRID_SLACK`` of a step, and
    the step is over ``least`` (no teeth and a step of 0 without one): three candidates a
    pixel or two apart (a tooth's edges, a stroke beside it) filled every slot of a grid that
    small, and the missing teeth were looked for along the whole line on it.

    Strokes that stand like teeth (a "1" written close to a tooth, a "7"'s stem) split the
    gaps: the median gap, the step once taken, was shorter than the comb's, such strokes
    stood a whole number of those steps from one another, and they were taken out as teeth.
    Half the step fits every tooth too, but leaves every other slot empty; twice the step
    leaves none empty, but fits half the teeth."""
    best, on = (0.0, 0.0), np.zeros(len(xs), bool)
    for step in np.unique(np.diff(xs)):
        if step <= max(0.0, least):
            continue
        d = (xs[None, :] - xs[:, None]) / step  # a row for each tooth the grid passes through
        k = np.round(d)
        fit = np.abs(d - k) < GRID_SLACK
        # the fitted slots, sorted, then placeholders past them that never repeat
        slot = np.sort(np.where(fit, k, 1e9 + np.arange(len(xs))), axis=1)
        n_fit = fit.sum(1)
        filled = n_fit - (np.diff(slot, axis=1) == 0).sum(1)
        span = slot[np.arange(len(xs)), n_fit - 1] - slot[:, 0] + 1
        score = filled - EMPTY_SLOT * (span - filled)
        r = int(np.argmax(score))
        if (float(score[r]), float(step)) > best:
            best, on = (float(score[r]), float(step)), fit[r]
    return on, best[1]


def _cornered(s: _Seg, others: list[_Seg], slack: int = 0) -> bool:
    """Both ends of ``s`` meet one of ``others`` (the other direction) at a corner of a box:
    each side reaches the other's line and stops there, give or take its thickness
    (``tol``). Either may run past the corner by up to ``slack`` px -- a stroke crossing a
    side near a corner lengthens its straight run -- but neither may stop short of it by
    more: the rounded corners of a written "0" or "4" do not make a box."""
    return all(any(_corner(s, end, o, slack) for o in others) for end in (0, 1))


def _corner(s: _Seg, end: int, o: _Seg, slack: int) -> bool:
    """End ``end`` (0: left / top, 1: right / bottom) of ``s`` meets one end of ``o``."""
    t = tol(s) + tol(o)
    slack = max(slack, t)
    if s.horizontal:  # s's end is an x, o's ends are ys
        at, lo, hi, o_ends, span = (s.x0, s.x1)[end], o.x0, o.x1, (o.y0, o.y1), (s.y0, s.y1)
    else:
        at, lo, hi, o_ends, span = (s.y0, s.y1)[end], o.y0, o.y1, (o.x0, o.x1), (s.x0, s.x1)
    # s reaches o's line: past it by up to slack, short of it by up to t
    reach = (lo - slack <= at <= hi + t) if end == 0 else (lo - t <= at <= hi + slack)
    # ... at one end of o, which may run past s by up to slack, but not stop short of it
    first = span[0] - slack <= o_ends[0] <= span[1] + t
    last = span[0] - t <= o_ends[1] <= span[1] + slack
    return reach and (first or last)


def _paint(mask: np.ndarray, lab: np.ndarray | None, segs: list[_Seg]) -> int:
    if not segs or lab is None:  # (no label image: no candidates either)
        return 0
    mask[np.isin(lab, np.array([s.label for s in segs], np.int32))] = 255
    return max(s.thick for s in segs)


def tol(s: _Seg) -> int:
    return max(2, s.thick)


def _pooled(binary: np.ndarray, f: int) -> np.ndarray:
    """``binary`` (0/255) reduced f times: a pixel is ink if any pixel of its f x f block is.

    When f divides both sides, the blocks' maxima are taken (``_block_max``): on a 0/255
    image that is the area average's "> 0" exactly, for a quarter of the instructions."""
    H, W = binary.shape
    if H % f == 0 and W % f == 0:
        return _block_max(binary, f)
    small = cv2.resize(binary, (W // f, H // f), interpolation=cv2.INTER_AREA)
    return cv2.compare(small, 0, cv2.CMP_GT)


def _block_max(img: np.ndarray, f: int) -> np.ndarray:
    """The maximum of each f x f block of ``img`` (f divides both sides): the rows of a block
    first, then, transposed, its columns (OpenCV's max on whole rows, not numpy's per pixel)."""
    return cv2.transpose(_rows_max(cv2.transpose(_rows_max(img, f)), f))


def _rows_max(img: np.ndarray, f: int) -> np.ndarray:
    """The maximum of each run of f rows of ``img`` (f divides its height)."""
    H, W = img.shape
    runs = img.reshape(H // f, f, W)
    out = runs[:, 0].copy()
    for i in range(1, f):
        cv2.max(out, runs[:, i], dst=out)
    return out


def edge_frame(binary: np.ndarray) -> np.ndarray | None:
    """0/255 mask of a frame printed along ``binary``'s edges (white ink), or None.

    A form field cut out along its printed box has the box's sides along the image's edges.
    Cut from a skewed scan, each side runs slantwise into the edge: a wedge, then nothing,
    no straight run the line search can find, and the wedges were read as "1"s. Going in
    from an edge, such a side is the first ink, close to the edge and thin, nearly all along
    it, running into one of its ends and touching it (``EDGE_LINE_*``); on two edges or
    more it is a frame (a shaded field's box inside the image runs along two edges a little
    way in, and its other two sides were left as "1"s). A side up to ``EDGE_LINE_THICK``
    thick, or straight only without a digit's stroke (``edge_line``'s ``refit``), needs a
    frame along three edges. Its pixels are taken up to its fitted inner edge and a pixel
    more: a stroke that touches the side from inside keeps its ink. A row of boxes' dividers
    go with it (``_dividers``); with no frame found, dividers from edge to edge may still
    be (``_cut_dividers``)."""
    H, W = binary.shape
    if min(H, W) < MIN_SIDE:
        return None
    thin = max(EDGE_LINE_PX, round(EDGE_LINE_THIN * min(H, W)))
    thick = max(thin, round(EDGE_LINE_THICK * min(H, W)))
    if sum(_inked_along(binary, edge) for edge in range(4)) < EDGE_LINE_SIDES:
        return _cut_dividers(binary, thick)  # (most images: paper along their edges)
    mask = np.zeros_like(binary)
    views = [(binary, mask), (binary[::-1], mask[::-1]), (binary.T, mask.T)]
    views.append((binary.T[::-1], mask.T[::-1]))  # rows from each edge inwards
    inner: dict[int, int] = {}  # each side found: how far in from its edge it ends
    centre: dict[int, float] = {}  # ... and where its middle runs, mostly
    across: dict[int, tuple[float, float]] = {}  # ... the slope across it, its thickness
    doubtful = 0  # sides found only thicker, or fitted again without a digit's stroke
    for side, (b, m) in enumerate(views):
        gap = 2 + round(EDGE_LINE_GAP * b.shape[1])
        band = b[: gap + thick + 1] > 0
        found = edge_line(band[: gap + thin + 1], thin)
        if found is None:
            found = edge_line(band, thick, refit=True)
            doubtful += found is not None
        if found is None:
            continue
        near, start, run, edge, depth = found
        end = max(1, len(near) // 10)
        if max(near[:end].mean(), near[-end:].mean()) < EDGE_LINE_END:
            continue  # a line along the middle of the edge: a box inside the image
        if start[near].min() > EDGE_LINE_TOUCH:
            continue  # a little way in all along: a box inside the image, too
        rows = np.arange(len(band))[:, None]
        stop = np.minimum(start + run, np.ceil(edge).astype(np.intp) + 1)
        m[: len(band)][near & (rows >= start) & (rows < stop)] = 255
        inner[side] = int(np.max(stop[near]))
        centre[side] = float(np.median((start + stop)[near] / 2))
        slope = (edge[-1] - edge[0]) / max(1, len(edge) - 1)
        across[side] = (slope if side % 2 else -slope, depth - 1)
    if len(inner) < (EDGE_LINE_SIDES if not doubtful else EDGE_LINE_DOUBTFUL_SIDES):
        return _cut_dividers(binary, thick)
    # a row of boxes: its dividers run from its top side to its bottom side, or to the
    # image's edge where the crop cut that side off (a column of boxes: the same across)
    for b, m, (a, z), (c, e) in (
        (binary, mask, (0, 1), (2, 3)),
        (binary.T, mask.T, (2, 3), (0, 1)),
    ):
        if a in inner or z in inner:
            frame = across.get(a, across.get(z))
        elif c in inner and e in inner:  # (cut off both ways: the dividers run as its sides)
            slope, width = across[c]
            frame = (-slope, width)
            _slivers(b > 0, m, thick)
        else:
            continue
        ends = (centre.get(c), None if e not in centre else len(b[0]) - centre[e])
        _dividers(b, m, inner.get(a, 0), len(b) - inner.get(z, 0), thick, ends, frame)
    return mask


def _cut_dividers(binary: np.ndarray, thick: int) -> np.ndarray | None:
    """0/255 mask of a row of boxes' dividers where the crop cut its frame off, or None: at
    least ``CUT_DIVIDERS`` upright runs (``_upright_runs``) from the image's top edge to its
    bottom one, as slanted as each other (a skewed scan's), on a grid of equal boxes. (A
    column of boxes: the same across.) A crop inside a skewed row's frame leaves dividers
    no longer than the digits are tall, too short for the line search, joined by what is
    left of the frame along the edges, and they were read as "1"s."""
    for b in (binary, binary.T):
        if b.shape[1] < CUT_ROW * b.shape[0] or not (b[0].any() and b[-1].any()):
            continue  # (no row of boxes, or paper along an edge)
        ink = b > 0
        h = len(b)
        reach = int(EDGE_LINE_GAP * h)
        best: list[tuple[float, _Run]] = []
        for tilt in range(-reach, reach + 1):
            runs = _upright_runs(ink, tilt / max(1, h - 1), thick - 1)
            if len(runs) > len(best):
                best = runs
        grid = _box_grid([at for at, _ in best], h)
        best = [r for r in best if grid is not None and _on_grid(r[0], grid)]
        if len(best) >= CUT_DIVIDERS:
            mask = np.zeros_like(b)
            for _, run in best:
                _paint_run(ink, mask, run)
            _slivers(ink, mask, thick)
            return mask if b is binary else np.ascontiguousarray(mask.T)
    return None


def _slivers(ink: np.ndarray, mask: np.ndarray, thick: int) -> None:
    """Paint onto ``mask`` what a crop left of a row's top and bottom sides along the image's
    top and bottom edges (``ink``: bool): ink that starts on the edge and ends within half
    of ``thick`` from it. Joined to the row's dividers or sides, it was read as a digit."""
    rows = np.arange(thick + 1)[:, None]
    for band, m in ((ink, mask), (ink[::-1], mask[::-1])):
        start, run = first_runs(band[: thick + 1])
        m[: thick + 1][(start == 0) & (run <= thick // 2) & (rows < run)] = 255


def _dividers(
    binary: np.ndarray,
    mask: np.ndarray,
    top: int,
    bottom: int,
    thick: int,
    ends: tuple[float | None, float | None] = (None, None),
    frame: tuple[float, float] | None = None,
) -> None:
    """Paint onto ``mask`` the dividers of a row of boxes cut out along its frame: pieces of
    ink that meet both rows ``top`` and ``bottom`` (its top and bottom sides, which ``mask``
    holds, or the image's edge where the crop cut a side off), at most ``thick``,
    slanted as far as a skewed scan turns them (``EDGE_LINE_GAP``), and straight, on the
    row's grid of boxes (``_box_grid``; ``ends``: the columns of its left and right sides,
    where found); and the dividers a digit touches, inside the pieces they make with it
    (``_upright_runs``: as slanted and thick as the others, or with none, as ``frame``, the
    frame's (slope, thickness), says).

    Cut from a skewed scan, the row's top and bottom sides are wedges along the edges, no
    straight runs, and the dividers met no frame's corners: each was read as a "1". A digit
    written in a box stands clear of its sides."""
    inside = cv2.bitwise_and(binary[top:bottom], cv2.bitwise_not(mask[top:bottom]))
    n, lab, st, _ = cv2.connectedComponentsWithStats(inside, connectivity=8)
    height = bottom - top
    sides = [e for e in ends if e is not None]
    merged, found = [], []  # pieces that may hold a divider; (slope, width, column, piece)
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in st[i])
        if y > 1 or y + h < height - 1:
            continue  # a divider meets both sides (a "1" written in a box stands clear)
        if w > thick + EDGE_LINE_GAP * h or area > thick * h:
            merged.append(i)
            continue
        ys, xs = np.nonzero(lab[y : y + h, x : x + w] == i)
        centre = np.bincount(ys, xs, minlength=h) / np.maximum(np.bincount(ys, minlength=h), 1)
        at = np.arange(h, dtype=np.float64)
        slope, icpt = np.polyfit(at, centre, 1)
        if np.median(np.abs(centre - (slope * at + icpt))) <= EDGE_LINE_WOBBLE:
            found.append((slope, area / h, x + icpt + slope * (h - 1) / 2, i))
    grid = _box_grid([f[2] for f in found], height, sides)
    if grid is not None:  # a "1" that meets both sides stands in a box's middle
        found = [f for f in found if _on_grid(f[2], grid)]
    elif len(sides) == 2:
        found = []  # (no grid of boxes fits between the sides: one box, a "1" in it)
    for slope, width, col, i in found:
        x, y, w, h, _ = (int(v) for v in st[i])
        mask[top + y : top + y + h, x : x + w][lab[y : y + h, x : x + w] == i] = 255
        _ends(binary, mask, (top + y + (h - 1) / 2, col), slope, width / 2, (top, bottom))
    # a divider that a digit (or a side's cut-off sliver) touches: as slanted and as thick
    # as the row's other dividers (or its frame's sides), where the row's boxes put one
    if found:
        slope, width = (float(v) for v in np.median(np.array([f[:2] for f in found]), 0))
    elif frame is not None:
        slope, width = frame
    if not merged or not (found or frame):
        return
    runs = []
    for i in merged:
        x, y, w, h, _ = (int(v) for v in st[i])
        comp = lab[y : y + h, x : x + w] == i
        runs += [(x + at, run, comp, (y, x)) for at, run in _upright_runs(comp, slope, width)]
    grid = _box_grid([f[2] for f in found] + [r[0] for r in runs], height, sides)
    runs = [r for r in runs if grid is not None and _on_grid(r[0], grid)]
    if not found and len(runs) < 2:
        return  # (only the sides known: two runs or more must make a regular row with them)
    for col, run, comp, (y, x) in runs:
        _paint_run(comp, mask[top + y : top + y + len(comp), x : x + comp.shape[1]], run)
        point = (top + y + (len(comp) - 1) / 2, col)
        _ends(binary, mask, point, slope, (run[1] - run[0]) / 2, (top, bottom))


def _box_grid(
    at: list[float], height: int, sides: list[float] | None = None
) -> tuple[float, float] | None:
    """Where a row of boxes (``height`` tall) puts its dividers, from the columns ``at`` of
    its dividers found (a "1" may be among them) and of its ``sides`` (three or more in
    all): (a column on the grid, the boxes' width), or None.

    Each gap between them, or a half or a third of it (a divider may be missing), and each
    whole share of their span, over ``DIVIDER_PITCH`` of the height, is tried as the
    width, from each of them (from a side,
    when one is known: a side is always on the grid). A grid scores one for each of its
    places one of them is on, less a half for each of the others and one for each place
    between them where none was found; of two that score the same, the wider boxes win. A
    grid must have two more of them on it than off it."""
    sides = sides or []
    at = sorted(at + sides)
    if len(at) < 3:
        return None
    best, grid = -np.inf, None
    gaps = {(b - a) / k for a, b in zip(at, at[1:], strict=False) for k in (1, 2, 3)}
    gaps |= {(at[-1] - at[0]) / k for k in range(1, 2 * len(at))}
    for pitch in (g for g in gaps if g > DIVIDER_PITCH * height):
        for anchor in sides[:1] or at:
            if not all(_on_grid(a, (anchor, pitch)) for a in sides):
                continue
            fit = len({round((a - anchor) / pitch) for a in at if _on_grid(a, (anchor, pitch))})
            if fit < 2 + len(at) - fit:
                continue  # (most of them off it: squared paper's lines, not a row of boxes)
            places = round((at[-1] - at[0]) / pitch) + 1
            score = fit - 0.5 * (len(at) - fit) - max(0, places - fit)
            if score > best or (score == best and grid is not None and pitch > grid[1]):
                best, grid = score, (anchor, pitch)
    return grid


def _on_grid(at: float, grid: tuple[float, float]) -> bool:
    """Whether column ``at`` lies on ``grid`` (``_box_grid``), give or take ``DIVIDER_AT`` of a
    box and a pixel."""
    anchor, pitch = grid
    off = (at - anchor) / pitch
    return abs(off - round(off)) * pitch <= DIVIDER_AT * pitch + 1


def _ends(
    binary: np.ndarray,
    mask: np.ndarray,
    point: tuple[float, float],
    slope: float,
    half: float,
    rows: tuple[int, int],
) -> None:
    """Paint onto ``mask`` a divider's ends beyond ``rows`` (where its row's top and bottom
    sides begin), out to where its ink stops: the divider runs through ``point`` (row,
    column), ``slope`` px per row, ``half`` its width and a pixel more either side. The
    sides are taken only up to their own inner edge, and the divider's stubs between were
    left standing, joined to a digit that touched them."""
    H, W = binary.shape
    for way in (range(rows[0] - 1, -1, -1), range(rows[1], H)):
        for r in way:
            c = point[1] + slope * (r - point[0])
            a, b = max(0, round(c - half) - 1), min(W, round(c + half) + 2)
            ink = binary[r, a:b] > 0
            if not ink.any():
                break
            mask[r, a:b][ink] = 255


def _upright_runs(comp: np.ndarray, slope: float, width: float) -> list[tuple[float, _Run]]:
    """The dividers inside ``comp`` (bool, a piece of ink that meets a row of boxes' top and
    bottom sides): columns as slanted as the row's other dividers (``slope``, px per row),
    with ink in ``DIVIDER_FULL`` of the piece's rows, together at most a pixel wider than
    the others (``width``). Each as its centre's column at the middle row, and its columns
    when the piece is sheared upright (the first, the one past the last, each row's shift).

    A digit that touches a divider makes one piece with it, and the divider was read as a
    "1" beside the digit."""
    h, w = comp.shape
    shift = np.rint(((h - 1) / 2 - np.arange(h)) * slope).astype(np.intp)  # (upright)
    shift -= shift.min()
    sheared = np.zeros((h, w + int(shift.max())), bool)
    sheared[np.arange(h)[:, None], np.arange(w) + shift[:, None]] = comp
    full = sheared.sum(0) >= DIVIDER_FULL * h
    edges = np.flatnonzero(np.diff(np.concatenate(([0], full.view(np.int8), [0]))))
    mid = shift[(h - 1) // 2]
    return [
        ((a + b - 1) / 2 - mid, (a, b, shift))
        for a, b in zip(edges[::2], edges[1::2], strict=True)
        if b - a <= width + 1  # (wider: a digit's stroke along the divider)
    ]


def _paint_run(comp: np.ndarray, out: np.ndarray, run: _Run) -> None:
    """Paint onto ``out`` the pixels of ``comp`` in a divider's columns (``_upright_runs``)
    and a pixel either side (its edges, grey on paper, fall either way)."""
    first, stop, shift = run
    for r in range(len(comp)):
        a, b = max(0, first - 1 - shift[r]), max(0, stop + 1 - shift[r])
        out[r, a:b][comp[r, a:b]] = 255


def _inked_along(binary: np.ndarray, edge: int) -> bool:
    """Whether ink lies close to ``edge`` (0-3: top, bottom, left, right) of ``binary`` in
    ``EDGE_LINE_ALONG`` of its middle, as a line along it would: a quick answer, most
    often from the strip's count of ink alone."""
    H, W = binary.shape
    n = W if edge < 2 else H
    g = 3 + round(EDGE_LINE_GAP * n)
    strip = (binary[:g], binary[H - g :], binary[:, :g], binary[:, W - g :])[edge]
    need = EDGE_LINE_ALONG * (n - 2 * (n // 10))
    if cv2.countNonZero(strip) < need:
        return False
    inked = strip.max(0 if edge < 2 else 1)
    return np.count_nonzero(inked[n // 10 : n - n // 10]) >= need


#: a divider's columns in a piece sheared upright: the first, the one past the last, and each
#: row's shift (``_upright_runs``)
_Run = tuple[int, int, np.ndarray]


class EdgeLine(NamedTuple):
    """A printed line along an image's edge (``edge_line``), per column of the edge: whether
    the line is there, where its first ink starts and how far that run lasts (going in from
    the edge), and where its inner side runs (fitted); and the line's thickness and a pixel
    more."""

    near: np.ndarray
    start: np.ndarray
    run: np.ndarray
    inner: np.ndarray
    depth: int


def edge_line(
    band: np.ndarray, thin: int, along: float = EDGE_LINE_ALONG, refit: bool = False
) -> EdgeLine | None:
    """A printed line along an edge of an image, in ``band`` (bool, its rows going in from
    the edge; ink True), or None.

    The line is the first ink, close to the edge and at most ``thin`` thick, in ``along``
    of the edge's middle, and its inner edge is straight (``EDGE_LINE_WOBBLE``): the edge
    may cut a slanted line's outer side away, never its inner one. A thin pen's "0" cropped
    tight runs close along each edge too, but curved. With ``refit`` the straight line is
    fitted twice, the second time without the half of the columns farthest from the first:
    where a digit runs close to the edge, its stroke is no part of the line."""
    n = band.shape[1]
    start, run = first_runs(band)
    near = (run > 0) & (start <= 2 + round(EDGE_LINE_GAP * n))
    line = near & (run <= thin)
    if line[n // 10 : n - n // 10].mean() < along:
        return None
    at = np.flatnonzero(line)
    inner = (start + run)[at].astype(np.float64)
    fit = np.polyfit(at, inner, 1)
    if refit:
        off = np.abs(inner - np.polyval(fit, at))
        fit = np.polyfit(at[off <= np.median(off)], inner[off <= np.median(off)], 1)
    if np.median(np.abs(inner - np.polyval(fit, at))) > EDGE_LINE_WOBBLE:
        return None
    edge = np.polyval(fit, np.arange(n))
    near &= (start <= edge + 0.5) & (start + run >= edge - 1.5)  # (not a stroke's column)
    return EdgeLine(near, start, run, edge, int(np.median(run[line])) + 1)


def first_runs(band: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each column of ``band`` (bool, its rows going in from an edge of an image): the
    row its first True starts at, and how many rows that run lasts (0: it has none)."""
    start = np.argmax(band, 0)
    past = band | (np.arange(len(band))[:, None] < start)
    end = np.argmax(~past, 0)  # the first False past the start
    end[past.all(0)] = len(band)
    return start, end - start


def _no_lines(binary: np.ndarray) -> np.ndarray:
    """The mask of no lines removed: ``np.zeros_like(binary)``, but allocated zeroed rather
    than filled byte by byte (which costs 0.17 M instructions on a 400 x 400 canvas)."""
    return np.zeros(binary.shape, binary.dtype)


def flooded(detect: np.ndarray, binary: np.ndarray) -> bool:
    """``detect`` (the low threshold's binary) holds ``FLOODED`` times the ink of ``binary``
    or more: a tinted field or background passed the low threshold, not only faint lines."""
    return cv2.countNonZero(detect) >= FLOODED * cv2.countNonZero(binary)


def _line_mask(detect: np.ndarray, stats: np.ndarray | None) -> tuple[np.ndarray, int]:
    """``find_lines`` on ``detect`` at the size lines are looked for at (``DETECT_SIDE``,
    after a first look at ``GATE_SIDE``), mapped back to ``detect``'s pixels."""
    H, W = detect.shape
    g = min(H, W) // GATE_SIDE
    # a quick look at a smaller size first: most images (drawings) have no lines at all. A
    # dotted line's dots run together or vanish at that size: with enough of them, look anyway
    if (
        g > max(1, min(H, W) // DETECT_SIDE)
        and not _dotted(stats)
        and not find_lines(_pooled(detect, g))[1]
    ):
        return _no_lines(detect), 0
    f = max(1, min(H, W) // DETECT_SIDE)
    if f > 1:
        # look for lines at a reduced size (any ink in a f x f block counts), then map back
        small_mask, thick = find_lines(_pooled(detect, f))
        if not thick:
            return _no_lines(detect), 0
        mask = cv2.resize(small_mask, (W // f * f, H // f * f), interpolation=cv2.INTER_NEAREST)
        mask = cv2.copyMakeBorder(
            mask, 0, H - mask.shape[0], 0, W - mask.shape[1], cv2.BORDER_REPLICATE
        )
        mask = cv2.bitwise_and(mask, detect)
        return mask, thick * f
    return find_lines(detect)


def remove_lines(
    ink: np.ndarray,
    binary: np.ndarray,
    detect: np.ndarray | None = None,
    stats: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Take form lines out of ``ink`` (white on black) and its ``binary``.

    ``detect`` is the binary lines are looked for in (a lower threshold finds faint printed
    lines); defaults to ``binary``. ``stats`` are ``binary``'s component stats, when the
    caller has them. Returns (ink, binary, mask of the removed pixels)."""
    detect = binary if detect is None else detect
    H, W = detect.shape
    if max(H, W) < MIN_SIDE:
        return ink, binary, _no_lines(binary)
    mask, thick = _line_mask(detect, stats)
    if not thick and detect is not binary and flooded(detect, binary):
        # a tinted form field passes the low threshold whole: its border is one edge of a
        # filled block there, no line; in ``binary`` it is a line again
        mask, thick = _line_mask(binary, stats)
    if not thick:
        return ink, binary, mask
    rest = cv2.bitwise_and(binary, cv2.bitwise_not(mask))
    # the line's thickness bounds the gap a crossing stroke has to bridge
    span = min(thick, 12) + 4
    bridge_v = cv2.morphologyEx(rest, cv2.MORPH_CLOSE, np.ones((span, 1), np.uint8))
    bridge_h = cv2.morphologyEx(rest, cv2.MORPH_CLOSE, np.ones((1, span), np.uint8))
    restore = cv2.bitwise_and(mask, cv2.bitwise_or(bridge_v, bridge_h))
    removed = cv2.bitwise_and(mask, cv2.bitwise_not(restore))
    new_binary = cv2.bitwise_or(rest, restore)
    # drop the anti-aliased fringe of the removed line too, but not the repaired strokes
    near_ink = cv2.dilate(cv2.bitwise_or(rest, restore), np.ones((3, 3), np.uint8))
    fringe = cv2.bitwise_and(
        cv2.dilate(removed, np.ones((3, 3), np.uint8)), cv2.bitwise_not(near_ink)
    )
    fringe = cv2.bitwise_or(fringe, removed)
    new_ink = ink.copy()
    new_ink[fringe > 0] = 0
    new_binary[fringe > 0] = 0
    return new_ink, new_binary, removed
