"""HTML pages (draw, upload, batch, history, model). They use only the JSON API."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pages", __name__)
