"""Log lines: one per event, JSON with the expected keys when LOG_FORMAT=json."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid

from config.logging import JsonFormatter, TextFormatter, configure_logging
from store import DONE, QUEUED, Recognition, session_scope
from tests.support import mnist_test_digits, png_bytes, start_worker, wait_until


def test_json_formatter_one_object_per_line():
    record = logging.LogRecord("worker.task", logging.INFO, __file__, 1, "did %s", ("it",), None)
    record.recognition_id = "abc"
    record.duration_ms = 12.5
    record.task = "recognitions.recognize"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "did it" and entry["level"] == "INFO"
    assert entry["logger"] == "worker.task" and entry["time"].endswith("+00:00")
    assert entry["recognition_id"] == "abc" and entry["duration_ms"] == 12.5
    assert entry["task"] == "recognitions.recognize"

    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        import sys

        failing = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = JsonFormatter().format(failing)
    assert "\n" not in line and "boom" in json.loads(line)["exc_info"]

    text = TextFormatter().format(record)
    assert text.endswith("did it recognition_id=abc duration_ms=12.5 task=recognitions.recognize")


def test_configure_logging_is_idempotent():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("DEBUG", "json")
        configure_logging("WARNING", "text")
        ours = [h for h in root.handlers if getattr(h, "_digits_handler", False)]
        assert len(ours) == 1 and isinstance(ours[0].formatter, TextFormatter)
        assert root.level == logging.WARNING
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_web_request_lines_carry_ids_and_duration(client, monkeypatch):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("web.metrics")
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "level", logging.INFO)
    try:
        rid, bid = str(uuid.uuid4()), str(uuid.uuid4())
        assert client.get(f"/api/v1/recognitions/{rid}").status_code == 404
        assert client.get(f"/api/v1/batches/{bid}").status_code == 404
        assert client.get(f"/api/v1/batches/{bid}/results").status_code == 404
        client.get("/metrics")  # not logged: scraped every few seconds
    finally:
        logger.removeHandler(handler)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(entries) == 3, entries
    assert entries[0]["recognition_id"] == rid and entries[0]["status"] == 404
    assert entries[0]["method"] == "GET" and isinstance(entries[0]["duration_ms"], float)
    assert [e["batch_id"] for e in entries[1:]] == [bid, bid]


def test_worker_writes_json_lines_with_task_ids_and_duration(
    app, service_environment, database_url, tmp_path
):
    """A real worker with LOG_FORMAT=json, on a queue of its own."""
    queue = f"logtest-{uuid.uuid4().hex[:8]}"
    env = {**service_environment, "LOG_FORMAT": "json"}
    worker = start_worker(env, tmp_path, queues=queue)
    try:
        image = png_bytes(mnist_test_digits(1, offset=40)[0][0])
        rec = Recognition(status=QUEUED, image=image, image_size=len(image))
        with session_scope(database_url) as session:
            session.add(rec)
        app.extensions["celery"].send_task(
            "recognitions.recognize", args=[str(rec.id)], queue=queue
        )

        def done() -> bool:
            with session_scope(database_url) as session:
                return session.get(Recognition, rec.id).status == DONE

        wait_until(done, 30, "the recognition is not done", process=worker)
        time.sleep(0.5)  # the postrun line follows the commit
    finally:
        worker.stop()
    lines = [line for line in worker.log().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]  # every log line parses
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any(" ready." in e["message"] for e in entries)
    task_lines = [e for e in entries if e.get("task") == "recognitions.recognize" and "state" in e]
    assert task_lines, lines[-20:]
    done = task_lines[-1]
    assert done["recognition_id"] == str(rec.id) and done["state"] == "SUCCESS"
    assert isinstance(done["duration_ms"], float) and done["duration_ms"] > 0
    processed = [e for e in entries if e.get("message", "").startswith("processed")]
    assert processed and processed[-1]["recognition_id"] == str(rec.id)
