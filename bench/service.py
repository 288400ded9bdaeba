"""Service benchmark: the recognizer alone vs. the whole service, and interactive latency.

    python -m bench.service                 # starts the stack as `make run` does, on temp files
    python -m bench.service --url URL       # against a service that is already running

1. In-process limit: `load_model().recognize_many` on the 10,000 MNIST test PNGs, batches of 64.
2. End to end: the same PNGs uploaded as one zip; time until every result is stored; with the
   default chunk size and with chunk size 1 (one task per image).
3. Interactive latency: single 400x400 canvas drawings, POST then GET ?wait=10, idle and while a
   10,000-image batch runs.
4. Memory: peak RSS of the web and of each worker process during (2).
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent


def mnist_path() -> Path:
    """MNIST as every command finds it: $DIGITS_MNIST, else the `digits data fetch` copy."""
    from recognizer.datasets import find_mnist

    return find_mnist()


# ---------------------------------------------------------------- inputs


def mnist_pngs(n: int) -> tuple[list[bytes], np.ndarray]:
    import cv2

    with np.load(mnist_path()) as data:
        x, y = data["x_test"][:n], data["y_test"][:n]
    return [cv2.imencode(".png", img)[1].tobytes() for img in x], y


def drawings(n: int, seed: int = 7) -> list[bytes]:
    """400x400 RGBA canvas PNGs of MNIST digits, as the drawing page sends them."""
    with np.load(mnist_path()) as data:
        digits = data["x_test"][-n:]
    rng = np.random.default_rng(seed)
    try:
        from recognizer.synth import canvas_png

        return [canvas_png(d, rng, size=400) for d in digits]
    except ImportError:  # the recognizer's helper is not there: upscale + dilate ourselves
        import cv2

        out = []
        for d in digits:
            big = cv2.resize(d, (280, 280), interpolation=cv2.INTER_CUBIC)
            big = cv2.dilate(big, np.ones((9, 9), np.uint8))
            canvas = np.zeros((400, 400, 4), np.uint8)
            canvas[60:340, 60:340, 3] = big
            out.append(cv2.imencode(".png", canvas)[1].tobytes())
        return out


def zip_of(pngs: list[bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, data in enumerate(pngs):
            zf.writestr(f"mnist/{i:05d}.png", data)
    return buf.getvalue()


def model_path(arg: str | None) -> str | None:
    """The model to use: --model, else the shipped one, else a quick one (with a warning)."""
    import recognizer

    if arg:
        return arg
    if Path(recognizer.DEFAULT_MODEL_PATH).is_file():
        return None
    print("!! no shipped model in models/: training a small stand-in on 3,000 digits", flush=True)
    with np.load(mnist_path()) as data:
        model = recognizer.train_model(data["x_train"][:3000], data["y_train"][:3000])
    return str(model.save(Path(tempfile.mkdtemp(prefix="bench-model-"))))


# ---------------------------------------------------------------- 1. in-process


def in_process(pngs: list[bytes], path: str | None, batch: int = 64) -> float:
    import recognizer

    model = recognizer.load_model(path)
    model.recognize_many(pngs[:batch])  # warm-up
    started = time.perf_counter()
    for i in range(0, len(pngs), batch):
        model.recognize_many(pngs[i : i + batch])
    return len(pngs) / (time.perf_counter() - started)


# ---------------------------------------------------------------- the service


class Stack:
    """`python -m scripts.run` (what `make run` runs) on a temp SQLite file and free ports."""

    def __init__(self, model: str | None) -> None:
        from scripts.embedded import free_port

        self.tmp = tempfile.TemporaryDirectory(prefix="bench-service-")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = dict(os.environ)
        env.pop("REDIS_URL", None)
        env.update(
            VAR_DIR=self.tmp.name,
            DATABASE_URL=f"sqlite:///{self.tmp.name}/digits.db",
            WEB_BIND=f"127.0.0.1:{port}",
            FLOWER_PORT=str(free_port()),
            PYTHONUNBUFFERED="1",
        )
        if model:
            env["MODEL_PATH"] = model
        self.log = open(Path(self.tmp.name) / "run.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.run"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited:\n{self.tail()}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"no /readyz in {timeout}s:\n{self.tail()}")

    def tail(self) -> str:
        return (Path(self.tmp.name) / "run.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C, as in a terminal
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        self.tmp.cleanup()


def role_of(cmdline: list[str]) -> str:
    line = " ".join(cmdline)
    if "gunicorn" in line:
        return "web"
    if "interactive@" in line:
        return "interactive"
    if "bulk@" in line:
        return "bulk"
    for name in ("beat", "flower", "redis-server", "honcho", "scripts.run"):
        if name in line:
            return name
    return "other"


class RssSampler(threading.Thread):
    """Peak RSS of each process under `root_pid` (and per role, summed), sampled every 0.2 s."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        import psutil

        self.root = psutil.Process(root_pid)
        self.peak: dict[tuple[str, int], int] = defaultdict(int)
        self.role_peak: dict[str, int] = defaultdict(int)
        self.halt = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.halt.is_set():
            per_role: dict[str, int] = defaultdict(int)
            for proc in self.root.children(recursive=True):
                try:
                    if proc.name() in ("sh", "bash", "dash"):  # honcho's `sh -c` wrappers
                        continue
                    role, rss = role_of(proc.cmdline()), proc.memory_info().rss
                    parent = proc.parent()
                    same = (
                        parent is not None
                        and parent.name() not in ("sh", "bash", "dash")
                        and role_of(parent.cmdline()) == role
                    )
                except psutil.Error:
                    continue
                key = (f"{role} ({'pool child' if same else 'main'})", proc.pid)
                self.peak[key] = max(self.peak[key], rss)
                per_role[role] += rss
            for role, rss in per_role.items():
                self.role_peak[role] = max(self.role_peak[role], rss)
            self.halt.wait(0.2)

    def stop(self) -> None:
        self.halt.set()
        self.join()


# ---------------------------------------------------------------- 2. end to end


def upload(http: requests.Session, url: str, archive: bytes, chunk_size: int | None) -> str:
    response = http.post(
        f"{url}/api/v1/batches",
        params={"chunk_size": chunk_size} if chunk_size else None,
        files=[("files", ("mnist.zip", archive, "application/zip"))],
        timeout=600,
    )
    response.raise_for_status()
    return f"{url}{response.json()['url']}"


def wait_batch(http: requests.Session, batch_url: str, poll: float = 0.05) -> dict:
    while True:
        state = http.get(batch_url, timeout=30).json()
        if state["status"] == "done":
            return state
        time.sleep(poll)


def end_to_end(
    http: requests.Session, url: str, archive: bytes, n: int, chunk_size: int | None
) -> tuple[float, dict]:
    started = time.perf_counter()
    state = wait_batch(http, upload(http, url, archive, chunk_size))
    elapsed = time.perf_counter() - started
    assert state["total"] == n, state
    return elapsed, state


# ---------------------------------------------------------------- 3. interactive latency


def one_drawing(http: requests.Session, url: str, png: bytes) -> float:
    started = time.perf_counter()
    response = http.post(
        f"{url}/api/v1/recognitions?source=draw",
        files={"image": ("drawing.png", png, "image/png")},
        timeout=30,
    )
    response.raise_for_status()
    result = http.get(f"{url}{response.json()['url']}?wait=10", timeout=30).json()
    elapsed = time.perf_counter() - started
    if result["status"] != "done":
        raise RuntimeError(f"drawing not done: {result}")
    return elapsed * 1000


def latencies(http: requests.Session, url: str, pngs: list[bytes]) -> list[float]:
    return [one_drawing(http, url, png) for png in pngs]


def under_load(
    http: requests.Session, url: str, pngs: list[bytes], archive: bytes
) -> tuple[list[float], int]:
    """Latencies measured while a batch is running (only those that ended before it did)."""
    batch_url = upload(http, url, archive, None)
    while http.get(batch_url, timeout=30).json()["done"] < 64:  # the bulk worker is busy
        time.sleep(0.05)
    samples = []
    for png in pngs:
        ms = one_drawing(http, url, png)
        if http.get(batch_url, timeout=30).json()["status"] == "done":
            break
        samples.append(ms)
    wait_batch(http, batch_url)
    return samples, len(pngs)


# ---------------------------------------------------------------- report


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.service", description=__doc__)
    ap.add_argument("--url", help="benchmark a running service instead of starting one")
    ap.add_argument("--model", help="model path [default: the shipped model]")
    ap.add_argument("-n", type=int, default=10_000, help="MNIST test PNGs [10000]")
    ap.add_argument("--drawings", type=int, default=200, help="interactive samples [200]")
    ap.add_argument("--skip-chunk1", action="store_true", help="skip the chunk-size-1 run")
    args, unknown = ap.parse_known_args(argv)  # `python -m bench` passes every bench its args
    if unknown:
        print(f"(bench.service ignores {' '.join(unknown)})", flush=True)

    started_at = datetime.now(UTC)
    print(f"load before: {os.getloadavg()}  cores: {os.cpu_count()}", flush=True)
    path = model_path(args.model)
    pngs, _ = mnist_pngs(args.n)
    archive = zip_of(pngs)
    canvases = drawings(args.drawings)
    rows: list[tuple[str, str, str]] = []

    limit = in_process(pngs, path)
    rows.append(("1. in-process recognize_many (batches of 64)", f"{limit:.0f} img/s", "-"))
    print(rows[-1], flush=True)

    stack = None if args.url else Stack(path)
    url = args.url or stack.url
    sampler = None
    try:
        if stack:
            stack.wait_ready()
        http = requests.Session()
        # warm-up: both workers have their model loaded and their connections open
        one_drawing(http, url, canvases[0])
        wait_batch(http, upload(http, url, zip_of(pngs[:64]), None))

        if stack:
            sampler = RssSampler(stack.proc.pid)
            sampler.start()
        seconds, _ = end_to_end(http, url, archive, args.n, None)
        if sampler:
            sampler.stop()
        rate = args.n / seconds
        rows.append(
            (
                f"2. end to end, one zip of {args.n}, default chunk (BATCH_CHUNK_SIZE)",
                f"{rate:.0f} img/s ({seconds:.1f} s)",
                f"ratio {rate / limit:.2f} (target >= 0.5)",
            )
        )
        print(rows[-1], flush=True)
        if not args.skip_chunk1:
            seconds1, _ = end_to_end(http, url, archive, args.n, 1)
            rate1 = args.n / seconds1
            rows.append(
                (
                    f"2b. end to end, chunk size 1 ({args.n} tasks)",
                    f"{rate1:.0f} img/s ({seconds1:.1f} s)",
                    f"ratio {rate1 / limit:.2f}; chunking x{rate / rate1:.1f}",
                )
            )
            print(rows[-1], flush=True)

        idle = latencies(http, url, canvases)
        rows.append(
            (
                f"3. drawing submit->result, idle (n={len(idle)})",
                f"p50 {pct(idle, 50):.0f} ms, p99 {pct(idle, 99):.0f} ms",
                "target p50 <= 30, p99 <= 100",
            )
        )
        print(rows[-1], flush=True)
        loaded, _ = under_load(http, url, canvases, archive)
        rows.append(
            (
                f"3b. drawing, during a {args.n}-image batch (n={len(loaded)})",
                f"p50 {pct(loaded, 50):.0f} ms, p99 {pct(loaded, 99):.0f} ms",
                "target p99 <= 250",
            )
        )
        print(rows[-1], flush=True)
    finally:
        if sampler and sampler.is_alive():
            sampler.stop()
        if stack:
            stack.stop()

    if sampler:
        for (label, pid), rss in sorted(sampler.peak.items()):
            if label.split()[0] in ("web", "interactive", "bulk"):
                rows.append(
                    (f"4. peak RSS during (2): {label} pid {pid}", f"{rss / 2**20:.0f} MB", "")
                )
        for role in ("web", "interactive", "bulk"):
            total = sampler.role_peak.get(role, 0)
            rows.append(
                (f"4. peak RSS during (2): {role}, all processes", f"{total / 2**20:.0f} MB", "")
            )

    print()
    print(f"{started_at:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load after {os.getloadavg()}")
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure'.ljust(width)} | result | note |")
    print(f"|{'-' * (width + 2)}|---|---|")
    for name, value, note in rows:
        print(f"| {name.ljust(width)} | {value} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
