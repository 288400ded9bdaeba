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
"""

from __future__ import annotations

import csv
import io
import logging
import math
import tempfile
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy import delete, func, select
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, File, MultipartDecoder, NeedData

import recognizer
from store import FAILED, QUEUED, Batch, Correction, Recognition, open_session, utcnow
from store.queries import (
    UPLOAD_PLACEHOLDER,
    add_batch_items,
    as_uuid,
    batch_items_page,
    batch_rows_after,
    finish_batch_upload,
)
from web import history
from web.api import image_columns
from web.errors import ApiError
from web.serialize import batch_json_with_review, recognition_json

log = logging.getLogger(__name__)
bp = Blueprint("batches", __name__, url_prefix="/api/v1")

FIELD = "files"
READ_SIZE = 256 * 1024  # bytes read from the request stream at a time
FLUSH_ROWS = 256  # items written to the database per transaction during an upload
FLUSH_BYTES = 8 * 1024**2  # ... or fewer, when their images add up to this much
ZIP_SPOOL_MEMORY = 8 * 1024**2  # a zip larger than this is spooled to a temp file
MAX_PER_PAGE = 200
CSV_FETCH = 1000
# needs_review and corrected_text were added at the end, so column positions stay
CSV_COLUMNS = [
    *("filename", "status", "text", "confidence", "error"),
    *("needs_review", "corrected_text"),
]
ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/x-zip"}
JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}
STATUSES = ("queued", "processing", "done", "failed")


def db_url() -> str:
    return current_app.config["DATABASE_URL"]


class TooLarge(ApiError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(413, code, message)


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
    ready: list[str] = field(default_factory=list)  # stored, queued ids not yet sent
    chunks_sent: int = 0

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
            self.ready += [str(r["id"]) for r in self.rows if r["status"] == QUEUED]
            self.rows, self.row_bytes = [], 0
        while len(self.ready) >= self.chunk_size:
            self._send(self.ready[: self.chunk_size])
            del self.ready[: self.chunk_size]

    def finish(self) -> None:
        self.flush()
        if self.ready:
            self._send(self.ready)
            self.ready = []
        with open_session(db_url()) as session, session.begin():
            finish_batch_upload(session, self.batch_id, now=utcnow())

    def _send(self, ids: list[str]) -> None:
        celery = current_app.extensions["celery"]
        try:
            celery.send_task(
                "batches.recognize_chunk",
                args=[str(self.batch_id), list(ids)],
                retry=True,
                retry_policy={"max_retries": 2},
            )
        except Exception as exc:
            log.error("could not enqueue a chunk of batch %s: %s", self.batch_id, exc)
            raise ApiError(
                503, "queue_unavailable", "The work queue is unavailable; try again."
            ) from exc
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


def _add_zip(writer: BatchWriter, spool, zip_name: str, max_image: int) -> None:
    spool.seek(0)
    try:
        archive = zipfile.ZipFile(spool)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        writer.add_failure(zip_name, f"not a readable zip archive ({exc})", "bad_archive")
        return
    with archive:
        for info in archive.infolist():
            name = info.filename
            if info.is_dir() or _is_junk(name):
                continue
            label = f"{zip_name}/{name}"[:1024]
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
            try:
                with archive.open(info) as member:
                    data = member.read(max_image + 1)
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
                    OSError, EOFError, ValueError) as exc:  # fmt: skip
                writer.add_failure(label, f"unreadable zip member ({exc})", "bad_archive_member")
                continue
            if len(data) > max_image:
                raise TooLarge(
                    "image_too_large",
                    f"{label} is larger than {max_image} bytes (the limit for one image).",
                )
            writer.add_image(label, data)


def _request_chunks(max_bytes: int) -> Iterator[bytes]:
    """The raw request body in pieces, stopping with a 413 past `max_bytes`."""
    stream = request.stream
    seen = 0
    while True:
        chunk = stream.read(READ_SIZE)
        if not chunk:
            return
        seen += len(chunk)
        if seen > max_bytes:
            raise TooLarge(
                "batch_too_large", f"A batch upload may be at most {max_bytes} bytes in all."
            )
        yield chunk


def parse_upload(writer: BatchWriter, boundary: bytes) -> None:
    config = current_app.config
    max_image = int(config["MAX_IMAGE_BYTES"])
    decoder = MultipartDecoder(boundary, max_form_memory_size=None, max_parts=None)
    chunks = _request_chunks(int(config["BATCH_MAX_BYTES"]))
    part: File | None = None  # the current file part of the `files` field, if any
    buffer = bytearray()
    spool = None  # the current .zip part, spooled
    try:
        while True:
            event = decoder.next_event()
            if isinstance(event, NeedData):
                decoder.receive_data(next(chunks, None))
            elif isinstance(event, File):
                part = event if event.name == FIELD else None
                buffer.clear()
                if part is not None and _is_zip_part(
                    part.filename, part.headers.get("content-type")
                ):
                    spool = tempfile.SpooledTemporaryFile(max_size=ZIP_SPOOL_MEMORY)  # noqa: SIM115
            elif isinstance(event, Data) and part is not None:
                if spool is not None:
                    spool.write(event.data)
                else:
                    buffer += event.data
                    if len(buffer) > max_image:
                        raise TooLarge(
                            "image_too_large",
                            f"{part.filename} is larger than {max_image} bytes "
                            "(the limit for one image).",
                        )
                if not event.more_data:
                    name = part.filename[:1024] or None
                    if spool is not None:
                        _add_zip(writer, spool, name or "upload.zip", max_image)
                        spool.close()
                        spool = None
                    elif name is not None or buffer:  # (a browser's empty file input: skip)
                        writer.add_image(name, bytes(buffer))
                        buffer.clear()
                    part = None
            elif isinstance(event, Epilogue):
                break
            # Preamble, plain (non-file) fields and other fields' data are ignored.
    finally:
        if spool is not None:
            spool.close()
    for _ in chunks:  # anything after the closing boundary
        pass


def _drain(max_bytes: int) -> None:
    """Read what is left of a rejected upload, so the client sees our 413, not a reset."""
    try:
        stream, seen = request.stream, 0
        while seen <= max_bytes:
            chunk = stream.read(READ_SIZE)
            if not chunk:
                return
            seen += len(chunk)
    except Exception:
        return


def _chunk_size_arg() -> int:
    raw = request.args.get("chunk_size")
    if raw is None:
        return int(current_app.config["BATCH_CHUNK_SIZE"])
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise ApiError(400, "bad_chunk_size", "chunk_size must be an integer from 1 to 1000.")
    return value


@bp.post("/batches")
def create_batch():
    config = current_app.config
    if request.mimetype != "multipart/form-data":
        raise ApiError(
            415,
            "unsupported_content_type",
            'Send multipart/form-data with one or more "files" fields (images or .zip files).',
        )
    _, options = parse_options_header(request.headers.get("Content-Type", ""))
    boundary = options.get("boundary", "")
    if not boundary:
        raise ApiError(400, "bad_multipart", "The multipart body has no boundary.")
    chunk_size = _chunk_size_arg()
    max_bytes = int(config["BATCH_MAX_BYTES"])
    if request.content_length is not None and request.content_length > max_bytes:
        raise TooLarge(
            "batch_too_large", f"A batch upload may be at most {max_bytes} bytes in all."
        )

    batch = Batch(status=QUEUED, total=UPLOAD_PLACEHOLDER, chunk_size=chunk_size)
    with open_session(db_url()) as session, session.begin():
        session.add(batch)
    writer = BatchWriter(
        batch.id, chunk_size, int(config["BATCH_MAX_FILES"]), int(config["MAX_IMAGE_PIXELS"])
    )
    try:
        parse_upload(writer, boundary.encode("latin-1"))
        if writer.count == 0:
            raise ApiError(400, "no_files", 'The upload has no files: send them as "files" fields.')
        writer.finish()
    except BaseException as exc:
        _discard(batch.id)
        if isinstance(exc, ApiError) and exc.status == 413:
            _drain(max_bytes)
        if isinstance(exc, ValueError):  # malformed multipart
            raise ApiError(400, "bad_multipart", f"The multipart body is malformed: {exc}") from exc
        raise
    log.info(
        "batch %s stored: %d items (%d failed at upload), %d chunks",
        batch.id,
        writer.count,
        writer.failed,
        writer.chunks_sent,
    )
    history.remember("batches", batch.id)
    url = url_for("batches.get_batch", bid=str(batch.id))
    body = {"id": str(batch.id), "status": QUEUED, "total": writer.count, "url": url}
    return jsonify(body), 202, {"Location": url}


def _discard(batch_id: uuid.UUID) -> None:
    try:
        with open_session(db_url()) as session, session.begin():
            session.execute(delete(Batch).where(Batch.id == batch_id))
    except Exception:
        log.exception("could not remove the rejected batch %s", batch_id)


# ---------------------------------------------------------------- reading


def _load_batch(bid: str) -> Batch:
    key = as_uuid(bid)
    with open_session(db_url()) as session:
        batch = session.get(Batch, key) if key else None
    if batch is None:
        raise ApiError(404, "not_found", "No batch with that id.")
    return batch


@bp.get("/batches/<bid>")
def get_batch(bid: str):
    batch = _load_batch(bid)
    with open_session(db_url()) as session:
        flagged = session.scalar(
            select(func.count())
            .select_from(Recognition)
            .where(Recognition.batch_id == batch.id, Recognition.needs_review == True)  # noqa: E712
        )
    return jsonify(batch_json_with_review(batch, int(flagged or 0)))


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, "bad_page", f"{name} must be a positive integer.") from exc
    if value < 1:
        raise ApiError(400, "bad_page", f"{name} must be a positive integer.")
    return value


def _bool_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    value = {"true": True, "1": True, "false": False, "0": False}.get(raw.lower())
    if value is None:
        raise ApiError(400, f"bad_{name}", f"{name} must be true or false.")
    return value


@bp.get("/batches/<bid>/results")
def batch_results(bid: str):
    batch = _load_batch(bid)
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(400, "bad_status", f"status must be one of {', '.join(STATUSES)}.")
    needs_review = _bool_arg("needs_review")
    fmt = request.args.get("format", "json").lower()
    if fmt == "csv":
        return _csv_response(batch, status, needs_review)
    if fmt != "json":
        raise ApiError(400, "bad_format", "format must be json or csv.")
    page = _int_arg("page", 1)
    per_page = min(MAX_PER_PAGE, _int_arg("per_page", 50))
    with open_session(db_url()) as session:
        items, total = batch_items_page(
            session,
            batch.id,
            status=status,
            page=page,
            per_page=per_page,
            needs_review=needs_review,
        )
        return jsonify(
            items=[recognition_json(r) for r in items],
            page=page,
            per_page=per_page,
            total=total,
            pages=math.ceil(total / per_page) if total else 0,
        )


def _corrected_texts(session, rows) -> dict:
    """{recognition id: text with users' corrections} for the rows that have any (a digit's
    position is its index in `text`)."""
    texts = {r.id: list(r.text or "") for r in rows}
    corrected = set()
    if texts:
        for rid, position, label in session.execute(
            select(Correction.recognition_id, Correction.position, Correction.label).where(
                Correction.recognition_id.in_(list(texts))
            )
        ):
            if position < len(texts[rid]):
                texts[rid][position] = str(label)
                corrected.add(rid)
    return {rid: "".join(texts[rid]) for rid in corrected}


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
                writer.writerow(
                    [
                        row.filename or "",
                        row.status,
                        row.text or "",
                        confidence,
                        row.error or "",
                        "true" if row.needs_review else "false",
                        corrected.get(row.id) or "",
                    ]
                )
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
