"""Logging: one line per event; JSON when LOG_FORMAT=json.

`configure_logging` installs one stderr handler on the root logger (replacing the one it
installed before, leaving any other handler alone). Fields passed with `extra=` (recognition_id,
batch_id, task, duration_ms, ...) become keys of the JSON object, or `key=value` pairs at the
end of a text line. The web calls it from `create_app`; the workers from Celery's
`setup_logging` signal (so Celery does not install its own handlers), and Celery's task
signals log one line per task with its name, ids, state and duration.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pythonjsonlogger import json as jsonlogger

from worker.queues import RECOGNIZE, RECOGNIZE_CHUNK

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_HANDLER_MARK = "_digits_handler"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(jsonlogger.JsonFormatter):
    """One JSON object per line (python-json-logger): time, level, logger, message, then the
    `extra` fields; a traceback becomes the `exc_info` string."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
            json_ensure_ascii=False,
        )


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value ...` on one line (tracebacks follow it)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        if not extras:
            return line
        first, sep, rest = line.partition("\n")
        pairs = " ".join(f"{k}={v}" for k, v in extras.items())
        return f"{first} {pairs}{sep}{rest}"


def make_formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if str(fmt).lower() == "json" else TextFormatter()


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send every log record to stderr, one line per event, as text or JSON. Idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(make_formatter(fmt))
    root.addHandler(handler)
    root.setLevel(str(level).upper())


# ---------------------------------------------------------------- Celery


def _task_ids(
    task_name: str, args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None
) -> dict[str, str | int]:
    args = list(args or [])
    kwargs = dict(kwargs or {})
    ids: dict[str, str | int] = {}
    if task_name == RECOGNIZE:
        rid = kwargs.get("recognition_id", args[0] if args else None)
        if rid is not None:
            ids["recognition_id"] = str(rid)
    elif task_name == RECOGNIZE_CHUNK:
        bid = kwargs.get("batch_id", args[0] if args else None)
        if bid is not None:
            ids["batch_id"] = str(bid)
        items = kwargs.get("recognition_ids", args[1] if len(args) > 1 else None)
        if isinstance(items, list | tuple):
            ids["items"] = len(items)
    return ids


_task_log = logging.getLogger("worker.task")
_started: dict[str, float] = {}


def _on_prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


def _on_postrun(
    task_id: str | None = None,
    task: Any = None,
    args: Sequence[Any] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    state: str | None = None,
    **_: Any,
) -> None:
    began = _started.pop(task_id, None) if task_id is not None else None
    name = getattr(task, "name", None) or "?"
    extra: dict[str, Any] = {
        "task": name,
        "task_id": task_id,
        "state": state,
        **_task_ids(name, args, kwargs),
    }
    if began is not None:
        extra["duration_ms"] = round((time.perf_counter() - began) * 1000, 1)
    level = logging.INFO if state in (None, "SUCCESS") else logging.WARNING
    _task_log.log(
        level, "task %s %s in %s ms", name, state, extra.get("duration_ms", "?"), extra=extra
    )


def connect_celery_signals(settings_loader: Callable[[], tuple[str, str]]) -> None:
    """Wire logging into Celery: `settings_loader()` returns (level, format)."""
    from celery import signals

    def _setup_logging(**_: object) -> None:
        level, fmt = settings_loader()
        configure_logging(level, fmt)

    # A receiver on setup_logging stops Celery from configuring logging itself.
    signals.setup_logging.connect(_setup_logging, weak=False, dispatch_uid="digits-logging")
    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="digits-task-prerun")
    signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="digits-task-postrun")
