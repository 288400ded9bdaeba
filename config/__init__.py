"""Settings read from the environment (see `.env.example` and the README)."""

from config.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
