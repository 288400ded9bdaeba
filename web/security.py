"""Security for every response and request: headers, API keys, rate limits, the metrics token.

- Headers on every response: a CSP with no inline script or style, nosniff, no framing, a
  same-origin Referrer-Policy. User images get a CSP of their own (`sandbox`).
- AUTH=keys: API calls need `Authorization: Bearer <key>` (or `X-API-Key`); a browser signs in
  once on /signin with a key, kept in the signed session cookie. Each client sees only what it
  submitted (404 for other clients' ids). Anonymous API calls get 401 JSON; pages redirect to
  /signin. AUTH=none (the default): no clients, everyone sees everything by id, as before.
- RATE_LIMIT_SUBMIT (e.g. `120/minute;2000/hour`): per client (key, else address) on the POSTs,
  counted in the same Redis (flask-limiter); 429 JSON with Retry-After. Empty: off.
- METRICS_TOKEN: when set, /metrics needs `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import math
import time

from flask import Flask, Response, g, jsonify, redirect, request, session, url_for
from flask_limiter import Limiter, RequestLimit

from config import current_settings
from store import open_session
from store.keys import find_key, live_key
from web.errors import ApiError

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
USER_CONTENT_CSP = "default-src 'none'; img-src 'self'; sandbox; frame-ancestors 'none'"
OPEN_PATHS = ("/healthz", "/readyz", "/static/", "/signin", "/signout", "/metrics")
OPEN_API_PATHS = ("/api/v1/openapi.json",)


def init_app(app: Flask) -> None:
    app.after_request(security_headers)
    app.before_request(authenticate)
    limiter.init_app(app)


# ---------------------------------------------------------------- headers


def security_headers(response: Response) -> Response:
    headers = response.headers
    user_content = request.endpoint in ("api.image", "api.normalized")
    headers.setdefault("Content-Security-Policy", USER_CONTENT_CSP if user_content else CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    return response


# ---------------------------------------------------------------- clients (AUTH=keys)


def keys_required() -> bool:
    return current_settings().auth == "keys"


def current_owner() -> int | None:
    """The id of the ApiKey making this request (None with AUTH=none)."""
    return g.get("client_id")


def current_owner_name() -> str | None:
    """The name of the ApiKey making this request (None with AUTH=none): who corrected what."""
    return g.get("client_name")


def owned(model):
    """A WHERE clause limiting `model` rows to this client's own (true with AUTH=none)."""
    from sqlalchemy import true

    if not keys_required():
        return true()
    return model.owner_id == current_owner()


def _presented_key() -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-API-Key") or None


def authenticate():
    g.client_id = g.client_name = None
    if not keys_required() or request.path.startswith(OPEN_PATHS + OPEN_API_PATHS):
        return None
    key = _presented_key()
    with open_session(current_settings().database_url) as db:
        if key is not None:
            row = find_key(db, key)
        elif isinstance(session.get("api_key_id"), int):
            row = live_key(db, session["api_key_id"])
        else:
            row = None
    if row is not None:
        g.client_id, g.client_name = row.id, row.name
        return None
    if request.path.startswith("/api/"):
        raise ApiError(
            401,
            "unauthorized",
            "Send an API key: `Authorization: Bearer <key>` (create one with "
            "`digits keys create NAME`).",
        )
    return redirect(url_for("pages.signin", next=request.full_path.rstrip("?")))


def sign_in(key: str) -> bool:
    with open_session(current_settings().database_url) as db:
        row = find_key(db, key)
    if row is None:
        return False
    session.clear()  # a new client: the history of the previous one goes
    session["api_key_id"] = row.id
    session.permanent = True
    return True


# ---------------------------------------------------------------- rate limits


def _client_key() -> str:
    owner = current_owner()
    return f"key:{owner}" if owner is not None else f"addr:{request.remote_addr}"


def _too_many(limit: RequestLimit) -> Response:
    retry_after = max(1, math.ceil(limit.window[0] - time.time()))  # when a slot frees
    response = jsonify(
        error={
            "code": "too_many_requests",
            "message": f"Over the limit of {limit.limit}; retry in {retry_after} s.",
        }
    )
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def _submit_limit() -> str:
    return current_settings().rate_limit_submit or "1/second"


def _limits_off() -> bool:
    return not current_settings().rate_limit_submit


class _Limiter(Limiter):
    def init_app(self, app: Flask) -> None:
        app.config.setdefault("RATELIMIT_STORAGE_URI", app.extensions["settings"].redis_url)
        app.config.setdefault("RATELIMIT_KEY_PREFIX", "digits-limits")
        super().init_app(app)


limiter = _Limiter(
    _client_key,
    strategy="moving-window",
    swallow_errors=True,  # Redis down: serve (the enqueue answers 503 anyway), never 500
    on_breach=_too_many,
)
#: one budget per client for every submission route (single images and batches together)
submit_limit = limiter.shared_limit(_submit_limit, scope="submissions", exempt_when=_limits_off)


# ---------------------------------------------------------------- metrics


def metrics_allowed() -> bool:
    token = current_settings().metrics_token
    if not token:
        return True
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        value.strip().encode("utf-8", "surrogatepass"), token.encode()
    )
