"""Extra training data: users' corrections (``digits export-corrections``) next to MNIST.

The file has MNIST's layout: ``x`` (N, 28, 28) uint8 white on black and ``y`` (N,) labels, plus
the same split as ``x_train``/``y_train`` and ``x_test``/``y_test``. A part of the corrections
is held out from training so that ``digits evaluate`` can judge a model on what users write.

Which side a correction falls on is decided by a hash of its id, not by its position in the
file: a correction held out once stays held out in every later export, so a later model is never
trained on what an earlier one was judged on.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: the share of corrections held out for evaluation
HOLDOUT = 0.2


class ExtraDataError(ValueError):
    """The extra data file is not in the expected layout."""


def held_out(ids: Sequence[str], fraction: float = HOLDOUT) -> np.ndarray:
    """A boolean mask: True for the ids that are held out (stable per id)."""
    out = np.zeros(len(ids), bool)
    for i, key in enumerate(ids):
        value = int.from_bytes(hashlib.sha256(str(key).encode()).digest()[:8], "big")
        out[i] = value / 2.0**64 < fraction
    return out


def sidecar_path(path: str | pathlib.Path) -> pathlib.Path:
    return pathlib.Path(path).with_suffix(".json")


@dataclass
class ExtraData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def repeated(self, weight: int) -> tuple[np.ndarray, np.ndarray]:
        """The training part `weight` times over (a simple way to weigh it against MNIST)."""
        return np.tile(self.x_train, (weight, 1, 1)), np.tile(self.y_train, weight)


def _ids(path: pathlib.Path, n: int) -> list[str]:
    """The ids from the JSON sidecar when it matches the arrays, else the row numbers."""
    try:
        items = json.loads(sidecar_path(path).read_text())["items"]
        ids = [str(item["id"]) for item in items]
        if len(ids) == n:
            return ids
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return [str(i) for i in range(n)]


def _check(x: np.ndarray, y: np.ndarray, path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (len(x),):
        raise ExtraDataError(f"{path}: expected x (N, 28, 28) and y (N,), got {x.shape} {y.shape}")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise ExtraDataError(f"{path}: labels must be 0-9")
    return x.astype(np.uint8), y.astype(np.uint8)


def load_extra(path: str | pathlib.Path, holdout: float = HOLDOUT) -> ExtraData:
    """Read an extra data file: its own split when it has one, else a stable split of x, y."""
    path = pathlib.Path(path)
    try:
        data = np.load(path)
    except (OSError, ValueError) as exc:
        raise ExtraDataError(f"{path}: not a readable .npz file ({exc})") from exc
    with data:
        names = set(data.files)
        if {"x_train", "y_train", "x_test", "y_test"} <= names:
            xtr, ytr = _check(data["x_train"], data["y_train"], path)
            xte, yte = _check(data["x_test"], data["y_test"], path)
            return ExtraData(xtr, ytr, xte, yte)
        if not {"x", "y"} <= names:
            raise ExtraDataError(f"{path}: needs arrays x and y (or x_train/y_train/x_test/y_test)")
        x, y = _check(data["x"], data["y"], path)
    mask = held_out(_ids(path, len(x)), holdout)
    return ExtraData(x[~mask], y[~mask], x[mask], y[mask])
