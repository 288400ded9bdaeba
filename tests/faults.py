"""Helpers of the fault tests (tests/test_faults*.py): a private Redis per test (which a test may
freeze or stop), batches sent over HTTP, the database's view of a batch, and the figures each
fault test reports (items in flight, lost, doubled, time to recover)."""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass

import requests
from sqlalchemy import func, select

from store import Batch, DigitResult, Recognition, session_scope
from tests.support import mnist_test_digits, png_bytes, wait_until


def digit_files(count: int, offset: int = 0) -> list[tuple[str, bytes]]:
    images, _ = mnist_test_digits(count, offset)
    return [(f"d{offset + i:05d}.png", png_bytes(img)) for i, img in enumerate(images)]


def post_batch(base: str, files: list[tuple[str, bytes]], chunk_size: int, timeout=60) -> str:
    response = requests.post(
        f"{base}/api/v1/batches",
        params={"chunk_size": chunk_size},
        files=[("files", (name, data, "image/png")) for name, data in files],
        timeout=timeout,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


@dataclass
class BatchView:
    total: int
    done: int
    failed: int
    status: str
    items: Counter  # status -> count, from the items themselves
    digit_rows: int  # digits stored
    text_chars: int  # characters of the done items' text: equals digit_rows when not doubled

    @property
    def final(self) -> bool:
        return (
            self.status == "done"
            and self.items.get("queued", 0) == 0
            and (self.items.get("processing", 0) == 0)
        )


def batch_view(url: str, batch_id: str) -> BatchView:
    bid = uuid.UUID(batch_id)
    with session_scope(url) as session:
        batch = session.get(Batch, bid)
        items = Counter(
            dict(
                session.execute(
                    select(Recognition.status, func.count())
                    .where(Recognition.batch_id == bid)
                    .group_by(Recognition.status)
                ).all()
            )
        )
        digit_rows = session.scalar(
            select(func.count())
            .select_from(DigitResult)
            .join(Recognition, Recognition.id == DigitResult.recognition_id)
            .where(Recognition.batch_id == bid)
        )
        chars = session.scalar(
            select(func.coalesce(func.sum(func.length(Recognition.text)), 0)).where(
                Recognition.batch_id == bid, Recognition.status == "done"
            )
        )
        return BatchView(
            batch.total, batch.done, batch.failed, batch.status, items, digit_rows, int(chars)
        )


def wait_batch(url: str, batch_id: str, timeout: float = 90.0) -> BatchView:
    last: list[BatchView] = []

    def final() -> BatchView | None:
        last[:] = [batch_view(url, batch_id)]
        return last[0] if last[0].final else None

    return wait_until(final, timeout, lambda: f"batch not finished: {last}", interval=0.2)


def batch_item(url: str, batch_id: str, filename: str) -> Recognition:
    """The item of batch `batch_id` uploaded as `filename`."""
    with session_scope(url) as session:
        return session.execute(
            select(Recognition).where(
                Recognition.batch_id == uuid.UUID(batch_id), Recognition.filename == filename
            )
        ).scalar_one()


def wait_for(predicate, timeout: float, what: str, every: float = 0.05):
    return wait_until(predicate, timeout, f"{what}: not seen", interval=every)


def assert_exact(view: BatchView, *, expected_done: int, expected_failed: int = 0) -> None:
    """0 lost (every item final), 0 doubled (counters match the items, one digit set each)."""
    assert view.items.get("queued", 0) == 0 and view.items.get("processing", 0) == 0, view
    assert (view.done, view.failed) == (expected_done, expected_failed), view
    assert view.items.get("done", 0) == expected_done, view
    assert view.items.get("failed", 0) == expected_failed, view
    assert view.total == expected_done + expected_failed, view
    assert view.digit_rows == view.text_chars, view  # one stored digit per character


@dataclass
class Figures:
    fault: str
    backend: str
    items: int
    in_flight: int
    lost: int
    doubled: int
    recovery_s: float
    note: str = ""


def report(fig: Figures) -> None:
    """Print the figures (shown with -rP) and append them to $DIGITS_FAULT_FIGURES if set."""
    line = json.dumps(asdict(fig))
    print(f"FAULT FIGURES {line}")
    path = os.environ.get("DIGITS_FAULT_FIGURES")
    if path:
        with open(path, "a") as out:
            out.write(line + "\n")


def lost_and_doubled(view: BatchView, expected: int) -> tuple[int, int]:
    final = view.items.get("done", 0) + view.items.get("failed", 0)
    return expected - final, max(0, view.done + view.failed - final)


class CuttableProxy:
    """A TCP proxy the test owns between the service and PostgreSQL: `cut()` drops every
    connection and refuses new ones (closes them at once) until `restore()`. The shared
    server itself is never touched."""

    def __init__(
        self, upstream_port: int, upstream_host: str = "127.0.0.1", bind: str = "127.0.0.1"
    ) -> None:
        import socket
        import threading

        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.create_server((bind, 0))
        self.port = self.listener.getsockname()[1]
        self.cut_off = threading.Event()
        self.lock = threading.Lock()
        self.sockets: set = set()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_off.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            # a peer that stops answering (its host partitioned) is dropped within seconds, and
            # the other side with it, as a real network path would end
            for sock in (client, server):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 2)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 5000)
            with self.lock:
                self.sockets |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source, sink) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                self._close(sock)

    def _close(self, sock) -> None:
        import socket

        with self.lock:
            self.sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        self.cut_off.set()
        with self.lock:
            current = list(self.sockets)
        for sock in current:
            self._close(sock)

    def restore(self) -> None:
        self.cut_off.clear()

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()


def timed(fn) -> tuple[float, object]:
    started = time.monotonic()
    value = fn()
    return time.monotonic() - started, value
