"""Celery side: the app, tasks and beat schedule. Entry: `celery -A worker.entry`."""
