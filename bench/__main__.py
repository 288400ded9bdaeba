"""Run every benchmark: ``python -m bench``.  Add other benchmarks to BENCHES."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from bench import recognizer, service

    benches = [("recognizer", recognizer.main), ("service", service.main)]
    rc = 0
    for name, fn in benches:
        print(f"== {name} ==", flush=True)
        rc |= int(fn(argv) or 0)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
