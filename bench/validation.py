"""Choose training recipes on a validation split of MNIST *train*, never on MNIST test.

    .venv/bin/python -m bench.validation [--augment 1 --redraw 1 --paper 1 --vsv 0 --C 10 --pca 120]
    .venv/bin/python -m bench.validation --model models/      # score an existing model

Trains (``recognizer.train.train_model``, the same code as ``digits train``) on train images
0-49,999 and scores on images 50,000-59,999 built the ways users' inputs come: the 10,000 as
28x28 PNGs, 3,000 as canvas drawings, and 1,500 of each single-digit paper condition (300 combs)
from ``synth.paper_sample``, and 3,000 in each of four styles of other datasets that stretch a
digit to fill a square frame without keeping its aspect (``STRETCHED``: 16x16 grey dark on
light as USPS, 16x16 binarized as Semeion, 28x28, and stretched part of the way; their mean is
``stretched_mean``, ``paper_mean`` is the paper conditions'), and 1,500 strings of 3-5 digits
in a continental hand (``continental``: flagged 1s, crossed 7s) and with slashed zeros
(``slashed_zero``). The inputs are segmented and
normalized once and cached (``--cache``, completed when conditions are added), so a score is
the classifier's alone: touching pairs and the learned split decision are not in it (use
``python -m bench.recognizer --accuracy --paper-digits train``).
A string is right when exactly its digits are read, in order. An existing model trained on all
60,000 train images has seen the validation digits: its score is only a sanity check.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from recognizer.cli import CONVNET_EPOCHS, WRITER_FORMS

CONDITIONS = (
    "png",
    "canvas",
    "boxed",
    "underline",
    "comb",
    "rotated",
    "jpeg25",
    "lowres16",
    "thin_pen",
    "thick_pen",
)
#: other datasets' digits stretched to fill a square frame, aspect not kept (USPS: 16x16 grey,
#: Semeion: 16x16 binary; a 28x28 one; one stretched only part of the way, on a margin)
STRETCHED = ("fill16", "fill16bin", "fill28", "fill_part")
#: strings in a continental European hand (every "1" flagged, every "7" crossed), and strings
#: with every "0" slashed
WRITERS = ("continental", "slashed_zero")
ALL_CONDITIONS = CONDITIONS + STRETCHED + WRITERS
TRAIN_END = 50000


def _ink_crop(x: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(x > 30)
    return x[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def stretched_png(c: str, x: np.ndarray, rng: np.random.Generator) -> bytes:
    """One digit of the stretched condition ``c`` (see ``STRETCHED``) as a PNG."""
    import cv2

    crop = _ink_crop(x)
    if c == "fill16":  # grey, dark on light
        img = 255 - cv2.resize(crop, (16, 16), interpolation=cv2.INTER_AREA)
    elif c == "fill16bin":  # binarized at a random level, white on black
        d = cv2.resize(crop, (16, 16), interpolation=cv2.INTER_AREA)
        img = np.where(d > rng.uniform(60, 140), 255, 0).astype(np.uint8)
    elif c == "fill28":
        img = cv2.resize(crop, (28, 28), interpolation=cv2.INTER_AREA)
    else:  # fill_part: width taken 40-80% of the way to a square, 2x size, on a 6 px margin
        h, w = crop.shape
        t = w + (max(h, w) - w) * rng.uniform(0.4, 0.8)
        d = cv2.resize(crop, (round(2 * t), 2 * h), interpolation=cv2.INTER_LINEAR)
        img = 255 - cv2.copyMakeBorder(d, 6, 6, 6, 6, cv2.BORDER_CONSTANT, value=0)
    return cv2.imencode(".png", img)[1].tobytes()


def build_cache(xv: np.ndarray, yv: np.ndarray, path: str) -> None:
    """Segment and normalize every condition's inputs once; a cache missing some conditions
    (made before they were added) is completed."""
    from recognizer.evaluate import encode_png_batch
    from recognizer.pipeline import extract_bytes
    from recognizer.synth import canvas_png, paper_sample

    out: dict[str, np.ndarray] = {}
    added = False
    if os.path.exists(path):
        with np.load(path) as f:
            out = dict(f)
    for c in ALL_CONDITIONS:
        if c + "_d" in out:
            continue
        added = True
        if c in STRETCHED:
            rng = np.random.default_rng([21, sum(map(ord, c))])
            blobs = [stretched_png(c, xv[i], rng) for i in range(3000)]
            truth = [str(v) for v in yv[:3000]]
        elif c == "png":
            blobs, truth = encode_png_batch(xv), [str(v) for v in yv]
        elif c == "canvas":
            rng = np.random.default_rng(7)
            blobs = [canvas_png(xv[i], rng) for i in range(3000)]
            truth = [str(v) for v in yv[:3000]]
        else:
            rng = np.random.default_rng([12, sum(map(ord, c))])
            n = 300 if c == "comb" else 1500
            pairs = [paper_sample(c, xv, yv, rng) for _ in range(n)]
            blobs, truth = [b for b, _ in pairs], [t for _, t in pairs]
        digits = [extract_bytes(b).digits for b in blobs]
        out[c + "_d"] = np.concatenate(digits)
        out[c + "_n"] = np.array([len(d) for d in digits])
        out[c + "_t"] = np.array(truth)
    if added:
        np.savez(path, **out)


def score(model, cache: dict[str, np.ndarray]) -> dict[str, float]:
    res = {}
    for c in ALL_CONDITIONS:
        labels, _ = model.predict_many(cache[c + "_d"])
        n, truth = cache[c + "_n"], cache[c + "_t"]
        ends = np.cumsum(n)
        spans = zip(ends - n, ends, truth, strict=True)
        ok = sum("".join(map(str, labels[s:e])) == t for s, e, t in spans)
        res[c] = round(ok / len(truth), 4)
    res["paper_mean"] = round(float(np.mean([res[c] for c in CONDITIONS[2:]])), 4)
    res["stretched_mean"] = round(float(np.mean([res[c] for c in STRETCHED])), 4)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.validation", description=__doc__)
    ap.add_argument("--data", default=None)
    ap.add_argument("--cache", default="var/validation-cache.npz")
    ap.add_argument("--model", default=None, help="score this model instead of training one")
    ap.add_argument("--augment", type=int, default=1)
    ap.add_argument("--redraw", type=int, default=1)
    ap.add_argument("--paper", type=int, default=1)
    ap.add_argument("--stretch", type=float, default=0.0)
    ap.add_argument("--stretch-copies", type=int, default=0)
    ap.add_argument("--vsv", type=int, default=0)
    ap.add_argument("--vsv-keep-all", action="store_true")
    ap.add_argument("--writer-forms", dest="forms", type=float, default=WRITER_FORMS)
    ap.add_argument("--C", type=float, default=10.0)
    ap.add_argument("--pca", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--convnet-epochs", type=int, default=CONVNET_EPOCHS)
    args = ap.parse_args(argv)

    from recognizer.datasets import find_mnist

    with np.load(find_mnist(args.data)) as d:
        x, y = d["x_train"], d["y_train"].astype(np.int64)
    os.makedirs(os.path.dirname(args.cache) or ".", exist_ok=True)
    build_cache(x[TRAIN_END:], y[TRAIN_END:], args.cache)
    with np.load(args.cache) as f:
        cache = dict(f)
    t0 = time.time()
    if args.model:
        from recognizer import load_model

        model = load_model(args.model)
        recipe: dict[str, object] = {"model": args.model}
    else:
        from recognizer.train import train_model

        recipe = {k: v for k, v in vars(args).items() if k not in ("data", "cache", "model")}
        model = train_model(x[:TRAIN_END], y[:TRAIN_END], progress=print, **recipe)  # type: ignore[arg-type]
        recipe["support_vectors"] = model.metadata["n_support_vectors"]
        recipe["train_seconds"] = round(time.time() - t0)
    print(json.dumps({**recipe, **score(model, cache)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
