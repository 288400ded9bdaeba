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
            "summary": "The loaded model's metadata",
            "responses": {"200": {"description": "Metadata"}, "503": _error("No model")},
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
                    "name": "format",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["json", "csv"]},
                    "description": "csv: every item, header filename,status,text,confidence,error",
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
