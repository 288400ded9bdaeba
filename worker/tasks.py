"""Celery tasks. They take ids, never payloads; the images are read from the database."""

from __future__ import annotations

from celery import shared_task

from worker.processing import process


@shared_task(name="recognitions.recognize", ignore_result=True)
def recognize(recognition_id: str) -> None:
    """One interactive recognition (a drawing or a single upload)."""
    process([recognition_id])


@shared_task(name="batches.recognize_chunk", ignore_result=True)
def recognize_chunk(batch_id: str, recognition_ids: list[str]) -> None:
    """A chunk of a bulk batch, predicted with one vectorized call."""
    process(recognition_ids)
