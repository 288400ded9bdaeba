"""JSON API under /api/v1: submit an image, poll its recognition, fetch images and model info."""

from __future__ import annotations

import base64
import binascii
import logging

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload

import recognizer
from store import FINAL_STATUSES, QUEUED, Batch, DigitResult, Recognition, events, open_session
from store.corrections import correction_image
from store.queries import Outcome, as_uuid, get_recognition, store_outcomes
from web import history, model_info
from web.errors import ApiError
from web.openapi import openapi_document
from web.serialize import batch_json, recognition_json

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_WAIT_SECONDS = 10.0
FORM_OVERHEAD = 64 * 1024


def db_url() -> str:
    return current_app.config["DATABASE_URL"]


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


def read_submitted_image() -> tuple[bytes, str | None]:
    """The image bytes and filename from a JSON body or a multipart `image` field."""
    limit = current_app.config["MAX_IMAGE_BYTES"]
    if request.mimetype == "application/json":
        request.max_content_length = limit * 4 // 3 + FORM_OVERHEAD
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError(400, "bad_json", 'Send a JSON object like {"image": "<base64>"}.')
        value = body.get("image")
        if not isinstance(value, str) or not value.strip():
            raise ApiError(400, "missing_image", 'The JSON field "image" is missing or empty.')
        data, filename = _decode_base64(value.strip()), body.get("filename")
    elif request.mimetype == "multipart/form-data":
        request.max_content_length = limit + FORM_OVERHEAD
        upload = request.files.get("image")
        if upload is None:
            raise ApiError(400, "missing_image", 'The multipart field "image" is missing.')
        data, filename = upload.read(limit + 1), upload.filename
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
        raise ApiError(413, "image_too_large", f"The image is larger than {limit} bytes.")
    return data, (str(filename)[:1024] if filename else None)


def inspect_image(data: bytes) -> recognizer.ImageInfo:
    """Check the header only (the web never loads the model or decodes big images)."""
    try:
        return recognizer.image_info(data, max_pixels=current_app.config["MAX_IMAGE_PIXELS"])
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


def enqueue(task: str, *args: object) -> None:
    celery = current_app.extensions["celery"]
    celery.send_task(task, args=list(args), retry=True, retry_policy={"max_retries": 2})


@bp.post("/recognitions")
def create_recognition():
    data, filename = read_submitted_image()
    info = inspect_image(data)
    source = request.args.get("source", "api")[:16]
    rec = Recognition(status=QUEUED, filename=filename, source=source, **image_columns(data, info))
    with open_session(db_url()) as session, session.begin():
        session.add(rec)
    try:
        enqueue("recognitions.recognize", str(rec.id))
    except Exception as exc:
        log.error("could not enqueue %s: %s", rec.id, exc)
        _fail_unqueued(rec)
        raise ApiError(
            503, "queue_unavailable", "The work queue is unavailable; try again."
        ) from exc
    history.remember("recognitions", rec.id)
    url = url_for("api.get_recognition", rid=str(rec.id))
    body = {"id": str(rec.id), "status": QUEUED, "url": url}
    return jsonify(body), 202, {"Location": url}


def _fail_unqueued(rec: Recognition) -> None:
    with open_session(db_url()) as session, session.begin():
        store_outcomes(
            session, [Outcome(rec.id, error="could not be queued", error_code="queue_unavailable")]
        )


# ---------------------------------------------------------------- reading


def _wait_seconds() -> float:
    raw = request.args.get("wait")
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError as exc:
        raise ApiError(400, "bad_wait", "wait must be a number of seconds (0-10).") from exc
    if value != value or value < 0:
        raise ApiError(400, "bad_wait", "wait must be a number of seconds (0-10).")
    return min(value, MAX_WAIT_SECONDS)


def _status_of(rid) -> str | None:
    with open_session(db_url()) as session:
        return session.scalar(select(Recognition.status).where(Recognition.id == rid))


@bp.get("/recognitions/<rid>", endpoint="get_recognition")
def get_recognition_view(rid: str):
    key = as_uuid(rid)
    wait = _wait_seconds()
    status = _status_of(key) if key else None
    if status is None:
        raise ApiError(404, "not_found", "No recognition with that id.")
    if wait > 0 and status not in FINAL_STATUSES:
        events.wait_until(
            current_app.config["REDIS_URL"], key, lambda: _status_of(key) in FINAL_STATUSES, wait
        )
    with open_session(db_url()) as session:
        rec = get_recognition(session, key)
        return jsonify(recognition_json(rec))


@bp.get("/recognitions/<rid>/image")
def image(rid: str):
    key = as_uuid(rid)
    with open_session(db_url()) as session:
        row = (
            session.execute(
                select(
                    Recognition.image, Recognition.image_mime, Recognition.image_purged_at
                ).where(Recognition.id == key)
            ).first()
            if key
            else None
        )
    if row is None:
        raise ApiError(404, "not_found", "No recognition with that id.")
    if row.image is None:
        raise ApiError(410, "image_removed", "The image was removed after the retention period.")
    return Response(
        row.image,
        mimetype=row.image_mime or "application/octet-stream",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@bp.get("/recognitions/<rid>/normalized/<int:n>")
def normalized(rid: str, n: int):
    key = as_uuid(rid)
    with open_session(db_url()) as session:
        png = (
            session.scalar(
                select(DigitResult.normalized).where(
                    DigitResult.recognition_id == key, DigitResult.position == n
                )
            )
            if key
            else None
        )
        if png is None and key:  # a corrected digit keeps its image (a copy) after retention
            png = correction_image(session, key, n)
    if png is None:
        raise ApiError(404, "not_found", "No such digit (or its image was removed).")
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=3600"})


# ---------------------------------------------------------------- history and model


@bp.get("/history")
def history_view():
    """Recognitions and batches submitted from this browser (ids from its signed cookie)."""
    try:
        page = max(1, int(request.args.get("page", 1)))
        per_page = min(50, max(1, int(request.args.get("per_page", 12))))
    except ValueError as exc:
        raise ApiError(400, "bad_page", "page and per_page must be integers.") from exc
    rec_ids, batch_ids = history.remembered("recognitions"), history.remembered("batches")
    with open_session(db_url()) as session:
        recs = (
            session.scalars(
                select(Recognition)
                .options(selectinload(Recognition.digits), selectinload(Recognition.corrections))
                .where(Recognition.id.in_(rec_ids))
                .order_by(Recognition.created_at.desc())
            ).all()
            if rec_ids
            else []
        )
        batches = (
            session.scalars(
                select(Batch).where(Batch.id.in_(batch_ids)).order_by(Batch.created_at.desc())
            ).all()
            if batch_ids
            else []
        )
        start = (page - 1) * per_page
        return jsonify(
            recognitions=[recognition_json(r) for r in recs[start : start + per_page]],
            batches=[batch_json(b) for b in batches[start : start + per_page]],
            page=page,
            per_page=per_page,
            total_recognitions=len(recs),
            total_batches=len(batches),
        )


@bp.get("/model")
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
    return jsonify(
        {
            **metadata,
            "active": model_info.active_json(active, metadata, models_dir),
            "versions": model_info.versions_json(active, models_dir),
        }
    )


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
