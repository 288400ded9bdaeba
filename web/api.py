"""JSON API under /api/v1: submit an image, poll its recognition, fetch images and model info."""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import threading
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload
from werkzeug.sansio.multipart import Data, Field, File

import recognizer
from config import current_settings
from store import FINAL_STATUSES, QUEUED, Batch, DigitResult, Recognition, events, open_session
from store.corrections import correction_image
from store.queries import as_uuid, get_recognition, store_failures, with_review_count
from web import history, model_info, schemas
from web.errors import ApiError
from web.openapi import (
    RECOGNITION_LINKS,
    TOO_MANY_SUBMISSIONS,
    link,
    openapi_document,
    operation,
    submit_body,
)
from web.queueing import enqueue
from web.schemas import MAX_DIGIT_POSITION, MAX_WAIT_SECONDS
from web.security import current_owner, keys_required, owned, submit_limit
from web.uploads import (
    TooLarge,
    clean_name,
    drain,
    multipart_boundary,
    multipart_events,
    request_chunks,
)
from worker.celery_app import redis_timeout
from worker.queues import RECOGNIZE

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")

FORM_OVERHEAD = 64 * 1024


# ---------------------------------------------------------------- submitting


def _decode_base64(value: str) -> bytes:
    """Accept plain base64 or a `data:image/...;base64,` URL."""
    if value.startswith("data:"):
        header, _, value = value.partition(",")
        if ";base64" not in header:
            raise ApiError(400, "bad_base64", "The data URL must be base64-encoded.")
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "bad_base64", "The image is not valid base64.") from exc


def _read_json_image(limit: int) -> tuple[bytes, str | None]:
    request.max_content_length = limit * 4 // 3 + FORM_OVERHEAD
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", 'Send a JSON object like {"image": "<base64>"}.')
    fields = schemas.load(schemas.SubmitJsonSchema(), body)
    value = fields["image"].strip()
    if not value:
        raise ApiError(400, "missing_image", 'The JSON field "image" is missing or empty.')
    return _decode_base64(value), fields["filename"]


def _image_too_large(limit: int) -> TooLarge:
    return TooLarge("image_too_large", f"The image is larger than {limit} bytes.")


def _read_multipart_image(limit: int) -> tuple[bytes, str | None]:
    """The first `image` part (a file, or a plain field) of a multipart body, streamed."""
    boundary = multipart_boundary()
    max_body = limit + FORM_OVERHEAD
    if request.content_length is not None and request.content_length > max_body:
        raise _image_too_large(limit)
    data, filename, current = None, None, None
    chunks = request_chunks(max_body, lambda _: _image_too_large(limit))
    for event in multipart_events(boundary, chunks):
        if isinstance(event, File | Field):
            current = bytearray() if event.name == "image" and data is None else None
            filename = getattr(event, "filename", None) if current is not None else filename
        elif isinstance(event, Data) and current is not None:
            current += event.data
            if len(current) > limit:
                raise _image_too_large(limit)
            if not event.more_data:
                data, current = bytes(current), None
    if data is None:
        raise ApiError(400, "missing_image", 'The multipart field "image" is missing.')
    return data, filename


def read_submitted_image() -> tuple[bytes, str | None]:
    """The image bytes and (cleaned) filename from a JSON body or a multipart `image` field."""
    limit = current_settings().max_image_bytes
    if request.mimetype == "application/json":
        data, filename = _read_json_image(limit)
    elif request.mimetype == "multipart/form-data":
        try:
            data, filename = _read_multipart_image(limit)
        except TooLarge:
            drain(limit + FORM_OVERHEAD)
            raise
    else:
        raise ApiError(
            415,
            "unsupported_content_type",
            "Send application/json with a base64 image or multipart/form-data with a file field "
            '"image".',
        )
    if not data:
        raise ApiError(400, "missing_image", "The image is empty.")
    if len(data) > limit:
        raise _image_too_large(limit)
    return data, clean_name(filename)


def inspect_image(data: bytes) -> recognizer.ImageInfo:
    """Check the header only (the web never loads the model or decodes big images)."""
    try:
        return recognizer.image_info(data, max_pixels=current_settings().max_image_pixels)
    except recognizer.ImageTooLarge as exc:
        raise ApiError(413, exc.code, str(exc)) from exc
    except recognizer.RecognizerError as exc:
        raise ApiError(415, "unsupported_image", f"Not a supported image: {exc}") from exc


def image_columns(data: bytes, info: recognizer.ImageInfo) -> dict:
    """The Recognition columns that describe a stored image (single and batch uploads)."""
    return {
        "image": data,
        "image_mime": info.mime,
        "image_size": len(data),
        "width": info.width,
        "height": info.height,
    }


@contextlib.contextmanager
def waiting_slot() -> Iterator[bool]:
    """One of the WAIT_MAX_CONCURRENT `?wait=` slots of this process, if one is free: held
    waits never take all the web's threads, so other requests keep being answered."""
    slots = current_app.extensions.get("wait_slots")
    if slots is None:
        slots = current_app.extensions.setdefault(
            "wait_slots", threading.BoundedSemaphore(current_settings().wait_max_concurrent)
        )
    got = slots.acquire(blocking=False)
    try:
        yield got
    finally:
        if got:
            slots.release()


@bp.post("/recognitions")
@operation(
    "createRecognition",
    "Submit one image for recognition",
    query=schemas.SubmitQuerySchema,
    request_body=submit_body(),
    responses={
        202: schemas.AcceptedSchema,
        400: "Missing field, bad base64 or a malformed body",
        413: "Over the size or pixel limit",
        415: "Not a supported image or content type",
        429: TOO_MANY_SUBMISSIONS,
        503: "The work queue or the database is unavailable (see Retry-After)",
    },
    links={202: RECOGNITION_LINKS},
)
@submit_limit
def create_recognition(query: dict):
    data, filename = read_submitted_image()
    info = inspect_image(data)
    rec = Recognition(
        status=QUEUED,
        filename=filename,
        source=query["source"],
        owner_id=current_owner(),
        **image_columns(data, info),
    )
    with open_session(current_settings().database_url) as session, session.begin():
        session.add(rec)
    try:
        enqueue(RECOGNIZE, str(rec.id))
    except ApiError:
        _fail_unqueued(rec)
        raise
    history.remember("recognitions", rec.id)
    url = url_for("api.get_recognition", recognition_id=str(rec.id))
    body = schemas.AcceptedSchema().dump({"id": rec.id, "status": QUEUED, "url": url})
    return jsonify(body), 202, {"Location": url}


def _fail_unqueued(rec: Recognition) -> None:
    with open_session(current_settings().database_url) as session, session.begin():
        store_failures(session, {rec.id: "could not be queued"}, "queue_unavailable")


# ---------------------------------------------------------------- reading


def _status_of(rid) -> str | None:
    with open_session(current_settings().database_url) as session:
        return session.scalar(
            select(Recognition.status).where(Recognition.id == rid, owned(Recognition))
        )


@bp.get("/recognitions/<recognition_id>", endpoint="get_recognition")
@operation(
    "getRecognition",
    "Poll a recognition",
    query=schemas.WaitQuerySchema,
    responses={
        200: schemas.RecognitionSchema,
        400: "Bad wait",
        404: "Unknown id",
        503: "The database is unavailable (see Retry-After)",
    },
    links={
        200: {
            "GetImage": link("getRecognitionImage", id="$response.body#/id"),
            "GetFirstDigit": link("getNormalizedDigit", id="$response.body#/id", n=0),
            "CorrectFirstDigit": link("setDigitLabel", id="$response.body#/id", n=0),
        }
    },
)
def get_recognition_view(recognition_id: str, query: dict):
    key = as_uuid(recognition_id)
    wait = min(query["wait"], MAX_WAIT_SECONDS)
    status = _status_of(key) if key else None
    if status is None:
        raise ApiError(404, "not_found", "No recognition with that id.")
    if wait > 0 and status not in FINAL_STATUSES:
        with waiting_slot() as slot:
            if slot:  # beyond the cap, answer at once with the current state
                events.wait_until(
                    current_settings().redis_url,
                    key,
                    lambda: _status_of(key) in FINAL_STATUSES,
                    wait,
                    redis_timeout=redis_timeout(current_settings()),
                )
    with open_session(current_settings().database_url) as session:
        rec = get_recognition(session, key)
        return jsonify(schemas.RecognitionSchema().dump(rec))


IMAGE_RESPONSE = {
    "description": "The image bytes, with their real type (sniffed at upload)",
    "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
}


@bp.get("/recognitions/<recognition_id>/image")
@operation(
    "getRecognitionImage",
    "The submitted image",
    responses={
        200: IMAGE_RESPONSE,
        404: "Unknown id, or no image stored (the upload was not an image)",
        410: "Removed after the retention period",
    },
)
def image(recognition_id: str):
    key = as_uuid(recognition_id)
    with open_session(current_settings().database_url) as session:
        row = (
            session.execute(
                select(
                    Recognition.image, Recognition.image_mime, Recognition.image_purged_at
                ).where(Recognition.id == key, owned(Recognition))
            ).first()
            if key
            else None
        )
    if row is None:
        raise ApiError(404, "not_found", "No recognition with that id.")
    if row.image is None and row.image_purged_at is None:
        raise ApiError(404, "no_image", "Nothing was stored for this item: it was not an image.")
    if row.image is None:
        raise ApiError(410, "image_removed", "The image was removed after the retention period.")
    mime = row.image_mime or ""
    is_image = mime.startswith("image/")
    return Response(
        row.image,
        mimetype=mime if is_image else "application/octet-stream",
        headers={
            "Cache-Control": "private, max-age=3600",
            "Content-Disposition": "inline" if is_image else "attachment",
        },
    )


@bp.get("/recognitions/<recognition_id>/normalized/<int:n>")
@operation(
    "getNormalizedDigit",
    "The 28x28 PNG of digit n as the model saw it",
    responses={
        200: {"description": "PNG", "content": {"image/png": {"schema": {"type": "string"}}}},
        404: "No such digit",
    },
)
def normalized(recognition_id: str, n: int):
    key = as_uuid(recognition_id)
    with open_session(current_settings().database_url) as session:
        png = (
            session.scalar(
                select(DigitResult.normalized)
                .join(Recognition, Recognition.id == DigitResult.recognition_id)
                .where(DigitResult.recognition_id == key, DigitResult.position == n)
                .where(owned(Recognition))
            )
            if key and n <= MAX_DIGIT_POSITION
            else None
        )
        if png is None and key and n <= MAX_DIGIT_POSITION and _may_read(session, key):
            png = correction_image(session, key, n)  # a corrected digit keeps a copy
    if png is None:
        raise ApiError(404, "not_found", "No such digit (or its image was removed).")
    return Response(
        png,
        mimetype="image/png",
        headers={"Cache-Control": "private, max-age=3600", "Content-Disposition": "inline"},
    )


def _may_read(session, key) -> bool:
    """Whether the caller may read what is kept of recognition `key` after retention: anyone
    with its id (AUTH=none), else only its owner while it exists (a correction outlives it)."""
    if not keys_required():
        return True
    found = select(Recognition.id).where(Recognition.id == key, owned(Recognition))
    return session.scalar(found) is not None


# ---------------------------------------------------------------- history and model


@bp.get("/history")
@operation(
    "getHistory",
    "Recognitions and batches submitted from this browser (signed cookie)",
    query=schemas.HistoryQuerySchema,
    responses={200: schemas.HistorySchema, 400: "Bad paging"},
)
def history_view(query: dict):
    """Recognitions and batches submitted from this browser (ids from its signed cookie)."""
    page = min(max(1, query["page"]), schemas.MAX_PAGE)
    per_page = min(schemas.MAX_HISTORY_PER_PAGE, max(1, query["per_page"]))
    rec_ids, batch_ids = history.remembered("recognitions"), history.remembered("batches")
    with open_session(current_settings().database_url) as session:
        recs = (
            session.scalars(
                select(Recognition)
                .options(selectinload(Recognition.digits), selectinload(Recognition.corrections))
                .where(Recognition.id.in_(rec_ids), owned(Recognition))
                .order_by(Recognition.created_at.desc())
            ).all()
            if rec_ids
            else []
        )
        batches = (
            session.scalars(
                select(Batch)
                .options(with_review_count())
                .where(Batch.id.in_(batch_ids), owned(Batch))
                .order_by(Batch.created_at.desc())
            ).all()
            if batch_ids
            else []
        )
        start = (page - 1) * per_page
        body = {
            "recognitions": recs[start : start + per_page],
            "batches": batches[start : start + per_page],
            "page": page,
            "per_page": per_page,
            "total_recognitions": len(recs),
            "total_batches": len(batches),
        }
        return jsonify(schemas.HistorySchema().dump(body))


@bp.get("/model")
@operation(
    "getModel",
    "The serving model version's metadata, and every version available",
    responses={200: schemas.ModelInfoSchema, 503: "No model, or the database is unavailable"},
)
def model_view():
    """The serving version's metadata (read from disk: the web never loads the model), which
    version that is and why (`active`), and every version available (`versions`)."""
    try:
        active = model_info.current()
    except SQLAlchemyError as exc:
        raise ApiError(503, "database_unavailable", "The database is unavailable.") from exc
    except recognizer.ModelError as exc:
        raise ApiError(503, "model_unavailable", str(exc)) from exc
    try:
        metadata = model_info.metadata_of(active.path)
    except (OSError, ValueError) as exc:
        raise ApiError(
            503, "model_unavailable", f"No readable model metadata for {active.path.name}."
        ) from exc
    models_dir = model_info.settings().models_dir
    described = {
        **metadata,
        "active": model_info.describe_active(active, metadata, models_dir),
        "versions": model_info.describe_versions(active, models_dir),
    }
    return jsonify({**metadata, **schemas.ModelInfoSchema().dump(described)})


@bp.get("/openapi.json")
@operation(
    "getOpenApi",
    "This document (open to anyone, also with AUTH=keys)",
    responses={
        200: {
            "description": "OpenAPI 3.1",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def openapi():
    return jsonify(openapi_document(current_app._get_current_object()))
