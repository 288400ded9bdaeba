"""Settings read from the environment (see `.env.example` and the README)."""

from config.settings import ConfigError, Settings, current_settings, load_settings

__all__ = ["ConfigError", "Settings", "current_settings", "load_settings"]
