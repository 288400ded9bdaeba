"""API keys (AUTH=keys): created with `digits keys create NAME`; only their SHA-256 is stored.

A key is 32 random bytes (`dr_` + URL-safe base64), so a fast hash is enough: there is nothing
to guess that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import ApiKey, utcnow

KEY_PREFIX = "dr_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(session: Session, name: str) -> tuple[ApiKey, str]:
    """A new key named `name`: returns the row and the key (shown once, never stored)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name[:100], prefix=key[:10], key_hash=hash_key(key))
    session.add(row)
    session.flush()
    return row, key


def find_key(session: Session, key: str) -> ApiKey | None:
    """The live (not revoked) key row for a presented key."""
    if not key or len(key) > 200:
        return None
    return session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    )


def live_key(session: Session, key_id: int) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)))


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_keys(session: Session, name_or_prefix: str) -> int:
    """Revoke the live keys with this name or key prefix; returns how many."""
    rows = session.scalars(
        select(ApiKey).where(
            ApiKey.revoked_at.is_(None),
            (ApiKey.name == name_or_prefix) | (ApiKey.prefix == name_or_prefix),
        )
    ).all()
    for row in rows:
        row.revoked_at = utcnow()
    return len(rows)
