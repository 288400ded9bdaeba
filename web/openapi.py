"""The OpenAPI 3.1 document for /api/v1; a test checks it lists exactly the app's API routes."""

from __future__ import annotations


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(description: str, schema: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["id", "status", "url"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["queued"]},
            "url": {"type": "string"},
        },
    },
    "Digit": {
        "type": "object",
        "required": ["label", "confidence", "probabilities", "box"],
        "properties": {
            "label": {"type": "integer", "minimum": 0, "maximum": 9},
            "confidence": {"type": "number"},
            "probabilities": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 10,
                "maxItems": 10,
            },
            "box": {
                "type": "array",
                "items": {"type": "integer"},
                "minItems": 4,
                "maxItems": 4,
                "description": "x, y, width, height in the submitted image's pixels",
            },
            "normalized_url": {"type": "string", "description": "the 28x28 PNG the model saw"},
            "needs_review": {
                "type": "boolean",
                "description": "confidence below the model's review threshold",
            },
            "correction": {
                "oneOf": [{"$ref": "#/components/schemas/Correction"}, {"type": "null"}],
                "description": "a user's label for this digit, if any",
            },
            "label_url": {"type": "string", "description": 'PUT {"label": n} here to correct'},
        },
    },
    "Correction": {
        "type": "object",
        "required": ["label", "predicted", "corrected_at", "corrected_by"],
        "properties": {
            "label": {"type": "integer", "minimum": 0, "maximum": 9},
            "predicted": {"type": "integer", "description": "what the model had said"},
            "corrected_at": {"type": "string", "format": "date-time"},
            "corrected_by": {
                "type": ["string", "null"],
                "description": "the API key's owner, when API keys are in use",
            },
        },
    },
    "LabelRequest": {
        "type": "object",
        "required": ["label"],
        "properties": {"label": {"type": "integer", "minimum": 0, "maximum": 9}},
    },
    "ReviewItem": {
        "type": "object",
        "required": [
            "recognition_id",
            "position",
            "label",
            "confidence",
            "needs_review",
            "normalized_url",
            "label_url",
        ],
        "properties": {
            "recognition_id": {"type": "string", "format": "uuid"},
            "position": {"type": "integer", "description": "the digit's index, left to right"},
            "label": {"type": "integer", "minimum": 0, "maximum": 9},
            "confidence": {"type": "number"},
            "probabilities": {"type": "array", "items": {"type": "number"}},
            "needs_review": {"type": "boolean"},
            "box": {"type": "array", "items": {"type": "integer"}},
            "normalized_url": {"type": "string"},
            "image_url": {"type": ["string", "null"], "description": "null once removed"},
            "width": {"type": ["integer", "null"]},
            "height": {"type": ["integer", "null"]},
            "filename": {"type": ["string", "null"]},
            "batch_id": {"type": ["string", "null"], "format": "uuid"},
            "model": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "recognition_url": {"type": "string"},
            "label_url": {"type": "string", "description": 'PUT {"label": n} here'},
        },
    },
    "ReviewPage": {
        "type": "object",
        "required": ["items", "page", "per_page", "total", "pages"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/ReviewItem"}},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "total": {"type": "integer", "description": "digits still to review"},
            "pages": {"type": "integer"},
        },
    },
    "CorrectionsSummary": {
        "type": "object",
        "required": ["total", "changed", "per_digit", "confused_pairs"],
        "properties": {
            "total": {"type": "integer", "description": "corrections, confirmations included"},
            "changed": {"type": "integer", "description": "where users said the model was wrong"},
            "per_digit": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "label": {"type": "integer"},
                        "count": {"type": "integer"},
                        "changed": {"type": "integer"},
                    },
                },
            },
            "confused_pairs": {
                "type": "array",
                "description": "most frequent first",
                "items": {
                    "type": "object",
                    "properties": {
                        "predicted": {"type": "integer"},
                        "label": {"type": "integer"},
                        "count": {"type": "integer"},
                    },
                },
            },
        },
    },
    "ModelInfo": {
        "type": "object",
        "description": "The serving version's metadata fields (version, test_accuracy, ...), "
        "plus `active` and `versions`.",
        "required": ["version", "active", "versions"],
        "properties": {
            "version": {"type": "string"},
            "active": {
                "type": "object",
                "properties": {
                    "version": {"type": "string"},
                    "source": {"type": "string", "enum": ["database", "setting"]},
                    "file": {"type": "string"},
                    "activated_at": {"type": ["string", "null"], "format": "date-time"},
                    "activated_by": {"type": ["string", "null"]},
                },
            },
            "versions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "version": {"type": "string"},
                        "active": {"type": "boolean"},
                        "file": {"type": "string"},
                        "created": {"type": ["string", "null"]},
                        "test_accuracy": {"type": ["number", "null"]},
                        "corrections_accuracy": {"type": ["number", "null"]},
                        "problem": {"type": ["string", "null"]},
                    },
                },
            },
        },
    },
    "Recognition": {
        "type": "object",
        "required": [
            "id",
            "status",
            "error",
            "text",
            "digits",
            "model",
            "created_at",
            "finished_at",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["queued", "processing", "done", "failed"]},
            "error": {"type": ["string", "null"]},
            "error_code": {"type": ["string", "null"]},
            "text": {"type": ["string", "null"], "description": "the digits, left to right"},
            "digits": {"type": "array", "items": {"$ref": "#/components/schemas/Digit"}},
            "model": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "needs_review": {"type": "boolean", "description": "any digit needs review"},
            "corrected_text": {
                "type": ["string", "null"],
                "description": "the text with users' corrections; null when none",
            },
        },
    },
    "BatchAccepted": {
        "type": "object",
        "required": ["id", "status", "total", "url"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["queued"]},
            "total": {"type": "integer", "description": "items stored (zip members included)"},
            "url": {"type": "string"},
        },
    },
    "Batch": {
        "type": "object",
        "required": [
            "id",
            "status",
            "total",
            "done",
            "failed",
            "created_at",
            "finished_at",
            "results_url",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["queued", "processing", "done"]},
            "total": {"type": "integer"},
            "done": {"type": "integer"},
            "failed": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "url": {"type": "string"},
            "results_url": {"type": "string"},
            "needs_review": {"type": "integer", "description": "items with a digit to review"},
            "review_url": {"type": "string", "description": "its review queue"},
        },
    },
    "BatchResults": {
        "type": "object",
        "required": ["items", "page", "per_page", "total", "pages"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Recognition"}},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "total": {"type": "integer", "description": "items matching the status filter"},
            "pages": {"type": "integer"},
        },
    },
}

PATHS: dict[str, dict] = {
    "/api/v1/recognitions": {
        "post": {
            "summary": "Submit one image for recognition",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["image"],
                            "properties": {
                                "image": {"type": "string", "description": "base64 or a data: URL"}
                            },
                        }
                    },
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["image"],
                            "properties": {"image": {"type": "string", "format": "binary"}},
                        }
                    },
                },
            },
            "responses": {
                "202": _json("Queued; poll the Location header", "Accepted"),
                "400": _error("Missing field or bad base64"),
                "413": _error("Over the size or pixel limit"),
                "415": _error("Not a supported image or content type"),
                "503": _error("The work queue is unavailable"),
            },
        }
    },
    "/api/v1/recognitions/{id}": {
        "get": {
            "summary": "Poll a recognition",
            "parameters": [
                ID,
                {
                    "name": "wait",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "number", "minimum": 0, "maximum": 10},
                    "description": "hold the request until the result is ready (seconds)",
                },
            ],
            "responses": {
                "200": _json("The recognition", "Recognition"),
                "400": _error("Bad wait"),
                "404": _error("Unknown id"),
            },
        }
    },
    "/api/v1/recognitions/{id}/image": {
        "get": {
            "summary": "The submitted image",
            "parameters": [ID],
            "responses": {
                "200": {"description": "The image bytes"},
                "404": _error("Unknown id"),
                "410": _error("Removed after the retention period"),
            },
        }
    },
    "/api/v1/recognitions/{id}/normalized/{n}": {
        "get": {
            "summary": "The 28x28 PNG of digit n as the model saw it",
            "parameters": [
                ID,
                {
                    "name": "n",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                },
            ],
            "responses": {
                "200": {"description": "PNG", "content": {"image/png": {}}},
                "404": _error("No such digit"),
            },
        }
    },
    "/api/v1/history": {
        "get": {
            "summary": "Recognitions and batches submitted from this browser (signed cookie)",
            "parameters": [
                {"name": "page", "in": "query", "schema": {"type": "integer"}},
                {"name": "per_page", "in": "query", "schema": {"type": "integer"}},
            ],
            "responses": {
                "200": {"description": "This browser's history"},
                "400": _error("Bad paging"),
            },
        }
    },
    "/api/v1/model": {
        "get": {
            "summary": "The serving model version's metadata, and every version available",
            "responses": {
                "200": _json("Metadata, `active` and `versions`", "ModelInfo"),
                "503": _error("No model, or the database is unavailable"),
            },
        }
    },
    "/api/v1/recognitions/{id}/digits/{n}/label": {
        "put": {
            "summary": "Correct (or confirm) digit n: stored beside the prediction",
            "parameters": [
                ID,
                {
                    "name": "n",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/LabelRequest"}}
                },
            },
            "responses": {
                "200": _json("The updated recognition", "Recognition"),
                "400": _error("Not a JSON object with a label from 0 to 9"),
                "404": _error("Unknown recognition or digit"),
                "415": _error("Not application/json"),
            },
        }
    },
    "/api/v1/review": {
        "get": {
            "summary": "Digits still to review, lowest confidence first",
            "description": "Without `below`: the digits flagged needs_review. With `below`: every "
            "digit under that confidence. A corrected or confirmed digit drops out.",
            "parameters": [
                {
                    "name": "batch",
                    "in": "query",
                    "schema": {"type": "string", "format": "uuid"},
                    "description": "only this batch's digits",
                },
                {
                    "name": "below",
                    "in": "query",
                    "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                },
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {
                    "name": "per_page",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                },
            ],
            "responses": {
                "200": _json("A page of digits to review", "ReviewPage"),
                "400": _error("Bad batch id, below or paging"),
                "404": _error("Unknown batch"),
            },
        }
    },
    "/api/v1/corrections/summary": {
        "get": {
            "summary": "Corrections per digit and the pairs users corrected most often",
            "responses": {"200": _json("Counts", "CorrectionsSummary")},
        }
    },
    "/api/v1/batches": {
        "post": {
            "summary": "Upload many images (files, folders, .zip archives) as one batch",
            "description": "The body is parsed as a stream; limits: BATCH_MAX_BYTES in all, "
            "BATCH_MAX_FILES items (zip members included), MAX_IMAGE_BYTES per image. Files "
            "that are not images become failed items; nested archives are not opened; "
            "__MACOSX/, ._* , .DS_Store, Thumbs.db and desktop.ini entries are skipped.",
            "parameters": [
                {
                    "name": "chunk_size",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "description": "items per worker task (default BATCH_CHUNK_SIZE)",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["files"],
                            "properties": {
                                "files": {
                                    "type": "array",
                                    "items": {"type": "string", "format": "binary"},
                                    "description": "images and/or .zip archives; a file name "
                                    "may be a relative path (folder uploads)",
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "202": _json("Stored and queued; poll the Location header", "BatchAccepted"),
                "400": _error("No files, a malformed body or a bad chunk_size"),
                "413": _error("Over BATCH_MAX_BYTES, BATCH_MAX_FILES or MAX_IMAGE_BYTES"),
                "415": _error("Not multipart/form-data"),
                "503": _error("The work queue is unavailable"),
            },
        }
    },
    "/api/v1/batches/{id}": {
        "get": {
            "summary": "A batch's progress (counters; cheap to poll)",
            "parameters": [ID],
            "responses": {"200": _json("The batch", "Batch"), "404": _error("Unknown id")},
        }
    },
    "/api/v1/batches/{id}/results": {
        "get": {
            "summary": "A batch's items in upload order: JSON pages, or the whole CSV",
            "parameters": [
                ID,
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {
                    "name": "per_page",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                },
                {
                    "name": "status",
                    "in": "query",
                    "schema": {
                        "type": "string",
                        "enum": ["queued", "processing", "done", "failed"],
                    },
                },
                {
                    "name": "needs_review",
                    "in": "query",
                    "schema": {"type": "boolean"},
                    "description": "only items that need review (true) or do not (false)",
                },
                {
                    "name": "format",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["json", "csv"]},
                    "description": "csv: every item, header filename,status,text,confidence,"
                    "error,needs_review,corrected_text",
                },
            ],
            "responses": {
                "200": {
                    "description": "A page of items, or the CSV",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/BatchResults"}
                        },
                        "text/csv": {},
                    },
                },
                "400": _error("Bad paging, status or format"),
                "404": _error("Unknown id"),
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}
    },
}


def openapi_document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "digit-recognizer API", "version": "1"},
        "paths": PATHS,
        "components": {"schemas": SCHEMAS},
    }
