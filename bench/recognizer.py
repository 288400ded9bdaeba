"""Recognizer benchmark: throughput, peak memory and (optionally) accuracy targets.

python -m bench.recognizer               # speed (1 and 2 extraction threads) + memory
python -m bench.recognizer --accuracy    # + MNIST-PNG, canvas, 4-digit and paper conditions
python -m bench.recognizer --accuracy --limit 500 --no-speed   # quick accuracy only

Paper conditions (recognizer/synth.py ``paper_sample``): boxed, underline, comb (8 boxes, some
empty), touching pairs, rotated +-15 deg, JPEG q25, 16 px binarized, thin and thick pens,
unevenly lit paper (a shadow), dashed or dotted boxes and underlines, squared paper, 2-3 rows
of 2-5 digits on one page, a card on a desk, circled digits, shaded fields, hyphenated groups,
three touching digits, strings in a continental hand (flagged 1s, crossed 7s), strings with
slashed zeros; each is
scored as "the whole string read right" (rows in reading order). ``python -m bench.unseen``
probes further conditions.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _throughput(model, blobs: list[bytes], batch: int) -> float:
    model.recognize_many(blobs[:batch])  # warm-up
    t = time.perf_counter()
    for s in range(0, len(blobs), batch):
        model.recognize_many(blobs[s : s + batch])
    return len(blobs) / (time.perf_counter() - t)


def paper_accuracy(model, condition: str, x, y, n: int, seed: int = 12) -> tuple[float, str]:
    """Share of ``n`` synthetic ``condition`` inputs whose whole text is read right, and a note
    (extra digits read, for the form-line conditions)."""
    from recognizer.synth import paper_sample

    rng = np.random.default_rng([seed, sum(map(ord, condition))])
    ok = extra = 0
    for s in range(0, n, 64):
        blobs, truth = [], []
        for _ in range(min(64, n - s)):
            b, t = paper_sample(condition, x, y, rng)
            blobs.append(b)
            truth.append(t)
        for r, t in zip(model.recognize_many(blobs), truth, strict=True):
            ok += r.text == t
            extra += len(r.text) > len(t)
    return ok / max(1, n), f"too many digits read in {extra}"


def scan_png(x, rng=None) -> bytes:
    """A 2,000x1,000 scan with a row of 10 boxed digits (for the speed benchmark)."""
    import cv2

    from recognizer.synth import _lay, _paper, _to_png, pen_digit

    rng = rng if rng is not None else np.random.default_rng(3)
    paper = _paper(1000, 2000, rng)
    lines = np.zeros(paper.shape, np.float32)
    for i in range(10):
        x0 = 150 + i * 170
        cv2.rectangle(lines, (x0, 400), (x0 + 140, 580), 1.0, 2)
    _lay(paper, lines, 0, 0, 80.0)
    for i in range(10):
        cov = pen_digit(x[i], rng, height=120.0)
        _lay(paper, cov, 150 + i * 170 + 70 - cov.shape[1] // 2, 430, 30.0)
    return _to_png(paper)


def _scan_rate(model, x) -> float:
    blob = scan_png(x)
    model.recognize_many([blob])
    t = time.perf_counter()
    for _ in range(10):
        model.recognize_many([blob])
    return 10 / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.recognizer", description=__doc__)
    ap.add_argument(
        "--data", default=None, help="MNIST .npz [default: $DIGITS_MNIST, else the fetched copy]"
    )
    ap.add_argument("--model", default=None, help="model path [default: shipped model]")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--n-small", type=int, default=6400, help="28x28 PNGs to time")
    ap.add_argument("--n-canvas", type=int, default=640, help="400x400 canvas PNGs to time")
    ap.add_argument("--accuracy", action="store_true", help="also measure the accuracy targets")
    ap.add_argument("--n-acc", type=int, default=10000, help="test digits for accuracy")
    ap.add_argument("--n-multi", type=int, default=1000, help="4-digit canvases for accuracy")
    ap.add_argument("--n-paper", type=int, default=1000, help="samples per paper condition")
    ap.add_argument(
        "--limit", type=int, default=None, help="cap every accuracy sample count (quick runs)"
    )
    ap.add_argument(
        "--paper-seed",
        type=int,
        default=12,
        help="seed of the paper-condition inputs (another seed: a held-out check) [default: 12]",
    )
    ap.add_argument(
        "--paper-digits",
        choices=("test", "train"),
        default="test",
        help="MNIST digits the paper conditions are built from [default: test]",
    )
    ap.add_argument(
        "--paper-only", action="store_true", help="with --accuracy: only the paper conditions"
    )
    ap.add_argument("--no-speed", action="store_true", help="skip the throughput runs")
    ap.add_argument(
        "--threads",
        default="1,2",
        help="extraction threads to time, comma-separated (Model.extract_threads) [default: 1,2]",
    )
    ap.add_argument(
        "--conditions", default=None, help="comma-separated paper conditions [default: all]"
    )
    args = ap.parse_args(argv)
    threads = [max(1, int(v)) for v in args.threads.split(",") if v.strip()]
    if args.limit:
        args.n_acc = min(args.n_acc, args.limit)
        args.n_multi = min(args.n_multi, args.limit)
        args.n_paper = min(args.n_paper, args.limit)

    import cv2

    from recognizer import load_model
    from recognizer.evaluate import encode_png_batch
    from recognizer.synth import PAPER_CONDITIONS, canvas_png, multi_digit_canvas

    rss0 = peak_rss_mb()
    t = time.perf_counter()
    model = load_model(args.model)
    load_s = time.perf_counter() - t
    rss_model = peak_rss_mb()
    from recognizer.datasets import DataError, find_mnist

    try:
        d = np.load(find_mnist(args.data))
    except DataError as exc:
        sys.exit(f"bench.recognizer: {exc}")
    x, y = d["x_test"], d["y_test"]
    rng = np.random.default_rng(2026)

    rows = []
    if not args.no_speed:
        small = encode_png_batch(x[np.arange(args.n_small) % len(x)])
        canv = [canvas_png(x[i % len(x)], rng) for i in range(args.n_canvas)]
        for n in threads:
            model.extract_threads = n
            label = "" if n == 1 else f", {n} threads"
            rows.append((f"28x28 PNG{label}", _throughput(model, small, args.batch)))
            rows.append((f"400x400 canvas PNG{label}", _throughput(model, canv, args.batch)))
            rows.append((f"2000x1000 scan, 10 boxes{label}", _scan_rate(model, x)))
        model.extract_threads = 1

    from recognizer import DEFAULT_MODEL_PATH

    mpath = args.model or DEFAULT_MODEL_PATH
    print(
        f"model {model.version} ({os.path.getsize(mpath) / 1e6:.1f} MB file) "
        f"loaded in {load_s:.2f}s"
    )
    print(f"cv2 threads {cv2.getNumThreads()}, batch {args.batch}, one process")
    print(f"{'input':<37}{'images/s':>10}")
    for name, ips in rows:
        print(f"{name:<37}{ips:>10.0f}" + (f"   ({1000 / ips:.1f} ms each)" if ips < 200 else ""))

    rss_speed = peak_rss_mb()
    if args.accuracy and not args.paper_only:
        n = min(args.n_acc, len(x))
        preds = np.full(n, -1)
        for s in range(0, n, 256):
            for i, r in enumerate(model.recognize_many(encode_png_batch(x[s : min(n, s + 256)]))):
                if len(r.digits) == 1:
                    preds[s + i] = r.digits[0].label
        acc_png = float((preds == y[:n]).mean())
        rng = np.random.default_rng(7)
        preds = np.full(n, -1)
        for s in range(0, n, 256):
            blobs = [canvas_png(x[i], rng) for i in range(s, min(n, s + 256))]
            for i, r in enumerate(model.recognize_many(blobs)):
                if len(r.digits) == 1:
                    preds[s + i] = r.digits[0].label
        acc_canvas = float((preds == y[:n]).mean())
        rng = np.random.default_rng(11)
        ok = 0
        for s in range(0, args.n_multi, 64):
            blobs, truth = [], []
            for _ in range(min(64, args.n_multi - s)):
                idx = rng.choice(len(x), 4, replace=False)
                png, _boxes = multi_digit_canvas(x[idx], rng)
                blobs.append(png)
                truth.append("".join(str(int(v)) for v in y[idx]))
            texts = [r.text for r in model.recognize_many(blobs)]
            ok += sum(t == u for t, u in zip(texts, truth, strict=True))
        print(f"{'accuracy target':<34}{'measured':>10}")
        print(f"{f'MNIST test as PNG (n={n})':<34}{acc_png * 100:>9.2f}%")
        print(f"{f'canvas 400x400 RGBA (n={n})':<34}{acc_canvas * 100:>9.2f}%")
        print(f"{f'4-digit string (n={args.n_multi})':<34}{ok / args.n_multi * 100:>9.2f}%")
    if args.accuracy:
        px, py = (x, y) if args.paper_digits == "test" else (d["x_train"], d["y_train"])
        conds = args.conditions.split(",") if args.conditions else list(PAPER_CONDITIONS)
        for cond in conds:
            acc, extra = paper_accuracy(model, cond, px, py, args.n_paper, args.paper_seed)
            print(f"{f'{cond} (n={args.n_paper})':<34}{acc * 100:>9.2f}%   {extra}")
    print(
        f"peak RSS: {rss_speed:.0f} MB after the speed runs (before loading the model "
        f"{rss0:.0f} MB, after load {rss_model:.0f} MB)"
    )
    if args.accuracy:
        print(f"peak RSS after the accuracy runs: {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
