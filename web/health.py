"""Liveness and readiness probes (used by compose healthchecks)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from store import get_engine
from store.events import redis_client

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    problems = {}
    try:
        with get_engine(current_app.config["DATABASE_URL"]).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        problems["database"] = f"{type(exc).__name__}: {exc}"[:300]
    try:
        redis_client(current_app.config["REDIS_URL"]).ping()
    except Exception as exc:
        problems["broker"] = f"{type(exc).__name__}: {exc}"[:300]
    if problems:
        return jsonify(status="unavailable", problems=problems), 503
    return jsonify(status="ready", database="ok", broker="ok")
