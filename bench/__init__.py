"""Benchmarks.  ``python -m bench`` runs all of them; ``python -m bench.recognizer`` just one."""
