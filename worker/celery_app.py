"""Flask's `celery_init_app` pattern: tasks run inside the Flask app context."""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask

from config import Settings
from config.logging import connect_celery_signals
from worker.queues import CLEANUP, INTERACTIVE_QUEUE, REQUEUE_STUCK, TASK_ROUTES


def redis_timeout(settings: Settings) -> float:
    """Socket and connect timeout of this process's Redis connections: short in the web (an
    API call must answer even while Redis does not), longer in workers, beat and Flower."""
    return settings.broker_timeout if settings.process_role == "worker" else settings.redis_timeout


def celery_config(app: Flask) -> dict[str, Any]:
    settings: Settings = app.extensions["settings"]
    timeout = redis_timeout(settings)
    return {
        "broker_url": settings.redis_url,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": timeout,
        # A task that dies mid-way is redelivered; writes are idempotent (see worker.processing).
        "broker_transport_options": {
            "visibility_timeout": 3600,
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "socket_keepalive": True,
            "retry_on_timeout": False,
        },
        "redis_socket_timeout": timeout,
        "redis_socket_connect_timeout": timeout,
        "redis_socket_keepalive": True,
        # bounded work: a task over its soft limit is retried by halves (worker.tasks); over the
        # hard limit its process is killed, and the items' lease expires (the stuck check).
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "worker_max_memory_per_child": max(1, settings.worker_max_memory_per_child // 1024),
        # a new pool process loads the model before it reports ready (worker.model._warm); on a
        # busy machine that takes longer than Celery's 4 s default, and the process would be
        # killed and replaced in a loop ("Timed out waiting for UP message")
        "worker_proc_alive_timeout": 60,
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


def beat_schedule(app: Flask) -> dict[str, dict[str, Any]]:
    # `expires`: a run not started before the next one is due is dropped, so maintenance
    # messages do not pile up while the bulk workers are down or busy.
    cleanup_every = float(app.extensions["settings"].cleanup_interval)
    stuck_every = float(app.extensions["settings"].stuck_check_interval)
    return {
        "cleanup-old-data": {
            "task": CLEANUP,
            "schedule": cleanup_every,
            "options": {"expires": cleanup_every},
        },
        "requeue-stuck-work": {
            "task": REQUEUE_STUCK,
            "schedule": stuck_every,
            "options": {"expires": stuck_every},
        },
    }


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):  # type: ignore[misc]  # celery has no type information
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    settings: Settings = app.extensions["settings"]
    connect_celery_signals(lambda: (settings.log_level, settings.log_format))
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(app))
    celery_app.set_default()
    celery_app.flask_app = app  # for signal handlers, which run outside any task
    app.extensions["celery"] = celery_app
    return celery_app
