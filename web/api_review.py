"""Corrections and the review queue under /api/v1 (thin handlers; shapes in web/schemas.py).

- PUT  /recognitions/<id>/digits/<n>/label  {"label": 4}: correct (or confirm) a digit.
- GET  /review: digits still to look at, lowest confidence first.
- GET  /corrections/summary: corrections per digit and the pairs users corrected most.

With AUTH=keys a client corrects and reviews only its own recognitions and batches (404 for
others', as everywhere), and its key's name is stored as `corrected_by`. The summary counts
everyone's corrections: it describes the model, like /model, and names no item.

A correction is not a submission: it queues no work and is one upsert of one row per digit
(correcting again replaces it), so it is not under RATE_LIMIT_SUBMIT.
"""

from __future__ import annotations

import math

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from config import current_settings
from store import Batch, Recognition, open_session
from store.corrections import NoSuchDigit, review_queue, set_label, summary
from store.queries import as_uuid
from web import schemas
from web.errors import ApiError
from web.openapi import REVIEW_LINKS, link, operation
from web.security import current_owner_name, owned

bp = Blueprint("review", __name__, url_prefix="/api/v1")

MAX_BODY = 1024


def parse_label() -> int:
    """The label of a body `{"label": 0-9}`; a clear 4xx otherwise."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_content_type", 'Send application/json like {"label": 4}.')
    request.max_content_length = MAX_BODY
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "label" not in body:
        raise ApiError(400, "bad_json", 'Send a JSON object like {"label": 4}.')
    return schemas.load(schemas.LabelRequestSchema(), body)["label"]


LABEL_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": schemas.LabelRequestSchema, "example": {"label": 4}},
    },
}


@bp.put("/recognitions/<recognition_id>/digits/<int:n>/label")
@operation(
    "setDigitLabel",
    "Correct (or confirm) digit n: stored beside the prediction, never over it",
    description="`label` and `text` stay the model's; the digit's `correction` and the "
    "recognition's `corrected_text` carry the users' answer. Correcting again replaces it; "
    "a confirmation (the model's own label) counts as a correction and leaves the review queue.",
    request_body=LABEL_BODY,
    responses={
        200: schemas.RecognitionSchema,
        400: "Not a JSON object with a label from 0 to 9",
        404: "Unknown recognition or digit (or not finished yet)",
        413: "A body over 1 KB",
        415: "Not application/json",
    },
    links={200: {"GetRecognition": link("getRecognition", id="$response.body#/id")}},
)
def put_label(recognition_id: str, n: int):
    label = parse_label()
    key = as_uuid(recognition_id)
    with open_session(current_settings().database_url) as session, session.begin():
        mine = select(Recognition.id).where(Recognition.id == key, owned(Recognition))
        if key is None or n > schemas.MAX_DIGIT_POSITION or session.scalar(mine) is None:
            raise ApiError(404, "not_found", "No recognition with that id.")
        try:
            rec = set_label(session, key, n, label, corrected_by=current_owner_name())
        except NoSuchDigit as exc:
            raise ApiError(404, "not_found", str(exc)) from exc
        return jsonify(schemas.RecognitionSchema().dump(rec))


@bp.get("/review")
@operation(
    "getReview",
    "Digits still to review, lowest confidence first",
    description="Without `below`: the digits flagged needs_review. With `below`: every digit "
    "under that confidence. A corrected or confirmed digit drops out. With AUTH=keys, only the "
    "caller's digits.",
    query=schemas.ReviewQuerySchema,
    responses={
        200: schemas.ReviewPageSchema,
        400: "Bad batch id, below or paging",
        404: "Unknown batch",
    },
    links={200: REVIEW_LINKS},
)
def review(query: dict):
    batch_id = query.get("batch")
    page, per_page = query["page"], min(schemas.MAX_PER_PAGE, query["per_page"])
    with open_session(current_settings().database_url) as session:
        mine = select(Batch.id).where(Batch.id == batch_id, owned(Batch))
        if batch_id is not None and session.scalar(mine) is None:
            raise ApiError(404, "not_found", "No batch with that id.")
        digits, total = review_queue(
            session,
            batch_id=batch_id,
            below=query.get("below"),
            page=page,
            per_page=per_page,
            visible=owned(Recognition),
        )
        body = {
            "items": digits,
            "page": page,
            "per_page": per_page,
            "total": total,
            "pages": math.ceil(total / per_page) if total else 0,
        }
        return jsonify(schemas.ReviewPageSchema().dump(body))


@bp.get("/corrections/summary")
@operation(
    "getCorrectionsSummary",
    "Corrections per digit and the pairs users corrected most often (everyone's)",
    responses={200: schemas.CorrectionsSummarySchema},
)
def corrections_summary():
    with open_session(current_settings().database_url) as session:
        return jsonify(schemas.CorrectionsSummarySchema().dump(summary(session)))
