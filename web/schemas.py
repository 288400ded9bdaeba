"""The API contract as marshmallow schemas: they parse query strings and JSON bodies, serialize
every response, and the OpenAPI document (web/openapi.py) is generated from them.

A field's `metadata` may carry `error` = (code, message): the `{"error": {...}}` answered when
that field does not validate (so the error codes stay what clients already read).
"""

from __future__ import annotations

import re
from datetime import datetime

from flask import url_for
from marshmallow import EXCLUDE, INCLUDE, Schema, ValidationError, fields, pre_load, validate

from store import Batch, DigitResult, Recognition
from store.corrections import corrected_text

STATUSES = ("queued", "processing", "done", "failed")
BATCH_STATUSES = ("queued", "processing", "done")
MAX_PAGE = 1_000_000  # far past any real batch; keeps OFFSET inside every database's integers
MAX_PER_PAGE = 200
MAX_HISTORY_PER_PAGE = 50
MAX_WAIT_SECONDS = 10.0
MAX_CHUNK_SIZE = 1000
MAX_DIGIT_POSITION = 10_000  # far more digits than one image holds; keeps `n` in any integer
#: What the server is sure to decode: plain base64 (padded) or a base64 data: URL. It also
#: accepts whitespace inside (line-wrapped base64); the pattern documents the canonical form.
BASE64_IMAGE_PATTERN = (
    r"^(data:[^,]*;base64,)?([A-Za-z0-9+/]{4})*"
    r"([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"
)


SOURCE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,16}$")


class ApiSchema(Schema):
    class Meta:
        # Requests: unknown query parameters and JSON members are ignored. Responses: the
        # document does not forbid more properties (fields are added, never removed).
        unknown = EXCLUDE


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


class UtcDateTime(fields.DateTime):
    """ISO 8601 with a `Z` suffix, as the API has always written times."""

    def _serialize(self, value, attr, obj, **kwargs):
        return iso(value)


# ---------------------------------------------------------------- responses


class ErrorBodySchema(ApiSchema):
    code = fields.String(required=True, metadata={"example": "not_found"})
    message = fields.String(required=True, metadata={"example": "No recognition with that id."})


class ErrorSchema(ApiSchema):
    error = fields.Nested(ErrorBodySchema, required=True)


def _string(**metadata) -> fields.String:
    return fields.String(required=True, allow_none=True, metadata=metadata)


class CorrectionSchema(ApiSchema):
    """A user's label for a digit, stored beside the prediction (never over it)."""

    label = fields.Integer(required=True, validate=validate.Range(0, 9))
    predicted = fields.Integer(
        required=True,
        validate=validate.Range(0, 9),
        metadata={"description": "what the model said when the correction was made"},
    )
    corrected_at = UtcDateTime(required=True)
    corrected_by = _string(
        description="the API key's name (AUTH=keys); null without keys", example="alice"
    )


class DigitSchema(ApiSchema):
    label = fields.Integer(required=True, validate=validate.Range(0, 9))
    confidence = fields.Float(required=True, validate=validate.Range(0, 1))
    probabilities = fields.List(
        fields.Float(validate=validate.Range(0, 1)),
        required=True,
        validate=validate.Length(equal=10),
        metadata={"description": "one per digit 0-9"},
    )
    box = fields.List(
        fields.Integer(),
        required=True,
        validate=validate.Length(equal=4),
        metadata={"description": "x, y, width, height in the submitted image's pixels"},
    )
    normalized_url = fields.Method(
        "_normalized_url",
        required=True,
        metadata={"type": "string", "description": "the 28x28 PNG the model saw"},
    )
    needs_review = fields.Boolean(
        required=True, metadata={"description": "confidence below the model's review threshold"}
    )
    correction = fields.Nested(
        CorrectionSchema,
        required=True,
        allow_none=True,
        metadata={"description": "a user's label for this digit (null while there is none)"},
    )
    label_url = fields.Method(
        "_label_url",
        required=True,
        metadata={"type": "string", "description": 'PUT {"label": n} here to correct or confirm'},
    )

    def _normalized_url(self, digit: DigitResult) -> str:
        return normalized_url(digit)

    def _label_url(self, digit: DigitResult) -> str:
        return label_url(digit)


def normalized_url(digit: DigitResult) -> str:
    return url_for("api.normalized", recognition_id=str(digit.recognition_id), n=digit.position)


def label_url(digit: DigitResult) -> str:
    return url_for("review.put_label", recognition_id=str(digit.recognition_id), n=digit.position)


class RecognitionSchema(ApiSchema):
    id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    error = _string(description="why it failed, for people")
    error_code = _string(description="why it failed, for programs")
    text = _string(description="the digits found, left to right")
    confidence = fields.Float(
        required=True, allow_none=True, metadata={"description": "the lowest digit confidence"}
    )
    digits = fields.List(fields.Nested(DigitSchema), required=True)
    model = fields.String(required=True, allow_none=True, attribute="model_version")
    filename = _string(description="as uploaded (folder paths and zip members included)")
    batch_id = fields.UUID(required=True, allow_none=True)
    width = fields.Integer(required=True, allow_none=True)
    height = fields.Integer(required=True, allow_none=True)
    image_url = fields.Method(
        "_image_url",
        required=True,
        allow_none=True,
        metadata={
            "type": "string",
            "description": "null once retention removed it, or when nothing was stored (the "
            "upload was not an image)",
        },
    )
    url = fields.Method("_url", required=True, metadata={"type": "string"})
    created_at = UtcDateTime(required=True)
    started_at = UtcDateTime(required=True, allow_none=True)
    finished_at = UtcDateTime(required=True, allow_none=True)
    needs_review = fields.Boolean(
        required=True, metadata={"description": "any of its digits needs review"}
    )
    corrected_text = fields.Method(
        "_corrected_text",
        required=True,
        allow_none=True,
        metadata={
            "type": "string",
            "description": "the text with users' corrections (`text` stays the model's); null "
            "while no digit has been corrected",
        },
    )

    def _image_url(self, rec: Recognition) -> str | None:
        return image_url(rec)

    def _url(self, rec: Recognition) -> str:
        return url_for("api.get_recognition", recognition_id=str(rec.id))

    def _corrected_text(self, rec: Recognition) -> str | None:
        return corrected_text(rec.text, {c.position: c.label for c in rec.corrections})


def image_url(rec: Recognition) -> str | None:
    """None once retention removed it, and for items that never had one (not an image)."""
    if rec.image_purged_at is not None or rec.image_mime is None:
        return None
    return url_for("api.image", recognition_id=str(rec.id))


class AcceptedSchema(ApiSchema):
    id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["queued"]))
    url = fields.String(required=True, metadata={"description": "poll it (also in Location)"})


class BatchAcceptedSchema(AcceptedSchema):
    total = fields.Integer(
        required=True, metadata={"description": "items stored (zip members included)"}
    )


class BatchSchema(ApiSchema):
    """Dumps a Batch loaded with `store.queries.with_review_count()` (its `needs_review`)."""

    id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(BATCH_STATUSES))
    total = fields.Integer(required=True)
    done = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    created_at = UtcDateTime(required=True)
    started_at = UtcDateTime(required=True, allow_none=True)
    finished_at = UtcDateTime(required=True, allow_none=True)
    url = fields.Method("_url", required=True, metadata={"type": "string"})
    results_url = fields.Method("_results_url", required=True, metadata={"type": "string"})
    needs_review = fields.Integer(
        required=True,
        validate=validate.Range(min=0),
        metadata={"description": "items with a digit to review"},
    )
    review_url = fields.Method(
        "_review_url", required=True, metadata={"type": "string", "description": "its review queue"}
    )

    def _url(self, batch: Batch) -> str:
        return url_for("batches.get_batch", batch_id=str(batch.id))

    def _results_url(self, batch: Batch) -> str:
        return url_for("batches.batch_results", batch_id=str(batch.id))

    def _review_url(self, batch: Batch) -> str:
        return url_for("review.review", batch=str(batch.id))


class BatchResultsSchema(ApiSchema):
    items = fields.List(fields.Nested(RecognitionSchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True, metadata={"description": "items matching the filters"})
    pages = fields.Integer(required=True)


class HistorySchema(ApiSchema):
    recognitions = fields.List(fields.Nested(RecognitionSchema), required=True)
    batches = fields.List(fields.Nested(BatchSchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total_recognitions = fields.Integer(required=True)
    total_batches = fields.Integer(required=True)


class ReviewItemSchema(ApiSchema):
    """A digit waiting in the review queue, with what is needed to judge it (dumps a
    DigitResult; the recognition's fields come through `digit.recognition`)."""

    recognition_id = fields.UUID(required=True)
    position = fields.Integer(
        required=True, validate=validate.Range(min=0), metadata={"description": "left to right"}
    )
    label = fields.Integer(
        required=True, validate=validate.Range(0, 9), metadata={"description": "the model's"}
    )
    confidence = fields.Float(required=True, validate=validate.Range(0, 1))
    probabilities = fields.List(
        fields.Float(validate=validate.Range(0, 1)),
        required=True,
        validate=validate.Length(equal=10),
    )
    needs_review = fields.Boolean(required=True)
    box = fields.List(fields.Integer(), required=True, validate=validate.Length(equal=4))
    normalized_url = fields.Method(
        "_normalized_url", required=True, metadata={"type": "string", "description": "28x28 PNG"}
    )
    image_url = fields.Method(
        "_image_url",
        required=True,
        allow_none=True,
        metadata={"type": "string", "description": "null once retention removed it"},
    )
    width = fields.Integer(required=True, allow_none=True, attribute="recognition.width")
    height = fields.Integer(required=True, allow_none=True, attribute="recognition.height")
    filename = fields.String(required=True, allow_none=True, attribute="recognition.filename")
    batch_id = fields.UUID(required=True, allow_none=True, attribute="recognition.batch_id")
    model = fields.String(required=True, allow_none=True, attribute="recognition.model_version")
    created_at = UtcDateTime(required=True, attribute="recognition.created_at")
    recognition_url = fields.Method("_recognition_url", required=True, metadata={"type": "string"})
    label_url = fields.Method(
        "_label_url",
        required=True,
        metadata={"type": "string", "description": 'PUT {"label": n} here to correct or confirm'},
    )

    def _normalized_url(self, digit: DigitResult) -> str:
        return normalized_url(digit)

    def _image_url(self, digit: DigitResult) -> str | None:
        return image_url(digit.recognition)

    def _recognition_url(self, digit: DigitResult) -> str:
        return url_for("api.get_recognition", recognition_id=str(digit.recognition_id))

    def _label_url(self, digit: DigitResult) -> str:
        return label_url(digit)


class ReviewPageSchema(ApiSchema):
    items = fields.List(fields.Nested(ReviewItemSchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(
        required=True, metadata={"description": "digits still to review with these filters"}
    )
    pages = fields.Integer(required=True)


class LabelCountSchema(ApiSchema):
    label = fields.Integer(required=True, validate=validate.Range(0, 9))
    count = fields.Integer(
        required=True,
        metadata={"description": "corrections saying it is this digit (confirmations included)"},
    )
    changed = fields.Integer(
        required=True, metadata={"description": "of those, where the model had said otherwise"}
    )


class ConfusedPairSchema(ApiSchema):
    predicted = fields.Integer(
        required=True, validate=validate.Range(0, 9), metadata={"description": "the model said"}
    )
    label = fields.Integer(
        required=True, validate=validate.Range(0, 9), metadata={"description": "users said"}
    )
    count = fields.Integer(required=True)


class CorrectionsSummarySchema(ApiSchema):
    total = fields.Integer(
        required=True, metadata={"description": "corrections, confirmations included"}
    )
    changed = fields.Integer(
        required=True, metadata={"description": "where users said the model was wrong"}
    )
    per_digit = fields.List(
        fields.Nested(LabelCountSchema), required=True, validate=validate.Length(equal=10)
    )
    confused_pairs = fields.List(
        fields.Nested(ConfusedPairSchema),
        required=True,
        metadata={"description": "most frequent first"},
    )


class ActiveModelSchema(ApiSchema):
    version = fields.String(required=True, metadata={"example": "20261126-1130"})
    source = fields.String(
        required=True,
        validate=validate.OneOf(["database", "setting"]),
        metadata={"description": "`digits model activate`, or MODEL_VERSION / MODEL_PATH"},
    )
    file = fields.String(
        required=True, metadata={"description": "relative to MODELS_DIR (a name when outside)"}
    )
    activated_at = UtcDateTime(required=True, allow_none=True)
    activated_by = fields.String(required=True, allow_none=True)


class ModelVersionSchema(ApiSchema):
    version = fields.String(required=True)
    active = fields.Boolean(required=True)
    file = fields.String(required=True)
    created = fields.String(required=True, allow_none=True)
    test_accuracy = fields.Float(
        required=True, allow_none=True, metadata={"description": "on MNIST test"}
    )
    corrections_accuracy = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "on held-out corrections, when it was trained with them"},
    )
    problem = fields.String(
        required=True, allow_none=True, metadata={"description": "e.g. unreadable metadata"}
    )


class ModelInfoSchema(ApiSchema):
    """The serving version's metadata (models/<version>.json, every field of it), plus which
    version serves and why (`active`) and every version available (`versions`)."""

    class Meta:
        unknown = INCLUDE  # documents additionalProperties: the metadata's fields vary

    version = fields.String(required=True, metadata={"example": "20261125-1318"})
    test_accuracy = fields.Float(allow_none=True, metadata={"description": "on MNIST test"})
    active = fields.Nested(ActiveModelSchema, required=True)
    versions = fields.List(
        fields.Nested(ModelVersionSchema), required=True, metadata={"description": "newest first"}
    )


# ---------------------------------------------------------------- requests


def _error(code: str, message: str) -> dict:
    return {"error": (code, message)}


def _without_empty(data, *names: str) -> dict:
    """The query without these parameters when they are empty (`?batch=` means no filter)."""
    return {k: v for k, v in data.items() if k not in names or v not in ("", None)}


class SubmitQuerySchema(ApiSchema):
    source = fields.String(
        load_default="api",
        validate=validate.Length(max=16),
        metadata={
            "description": "who submitted it (the pages send `draw` or `upload`)",
            "pattern": SOURCE_RE.pattern,
            **_error("bad_source", "source must be 1-16 letters, digits, '_', '.' or '-'."),
        },
    )

    @pre_load
    def _clean(self, data, **kwargs):
        """Anything but a short word is stored as `api` (the field is informational)."""
        data = dict(data)
        source = data.get("source")
        if source is not None:
            data["source"] = source if SOURCE_RE.fullmatch(source) else "api"
        return data


class SubmitJsonSchema(ApiSchema):
    image = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={
            "description": "the image file as base64, or a `data:image/...;base64,` URL",
            "pattern": BASE64_IMAGE_PATTERN,
            "contentEncoding": "base64",
            **_error("missing_image", 'The JSON field "image" is missing or empty.'),
        },
    )
    filename = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "kept with the result (control characters are replaced)",
            **_error("bad_filename", '"filename" must be a string.'),
        },
    )


class WaitQuerySchema(ApiSchema):
    wait = fields.Float(
        load_default=0.0,
        allow_nan=False,
        validate=validate.Range(min=0),
        metadata={
            "maximum": MAX_WAIT_SECONDS,
            "description": "hold the request up to this many seconds until the result is "
            f"ready (larger values count as {MAX_WAIT_SECONDS:g})",
            **_error("bad_wait", "wait must be a number of seconds (0-10)."),
        },
    )


def _page(default: int, maximum: int | None, code_name: str) -> fields.Integer:
    rng = validate.Range(min=1, max=maximum) if maximum else validate.Range(min=1)
    return fields.Integer(
        load_default=default,
        validate=rng,
        metadata=_error("bad_page", f"{code_name} must be an integer from 1 to {maximum or 'up'}.")
        | ({} if maximum else {"maximum": MAX_PER_PAGE, "description": "capped at 200"}),
    )


class ResultsQuerySchema(ApiSchema):
    page = _page(1, MAX_PAGE, "page")
    per_page = _page(50, None, "per_page")
    status = fields.String(
        validate=validate.OneOf(STATUSES),
        metadata={
            "description": "only items in this status",
            **_error("bad_status", f"status must be one of {', '.join(STATUSES)}."),
        },
    )
    needs_review = fields.Boolean(
        metadata={
            "description": "only items that need review (true) or that do not (false)",
            **_error("bad_needs_review", "needs_review must be true or false."),
        },
    )
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(["json", "csv"]),
        metadata={
            "description": "csv: every item, header "
            "filename,status,text,confidence,error,needs_review,corrected_text",
            **_error("bad_format", "format must be json or csv."),
        },
    )

    @pre_load
    def _normalize(self, data, **kwargs):
        data = _without_empty(data, "status", "needs_review")  # `?status=` means no filter
        if isinstance(data.get("format"), str):
            data["format"] = data["format"].lower()
        return data


class LabelField(fields.Integer):
    """A digit label: a JSON whole number 0-9 (`4.0` is one, as JSON Schema says; `"4"`, `4.5`
    and `true` are not)."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, validate=validate.Range(0, 9), **kwargs)

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._validated(value)


class LabelRequestSchema(ApiSchema):
    """The body of PUT /recognitions/<id>/digits/<n>/label."""

    label = LabelField(
        required=True,
        metadata={
            "description": "what the digit really is (the model's label confirms it)",
            "example": 4,
            **_error("bad_label", "label must be a whole number from 0 to 9."),
        },
    )


class ReviewQuerySchema(ApiSchema):
    batch = fields.UUID(
        metadata={
            "description": "only this batch's digits",
            **_error("bad_batch", "batch must be an id (a UUID)."),
        },
    )
    below = fields.Float(
        allow_nan=False,
        validate=validate.Range(min=0, max=1, min_inclusive=False),
        metadata={
            "exclusiveMinimum": 0,
            "description": "every digit under this confidence (not only those flagged "
            "needs_review)",
            "example": 0.8,
            **_error("bad_below", "below must be a confidence above 0 and up to 1."),
        },
    )
    page = _page(1, MAX_PAGE, "page")
    per_page = _page(50, None, "per_page")

    @pre_load
    def _normalize(self, data, **kwargs):
        return _without_empty(data, "batch", "below")


HISTORY_PAGING = "page and per_page must be integers."


class HistoryQuerySchema(ApiSchema):
    page = fields.Integer(
        load_default=1,
        metadata={"minimum": 1, "maximum": MAX_PAGE, **_error("bad_page", HISTORY_PAGING)},
    )
    per_page = fields.Integer(
        load_default=12,
        metadata={
            "minimum": 1,
            "maximum": MAX_HISTORY_PER_PAGE,
            **_error("bad_page", HISTORY_PAGING),
        },
    )


class BatchQuerySchema(ApiSchema):
    chunk_size = fields.Integer(
        validate=validate.Range(1, MAX_CHUNK_SIZE),
        metadata={
            "description": "items per worker task (default BATCH_CHUNK_SIZE)",
            **_error("bad_chunk_size", "chunk_size must be an integer from 1 to 1000."),
        },
    )


def load(schema: Schema, data) -> dict:
    """`schema.load(data)`, raising the first failing field's documented ApiError."""
    from web.errors import ApiError

    try:
        return schema.load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        name = next(iter(messages))
        field = schema.fields.get(name)
        code, message = (field.metadata.get("error") if field else None) or (
            "bad_request",
            f"{name}: {messages[name]}",
        )
        raise ApiError(400, code, message) from exc
