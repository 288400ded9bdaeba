"""Instruction counts of ``recognize_many`` under callgrind (when wall time is too noisy).

    valgrind --tool=callgrind --collect-atstart=no '--toggle-collect=*qsort*' \\
        --callgrind-out-file=/tmp/cg.canvas .venv/bin/python -m bench.instructions canvas
    grep '^summary' /tmp/cg.canvas          # instructions inside the measured call only

The measured call runs inside libc's ``qsort`` (a two-element sort whose comparison is the
workload), so ``--toggle-collect`` counts it and nothing else: imports, model loading and the
inputs' synthesis are left out. Kinds: ``small`` (256 MNIST test PNGs, one call), ``canvas``
(64 400x400 canvases, one call), ``scan`` (the 2,000x1,000 boxed scan, three calls). Divide by
the image count. OpenBLAS's thread code (``exec_blas``, ``inner_thread``) is inflated at random
by valgrind's serialized threads: subtract it (``callgrind_annotate``) or set
``OPENBLAS_NUM_THREADS=1``.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

import numpy as np


def in_qsort(fn: Callable[[], object]) -> None:
    """Run ``fn`` once from inside libc's qsort (the callgrind toggle)."""
    libc = ctypes.CDLL("libc.so.6")
    compare = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

    def once(_a: int | None, _b: int | None) -> int:
        fn()
        return 0

    arr = (ctypes.c_int * 2)(1, 2)
    libc.qsort(arr, 2, ctypes.sizeof(ctypes.c_int), compare(once))


def inputs(kind: str) -> tuple[list[bytes], int]:
    """(blobs, calls) of a workload."""
    from recognizer.datasets import find_mnist
    from recognizer.evaluate import encode_png_batch
    from recognizer.synth import canvas_png

    with np.load(find_mnist(None)) as d:
        x = d["x_test"]
    if kind == "small":
        return encode_png_batch(x[:256]), 1
    if kind == "canvas":
        rng = np.random.default_rng(2026)
        return [canvas_png(x[i], rng) for i in range(64)], 1
    if kind == "scan":
        from bench.recognizer import scan_png

        return [scan_png(x)], 3
    raise SystemExit(f"unknown kind {kind!r}: small, canvas or scan")


def main(argv: list[str]) -> int:
    from recognizer import load_model

    kind = argv[0] if argv else "canvas"
    blobs, calls = inputs(kind)
    model = load_model()
    model.recognize_many(blobs[:8])  # warm-up, not counted
    in_qsort(lambda: [model.recognize_many(blobs) for _ in range(calls)])
    print(f"{kind}: {len(blobs) * calls} images read inside qsort")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
