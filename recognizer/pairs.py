"""The pair reader: a network that reads a wide segment as one digit, two touching digits or
three.

Cutting two touching digits apart and reading the pieces fails where no cut is clean: the
pieces keep a bit of the neighbour or lose a bit of their own stroke (bench/RESULTS.md: a
wrong cut is the biggest share of the touching pairs read wrong). The pair reader looks at
the whole segment instead -- its crop, strokes brought to one width, fitted into 28 x 56
(``pair_input``) -- and gives three softmax heads: the left digit (10 classes), the right
one (10 classes, plus ``NONE``: "there is no second digit, the segment is one wide digit")
and the middle one (10 classes, plus ``NONE``: "there are fewer than three digits"). Readers
trained before the middle head have only the first two, and read no segment as three.
It is a ``convnet.ConvNet`` of that shape, trained (``fit``) on touching pairs, runs of three
and wide single digits made from MNIST *train* digits with ``synth`` (on canvas and on paper,
thin to thick pens, in the paper conditions, with a hyphen stuck on), each put through the real
pipeline to the same crop the service sees (``examples``). How the model uses its reading:
``decide``, ``combined`` and, for three, ``holds_three`` and ``three_cut``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import cv2
import numpy as np

from . import convnet
from .normalize import stroke_normalized

SIZE = (28, 56)
#: the right head's extra class: the segment holds one digit
NONE = 10
#: the left digit, the right digit (or ``NONE``) and the middle digit of three (or ``NONE``)
HEADS = (10, 11, 11)
#: the convolutions' widths: half the second opinion's work per input of twice its size
#: (it reads most wide segments of a drawing, so its cost shows in the canvas rate)
CHANNELS = (16, 32)
#: the digits' height inside the frame; wider segments are fitted to the frame's width
INNER = (24, 52)
#: working height of the crop for the stroke width, and the width strokes are brought to
#: there (MNIST's median at ``normalize.WORK`` = 64 px, scaled)
WORK_H = 40
TARGET_WIDTH = 8.3 * WORK_H / 64


def pair_input(crop: np.ndarray) -> np.ndarray:
    """A white-on-black crop of a segment -> (28, 56) uint8: rescaled to a height of
    ``WORK_H``, strokes grown or shrunk to ``TARGET_WIDTH``, then fitted into ``INNER``
    (aspect kept) in the frame's centre."""
    out = np.zeros(SIZE, np.uint8)
    h, w = crop.shape
    if h == 0 or w == 0 or cv2.countNonZero(crop) == 0:
        return out
    soft = stroke_normalized(crop, min(WORK_H / h, 4 * WORK_H / w), TARGET_WIDTH)
    if soft.size == 0:
        return out
    bh, bw = soft.shape
    f = min(INNER[0] / bh, INNER[1] / bw)
    fw, fh = max(1, round(bw * f)), max(1, round(bh * f))
    small = cv2.resize(soft, (fw, fh), interpolation=cv2.INTER_AREA)
    oy, ox = (SIZE[0] - fh) // 2, (SIZE[1] - fw) // 2
    out[oy : oy + fh, ox : ox + fw] = np.minimum(small * 255.0 + 0.5, 255).astype(np.uint8)
    return out


#: one reading of a segment: the left head (10), the right head (11) and, for a reader with
#: one, the middle head (11: ``NONE`` when the segment holds fewer than three digits)
Reading = tuple[np.ndarray, ...]


def heads_of(arrays: dict[str, np.ndarray]) -> tuple[int, ...]:
    """The heads of a stored reader, from its output layer: left, right and middle, or only
    left and right (readers trained before the middle head)."""
    bias = np.asarray(arrays.get("b4", ()))
    return HEADS if bias.ndim and bias.shape[-1] == sum(HEADS) else HEADS[:2]


def read(net: convnet.ConvNet, crops: list[np.ndarray]) -> list[Reading]:
    """Each crop's reading: the left head's (10), the right head's (11) and, when ``net``
    has one, the middle head's (11) probabilities."""
    if not crops:
        return []
    heads = net.probabilities(np.stack([pair_input(c) for c in crops]))
    return [tuple(h[k].astype(np.float64) for h in heads) for k in range(len(crops))]


def three(reading: Reading | None) -> float:
    """The reader's probability that the segment holds three digits (0 without a middle
    head)."""
    if reading is None or len(reading) < 3:
        return 0.0
    return 1.0 - float(reading[2][NONE])


def holds_three(settings: dict[str, Any], reading: Reading | None) -> bool:
    """Whether the segment is read as three touching digits (``THREE``)."""
    return three(reading) >= _setting(settings, "three", THREE)


# -- how its reading is used (``Model._split_touching``; settings in the metadata) ---------
#: the reader is asked about every wide segment whose whole reads below this (the detector
#: only about the ones ``split.wants_cut``: a "16" can be as narrow as a wide "6")
READ_BELOW = 0.9999
#: a cut the split decision takes is undone when the reader's best guess is one digit: on
#: MNIST train digits the reader never saw, 0.5 split fewer wide single digits than 0.98 did
#: and no more touching pairs wrongly (bench/RESULTS.md, 2026-11-28)
VETO = 0.5
#: a segment the split decision keeps whole is cut (at its best cut) when the reader is this
#: sure it holds two digits ...
RESCUE = 0.99
#: ... and reads each of them at least this confidently
CONFIDENT = 0.5
#: the reader is not asked at all where the pair detector (an independent opinion) gives
#: less than this: most wide single digits of a drawing (0.84 asked per drawing -> 0.09, the
#: canvas rate 650 -> 820 img/s) and digits with a bit of a line stuck to them
DETECTOR_MIN = 0.01
#: a segment the reader gives at least this of holding three digits (three is its best
#: guess) is cut twice: at the cut that leaves one digit alone (``three_cut``), then its
#: piece holding two (``Model._split_touching``)
THREE = 0.5
#: the reader's head's weight (a power) beside the piece's own probabilities
WEIGHT = 2.0
#: two neighbouring segments are one digit in pieces (``pipeline.Joined``) when the
#: classifier reads their joined crop at least this confidently ...
JOIN_READ = 0.9
#: ... and the reader is this sure it is one digit, ...
JOIN = 0.9
#: ... or, where the pieces read unsure (the less sure of the two under ``JOIN_PIECES``),
#: only leans to one digit (a pen that skips: its pieces are no digits the reader has seen,
#: and two digits written close each read as themselves)
JOIN_LEANS = 0.5
JOIN_PIECES = 0.8


def _setting(settings: dict[str, Any], key: str, default: float) -> float:
    return float(settings.get(key, default))


def _heads(reader: Reading) -> tuple[float, np.ndarray, np.ndarray]:
    """(probability of one digit, the left digit's and the right digit's probabilities given
    two)."""
    left, right = reader[0], reader[1]
    one = float(right[NONE])
    return one, left, right[:NONE] / max(1e-12, float(right[:NONE].sum()))


def _middle(reader: Reading) -> np.ndarray:
    """The middle head's digit probabilities, given three digits."""
    return reader[2][:NONE] / max(1e-12, float(reader[2][:NONE].sum()))


def detector_min(settings: dict[str, Any]) -> float:
    """The pair detector's probability below which the reader is not asked at all."""
    return _setting(settings, "detector_min", DETECTOR_MIN)


def asks(settings: dict[str, Any], confidence: float) -> bool:
    """Whether the reader is asked about a wide segment whose whole reads at
    ``confidence`` (``READ_BELOW``)."""
    return confidence < _setting(settings, "read_below", READ_BELOW)


def join_read(settings: dict[str, Any]) -> float:
    """How confidently two neighbouring segments must read joined for the reader to be asked
    whether they are one digit in pieces (``JOIN_READ``)."""
    return _setting(settings, "join_read", JOIN_READ)


def is_one(settings: dict[str, Any], p_one: float, pieces_read: float) -> bool:
    """Whether two neighbouring segments whose joined crop the reader gives ``p_one`` of
    being one digit, and the less sure of which reads at ``pieces_read``, are one digit in
    pieces (``JOIN``; ``JOIN_LEANS`` where the pieces read under ``JOIN_PIECES``)."""
    if p_one >= _setting(settings, "join", JOIN):
        return True
    unsure = pieces_read < _setting(settings, "join_pieces", JOIN_PIECES)
    return unsure and p_one >= _setting(settings, "join_leans", JOIN_LEANS)


def may_rescue(settings: dict[str, Any], reader: Reading | None, detector: float) -> bool:
    """Whether the reader would have a segment cut that the split decision keeps whole (see
    ``decide``); ``detector``: the pair detector's probability of the segment, which must
    be at least ``DETECTOR_MIN``."""
    if reader is None or detector < detector_min(settings):
        return False
    one, left, right = _heads(reader)
    sure = _setting(settings, "confident", CONFIDENT)
    rescue = _setting(settings, "rescue", RESCUE)
    return 1 - one >= rescue and float(left.max()) >= sure and float(right.max()) >= sure


def three_cut(reading: Reading, raw: np.ndarray, piece_pair: np.ndarray) -> tuple[int, int]:
    """For a segment read as three digits: the cut that leaves one of them alone, and the
    side (0 left, 1 right) of its piece that holds the other two. ``raw``: the classifier's
    probabilities of each candidate cut's left and right piece in turn; ``piece_pair``: the
    pair detector's on the same pieces. Each cut is scored both ways: how well the lone
    piece agrees with the reader's head of its end digit, times the detector's probability
    that the other piece holds two."""
    _, left, right = _heads(reading)
    eps = 1e-9
    lone_left = np.log(raw[0::2] @ left + eps) + np.log(piece_pair[1::2] + eps)
    lone_right = np.log(raw[1::2] @ right + eps) + np.log(piece_pair[0::2] + eps)
    k = int(np.argmax(np.concatenate([lone_left, lone_right])))
    n = len(lone_left)
    return (k, 1) if k < n else (k - n, 0)


def decide(settings: dict[str, Any], job: Any, b: int | None) -> int | None:
    """The cut to take of ``job`` (a ``split.Job`` with its ``reader`` heads), given the
    split decision's ``b``: undone when the reader takes it for one digit (``VETO``); when it
    is sure of two, both read confidently (``may_rescue``), the best cut by ``cut_rank``."""
    one, _, _ = _heads(job.reader)
    if b is not None:
        return None if one >= _setting(settings, "veto", VETO) else b
    if may_rescue(settings, job.reader, job.detector):
        from .split import rank_cuts

        return rank_cuts(job.raw, job.piece_pair)[0]
    return None


def combined(
    settings: dict[str, Any], p: np.ndarray, heads: Sequence[tuple[Reading, int]]
) -> np.ndarray:
    """A piece's probabilities ``p`` pooled with ``heads``: (reading, side) of the same
    digit, the side 0 for the left head, 1 the right, 2 the middle of three. Two opinions of
    one digit, one from the piece as cut, one from the whole (which a bad cut does not
    spoil). A log-linear pool, each head weighted ``weight`` times the piece: the label is
    the argmax of ``p * head ** weight``, and the weights sum to 1 so that opinions agreeing
    are not read as more certain than either (the confidence stays on the scale the review
    threshold was calibrated on). A digit of a piece cut again has two heads: its piece's
    reading and the whole segment's (three digits). No heads: ``p`` as it is."""
    if not heads:
        return p
    w = _setting(settings, "weight", WEIGHT)
    log = np.log(np.maximum(p, 1e-12))
    for reading, side in heads:
        _, left, right = _heads(reading)
        head = _middle(reading) if side == 2 else (left, right)[side]
        log = log + w * np.log(np.maximum(head, 1e-9))
    log /= 1 + w * len(heads)
    out = np.exp(log - log.max())
    return out / out.sum()


# -- training data ---------------------------------------------------------------------------
#: share of the examples that are touching pairs (the rest, but for ``THREE_SHARE``: wide
#: single digits)
PAIR_SHARE = 0.52
#: share of three touching digits (labels: left, right, and the middle head's digit)
THREE_SHARE = 0.13
PENS = (0.04, 0.22)
OVERLAPS = (1, 8)


def _wide_crops(data: bytes) -> list[np.ndarray]:
    from .pipeline import extract_bytes

    try:
        ex = extract_bytes(data)
    except Exception:  # noqa: BLE001 - a sample the pipeline cannot read is skipped
        return []
    return [crop for crop, _ in ex.wide.values()] if len(ex.boxes) == 1 else []


#: single digits as paper brings them besides plain ink: the reader must not take a digit
#: with a bit of a line, a loop or noise left on it for two
SINGLE_CONDITIONS = (
    "boxed",
    "underline",
    "rotated",
    "jpeg25",
    "lowres16",
    "shadow",
    "dashed",
    "grid",
    "circled",
)


def _single(x: np.ndarray, y: np.ndarray, i: int, rng: np.random.Generator) -> tuple[bytes, str]:
    """One single digit: a third drawn on a canvas, a third in ink with a pen of ``PENS``, a
    third in one of ``SINGLE_CONDITIONS`` or with a hyphen stuck to it."""
    from . import synth

    kind = rng.random()
    if kind < 1 / 3:
        return synth.canvas_png(x[i], rng), str(int(y[i]))
    if kind < 2 / 3:
        return synth.pen_png(x[i], rng, float(rng.uniform(*PENS))), str(int(y[i]))
    k = int(rng.integers(len(SINGLE_CONDITIONS) + 1))
    if k == len(SINGLE_CONDITIONS):
        return synth.dash_touching_png(x[i], rng), str(int(y[i]))
    return synth.paper_sample(SINGLE_CONDITIONS[k], x, y, rng)


def _examples(args: tuple[np.ndarray, np.ndarray, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``n`` examples (inputs, (left, right, middle) labels) from digits ``x``/``y`` (one
    process)."""
    from . import synth

    x, y, n, seed = args
    rng = np.random.default_rng(seed)
    xs: list[np.ndarray] = []
    ys: list[tuple[int, int, int]] = []
    while len(xs) < n:
        i, j = (int(v) for v in rng.integers(len(x), size=2))
        kind = rng.random()
        if kind < PAIR_SHARE:
            png = synth.touching_png(x[i], x[j], rng, OVERLAPS, PENS)
            label = (int(y[i]), int(y[j]), NONE)
        elif kind < PAIR_SHARE + THREE_SHARE:
            k = int(rng.integers(len(x)))
            png = synth.touching_run_png([x[i], x[j], x[k]], rng, OVERLAPS, PENS)
            label = (int(y[i]), int(y[k]), int(y[j]))
        else:
            png, text = _single(x, y, i, rng)
            label = (int(text), NONE, NONE)
        for crop in _wide_crops(png):
            xs.append(pair_input(crop))
            ys.append(label)
    return np.stack(xs), np.array(ys, np.int64)


#: the examples are made in this many parts, each from its own seed (so the set does not
#: depend on the number of processes that make them)
PARTS = 2


def examples(
    x: np.ndarray, y: np.ndarray, n: int, seed: int = 0, workers: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` training examples made from digits ``x``/``y`` (MNIST train), in ``PARTS`` parts
    on ``workers`` processes (default: one per core): touching pairs (``PAIR_SHARE``), runs
    of three (``THREE_SHARE``) and single digits whose segment is wide enough to be asked
    (``split.ASPECT_MIN``)."""
    import os

    sizes = [n // PARTS + (k < n % PARTS) for k in range(PARTS)]
    jobs = [(x, y, m, seed * 1000 + k) for k, m in enumerate(sizes)]
    with ProcessPoolExecutor(workers or len(os.sched_getaffinity(0))) as pool:
        out = list(pool.map(_examples, jobs))
    return np.concatenate([a for a, _ in out]), np.concatenate([b for _, b in out])


def fit(
    xs: np.ndarray,
    ys: np.ndarray,
    epochs: int = 6,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> convnet.ConvNet:
    """The pair reader trained on ``examples``."""
    return convnet.train(
        xs, ys, epochs=epochs, channels=CHANNELS, seed=seed, heads=HEADS, progress=progress
    )


def settings(net: convnet.ConvNet, n_examples: int, epochs: int, n_digits: int) -> dict[str, Any]:
    """The metadata block of a trained reader: how its reading is used, and what it is."""
    return {
        "veto": VETO,
        "rescue": RESCUE,
        "confident": CONFIDENT,
        "weight": WEIGHT,
        "detector_min": DETECTOR_MIN,
        "read_below": READ_BELOW,
        "three": THREE,
        "description": net.describe() + f"; input {SIZE[0]}x{SIZE[1]}, heads 10 + 11 + 11",
        "training": (
            f"{n_examples} examples ({PAIR_SHARE:.0%} touching pairs, {THREE_SHARE:.0%} runs "
            f"of three touching digits, the rest wide single digits) made from {n_digits} "
            f"MNIST train digits, {epochs} epochs; " + convnet.recipe()
        ),
    }


def text(net: convnet.ConvNet) -> str:
    """The reader in a sentence (the model page shows it)."""
    return (
        f"a network that reads a wide segment as one digit, two touching digits or three "
        f"({net.describe()}; "
        f"input {SIZE[0]}x{SIZE[1]}); its reading is multiplied into the cut pieces' and "
        "decides, where it is sure, whether the segment is cut"
    )
