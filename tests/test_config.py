"""Settings come from the environment; production refuses to start without its secrets."""

from __future__ import annotations

import os

import pytest

from config import ConfigError, load_settings
from scripts.embedded import EmbeddedRedis


def test_safe_local_defaults():
    settings = load_settings({})
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith(
        "var/digits.db"
    )
    assert settings.image_retention == 24 * 3600 and settings.result_retention == 30 * 86400
    assert not settings.is_production


def test_values_are_parsed():
    settings = load_settings(
        {"MAX_IMAGE_BYTES": "2MB", "IMAGE_RETENTION": "90m", "RESULT_RETENTION": "7d"}
    )
    assert settings.max_image_bytes == 2 * 1024 * 1024
    assert settings.image_retention == 5400 and settings.result_retention == 7 * 86400
    with pytest.raises(ConfigError, match="IMAGE_RETENTION"):
        load_settings({"IMAGE_RETENTION": "soon"})


def test_production_without_secret_stops_with_a_clear_message():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings({"APP_ENV": "production", "DATABASE_URL": "postgresql://x/y"})
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings({"APP_ENV": "production", "SECRET_KEY": "s3cret"})
    assert load_settings(
        {"APP_ENV": "production", "SECRET_KEY": "s3cret", "DATABASE_URL": "postgresql://x/y"}
    ).is_production


def test_embedded_redis_starts_and_really_stops(tmp_path):
    import redis

    server = EmbeddedRedis(tmp_path)
    url = server.start()
    assert redis.Redis.from_url(url).ping()
    pid = server.process.pid
    server.stop()
    assert not (tmp_path / "redis.pid").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_stopped_server_not_yet_reaped_counts_as_stopped():
    """`make run` and the fault tests stop their Redis at once: a child that has exited but
    is not yet reaped (a zombie) answers signals, so a check by signal waited out the whole
    timeout every time."""
    import subprocess
    import time

    from scripts.embedded import _exited

    child = subprocess.Popen(["sleep", "30"])
    assert not _exited(child.pid)
    child.terminate()
    deadline = time.monotonic() + 10
    while not _exited(child.pid):  # exited, not reaped: still a PID
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.02)
    os.kill(child.pid, 0)  # the zombie is still there: a check by signal would wait on
    child.wait()
    assert _exited(child.pid)
