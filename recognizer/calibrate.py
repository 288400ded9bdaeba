"""Calibrated confidence: temperature scaling, the review threshold, and the pair detector.

``confidence`` is the largest of the probabilities the pairwise-coupled SVM decision values
give; their sharpness is set by ``PROB_SCALE / temperature``. The temperature is fitted (least
negative log-likelihood) on held-out digits read through the full path, and the review
threshold is the lowest confidence at which the digits kept are still ``TARGET_PRECISION``
right on the same held-out data.

Held-out data: the model is trained on all of MNIST's training set, so calibration uses the
first half of MNIST's test set (as PNGs, as canvas redraws and as pen-on-paper drawings) and the
figures are reported on the second half, which calibration never sees.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import features as F
from .model import PROB_SCALE, Model

TARGET_PRECISION = 0.999
TEMPERATURES = np.exp(np.linspace(np.log(0.1), np.log(10.0), 81))


def heldout_blobs(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[list[bytes], np.ndarray]:
    """Each digit as a 28x28 PNG, as a canvas redraw and as a pen drawing on paper."""
    from .evaluate import encode_png_batch
    from .synth import canvas_png, pen_png

    rng = np.random.default_rng(seed)
    blobs = list(encode_png_batch(x))
    blobs += [canvas_png(d, rng) for d in x]
    blobs += [pen_png(d, rng, float(rng.uniform(0.04, 0.25))) for d in x]
    return blobs, np.tile(np.asarray(y), 3)


def decisions(
    model: Model, blobs: list[bytes], y: np.ndarray, progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise decision values of the inputs read as exactly one digit, and their labels."""
    decs, labels = [], []
    for s in range(0, len(blobs), 256):
        recs = model.recognize_many(blobs[s : s + 256])
        for r, t in zip(recs, y[s : s + 256], strict=True):
            if len(r.digits) == 1:
                decs.append(r.digits[0].normalized)
                labels.append(int(t))
        if progress is not None:
            progress(len(recs))
    imgs = np.stack(decs) if decs else np.zeros((0, 28, 28), np.uint8)
    d = np.concatenate(
        [model._kernel.decision(F.extract(imgs[i : i + 512])) for i in range(0, len(imgs), 512)]
    )
    return d, np.asarray(labels)


def probabilities(model: Model, dec: np.ndarray, temperature: float) -> np.ndarray:
    return model._kernel.couple(dec * (PROB_SCALE / temperature))


def fit_temperature(model: Model, dec: np.ndarray, y: np.ndarray) -> float:
    classes = model._kernel.classes
    idx = np.searchsorted(classes, y)
    best, best_nll = 1.0, np.inf
    for t in TEMPERATURES:
        p = probabilities(model, dec, float(t))
        nll = -np.mean(np.log(np.clip(p[np.arange(len(y)), idx], 1e-12, 1.0)))
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def ece(conf: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error: mean |accuracy - confidence| over equal-width bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def review_threshold(
    conf: np.ndarray, correct: np.ndarray, target: float = TARGET_PRECISION
) -> tuple[float, float]:
    """(threshold, share kept): the lowest confidence at which the answers at or above it are
    ``target`` right."""
    order = np.argsort(-conf)
    c, ok = conf[order], correct[order]
    prec = np.cumsum(ok) / np.arange(1, len(ok) + 1)
    good = np.nonzero(prec >= target)[0]
    if len(good) == 0:
        return 1.0, 0.0
    k = int(good.max())
    return float(c[k]), float((k + 1) / len(c))


def summary(model: Model, dec: np.ndarray, y: np.ndarray, temperature: float) -> dict:
    idx = np.searchsorted(model._kernel.classes, y)
    p = probabilities(model, dec, temperature)
    conf = p.max(1)
    correct = p.argmax(1) == idx
    return {"n": int(len(y)), "accuracy": float(correct.mean()), "ece": ece(conf, correct)}
