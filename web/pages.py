"""HTML pages (draw, upload, batch, review, history, model). They use only the JSON API.

Two small helper routes serve what the JSON API does not: the confusion-matrix picture written
next to the model, and the preprocessing steps applied to a bundled example digit. Neither loads
the model (the web process never does).
"""

from __future__ import annotations

import base64
import functools
import logging
import uuid
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)

import recognizer
from config import current_settings
from web import security

log = logging.getLogger(__name__)
bp = Blueprint("pages", __name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
EXAMPLE_DIGIT = STATIC_DIR / "img" / "example-digit.png"
#: the model page's step-by-step picture: a boxed digit and two touching digits on a line
EXAMPLE_FORM = STATIC_DIR / "img" / "example-form.png"
CONFUSION_NAMES = ("confusion.png", "confusion_matrix.png", "confusion-matrix.png")


@bp.app_context_processor
def _auth_state() -> dict:
    keys = security.keys_required()
    return {"auth_keys": keys, "signed_in": keys and "api_key_id" in session}


def _local(target: str | None) -> str:
    """Only a path on this site (no `//host` or scheme): no open redirect after signing in."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("pages.draw")


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    """With AUTH=keys, a browser signs in once with an API key (kept in the signed cookie)."""
    next_url = _local(request.values.get("next"))
    if not security.keys_required():
        return redirect(next_url)
    error = None
    if request.method == "POST":
        if security.sign_in(request.form.get("key", "").strip()):
            return redirect(next_url)
        error = "Unknown or revoked key."
    page = render_template("signin.html", page="signin", next_url=next_url, error=error)
    return page, 401 if error else 200


@bp.post("/signout")
def signout():
    session.clear()
    return redirect(url_for("pages.signin"))


@bp.get("/")
def draw():
    return render_template("draw.html", page="draw")


@bp.get("/batches/new")
def upload():
    return render_template("upload.html", page="upload")


@bp.get("/batches/<batch_id>")
def batch(batch_id: str):
    try:
        key = str(uuid.UUID(batch_id))
    except ValueError:
        abort(404)
    return render_template("batch.html", page="batch", batch_id=key)


@bp.get("/review")
def review():
    """The review queue, one digit at a time; `?batch=<id>` for one batch, `?below=0.8` for
    every digit under that confidence (the JSON API checks both again)."""
    batch_id = request.args.get("batch") or None
    if batch_id is not None:
        try:
            batch_id = str(uuid.UUID(batch_id))
        except ValueError:
            abort(404)
    try:
        below = float(request.args["below"]) if request.args.get("below") else None
    except ValueError:
        below = None
    if below is not None and not 0 < below <= 1:
        below = None
    return render_template("review.html", page="review", batch_id=batch_id, below=below)


@bp.get("/history")
def history():
    return render_template("history.html", page="history")


@bp.get("/model")
def model():
    return render_template("model.html", page="model")


# ---------------------------------------------------------------- model page helpers


def _model_path() -> Path:
    """The serving version's file (its confusion matrix is next to it)."""
    try:
        from web.model_info import current

        return current().path
    except Exception:  # no database or a bad setting: the configured file, else the shipped one
        log.debug("no active model version for the model page", exc_info=True)
    return recognizer.model_file(current_settings().model_path)


def _confusion_file() -> Path | None:
    """The confusion-matrix PNG next to the model: `<stem>.confusion.png`, `confusion.png`, ..."""
    model = _model_path()
    names = [f"{model.stem}.confusion.png", f"{model.stem}-confusion.png", *CONFUSION_NAMES]
    for name in names:
        if (model.parent / name).is_file():
            return model.parent / name
    found = sorted(model.parent.glob("*confusion*.png")) if model.parent.is_dir() else []
    return found[0] if found else None


@bp.get("/model/confusion.png")
def confusion_png():
    path = _confusion_file()
    if path is None:
        abort(404)
    return send_file(path, mimetype="image/png", max_age=300)


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@functools.cache
def _steps_for(example: bytes) -> list[dict]:
    import recognizer  # preprocess_steps does not load the model

    return [
        {"name": str(name), "description": str(description), "image": _data_url(png)}
        for name, description, png in recognizer.preprocess_steps(example)
    ]


@bp.get("/model/steps.json")
def steps_json():
    example = EXAMPLE_FORM.read_bytes()
    try:
        steps = _steps_for(example)
    except Exception as exc:
        log.warning("preprocess_steps failed: %s", exc)
        return (
            jsonify(
                error={
                    "code": "steps_unavailable",
                    "message": "The preprocessing steps are not available right now.",
                }
            ),
            503,
        )
    return jsonify(example=_data_url(example), steps=steps)
