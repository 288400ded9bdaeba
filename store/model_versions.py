"""Which model version serves, recorded in the database so that every process agrees.

`digits model activate` appends a `ModelActivation`; the newest one wins. Until a version has
been activated, the setting decides: MODEL_VERSION (a version found in MODELS_DIR), else
MODEL_PATH, else the shipped model. The web reads this to describe the model; each worker reads
it between tasks and loads a newly activated version once (worker.model).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.db import session_scope
from store.models import ModelActivation

if TYPE_CHECKING:
    from config import Settings

DATABASE, SETTING = "database", "setting"


@dataclass(frozen=True)
class ActiveModel:
    """The version to serve, where its file is, and why it is this one."""

    path: Path
    source: str  # "database" (activated) or "setting"
    version: str | None = None  # as recorded at activation (None: read from the file)
    sha256: str | None = None  # the file's hash at activation (None: whatever is at `path`)
    activated_at: datetime | None = None
    activated_by: str | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        """What a worker compares to know whether it holds this model already."""
        return str(self.path), self.sha256


@dataclass(frozen=True)
class ModelSettings:
    """The settings that choose a model when none has been activated."""

    models_dir: Path
    model_path: str | None = None
    model_version: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> ModelSettings:
        """The ones among the service's settings."""
        return cls(Path(settings.models_dir), settings.model_path, settings.model_version)


def stored_path(path: Path, models_dir: Path) -> str:
    """A path relative to MODELS_DIR when it is inside it (checkouts and containers differ)."""
    try:
        return str(path.resolve().relative_to(models_dir.resolve()))
    except ValueError:
        return str(path.resolve())


def latest_activation(session: Session) -> ModelActivation | None:
    return session.scalars(
        select(ModelActivation).order_by(ModelActivation.id.desc()).limit(1)
    ).first()


def record_activation(
    session: Session,
    *,
    version: str,
    path: Path,
    sha256: str,
    settings: ModelSettings,
    smoke_accuracy: float | None,
    activated_by: str | None,
) -> ModelActivation:
    row = ModelActivation(
        version=version,
        path=stored_path(path, settings.models_dir),
        sha256=sha256,
        smoke_accuracy=smoke_accuracy,
        activated_by=activated_by,
    )
    session.add(row)
    session.flush()
    return row


def from_setting(settings: ModelSettings) -> ActiveModel:
    """The model the settings name (no database involved)."""
    import recognizer
    from recognizer.versions import find

    if settings.model_version:
        found = find(settings.models_dir, settings.model_version)
        return ActiveModel(found.path, SETTING, version=found.version)
    return ActiveModel(recognizer.model_file(settings.model_path), SETTING)


def active_model(url: str, settings: ModelSettings) -> ActiveModel:
    """The version every process should serve now."""
    with session_scope(url) as session:
        row = latest_activation(session)
    if row is None:
        return from_setting(settings)
    path = Path(row.path)
    return ActiveModel(
        path if path.is_absolute() else settings.models_dir / path,
        DATABASE,
        version=row.version,
        sha256=row.sha256,
        activated_at=row.activated_at,
        activated_by=row.activated_by,
    )
