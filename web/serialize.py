"""JSON shapes of the API contract.

The shapes added for corrections, the review queue and model versions are spelled out as
TypedDicts below (one place, field by field), so that they can move onto generated OpenAPI
models mechanically; web/openapi.py documents the same fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from flask import url_for

from store import Batch, Correction, DigitResult, Recognition
from store.corrections import Summary


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


class CorrectionOut(TypedDict):
    """A user's label for a digit (`digits[n].correction`)."""

    label: int
    predicted: int  # what the model said when the correction was made
    corrected_at: str
    corrected_by: str | None  # the API key's owner, when API keys are in use


def correction_json(c: Correction) -> CorrectionOut:
    return {
        "label": c.label,
        "predicted": c.predicted,
        "corrected_at": iso(c.corrected_at),
        "corrected_by": c.corrected_by,
    }


def corrected_text(rec: Recognition) -> str | None:
    """The text with users' corrections applied; None while no digit has been corrected."""
    if not rec.corrections:
        return None
    labels = {c.position: c.label for c in rec.corrections}
    return "".join(str(labels.get(d.position, d.label)) for d in rec.digits)


def recognition_json(rec: Recognition) -> dict:
    rid = str(rec.id)
    corrections = {c.position: c for c in rec.corrections}
    return {
        "id": rid,
        "status": rec.status,
        "error": rec.error,
        "error_code": rec.error_code,
        "text": rec.text,
        "confidence": rec.confidence,
        "digits": [
            {
                "label": d.label,
                "confidence": d.confidence,
                "probabilities": d.probabilities,
                "box": d.box,
                "normalized_url": url_for("api.normalized", rid=rid, n=d.position),
                "needs_review": d.needs_review,
                "correction": (
                    correction_json(corrections[d.position]) if d.position in corrections else None
                ),
                "label_url": url_for("review.put_label", rid=rid, n=d.position),
            }
            for d in rec.digits
        ],
        "needs_review": rec.needs_review,
        "corrected_text": corrected_text(rec),
        "model": rec.model_version,
        "filename": rec.filename,
        "batch_id": str(rec.batch_id) if rec.batch_id else None,
        "width": rec.width,
        "height": rec.height,
        "image_url": url_for("api.image", rid=rid) if rec.image_purged_at is None else None,
        "url": url_for("api.get_recognition", rid=rid),
        "created_at": iso(rec.created_at),
        "started_at": iso(rec.started_at),
        "finished_at": iso(rec.finished_at),
    }


def batch_json(batch: Batch) -> dict:
    bid = str(batch.id)
    return {
        "id": bid,
        "status": batch.status,
        "total": batch.total,
        "done": batch.done,
        "failed": batch.failed,
        "created_at": iso(batch.created_at),
        "started_at": iso(batch.started_at),
        "finished_at": iso(batch.finished_at),
        "url": f"/api/v1/batches/{bid}",
        "results_url": f"/api/v1/batches/{bid}/results",
    }


def batch_json_with_review(batch: Batch, needs_review: int) -> dict:
    """`batch_json` plus how many of its items need review, and where to review them."""
    bid = str(batch.id)
    return {
        **batch_json(batch),
        "needs_review": needs_review,
        "review_url": f"/api/v1/review?batch={bid}",
    }


# ---------------------------------------------------------------- the review queue


class LabelIn(TypedDict):
    """The body of PUT /recognitions/<id>/digits/<n>/label."""

    label: int  # 0-9


class ReviewItemOut(TypedDict):
    """A digit waiting in the review queue, with what is needed to judge it."""

    recognition_id: str
    position: int
    label: int
    confidence: float
    probabilities: list[float]
    needs_review: bool
    box: list[int]
    normalized_url: str
    image_url: str | None  # None once retention removed the submitted image
    width: int | None
    height: int | None
    filename: str | None
    batch_id: str | None
    model: str | None
    created_at: str | None
    recognition_url: str
    label_url: str  # PUT {"label": n} here to correct or confirm


def review_item_json(digit: DigitResult, rec: Recognition) -> ReviewItemOut:
    rid = str(rec.id)
    return {
        "recognition_id": rid,
        "position": digit.position,
        "label": digit.label,
        "confidence": digit.confidence,
        "probabilities": digit.probabilities,
        "needs_review": digit.needs_review,
        "box": digit.box,
        "normalized_url": url_for("api.normalized", rid=rid, n=digit.position),
        "image_url": url_for("api.image", rid=rid) if rec.image_purged_at is None else None,
        "width": rec.width,
        "height": rec.height,
        "filename": rec.filename,
        "batch_id": str(rec.batch_id) if rec.batch_id else None,
        "model": rec.model_version,
        "created_at": iso(rec.created_at),
        "recognition_url": url_for("api.get_recognition", rid=rid),
        "label_url": url_for("review.put_label", rid=rid, n=digit.position),
    }


class ReviewPageOut(TypedDict):
    items: list[ReviewItemOut]
    page: int
    per_page: int
    total: int  # digits still to review with these filters
    pages: int


class LabelCountOut(TypedDict):
    label: int
    count: int  # corrections saying it is this digit (confirmations included)
    changed: int  # of those, where the model had said something else


class ConfusedPairOut(TypedDict):
    predicted: int  # what the model said
    label: int  # what users said
    count: int


class CorrectionsSummaryOut(TypedDict):
    total: int
    changed: int
    per_digit: list[LabelCountOut]
    confused_pairs: list[ConfusedPairOut]  # most frequent first


def corrections_summary_json(s: Summary) -> CorrectionsSummaryOut:
    return {
        "total": s.total,
        "changed": s.changed,
        "per_digit": [
            {"label": c.label, "count": c.count, "changed": c.changed} for c in s.per_digit
        ],
        "confused_pairs": [
            {"predicted": p.predicted, "label": p.label, "count": p.count} for p in s.confused_pairs
        ],
    }


# ---------------------------------------------------------------- model versions


class ActiveModelOut(TypedDict):
    version: str
    source: str  # "database" (digits model activate) or "setting" (MODEL_VERSION / MODEL_PATH)
    file: str  # relative to MODELS_DIR (just the file name when outside it)
    activated_at: str | None
    activated_by: str | None


class ModelVersionOut(TypedDict):
    version: str
    active: bool
    file: str
    created: str | None
    test_accuracy: float | None  # MNIST test, from its metadata
    corrections_accuracy: float | None  # held-out corrections, when trained with them
    problem: str | None  # e.g. its metadata is unreadable


class ModelInfoOut(TypedDict, total=False):
    """GET /model: the serving version's metadata fields (as before), plus these two."""

    active: ActiveModelOut
    versions: list[ModelVersionOut]
