"""The `digits` command: recognizer commands (train, evaluate) plus service commands."""

from __future__ import annotations

from cli.cleanup import cleanup
from cli.submit import submit
from recognizer.cli import main

main.add_command(submit)
main.add_command(cleanup)

__all__ = ["main"]
