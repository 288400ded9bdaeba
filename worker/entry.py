"""Entry module for the `celery -A worker.entry` command (worker, beat, Flower)."""

from web import create_app

flask_app = create_app({"PROCESS_ROLE": "worker"})
celery_app = flask_app.extensions["celery"]
