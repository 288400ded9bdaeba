"""Model versions on disk, and the smoke test a version must pass before it may serve.

A models directory may hold several versions: ``digits.skops`` files (each with its ``.json``
metadata beside it) directly in it or one directory down, e.g. ``models/digits.skops`` (the
shipped model) and ``models/2026-12-01/digits.skops`` (``digits train --out models/2026-12-01``).
A version is named by its metadata's ``version``.

The smoke test reads 200 MNIST test digits (20 of each, ``smoke-digits.npz`` next to this file:
MNIST test images 1000-1999 of ``tests/data/mnist-sample.npz``, kept here so that the check
needs nothing from ``tests/`` at run time) through the full PNG path.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ModelError
from .model import model_file

if TYPE_CHECKING:
    from .model import Model

SMOKE_DIGITS = pathlib.Path(__file__).resolve().parent / "smoke-digits.npz"
#: a model that reads fewer of the smoke digits than this is refused (a real one reads ~99%)
SMOKE_MIN_ACCURACY = 0.8


class SmokeTestFailed(ModelError):
    """The model loads but reads too few of the shipped sample digits right."""


@dataclass(frozen=True)
class ModelFile:
    """One model file found on disk and what its metadata says (never loaded here)."""

    path: pathlib.Path
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)
    problem: str | None = None  # e.g. unreadable metadata

    @property
    def version(self) -> str:
        fallback = self.path.parent.name if self.path.stem == "digits" else self.path.stem
        return str(self.metadata.get("version") or fallback)

    @property
    def test_accuracy(self) -> float | None:
        return _number(self.metadata.get("test_accuracy"))

    @property
    def corrections_accuracy(self) -> float | None:
        return _number(self.metadata.get("corrections_accuracy"))


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def read_model_file(path: pathlib.Path) -> ModelFile:
    meta_path = path.with_suffix(".json")
    try:
        metadata = json.loads(meta_path.read_text())
        if not isinstance(metadata, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        return ModelFile(path, {}, f"no metadata file {meta_path.name}")
    except (OSError, ValueError) as exc:
        return ModelFile(path, {}, f"unreadable metadata {meta_path.name}: {exc}")
    return ModelFile(path, metadata)


def scan(models_dir: str | pathlib.Path) -> list[ModelFile]:
    """Every ``*.skops`` in `models_dir` and its direct subdirectories, newest first."""
    root = pathlib.Path(models_dir)
    if not root.is_dir():
        return []
    paths = sorted({*root.glob("*.skops"), *root.glob("*/*.skops")})
    found = [read_model_file(p) for p in paths]
    return sorted(found, key=lambda f: str(f.metadata.get("created", "")), reverse=True)


def find(models_dir: str | pathlib.Path, name: str) -> ModelFile:
    """A version by its name, or a model file or directory by its path."""
    for candidate in scan(models_dir):
        if name == candidate.version:
            return candidate
    path = pathlib.Path(name)
    if not path.is_absolute() and not path.exists():
        path = pathlib.Path(models_dir) / name
    path = model_file(path)
    if path.is_file():
        return read_model_file(path)
    known = ", ".join(f.version for f in scan(models_dir)) or "none"
    raise ModelError(f"no model version or file {name!r} (versions in {models_dir}: {known})")


def smoke_digits() -> tuple[np.ndarray, np.ndarray]:
    with np.load(SMOKE_DIGITS) as data:
        return data["x"], data["y"]


def smoke_test(model: Model, min_accuracy: float = SMOKE_MIN_ACCURACY) -> float:
    """The model's accuracy on the shipped sample digits (PNG bytes through the full path);
    raises SmokeTestFailed below `min_accuracy`."""
    from .evaluate import predict_png_path

    x, y = smoke_digits()
    try:
        accuracy = float((predict_png_path(model, x) == y).mean())
    except Exception as exc:  # a model that loads but cannot predict
        raise SmokeTestFailed(f"the model failed on the sample digits: {exc}") from exc
    if accuracy < min_accuracy:
        raise SmokeTestFailed(
            f"the model reads {accuracy:.1%} of the {len(y)} sample digits right; at least "
            f"{min_accuracy:.0%} is required"
        )
    return accuracy
