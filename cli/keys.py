"""`digits keys create NAME | list | revoke NAME-OR-PREFIX`: API keys for AUTH=keys.

The key is printed once, by `create`; the database keeps only its SHA-256.
"""

from __future__ import annotations

import click

from config import load_settings
from store import session_scope
from store.keys import create_key, list_keys, revoke_keys
from store.migrate import upgrade_to_head


def _database_url() -> str:
    url = load_settings().database_url
    upgrade_to_head(url)  # the api_keys table may be newer than the database
    return url


@click.group("keys")
def keys() -> None:
    """API keys: each key is a client that sees only its own recognitions and batches."""


@keys.command("create")
@click.argument("name")
def create(name: str) -> None:
    """Create a key called NAME and print it (it is shown only this once)."""
    with session_scope(_database_url()) as session:
        row, key = create_key(session, name)
        prefix = row.prefix
    click.echo(key)
    click.echo(
        f"key {prefix}… created for {name!r}; it is not stored and will not be shown again. "
        "Send it as `Authorization: Bearer <key>` (service started with AUTH=keys).",
        err=True,
    )


@keys.command("list")
def list_() -> None:
    """Keys by name and prefix (never the keys themselves)."""
    with session_scope(_database_url()) as session:
        for row in list_keys(session):
            state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "live"
            click.echo(f"{row.prefix}…\t{row.name}\t{row.created_at:%Y-%m-%d %H:%M}\t{state}")


@keys.command("revoke")
@click.argument("name_or_prefix")
def revoke(name_or_prefix: str) -> None:
    """Revoke the live keys with this name (or key prefix, as `list` shows it)."""
    with session_scope(_database_url()) as session:
        count = revoke_keys(session, name_or_prefix.rstrip("…"))
    click.echo(f"revoked {count} key(s)")
    if not count:
        raise SystemExit(1)
