"""`digits model list` and `digits model activate VERSION`: the versions in MODELS_DIR and the
one that serves (recorded in the database, so every web and worker process agrees)."""

from __future__ import annotations

import getpass
import warnings
from pathlib import Path

import click

from config import ConfigError, load_settings


def _settings():
    from store.model_versions import ModelSettings

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    models = ModelSettings.of(settings)
    return settings.database_url, models


def _serving(url: str, models) -> str:
    """A line saying which version serves now and why."""
    from recognizer.versions import read_model_file
    from store.model_versions import active_model

    try:
        active = active_model(url, models)
    except Exception as exc:  # a wrong setting or an unreachable database: say so, go on
        return f"serving: unknown ({exc})"
    version = active.version or read_model_file(active.path).version
    if active.source == "database":
        by = f" by {active.activated_by}" if active.activated_by else ""
        assert active.activated_at is not None  # an activation has its time
        when = active.activated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"serving: {version} (activated {when}{by})"
    return f"serving: {version} (from the settings: none activated yet)"


def _whoami() -> str | None:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return None


@click.group("model")
def model() -> None:
    """Model versions: list them, choose the one that serves."""


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f}%"


@model.command("list")
@click.option(
    "--extra",
    type=click.Path(exists=True, dir_okay=False),
    help="corrections .npz: evaluate every version on its held-out part now",
)
def list_versions(extra: str | None) -> None:
    """Each version's MNIST test accuracy and corrections accuracy, side by side."""
    from recognizer.versions import scan
    from store.model_versions import active_model

    url, models = _settings()
    found = scan(models.models_dir)
    try:
        active_path = active_model(url, models).path.resolve()
    except Exception:
        active_path = None
    live = _live_corrections_accuracy(found, extra) if extra else {}
    label = "corrections (now)" if extra else "corrections"
    click.echo(f"models in {models.models_dir}")
    click.echo(f"  {'version':<28} {'created':<26} {'MNIST test':>10} {label:>18}  file")
    for f in found:
        mark = "*" if active_path is not None and f.path.resolve() == active_path else " "
        corrections = live.get(f.path, f.corrections_accuracy)
        file = (
            f.path.relative_to(models.models_dir)
            if f.path.is_relative_to(models.models_dir)
            else f.path
        )
        click.echo(
            f"{mark} {f.version:<28} {str(f.metadata.get('created', '–')):<26} "
            f"{_percent(f.test_accuracy):>10} {_percent(corrections):>18}  {file}"
            + (f"  ({f.problem})" if f.problem else "")
        )
    if not found:
        click.echo("  (none)")
    click.echo(_serving(url, models))


def _live_corrections_accuracy(found, extra: str) -> dict:
    from recognizer import load_model
    from recognizer.evaluate import predict_png_path
    from recognizer.extra import ExtraDataError, load_extra

    try:
        data = load_extra(extra)
    except ExtraDataError as exc:
        raise click.UsageError(str(exc)) from exc
    if not len(data.y_test):
        click.echo(f"{extra}: no held-out corrections to evaluate on")
        return {}
    click.echo(f"evaluating every version on {len(data.y_test)} held-out corrections")
    out = {}
    for f in found:
        try:
            preds = predict_png_path(load_model(f.path), data.x_test)
        except Exception as exc:
            click.echo(f"  {f.version}: could not evaluate ({exc})", err=True)
            continue
        out[f.path] = float((preds == data.y_test).mean())
    return out


@model.command("activate")
@click.argument("version")
@click.option(
    "--min-accuracy",
    type=click.FloatRange(0, 1),
    default=None,
    help="smoke-test threshold on the shipped sample digits [default: 0.8]",
)
def activate(version: str, min_accuracy: float | None) -> None:
    """Serve VERSION (a version in MODELS_DIR, or a model file or directory) from now on.

    The model is loaded and must read the shipped sample digits; if it cannot, nothing changes
    and the version serving now goes on serving. Workers switch before their next task."""
    from recognizer import ModelError, load_model
    from recognizer.model import sha256_file
    from recognizer.versions import SMOKE_MIN_ACCURACY, find, smoke_test
    from store import session_scope
    from store.model_versions import record_activation, stored_path

    url, models = _settings()

    def refuse(reason: str) -> click.ClickException:
        serving = _serving(url, models).removeprefix("serving: ")
        return click.ClickException(f"refused: {reason}\nnothing changed; {serving} keeps serving")

    try:
        found = find(models.models_dir, version)
    except ModelError as exc:
        raise refuse(str(exc)) from exc
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loaded = load_model(found.path)
    except Exception as exc:  # a corrupt or foreign file is never a reason to crash
        raise refuse(f"{found.path} is not a valid model: {exc}") from exc
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)
    threshold = SMOKE_MIN_ACCURACY if min_accuracy is None else min_accuracy
    try:
        accuracy = smoke_test(loaded, threshold)
    except ModelError as exc:
        raise refuse(f"{loaded.version} failed the smoke test: {exc}") from exc
    with session_scope(url) as session:
        record_activation(
            session,
            version=loaded.version,
            path=found.path,
            sha256=sha256_file(found.path),
            settings=models,
            smoke_accuracy=accuracy,
            activated_by=_whoami(),
        )
    where = stored_path(found.path, models.models_dir)
    click.echo(
        f"activated {loaded.version} ({where}): it read {accuracy:.1%} of the sample digits; "
        "workers switch before their next task"
    )
    if Path(where).is_absolute():
        click.echo(f"note: {where} is outside MODELS_DIR; every worker must be able to read it")
