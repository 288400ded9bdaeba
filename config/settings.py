"""Every setting comes from the environment, with safe local defaults: one typed object
(pydantic-settings), parsed once. Sizes (`10MB`) and durations (`15m`) are read here, so no
caller ever casts a setting again.

In production (`APP_ENV=production`) a missing secret stops start-up with a clear message
instead of silently running with a development default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", ROOT / "var"))
DEV_SECRET_KEY = "dev-only-not-secret"
MAX_TEXT = 256  # characters of `recognitions.text` (String(256)): the digit cap's ceiling


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


def parse_duration(value: Any) -> int:
    """Parse `90`, `90s`, `15m`, `24h`, `30d` into seconds."""
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(float(text))
    except ValueError as exc:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 24h, 30d)") from exc


def parse_size(value: Any) -> int:
    """Parse `1024`, `10KB`, `16MB`, `2GB` into bytes (K = 1024)."""
    if isinstance(value, int):
        return value
    text = str(value).strip().upper().removesuffix("B")
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError as exc:
        raise ValueError(f"not a size: {text!r} (use e.g. 10MB)") from exc


def parse_seconds(value: Any) -> float:
    """Parse `0.5`, `2s`, `1.5` into (fractional) seconds."""
    seconds = float(str(value).strip().lower().removesuffix("s"))
    if seconds <= 0:
        raise ValueError("use a positive number of seconds")
    return seconds


def _rate_limit(value: Any) -> str:
    """Checked at start-up: `120/minute;2000/hour` (flask-limiter's notation), or `off`."""
    text = str(value).strip()
    if text.lower() in ("", "off", "none", "0"):
        return ""
    from limits import parse_many

    try:
        parse_many(text)
    except ValueError as exc:
        raise ValueError("use e.g. 120/minute;2000/hour") from exc
    return text


Duration = Annotated[int, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Seconds = Annotated[float, BeforeValidator(parse_seconds)]
Lower = BeforeValidator(lambda v: str(v).strip().lower())


class Settings(BaseSettings):
    """The service's settings; each field is read from the environment variable of its name in
    upper case (APP_ENV for `app_env`). Blank values count as unset."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_ignore_empty=True)

    app_env: Annotated[str, Lower] = "development"
    secret_key: str = DEV_SECRET_KEY
    database_url: str = f"sqlite:///{VAR_DIR / 'digits.db'}"
    redis_url: str = "redis://127.0.0.1:6379/0"
    model_path: str | None = None
    # model versions: where they are, and the one to serve until `digits model activate` runs
    models_dir: str = str(ROOT / "models")
    model_version: str | None = None
    # uploads
    max_image_bytes: Size = 10 * 1024**2
    max_image_pixels: int = 40_000_000
    batch_max_bytes: Size = 512 * 1024**2
    batch_max_files: int = 20_000
    batch_chunk_size: int = 128  # measured: 64 -> 128 items per task is +13% bulk throughput
    # retention and stuck work
    image_retention: Duration = 24 * 3600
    result_retention: Duration = 30 * 86400
    cleanup_interval: Duration = 15 * 60
    cleanup_chunk_size: int = 500
    stuck_timeout: Duration = 10 * 60
    stuck_check_interval: Duration = 60
    # queued this long, and carried by no message in Redis: re-sent by the stuck check
    lost_message_grace: Duration = 60
    max_attempts: int = 3
    # faults and bounds (issue 10)
    lease_timeout: Duration = 60  # a worker renews its items' lease every third of this
    # more found in one image: the item fails `too_many_digits` (the stored text holds MAX_TEXT)
    digits_max_per_image: Annotated[int, Field(ge=1, le=MAX_TEXT)] = 64
    chunk_max_bytes: Size = 32 * 1024**2  # a bulk task's images add up to at most this much
    task_soft_time_limit: Duration = 300  # a task still running: its items are retried by halves
    task_time_limit: Duration = 360  # ... and its process killed
    worker_max_memory_per_child: Size = 1024**3  # a pool process above this is replaced
    redis_timeout: Seconds = 1.0  # socket and connect timeout of the web's Redis clients
    broker_timeout: Seconds = 10.0  # the same for workers, beat and Flower
    wait_max_concurrent: int = 4  # `?wait=` requests held at once per web process (< WEB_THREADS)
    # flower
    flower_user: str | None = None
    flower_password: str | None = None
    flower_address: str = "127.0.0.1"
    flower_port: int = 5555
    # clients and limits (issue 11)
    auth: Annotated[Literal["none", "keys"], Lower] = "none"  # keys: `digits keys create NAME`
    # e.g. "120/minute;2000/hour" per client on POSTs; "" = off
    rate_limit_submit: Annotated[str, BeforeValidator(_rate_limit)] = ""
    metrics_token: str | None = None  # when set, /metrics needs `Authorization: Bearer <it>`
    # which process this is: `make_celery` sets "worker" (workers, beat and Flower)
    process_role: Annotated[Literal["web", "worker"], Lower] = "web"
    # logging
    log_format: Annotated[Literal["text", "json"], Lower] = "text"
    log_level: Annotated[str, BeforeValidator(lambda v: str(v).strip().upper())] = "INFO"

    @model_validator(mode="after")
    def _production_has_its_secrets(self) -> Settings:
        if not self.is_production:
            return self
        if "secret_key" not in self.model_fields_set:
            raise ValueError(
                "SECRET_KEY is not set. In production (APP_ENV=production) set SECRET_KEY to a "
                "long random string, e.g. "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`."
            )
        if "database_url" not in self.model_fields_set:
            raise ValueError("DATABASE_URL is not set (required when APP_ENV=production).")
        return self

    def has(self, name: str) -> bool:
        """Whether `name` (an environment variable's name) is one of these settings."""
        return name.lower() in type(self).model_fields

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    def flask_config(self) -> dict[str, Any]:
        """What Flask itself reads from `app.config`. The service's own settings are not copied
        there: they are read from this object (`current_settings()`), the one way."""
        return {
            "SECRET_KEY": self.secret_key,
            "MAX_CONTENT_LENGTH": None,  # limits are enforced per route (batches stream)
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.is_production,  # production runs behind TLS
        }


def current_settings() -> Settings:
    """The settings of the Flask app in context (kept in `app.extensions` by create_app)."""
    from flask import current_app

    settings: Settings = current_app.extensions["settings"]
    return settings


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from the environment (or `environ`, and nothing else); raise
    `ConfigError` naming the variable on a bad or missing value."""
    try:
        if environ is None:
            return Settings()
        fields = Settings.model_fields
        given = {
            name.lower(): value
            for name, value in environ.items()
            if name.lower() in fields and str(value).strip()
        }  # (the names are matched as pydantic-settings matches the environment's)
        return Settings.model_validate(given)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, os.environ if environ is None else environ)) from exc


def _explain(exc: ValidationError, environ: Mapping[str, str]) -> str:
    lines = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:
            lines.append(message)
            continue
        name = str(error["loc"][0]).upper()
        lines.append(f"{name}={environ.get(name, '')!r}: {message}")
    return "; ".join(lines)
