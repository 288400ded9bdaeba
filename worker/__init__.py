"""Celery side: the app, tasks and beat schedule. Entry: `celery -A make_celery`."""
