"""`make run`: migrate, then start web, workers, beat and Flower together under honcho.

With no REDIS_URL a private Redis is started (and stopped on exit); with no DATABASE_URL the
SQLite file in var/ is used. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from config import ConfigError, load_settings
from config.settings import ROOT, VAR_DIR
from scripts.embedded import EmbeddedRedis
from store.db import redact_url
from store.migrate import upgrade_to_head


def _persistent_secret(name: str) -> str:
    """A random value kept in var/ so restarts keep sessions and Flower logins working."""
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def service_environment(redis_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    if redis_url:
        env["REDIS_URL"] = redis_url
    if not env.get("SECRET_KEY") and env.get("APP_ENV", "development") != "production":
        env["SECRET_KEY"] = _persistent_secret("secret_key")
    env.setdefault("FLOWER_ADDRESS", "127.0.0.1")
    env.setdefault("FLOWER_PORT", "5555")
    if not (env.get("FLOWER_USER") and env.get("FLOWER_PASSWORD")):
        env["FLOWER_USER"] = env.get("FLOWER_USER") or "admin"
        env["FLOWER_PASSWORD"] = _persistent_secret("flower_password")
    # Flower reads this from its environment (never a command-line flag `ps` would show).
    env.setdefault("FLOWER_BASIC_AUTH", f"{env['FLOWER_USER']}:{env['FLOWER_PASSWORD']}")
    return env


def _flower_login(environ: dict[str, str]) -> str:
    """Where the Flower login comes from; the password itself is never printed."""
    user = environ.get("FLOWER_BASIC_AUTH", "").partition(":")[0]
    if os.environ.get("FLOWER_BASIC_AUTH") or os.environ.get("FLOWER_PASSWORD"):
        return f"user {user!r}, password from the environment"
    return f"user {user!r}, password in {VAR_DIR / 'flower_password'}"


def _supervise(honcho: subprocess.Popen[bytes]) -> int:
    """Wait for honcho. SIGTERM (what `kill`, systemd and container runtimes send, often to
    this process alone) is passed on to honcho, which stops the service, so that the embedded
    Redis is then stopped here too instead of being left behind."""
    signal.signal(signal.SIGTERM, lambda signum, frame: honcho.terminate())
    while True:
        try:
            return honcho.wait()
        except KeyboardInterrupt:  # Ctrl-C reached honcho too: wait for it to stop the rest
            continue


def main() -> int:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    redis = None if os.environ.get("REDIS_URL") else EmbeddedRedis(VAR_DIR / "redis")
    try:
        redis_url = redis.start() if redis else None
        env = service_environment(redis_url)
        print(f"database: {redact_url(settings.database_url)}  (migrating to head)")
        upgrade_to_head(settings.database_url)
        print(f"broker:   {env['REDIS_URL'] if redis else 'REDIS_URL from the environment'}")
        print(f"web:      http://{env.get('WEB_BIND', '127.0.0.1:5000')}/")
        print(
            f"flower:   http://{settings.flower_address}:{settings.flower_port}/  "
            f"({_flower_login(env)})"
        )
        honcho = [sys.executable, "-m", "honcho", "-f", str(ROOT / "Procfile"), "start"]
        return _supervise(subprocess.Popen(honcho, cwd=ROOT, env=env))
    except KeyboardInterrupt:
        return 130
    finally:
        if redis:
            redis.stop()


if __name__ == "__main__":
    sys.exit(main())
