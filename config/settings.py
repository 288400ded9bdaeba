"""Every setting comes from the environment, with safe local defaults.

In production (`APP_ENV=production`) a missing secret stops start-up with a clear message
instead of silently running with a development default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", ROOT / "var"))
DEV_SECRET_KEY = "dev-only-not-secret"
MAX_TEXT = 256  # characters of `recognitions.text` (String(256)): the digit cap's ceiling


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


def _duration(text: str) -> int:
    """Parse `90`, `90s`, `15m`, `24h`, `30d` into seconds."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(float(text))
    except ValueError as exc:
        raise ConfigError(f"not a duration: {text!r} (use e.g. 90s, 15m, 24h, 30d)") from exc


def _size(text: str) -> int:
    """Parse `1024`, `10KB`, `16MB`, `2GB` into bytes."""
    text = text.strip().upper().removesuffix("B")
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError as exc:
        raise ConfigError(f"not a size: {text!r} (use e.g. 10MB)") from exc


def _seconds(text: str) -> float:
    """Parse `0.5`, `2s`, `1.5` into (fractional) seconds."""
    value = float(text.strip().lower().removesuffix("s"))
    if value <= 0:
        raise ConfigError("use a positive number of seconds")
    return value


def _digit_cap(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_TEXT:
        raise ConfigError(f"use 1 to {MAX_TEXT} (the stored text holds at most {MAX_TEXT})")
    return value


def _auth_mode(text: str) -> str:
    mode = text.strip().lower()
    if mode not in ("none", "keys"):
        raise ConfigError("use none or keys")
    return mode


def _rate_limit(text: str) -> str:
    """Checked at start-up: `120/minute;2000/hour` (flask-limiter's notation), or `off`."""
    text = text.strip()
    if text.lower() in ("off", "none", "0"):
        return ""
    from limits import parse_many

    try:
        parse_many(text)
    except ValueError as exc:
        raise ConfigError("use e.g. 120/minute;2000/hour") from exc
    return text


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    secret_key: str = DEV_SECRET_KEY
    database_url: str = f"sqlite:///{VAR_DIR / 'digits.db'}"
    redis_url: str = "redis://127.0.0.1:6379/0"
    model_path: str | None = None
    # model versions: where they are, and the one to serve until `digits model activate` runs
    models_dir: str = str(ROOT / "models")
    model_version: str | None = None
    # uploads
    max_image_bytes: int = 10 * 1024**2
    max_image_pixels: int = 40_000_000
    batch_max_bytes: int = 512 * 1024**2
    batch_max_files: int = 20_000
    batch_chunk_size: int = 128  # measured: 64 -> 128 items per task is +13% bulk throughput
    # retention and stuck work
    image_retention: int = 24 * 3600
    result_retention: int = 30 * 86400
    cleanup_interval: int = 15 * 60
    cleanup_chunk_size: int = 500
    stuck_timeout: int = 10 * 60
    stuck_check_interval: int = 60
    max_attempts: int = 3
    # faults and bounds (issue 10)
    lease_timeout: int = 60  # a worker renews its items' lease every third of this
    digits_max_per_image: int = 64  # more found in one image: the item fails `too_many_digits`
    chunk_max_bytes: int = 32 * 1024**2  # a bulk task's images add up to at most this much
    task_soft_time_limit: int = 300  # a task still running: its items are retried by halves
    task_time_limit: int = 360  # ... and its process killed
    worker_max_memory_per_child: int = 1024**3  # a pool process above this is replaced
    redis_timeout: float = 1.0  # socket and connect timeout of the web's Redis clients
    broker_timeout: float = 10.0  # the same for workers, beat and Flower
    wait_max_concurrent: int = 4  # `?wait=` requests held at once per web process (< WEB_THREADS)
    # flower
    flower_user: str | None = None
    flower_password: str | None = None
    flower_address: str = "127.0.0.1"
    flower_port: int = 5555
    # clients and limits (issue 11)
    auth: str = "none"  # none | keys (API keys: `digits keys create NAME`)
    rate_limit_submit: str = ""  # e.g. "120/minute;2000/hour" per client on POSTs; "" = off
    metrics_token: str | None = None  # when set, /metrics needs `Authorization: Bearer <it>`
    # logging
    log_format: str = "text"
    log_level: str = "INFO"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def flask_config(self) -> dict:
        """The subset Flask and its extensions read, as upper-case keys."""
        values = {k.upper(): v for k, v in asdict(self).items() if k != "extra"}
        values["SECRET_KEY"] = self.secret_key
        values["MAX_CONTENT_LENGTH"] = None  # limits are enforced per route (batches stream)
        values["SESSION_COOKIE_SAMESITE"] = "Lax"
        values["SESSION_COOKIE_SECURE"] = self.is_production  # production runs behind TLS
        return values


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from the environment; raise `ConfigError` on bad or missing values."""
    env = os.environ if environ is None else environ
    mode = env.get("APP_ENV", "development").strip().lower()
    secret = env.get("SECRET_KEY", "").strip()
    if mode == "production" and not secret:
        raise ConfigError(
            "SECRET_KEY is not set. In production (APP_ENV=production) set SECRET_KEY to a long "
            "random string, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`."
        )
    if mode == "production" and not env.get("DATABASE_URL"):
        raise ConfigError("DATABASE_URL is not set (required when APP_ENV=production).")

    defaults = Settings()

    def get(name: str, default, parse=str):
        raw = env.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw)
        except (ValueError, ConfigError) as exc:
            raise ConfigError(f"{name}={raw!r}: {exc}") from exc

    return Settings(
        env=mode,
        secret_key=secret or DEV_SECRET_KEY,
        database_url=get("DATABASE_URL", defaults.database_url),
        redis_url=get("REDIS_URL", defaults.redis_url),
        model_path=get("MODEL_PATH", None),
        models_dir=get("MODELS_DIR", defaults.models_dir),
        model_version=get("MODEL_VERSION", None),
        max_image_bytes=get("MAX_IMAGE_BYTES", defaults.max_image_bytes, _size),
        max_image_pixels=get("MAX_IMAGE_PIXELS", defaults.max_image_pixels, int),
        batch_max_bytes=get("BATCH_MAX_BYTES", defaults.batch_max_bytes, _size),
        batch_max_files=get("BATCH_MAX_FILES", defaults.batch_max_files, int),
        batch_chunk_size=get("BATCH_CHUNK_SIZE", defaults.batch_chunk_size, int),
        image_retention=get("IMAGE_RETENTION", defaults.image_retention, _duration),
        result_retention=get("RESULT_RETENTION", defaults.result_retention, _duration),
        cleanup_interval=get("CLEANUP_INTERVAL", defaults.cleanup_interval, _duration),
        cleanup_chunk_size=get("CLEANUP_CHUNK_SIZE", defaults.cleanup_chunk_size, int),
        stuck_timeout=get("STUCK_TIMEOUT", defaults.stuck_timeout, _duration),
        stuck_check_interval=get("STUCK_CHECK_INTERVAL", defaults.stuck_check_interval, _duration),
        max_attempts=get("MAX_ATTEMPTS", defaults.max_attempts, int),
        lease_timeout=get("LEASE_TIMEOUT", defaults.lease_timeout, _duration),
        digits_max_per_image=get("DIGITS_MAX_PER_IMAGE", defaults.digits_max_per_image, _digit_cap),
        chunk_max_bytes=get("CHUNK_MAX_BYTES", defaults.chunk_max_bytes, _size),
        task_soft_time_limit=get("TASK_SOFT_TIME_LIMIT", defaults.task_soft_time_limit, _duration),
        task_time_limit=get("TASK_TIME_LIMIT", defaults.task_time_limit, _duration),
        worker_max_memory_per_child=get(
            "WORKER_MAX_MEMORY_PER_CHILD", defaults.worker_max_memory_per_child, _size
        ),
        redis_timeout=get("REDIS_TIMEOUT", defaults.redis_timeout, _seconds),
        broker_timeout=get("BROKER_TIMEOUT", defaults.broker_timeout, _seconds),
        wait_max_concurrent=get("WAIT_MAX_CONCURRENT", defaults.wait_max_concurrent, int),
        flower_user=get("FLOWER_USER", None),
        flower_password=get("FLOWER_PASSWORD", None),
        flower_address=get("FLOWER_ADDRESS", defaults.flower_address),
        flower_port=get("FLOWER_PORT", defaults.flower_port, int),
        auth=get("AUTH", defaults.auth, _auth_mode),
        rate_limit_submit=get("RATE_LIMIT_SUBMIT", defaults.rate_limit_submit, _rate_limit),
        metrics_token=get("METRICS_TOKEN", None),
        log_format=get("LOG_FORMAT", defaults.log_format).lower(),
        log_level=get("LOG_LEVEL", defaults.log_level).upper(),
    )
