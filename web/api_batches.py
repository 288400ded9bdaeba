"""Bulk batches under /api/v1/batches."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("batches", __name__, url_prefix="/api/v1")
