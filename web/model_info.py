"""What GET /api/v1/model and the model page say: the serving version and the others on disk.

The web never loads a model: it reads the database's choice and the metadata JSON files.
"""

from __future__ import annotations

import json
from pathlib import Path

from config import current_settings
from recognizer.model import metadata_path
from recognizer.versions import ModelFile, read_model_file, scan
from store.model_versions import ActiveModel, ModelSettings, active_model


def settings() -> ModelSettings:
    return ModelSettings.of(current_settings())


def current() -> ActiveModel:
    """The serving version (raises if the database cannot be read or the setting is wrong)."""
    return active_model(current_settings().database_url, settings())


def display_file(path: Path, models_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(models_dir.resolve()))
    except ValueError:
        return path.name


def metadata_of(path: Path) -> dict:
    """The metadata JSON next to a model file (OSError / ValueError when unreadable)."""
    data = json.loads(metadata_path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError("the model metadata is not a JSON object")
    return data


def describe_active(active: ActiveModel, metadata: dict, models_dir: Path) -> dict:
    """The serving version (web.schemas.ActiveModelSchema)."""
    return {
        "version": active.version or str(metadata.get("version", "unversioned")),
        "source": active.source,
        "file": display_file(active.path, models_dir),
        "activated_at": active.activated_at,
        "activated_by": active.activated_by,
    }


def describe_versions(active: ActiveModel, models_dir: Path) -> list[dict]:
    """Every version on disk (and the active one, wherever it is), newest first
    (web.schemas.ModelVersionSchema)."""
    found = scan(models_dir)
    if not any(_same(f.path, active.path) for f in found) and active.path.is_file():
        found.append(read_model_file(active.path))
    return [_describe_version(f, _same(f.path, active.path), models_dir) for f in found]


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _describe_version(f: ModelFile, is_active: bool, models_dir: Path) -> dict:
    created = f.metadata.get("created")
    return {
        "version": f.version,
        "active": is_active,
        "file": display_file(f.path, models_dir),
        "created": str(created) if created else None,
        "test_accuracy": f.test_accuracy,
        "corrections_accuracy": f.corrections_accuracy,
        "problem": f.problem,
    }
