"""Corrections and the review queue under /api/v1 (thin handlers; shapes in web/serialize.py).

- PUT  /recognitions/<id>/digits/<n>/label  {"label": 4}: correct (or confirm) a digit.
- GET  /review: digits still to look at, lowest confidence first.
- GET  /corrections/summary: corrections per digit and the pairs users corrected most.
"""

from __future__ import annotations

import math
import uuid

from flask import Blueprint, current_app, g, jsonify, request

from store import Batch, open_session
from store.corrections import NoSuchDigit, review_queue, set_label, summary
from store.queries import as_uuid
from web.errors import ApiError
from web.serialize import (
    LabelIn,
    ReviewPageOut,
    corrections_summary_json,
    recognition_json,
    review_item_json,
)

bp = Blueprint("review", __name__, url_prefix="/api/v1")

MAX_BODY = 1024
MAX_PER_PAGE = 200


def db_url() -> str:
    return current_app.config["DATABASE_URL"]


def corrected_by() -> str | None:
    """Who makes a correction: the API key's owner once API keys exist (set on `g` by the
    authentication layer), else nobody in particular."""
    return g.get("api_key_owner")


# ---------------------------------------------------------------- parsing requests


def parse_label() -> LabelIn:
    """The body `{"label": 0-9}`; a clear 4xx otherwise."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_content_type", 'Send application/json like {"label": 4}.')
    request.max_content_length = MAX_BODY
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "label" not in body:
        raise ApiError(400, "bad_json", 'Send a JSON object like {"label": 4}.')
    label = body["label"]
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= 9:
        raise ApiError(400, "bad_label", "label must be a whole number from 0 to 9.")
    return {"label": label}


def _uuid_arg(name: str) -> uuid.UUID | None:
    raw = request.args.get(name)
    if not raw:
        return None
    value = as_uuid(raw)
    if value is None:
        raise ApiError(400, f"bad_{name}", f"{name} must be an id (a UUID).")
    return value


def _confidence_arg(name: str) -> float | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:  # also false for nan
        raise ApiError(400, f"bad_{name}", f"{name} must be a confidence above 0 and up to 1.")
    return value


def _page_args() -> tuple[int, int]:
    try:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", 50))
    except ValueError as exc:
        raise ApiError(400, "bad_page", "page and per_page must be positive integers.") from exc
    if page < 1 or per_page < 1:
        raise ApiError(400, "bad_page", "page and per_page must be positive integers.")
    return page, min(per_page, MAX_PER_PAGE)


# ---------------------------------------------------------------- routes


@bp.put("/recognitions/<rid>/digits/<int:n>/label")
def put_label(rid: str, n: int):
    body = parse_label()
    key = as_uuid(rid)
    if key is None:
        raise ApiError(404, "not_found", "No recognition with that id.")
    with open_session(db_url()) as session, session.begin():
        try:
            rec = set_label(session, key, n, body["label"], corrected_by=corrected_by())
        except NoSuchDigit as exc:
            raise ApiError(404, "not_found", str(exc)) from exc
        return jsonify(recognition_json(rec))


@bp.get("/review")
def review():
    batch_id = _uuid_arg("batch")
    below = _confidence_arg("below")
    page, per_page = _page_args()
    with open_session(db_url()) as session:
        if batch_id is not None and session.get(Batch, batch_id) is None:
            raise ApiError(404, "not_found", "No batch with that id.")
        rows, total = review_queue(
            session, batch_id=batch_id, below=below, page=page, per_page=per_page
        )
        body: ReviewPageOut = {
            "items": [review_item_json(digit, rec) for digit, rec in rows],
            "page": page,
            "per_page": per_page,
            "total": total,
            "pages": math.ceil(total / per_page) if total else 0,
        }
    return jsonify(body)


@bp.get("/corrections/summary")
def corrections_summary():
    with open_session(db_url()) as session:
        return jsonify(corrections_summary_json(summary(session)))
