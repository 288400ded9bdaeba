"""JSON shapes of the API contract: the marshmallow schemas in web/schemas.py (which the OpenAPI
document is generated from) serialize them; these helpers are the short names for it."""

from __future__ import annotations

from store import Batch, Recognition
from web.schemas import BatchSchema, RecognitionSchema, iso

__all__ = ["batch_json", "iso", "recognition_json"]

_RECOGNITION = RecognitionSchema()
_BATCH = BatchSchema()


def recognition_json(rec: Recognition) -> dict:
    return _RECOGNITION.dump(rec)


def batch_json(batch: Batch) -> dict:
    return _BATCH.dump(batch)
