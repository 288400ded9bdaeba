"""`digits export-corrections --out corrections.npz`: users' corrections as training data.

Writes MNIST's layout (`x` (N, 28, 28) uint8 white on black, `y` (N,) uint8), the same split as
`x_train`/`y_train` and `x_test`/`y_test` (the held-out part, see recognizer.extra), and a JSON
sidecar (`corrections.json` next to it) with each row's ids, labels and times.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from config import ConfigError, load_settings
from recognizer.extra import HOLDOUT, held_out, sidecar_path

if TYPE_CHECKING:
    import numpy as np


def _image(png: bytes):
    import cv2
    import numpy as np

    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    return img if img is not None and img.shape == (28, 28) else None


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _item(c, index: int) -> dict:
    return {
        "index": index,
        "id": f"{c.recognition_id}/{c.position}",
        "recognition_id": str(c.recognition_id),
        "position": c.position,
        "batch_id": str(c.batch_id) if c.batch_id else None,
        "label": c.label,
        "predicted": c.predicted,
        "confidence": c.confidence,
        "model_version": c.model_version,
        "created_at": _iso(c.created_at),
        "corrected_at": _iso(c.corrected_at),
        "corrected_by": c.corrected_by,
    }


def read_corrections(url: str) -> tuple[list, list[dict], int]:
    """(images, sidecar items, corrections skipped for having no usable image)."""
    from store import session_scope
    from store.corrections import count_without_image, exportable

    images: list[np.ndarray] = []
    items: list[dict] = []
    skipped = 0
    with session_scope(url) as session:
        for c in exportable(session):
            img = _image(c.image) if c.image is not None else None
            if img is None:
                skipped += 1
                continue
            items.append(_item(c, len(items)))
            images.append(img)
        skipped += count_without_image(session)
    return images, items, skipped


def _write_atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (renamed or removed below)
        dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False
    )
    tmp = Path(handle.name)
    try:
        with handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@click.command("export-corrections")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="the .npz to write (its JSON sidecar goes next to it)",
)
@click.option(
    "--holdout",
    type=click.FloatRange(0, 1),
    default=HOLDOUT,
    show_default=True,
    help="share held out for evaluation (x_test/y_test), stable per correction",
)
def export_corrections(out: Path, holdout: float) -> None:
    """Write users' corrected digits as a data set in the mnist.npz layout (x, y)."""
    import numpy as np

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    images, items, skipped = read_corrections(settings.database_url)
    x = np.stack(images) if images else np.zeros((0, 28, 28), np.uint8)
    y = np.array([item["label"] for item in items], np.uint8)
    test = held_out([item["id"] for item in items], holdout)
    for item, is_test in zip(items, test, strict=True):
        item["held_out"] = bool(is_test)
    arrays = {
        "x": x,
        "y": y,
        "x_train": x[~test],
        "y_train": y[~test],
        "x_test": x[test],
        "y_test": y[test],
    }
    _write_atomic(out, lambda fh: np.savez_compressed(fh, **arrays))
    sidecar = {"count": len(items), "holdout": holdout, "skipped": skipped, "items": items}
    _write_atomic(
        sidecar_path(out), lambda fh: fh.write(json.dumps(sidecar, indent=1).encode() + b"\n")
    )
    click.echo(
        f"wrote {len(items)} corrections to {out} ({int((~test).sum())} to train on, "
        f"{int(test.sum())} held out) and {sidecar_path(out)}"
    )
    if skipped:
        click.echo(
            f"skipped {skipped} corrections made after retention removed the digit's image",
            err=True,
        )
