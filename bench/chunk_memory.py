"""Peak memory of a bulk worker process on a chunk of 10 MB images (issue 10).

    .venv/bin/python -m bench.chunk_memory [--images 12]

Starts a real bulk worker (prefork, one pool process, as the Procfile's `bulk` line but with
concurrency 1) and the web on a temp SQLite file and a private Redis, uploads one batch of
`--images` noise PNGs of ~10 MB each with ?chunk_size=16, and reports the pool process's peak
RSS (VmHWM) once the batch is done: with CHUNK_MAX_BYTES at its default (32 MB: 3 images per
task) and with it effectively off (every image in one task).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import requests

import recognizer
from scripts.embedded import EmbeddedRedis, free_port
from store.migrate import upgrade_to_head
from tests.support import child_pids, service_env, start_web, start_worker


def noise_png(seed: int, side: int = 3200) -> bytes:
    image = np.random.default_rng(seed).integers(0, 256, (side, side), dtype=np.uint8)
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def run(images: list[bytes], chunk_max: str, tmp: Path) -> tuple[float, float, int]:
    """(peak RSS MB of the pool process, seconds to done, tasks sent)."""
    db = f"sqlite:///{tmp / 'digits.db'}"
    upgrade_to_head(db)
    with EmbeddedRedis(tmp / "redis") as redis:
        env = service_env(
            db, redis.url, str(recognizer.DEFAULT_MODEL_PATH), CHUNK_MAX_BYTES=chunk_max
        )
        worker = start_worker(env, tmp, "bulk,maintenance", concurrency=1)
        web = start_web(env, tmp, free_port())
        try:
            base = web.extra["url"]
            started = time.monotonic()
            files = [
                ("files", (f"noise{i}.png", data, "image/png")) for i, data in enumerate(images)
            ]
            response = requests.post(
                f"{base}/api/v1/batches", params={"chunk_size": 16}, files=files, timeout=300
            )
            response.raise_for_status()
            url = response.json()["url"]
            while requests.get(base + url, timeout=10).json()["status"] != "done":
                time.sleep(0.2)
            took = time.monotonic() - started
            (child,) = child_pids(worker.popen.pid)
            tasks = worker.log().count("] received")
            return peak_rss(child) / 1024**2, took, tasks
        finally:
            web.stop()
            worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=12)
    args = parser.parse_args()
    images = [noise_png(i) for i in range(args.images)]
    size = sum(map(len, images)) / len(images) / 1024**2
    print(f"{len(images)} noise PNGs of {size:.1f} MB each, ?chunk_size=16, one pool process")
    print("| CHUNK_MAX_BYTES | tasks | peak RSS of the pool process | batch time |")
    print("|---|---|---|---|")
    for chunk_max in ("32MB", "1GB"):
        with tempfile.TemporaryDirectory() as tmp:
            peak, took, tasks = run(images, chunk_max, Path(tmp))
        print(f"| {chunk_max} | {tasks} | {peak:.0f} MB | {took:.1f} s |")


if __name__ == "__main__":
    main()
