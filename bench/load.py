"""Load benchmark (issue 11): many clients at once, on loopback, against the stack `make run` runs.

    python -m bench.load [--clients 20] [--seconds 60] [--batches 2] [--batch-size 5000]

1. Starts the stack as `make run` does (scripts.run: gunicorn, the interactive and bulk workers,
   beat, Flower, a private Redis) on a temp SQLite file and free ports.
2. Warm-up: 10 s of the same mix with one batch, then the RSS of every process is taken
   ("before"; the cold figures right after start are printed too).
3. Load: `--clients` threads, each submitting a 400x400 canvas drawing (as the draw page does)
   and polling it (`GET ?wait=10`) until it is done, for `--seconds`; meanwhile `--batches`
   uploads of `--batch-size` MNIST PNGs (one zip each), polled until done.
4. Reports: errors (any non-2xx answer, exception or a drawing/batch not done right), p50/p99 of
   submit-to-result and of single requests, and each process's RSS after vs before.

Bounded in time and count, loopback only; the stack is stopped at the end.
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import requests

from bench.service import Stack, drawings, mnist_pngs, model_path, role_of, zip_of

WARMUP_SECONDS = 10


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    results_ms: list[float] = field(default_factory=list)  # submit -> result, per drawing
    requests_ms: list[float] = field(default_factory=list)  # every single HTTP request
    errors: list[str] = field(default_factory=list)
    drawings: int = 0

    def request(self, ms: float) -> None:
        with self.lock:
            self.requests_ms.append(ms)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors.append(what[:300])


def timed(tally: Tally, call, *args, **kwargs) -> requests.Response:
    started = time.perf_counter()
    response = call(*args, **kwargs)
    tally.request((time.perf_counter() - started) * 1000)
    if not response.ok:
        raise RuntimeError(f"{response.status_code} {response.url}: {response.text[:200]}")
    return response


def drawing_client(url: str, pngs: list[bytes], until: float, tally: Tally, seed: int) -> None:
    http = requests.Session()
    rng = np.random.default_rng(seed)
    while time.monotonic() < until:
        png = pngs[int(rng.integers(len(pngs)))]
        started = time.perf_counter()
        try:
            created = timed(
                tally,
                http.post,
                f"{url}/api/v1/recognitions?source=draw",
                files={"image": ("drawing.png", png, "image/png")},
                timeout=60,
            )
            poll = f"{url}{created.json()['url']}?wait=10"
            while (body := timed(tally, http.get, poll, timeout=60).json())["status"] not in (
                "done",
                "failed",
            ):
                pass
            if body["status"] != "done" or not body["text"]:
                raise RuntimeError(f"drawing not recognized: {body['status']} {body['error']}")
            with tally.lock:
                tally.results_ms.append((time.perf_counter() - started) * 1000)
                tally.drawings += 1
        except Exception as exc:  # noqa: BLE001 - every failure is counted as an error
            tally.error(f"drawing: {exc}")


def batch_client(url: str, archive: bytes, size: int, tally: Tally, delay: float) -> None:
    time.sleep(delay)
    http = requests.Session()
    try:
        created = timed(
            tally,
            http.post,
            f"{url}/api/v1/batches",
            files=[("files", ("mnist.zip", archive, "application/zip"))],
            timeout=600,
        )
        batch_url = f"{url}{created.json()['url']}"
        deadline = time.monotonic() + 600
        while (state := timed(tally, http.get, batch_url, timeout=60).json())["status"] != "done":
            if time.monotonic() > deadline:
                raise RuntimeError(f"batch not done in 600 s: {state}")
            time.sleep(0.5)
        if state["total"] != size or state["done"] != size:
            raise RuntimeError(f"batch finished wrong: {state}")
    except Exception as exc:  # noqa: BLE001
        tally.error(f"batch: {exc}")


def run_mix(url: str, pngs, archive, clients: int, seconds: float, batches: int, size: int):
    tally = Tally()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=drawing_client, args=(url, pngs, until, tally, i))
        for i in range(clients)
    ]
    threads += [
        threading.Thread(target=batch_client, args=(url, archive, size, tally, 2 + 10 * i))
        for i in range(batches)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def rss_by_process(root_pid: int) -> dict[tuple[str, int], int]:
    import psutil

    out = {}
    for proc in psutil.Process(root_pid).children(recursive=True):
        try:
            if proc.name() in ("sh", "bash", "dash"):
                continue
            out[(role_of(proc.cmdline()), proc.pid)] = proc.memory_info().rss
        except psutil.Error:
            continue
    return out


def settle(url: str, timeout: float = 120) -> None:
    """Wait until nothing is queued or processing (the metrics' queue lengths are 0)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = requests.get(f"{url}/metrics", timeout=10).text
        open_items = [
            line
            for line in text.splitlines()
            if line.startswith(
                ('digits_recognitions{status="queued"', 'digits_recognitions{status="processing"')
            )
        ]
        if all(line.endswith(" 0.0") for line in open_items):
            time.sleep(2)
            return
        time.sleep(0.5)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--batches", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--model", help="model path [default: the shipped model]")
    args = ap.parse_args(argv)

    pngs = drawings(200)
    digits, _ = mnist_pngs(args.batch_size)
    archive = zip_of(digits)
    stack = Stack(model_path(args.model))
    try:
        stack.wait_ready()
        url = stack.url
        cold = rss_by_process(stack.proc.pid)
        warm = run_mix(url, pngs, archive, args.clients, WARMUP_SECONDS, 1, args.batch_size)
        settle(url)
        before = rss_by_process(stack.proc.pid)
        started = datetime.now(UTC)
        tally = run_mix(
            url, pngs, archive, args.clients, args.seconds, args.batches, args.batch_size
        )
        settle(url)
        after = rss_by_process(stack.proc.pid)
    finally:
        stack.stop()

    print(f"\nload run {started:%Y-%m-%d %H:%M} UTC: {args.clients} clients x {args.seconds:g} s, "
          f"{args.batches} batches of {args.batch_size}")  # fmt: skip
    print(f"warm-up errors: {len(warm.errors)}; errors: {len(tally.errors)}")
    for error in tally.errors[:10]:
        print(f"  ! {error}")
    res, req = tally.results_ms, tally.requests_ms
    print(f"drawings recognized: {tally.drawings} ({tally.drawings / args.seconds:.1f}/s)")
    print(f"drawing submit -> result: p50 {pct(res, 50):.0f} ms, p99 {pct(res, 99):.0f} ms")
    print(f"single requests (n={len(req)}): p50 {pct(req, 50):.1f} ms, p99 {pct(req, 99):.0f} ms")
    print("RSS per process (MB): cold -> before -> after (change)")
    worst = 0.0
    for key in sorted(after):
        if key not in before:
            print(f"  {key[0]:<12} pid {key[1]}: new after the warm-up")
            continue
        change = after[key] / before[key] - 1
        worst = max(worst, abs(change))
        cold_mb = f"{cold[key] / 2**20:.0f}" if key in cold else "-"
        print(f"  {key[0]:<12} pid {key[1]:>7}: {cold_mb:>4} -> {before[key] / 2**20:5.0f} -> "
              f"{after[key] / 2**20:5.0f} ({change:+.1%})")  # fmt: skip
    print(f"largest RSS change: {worst:.1%} (target <= 10%)")
    return 0 if not tally.errors and worst <= 0.10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
