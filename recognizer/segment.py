"""Split a white-ink-on-black image into digits, left to right."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from .imageio import Box
from .lines import edge_frame, flooded, remove_lines
from .skew import Turn, level, skew

#: segmentation works on images whose longer side is at most this (boxes are scaled back)
WORK_MAX_SIDE = 1024
#: an image whose strongest ink is below this (0..255 above background) holds no digits
MIN_CONTRAST = 40
#: an image of at most this many pixels (an MNIST digit) is labelled whole (``_components``)
SMALL_IMAGE = 4096
#: no rule of ``_merge`` joins two pieces farther apart than this share of the line's height
#: across (the diagonal rule) or down (the stacking rule, ``_stacked``)
MERGE_REACH_X = 0.3
MERGE_REACH_Y = 0.45
#: ... (``_Merger`` tests fewer groups than this one by one: NumPy's overhead costs more)
_FEW_GROUPS = 24
_NO_ARRAY = np.empty(0)
#: a piece at least this many times taller than wide, in one stroke, is a "1" (``_Merger``):
#: as thin as its pen, it is no narrower a digit than a wide one -- if at least
#: ``ONE_WIDTH`` of the line's height wide (a hairline beside a digit is a stray mark)
ONE_STRAIGHT = 3.0
ONE_WIDTH = 0.06
#: a small piece apart from a bigger neighbour is a whole digit of its own (``_Merger``) if
#: at least this share of the line's height tall: people write one digit of a string half the
#: size of the next (0.55 joined a fifth of digits 0.5-0.55 x their neighbour's height to it;
#: the pieces of a broken digit stand closer than the rule's gap of 0.1)
SMALL_DIGIT_HEIGHT = 0.5
#: rows of digits: extents of digits closer than this share of a digit's height are one line
#: (rows stand half a digit or more apart; a skipping pen's pieces of one digit much closer)
LINE_GAP = 0.25
#: ... and rows this far apart are rows even with one digit each (a column of answers)
ROW_APART = 0.5
#: two marks side by side make a row of digits only if each is at least this share of the
#: tallest piece: the small pieces of a skipping pen's bar stand side by side too
ROW_DIGIT_HEIGHT = 0.5
#: a dash (``_dashes``) stands at least this share of a digit's height clear of a neighbour
DASH_GAP = 0.1
#: a component drawn round another (``_enclosures``) holds one at least this share of its height
ENCLOSED = 0.4
#: ... and stays this share of its own height clear of it
ENCLOSED_GAP = 0.03
#: a halftone screen (``_screened``): the faint ink this many times the ink, and in it this
#: many dots (or holes in a mesh of them) of at most ``SCREEN_DOT`` px
SCREEN_FAINT = 1.4
SCREEN_DOTS = 150
SCREEN_DOT = 12
#: ... set on a grid: the spread of their nearest-neighbour distances under this share of its
#: mean (a screen: <= 0.15; a noisy scan's specks: >= 0.29), judged on a sample of this many
SCREEN_EVEN = 0.2
_GRID_SAMPLE = 200
#: ... over an area at least this many of their spacings across and down
SCREEN_SPAN = 5
#: grainy ink (``_grainy``): pinholes of at most ``GRAIN_HOLE`` px, at least ``GRAIN_MIN`` of
#: them and ``GRAIN_HOLES`` per ink pixel (a pencil's grain: 0.05-0.15; written ink: < 0.005),
#: closed with ``_GRAIN``
GRAIN_HOLE = 4
GRAIN_MIN = 5
GRAIN_HOLES = 0.02
_GRAIN = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
#: ``_descreened``: the blur (sigma, px) that evens a screen out, and a kernel wider than any
#: stroke (working pixels)
SCREEN_BLUR = 1.0
_WIDER_THAN_STROKES = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (31, 31))
#: a decimal point (``_point``) is a round mark under this share of the line's height ...
POINT_SIZE = 0.2
#: ... standing this share of it clear of the digit before it
POINT_GAP = 0.08
#: a comma (``_point``) is a mark under this share of the line's height
COMMA_SIZE = 0.45
#: a mark whose darkest ink is under this share of the darkest digit's (``_without_faint``)
#: shows through from the back of the page
FAINT_MARK = 0.55
#: a segment of this many pieces or more, none of them this share of its ink, is a cloud of
#: specks (``_speck_cloud``)
CLOUD_SPECKS = 20
CLOUD_LARGEST = 0.1
#: a mark under this share of the tallest digit is smaller than any digit written beside it
STRAY_HEIGHT = 0.4
#: a mark under this share of its line's tallest digit (``_aside``) ...
ASIDE_HEIGHT = 0.55
#: ... that stands this many of those digit heights clear of every digit is no digit
ASIDE_GAP = 1.0
#: a printed word (``_label_words``), ascenders to descenders, is under this share of the
#: tallest digit (each of its marks under ``ASIDE_HEIGHT``) ...
WORD_HEIGHT = 0.7
#: ... its letters stand under this share of its height apart ...
WORD_GAP = 0.6
#: ... and the word this share of the tallest digit's height clear of the digits
WORD_CLEAR = 0.15
#: a caption over (or under) the digits (``_without_caption``) stands this share of their
#: height clear of them
CAPTION_GAP = 0.2


@dataclass
class Segment:
    box: tuple[int, int, int, int]  # x, y, w, h in working-image pixels
    labels: tuple[int, ...]  # connected-component labels that make up this digit
    area: int


@dataclass
class Segmentation:
    ink: np.ndarray  # working image, white ink on black, background removed
    binary: np.ndarray  # uint8 0/255 threshold of ink
    labels: np.ndarray  # int32 component labels
    scale: float  # working pixels per original pixel
    segments: list[Segment]
    n_labels: int = 0  # number of connected components (excluding background)
    lines: np.ndarray | None = None  # 0/255 mask of the form lines removed (working pixels)
    #: how a skewed image was turned level (``skew.level``); working pixels are turned pixels
    turn: Turn | None = None

    def original_box(self, seg: Segment, width: int, height: int) -> tuple[int, int, int, int]:
        return self.box_to_original(seg.box, self.scale, width, height, self.turn)

    @staticmethod
    def box_to_original(
        box: tuple[int, int, int, int],
        scale: float,
        width: int,
        height: int,
        turn: Turn | None = None,
    ) -> tuple[int, int, int, int]:
        if turn is not None:
            box = turn.box_back(box)
        x, y, w, h = box
        if scale == 1.0 and turn is None:
            return (int(x), int(y), int(w), int(h))
        s = 1.0 / scale
        x0, y0 = max(0, int(np.floor(x * s))), max(0, int(np.floor(y * s)))
        x1, y1 = min(width, int(np.ceil((x + w) * s))), min(height, int(np.ceil((y + h) * s)))
        return (x0, y0, max(1, x1 - x0), max(1, y1 - y0))

    def crop(self, seg: Segment, pad: int = 0) -> np.ndarray:
        """Ink inside the segment's box, with pixels of other digits masked out."""
        x, y, w, h = seg.box
        H, W = self.ink.shape
        x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(W, x + w + pad), min(H, y + h + pad)
        ink = self.ink[y0:y1, x0:x1]
        if len(seg.labels) >= self.n_labels:
            return ink  # this digit holds every component: nothing to mask
        lab = self.labels[y0:y1, x0:x1]
        present = np.unique(lab)
        others = [v for v in present.tolist() if v != 0 and v not in seg.labels]
        if not others:
            return ink
        mine = np.isin(lab, seg.labels).astype(np.uint8)
        # keep the anti-aliased fringe around our strokes, drop other digits' pixels
        mine = cv2.dilate(mine, np.ones((3, 3), np.uint8))
        return np.where(mine > 0, ink, 0).astype(np.uint8)


def _merge(
    boxes: np.ndarray, areas: np.ndarray, ref_h: float, dashes: np.ndarray | None = None
) -> list[list[int]]:
    """Greedy union of component boxes that belong to the same digit. A dash (``dashes``,
    see ``_dashes``) is not joined to a piece beside it.

    The greedy order matters: the first pair of groups (in the boxes' order) that may join
    (``_Merger.joins``) is joined, then the first again, until none may. ``_Merger`` finds
    the same pairs without looking again from the first after each join."""
    return _Merger(boxes, areas, ref_h, dashes).run()


class _Merger:
    """``_merge``'s greedy union, each pair looked at again only when a join may have changed
    its answer. Looking again from the first pair after every join cost up to a cube of the
    pieces (a noisy blank page's 300 specks: up to 25,000 looks; now under 1,500).

    A group is named by its first box's index, and groups keep the boxes' order, so pairs
    (a, b), a < b, are taken in order of a, then b. The pairs before ``row``, ``col`` are
    settled: apart, or in ``dirty`` (to look at again, before any later pair). A join of b
    into a unsettles the pairs of a and those kept apart because one of the two stacks on
    their smaller piece (``_stacks_on``; ``blocked`` lists them by that box). Pairs out of
    reach (``MERGE_REACH_X``, ``MERGE_REACH_Y``) are settled unlooked-at: no rule joins them,
    and only a join changes a box."""

    def __init__(
        self, boxes: np.ndarray, areas: np.ndarray, ref_h: float, dashes: np.ndarray | None
    ) -> None:
        self.groups: list[list[int]] = [[i] for i in range(len(boxes))]
        self.gb = [tuple(b) for b in boxes.tolist()]  # x0, y0, x1, y1
        self.ga = [int(a) for a in areas.tolist()]
        self.alive = [True] * len(boxes)
        # gb and alive as arrays, for whole-array tests (when there are enough groups to pay)
        self.many = len(boxes) >= _FEW_GROUPS
        self.corners = np.array(boxes, np.int64).reshape(-1, 4) if self.many else _NO_ARRAY
        self.alive_mask = np.ones(len(boxes), bool) if self.many else _NO_ARRAY
        self.ref_h, self.dashes = ref_h, dashes
        self.reach_x, self.reach_y = MERGE_REACH_X * ref_h, MERGE_REACH_Y * ref_h
        self.row, self.col = 0, 1
        self.dirty: list[tuple[int, int]] = []  # a heap
        self.blocked: dict[int, list[tuple[int, int]]] = {}
        self.looks = 0  # pairs put to the rules (``joins``)

    def run(self) -> list[list[int]]:
        while True:
            pair = self._first_dirty() or self._scan()
            if pair is None:
                return [g for g, alive in zip(self.groups, self.alive, strict=True) if alive]
            self._join(*pair)

    def _first_dirty(self) -> tuple[int, int] | None:
        while self.dirty:
            a, b = heapq.heappop(self.dirty)
            if self.alive[a] and self.alive[b] and self._settle(a, b):
                return a, b
        return None

    def _scan(self) -> tuple[int, int] | None:
        """The first pair from ``row``, ``col`` on that joins."""
        n = len(self.gb)
        while self.row < n - 1:
            a = self.row
            if self.alive[a]:
                for b in self._near(a, self.col, n):
                    if self._settle(a, b):
                        self.col = b + 1
                        return a, b
            self.row, self.col = a + 1, a + 2
        return None

    def _near(self, a: int, lo: int, hi: int) -> list[int]:
        """The groups ``lo`` .. ``hi`` - 1 within the rules' reach of group ``a``."""
        (x0, y0, x1, y1), far_x, far_y = self.gb[a], self.reach_x, self.reach_y
        if not self.many or hi - lo < _FEW_GROUPS:
            alive, gb = self.alive, self.gb
            return [
                k
                for k in range(lo, hi)
                if alive[k]
                and max(gb[k][0], x0) - min(gb[k][2], x1) < far_x
                and max(gb[k][1], y0) - min(gb[k][3], y1) < far_y
            ]
        c = self.corners[lo:hi]
        hgap = np.maximum(c[:, 0], x0) - np.minimum(c[:, 2], x1)
        vgap = np.maximum(c[:, 1], y0) - np.minimum(c[:, 3], y1)
        near = (hgap < far_x) & (vgap < far_y) & self.alive_mask[lo:hi]
        return (lo + np.flatnonzero(near)).tolist()

    def _settle(self, a: int, b: int) -> bool:
        """Whether ``a`` and ``b`` join; if a third box keeps them apart, noted in ``blocked``."""
        self.looks += 1
        joins = self.joins(a, b)
        if isinstance(joins, bool):
            return joins
        self.blocked.setdefault(joins, []).append((a, b))
        return False

    def _join(self, a: int, b: int) -> None:
        """Join group ``b`` into ``a``; unsettle the pairs that may have changed."""
        p, q = self.gb[a], self.gb[b]
        self.gb[a] = (min(p[0], q[0]), min(p[1], q[1]), max(p[2], q[2]), max(p[3], q[3]))
        self.groups[a] = self.groups[a] + self.groups[b]
        self.ga[a] += self.ga[b]
        self.alive[b] = False
        if self.many:
            self.corners[a], self.alive_mask[b] = self.gb[a], False
        settled = [(k, a) for k in self._near(a, 0, a)]
        end = len(self.gb) if a < self.row else self.col  # (a's own row: up to ``col``)
        settled += [(a, k) for k in self._near(a, a + 1, end)]
        settled += self.blocked.pop(a, []) + self.blocked.pop(b, [])
        for pair in settled:
            heapq.heappush(self.dirty, pair)

    def joins(self, i: int, j: int) -> bool | int:
        """The rules for groups ``i`` < ``j``: whether they join, or the box of a third group
        that keeps them apart (the smaller of the two lies above or below it)."""
        gb, ga, ref_h, dashes = self.gb, self.ga, self.ref_h, self.dashes
        a, b = gb[i], gb[j]
        ov = min(a[2], b[2]) - max(a[0], b[0])  # horizontal overlap (negative = gap)
        vgap = max(a[1], b[1]) - min(a[3], b[3])  # vertical gap (negative = overlap)
        hgap = -ov
        vov = -vgap  # vertical overlap
        hn = min(a[3] - a[1], b[3] - b[1])
        minor = min(ga[i], ga[j]) < 0.3 * max(ga[i], ga[j])
        if (
            hgap > 0
            and dashes is not None
            and (_lone(self.groups[i], dashes) or _lone(self.groups[j], dashes))
        ):
            return False  # a hyphen beside a digit belongs to neither
        if hgap > 0 and (_point(a, b, hgap, ref_h) or _point(b, a, hgap, ref_h)):
            return False  # so does a decimal point
        if _stacked(a, b, ref_h):
            return True  # one above the other: bar of a 5, broken loop...
        if vov < 0.3 * hn and hgap < MERGE_REACH_X * ref_h and vgap < 0.3 * ref_h:
            return True  # diagonal neighbours (bar of a 5 up and to the right)
        if hn < 0.55 * ref_h and hgap < 0.1 * ref_h and vgap < 0.2 * ref_h:
            return True  # small fragment touching a neighbour
        if minor and hgap < 0.25 * ref_h and vgap < 0.2 * ref_h:
            # small fragment next to a bigger piece -- unless it sits above or
            # below another piece (a loop broken off its own body)
            small = i if ga[i] < ga[j] else j
            sb = gb[small]
            # ... or is a whole digit itself: as tall as a small one, stroke-wide (or one
            # straight stroke: a "1") and apart (a string written smaller here, bigger there)
            w, h = sb[2] - sb[0], sb[3] - sb[1]
            one = h >= ONE_STRAIGHT * w and w >= ONE_WIDTH * ref_h and len(self.groups[small]) == 1
            tall = h >= SMALL_DIGIT_HEIGHT * ref_h
            if hgap >= 0.1 * ref_h and tall and (w >= 0.12 * ref_h or one):
                return False
            other = self._stacks_on(small, i, j)
            return True if other is None else other
        return False

    def _stacks_on(self, k: int, i: int, j: int) -> int | None:
        """A group other than ``i`` and ``j`` that box ``k`` lies above or below (the stacking
        rule, ``_stacked``: it belongs with that one), or None."""
        gb, alive = self.gb, self.alive
        if not self.many:
            others = (m for m in range(len(gb)) if alive[m] and m != i and m != j)
            return next((m for m in others if _stacked(gb[k], gb[m], self.ref_h)), None)
        c, (x0, y0, x1, y1) = self.corners, gb[k]
        ov = np.minimum(c[:, 2], x1) - np.maximum(c[:, 0], x0)
        vgap = np.maximum(c[:, 1], y0) - np.minimum(c[:, 3], y1)
        narrower = np.minimum(c[:, 2] - c[:, 0], x1 - x0)
        stacked = (vgap < self.reach_y) & (ov >= 0.5 * narrower) & self.alive_mask
        stacked[[i, j]] = False
        found = np.flatnonzero(stacked)
        return int(found[0]) if len(found) else None


def _point(dot: tuple[int, ...], digit: tuple[int, ...], hgap: int, ref_h: float) -> bool:
    """The (x0, y0, x1, y1) box ``dot`` is a decimal point, a full stop or a comma beside
    ``digit``: down at the digit's foot, standing apart from it (a piece broken off a digit
    lies along its stroke), and either round and under ``POINT_SIZE`` of the line's height,
    or a comma: under ``COMMA_SIZE`` of it, no wider than tall, hanging from the digit's foot
    (beginning within half that of it, ending at or below it)."""
    w, h = dot[2] - dot[0], dot[3] - dot[1]
    if hgap < POINT_GAP * ref_h or dot[1] < (digit[1] + digit[3]) / 2:
        return False
    if max(w, h) < POINT_SIZE * ref_h and min(w, h) >= 0.6 * max(w, h):
        return dot[3] >= digit[3] - POINT_SIZE * ref_h
    near_foot = dot[1] >= digit[3] - COMMA_SIZE / 2 * ref_h  # begins at the foot, not above it
    return h < COMMA_SIZE * ref_h and w <= h and near_foot and dot[3] >= digit[3]


def _points(segs: list[Segment]) -> set[int]:
    """Indices of the decimal points and commas of a line (``_point``, beside the digit
    before them), ``segs`` left to right."""
    tallest = max(s.box[3] for s in segs)
    corners = [(x, y, x + w, y + h) for x, y, w, h in (s.box for s in segs)]
    return {
        i
        for i in range(1, len(segs))
        if _point(corners[i], corners[i - 1], corners[i][0] - corners[i - 1][2], tallest)
    }


def _stacked(a: tuple[int, ...], b: tuple[int, ...], ref_h: float) -> bool:
    """Boxes (x0, y0, x1, y1) one above the other, close and overlapping left to right by half
    the narrower: the bar of a 5, a broken loop."""
    ov = min(a[2], b[2]) - max(a[0], b[0])
    vgap = max(a[1], b[1]) - min(a[3], b[3])
    return vgap < MERGE_REACH_Y * ref_h and ov >= 0.5 * min(a[2] - a[0], b[2] - b[0])


def _components(binary: np.ndarray, drawn: Box | None = None) -> tuple[int, np.ndarray, np.ndarray]:
    """``cv2.connectedComponentsWithStats`` (8-connected) run only on the box around the ink,
    which on a drawing canvas is a small part of the image: (n, full-size labels, stats).
    ``drawn``: a box outside which ``binary`` is 0, when known: the ink's box is looked for
    inside it only.

    The box starts at even coordinates: OpenCV labels 2x2 blocks, so the components come out
    numbered exactly as on the whole image."""
    H, W = binary.shape
    if H * W <= SMALL_IMAGE:  # labelling it all costs less than finding the box
        n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        return n, labels, stats
    x, y, w, h = _ink_box(binary, drawn)
    x0, y0 = x - x % 2, y - y % 2
    if w == 0 or (x0 == 0 and y0 == 0 and w == W and h == H):
        n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        return n, labels, stats
    roi = np.ascontiguousarray(binary[y0 : y + h, x0 : x + w])
    n, sub, stats, _ = cv2.connectedComponentsWithStats(roi, connectivity=8)
    # put back in place by a border of zeros: each pixel written once (zeroing the whole
    # image first and copying the box in writes the box twice)
    labels = cv2.copyMakeBorder(sub, y0, H - y - h, x0, W - x - w, cv2.BORDER_CONSTANT, value=0)
    stats[1:, cv2.CC_STAT_LEFT] += x0
    stats[1:, cv2.CC_STAT_TOP] += y0
    return n, labels, stats


def _ink_box(binary: np.ndarray, drawn: Box | None) -> Box:
    """``cv2.boundingRect(binary)``; with ``drawn`` (``binary`` is 0 outside it) only that box
    is searched (a canvas's drawing is a fifth of it or less): the same box, in less time."""
    if drawn is None:
        return cv2.boundingRect(binary)
    x0, y0, w0, h0 = drawn
    x, y, w, h = cv2.boundingRect(binary[y0 : y0 + h0, x0 : x0 + w0])
    return (x + x0, y + y0, w, h) if w and h else (0, 0, 0, 0)


def segment(
    ink: np.ndarray,
    single: bool = False,
    remove_form_lines: bool = True,
    drawn: Box | None = None,
    drawing: bool = False,
) -> Segmentation:
    """Find the digits in ``ink`` (uint8, white on black, background ~0).

    With ``single=True`` every kept component is merged into one digit (used for training images
    that are known to hold exactly one digit). ``drawn``: a box outside which ``ink`` is 0,
    when known (``imageio.ink_drawn``). A ``drawing`` (on a transparent canvas) has no printed
    form lines: none are looked for, though a loop drawn round a digit still is."""
    H, W = ink.shape
    scale = 1.0
    turn = None
    if max(H, W) > WORK_MAX_SIDE:
        drawn = None  # (the box would have to shrink with the image)
        scale = WORK_MAX_SIDE / max(H, W)
        ink = cv2.resize(
            ink, (max(1, round(W * scale)), max(1, round(H * scale))), interpolation=cv2.INTER_AREA
        )
    mx = int(ink.max()) if ink.size else 0
    if mx < MIN_CONTRAST:
        z = np.zeros(ink.shape, np.uint8)
        return Segmentation(ink, z, z.astype(np.int32), scale, [])
    t, binary = _threshold(ink, mx)
    lines = None
    comps = None  # the components of ``binary``, while it is unchanged
    if remove_form_lines:
        faint = _faint(ink, t)
        comps = _components(binary, drawn)
        evened = None
        if _screened(comps[2], binary, faint):
            evened = _descreened(ink)
        elif comps[0] > 2 and _grainy(binary, comps[2]):  # 2+ pieces: a stroke may be broken
            evened = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, _GRAIN)
        if evened is not None:
            drawn = None  # (blurred or closed: the ink spreads)
            ink = evened
            t, binary = _threshold(ink, mx)
            faint = _faint(ink, t)
            comps = _components(binary)
        framed, degrees = None, 0.0
        if not drawing:
            line_ink = _line_ink(binary, faint)
            # a field cut out along its box: its sides along the edges are taken out with
            # the form lines, and they tell no skew (cut by the edge, they run level)
            framed = edge_frame(line_ink)
            if framed is not None:
                line_ink = cv2.bitwise_and(line_ink, cv2.bitwise_not(framed))
            degrees = skew(line_ink)
        if degrees:  # a skewed scan: its lines are looked for, and its digits read, level
            ink, turn = level(ink, degrees)
            if framed is not None:
                framed = cv2.compare(turn.image(framed), 127, cv2.CMP_GT)
            drawn = None
            t, binary = _threshold(ink, mx)
            faint = _faint(ink, t)
            comps = _components(binary)
        loops = _drawn_round(comps)
        if loops is not None:  # a circle or a box drawn round a digit: no digit itself
            # 255 off the loops: each image kept there, 0 on them (np.where's values)
            off_loops = cv2.compare(loops.view(np.uint8), 0, cv2.CMP_EQ)
            ink, binary, faint = (cv2.bitwise_and(a, off_loops) for a in (ink, binary, faint))
            comps = None
        before = binary
        if drawing:
            lines = np.zeros(binary.shape, np.uint8)
        else:
            ink, binary, lines = remove_lines(
                ink, binary, faint, comps[2] if comps is not None else None
            )
        if framed is not None:
            off_frame = cv2.bitwise_not(framed)
            ink, binary = cv2.bitwise_and(ink, off_frame), cv2.bitwise_and(binary, off_frame)
        if binary is not before:
            comps, drawn = None, None
        if loops is not None:
            lines = cv2.bitwise_or(lines, cv2.bitwise_not(off_loops))
        if framed is not None:
            lines = cv2.bitwise_or(lines, framed)
        # (OpenCV's test stops at the first line pixel; NumPy's any() casts every byte first)
        if not cv2.hasNonZero(lines):
            lines = None
    n, labels, stats = comps if comps is not None else _components(binary, drawn)
    if n <= 1:
        return Segmentation(ink, binary, labels, scale, [], lines=lines, turn=turn)
    if n == 2:  # a single component: nothing to merge or drop
        x, y, w, h, a = stats[1].tolist()
        return Segmentation(
            ink, binary, labels, scale, [Segment((x, y, w, h), (1,), a)], 1, lines, turn
        )
    stats = stats[1:]
    areas = stats[:, cv2.CC_STAT_AREA]
    amax = int(areas.max())
    keep = areas >= max(2, 0.02 * amax)
    # thin slivers (scanner lines, pen slips): much thinner than the main strokes
    long_side = np.maximum(stats[:, 2], stats[:, 3]).astype(np.float64)
    thickness = areas / long_side
    main_thick = thickness[int(np.argmax(areas))]
    keep &= ~((areas < 0.3 * amax) & (thickness < 0.4 * main_thick) & (thickness < 1.25))
    kept = np.nonzero(keep)[0]
    if len(kept) > 300:  # pathological noise: keep the biggest
        kept = kept[np.argsort(-areas[kept])[:300]]
    if len(kept) == 0:  # (nothing but slivers)
        return Segmentation(ink, binary, labels, scale, [], n_labels=n - 1, lines=lines, turn=turn)
    boxes, big = _boxes(stats[kept]), areas[kept] >= 0.1 * amax
    bands = [np.arange(len(kept))] if single else _text_lines(boxes, big)
    segs = []
    for band in bands:
        if not single:
            band = _without_caption(band, boxes)
        line = _band_segments(band, boxes, areas[kept], big, kept, single)
        if not single and len(line) > 1:
            printed = _label_words(line, stats) | _points(line)
            line = [
                s
                for i, s in enumerate(line)
                if not (i in printed or _aside(s, line)) or _in_field(s.box, lines)
            ]
        segs += line
    if not single:
        segs = [s for s in segs if not _speck_cloud(s, stats)]
    if len(segs) > 1:
        segs = [s for s in segs if not _stray(s, segs)]
    if len(segs) > 1:
        segs = _without_faint(segs, ink, labels)
    return Segmentation(ink, binary, labels, scale, segs, n - 1, lines, turn)


def _speck_cloud(seg: Segment, stats: np.ndarray) -> bool:
    """``seg`` is a cloud of specks, not strokes: ``CLOUD_SPECKS`` pieces or more, none of
    them ``CLOUD_LARGEST`` of its ink (a blank page's scanner noise, merged into one "digit";
    a written digit, even broken, has strokes). ``stats``: label ``l`` at ``l - 1``."""
    if len(seg.labels) < CLOUD_SPECKS:
        return False
    largest = max(int(stats[lab - 1, cv2.CC_STAT_AREA]) for lab in seg.labels)
    return largest < CLOUD_LARGEST * seg.area


def _without_faint(segs: list[Segment], ink: np.ndarray, labels: np.ndarray) -> list[Segment]:
    """``segs`` less the marks far fainter than the darkest digit: ink showing through from
    the back of the page, a rubbed-out pencil digit. A written digit's darkest pixel is as
    dark as its neighbours' (the pen's own level); one under ``FAINT_MARK`` of theirs is no
    digit of theirs."""
    peaks = [_peak(seg, ink, labels) for seg in segs]
    darkest = max(peaks)
    return [seg for seg, p in zip(segs, peaks, strict=True) if p >= FAINT_MARK * darkest]


def _peak(seg: Segment, ink: np.ndarray, labels: np.ndarray) -> int:
    """The darkest ink of ``seg`` (its own components only)."""
    x, y, w, h = seg.box
    mine = np.isin(labels[y : y + h, x : x + w], seg.labels)
    return int(ink[y : y + h, x : x + w][mine].max(initial=0))


def _threshold(ink: np.ndarray, mx: int) -> tuple[float, np.ndarray]:
    """(level, 0/255 binary) of ``ink`` whose brightest pixel is ``mx``: Otsu's level, but at
    least a quarter of the brightest ink and half ``MIN_CONTRAST``."""
    t, _ = cv2.threshold(ink, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    t = max(t, 0.25 * mx, MIN_CONTRAST / 2)
    return t, cv2.threshold(ink, t, 255, cv2.THRESH_BINARY)[1]


def _line_ink(binary: np.ndarray, faint: np.ndarray) -> np.ndarray:
    """The binary a skew is measured in: the faint one, where printed lines are looked for,
    unless a tint flooded it (``lines.flooded``)."""
    if flooded(faint, binary):
        return binary
    return faint


def _faint(ink: np.ndarray, t: float) -> np.ndarray:
    """``ink`` above half the threshold ``t`` (form lines are traced in it)."""
    return cv2.threshold(ink, max(MIN_CONTRAST / 2, 0.5 * t), 255, cv2.THRESH_BINARY)[1]


def _screened(stats: np.ndarray, binary: np.ndarray, faint: np.ndarray) -> bool:
    """A form field printed as a halftone screen came through: hundreds of dots of a few
    pixels each, set on a grid (``_on_a_grid``), among the components of ``binary``
    (``stats``), or in the faint ink (``_faint``) where there is far more of it than in
    ``binary``; or, where they run together there, a mesh with hundreds of such holes.
    Handwriting's faint fringe only widens its strokes; a scan's noise is dots at random."""
    if _on_a_grid(stats):
        return True
    if cv2.countNonZero(faint) < SCREEN_FAINT * cv2.countNonZero(binary):
        return False
    if _on_a_grid(cv2.connectedComponentsWithStats(faint, connectivity=8)[2]):
        return True
    return _on_a_grid(cv2.connectedComponentsWithStats(cv2.bitwise_not(faint), connectivity=4)[2])


def _on_a_grid(stats: np.ndarray) -> bool:
    """``SCREEN_DOTS`` or more of the components (``stats``, background first) are dots of
    ``SCREEN_DOT`` px or less, spread over ``SCREEN_SPAN`` of their spacings or more both
    across and down, and they stand evenly apart: each one's nearest neighbour (of up to
    ``_GRID_SAMPLE`` of them) as far away as the others' within ``SCREEN_EVEN``."""
    dots = stats[1:][stats[1:, cv2.CC_STAT_AREA] <= SCREEN_DOT]
    if len(dots) < SCREEN_DOTS:
        return False
    centres = dots[:, :2] + dots[:, 2:4] / 2.0
    sample = centres[:: max(1, len(centres) // _GRID_SAMPLE)]
    d2 = ((sample[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    d2[d2 == 0] = np.inf  # each sampled dot itself
    nearest = np.sqrt(d2.min(1))
    step = float(nearest.mean())
    if np.ptp(centres[:, 0]) < SCREEN_SPAN * step or np.ptp(centres[:, 1]) < SCREEN_SPAN * step:
        return False  # a row (or a column) of marks, not a screen over an area
    return bool(nearest.std() < SCREEN_EVEN * step)


def _grainy(binary: np.ndarray, stats: np.ndarray) -> bool:
    """Grainy ink (a soft pencil, a dry pen): its strokes riddled with pinholes of a pixel or
    few, ``GRAIN_HOLES`` of them per ink pixel or more (a written stroke has none). Judged
    round the biggest piece (``stats``, background first) only: on a form that is its
    frame, not the whole page."""
    x, y, w, h = stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])), :4]
    crop = binary[y : y + h, x : x + w]
    holes = cv2.connectedComponentsWithStats(cv2.bitwise_not(crop), connectivity=4)[2]
    pinholes = int(np.count_nonzero(holes[1:, cv2.CC_STAT_AREA] <= GRAIN_HOLE))
    return pinholes >= GRAIN_MIN and pinholes >= GRAIN_HOLES * cv2.countNonZero(crop)


def _descreened(ink: np.ndarray) -> np.ndarray:
    """``ink`` with a halftone screen taken out: blurred until its dots are an even tint,
    then less the level of everything wider than a stroke (a white top-hat), so the tinted
    field is paper and only the strokes stand out."""
    blurred = cv2.GaussianBlur(ink, (0, 0), SCREEN_BLUR)
    return cv2.morphologyEx(blurred, cv2.MORPH_TOPHAT, _WIDER_THAN_STROKES)


def _boxes(st: np.ndarray) -> np.ndarray:
    """Component stats -> boxes (x0, y0, x1, y1)."""
    return np.stack([st[:, 0], st[:, 1], st[:, 0] + st[:, 2], st[:, 1] + st[:, 3]], axis=1).astype(
        np.int64
    )


def _drawn_round(comps: tuple[int, np.ndarray, np.ndarray]) -> np.ndarray | None:
    """A bool mask of the loops drawn round digits (``_enclosures``; grown by a pixel for
    their soft edge) among the components ``comps`` (``_components``), or None. Looked for
    before the form lines: a box drawn by hand has straight stretches, and once they were
    taken for lines the rest would be pieces."""
    n, labels, stats = comps
    if n < 3:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    kept = np.arange(n - 1)
    found = _enclosures(_boxes(stats[1:]), areas >= 0.1 * areas.max(), labels, kept)
    if not found.any():
        return None
    loops = np.isin(labels, kept[found] + 1).view(np.uint8)
    return cv2.dilate(loops, np.ones((3, 3), np.uint8)).view(bool)


def _enclosures(
    boxes: np.ndarray, big: np.ndarray, labels: np.ndarray, kept: np.ndarray
) -> np.ndarray:
    """Which components are drawn round another: a circle round an answer, a box drawn by
    hand (printed boxes go with the form lines; a frame much wider than what it holds, a
    comb field's, is left to them too: digits touching it are part of it). The other stands
    inside this one's box
    on every side, is ``ENCLOSED`` of its height or more (a mark inside a "0" is less) but
    not all of it, little of this one's ink crosses the other's box, this one's ink lies
    round it (``_round``) and ``ENCLOSED_GAP`` of its height clear of it all round."""
    out = np.zeros(len(boxes), bool)
    idx = np.nonzero(big)[0]
    if len(idx) < 2:
        return out
    for k, inside in _insides(boxes[idx]):
        a = int(idx[k])
        ax0, ay0, ax1, ay1 = boxes[a].tolist()
        for b in idx[inside].tolist():
            bx0, by0, bx1, by1 = boxes[b].tolist()
            bh, bw = by1 - by0, bx1 - bx0
            if not (ENCLOSED * (ay1 - ay0) <= bh <= 0.9 * (ay1 - ay0) and bw <= 0.9 * (ax1 - ax0)):
                continue
            if ax1 - ax0 > 3 * max(bw, bh):
                break  # round more than one digit: a comb field's frame (the form lines')
            mine = labels[ay0:ay1, ax0:ax1] == kept[a] + 1
            y0, y1, x0, x1 = by0 - ay0, by1 - ay0, bx0 - ax0, bx1 - ax0
            if np.count_nonzero(mine[y0:y1, x0:x1]) > 0.1 * bh * bw:
                continue
            if not _round(mine, (x0, y0, x1, y1)):
                continue
            # clear of it all round: the pieces of a digit broken by a skipping pen are not
            away = cv2.distanceTransform((~mine).view(np.uint8), cv2.DIST_L2, 3)
            theirs = labels[ay0:ay1, ax0:ax1] == kept[b] + 1
            if float(away[theirs].min()) >= ENCLOSED_GAP * (ay1 - ay0):
                out[a] = True
                break
    return out


def _insides(boxes: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(k, the indices of the boxes inside box k on every side, in order) for each of the
    (x0, y0, x1, y1) ``boxes`` that holds any, looked for among the boxes starting between
    its sides (a sort on x0) only: a blank page of scanner noise has thousands of specks,
    and testing every pair of them cost seconds."""
    order = np.argsort(boxes[:, 0], kind="stable")
    starts = boxes[order, 0]
    lo = np.searchsorted(starts, boxes[:, 0], side="right")
    hi = np.searchsorted(starts, boxes[:, 2], side="left")
    for k in np.flatnonzero(hi > lo).tolist():
        _, y0, x1, y1 = boxes[k].tolist()
        ids = order[lo[k] : hi[k]]
        b = boxes[ids]
        inside = ids[(y0 < b[:, 1]) & (b[:, 2] < x1) & (b[:, 3] < y1)]
        if len(inside):
            yield k, np.sort(inside)


def _round(mine: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """The ink ``mine`` lies on all four sides of ``box`` (x0, y0, x1, y1), level with it:
    it goes round it (a circle left open at one side still passes it there, above and below
    the gap; a "0" broken into a "C" and its right side does not)."""
    x0, y0, x1, y1 = box
    rows = np.any(mine[y0:y1], axis=0, keepdims=False).ravel()
    cols = np.any(mine[:, x0:x1], axis=1, keepdims=False).ravel()
    return bool(rows[:x0].any() and rows[x1:].any() and cols[:y0].any() and cols[y1:].any())


def _band_segments(
    band: np.ndarray,
    boxes: np.ndarray,
    areas: np.ndarray,
    big: np.ndarray,
    kept: np.ndarray,
    single: bool,
) -> list[Segment]:
    """The digits of one line of text (component indices ``band``), left to right."""
    b = boxes[band]
    extent = float(b[:, 3].max() - b[:, 1].min())
    heights = (b[:, 3] - b[:, 1])[big[band]]
    ref_h = max(float(heights.max()) if len(heights) else 0.0, 0.7 * extent)
    dashes = _dashes(b, big[band], ref_h)
    groups = [list(range(len(band)))] if single else _merge(b, areas[band], ref_h, dashes)
    segs = []
    for g in groups:
        if not single and _lone(g, dashes):
            continue  # a hyphen: no digit
        gb = b[g]
        x0, y0, x1, y1 = gb[:, 0].min(), gb[:, 1].min(), gb[:, 2].max(), gb[:, 3].max()
        segs.append(
            Segment(
                (int(x0), int(y0), int(x1 - x0), int(y1 - y0)),
                tuple(int(kept[band[i]]) + 1 for i in g),
                int(areas[band][g].sum()),
            )
        )
    segs.sort(key=lambda s: s.box[0] + s.box[2] / 2.0)
    return segs


def _text_lines(boxes: np.ndarray, big: np.ndarray) -> list[np.ndarray]:
    """Component indices by line of text, top to bottom (one line: all of them).

    The big components' vertical extents, joined where they overlap or nearly touch, are the
    lines; a line much shorter than the tallest digit (a detached bar, a dash) is no line of
    its own and joins its nearest neighbour. Every component then goes to the line its centre
    is nearest to. Lines are kept only if one of them holds two digits side by side, or if they
    stand at least ``ROW_APART`` digit heights apart: pieces of one digit may stand one above
    the other, a row of digits stands side by side. Rows of
    digits would otherwise be read as one row -- and, one above the other, merged into a few
    tall "digits"."""
    ys = boxes[big][:, [1, 3]]
    if len(ys) < 2:
        return [np.arange(len(boxes))]
    digit_h = float((ys[:, 1] - ys[:, 0]).max())
    spans: list[list[float]] = []
    for y0, y1 in sorted(ys.tolist()):
        if spans and y0 - spans[-1][1] < LINE_GAP * digit_h:
            spans[-1][1] = max(spans[-1][1], y1)
        else:
            spans.append([y0, y1])
    while len(spans) > 1:
        short = min(range(len(spans)), key=lambda i: spans[i][1] - spans[i][0])
        if spans[short][1] - spans[short][0] >= 0.6 * digit_h:
            break
        gaps = [
            spans[short][0] - spans[short - 1][1] if short > 0 else np.inf,
            spans[short + 1][0] - spans[short][1] if short + 1 < len(spans) else np.inf,
        ]
        other = short - 1 if gaps[0] <= gaps[1] else short + 1
        lo, hi = min(short, other), max(short, other)
        spans[lo : hi + 1] = [[spans[lo][0], spans[hi][1]]]
    if len(spans) == 1:
        return [np.arange(len(boxes))]
    cy = (boxes[:, 1] + boxes[:, 3]) / 2.0
    dist = np.stack([np.maximum(0, np.maximum(a - cy, cy - b)) for a, b in spans], axis=1)
    line = np.argmin(dist, axis=1)
    lines = [np.nonzero(line == i)[0] for i in range(len(spans)) if np.any(line == i)]
    apart = min(b[0] - a[1] for a, b in zip(spans, spans[1:], strict=False))
    # each of at least three rows a whole digit tall (two pieces could be one broken digit)
    whole = len(spans) >= 3 and min(b - a for a, b in spans) >= 0.75 * digit_h
    if not (whole and apart >= ROW_APART * digit_h) and not any(
        _side_by_side(boxes[i[big[i]]], digit_h) for i in lines
    ):
        return [np.arange(len(boxes))]  # pieces of one digit one above the other, not rows
    return lines


def _dashes(boxes: np.ndarray, big: np.ndarray, ref_h: float) -> np.ndarray:
    """Which of ``boxes`` (x0, y0, x1, y1; one line of text) are dashes: flat marks across the
    middle of the line with a digit on either side -- the hyphens of a date or a phone
    number. No digit, nor a piece of one that stands apart from it, is under a third of a
    digit tall, twice as wide as that (and 0.2 x a digit long), centred in the middle half
    of the line between two digits and ``DASH_GAP`` clear of one of them (a skipping pen's
    bar of a 4 lies close to both halves of its digit)."""
    tall = boxes[big] if big.any() else boxes
    top, bottom = float(tall[:, 1].min()), float(tall[:, 3].max())
    quarter = 0.25 * (bottom - top)
    h, w = boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]
    mid = (boxes[:, 1] + boxes[:, 3]) / 2.0
    flat = (h <= 0.3 * ref_h) & (w >= np.maximum(2 * h, 0.2 * ref_h))
    flat &= (mid >= top + quarter) & (mid <= bottom - quarter)
    gaps = np.full((len(boxes), 2), -np.inf)  # to the nearest digit on the left, the right
    for k, (x0, x1) in enumerate(boxes[:, [0, 2]].tolist()):
        before, after = x0 - tall[tall[:, 2] <= x0, 2], tall[tall[:, 0] >= x1, 0] - x1
        if before.size and after.size:
            gaps[k] = before.min(), after.min()
    return flat & (gaps.min(1) >= 0) & (gaps.max(1) >= DASH_GAP * ref_h)


def _lone(group: list[int], dashes: np.ndarray) -> bool:
    """The group is one dash on its own."""
    return len(group) == 1 and bool(dashes[group[0]])


def _side_by_side(boxes: np.ndarray, digit_h: float) -> bool:
    """Two of ``boxes`` at least ``ROW_DIGIT_HEIGHT`` of ``digit_h`` tall stand apart left and
    right (a row of digits, not a broken one)."""
    boxes = boxes[boxes[:, 3] - boxes[:, 1] >= ROW_DIGIT_HEIGHT * digit_h]
    if len(boxes) < 2:
        return False
    b = boxes[np.argsort(boxes[:, 0])]
    right = np.maximum.accumulate(b[:, 2])
    return bool(np.any(b[1:, 0] - right[:-1] >= 0.1 * digit_h))


def _aside(seg: Segment, segs: list[Segment]) -> bool:
    """A mark well under a digit's height that stands clear of every digit of its line: a
    printed label ("No.", "Total:") or a reviewer's tick beside the written field. Under
    ``ASIDE_HEIGHT`` of the tallest digit, it must stand ``ASIDE_GAP`` digit heights clear;
    under ``STRAY_HEIGHT`` of it (smaller than any digit written in a string), half that. A digit
    written smaller than its neighbours stands as close to them as they do to each other."""
    tallest = max(s.box[3] for s in segs)
    if seg.box[3] >= ASIDE_HEIGHT * tallest:
        return False
    gap = ASIDE_GAP * tallest * (0.5 if seg.box[3] < STRAY_HEIGHT * tallest else 1.0)
    return all(_box_gap(seg.box, s.box) >= gap for s in segs if s.box[3] >= ASIDE_HEIGHT * tallest)


def _label_words(segs: list[Segment], stats: np.ndarray) -> set[int]:
    """Indices of a printed word at either end of a line (a label such as "No." or "Qty"
    before the written digits, a unit such as "kg" after them), whether its letters came out
    as one mark or several: each mark under ``ASIDE_HEIGHT`` of the line's tallest digit,
    together a word (``_word``), standing twice as far as its letters, and ``WORD_CLEAR``
    digit heights, clear of the digits. ``segs`` run left to right; ``stats`` are the
    components' (x, y, w, h, area), label ``l`` at ``l - 1``."""
    tallest = max(s.box[3] for s in segs)
    out: set[int] = set()
    for order in (list(range(len(segs))), list(range(len(segs) - 1, -1, -1))):
        run = []
        for i in order:
            if segs[i].box[3] >= ASIDE_HEIGHT * tallest:
                break
            run.append(i)
        if not run or len(run) == len(segs):
            continue
        comps = _boxes(stats[[lab - 1 for i in run for lab in segs[i].labels]])
        inner = _word(comps, tallest)
        if inner is None:
            continue
        x0, y0 = comps[:, 0].min(), comps[:, 1].min()
        x1, y1 = comps[:, 2].max(), comps[:, 3].max()
        clear = _box_gap((int(x0), int(y0), int(x1 - x0), int(y1 - y0)), segs[order[len(run)]].box)
        if clear >= max(2 * inner, WORD_CLEAR * tallest):
            out.update(run)
    return out


def _word(comps: np.ndarray, tallest: float) -> int | None:
    """The widest gap between the letters if the (x0, y0, x1, y1) component boxes ``comps``
    look like a printed word beside digits ``tallest`` high, else None: together
    (ascenders to descenders) under ``WORD_HEIGHT`` of it, at least as wide as tall, two or
    more letters side by side (components that do not overlap across; they may touch) set as
    close as letters are (under ``WORD_GAP`` of the word's height apart)."""
    x0, y0 = comps[:, 0].min(), comps[:, 1].min()
    x1, y1 = comps[:, 2].max(), comps[:, 3].max()
    height = y1 - y0
    if height >= WORD_HEIGHT * tallest or x1 - x0 < height:
        return None
    comps = comps[np.argsort(comps[:, 0])]
    gaps = comps[1:, 0] - np.maximum.accumulate(comps[:, 2])[:-1]
    if not (gaps >= 0).any():
        return None  # one letter (or one mark): ``_aside`` decides
    inner = max(int(gaps.max()), 0)
    return inner if inner <= WORD_GAP * height else None


def _without_caption(band: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``band`` (component indices of one line) less a printed caption above or below its
    digits ("Amount", "Date" over a field): the components standing ``CAPTION_GAP`` digit
    heights or more clear of the digit-sized ones' extent, together a word (``_word``). Too
    small to make a line of their own, they went to the digits' line, where a caption over
    the first digit was stacked onto it. Only over two digits side by side or more."""
    if len(band) < 3:  # (a caption and two digits at the least)
        return band
    b = boxes[band]
    heights = b[:, 3] - b[:, 1]
    tallest = float(heights.max())
    main = b[heights >= ASIDE_HEIGHT * tallest]  # digit-sized
    if not _side_by_side(main, tallest):
        return band  # one digit, perhaps in pieces: its broken-off bits are no caption
    top, bottom = main[:, 1].min(), main[:, 3].max()
    gap = CAPTION_GAP * tallest
    keep = np.ones(len(band), bool)
    for side in (b[:, 3] <= top - gap, b[:, 1] >= bottom + gap):
        if np.count_nonzero(side) >= 2 and _word(b[side], tallest) is not None:
            keep &= ~side
    return band[keep]


def _box_gap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    """How far apart two (x, y, w, h) boxes stand: the larger of the horizontal and the
    vertical gap (0 where they overlap both ways)."""
    dx = max(b[0] - (a[0] + a[2]), a[0] - (b[0] + b[2]), 0)
    dy = max(b[1] - (a[1] + a[3]), a[1] - (b[1] + b[3]), 0)
    return max(dx, dy)


def _stray(seg: Segment, segs: list[Segment]) -> bool:
    """A mark too small to be a digit beside the others: under ``STRAY_HEIGHT`` of the tallest
    one's height, and either a speck of ink (under 8% of the most) or as narrow as it is short
    (a tick, a dot, a comma). A written digit is never that much smaller than its neighbours."""
    tallest = max(s.box[3] for s in segs)
    if seg.box[3] >= STRAY_HEIGHT * tallest:
        return False
    return seg.area < 0.08 * max(s.area for s in segs) or seg.box[2] < STRAY_HEIGHT * tallest


def _in_field(box: tuple[int, int, int, int], lines: np.ndarray | None) -> bool:
    """The (x, y, w, h) box stands in a form's field: removed form lines lie close to its
    left, to its right, and above or below it (a box, a comb's teeth and base, a drawn loop)."""
    if lines is None:
        return False
    x, y, w, h = box
    m = h  # how close: the mark's own height
    H, W = lines.shape
    rows, cols = slice(y, y + h), slice(x, x + w)
    left = lines[rows, max(0, x - m) : x].any()
    right = lines[rows, x + w : min(W, x + w + m)].any()
    above = lines[max(0, y - m) : y, cols].any()
    below = lines[y + h : min(H, y + h + m), cols].any()
    return bool(left and right and (above or below))
