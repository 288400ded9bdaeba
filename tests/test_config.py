"""Settings come from the environment; production refuses to start without its secrets."""

from __future__ import annotations

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
    import os

    import redis

    server = EmbeddedRedis(tmp_path)
    url = server.start()
    assert redis.Redis.from_url(url).ping()
    pid = server.process.pid
    server.stop()
    assert not (tmp_path / "redis.pid").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
