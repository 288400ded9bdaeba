"""Did a change alter any reading? Dump what the recognizer reads on a fixed input set, compare.

    .venv/bin/python -m bench.fingerprint dump /tmp/before.json     # on the old code
    .venv/bin/python -m bench.fingerprint dump /tmp/after.json      # on the new code
    .venv/bin/python -m bench.fingerprint compare /tmp/before.json /tmp/after.json

Inputs (seeded): 1,000 MNIST test PNGs, 300 canvases, 100 four-digit canvases, 60 of each
paper condition and the 2,000x1,000 boxed scan, read in batches of 64. ``compare`` lists every
text, box or error that differs and the largest probability difference.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def inputs() -> dict[str, list[bytes]]:
    from bench.recognizer import scan_png
    from recognizer.datasets import find_mnist
    from recognizer.evaluate import encode_png_batch
    from recognizer.synth import PAPER_CONDITIONS, canvas_png, multi_digit_canvas, paper_sample

    with np.load(find_mnist(None)) as d:
        x, y = d["x_test"], d["y_test"]
    out = {"mnist": encode_png_batch(x[:1000])}
    rng = np.random.default_rng(7)
    out["canvas"] = [canvas_png(x[i], rng) for i in range(300)]
    rng = np.random.default_rng(11)
    out["multi"] = [
        multi_digit_canvas(x[rng.choice(len(x), 4, replace=False)], rng)[0] for _ in range(100)
    ]
    for c in PAPER_CONDITIONS:
        rng = np.random.default_rng([12, sum(map(ord, c))])
        out[f"paper_{c}"] = [paper_sample(c, x, y, rng)[0] for _ in range(60)]
    out["scan"] = [scan_png(x)]
    return out


def dump(path: str) -> None:
    from recognizer import load_model

    model = load_model()
    res = {}
    for name, blobs in inputs().items():
        readings = []
        for s in range(0, len(blobs), 64):
            readings += model.recognize_many(blobs[s : s + 64])
        res[name] = [r.to_dict() for r in readings]
    with open(path, "w") as f:
        json.dump(res, f)


def compare(a_path: str, b_path: str) -> int:
    """Number of differing readings (texts, boxes, errors); prints them."""
    with open(a_path) as fa, open(b_path) as fb:
        a, b = json.load(fa), json.load(fb)
    bad, worst, n = 0, 0.0, 0
    for name, items in a.items():
        for i, (ra, rb) in enumerate(zip(items, b[name], strict=True)):
            n += 1
            same = ra["text"] == rb["text"] and ra["error_code"] == rb["error_code"]
            if not same or [d["box"] for d in ra["digits"]] != [d["box"] for d in rb["digits"]]:
                print(f"differs: {name}[{i}] {ra['text']!r} {rb['text']!r}")
                bad += 1
                continue
            for da, db in zip(ra["digits"], rb["digits"], strict=True):
                diff = np.abs(np.subtract(da["probabilities"], db["probabilities"])).max()
                worst = max(worst, float(diff))
    print(f"{n} readings, {bad} differ, largest probability difference {worst:.3g}")
    return bad


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "dump":
        dump(argv[1])
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        return 1 if compare(argv[1], argv[2]) else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
