"""Benchmarks.  ``python -m bench`` runs all of them; ``python -m bench.recognizer`` just one.

They measure the recognizer as the workers run it: one BLAS thread (the Procfile, the Dockerfile
and docker-compose set ``OPENBLAS_NUM_THREADS=1``), set here before anything imports numpy
unless the environment says otherwise. With two BLAS threads, the small products of a worker's
batches are slower, not faster, whenever the other core is busy (28x28 PNGs: 800 against
2,333 img/s with another process running)."""

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
