"""Flask's `celery_init_app` pattern: tasks run inside the Flask app context."""

from __future__ import annotations

from celery import Celery, Task
from flask import Flask

from config.logging import connect_celery_signals

INTERACTIVE_QUEUE = "interactive"
BULK_QUEUE = "bulk"
MAINTENANCE_QUEUE = "maintenance"

TASK_ROUTES = {
    "recognitions.*": {"queue": INTERACTIVE_QUEUE},
    "batches.*": {"queue": BULK_QUEUE},
    "maintenance.*": {"queue": MAINTENANCE_QUEUE},
}


def celery_config(app: Flask) -> dict:
    return {
        "broker_url": app.config["REDIS_URL"],
        "broker_connection_retry_on_startup": True,
        # A task that dies mid-way is redelivered; writes are idempotent (see worker.processing).
        "broker_transport_options": {"visibility_timeout": 3600},
        "task_ignore_result": True,  # results live in our own tables
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": INTERACTIVE_QUEUE,
        "task_routes": TASK_ROUTES,
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_hijack_root_logger": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "include": ["worker.tasks", "worker.maintenance"],
        "beat_schedule": beat_schedule(app),
        "timezone": "UTC",
    }


def beat_schedule(app: Flask) -> dict:
    # `expires`: a run not started before the next one is due is dropped, so maintenance
    # messages do not pile up while the bulk workers are down or busy.
    cleanup_every = float(app.config["CLEANUP_INTERVAL"])
    stuck_every = float(app.config["STUCK_CHECK_INTERVAL"])
    return {
        "cleanup-old-data": {
            "task": "maintenance.cleanup",
            "schedule": cleanup_every,
            "options": {"expires": cleanup_every},
        },
        "requeue-stuck-work": {
            "task": "maintenance.requeue_stuck",
            "schedule": stuck_every,
            "options": {"expires": stuck_every},
        },
    }


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    connect_celery_signals(lambda: (app.config["LOG_LEVEL"], app.config["LOG_FORMAT"]))
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(app))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
