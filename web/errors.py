"""JSON errors everywhere under /api: `{"error": {"code", "message"}}`, never an HTML page."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


#: seconds a client is asked to wait (Retry-After) when a dependency is unavailable
RETRY_AFTER = 5


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})
        if status == 503:
            self.headers.setdefault("Retry-After", str(RETRY_AFTER))


def queue_unavailable() -> ApiError:
    return ApiError(503, "queue_unavailable", "The work queue is unavailable; try again.")


def database_unavailable() -> ApiError:
    return ApiError(503, "database_unavailable", "The database is unavailable; try again.")


def is_database_outage(exc: BaseException) -> bool:
    """The database could not be reached (not a bug in a query): answer 503, not 500."""
    from sqlalchemy.exc import DBAPIError, OperationalError, TimeoutError

    return isinstance(exc, OperationalError | TimeoutError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(error={"code": code, "message": message}), status


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        response, status = error_response(exc.status, exc.code, exc.message)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="digit-recognizer"'
        response.headers.update(exc.headers)
        return response, status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.response is not None or not _wants_json():
            return exc  # a response made for it already (e.g. a 429), or a page's error
        code = (exc.name or "error").lower().replace(" ", "_")
        response, status = error_response(exc.code or 500, code, exc.description or exc.name)
        for name, value in exc.get_headers():  # e.g. Allow on a 405, WWW-Authenticate
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if is_database_outage(exc):
            log.error("database unavailable on %s %s: %s", request.method, request.path, exc)
            return api_error(database_unavailable())
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not _wants_json():
            return "Internal Server Error", 500
        return error_response(500, "internal_error", "Something went wrong on our side.")
