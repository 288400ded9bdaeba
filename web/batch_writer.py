"""Storing a batch's items while its upload still arrives: rows are written a few hundred at a
time (FLUSH_ROWS / FLUSH_BYTES) and their ids sent to the `bulk` queue in chunks bounded by count
(BATCH_CHUNK_SIZE or `?chunk_size=`) and by bytes (CHUNK_MAX_BYTES)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

import recognizer
from config import current_settings
from store import FAILED, QUEUED, open_session, utcnow
from store.queries import (
    add_batch_items,
    finish_batch_upload,
)
from web.api import image_columns
from web.queueing import enqueue
from web.uploads import (
    TooLarge,
)
from worker.queues import RECOGNIZE_CHUNK

log = logging.getLogger(__name__)

FLUSH_ROWS = 256  # items written to the database per transaction during an upload
FLUSH_BYTES = 8 * 1024**2  # ... or fewer, when their images add up to this much


@dataclass
class BatchWriter:
    """Buffers parsed items, writes them in bounded transactions and enqueues chunks."""

    batch_id: uuid.UUID
    chunk_size: int
    max_files: int
    max_pixels: int
    count: int = 0
    queued: int = 0
    failed: int = 0
    rows: list[dict] = field(default_factory=list)
    row_bytes: int = 0
    chunk_max_bytes: int = 32 * 1024**2  # a chunk's images add up to at most this (or 1 image)
    ready: list[tuple[str, int]] = field(default_factory=list)  # stored (id, bytes) not yet sent
    chunks_sent: int = 0
    owner_id: int | None = None  # the client (AUTH=keys) whose items these are

    def _next_seq(self) -> int:
        if self.count >= self.max_files:
            raise TooLarge(
                "too_many_files",
                f"A batch holds at most {self.max_files} files (zip members included).",
            )
        self.count += 1
        return self.count

    def add_image(self, filename: str | None, data: bytes) -> None:
        seq = self._next_seq()
        try:
            info = recognizer.image_info(data, max_pixels=self.max_pixels)
        except recognizer.RecognizerError as exc:
            if not data:
                reason = "empty file"
            elif isinstance(exc, recognizer.ImageTooLarge):
                reason = str(exc)
            else:
                reason = f"not a supported image ({exc})"
            self._add_failed(seq, filename, reason, exc.code, size=len(data))
            return
        self.queued += 1
        self.row_bytes += len(data)
        self._add_row(seq, filename, status=QUEUED, **image_columns(data, info))

    def add_failure(self, filename: str | None, reason: str, code: str, size: int = 0) -> None:
        self._add_failed(self._next_seq(), filename, reason, code, size=size)

    def _add_failed(self, seq: int, filename: str | None, reason: str, code: str, size: int):
        self.failed += 1
        self._add_row(
            seq,
            filename,
            status=FAILED,
            error=reason[:1000],
            error_code=code[:64],
            image_size=size,
            finished=True,
        )

    def _add_row(self, seq: int, filename: str | None, *, finished: bool = False, **values) -> None:
        """Queue one item's column values (every row has the same keys: one executemany)."""
        now = utcnow()
        row = dict.fromkeys(("error", "error_code", "image", "image_mime", "width", "height"))
        row.update(
            id=uuid.uuid4(),
            batch_id=self.batch_id,
            seq=seq,
            filename=filename,
            source="batch",
            owner_id=self.owner_id,
            created_at=now,
            finished_at=now if finished else None,
        )
        row.update(values)
        self.rows.append(row)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if len(self.rows) >= FLUSH_ROWS or self.row_bytes >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            failed = sum(1 for r in self.rows if r["status"] == FAILED)
            with open_session(current_settings().database_url) as session, session.begin():
                add_batch_items(session, self.batch_id, self.rows, failed=failed)
            self.ready += [
                (str(r["id"]), int(r.get("image_size") or 0))
                for r in self.rows
                if r["status"] == QUEUED
            ]
            self.rows, self.row_bytes = [], 0
        self._send_ready(final=False)

    def _send_ready(self, *, final: bool) -> None:
        """Send chunks of at most `chunk_size` items and `chunk_max_bytes` bytes (a single
        bigger image goes alone); a partial chunk waits for more items unless `final`."""
        while self.ready:
            count = size = 0
            for _, item_bytes in self.ready[: self.chunk_size]:
                if count and size + item_bytes > self.chunk_max_bytes:
                    break
                count, size = count + 1, size + item_bytes
            full = count == self.chunk_size or count < len(self.ready)
            if not (full or final):
                return
            self._send([rid for rid, _ in self.ready[:count]])
            del self.ready[:count]

    def finish(self) -> None:
        self.flush()
        self._send_ready(final=True)
        with open_session(current_settings().database_url) as session, session.begin():
            finish_batch_upload(session, self.batch_id, now=utcnow())

    def _send(self, ids: list[str]) -> None:
        enqueue(RECOGNIZE_CHUNK, str(self.batch_id), list(ids))
        self.chunks_sent += 1
