"""The `digits` command: recognizer commands (train, evaluate) plus service commands."""

from __future__ import annotations

from cli.cleanup import cleanup
from cli.corrections import export_corrections
from cli.keys import keys
from cli.models import model
from cli.submit import submit
from recognizer.cli import main

main.add_command(submit)
main.add_command(cleanup)
main.add_command(export_corrections)
main.add_command(model)
main.add_command(keys)

__all__ = ["main"]
