"""Persistence: typed models, per-process engines and the queries the web and workers need."""

from store.db import dispose_all, get_engine, open_session, session_scope
from store.models import (
    DONE,
    FAILED,
    FINAL_STATUSES,
    OPEN_STATUSES,
    PROCESSING,
    QUEUED,
    ApiKey,
    Base,
    Batch,
    Correction,
    DigitResult,
    ModelActivation,
    Recognition,
    utcnow,
)

__all__ = [
    "DONE",
    "FAILED",
    "FINAL_STATUSES",
    "OPEN_STATUSES",
    "PROCESSING",
    "QUEUED",
    "ApiKey",
    "Base",
    "Batch",
    "Correction",
    "DigitResult",
    "ModelActivation",
    "Recognition",
    "dispose_all",
    "get_engine",
    "open_session",
    "session_scope",
    "utcnow",
]
