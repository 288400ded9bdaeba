"""Bulk batches under /api/v1/batches.

The upload is parsed as a stream (werkzeug's sans-IO MultipartDecoder over `request.stream`),
so Flask's MAX_FORM_PARTS / MAX_FORM_MEMORY_SIZE never apply and a 10,000-file folder upload
is never held in memory: items are written to the database a few hundred at a time and their
ids are sent to the `bulk` queue in chunks of BATCH_CHUNK_SIZE (or `?chunk_size=`) while the
rest of the upload is still arriving. Our own limits apply instead: BATCH_MAX_BYTES (the whole
request), BATCH_MAX_FILES (items, zip members included) and MAX_IMAGE_BYTES (each image).

Items that are not images become `failed` items at once (the batch goes on). In a zip:
directory entries and junk (`__MACOSX/…`, `._*` AppleDouble files, `.DS_Store`, `Thumbs.db`,
`desktop.ini`) are skipped; nested archives are not opened; member names are only names
(nothing is ever extracted to disk, so `../` or absolute paths are harmless).

Hostile uploads stay bounded (web/uploads.py for the multipart side): the bytes of every image
stored, zip members decompressed, count toward BATCH_MAX_BYTES as the request's bytes do (a small
zip of huge members is refused with 413 once past it); a zip's central directory is walked entry
by entry and refused past ZIP_ENTRIES_PER_FILE x BATCH_MAX_FILES entries before Python's zipfile
reads it whole; file names are cleaned (web.uploads.clean_name) before they are stored; CSV cells
that a spreadsheet would run as a formula are prefixed with `'`.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import struct
import tempfile
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy import delete, select
from werkzeug.sansio.multipart import Data, Field, File

import recognizer
from config import current_settings
from store import FAILED, QUEUED, Batch, Correction, open_session, utcnow
from store.corrections import corrected_text
from store.heartbeat import Heartbeat
from store.queries import (
    UPLOAD_PLACEHOLDER,
    add_batch_items,
    as_uuid,
    batch_items_page,
    batch_rows_after,
    finish_batch_upload,
    renew_upload,
    with_review_count,
)
from web import history, schemas
from web.api import SEND_RETRY_POLICY, image_columns
from web.errors import ApiError, queue_unavailable
from web.openapi import (
    BATCH_LINKS,
    RESULTS_LINKS,
    TOO_MANY_SUBMISSIONS,
    batch_body,
    link,
    operation,
)
from web.security import current_owner, owned, submit_limit
from web.uploads import (
    TooLarge,
    batch_too_large,
    clean_name,
    drain,
    multipart_boundary,
    multipart_events,
    request_chunks,
)
from worker.queues import RECOGNIZE_CHUNK

log = logging.getLogger(__name__)
bp = Blueprint("batches", __name__, url_prefix="/api/v1")

FIELD = "files"
FLUSH_ROWS = 256  # items written to the database per transaction during an upload
FLUSH_BYTES = 8 * 1024**2  # ... or fewer, when their images add up to this much
ZIP_SPOOL_MEMORY = 8 * 1024**2  # a zip larger than this is spooled to a temp file
ZIP_ENTRIES_PER_FILE = 2  # a zip may list 2 x BATCH_MAX_FILES entries (folders, junk)
CSV_FETCH = 1000
# needs_review and corrected_text were added at the end, so column positions stay
CSV_COLUMNS = [
    *("filename", "status", "text", "confidence", "error"),
    *("needs_review", "corrected_text"),
]
ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/x-zip"}
JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def db_url() -> str:
    return current_app.config["DATABASE_URL"]


# ---------------------------------------------------------------- storing items


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
            with open_session(db_url()) as session, session.begin():
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
        with open_session(db_url()) as session, session.begin():
            finish_batch_upload(session, self.batch_id, now=utcnow())

    def _send(self, ids: list[str]) -> None:
        celery = current_app.extensions["celery"]
        try:
            celery.send_task(
                RECOGNIZE_CHUNK,
                args=[str(self.batch_id), list(ids)],
                retry=True,
                retry_policy=SEND_RETRY_POLICY,
            )
        except Exception as exc:
            log.error("could not enqueue a chunk of batch %s: %s", self.batch_id, exc)
            raise queue_unavailable() from exc
        self.chunks_sent += 1


# ---------------------------------------------------------------- parsing the upload


def _is_junk(name: str) -> bool:
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    if not parts:
        return True
    base = parts[-1]
    return "__MACOSX" in parts or base.lower() in JUNK_NAMES or base.startswith("._")


def _is_zip_part(filename: str, content_type: str | None) -> bool:
    return filename.lower().endswith(".zip") or (content_type or "").lower() in ZIP_TYPES


@dataclass
class StoredBytes:
    """Image bytes stored so far, decompressed zip members included: at most BATCH_MAX_BYTES."""

    limit: int
    used: int = 0

    def take(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise TooLarge(
                "batch_too_large",
                f"A batch may store at most {self.limit} bytes of images in all (zip members "
                "counted decompressed).",
            )


def _zip_entries(spool, limit: int) -> int:
    """How many entries the zip's central directory lists, counted header by header and
    stopping past `limit` (Python's ZipFile would read every entry before we could count)."""
    try:
        spool.seek(0)
        end = zipfile._EndRecData(spool)
        if end is None:
            return 0  # not a zip: ZipFile says so
        size = end[zipfile._ECD_SIZE]
        start = end[zipfile._ECD_LOCATION] - size
        if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
            start -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
        spool.seek(max(start, 0))
        count = seen = 0
        while seen < size and count <= limit:
            header = spool.read(46)
            if len(header) < 46 or header[:4] != b"PK\x01\x02":
                break
            name_len, extra_len, comment_len = struct.unpack("<HHH", header[28:34])
            skip = name_len + extra_len + comment_len
            spool.seek(skip, 1)
            seen += 46 + skip
            count += 1
        return count
    except (OSError, struct.error, ValueError):
        return 0


def _add_zip(
    writer: BatchWriter, spool, zip_name: str, max_image: int, stored: StoredBytes
) -> None:
    max_entries = ZIP_ENTRIES_PER_FILE * writer.max_files
    if _zip_entries(spool, max_entries) > max_entries:
        raise TooLarge(
            "too_many_files",
            f"{zip_name} lists more than {max_entries} entries (folders included); a batch "
            f"holds at most {writer.max_files} files.",
        )
    spool.seek(0)
    try:
        archive = zipfile.ZipFile(spool)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        writer.add_failure(zip_name, f"not a readable zip archive ({exc})", "bad_archive")
        return
    with archive:
        for info in archive.infolist():
            name = info.filename
            if info.is_dir() or _is_junk(name):
                continue
            label = clean_name(f"{zip_name}/{name}")
            if name.lower().endswith(".zip"):
                writer.add_failure(
                    label, "nested archives are not opened", "nested_archive", info.file_size
                )
                continue
            if info.file_size > max_image:
                raise TooLarge(
                    "image_too_large",
                    f"{label} is {info.file_size} bytes; an image may be at most "
                    f"{max_image} bytes.",
                )
            stored.take(info.file_size)  # as declared: refuse before inflating
            try:
                with archive.open(info) as member:
                    data = member.read(max_image + 1)
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
                    OSError, EOFError, ValueError) as exc:  # fmt: skip
                stored.used -= info.file_size
                writer.add_failure(label, f"unreadable zip member ({exc})", "bad_archive_member")
                continue
            if len(data) > max_image:
                raise TooLarge(
                    "image_too_large",
                    f"{label} is larger than {max_image} bytes (the limit for one image).",
                )
            stored.take(len(data) - info.file_size)  # as it really was
            writer.add_image(label, data)


def parse_upload(writer: BatchWriter, boundary: bytes) -> None:
    settings = current_settings()
    max_image = settings.max_image_bytes
    max_bytes = settings.batch_max_bytes
    stored = StoredBytes(max_bytes)
    part: File | Field | None = None  # the current part of the `files` field, if any
    buffer = bytearray()
    spool = None  # the current .zip part, spooled
    try:
        for event in multipart_events(boundary, request_chunks(max_bytes)):
            if isinstance(event, File | Field):
                # A `files` part is a file with or without a filename (curl -F files=<x.png).
                part = event if event.name == FIELD else None
                buffer.clear()
                filename = getattr(part, "filename", None) or ""
                if part is not None and _is_zip_part(filename, part.headers.get("content-type")):
                    spool = tempfile.SpooledTemporaryFile(max_size=ZIP_SPOOL_MEMORY)  # noqa: SIM115
            elif isinstance(event, Data) and part is not None:
                if spool is not None:
                    spool.write(event.data)
                else:
                    buffer += event.data
                    if len(buffer) > max_image:
                        raise TooLarge(
                            "image_too_large",
                            f"{clean_name(getattr(part, 'filename', None)) or 'a part'} is "
                            f"larger than {max_image} bytes (the limit for one image).",
                        )
                if not event.more_data:
                    name = clean_name(getattr(part, "filename", None))
                    if spool is not None:
                        _add_zip(writer, spool, name or "upload.zip", max_image, stored)
                        spool.close()
                        spool = None
                    elif name is not None or buffer:  # (a browser's empty file input: skip)
                        stored.take(len(buffer))
                        writer.add_image(name, bytes(buffer))
                        buffer.clear()
                    part = None
            # Preamble, other fields and their data are ignored.
    finally:
        if spool is not None:
            spool.close()


@bp.post("/batches")
@operation(
    "createBatch",
    "Upload many images (files, folders, .zip archives) as one batch",
    description="The body is parsed as a stream; limits: BATCH_MAX_BYTES in all (zip members "
    "counted decompressed), BATCH_MAX_FILES items (zip members included), MAX_IMAGE_BYTES per "
    "image. Files that are not images become failed items; nested archives are not opened; "
    "__MACOSX/, ._*, .DS_Store, Thumbs.db and desktop.ini entries are skipped.",
    query=schemas.BatchQuerySchema,
    request_body=batch_body(),
    responses={
        202: schemas.BatchAcceptedSchema,
        400: "No files, a malformed body or a bad chunk_size",
        413: "Over BATCH_MAX_BYTES, BATCH_MAX_FILES or MAX_IMAGE_BYTES",
        415: "Not multipart/form-data",
        429: TOO_MANY_SUBMISSIONS,
        503: "The work queue or the database is unavailable (see Retry-After)",
    },
    links={202: BATCH_LINKS},
)
@submit_limit
def create_batch(query: dict):
    settings = current_settings()
    if request.mimetype != "multipart/form-data":
        raise ApiError(
            415,
            "unsupported_content_type",
            'Send multipart/form-data with one or more "files" fields (images or .zip files).',
        )
    boundary = multipart_boundary()
    chunk_size = query.get("chunk_size") or settings.batch_chunk_size
    max_bytes = settings.batch_max_bytes
    if request.content_length is not None and request.content_length > max_bytes:
        raise batch_too_large(max_bytes)

    lease = settings.lease_timeout
    batch = Batch(
        status=QUEUED,
        total=UPLOAD_PLACEHOLDER,
        chunk_size=chunk_size,
        owner_id=current_owner(),
        upload_until=utcnow() + timedelta(seconds=lease),
    )
    with open_session(db_url()) as session, session.begin():
        session.add(batch)
    writer = BatchWriter(
        batch.id,
        chunk_size,
        settings.batch_max_files,
        settings.max_image_pixels,
        owner_id=current_owner(),
        chunk_max_bytes=settings.chunk_max_bytes,
    )
    try:
        with Heartbeat(_upload_alive(db_url(), batch.id, lease), every=lease / 3):
            parse_upload(writer, boundary)
            if writer.count == 0:
                raise ApiError(
                    400, "no_files", 'The upload has no files: send them as "files" fields.'
                )
            writer.finish()
    except BaseException as exc:
        _discard(batch.id)
        if isinstance(exc, ApiError) and 400 <= exc.status < 500:
            drain(max_bytes)  # the client is still sending: let it finish and read our answer
        raise
    log.info(
        "batch %s stored: %d items (%d failed at upload), %d chunks",
        batch.id,
        writer.count,
        writer.failed,
        writer.chunks_sent,
    )
    history.remember("batches", batch.id)
    url = url_for("batches.get_batch", batch_id=str(batch.id))
    body = {"id": batch.id, "status": QUEUED, "total": writer.count, "url": url}
    return jsonify(schemas.BatchAcceptedSchema().dump(body)), 202, {"Location": url}


def _upload_alive(url: str, batch_id: uuid.UUID, lease: float):
    """The heartbeat of an upload in progress: the stuck check never closes it meanwhile."""

    def renew() -> None:
        with open_session(url) as session, session.begin():
            renew_upload(session, batch_id, until=utcnow() + timedelta(seconds=lease))

    return renew


def _discard(batch_id: uuid.UUID) -> None:
    try:
        with open_session(db_url()) as session, session.begin():
            session.execute(delete(Batch).where(Batch.id == batch_id))
    except Exception:
        log.exception("could not remove the rejected batch %s", batch_id)


# ---------------------------------------------------------------- reading


def _load_batch(batch_id: str, *options) -> Batch:
    key = as_uuid(batch_id)
    with open_session(db_url()) as session:
        batch = (
            session.scalar(select(Batch).options(*options).where(Batch.id == key, owned(Batch)))
            if key
            else None
        )
    if batch is None:
        raise ApiError(404, "not_found", "No batch with that id.")
    return batch


@bp.get("/batches/<batch_id>")
@operation(
    "getBatch",
    "A batch's progress (counters; cheap to poll) and how many of its items need review",
    responses={
        200: schemas.BatchSchema,
        404: "Unknown id",
        503: "The database is unavailable (see Retry-After)",
    },
    links={
        200: {
            "GetResults": link("getBatchResults", id="$response.body#/id"),
            "GetReview": link("getReview", batch="$response.body#/id"),
        }
    },
)
def get_batch(batch_id: str):
    return jsonify(schemas.BatchSchema().dump(_load_batch(batch_id, with_review_count())))


RESULTS_RESPONSE = {
    "description": "A page of items, or the whole CSV (format=csv)",
    "content": {
        "application/json": {"schema": schemas.BatchResultsSchema},
        "text/csv": {"schema": {"type": "string"}},
    },
}


@bp.get("/batches/<batch_id>/results")
@operation(
    "getBatchResults",
    "A batch's items in upload order: JSON pages, or the whole CSV",
    query=schemas.ResultsQuerySchema,
    responses={
        200: RESULTS_RESPONSE,
        400: "Bad paging, status, needs_review or format",
        404: "Unknown id",
    },
    links={200: RESULTS_LINKS},
)
def batch_results(batch_id: str, query: dict):
    batch = _load_batch(batch_id)
    status = query.get("status")
    needs_review = query.get("needs_review")
    if query["format"] == "csv":
        return _csv_response(batch, status, needs_review)
    page = query["page"]
    per_page = min(schemas.MAX_PER_PAGE, query["per_page"])
    with open_session(db_url()) as session:
        items, total = batch_items_page(
            session,
            batch.id,
            status=status,
            page=page,
            per_page=per_page,
            needs_review=needs_review,
        )
        body = {
            "items": items,
            "page": page,
            "per_page": per_page,
            "total": total,
            "pages": math.ceil(total / per_page) if total else 0,
        }
        return jsonify(schemas.BatchResultsSchema().dump(body))


def _corrected_texts(session, rows) -> dict:
    """{recognition id: text with users' corrections} for the rows that have any."""
    labels: dict = {}
    if rows:
        for rid, position, label in session.execute(
            select(Correction.recognition_id, Correction.position, Correction.label).where(
                Correction.recognition_id.in_([r.id for r in rows])
            )
        ):
            labels.setdefault(rid, {})[position] = label
    return {r.id: corrected_text(r.text, labels[r.id]) for r in rows if r.id in labels}


def csv_cell(value: str) -> str:
    """A cell no spreadsheet runs as a formula (OWASP: prefix `'` to =, +, -, @, tab, CR)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def _csv_response(batch: Batch, status: str | None, needs_review: bool | None) -> Response:
    url, batch_id = db_url(), batch.id

    def rows() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        after = 0
        while True:
            with open_session(url) as session:
                page = batch_rows_after(session, batch_id, after, CSV_FETCH, status, needs_review)
                corrected = _corrected_texts(session, page)
            for row in page:
                confidence = "" if row.confidence is None else f"{row.confidence:.4f}"
                cells = [row.filename or "", row.status, row.text or "", confidence]
                cells += [row.error or "", "true" if row.needs_review else "false"]
                cells.append(corrected.get(row.id) or "")
                writer.writerow([csv_cell(c) for c in cells])
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if len(page) < CSV_FETCH:
                return
            after = page[-1].seq

    return Response(
        rows(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="batch-{batch_id}.csv"'},
    )
