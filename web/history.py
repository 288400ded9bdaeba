"""Which recognitions and batches this browser submitted, kept in Flask's signed session cookie."""

from __future__ import annotations

import uuid

from flask import session

LIMITS = {"recognitions": 60, "batches": 20}  # keeps the cookie well under 4 KB


def remember(kind: str, item_id: uuid.UUID) -> None:
    ids = [i for i in session.get(kind, []) if i != item_id.hex]
    session[kind] = [item_id.hex, *ids][: LIMITS[kind]]
    session.permanent = True


def remembered(kind: str) -> list[uuid.UUID]:
    out = []
    for value in session.get(kind, []):
        try:
            out.append(uuid.UUID(value))
        except (ValueError, TypeError):
            continue
    return out
