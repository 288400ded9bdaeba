"""Touching digits: is a wide segment two digits, and where do they part?

A segment at least ``ASPECT_MIN`` as wide as tall (``WIDE``: always, else only when the
classifier is not sure of it) is scored by a logistic "one digit or two touching?" detector on
the gradient features of the whole (``pair_probability``; fitted by ``fit_pair_detector`` on
segments at least ``FIT_ASPECT_MIN`` wide, stored in the model metadata as ``touching``).
Above ``P_PAIR_MIN`` it is offered cuts at the deepest valleys of its column ink profile (and
the centre), each as four paths: straight, a least-ink seam (``seam``), a top-down and a
bottom-up drop-fall (``drop_fall``; for a segment the detector is sure of, also started at
``DROP_STARTS`` beside the column); each path once as a clean cut and once with ``OVERLAPS``
pixels of overlap, since strokes that overlap belong to both digits. Small bits of the other
digit a cut leaves behind are dropped; a crop taller than ``CUT_HEIGHT`` is cut at that height,
and the same two pieces are offered once. The caller (``Model._split_touching``) classifies the
pieces of every candidate in one batch, ranks the cuts by ``cut_rank`` (both pieces read
confidently, and neither still looks like a pair) and ``choose_cut`` decides whether the best
one is taken: a learned logistic decision (``accept_features``; metadata
``touching["accept"]``, fitted by ``calibrate.fit_split_decision`` on MNIST train digits) or,
for a model without one, the hand-set ``split_score``. A segment the decision splits is split
at the cut ``rank_cuts`` prefers once a small network (``piece_validity``; metadata
``touching["pieces"]``, fitted by ``calibrate.fit_piece_scorer``) has judged whether each
piece is one whole digit. Each piece gets its own box, left to right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from .normalize import normalize_digit

if TYPE_CHECKING:
    from .model import Digit

#: segments at least this wide for their height are offered cuts (when the classifier is not
#: sure of them, see ``wants_cut``): 0.55, not 0.75, lets two touching digits with a "1" among
#: them be asked too (train-digit pairs narrower than 0.75: ~4%); the pair detector and the
#: split decision keep the narrow single digits whole (a narrow single the detector scores at
#: ``P_PAIR_MIN`` or more is rare: ~1 in 2,000 of those 0.55-0.75 wide)
ASPECT_MIN = 0.55
#: the pair detector and the split decision are fitted on segments at least this wide; the
#: narrower ones (from ``ASPECT_MIN``) are judged by the same two models. Fitted on them too,
#: the detector flagged narrow single digits, and the decision kept more of the widest pairs
#: whole (bench/RESULTS.md)
FIT_ASPECT_MIN = 0.75
#: a segment narrower than ``FIT_ASPECT_MIN`` is asked only when its whole reads below this
#: (uncalibrated): the touching pairs gained read at most ~0.97, while a drawn single digit
#: that narrow (read at 0.98-0.9999) would cost a drawing a check of 20-50 ms
NARROW_CONFIDENCE = 0.98
#: this wide or wider: offered cuts even when the whole reads confidently
WIDE = 1.1
#: a segment this wide may hold three digits: a piece of its cut that is still wide (from
#: ``ASPECT_MIN``) is offered cuts in its turn (narrower, the second cut split pairs in three)
THREE_ASPECT = 1.5
#: cuts are looked for in this central share of the width
SEARCH = (0.18, 0.82)
MAX_CUTS = 4
#: pixels of overlap each piece may keep beyond the cut path
OVERLAPS = (0, 2)
#: drop-falls also start this many path bands (w / 8) beside each candidate column of a
#: segment the pair detector is sure of (``MORE_CUTS_P``; a wide single digit it is unsure
#: of, like a drawn "2", gets the cheaper set)
DROP_STARTS = (-1.0, -0.5, -0.25, 0.25, 0.5, 1.0)
MORE_CUTS_P = 0.9
#: a taller crop is cut at this height (INTER_AREA): its pieces are normalized to 28x28
#: anyway, and a 400x400 drawing's wide digit costs 1/10 as much to cut (paper digits of at
#: most this height are cut at full size)
CUT_HEIGHT = 72


@dataclass
class Cut:
    column: int  # in crop pixels
    ink_at_cut: float  # share of the height inked in the cut column
    boxes: tuple[tuple[int, int, int, int], tuple[int, int, int, int]]  # working pixels
    digits: np.ndarray  # (2, 28, 28) normalized pieces
    kind: str = "straight"  # straight, seam, drop (top-down), rise (bottom-up)
    overlap: int = 0  # pixels each piece keeps beyond the path
    #: the two pieces' ink (at the scale the crop was cut at): a piece may be cut again
    crops: tuple[np.ndarray, ...] = ()


@dataclass
class Job:
    """A wide segment offered cuts (``Model._touching_jobs``), with its pieces read."""

    extracted: Any  # pipeline.Extracted
    digits: list[Digit]  # the image's digits (the segment's is replaced in place when cut)
    index: int
    box: tuple[int, int, int, int]  # working pixels
    p_pair: float  # the pair detector on the whole
    p_whole: float  # top uncalibrated probability of the whole
    cuts: list[Cut]
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 10)))  # calibrated
    raw: np.ndarray = field(default_factory=lambda: np.zeros((0, 10)))  # uncalibrated
    piece_pair: np.ndarray = field(default_factory=lambda: np.zeros(0))
    feats: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # the pieces' features
    #: log-probability that each piece is one whole digit (``piece_validity``; zeros without
    #: a piece scorer in the metadata)
    valid: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: the pair reader's heads on the whole (``pairs.Reading``), when the model has one
    reader: tuple[np.ndarray, ...] | None = None
    #: the pair detector's probability, also where the segment was not ``wants_cut``
    detector: float = 0.0


def candidate_columns(crop: np.ndarray, max_cuts: int = MAX_CUTS) -> list[int]:
    """Columns of ``crop`` (white ink on black) where a cut is most plausible."""
    h, w = crop.shape
    if w < 6:
        return []
    ink = crop > 0.45 * float(crop.max())
    prof = ink.sum(0).astype(np.float64)
    prof = np.convolve(prof, [0.25, 0.5, 0.25], mode="same")
    lo, hi = int(SEARCH[0] * w), int(np.ceil(SEARCH[1] * w))
    cols = np.arange(lo, max(lo + 1, hi))
    if len(cols) == 0:
        return []
    order = cols[np.argsort(prof[cols], kind="stable")]
    picked: list[int] = []
    sep = max(2, w // 10)
    for c in order.tolist():
        if all(abs(c - p) >= sep for p in picked):
            picked.append(c)
        if len(picked) >= max_cuts:
            break
    # the centre too: two digits of about the same width meet there
    mid = w // 2
    if all(abs(mid - p) >= sep for p in picked):
        picked.append(mid)
    return picked


def _piece(
    crop: np.ndarray, x0: int, x1: int
) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The part of ``crop`` between columns x0 and x1, without the small bits of the other
    digit that the cut leaves behind, trimmed to its ink."""
    part = crop[:, x0:x1]
    mx = float(crop.max())
    if mx <= 0:
        return None
    mask = (part > 0.45 * mx).astype(np.uint8)
    n, lab, st, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return None
    areas = st[1:, cv2.CC_STAT_AREA]
    keep = np.nonzero(areas >= 0.2 * areas.max())[0] + 1
    if len(keep) < n - 1:
        near = cv2.dilate(np.isin(lab, keep).astype(np.uint8), np.ones((3, 3), np.uint8))
        part = np.where(near > 0, part, 0).astype(np.uint8)
        mask = mask & near
    ys = np.nonzero(mask.any(1))[0]
    xs = np.nonzero(mask.any(0))[0]
    y0, y1, a0, a1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
    return part[y0:y1, a0:a1], (x0 + a0, y0, a1 - a0, y1 - y0)


def seam(ink: np.ndarray, column: int, band: int) -> np.ndarray:
    """Top-to-bottom path (one x per row, moving at most one column a row) through the least
    ink, kept within ``band`` columns of ``column``: where touching digits part best."""
    h, w = ink.shape
    lo, hi = max(0, column - band), min(w, column + band + 1)
    cost = ink[:, lo:hi].astype(np.float64) * 10.0 + 1.0
    cost += 0.02 * np.abs(np.arange(lo, hi) - column)[None, :]  # prefer the candidate column
    acc = cost.copy()
    back = np.zeros(cost.shape, np.int8)
    n = hi - lo
    # (left, same, right) predecessors of each column in one preallocated array per row; ties
    # go to the first of them, as argmin does
    stack = np.full((3, n), np.inf)
    cols = np.arange(n)
    for y in range(1, h):
        prev = acc[y - 1]
        stack[0, 1:] = prev[:-1]
        stack[1] = prev
        stack[2, :-1] = prev[1:]
        k = stack.argmin(0)
        acc[y] += stack[k, cols]
        back[y] = k - 1
    xs = np.empty(h, np.int64)
    xs[-1] = int(acc[-1].argmin())
    for y in range(h - 1, 0, -1):
        xs[y - 1] = xs[y] + back[y, xs[y]]
    return xs + lo


def drop_fall(ink: np.ndarray, column: int, band: int) -> np.ndarray:
    """Top-down drop-fall path from ``column`` (one x per row): a drop falls through the
    background, slides down-left / down-right around ink, creeps sideways along a stroke's top,
    and cuts straight through where it is stuck; kept within ``band`` columns of ``column``.
    Flip ``ink`` vertically for the bottom-up variant."""
    h, w = ink.shape
    lo, hi = max(0, column - band), min(w - 1, column + band)
    xs = np.empty(h, np.int64)
    x = column
    if ink[0, x]:  # start on the nearest background of the first row, if any in the band
        free = np.nonzero(~ink[0, lo : hi + 1])[0] + lo
        if len(free):
            x = int(free[np.argmin(np.abs(free - column))])
    prev = -1  # where the drop came from along a row: it never creeps back
    for y in range(h):
        xs[y] = x
        if y == h - 1:
            break
        below = ink[y + 1]
        if not below[x]:
            prev = x
            continue
        if x - 1 >= lo and not below[x - 1]:
            prev, x = x, x - 1
            continue
        if x + 1 <= hi and not below[x + 1]:
            prev, x = x, x + 1
            continue
        # creep along the row to the nearest gap below (not back where we came from)
        moved = False
        for d in range(1, 4):
            for nx in (x - d, x + d):
                if (
                    lo <= nx <= hi
                    and nx != prev
                    and not below[nx]
                    and not ink[y, min(nx, x) : max(nx, x) + 1][1:-1].any()
                ):
                    prev, x, moved = x, nx, True
                    break
            if moved:
                break
        # stuck: cut through (x stays)
    return xs


def _paths(
    ink: np.ndarray, columns: list[int], more: bool = False
) -> list[tuple[str, int, np.ndarray]]:
    """Cut paths at each column; ``more``: drop-falls from ``DROP_STARTS`` beside them too."""
    h, w = ink.shape
    band = max(2, w // 8)
    out = []
    for c in columns:
        out.append(("straight", c, np.full(h, c)))
        out.append(("seam", c, seam(ink, c, band)))
        out.append(("drop", c, drop_fall(ink, c, band)))
        out.append(("rise", c, drop_fall(ink[::-1], c, band)[::-1]))
    # drops started beside each column too: where a drop starts decides which stroke it
    # slides around
    for c in columns if more else []:
        for f in DROP_STARTS:
            s = int(np.clip(c + round(f * band), 0, w - 1))
            out.append(("drop", c, drop_fall(ink, s, band)))
            out.append(("rise", c, drop_fall(ink[::-1], s, band)[::-1]))
    return out


def cuts(crop: np.ndarray, box: tuple[int, int, int, int], more: bool = False) -> list[Cut]:
    """Candidate two-way cuts of the digit crop at ``box`` (x, y, w, h in working pixels); a
    crop taller than ``CUT_HEIGHT`` is cut at that height (boxes and columns scaled back);
    ``more``: with the drop-falls from ``DROP_STARTS`` too."""
    h, w = crop.shape
    if crop.size == 0 or h < 4:
        return []
    f = min(1.0, CUT_HEIGHT / h)
    if f < 1.0:
        size = (max(1, round(w * f)), CUT_HEIGHT)
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return [_scaled(c, box, f, w) for c in _cuts(crop, more)]


def _scaled(cut: Cut, box: tuple[int, int, int, int], f: float, w: int) -> Cut:
    """A cut of a crop scaled by ``f`` in the working pixels of ``box`` (crop width ``w``)."""

    def back(b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        x0, y0 = round(b[0] / f), round(b[1] / f)
        x1, y1 = round((b[0] + b[2]) / f), round((b[1] + b[3]) / f)
        return box[0] + x0, box[1] + y0, min(w, x1) - x0, y1 - y0

    cut.boxes = (back(cut.boxes[0]), back(cut.boxes[1]))
    cut.column = min(w - 1, round(cut.column / f)) if f < 1.0 else cut.column
    return cut


def _cuts(crop: np.ndarray, more: bool) -> list[Cut]:
    """Candidate cuts of ``crop`` (boxes relative to it)."""
    h, w = crop.shape
    thr = 0.45 * float(crop.max())
    ink = crop > thr
    total = int(np.count_nonzero(ink))
    cols = np.arange(w)[None, :]
    out = []
    seen: set[tuple[bytes, int]] = set()
    seen_pieces: set[bytes] = set()
    for kind, c, path in _paths(ink, candidate_columns(crop), more):
        for ov in OVERLAPS:
            key = (path.tobytes(), ov)
            if key in seen:
                continue
            seen.add(key)
            left = _piece(np.where(cols < path[:, None] + ov, crop, 0).astype(np.uint8), 0, w)
            right = _piece(np.where(cols >= path[:, None] - ov, crop, 0).astype(np.uint8), 0, w)
            if left is None or right is None:
                continue
            ok = True
            for img, (_, _, _pw, ph) in (left, right):
                # each piece must look like a digit: a fair share of the height and of the ink
                if ph < 0.4 * h or np.count_nonzero(img > thr) < 0.1 * total:
                    ok = False
            if not ok:
                continue
            digits = np.stack([normalize_digit(left[0]), normalize_digit(right[0])])
            if not _new_pieces(digits, seen_pieces):
                continue  # the same two pieces as an earlier cut: they read the same
            boxes = (left[1], right[1])
            ink_cut = float(np.count_nonzero(ink[np.arange(h), np.clip(path, 0, w - 1)])) / h
            out.append(Cut(c, ink_cut, boxes, digits, kind, ov, (left[0], right[0])))
    return out


def _new_pieces(digits: np.ndarray, seen: set[bytes]) -> bool:
    """Whether these normalized pieces were not offered yet (and remember them)."""
    key = digits.tobytes()
    if key in seen:
        return False
    seen.add(key)
    return True


def wants_cut(box: tuple[int, int, int, int], confidence: float) -> bool:
    """Whether a segment is offered cuts: wide ones always, wide-ish ones when unsure, narrow
    ones (from ``ASPECT_MIN``) when the whole reads below ``NARROW_CONFIDENCE``."""
    _, _, w, h = box
    aspect = w / max(1, h)
    if aspect >= WIDE:
        return True
    if aspect >= FIT_ASPECT_MIN:
        return confidence < 0.9999
    return aspect >= ASPECT_MIN and confidence < NARROW_CONFIDENCE


#: below this probability of being two digits, a segment is not cut at all (a learned
#: decision brings its own, ``touching["accept"]["p_pair_min"]``)
P_PAIR_MIN = 0.9
#: weight of "each piece is one digit, not two" in choosing among cuts (see ``cut_rank``)
PIECE_PAIR_WEIGHT = 0.4


def cut_rank(
    p_left: np.ndarray, p_right: np.ndarray, pair_left: np.ndarray, pair_right: np.ndarray
) -> np.ndarray:
    """How good each candidate cut is: the log of the product of both pieces' top
    probabilities, plus ``PIECE_PAIR_WEIGHT`` times the log-probability (pair detector) that
    neither piece still holds two digits -- a piece that kept part of its neighbour often reads
    confidently as some other digit, but looks like a pair to the detector."""
    eps = 1e-6
    read = np.log(p_left + eps) + np.log(p_right + eps)
    single = np.log(1 - pair_left + eps) + np.log(1 - pair_right + eps)
    return read + PIECE_PAIR_WEIGHT * single


#: a piece's log-probability of being one whole digit counts down to this at most in ranking
#: (``rank_cuts``): the scorer was fitted on pairs of like heights, and doubted a small "1"
#: beside a bigger digit ("91" -> "97") without limit
VALID_FLOOR = float(np.log(0.2))
#: the scorer (fitted on digits of like heights) only moves a cut whose pieces are both at
#: least this share of the segment's height: a small digit beside a bigger one ("91" with a
#: small "1") is cut where ``cut_rank`` says
VALID_MIN_HEIGHT = 0.75


def rank_cuts(
    raw: np.ndarray, piece_pair: np.ndarray, valid: np.ndarray | None = None, weight: float = 0.0
) -> tuple[int, int, np.ndarray]:
    """(the best cut by ``cut_rank``, the cut to take, ``cut_rank`` of every cut), for the
    candidate cuts whose left and right pieces read ``raw`` in turn. The cut taken is the best
    by ``cut_rank`` plus ``weight`` times both pieces' log-probabilities of being one whole
    digit (``valid``: ``piece_validity``, each at least ``VALID_FLOOR``), when both its
    pieces read at ``MIN_PIECE_P``; otherwise (or without a piece scorer) the best by
    ``cut_rank`` (``choose_cut`` also keeps it when a piece is short: ``VALID_MIN_HEIGHT``).
    The split/keep decision reads the best by ``cut_rank`` as it was fitted on it: the scorer
    only changes which cut a segment the decision splits is split at."""
    top = np.asarray(raw).max(1)
    rank = cut_rank(top[0::2], top[1::2], piece_pair[0::2], piece_pair[1::2])
    b = int(np.argmax(rank))
    if valid is None or not weight or len(valid) != len(top):
        return b, b, rank
    v = np.maximum(valid, VALID_FLOOR)
    take = int(np.argmax(rank + weight * (v[0::2] + v[1::2])))
    if min(top[2 * take], top[2 * take + 1]) < MIN_PIECE_P:
        take = b
    return b, take, rank


#: a cut is taken when its score (log-odds, see ``split_score``) is above this
SPLIT_MARGIN = 3.5
#: and only when each piece reads at least this confidently (a split single digit often has
#: one half that reads as nothing in particular)
MIN_PIECE_P = 0.6
#: weight of the whole segment's own log-odds of being read right in ``split_score``
WHOLE_WEIGHT = 0.5


def split_score(p_pair: float, p_whole: float, p_left: float, p_right: float) -> float:
    """Log-odds that the cut reading is right rather than the whole: the pair detector's
    log-odds plus how confidently the classifier reads the two pieces, minus ``WHOLE_WEIGHT``
    times the log-odds of the whole's reading, minus ``SPLIT_MARGIN`` (-inf when a piece
    reads below ``MIN_PIECE_P``). The whole's log-odds
    (not its log-probability, which is ~0 for any confident reading) is what tells a single
    digit read at 0.998 from a pair read at 0.7 (median whole confidence: 0.98 for the wide
    singles the detector flags, 0.73 for touching pairs)."""
    eps = 1e-6
    logit = np.log(p_pair + eps) - np.log(1 - p_pair + eps)
    read = np.log(p_left + eps) + np.log(p_right + eps)
    whole = np.log(p_whole + eps) - np.log(1 - p_whole + eps)
    if min(p_left, p_right) < MIN_PIECE_P:
        return -np.inf
    return float(logit + read - WHOLE_WEIGHT * whole - SPLIT_MARGIN)


# -- "one digit or two touching?" ----------------------------------------------------------
def whole_features(
    digits28: np.ndarray, aspects: np.ndarray, feats: np.ndarray | None = None
) -> np.ndarray:
    """Features the pair detector reads: the classifier's features of the whole segment
    (normalized like one digit, so two digits come out as two small glyphs) and its aspect.
    ``feats``: those classifier features when the caller already has them."""
    from . import features as F

    a = np.asarray(aspects, np.float64)
    if feats is None:
        feats = F.extract(digits28)
    # filled in place (np.hstack's values without its float64 copy of the features)
    out = np.empty((len(a), feats.shape[1] + 2))
    out[:, :-2] = feats
    out[:, -2] = a
    out[:, -1] = np.log(a)
    return out


def pair_probability(
    params: dict[str, Any],
    digits28: np.ndarray,
    aspects: np.ndarray,
    feats: np.ndarray | None = None,
) -> np.ndarray:
    """P(two touching digits) for each wide segment, from the detector in ``params``
    (model metadata ``touching``: mean, scale, coef, intercept); ``feats`` as in
    ``whole_features``."""
    # standardized in place: the pieces of a batch of touching digits number thousands, and
    # each temporary of their 443 float64 features is tens of MB
    z = whole_features(digits28, aspects, feats)
    z -= np.asarray(params["mean"])
    z /= np.asarray(params["scale"])
    s = z @ np.asarray(params["coef"]) + float(params["intercept"])
    return 1.0 / (1.0 + np.exp(-s))


def fit_pair_detector(
    x: np.ndarray, n: int = 6000, seed: int = 0, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Fit the pair detector on ``n`` synthetic touching pairs and ``n`` single digits made
    from (x: raw MNIST-style digits): singles as 28x28 images, canvas redraws and pen-on-paper
    drawings (thin to thick pens, rotated); only segments at least ``FIT_ASPECT_MIN`` wide
    count."""
    from sklearn.linear_model import LogisticRegression

    from .evaluate import encode_png_batch
    from .pipeline import extract_bytes
    from .synth import canvas_png, pen_png, rotated_png, touching_png

    rng = np.random.default_rng(seed)
    feats_d, feats_a, labels = [], [], []

    def add(blob: bytes, label: int) -> None:
        ex = extract_bytes(blob)
        if len(ex.digits) != 1 or 0 not in ex.wide:
            return
        _, box = ex.wide[0]
        if box[2] < FIT_ASPECT_MIN * box[3]:
            return
        feats_d.append(ex.digits[0])
        feats_a.append(box[2] / max(1, box[3]))
        labels.append(label)

    for k in range(n):
        i, j = rng.integers(len(x), size=2)
        add(touching_png(x[i], x[j], rng, overlap=(0, 6)), 1)
        kind = k % 4
        if kind == 0:
            add(encode_png_batch(x[i : i + 1])[0], 0)
        elif kind == 1:
            add(canvas_png(x[i], rng), 0)
        elif kind == 2:
            add(pen_png(x[i], rng, float(rng.uniform(0.03, 0.28))), 0)
        else:
            add(rotated_png(x[i], rng), 0)
        if progress is not None and (k + 1) % 1000 == 0:
            progress(f"pair detector: {k + 1}/{n} samples")
    X = whole_features(np.stack(feats_d), np.array(feats_a))
    yv = np.array(labels)
    mean, scale = X.mean(0), X.std(0) + 1e-6
    clf = LogisticRegression(C=0.5, max_iter=3000).fit((X - mean) / scale, yv)
    return {
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "coef": [round(float(v), 6) for v in clf.coef_[0]],
        "intercept": float(clf.intercept_[0]),
        "n_pairs": int(yv.sum()),
        "n_singles": int(len(yv) - yv.sum()),
    }


# -- learned split/keep decision (``digits calibrate``: ``touching["accept"]``) ------------
def accept_features(
    p_pair: float,
    p_whole: float,
    raw: np.ndarray,
    piece_pair: np.ndarray,
    rank: float,
    cut: Cut,
    box: tuple[int, int, int, int],
) -> list[float]:
    """What the split/keep decision reads about a segment at ``box`` and its best-ranked
    ``cut`` (``raw``: its two pieces' probabilities; ``piece_pair``: the detector on them): the
    detector's log-odds on the whole, the whole's log-odds of being read right, how confidently
    the pieces read (sum and least of their top log-probabilities, each one's margin over its
    runner-up), whether a piece still looks like a pair, the ``cut_rank``, the segment's log
    aspect, and the cut's shape: overlap kept, distance from the centre, ink crossed, the
    pieces' share of the width, heights, log aspects and how much their boxes overlap."""
    eps = 1e-6
    srt = np.sort(np.asarray(raw, np.float64), 1)
    lp, rp = np.log(srt[0, -1] + eps), np.log(srt[1, -1] + eps)
    margins = [lp - np.log(srt[0, -2] + eps), rp - np.log(srt[1, -2] + eps)]
    singles = [float(np.log(1 - piece_pair[0] + eps)), float(np.log(1 - piece_pair[1] + eps))]
    logit = np.log(p_pair + eps) - np.log(1 - p_pair + eps)
    whole = np.log(p_whole + eps) - np.log(1 - p_whole + eps)
    w, h = max(1, box[2]), max(1, box[3])
    (ax, _, aw, ah), (bx, _, bw, bh) = cut.boxes
    aw, ah, bw, bh = max(1, aw), max(1, ah), max(1, bw), max(1, bh)
    shape = [float(cut.overlap > 0), (cut.column / w - 0.5) ** 2, cut.ink_at_cut]
    shape += [aw / (aw + bw), ah / h, bh / h, np.log(aw / ah), np.log(bw / bh), (ax + aw - bx) / w]
    head = [logit, whole, lp + rp, min(lp, rp), rank, np.log(w / h)]
    return [float(v) for v in head + margins + singles + shape]


def linear_score(params: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Log-odds of a standardized logistic model stored as mean, scale, coef, intercept."""
    z = (np.asarray(x, np.float64) - np.asarray(params["mean"])) / np.asarray(params["scale"])
    return z @ np.asarray(params["coef"]) + float(params["intercept"])


def choose_cut(
    params: dict[str, Any],
    cs: list[Cut],
    box: tuple[int, int, int, int],
    raw: np.ndarray,
    piece_pair: np.ndarray,
    p_pair: float,
    p_whole: float,
    valid: np.ndarray | None = None,
) -> int | None:
    """Index of the cut to take (``raw``: probabilities of the left and right piece of each
    cut in turn; ``piece_pair``: the detector on the same pieces), or None to keep the
    segment whole. The segment is split when the learned ``accept`` model in ``params``
    scores its best cut by ``cut_rank`` above its threshold (and both pieces read at
    ``MIN_PIECE_P``); without one, when ``split_score`` is positive. It is split at that cut,
    or, when ``params`` has a piece scorer (``pieces``), at the cut ``rank_cuts`` prefers once
    the pieces' ``valid`` log-probabilities of being whole digits are counted."""
    top = np.asarray(raw).max(1)
    weight = float(params.get("pieces", {}).get("weight", 0.0))
    b, take, rank = rank_cuts(raw, piece_pair, valid, weight)
    if min(cs[b].boxes[0][3], cs[b].boxes[1][3]) < VALID_MIN_HEIGHT * box[3]:
        take = b
    pl, pr = float(top[2 * b]), float(top[2 * b + 1])
    acc = params.get("accept")
    if acc is None:
        return take if split_score(p_pair, p_whole, pl, pr) > 0 else None
    if min(pl, pr) < MIN_PIECE_P:
        return None
    sl = slice(2 * b, 2 * b + 2)
    x = accept_features(p_pair, p_whole, raw[sl], piece_pair[sl], float(rank[b]), cs[b], box)
    return take if linear_score(acc, np.asarray([x]))[0] > float(acc["threshold"]) else None


# -- "is this piece one whole digit?" (``digits calibrate``: ``touching["pieces"]``) --------
def piece_features(
    space: np.ndarray,
    raw: np.ndarray,
    piece_pair: np.ndarray,
    cs: list[Cut],
    box: tuple[int, int, int, int],
) -> np.ndarray:
    """What the piece scorer reads about each piece of the cuts ``cs`` of the segment at
    ``box`` (left and right piece of each cut in turn): the piece's classifier features in the
    classifier's own PCA space (``space``), its log-probabilities of the ten classes
    (``raw``), the pair detector's log-odds on it, and its box: log aspect, share of the
    segment's height and width, which side, and whether the cut kept an overlap."""
    eps = 1e-6
    w_seg, h_seg = max(1, box[2]), max(1, box[3])
    geo = []
    for c in cs:
        for s in (0, 1):
            _, _, w, h = c.boxes[s]
            w, h = max(1, w), max(1, h)
            geo.append([np.log(w / h), h / h_seg, w / w_seg, float(s), float(c.overlap > 0)])
    pp = np.clip(np.asarray(piece_pair, np.float64), eps, 1 - eps)
    logit = (np.log(pp) - np.log(1 - pp))[:, None]
    return np.hstack(
        [
            np.asarray(space, np.float64),
            np.log(np.asarray(raw, np.float64) + eps),
            np.asarray(geo, np.float64).reshape(-1, 5),
            logit,
        ]
    )


def piece_validity(params: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Log-probability that each piece (``piece_features`` rows ``x``) is one whole digit,
    from the one-hidden-layer network in ``params`` (metadata ``touching["pieces"]``: mean,
    scale, w1, b1, w2, b2)."""
    z = (np.asarray(x, np.float64) - np.asarray(params["mean"])) / np.asarray(params["scale"])
    hid = np.maximum(z @ np.asarray(params["w1"]) + np.asarray(params["b1"]), 0.0)
    s = hid @ np.asarray(params["w2"]) + float(params["b2"])
    return -np.logaddexp(0.0, -s)
