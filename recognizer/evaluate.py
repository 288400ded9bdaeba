"""Accuracy, per-class precision/recall and a confusion-matrix picture (drawn with OpenCV)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from .model import Model


def encode_png_batch(images: np.ndarray) -> list[bytes]:
    return [cv2.imencode(".png", np.ascontiguousarray(im))[1].tobytes() for im in images]


def predict_png_path(
    model: Model,
    images: np.ndarray,
    batch: int = 256,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Predict single-digit images through the full path (PNG bytes -> decode -> segment ->
    normalize -> classify).  An image read as anything but exactly one digit gets -1."""
    preds = np.full(len(images), -1, np.int64)
    for s in range(0, len(images), batch):
        recs = model.recognize_many(encode_png_batch(images[s : s + batch]))
        for i, r in enumerate(recs):
            if len(r.digits) == 1:
                preds[s + i] = r.digits[0].label
        if progress is not None:
            progress(len(recs))
    return preds


def metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> dict[str, Any]:
    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    cm = np.zeros((n_classes, n_classes + 1), np.int64)  # last column: not read as one digit
    for t, p in zip(y_true, y_pred, strict=True):
        cm[t, p if 0 <= p < n_classes else n_classes] += 1
    per_class = []
    for c in range(n_classes):
        tp = int(cm[c, c])
        predicted = int(cm[:, c].sum())
        actual = int(cm[c].sum())
        per_class.append(
            {
                "class": c,
                "precision": tp / predicted if predicted else 0.0,
                "recall": tp / actual if actual else 0.0,
                "support": actual,
            }
        )
    return {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "n": int(len(y_true)),
        "not_one_digit": int(cm[:, n_classes].sum()),
        "per_class": per_class,
        "confusion": cm[:, :n_classes].tolist(),
    }


FONT = cv2.FONT_HERSHEY_SIMPLEX


def _label(
    img: np.ndarray, text: str, org: tuple[int, int], scale: float, color: tuple[int, ...]
) -> None:
    cv2.putText(img, text, org, FONT, scale, color, 1, cv2.LINE_AA)


def confusion_png(m: dict[str, Any], title: str = "") -> bytes:
    """Confusion matrix as a PNG (rows: true class, columns: predicted class)."""
    cm = np.asarray(m["confusion"], np.int64)
    k = cm.shape[0]
    cell, left, top = 54, 70, 90
    width, height = left + cell * k + 150, top + cell * k + 40
    img = np.full((height, width, 3), 255, np.uint8)
    rownorm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    for i in range(k):
        for j in range(k):
            v = rownorm[i, j]
            if i == j:
                color = (int(255 - 120 * v), int(255 - 40 * v), int(255 - 120 * v))
            else:
                s = min(1.0, v * 20)
                color = (int(255 - 200 * s), int(255 - 200 * s), 255)
            x0, y0 = left + j * cell, top + i * cell
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), color, -1)
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), (200, 200, 200), 1)
            txt = str(int(cm[i, j]))
            (tw, th), _ = cv2.getTextSize(txt, FONT, 0.42, 1)
            _label(img, txt, (x0 + (cell - tw) // 2, y0 + (cell + th) // 2), 0.42, (0, 0, 0))
        _label(img, str(i), (left - 25, top + i * cell + cell // 2 + 6), 0.6, (0, 0, 0))
        _label(img, str(i), (left + i * cell + cell // 2 - 6, top - 10), 0.6, (0, 0, 0))
        pc = m["per_class"][i]
        _label(
            img,
            f"P {pc['precision'] * 100:5.1f} R {pc['recall'] * 100:5.1f}",
            (left + k * cell + 8, top + i * cell + cell // 2 + 5),
            0.4,
            (60, 60, 60),
        )
    head = title or "confusion matrix"
    _label(
        img, f"{head}  accuracy {m['accuracy'] * 100:.2f}% (n={m['n']})", (10, 28), 0.6, (0, 0, 0)
    )
    _label(img, "rows: true digit   columns: predicted digit", (10, 55), 0.45, (90, 90, 90))
    return cv2.imencode(".png", img)[1].tobytes()
