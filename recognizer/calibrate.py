"""Calibrated confidence: temperature scaling, the review threshold, and the pair detector.

``confidence`` is the largest of the probabilities the pairwise-coupled SVM decision values
give; their sharpness is set by ``PROB_SCALE / temperature``. Where the SVC is unsure, the
network's softmax is mixed in (``Model.second_opinion``; its share and temperature were chosen
on the validation split). The SVC's temperature is fitted (least negative log-likelihood) on
held-out digits read through the full path, and the review
threshold is the lowest confidence at which the digits kept are still ``TARGET_PRECISION``
right on the same held-out data.

Held-out data: the model is trained on all of MNIST's training set, so calibration uses the
first half of MNIST's test set (as PNGs, as canvas redraws and as pen-on-paper drawings) and the
figures are reported on the second half, which calibration never sees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


@dataclass
class Scores:
    """Held-out digits read through the full path: the SVC's pairwise decision values, the
    network's logits (None for a model without one) and the true labels."""

    dec: np.ndarray
    logits: np.ndarray | None
    y: np.ndarray


def decisions(
    model: Model, blobs: list[bytes], y: np.ndarray, progress: Callable[[int], None] | None = None
) -> Scores:
    """The scores of the inputs read as exactly one digit, and their labels."""
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
        or [np.zeros((0, len(model._kernel.pi)))]
    )
    logits = model.network.logits(imgs) if model.network is not None else None
    return Scores(d, logits, np.asarray(labels))


def probabilities(model: Model, s: Scores, temperature: float) -> np.ndarray:
    """The model's probabilities at this temperature (the network's second opinion in)."""
    p = model._kernel.couple(s.dec * (PROB_SCALE / temperature))
    return p if s.logits is None else model.second_opinion(p, logits=s.logits)


def fit_temperature(model: Model, s: Scores) -> float:
    """The SVC's temperature: least negative log-likelihood of its own probabilities."""
    idx = np.searchsorted(model._kernel.classes, s.y)
    best, best_nll = 1.0, np.inf
    for t in TEMPERATURES:
        p = model._kernel.couple(s.dec * (PROB_SCALE / t))
        nll = -np.mean(np.log(np.clip(p[np.arange(len(idx)), idx], 1e-12, 1.0)))
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


def summary(model: Model, s: Scores, temperature: float) -> dict[str, Any]:
    idx = np.searchsorted(model._kernel.classes, s.y)
    p = probabilities(model, s, temperature)
    conf = p.max(1)
    correct = p.argmax(1) == idx
    return {"n": int(len(s.y)), "accuracy": float(correct.mean()), "ece": ece(conf, correct)}


# -- the split/keep decision for touching digits -------------------------------------------
def _single_blob(d: np.ndarray, kind: int, rng: np.random.Generator) -> bytes:
    """One digit the way single digits come in: canvas, pens from thin to thick, rotated, 16 px
    binarized, JPEG, in a printed box."""
    from . import synth

    if kind == 0:
        return synth.canvas_png(d, rng)
    if kind == 1:
        return synth.pen_png(d, rng, float(rng.uniform(0.03, 0.28)))
    if kind == 2:
        return synth.rotated_png(d, rng)
    if kind == 3:
        return synth.lowres_png(d, rng)
    if kind == 4:
        return synth.jpeg_bytes(d, rng)
    return synth.boxed_png(d, rng)


def touching_jobs(
    model: Model, blobs: list[bytes], truths: list[str], p_min: float
) -> list[tuple[Any, str]]:
    """(``split.Job``, true text) of each input read as one wide segment that the pair
    detector scores at ``p_min`` or more (its cuts and pieces read, as ``Model`` reads them)."""
    from .pipeline import extract_bytes

    params = model.metadata["touching"]
    found, texts = [], {}
    for b, t in zip(blobs, truths, strict=True):
        ex = extract_bytes(b)
        if len(ex.digits) != 1 or not ex.wide:
            continue
        labels, probs, raw, feats = model._predict(ex.digits, with_features=True)
        digit = model._digit(labels[0], probs[0], ex.boxes[0], ex.digits[0])
        found.append((ex, [digit], raw.max(1), feats))
        texts[id(ex)] = t
    return [(job, texts[id(job.extracted)]) for job in model._touching_jobs(found, params, p_min)]


def split_examples(
    model: Model, blobs: list[bytes], truths: list[str], p_min: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each input whose one segment (at least ``split.FIT_ASPECT_MIN`` wide) the pair
    detector scores at ``p_min`` or more:
    ``split.accept_features`` of its best-ranked cut (``split.cut_rank``), whether the cut it
    would be split at (``split.rank_cuts``) reads the text right, and whether both pieces of
    the best-ranked cut read at ``split.MIN_PIECE_P`` or more."""
    from . import split

    params = model.metadata["touching"]
    rows, right, sure = [], [], []
    for job, text in touching_jobs(model, blobs, truths, p_min):
        if job.box[2] < split.FIT_ASPECT_MIN * job.box[3]:
            continue  # fitted on the segments the detector was fitted on (see FIT_ASPECT_MIN)
        top = job.raw.max(1)
        weight = float(params.get("pieces", {}).get("weight", 0.0))
        best, take, rank = split.rank_cuts(job.raw, job.piece_pair, job.valid, weight)
        pl, pr = float(top[2 * best]), float(top[2 * best + 1])
        sl = slice(2 * best, 2 * best + 2)
        rows.append(
            split.accept_features(
                job.p_pair,
                job.p_whole,
                job.raw[sl],
                job.piece_pair[sl],
                rank[best],
                job.cuts[best],
                job.box,
            )
        )
        right.append(f"{job.labels[2 * take]}{job.labels[2 * take + 1]}" == text)
        sure.append(min(pl, pr) >= split.MIN_PIECE_P)
    x = np.asarray(rows, np.float64).reshape(len(rows), -1) if rows else np.zeros((0, 0))
    return x, np.asarray(right, bool), np.asarray(sure, bool)


#: weight of a single digit against a pair in fitting the split decision
SINGLE_WEIGHT = 4.0
#: the decision's threshold splits at most this share of single digits (fit inputs)
FALSE_SPLIT_SHARE = 0.0005


def fit_split_decision(
    model: Model,
    x: np.ndarray,
    y: np.ndarray,
    n: int = 3000,
    seed: int = 7,
    p_min: float = 0.5,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fit the learned split/keep decision (``split.choose_cut``; metadata
    ``touching["accept"]``) on ``n`` touching pairs (overlap 0-6 px) and ``2 n`` single digits
    (``_single_blob``) made from (x, y) -- MNIST *train* digits, never the ones the figures
    are reported on. A logistic model of "two digits, cut right" (pairs whose best cut reads
    right) against single digits, then the threshold that splits at most
    ``FALSE_SPLIT_SHARE`` of all the single inputs."""
    from sklearn.linear_model import LogisticRegression

    from .synth import touching_png

    rng = np.random.default_rng(seed)
    pairs, ptext, singles, stext = [], [], [], []
    for k in range(n):
        i, j = rng.integers(len(x), size=2)
        pairs.append(touching_png(x[i], x[j], rng, overlap=(0, 6)))
        ptext.append(f"{y[i]}{y[j]}")
        for s in range(2):
            d = int(rng.integers(len(x)))
            singles.append(_single_blob(x[d], (2 * k + s) % 6, rng))
            stext.append(str(y[d]))
    if progress is not None:
        progress(f"split decision: reading {len(pairs)} pairs and {len(singles)} singles")
    xp, rp, sp = split_examples(model, pairs, ptext, p_min)
    xs, _, ss = split_examples(model, singles, stext, p_min)
    pos, neg = xp[rp & sp], xs[ss]
    X = np.vstack([pos, neg])
    mean, scale = X.mean(0), X.std(0) + 1e-6
    w = np.r_[np.ones(len(pos)), np.full(len(neg), SINGLE_WEIGHT)]
    yv = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    clf = LogisticRegression(C=1.0, max_iter=5000).fit((X - mean) / scale, yv, sample_weight=w)
    params = {
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "coef": [round(float(v), 6) for v in clf.coef_[0]],
        "intercept": round(float(clf.intercept_[0]), 6),
    }
    from .split import linear_score

    s_neg = np.sort(linear_score(params, neg))[::-1]
    k = int(FALSE_SPLIT_SHARE * len(singles))
    threshold = float(s_neg[k]) if k < len(s_neg) else -np.inf
    split_right = (linear_score(params, xp) > threshold) & rp & sp
    params.update(
        threshold=round(max(threshold, 0.0), 6),
        p_pair_min=p_min,
        n_pairs=len(pairs),
        n_singles=len(singles),
        fit_pairs_split_right=round(float(split_right.sum() / max(1, len(pairs))), 4),
        fit_pairs_best_cut_right=round(float((rp & sp).sum() / max(1, len(pairs))), 4),
        fit_singles_split=round(float((s_neg > threshold).sum() / max(1, len(singles))), 5),
    )
    return params


# -- the piece scorer for ranking cuts (``touching["pieces"]``) -----------------------------
#: weight of the pieces' log-probabilities of being whole digits in ranking the cuts
#: (``split.rank_cuts``), chosen on MNIST train-digit pairs (bench/RESULTS.md)
PIECE_WEIGHT = 0.5
#: hidden units of the piece scorer
PIECE_HIDDEN = 32


def piece_examples(
    model: Model, blobs: list[bytes], truths: list[str], p_min: float
) -> tuple[np.ndarray, np.ndarray]:
    """``split.piece_features`` of the pieces of every candidate cut of the touching pairs
    ``blobs`` (texts ``truths``), and their labels: 1 for both pieces of a cut that reads the
    text right, 0 for a piece that reads another digit than the one on its side; the pieces of
    wrong cuts that read their side's digit are left out."""
    from . import split

    rows, labels = [], []
    for job, text in touching_jobs(model, blobs, truths, p_min):
        if len(text) != 2:
            continue
        x = split.piece_features(
            model._kernel.space(job.feats), job.raw, job.piece_pair, job.cuts, job.box
        )
        lab = job.labels
        for c in range(len(job.cuts)):
            good = f"{lab[2 * c]}{lab[2 * c + 1]}" == text
            for s in (0, 1):
                if good or lab[2 * c + s] != int(text[s]):
                    rows.append(x[2 * c + s])
                    labels.append(int(good))
    d = rows[0].shape[0] if rows else 0
    return np.asarray(rows, np.float64).reshape(len(rows), d), np.asarray(labels, np.int64)


def fit_piece_scorer(
    model: Model,
    x: np.ndarray,
    y: np.ndarray,
    n: int = 2500,
    seed: int = 100,
    p_min: float = 0.5,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fit the piece scorer (``split.piece_validity``; metadata ``touching["pieces"]``) on the
    pieces of every candidate cut of ``n`` touching pairs (overlap 0-6 px) made from (x, y) --
    MNIST *train* digits: a network with one hidden layer of ``PIECE_HIDDEN`` units telling
    the pieces of right cuts from pieces that read as another digit (a piece holding part of
    its neighbour, a digit cut in two)."""
    from sklearn.neural_network import MLPClassifier

    from .synth import touching_png

    rng = np.random.default_rng(seed)
    pairs, texts = [], []
    for _ in range(n):
        i, j = rng.integers(len(x), size=2)
        pairs.append(touching_png(x[i], x[j], rng, overlap=(0, 6)))
        texts.append(f"{y[i]}{y[j]}")
    if progress is not None:
        progress(f"piece scorer: reading the cuts of {n} pairs")
    X, yv = piece_examples(model, pairs, texts, p_min)
    mean, scale = X.mean(0), X.std(0) + 1e-6
    clf = MLPClassifier(
        hidden_layer_sizes=(PIECE_HIDDEN,),
        alpha=1e-3,
        max_iter=200,
        early_stopping=True,
        random_state=0,
    ).fit((X - mean) / scale, yv)
    if progress is not None:
        progress(f"piece scorer: {len(yv)} pieces, {int(yv.sum())} of right cuts")

    def r(a: np.ndarray) -> list[Any]:
        return np.round(np.asarray(a, np.float64), 6).tolist()

    return {
        "mean": r(mean),
        "scale": r(scale),
        "w1": r(clf.coefs_[0]),
        "b1": r(clf.intercepts_[0]),
        "w2": r(clf.coefs_[1][:, 0]),
        "b2": round(float(clf.intercepts_[1][0]), 6),
        "weight": PIECE_WEIGHT,
        "n_pairs": n,
        "n_pieces": int(len(yv)),
        "n_right_pieces": int(yv.sum()),
        "validation_accuracy": round(float(clf.best_validation_score_), 4),
    }
