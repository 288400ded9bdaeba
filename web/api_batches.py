"""Bulk batches under /api/v1/batches: the HTTP side.

The upload is parsed as a stream (web.batch_upload, over web.uploads' multipart decoder), so a
10,000-file folder upload is never held in memory; web.batch_writer stores the items a few
hundred at a time and sends their ids to the `bulk` queue in chunks while the rest of the upload
is still arriving. Our own limits apply: BATCH_MAX_BYTES (the request, and the decompressed
bytes of zip members), BATCH_MAX_FILES (items, zip members included) and MAX_IMAGE_BYTES (each
image). Items that are not images become `failed` items at once (the batch goes on). CSV cells
that a spreadsheet would run as a formula are prefixed with `'`.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

from flask import Blueprint, Response, jsonify, request, url_for
from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError

from config import current_settings
from store import QUEUED, Batch, Correction, Recognition, open_session, utcnow
from store.corrections import corrected_text
from store.heartbeat import Heartbeat
from store.queries import (
    UPLOAD_PLACEHOLDER,
    as_uuid,
    batch_items_page,
    batch_rows_after,
    renew_upload,
    with_review_count,
)
from web import history, schemas
from web.batch_upload import parse_upload
from web.batch_writer import BatchWriter
from web.errors import ApiError
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
    batch_too_large,
    drain,
    multipart_boundary,
)

log = logging.getLogger(__name__)
bp = Blueprint("batches", __name__, url_prefix="/api/v1")

CSV_FETCH = 1000
# needs_review and corrected_text were added at the end, so column positions stay
CSV_COLUMNS = [
    *("filename", "status", "text", "confidence", "error"),
    *("needs_review", "corrected_text"),
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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
    with open_session(current_settings().database_url) as session, session.begin():
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
        with Heartbeat(
            _upload_alive(current_settings().database_url, batch.id, lease), every=lease / 3
        ):
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


#: tries at removing a rejected batch (a deadlock with a worker is retried)
DISCARD_TRIES = 3


def _discard(batch_id: uuid.UUID) -> None:
    """Remove a rejected upload's batch and the items already stored (workers may be reading
    them). Items first, then the batch: the order in which a worker storing an item's result
    locks the rows. In the other order (the batch's cascade) PostgreSQL can deadlock with it;
    a deadlock that still happens is retried."""
    for attempt in range(1, DISCARD_TRIES + 1):
        try:
            with open_session(current_settings().database_url) as session, session.begin():
                session.execute(delete(Recognition).where(Recognition.batch_id == batch_id))
                session.execute(delete(Batch).where(Batch.id == batch_id))
            return
        except OperationalError:
            if attempt < DISCARD_TRIES:
                time.sleep(0.05 * attempt)
                continue
            log.exception("could not remove the rejected batch %s", batch_id)
        except Exception:
            log.exception("could not remove the rejected batch %s", batch_id)
        return


# ---------------------------------------------------------------- reading


def _load_batch(batch_id: str, *options) -> Batch:
    key = as_uuid(batch_id)
    with open_session(current_settings().database_url) as session:
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
    with open_session(current_settings().database_url) as session:
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
    url, batch_id = current_settings().database_url, batch.id

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
