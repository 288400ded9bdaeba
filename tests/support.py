"""Real processes for tests: a Celery worker and a gunicorn web server, as `make run` runs them."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import requests

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
#: a real sample of MNIST shipped with the tests (see tests/data/README.md)
MNIST = ROOT / "tests" / "data" / "mnist-sample.npz"


def mnist_test_digits(count: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    with np.load(MNIST) as data:
        return data["x_test"][offset : offset + count], data["y_test"][offset : offset + count]


def png_bytes(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path
    extra: dict = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def service_env(database_url: str, redis_url: str, model_path: str | None, **extra: str) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
    )
    if model_path:
        env["MODEL_PATH"] = str(model_path)
    env.update(extra)
    return env


def _spawn(cmd: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    what: str | Callable[[], object],
    *,
    interval: float = 0.1,
    process: Process | None = None,
) -> T:
    """Poll `condition` until it returns something truthy, and return that.

    Fails with `what` (a text, or a callable giving the last state) after `timeout` seconds, or
    at once if `process` exits; the process's log ends the message either way."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.popen.poll() is not None:
            raise AssertionError(f"{process.name} exited early:\n{process.log()[-4000:]}")
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            detail = what() if callable(what) else what
            log = f"\n{process.log()[-4000:]}" if process is not None else ""
            raise AssertionError(f"not within {timeout}s: {detail}{log}")
        time.sleep(interval)


def _wait_for(predicate, proc: Process, timeout: float, what: str) -> None:
    """wait_until for a process that must come up; it is stopped if it does not."""
    try:
        wait_until(predicate, timeout, f"{proc.name}: {what} not seen", process=proc)
    except AssertionError:
        proc.stop()
        raise


def start_worker(
    env: dict,
    log_dir: Path,
    queues: str = "interactive,bulk,maintenance",
    name: str | None = None,
    concurrency: int = 1,
) -> Process:
    """A real `celery worker` subprocess; returns once it reports ready."""
    name = name or f"test-{uuid.uuid4().hex[:8]}"
    log_path = log_dir / f"worker-{name}.log"
    cmd = [
        sys.executable, "-m", "celery", "-A", "make_celery", "worker",
        "--queues", queues, "--concurrency", str(concurrency), "--prefetch-multiplier", "1",
        "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle", "--loglevel", "INFO",
    ]  # fmt: skip
    proc = Process(name, _spawn(cmd, env, log_path), log_path)
    # ... and has re-sent what no queue held (worker.maintenance.resume_now)
    _wait_for(lambda: "start-up resume" in proc.log(), proc, 60, "'start-up resume'")
    return proc


def start_beat(env: dict, log_dir: Path) -> Process:
    """A real `celery beat` subprocess (as `make run` and compose start it)."""
    log_path = log_dir / "beat.log"
    cmd = [
        sys.executable, "-m", "celery", "-A", "make_celery", "beat", "--loglevel", "INFO",
        "--schedule", str(log_dir / "beat-schedule"),
    ]  # fmt: skip
    return Process("beat", _spawn(cmd, env, log_path), log_path)


def start_web(env: dict, log_dir: Path, port: int) -> Process:
    """gunicorn with the production config, on a free loopback port."""
    log_path = log_dir / f"web-{port}.log"
    env = {**env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_WORKERS": "1"}
    cmd = [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py", "web:create_app()"]
    proc = Process(
        "web", _spawn(cmd, env, log_path), log_path, extra={"url": f"http://127.0.0.1:{port}"}
    )

    def up() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    _wait_for(up, proc, 60, "/healthz")
    return proc


def zip_bytes(members: dict[str, bytes]) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def blended_digits(count: int, offset: int = 300) -> list[np.ndarray]:
    """Two MNIST test digits drawn over each other: images a model should be unsure about."""
    x, _ = mnist_test_digits(2 * count, offset)
    return [
        np.clip(0.55 * x[i].astype(float) + 0.55 * x[i + 1].astype(float), 0, 255).astype(np.uint8)
        for i in range(0, 2 * count, 2)
    ]


@dataclass
class Stack:
    """gunicorn + a real worker on a database and Redis db of their own (`make_stack`)."""

    url: str
    database_url: str
    environment: dict
    web: Process
    worker: Process

    def stop(self) -> None:
        self.web.stop()
        self.worker.stop()


def start_stack(database_url: str, redis_url: str, model_path: str | None, log_dir: Path,
                port: int, **extra_env: str) -> Stack:  # fmt: skip
    env = service_env(database_url, redis_url, model_path, **extra_env)
    worker = start_worker(env, log_dir)
    try:
        web = start_web(env, log_dir, port)
    except BaseException:
        worker.stop()
        raise
    return Stack(web.extra["url"], database_url, env, web, worker)


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (from /proc, as `ps` shows it)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def child_pids(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(p) for p in (task / "children").read_text().split()]
    return out


def app_like(app, **changes):
    """A new app with `app`'s settings, changed by `changes` (settings by their environment
    names, or Flask keys)."""
    from web import create_app

    settings = {name.upper(): v for name, v in app.extensions["settings"].model_dump().items()}
    return create_app({**settings, "TESTING": True, **changes})


def set_settings(app, monkeypatch, **changes) -> None:
    """Change some of `app`'s settings for one test (undone by `monkeypatch`)."""
    settings = app.extensions["settings"].model_copy(update=changes)
    monkeypatch.setitem(app.extensions, "settings", settings)
