"""``digits`` command line: a click group.  Other modules add their own subcommands to ``main``.

digits data fetch                 # MNIST, once, into the data directory (needs network)
digits train --out models/        # data: --data PATH, else $DIGITS_MNIST, else the fetched copy
digits train --extra corrections.npz --out models/v2   # + users' corrections (export-corrections)
digits evaluate [--extra corrections.npz]
digits calibrate                  # touching: detector, piece scorer, split decision; temperature,
                                  # review threshold
digits pairs                      # the pair reader (touching digits read whole), ~11 min
digits pairs --out DIR            # ... trained apart (make train: beside train + calibrate),
digits pairs --from DIR           # ... then given to the model
"""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import numpy as np

    from .calibrate import Scores
    from .extra import ExtraData
    from .model import Model

Arrays = tuple["np.ndarray", "np.ndarray", "np.ndarray", "np.ndarray"]
#: epochs of the second-opinion network in ``digits train`` (see ``recognizer.convnet``)
CONVNET_EPOCHS = 10
#: the share of the 1s and of the 7s of each augmented copy that ``digits train`` writes in
#: another writer's form (``recognizer.train.writer_form``): a "1" with a flag (some with a
#: foot), a "7" crossed -- as much of Europe and Asia writes them and MNIST's American
#: writers almost never do
WRITER_FORMS = 0.15


@click.group()
def main() -> None:
    """Handwritten digit recognizer."""


def _load_npz(path: str, limit: int | None, test_limit: int | None) -> Arrays:
    import numpy as np

    d = np.load(path)
    xtr, ytr = d["x_train"], d["y_train"]
    xte, yte = d["x_test"], d["y_test"]
    if limit:
        xtr, ytr = xtr[:limit], ytr[:limit]
    if test_limit:
        xte, yte = xte[:test_limit], yte[:test_limit]
    return xtr, ytr, xte, yte


def _evaluate(model: Model, xte: np.ndarray, yte: np.ndarray, label: str) -> dict[str, Any]:
    from .evaluate import metrics, predict_png_path

    with click.progressbar(length=len(xte), label=label) as bar:
        preds = predict_png_path(model, xte, progress=bar.update)
    return metrics(yte, preds)


def _print_metrics(m: dict[str, Any]) -> None:
    click.echo(
        f"accuracy: {m['accuracy'] * 100:.2f}%  ({m['n']} images, "
        f"{m['not_one_digit']} not read as exactly one digit)"
    )
    click.echo("class  precision  recall  support")
    for pc in m["per_class"]:
        click.echo(
            f"{pc['class']:>5}  {pc['precision'] * 100:8.2f}%  {pc['recall'] * 100:5.2f}%"
            f"  {pc['support']:>7}"
        )


def _write_evaluation(
    m: dict[str, Any],
    model: Model,
    directory: pathlib.Path,
    confusion: str | None,
    json_out: str | None,
    data_sha256: str,
) -> None:
    from .evaluate import confusion_png

    cpath = pathlib.Path(confusion) if confusion else directory / "confusion.png"
    jpath = pathlib.Path(json_out) if json_out else directory / "evaluation.json"
    cpath.parent.mkdir(parents=True, exist_ok=True)
    cpath.write_bytes(confusion_png(m, f"model {model.version}"))
    report = dict(m)
    report.update(
        model_version=model.version,
        data_sha256=data_sha256,
        path="PNG bytes -> decode -> segment -> normalize -> classify",
        evaluated=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    jpath.write_text(json.dumps(report, indent=2) + "\n")
    click.echo(f"wrote {cpath} and {jpath}")


def _load_extra(path: str | None) -> ExtraData | None:
    """The corrections file of --extra (training part + held-out part), or None."""
    if not path:
        return None
    from .extra import ExtraDataError, load_extra

    try:
        extra = load_extra(path)
    except ExtraDataError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"extra {path}: {len(extra.y_train)} to train on, {len(extra.y_test)} held out")
    return extra


def _evaluate_extra(model: Model, extra: ExtraData | None) -> dict[str, Any] | None:
    """Accuracy on the held-out corrections: {"corrections_accuracy", "corrections_test_size"}."""
    if extra is None:
        return None
    if not len(extra.y_test):
        click.echo("corrections: none held out, so no corrections accuracy")
        return None
    m = _evaluate(model, extra.x_test, extra.y_test, "evaluating on held-out corrections")
    click.echo(f"corrections accuracy: {m['accuracy'] * 100:.2f}%  ({m['n']} held-out digits)")
    return {"corrections_accuracy": m["accuracy"], "corrections_test_size": m["n"]}


extra_option = click.option(
    "--extra",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="users' corrections (.npz from `digits export-corrections`); a part is held out",
)


def _resolve_data(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    """--data, else $DIGITS_MNIST, else the data directory's copy (fetched with --fetch);
    none for ``digits pairs --from``, which trains nothing."""
    from .datasets import DataError, fetch_mnist, find_mnist

    if ctx.params.get("source"):
        return ""
    try:
        return str(find_mnist(value))
    except DataError as exc:
        if not ctx.params.get("fetch"):
            raise click.UsageError(str(exc)) from exc
    return str(_fetch(fetch_mnist))


def _fetch(fetch_mnist: Callable[..., pathlib.Path], **kwargs: Any) -> pathlib.Path:
    from .datasets import DataError

    bars: dict[str, Any] = {}

    def progress(name: str, seen: int, total: int | None) -> None:
        if name not in bars:
            bars[name] = click.progressbar(length=total or 0, label=f"downloading {name}")
            bars[name].__enter__()
        bar = bars[name]
        bar.update(seen - bar.pos)
        if total is not None and seen >= total:
            bar.__exit__(None, None, None)

    try:
        return fetch_mnist(progress=progress, **kwargs)
    except DataError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for bar in bars.values():
            if not bar.finished:
                bar.__exit__(None, None, None)


writer_forms_option = click.option(
    "--writer-forms",
    "forms",
    type=click.FloatRange(0.0, 1.0),
    default=WRITER_FORMS,
    show_default=True,
    help="share of the 0s, 1s and 7s (of each augmented copy) written as writers outside MNIST "
    "write them: a 1 with a flag (some with a foot), a crossed 7, a slashed 0",
)

fetch_option = click.option(
    "--fetch",
    is_flag=True,
    is_eager=True,
    help="download MNIST into the data directory first if it is not found",
)
model_option = click.option(
    "--model",
    "model_path",
    default=None,
    type=click.Path(exists=True),
    help="model file [default: the shipped model]",
)
data_option = click.option(
    "--data",
    default=None,
    callback=_resolve_data,
    type=click.Path(dir_okay=False),
    help="MNIST .npz [default: $DIGITS_MNIST, else the copy `digits data fetch` made]",
)


@main.group()
def data() -> None:
    """The MNIST data set: where it is, and fetching it once."""


@data.command("fetch")
@click.option(
    "--dir",
    "directory",
    default=None,
    type=click.Path(file_okay=False),
    help="where to put it [default: $DIGITS_DATA_DIR, else ~/.cache/digit-recognizer]",
)
@click.option(
    "--mirror",
    "mirrors",
    multiple=True,
    help="a mirror's base URL, tried in the order given [default: the public mirrors]",
)
def data_fetch(directory: str | None, mirrors: tuple[str, ...]) -> None:
    """Download MNIST from its public mirrors, verify every file's SHA-256, convert to .npz."""
    from .datasets import MIRRORS, fetch_mnist

    path = _fetch(
        fetch_mnist,
        directory=pathlib.Path(directory) if directory else None,
        mirrors=mirrors or MIRRORS,
    )
    click.echo(f"MNIST is in {path}")


@data.command("where")
def data_where() -> None:
    """Print the MNIST file that train and evaluate would use."""
    from .datasets import DataError, find_mnist

    try:
        click.echo(find_mnist())
    except DataError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@fetch_option
@data_option
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False),
    help="output directory [default: the package's models/]",
)
@click.option("--limit", type=int, default=None, help="train on the first N images only")
@click.option("--test-limit", type=int, default=None, help="evaluate on the first N test images")
@click.option(
    "--augment",
    type=int,
    default=1,
    show_default=True,
    help="rotated/stretched copies of each training image",
)
@click.option(
    "--redraw",
    type=int,
    default=1,
    show_default=True,
    help="canvas-style (thick brush) redrawn copies of each training image",
)
@click.option(
    "--paper",
    type=int,
    default=1,
    show_default=True,
    help="other-writer/scanner copies (16 px, binarized, thin/thick pen, elastic, slant)",
)
@click.option(
    "--stretch",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="share of the other-writer/scanner copies stretched to fill a square instead, aspect "
    "not kept, as USPS or Semeion digits are",
)
@click.option(
    "--stretch-copies",
    type=int,
    default=0,
    show_default=True,
    help="extra copies of each training image stretched to fill a square (aspect not kept)",
)
@click.option(
    "--vsv",
    type=int,
    default=0,
    show_default=True,
    help="virtual support vectors: fit again on the support vectors plus N transformed copies "
    "of each (elastic + small affine, pen width, other-writer/scanner in turn)",
)
@click.option(
    "--vsv-keep-all/--vsv-support-only",
    default=False,
    show_default=True,
    help="refit on the whole training set plus the virtual copies (default: support vectors only)",
)
@writer_forms_option
@click.option("--C", "C", type=float, default=10.0, show_default=True, help="SVC C")
@click.option("--pca", type=int, default=120, show_default=True, help="PCA dimensions (0: none)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--convnet-epochs",
    type=click.IntRange(0, 100),
    default=CONVNET_EPOCHS,
    show_default=True,
    help="epochs of the small network that gives a second opinion where the SVC is unsure "
    "(0: none, the SVC alone)",
)
@extra_option
@click.option(
    "--extra-weight",
    type=click.IntRange(1, 100),
    default=3,
    show_default=True,
    help="how many times each correction is repeated in the training set",
)
def train(
    fetch: bool,
    data: str,
    out: str | None,
    limit: int | None,
    test_limit: int | None,
    augment: int,
    redraw: int,
    paper: int,
    stretch: float,
    stretch_copies: int,
    vsv: int,
    vsv_keep_all: bool,
    forms: float,
    C: float,
    pca: int,
    seed: int,
    convnet_epochs: int,
    extra: str | None,
    extra_weight: int,
) -> None:
    """Train on the npz's training set, evaluate on its test set, save to OUT."""
    import numpy as np

    from .model import MODELS_DIR, sha256_file
    from .train import train_model

    t0 = time.time()
    digest = sha256_file(data)
    xtr, ytr, xte, yte = _load_npz(data, limit, test_limit)
    click.echo(f"data {data} sha256 {digest[:16]}...: {len(xtr)} train, {len(xte)} test")
    corrections = _load_extra(extra)
    if corrections is not None and len(corrections.y_train):
        xex, yex = corrections.repeated(extra_weight)
        xtr, ytr = np.concatenate([xtr, xex]), np.concatenate([ytr, yex])

    def progress(msg: str) -> None:
        click.echo(f"[{time.time() - t0:6.1f}s] {msg}")

    model = train_model(
        xtr,
        ytr,
        progress=progress,
        augment=augment,
        redraw=redraw,
        paper=paper,
        stretch=stretch,
        stretch_copies=stretch_copies,
        vsv=vsv,
        vsv_keep_all=vsv_keep_all,
        C=C,
        pca=pca,
        seed=seed,
        convnet_epochs=convnet_epochs,
        forms=forms,
        data_sha256=digest,
    )
    m = _evaluate(model, xte, yte, "evaluating on the test set (PNG path)")
    model.metadata["test_accuracy"] = m["accuracy"]
    model.metadata["test_size"] = m["n"]
    model.metadata["per_class"] = m["per_class"]
    if corrections is not None and extra is not None:
        model.metadata.update(
            extra_data_sha256=sha256_file(extra),
            extra_train_size=int(len(corrections.y_train)),
            extra_weight=extra_weight,
            **(_evaluate_extra(model, corrections) or {}),
        )
    model.metadata["total_seconds"] = round(time.time() - t0, 1)
    outdir = pathlib.Path(out) if out else MODELS_DIR
    path = model.save(outdir)
    _print_metrics(m)
    _write_evaluation(m, model, outdir, None, None, digest)
    click.echo(f"saved {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.time() - t0:.0f}s")
    click.echo(
        f"next (`make train` runs all): `digits calibrate --model {path}` (touching digits, "
        f"calibrated confidence), then `digits pairs --model {path} --digits 50000` (the pair "
        "reader); until then this model never splits touching digits"
    )


@main.command()
@fetch_option
@data_option
@model_option
@click.option("--limit", type=int, default=None, help="evaluate on the first N test images")
@click.option(
    "--confusion",
    default=None,
    type=click.Path(dir_okay=False),
    help="confusion-matrix PNG [default: next to the model]",
)
@click.option(
    "--json",
    "json_out",
    default=None,
    type=click.Path(dir_okay=False),
    help="per-class figures JSON [default: evaluation.json next to the model]",
)
@click.option(
    "--record",
    is_flag=True,
    help="also write the accuracy into the model's metadata (`make train` does: `digits "
    "train` measures it before the touching steps exist)",
)
@extra_option
def evaluate(
    fetch: bool,
    data: str,
    model_path: str | None,
    limit: int | None,
    confusion: str | None,
    json_out: str | None,
    record: bool,
    extra: str | None,
) -> None:
    """Accuracy, per-class precision/recall and a confusion matrix on the test set (and, with
    --extra, accuracy on the held-out part of users' corrections)."""
    from .model import load_model, metadata_path, model_file, sha256_file

    path = model_file(model_path)
    model = load_model(path)
    click.echo(f"model {path} version {model.version}")
    _, _, xte, yte = _load_npz(data, None, limit)
    m = _evaluate(model, xte, yte, "evaluating (PNG path)")
    _print_metrics(m)
    m.update(_evaluate_extra(model, _load_extra(extra)) or {})
    directory = path.parent
    _write_evaluation(m, model, directory, confusion, json_out, sha256_file(data))
    if record:
        meta = json.loads(metadata_path(path).read_text())
        meta.update(test_accuracy=m["accuracy"], test_size=m["n"], per_class=m["per_class"])
        metadata_path(path).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        click.echo(f"recorded the accuracy in {metadata_path(path)}")


@main.command()
@fetch_option
@data_option
@model_option
@click.option(
    "--pairs",
    type=int,
    default=8000,
    show_default=True,
    help="synthetic touching pairs (and as many singles) to fit the pair detector on; 0 keeps it",
)
@click.option(
    "--split-pairs",
    type=int,
    default=3000,
    show_default=True,
    help="touching pairs (and twice as many singles) to fit the split/keep decision on; 0 keeps it",
)
@click.option(
    "--piece-pairs",
    type=int,
    default=2500,
    show_default=True,
    help="touching pairs whose cuts' pieces fit the piece scorer that ranks cuts; 0 keeps it",
)
@click.option(
    "--heldout",
    type=int,
    default=5000,
    show_default=True,
    help="test digits to calibrate on (the next as many are where the figures come from)",
)
def calibrate(
    fetch: bool,
    data: str,
    model_path: str | None,
    pairs: int,
    split_pairs: int,
    piece_pairs: int,
    heldout: int,
) -> None:
    """Fit the touching-digit detector, the temperature and the review threshold of an
    existing model (no retraining) and write them into its metadata (.json)."""
    import numpy as np

    from . import calibrate as cal
    from . import split
    from .model import load_model, metadata_path, model_file
    from .train import writer_forms

    t0 = time.time()
    path = model_file(model_path)
    model = load_model(path)
    # what is fitted here is the reading without the pair reader, which sits on top of it
    model.pair_reader = None
    xtr, ytr, xte, yte = _load_npz(data, None, None)
    # the touching-digit parts learn what one digit is from the forms the classifiers learned
    # too (a slashed "0" is one digit, not two)
    forms = float(model.metadata.get("writer_forms", 0.0))
    xtr = writer_forms(xtr, ytr, np.random.default_rng([0, 2]), forms)
    if pairs:
        click.echo(f"fitting the touching-digit detector on {pairs} pairs + {pairs} singles")
        old = model.metadata.get("touching", {})
        model.metadata["touching"] = split.fit_pair_detector(xtr, pairs, progress=click.echo)
        # kept only when not refitted below (both read the detector's scores)
        for key, n in (("pieces", piece_pairs), ("accept", split_pairs)):
            if key in old and not n:
                model.metadata["touching"][key] = old[key]
    if piece_pairs and "touching" in model.metadata:
        # fitted before the decision: which cut a split segment is split at decides which
        # pairs the decision is fitted on as split right
        model.metadata["touching"].pop("pieces", None)
        model.metadata["touching"]["pieces"] = cal.fit_piece_scorer(
            model, xtr, ytr, piece_pairs, progress=click.echo
        )
    if split_pairs and "touching" in model.metadata:
        model.metadata["touching"].pop("accept", None)
        model.metadata["touching"]["accept"] = cal.fit_split_decision(
            model, xtr, ytr, split_pairs, progress=click.echo
        )
    n = min(heldout, len(xte) // 2)
    model.metadata["temperature"] = 1.0
    blobs, y = cal.heldout_blobs(xte[:n], yte[:n], seed=1)
    with click.progressbar(length=len(blobs), label="held-out digits (fit)") as bar:
        held = cal.decisions(model, blobs, y, progress=bar.update)
    t = cal.fit_temperature(model, held)
    p = cal.probabilities(model, held, t)
    correct = p.argmax(1) == np.searchsorted(model._kernel.classes, held.y)
    threshold, kept = cal.review_threshold(p.max(1), correct)
    report: dict[str, Any] = {
        "fit_digits": int(len(held.y)),
        "target_precision": cal.TARGET_PRECISION,
    }
    x2, y2 = xte[n : 2 * n], yte[n : 2 * n]
    blobs2, yy2 = cal.heldout_blobs(x2, y2, seed=2)
    with click.progressbar(length=len(blobs2), label="held-out digits (report)") as bar:
        held2 = cal.decisions(model, blobs2, yy2, progress=bar.update)
    p2 = cal.probabilities(model, held2, t)
    conf2 = p2.max(1)
    correct2 = p2.argmax(1) == np.searchsorted(model._kernel.classes, held2.y)
    keep = conf2 >= threshold
    report.update(
        report_digits=int(len(held2.y)),
        review_threshold_precision=float(correct2[keep].mean()) if keep.any() else None,
        review_kept_share=float(keep.mean()),
    )
    for name, scores in _calibration_parts(model, xte, yte, n).items():
        before = cal.summary(model, scores, 1.0)
        after = cal.summary(model, scores, t)
        report[name] = {"n": before["n"], "ece_before": before["ece"], "ece_after": after["ece"]}
    model.metadata.update(
        temperature=round(t, 4),
        review_threshold=round(threshold, 6),
        review_kept_share_fit=round(kept, 4),
        calibration=report,
    )
    metadata_path(path).write_text(json.dumps(model.metadata, indent=2, sort_keys=True) + "\n")
    click.echo(json.dumps({k: model.metadata[k] for k in ("temperature", "review_threshold")}))
    click.echo(json.dumps(report, indent=2))
    click.echo(f"wrote {metadata_path(path)} in {time.time() - t0:.0f}s")


@main.command("pairs")
@fetch_option
@data_option
@model_option
@click.option(
    "--examples",
    type=int,
    default=184_000,
    show_default=True,
    help="touching pairs, runs of three and wide single digits to train on (from MNIST train)",
)
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option(
    "--digits",
    "n_digits",
    type=int,
    default=None,
    help="make the examples from the first N train digits only [default: all]",
)
@click.option("--seed", type=int, default=0, show_default=True, help="the training's seed")
@click.option("--examples-seed", type=int, default=3, show_default=True, help="the examples' seed")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="write the reader into this directory alone, not into a model (see --from)",
)
@click.option(
    "--from",
    "source",
    type=click.Path(exists=True),
    default=None,
    is_eager=True,
    help="give the model the reader of this model or --out directory instead of training one",
)
@writer_forms_option
def pairs_command(
    fetch: bool,
    data: str,
    model_path: str | None,
    examples: int,
    epochs: int,
    n_digits: int | None,
    seed: int,
    examples_seed: int,
    out: str | None,
    source: str | None,
    forms: float,
) -> None:
    """Train the pair reader of an existing model (it reads a wide segment as two touching
    digits or one; ``recognizer.pairs``) and name it in the model's metadata. The shipped
    one: ``digits pairs --digits 50000`` (digits 50,000-59,999 held out for validation).

    The reader does not depend on the model's classifiers, so it can be trained on its own
    (``--out DIR``, beside ``digits train`` and ``digits calibrate``: ``make train``) and
    given to a model afterwards (``--from DIR``)."""
    import numpy as np

    from . import pairs
    from .model import MODEL_FILENAME, load_pair_reader, model_file, save_pair_reader
    from .train import writer_forms

    t0 = time.time()
    if out is not None and source is not None:
        raise click.UsageError("--out trains a reader and --from takes one: give only one")
    if out is not None:
        pathlib.Path(out).mkdir(parents=True, exist_ok=True)
        path = pathlib.Path(out) / MODEL_FILENAME
    else:
        path = model_file(model_path)
    if source is not None:
        net, settings = load_pair_reader(source)
        save_pair_reader(path, net, settings, new_version=True)
        click.echo(f"gave {path} the pair reader of {source}")
        return
    xtr, ytr, _, _ = _load_npz(data, n_digits, None)

    def say(message: str) -> None:  # named: `make train` runs it beside `digits train`
        click.echo(f"pair reader: {message}")

    say(f"making {examples} examples from {len(xtr)} train digits")
    # as the classifiers learn them: a slashed "0" or a flagged "1" is one digit
    xtr = writer_forms(xtr, ytr, np.random.default_rng([examples_seed, 1]), forms)
    xs, ys = pairs.examples(xtr, ytr, examples, seed=examples_seed)
    say(f"made in {time.time() - t0:.0f}s; training {epochs} epochs")
    net = pairs.fit(xs, ys, epochs=epochs, seed=seed, progress=say)
    settings = {**pairs.settings(net, len(xs), epochs, len(xtr)), "writer_forms": forms}
    save_pair_reader(path, net, settings, new_version=True)
    click.echo(json.dumps(settings, indent=2))
    say(f"written beside {path} in {time.time() - t0:.0f}s")


def _calibration_parts(model: Model, xte: np.ndarray, yte: np.ndarray, n: int) -> dict[str, Scores]:
    """Scores of the report half as MNIST PNGs and as canvas redraws (for ECE)."""
    import numpy as np

    from . import calibrate as cal
    from .evaluate import encode_png_batch
    from .synth import canvas_png

    x2, y2 = xte[n : 2 * n], yte[n : 2 * n]
    rng = np.random.default_rng(3)
    return {
        "mnist_test": cal.decisions(model, list(encode_png_batch(x2)), y2),
        "canvas": cal.decisions(model, [canvas_png(d, rng) for d in x2], y2),
    }


if __name__ == "__main__":  # pragma: no cover
    main()
