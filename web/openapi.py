"""The OpenAPI 3.1 document for /api/v1, generated (apispec) from the marshmallow schemas in
web/schemas.py that also parse the requests and serialize the responses.

Adding a route with its models:

    @bp.get("/things/<tid>")
    @operation(
        "getThing",                        # operationId (links refer to it)
        "Read a thing",                    # summary
        query=ThingQuerySchema,            # parsed from request.args -> the view's `query` kwarg
        responses={200: ThingSchema, 404: "Unknown id"},  # a schema, or an error's description
    )
    def get_thing(tid: str, query: dict): ...

Every route under /api/v1 must carry `@operation` (a test checks the document lists exactly the
app's routes and validates real responses against it). Path parameters are documented from
PATH_PARAMETERS by name; `<recognition_id>`/`<batch_id>` appear as `{id}`.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable
from pathlib import Path

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, request
from marshmallow import Schema

from web import schemas

API_PREFIX = "/api/v1"
PATH_NAMES = {"recognition_id": "id", "batch_id": "id"}
UUID_PARAMETER = {"type": "string", "format": "uuid"}
PATH_PARAMETERS = {
    "id": {"schema": UUID_PARAMETER, "example": "6f1c8a52-3b0e-4c55-9d27-0d7a1f3c9b10"},
    "n": {"schema": {"type": "integer", "minimum": 0}, "description": "the digit's position"},
}
#: the answer of the routes under web.security.submit_limit (the POSTs that queue work)
TOO_MANY_SUBMISSIONS = "Too many submissions (only with rate limits on: RATE_LIMIT_SUBMIT)"
URI_TOO_LONG = {
    "description": "Request line over 4094 bytes: answered by gunicorn before the app (HTML)"
}
EXAMPLE_PNG = Path(__file__).resolve().parent / "static" / "img" / "example-digit.png"


def operation(
    operation_id: str,
    summary: str,
    *,
    query: type[Schema] | None = None,
    responses: dict[int, type[Schema] | str | dict],
    request_body: dict | None = None,
    description: str | None = None,
    links: dict[int, dict] | None = None,
) -> Callable:
    """Document a view and, with `query`, parse `request.args` into its `query` keyword."""

    def decorate(view: Callable) -> Callable:
        if query is None:
            wrapped = view
        else:

            @functools.wraps(view)
            def wrapped(*args, **kwargs):
                return view(*args, query=schemas.load(query(), request.args), **kwargs)

        wrapped.openapi = {  # type: ignore[attr-defined]
            "operationId": operation_id,
            "summary": summary,
            "query": query,
            "responses": responses,
            "requestBody": request_body,
            "description": description,
            "links": links or {},
        }
        return wrapped

    return decorate


def _response(status: int, spec: type[Schema] | str | dict, links: dict | None) -> dict:
    if isinstance(spec, dict):
        out = dict(spec)
    elif isinstance(spec, str):
        error = {"application/json": {"schema": schemas.ErrorSchema}}
        out = {"description": spec, "content": error}
    else:
        name = spec.__name__.removesuffix("Schema")
        out = {"description": name, "content": {"application/json": {"schema": spec}}}
    if links:
        out["links"] = links
    if status == 401:
        out.setdefault("headers", {})["WWW-Authenticate"] = {"schema": {"type": "string"}}
    if status == 429:
        out.setdefault("headers", {})["Retry-After"] = {
            "schema": {"type": "integer"},
            "description": "seconds to wait",
        }
    return out


def _operation(meta: dict, path_params: list[str]) -> dict:
    op = {"operationId": meta["operationId"], "summary": meta["summary"]}
    if meta["description"]:
        op["description"] = meta["description"]
    params = [
        {"name": name, "in": "path", "required": True, **PATH_PARAMETERS[name]}
        for name in path_params
    ]
    if meta["query"] is not None:
        params.append({"in": "query", "schema": meta["query"]})
    if params:
        op["parameters"] = params
    if meta["requestBody"]:
        op["requestBody"] = meta["requestBody"]
    responses = dict(meta["responses"])
    responses.setdefault(401, "No or an unknown API key (only with AUTH=keys)")
    if meta["query"] is not None:
        responses.setdefault(414, URI_TOO_LONG)
    op["responses"] = {
        str(status): _response(status, spec, meta["links"].get(status))
        for status, spec in sorted(responses.items())
    }
    return op


def _openapi_path(rule: str) -> tuple[str, list[str]]:
    names: list[str] = []

    def replace(match: re.Match) -> str:
        name = PATH_NAMES.get(match.group(1), match.group(1))
        names.append(name)
        return "{" + name + "}"

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", replace, rule), names


def build_document(app: Flask) -> dict:
    spec = APISpec(
        title="digit-recognizer API",
        version="1",
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Errors are JSON everywhere: "
            '`{"error": {"code": "...", "message": "..."}}`. With AUTH=keys every call but this '
            "document needs `Authorization: Bearer <key>`."
        },
    )
    spec.components.schema("Error", schema=schemas.ErrorSchema)
    spec.components.security_scheme("apiKey", {"type": "http", "scheme": "bearer"})
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(API_PREFIX):
            continue
        meta = getattr(app.view_functions[rule.endpoint], "openapi", None)
        if meta is None:
            continue
        path, names = _openapi_path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(meta, names)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    keys = app.extensions["settings"].auth == "keys"
    document["security"] = [{"apiKey": []}] if keys else [{}, {"apiKey": []}]
    document["paths"][f"{API_PREFIX}/openapi.json"]["get"]["security"] = [{}]  # always open
    return document


def openapi_document(app: Flask) -> dict:
    """Built once per app (the routes do not change while it runs)."""
    cached = app.extensions.get("openapi_document")
    if cached is None:
        cached = app.extensions["openapi_document"] = build_document(app)
    return cached


# ---------------------------------------------------------------- request bodies and links


def example_png_base64() -> str:
    return base64.b64encode(EXAMPLE_PNG.read_bytes()).decode("ascii")


def _binary(description: str, **constraints: int) -> dict:
    return {"type": "string", "format": "binary", "description": description, **constraints}


def submit_body() -> dict:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": schemas.SubmitJsonSchema,
                "example": {"image": example_png_base64(), "filename": "seven.png"},
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {"image": _binary("the image file", minLength=1)},
                },
                "encoding": {"image": {"contentType": "image/*, application/octet-stream"}},
            },
        },
    }


def batch_body() -> dict:
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "minItems": 1,
                            "items": _binary("an image or a .zip of images"),
                            "description": "images and/or .zip archives; a file name may be a "
                            "relative path (folder uploads). Parts that are not images become "
                            "failed items.",
                        }
                    },
                }
            }
        },
    }


def link(operation_id: str, **parameters: str | int) -> dict:
    return {"operationId": operation_id, "parameters": parameters}


RECOGNITION_LINKS = {
    "GetRecognition": link("getRecognition", id="$response.body#/id"),
    "GetRecognitionImage": link("getRecognitionImage", id="$response.body#/id"),
}
BATCH_LINKS = {
    "GetBatch": link("getBatch", id="$response.body#/id"),
    "GetBatchResults": link("getBatchResults", id="$response.body#/id"),
}
RESULTS_LINKS = {
    "GetFirstItem": link("getRecognition", id="$response.body#/items/0/id"),
    "GetFirstItemImage": link("getRecognitionImage", id="$response.body#/items/0/id"),
}
REVIEW_LINKS = {
    "CorrectFirstItem": link(
        "setDigitLabel",
        id="$response.body#/items/0/recognition_id",
        n="$response.body#/items/0/position",
    ),
    "GetFirstItemRecognition": link("getRecognition", id="$response.body#/items/0/recognition_id"),
}
