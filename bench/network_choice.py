"""Choose the second-opinion network on the validation split, with the SVC fitted once.

    .venv/bin/python -m bench.network_choice prepare                 # ~10 min: SVC, caches
    .venv/bin/python -m bench.network_choice train E --channels 24 48 --epochs 10
    .venv/bin/python -m bench.network_choice train D --channels 24 48 --epochs 10 --no-distort
    .venv/bin/python -m bench.network_choice score E                 # a grid of mixtures
    .venv/bin/python -m bench.network_choice score E+F               # two networks averaged

``bench.validation`` retrains the SVC for every recipe. A network variant only needs the
SVC's probabilities, so ``prepare`` fits the shipped recipe's SVC once on MNIST train
0-49,999 and stores three things in ``--dir``: its probabilities of every validation input
(at the shipped temperature, as served), the 200,000 normalized training images the network
learns from, and the validation cache. ``train`` fits a network (``recognizer.convnet.train``)
and stores its logits of every input. ``score`` prints the strings read right per condition
for the network alone and for mixtures (below, weight, temperature) as
``Model.second_opinion`` makes them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from bench.validation import ALL_CONDITIONS, CONDITIONS, STRETCHED, TRAIN_END, build_cache

#: the mixtures ``score`` tries: (below, weight, temperature); (2, 1, 1) is the network alone
MIXES = ((2.0, 1.0, 1.0), (0.99, 0.4, 2.0), (0.99, 0.5, 1.0), (0.99, 0.5, 2.0), (0.99, 0.6, 1.0))


def _mnist(data: str | None) -> tuple[np.ndarray, np.ndarray]:
    from recognizer.datasets import find_mnist

    with np.load(find_mnist(data)) as d:
        return d["x_train"], d["y_train"].astype(np.int64)


def prepare(args: argparse.Namespace) -> None:
    from recognizer import load_model
    from recognizer.train import train_model, training_images

    x, y = _mnist(args.data)
    model = train_model(x[:TRAIN_END], y[:TRAIN_END], augment=1, redraw=1, paper=1, progress=print)
    model.metadata["temperature"] = load_model().temperature  # the shipped one, as served
    build_cache(x[TRAIN_END:], y[TRAIN_END:], args.cache)
    with np.load(args.cache) as f:
        cache = dict(f)
    probs = {c: model.predict_many(cache[c + "_d"])[1] for c in ALL_CONDITIONS}
    np.savez(os.path.join(args.dir, "svc-probs.npz"), **probs)
    sets = training_images(
        x[:TRAIN_END], np.random.default_rng(0), augment=1, redraw=1, paper=1, say=print
    )
    np.savez(
        os.path.join(args.dir, "train-normalized.npz"),
        x=np.concatenate(sets),
        y=np.tile(y[:TRAIN_END], len(sets)),
    )


def train(args: argparse.Namespace) -> None:
    from recognizer import convnet

    with np.load(os.path.join(args.dir, "train-normalized.npz")) as d:
        x, y = d["x"], d["y"]
    t0 = time.time()
    net = convnet.train(
        x,
        y,
        epochs=args.epochs,
        channels=tuple(args.channels),
        hidden=args.hidden,
        distort=args.distort,
        progress=print,
    )
    print(f"{args.tag}: trained in {time.time() - t0:.0f}s")
    np.savez(os.path.join(args.dir, f"net-{args.tag}.npz"), **net.arrays())
    with np.load(args.cache) as f:
        logits = {c: net.logits(f[c + "_d"]) for c in ALL_CONDITIONS}
    np.savez(os.path.join(args.dir, f"logits-{args.tag}.npz"), **logits)


def _log_softmax_mean(tags: list[str], directory: str) -> dict[str, np.ndarray]:
    """The networks' opinions averaged (mean log-softmax: their geometric mean)."""
    from recognizer.convnet import softmax

    parts = []
    for tag in tags:
        with np.load(os.path.join(directory, f"logits-{tag}.npz")) as f:
            parts.append({c: np.log(softmax(f[c].astype(np.float64))) for c in ALL_CONDITIONS})
    return {c: np.mean([p[c] for p in parts], 0) for c in ALL_CONDITIONS}


def score(args: argparse.Namespace) -> None:
    from recognizer.convnet import softmax

    logits = _log_softmax_mean(args.tag.split("+"), args.dir)
    with np.load(args.cache) as f:
        cache = dict(f)
    with np.load(os.path.join(args.dir, "svc-probs.npz")) as f:
        svc = dict(f)
    for below, weight, temperature in MIXES:
        res: dict[str, float] = {}
        for c in ALL_CONDITIONS:
            p = svc[c].copy()
            unsure = p.max(1) < below
            net = softmax(logits[c][unsure] / temperature)
            p[unsure] = (1 - weight) * p[unsure] + weight * net
            labels, n, truth = p.argmax(1), cache[c + "_n"], cache[c + "_t"]
            ends = np.cumsum(n)
            spans = zip(ends - n, ends, truth, strict=True)
            ok = sum("".join(map(str, labels[s:e])) == t for s, e, t in spans)
            res[c] = round(100 * ok / len(truth), 2)
        res["paper"] = round(float(np.mean([res[c] for c in CONDITIONS[2:]])), 2)
        res["stretched"] = round(float(np.mean([res[c] for c in STRETCHED])), 2)
        res["all"] = round(float(np.mean([res[c] for c in CONDITIONS])), 2)
        print(json.dumps({"net": args.tag, "mix": [below, weight, temperature], **res}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.network_choice", description=__doc__)
    ap.add_argument("--data", default=None)
    ap.add_argument("--dir", default="var/network-choice")
    ap.add_argument("--cache", default="var/validation-cache.npz")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare")
    t = sub.add_parser("train")
    t.add_argument("tag")
    t.add_argument("--channels", type=int, nargs=2, default=[24, 48])
    t.add_argument("--hidden", type=int, default=128)
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--no-distort", dest="distort", action="store_false")
    s = sub.add_parser("score")
    s.add_argument("tag", help="a trained network's tag, or tags joined by + (averaged)")
    args = ap.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    {"prepare": prepare, "train": train, "score": score}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
