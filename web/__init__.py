"""Flask app factory: `create_app(config=None)`; gunicorn runs `web:create_app()`."""

from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Flask

from config import load_settings
from config.logging import configure_logging
from web import security
from worker.celery_app import celery_init_app


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    """The app; `config` overrides settings (by their environment names) and Flask keys."""
    app = Flask(__name__)
    overrides = dict(config or {})
    as_env = {k: "" if v is None else str(v) for k, v in overrides.items()}
    settings = load_settings({**os.environ, **as_env})
    app.config.from_mapping(settings.flask_config())
    app.config.from_mapping({k: v for k, v in overrides.items() if not settings.has(k)})
    app.extensions["settings"] = settings
    configure_logging(settings.log_level, settings.log_format)
    app.url_map.merge_slashes = False  # `a//b` is a 404, not a redirect to somewhere else
    register_blueprints(app)
    register_errorhandlers(app)
    security.init_app(app)
    celery_init_app(app)
    return app


def register_blueprints(app: Flask) -> None:
    from web import api, api_batches, api_review, health, metrics, pages

    app.register_blueprint(api.bp)
    app.register_blueprint(api_batches.bp)
    app.register_blueprint(api_review.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(pages.bp)


def register_errorhandlers(app: Flask) -> None:
    from web.errors import register

    register(app)
