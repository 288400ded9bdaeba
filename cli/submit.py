"""`digits submit PATH...`: upload files, folders and zips as one batch (talks HTTP only)."""

from __future__ import annotations

import click


@click.command()
def submit() -> None:
    """Upload images as one batch (not written yet)."""
    raise click.ClickException("not implemented yet")
