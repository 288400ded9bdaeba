"""JSON shapes of the API contract."""

from __future__ import annotations

from datetime import datetime

from flask import url_for

from store import Batch, Recognition


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def recognition_json(rec: Recognition) -> dict:
    rid = str(rec.id)
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
            }
            for d in rec.digits
        ],
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
