"""`digits cleanup [--dry-run]`: the retention cleanup, by hand.

The same code the `maintenance.cleanup` beat task runs, with the same settings
(IMAGE_RETENTION, RESULT_RETENTION, CLEANUP_CHUNK_SIZE, DATABASE_URL from the environment).
"""

from __future__ import annotations

import click

from config import ConfigError, load_settings


def _seconds(text: str | None) -> int | None:
    if text is None:
        return None
    from config.settings import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command()
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@click.option(
    "--image-retention", metavar="DURATION", help="Override IMAGE_RETENTION (e.g. 24h, 7d)."
)
@click.option(
    "--result-retention", metavar="DURATION", help="Override RESULT_RETENTION (e.g. 30d)."
)
def cleanup(dry_run: bool, image_retention: str | None, result_retention: str | None) -> None:
    """Remove images of finished items older than IMAGE_RETENTION and whole results (with
    their digits and batches) older than RESULT_RETENTION. Queued or processing work, and
    batches that still have such items, are never touched."""
    from store.db import redact_url
    from store.maintenance import run_cleanup

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    images_after = _seconds(image_retention)
    images_after = settings.image_retention if images_after is None else images_after
    results_after = _seconds(result_retention)
    results_after = settings.result_retention if results_after is None else results_after
    click.echo(
        f"database: {redact_url(settings.database_url)}\n"
        f"images kept {images_after} s, results kept {results_after} s"
        + ("  (dry run: nothing is removed)" if dry_run else "")
    )
    report = run_cleanup(
        settings.database_url,
        image_retention=images_after,
        result_retention=results_after,
        chunk=settings.cleanup_chunk_size,
        dry_run=dry_run,
    )
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} images of {report.images_purged} recognitions "
        f"({report.image_bytes_purged} bytes)\n"
        f"{verb} {report.recognitions_deleted} recognitions with {report.digits_deleted} digits\n"
        f"{verb} {report.batches_deleted} batches"
    )
