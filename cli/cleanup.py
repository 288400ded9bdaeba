"""`digits cleanup [--dry-run]`: the retention cleanup, by hand."""

from __future__ import annotations

import click


@click.command()
def cleanup() -> None:
    """Remove old images and results (not written yet)."""
    raise click.ClickException("not implemented yet")
