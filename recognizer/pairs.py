"""The pair reader: a network that reads a wide segment as two touching digits, or as one.

Cutting two touching digits apart and reading the pieces fails where no cut is clean: the
pieces keep a bit of the neighbour or lose a bit of their own stroke (bench/RESULTS.md: a
wrong cut is the biggest share of the touching pairs read wrong). The pair reader looks at
the whole segment instead -- its crop, strokes brought to one width, fitted into 28 x 56
(``pair_input``) -- and gives two softmax heads: the left digit (10 classes) and the right
one (10 classes, plus ``NONE``: "there is no second digit, the segment is one wide digit").
It is a ``convnet.ConvNet`` of that shape, trained (``fit``) on touching pairs and wide
single digits made from MNIST *train* digits with ``synth`` (on canvas and on paper, thin to
thick pens, in the paper conditions, with a hyphen stuck on), each put through the real
pipeline to the same crop the service sees (``examples``). How the model uses its reading:
``decide`` and ``combined``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import cv2
import numpy as np

from . import convnet
from .normalize import stroke_normalized

SIZE = (28, 56)
#: the right head's extra class: the segment holds one digit
NONE = 10
HEADS = (10, 11)
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


def read(net: convnet.ConvNet, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The left head's (N, 10) and the right head's (N, 11) probabilities of ``crops``."""
    if not crops:
        return np.zeros((0, 10)), np.zeros((0, 11))
    left, right = net.probabilities(np.stack([pair_input(c) for c in crops]))
    return left.astype(np.float64), right.astype(np.float64)


# -- how its reading is used (``Model._split_touching``; settings in the metadata) ---------
#: the reader is asked about every wide segment whose whole reads below this (the detector
#: only about the ones ``split.wants_cut``: a "16" can be as narrow as a wide "6")
READ_BELOW = 0.9999
#: a cut the split decision takes is undone when the reader is this sure the segment is one
VETO = 0.98
#: a segment the split decision keeps whole is cut (at its best cut) when the reader is this
#: sure it holds two digits ...
RESCUE = 0.99
#: ... and reads each of them at least this confidently
CONFIDENT = 0.5
#: the reader is not asked at all where the pair detector (an independent opinion) gives
#: less than this: most wide single digits of a drawing (0.84 asked per drawing -> 0.09, the
#: canvas rate 650 -> 820 img/s) and digits with a bit of a line stuck to them
DETECTOR_MIN = 0.01
#: the reader's head's weight (a power) beside the piece's own probabilities
WEIGHT = 2.0
#: two neighbouring segments are one digit in pieces (``pipeline.Joined``) when the
#: classifier reads their joined crop at least this confidently ...
JOIN_READ = 0.9
#: ... and the reader is this sure it is one digit
JOIN = 0.9


def _setting(settings: dict[str, Any], key: str, default: float) -> float:
    return float(settings.get(key, default))


def _heads(reader: tuple[np.ndarray, np.ndarray]) -> tuple[float, np.ndarray, np.ndarray]:
    """(probability of one digit, the left digit's and the right digit's probabilities given
    two)."""
    left, right = reader
    one = float(right[NONE])
    return one, left, right[:NONE] / max(1e-12, float(right[:NONE].sum()))


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


def is_one(settings: dict[str, Any], p_one: float) -> bool:
    """Whether two neighbouring segments whose joined crop the reader gives ``p_one`` of
    being one digit are one digit in pieces (``JOIN``)."""
    return p_one >= _setting(settings, "join", JOIN)


def may_rescue(
    settings: dict[str, Any], reader: tuple[np.ndarray, np.ndarray] | None, detector: float
) -> bool:
    """Whether the reader would have a segment cut that the split decision keeps whole (see
    ``decide``); ``detector``: the pair detector's probability of the segment, which must
    be at least ``DETECTOR_MIN``."""
    if reader is None or detector < detector_min(settings):
        return False
    one, left, right = _heads(reader)
    sure = _setting(settings, "confident", CONFIDENT)
    rescue = _setting(settings, "rescue", RESCUE)
    return 1 - one >= rescue and float(left.max()) >= sure and float(right.max()) >= sure


def decide(settings: dict[str, Any], job: Any, b: int | None) -> int | None:
    """The cut to take of ``job`` (a ``split.Job`` with its ``reader`` heads), given the
    split decision's ``b``: undone when the reader is sure of one digit (``VETO``); when it
    is sure of two, both read confidently (``may_rescue``), the best cut by ``cut_rank``."""
    one, _, _ = _heads(job.reader)
    if b is not None:
        return None if one >= _setting(settings, "veto", VETO) else b
    if may_rescue(settings, job.reader, job.detector):
        from .split import rank_cuts

        return rank_cuts(job.raw, job.piece_pair)[0]
    return None


def combined(
    settings: dict[str, Any], reader: tuple[np.ndarray, np.ndarray], side: int, p: np.ndarray
) -> np.ndarray:
    """A piece's probabilities ``p`` pooled with the reader's head of its ``side`` (0 left,
    1 right): two opinions of the same digit, one from the piece as cut, one from the whole
    (which a bad cut does not spoil). A log-linear pool, the head weighted ``weight`` times
    the piece: the label is the argmax of ``p * head ** weight``, and the weights sum to 1 so
    that two opinions agreeing are not read as more certain than either (the confidence
    stays on the scale the review threshold was calibrated on)."""
    _, left, right = _heads(reader)
    head = left if side == 0 else right
    w = _setting(settings, "weight", WEIGHT)
    log = np.log(np.maximum(p, 1e-12)) + w * np.log(np.maximum(head, 1e-9))
    log /= 1 + w
    out = np.exp(log - log.max())
    return out / out.sum()


# -- training data ---------------------------------------------------------------------------
#: share of the examples that are touching pairs (the rest: wide single digits)
PAIR_SHARE = 0.6
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
    """``n`` examples (inputs, (left, right) labels) from digits ``x``/``y`` (one process)."""
    from . import synth

    x, y, n, seed = args
    rng = np.random.default_rng(seed)
    xs: list[np.ndarray] = []
    ys: list[tuple[int, int]] = []
    while len(xs) < n:
        i, j = (int(v) for v in rng.integers(len(x), size=2))
        if rng.random() < PAIR_SHARE:
            png = synth.touching_png(x[i], x[j], rng, OVERLAPS, PENS)
            label = (int(y[i]), int(y[j]))
        else:
            png, text = _single(x, y, i, rng)
            label = (int(text), NONE)
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
    on ``workers`` processes (default: one per core): touching pairs (``PAIR_SHARE``) and
    single digits whose segment is wide enough to be asked (``split.ASPECT_MIN``)."""
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
        "description": net.describe() + f"; input {SIZE[0]}x{SIZE[1]}, heads 10 + 11",
        "training": (
            f"{n_examples} examples ({PAIR_SHARE:.0%} touching pairs, the rest wide single "
            f"digits) made from {n_digits} MNIST train digits, {epochs} epochs; " + convnet.recipe()
        ),
    }


def text(net: convnet.ConvNet) -> str:
    """The reader in a sentence (the model page shows it)."""
    return (
        f"a network that reads a wide segment as two touching digits or one ({net.describe()}; "
        f"input {SIZE[0]}x{SIZE[1]}); its reading is multiplied into the cut pieces' and "
        "decides, where it is sure, whether the segment is cut"
    )
