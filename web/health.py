"""Liveness and readiness probes (used by compose healthchecks)."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from config import current_settings
from store import get_engine
from store.events import redis_client
from worker.celery_app import redis_timeout

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """503 names what is unavailable ("database", "broker": Redis) and nothing more: the
    exception's text (hosts, users, driver details) goes to the log only."""
    problems = {}
    settings = current_settings()
    try:
        with get_engine(settings.database_url).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        log.warning("readiness: database unavailable", exc_info=True)
        problems["database"] = "database unavailable"
    try:
        redis_client(settings.redis_url, redis_timeout(settings)).ping()
    except Exception:
        log.warning("readiness: redis unavailable", exc_info=True)
        problems["broker"] = "redis unavailable"
    if problems:
        return jsonify(status="unavailable", problems=problems), 503
    return jsonify(status="ready", database="ok", broker="ok")
