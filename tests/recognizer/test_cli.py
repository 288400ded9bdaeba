import json

from click.testing import CliRunner

from recognizer.cli import main


def test_train_and_evaluate(mnist_path, tmp_path):
    runner = CliRunner()
    out = tmp_path / "m"
    r = runner.invoke(
        main,
        [
            "train",
            "--data",
            str(mnist_path),
            "--out",
            str(out),
            "--limit",
            "1500",
            "--test-limit",
            "300",
            "--augment",
            "0",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "fitting RBF SVC" in r.output and "accuracy:" in r.output
    assert (out / "digits.skops").exists() and (out / "digits.json").exists()
    meta = json.loads((out / "digits.json").read_text())
    assert meta["test_accuracy"] > 0.8 and len(meta["per_class"]) == 10
    assert (out / meta["convnet"]["file"]).exists() and len(meta["convnet"]["sha256"]) == 64
    assert "training the network" in r.output
    # a model of `digits train` alone never splits touching digits: it says what comes next
    assert f"digits calibrate --model {out / 'digits.skops'}" in r.output
    r = runner.invoke(
        main,
        [
            "evaluate",
            "--data",
            str(mnist_path),
            "--model",
            str(out / "digits.skops"),
            "--limit",
            "200",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "precision" in r.output
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["n"] == 200 and len(ev["confusion"]) == 10
    assert json.loads((out / "digits.json").read_text())["test_size"] == 300  # not recorded
    r = runner.invoke(
        main,
        ["evaluate", "--data", str(mnist_path), "--model", str(out / "digits.skops")]
        + ["--limit", "200", "--record"],
    )
    assert r.exit_code == 0, r.output
    recorded = json.loads((out / "digits.json").read_text())
    assert recorded["test_size"] == 200 and recorded["test_accuracy"] == ev["accuracy"]
    assert (out / "confusion.png").stat().st_size > 1000
    version = meta["version"]
    r = runner.invoke(
        main,
        ["pairs", "--data", str(mnist_path), "--model", str(out / "digits.skops")]
        + ["--examples", "300", "--epochs", "1", "--digits", "1500"],
    )
    assert r.exit_code == 0, r.output
    meta = json.loads((out / "digits.json").read_text())
    assert (out / meta["pair_reader"]["file"]).exists() and meta["version"] != version
    assert "300 examples" in meta["pair_reader"]["training"] and meta["touching_reader"]
    from recognizer import load_model

    assert load_model(out / "digits.skops").pair_reader is not None
    # `make train` trains the reader apart (--out), beside the classifiers, and gives it to
    # the model afterwards (--from): apart, the same recipe makes the same reader
    reader_args = ["--examples", "300", "--epochs", "1", "--digits", "1500"]
    apart = tmp_path / "reader"
    r = runner.invoke(main, ["pairs", "--data", str(mnist_path), "--out", str(apart), *reader_args])
    assert r.exit_code == 0, r.output
    sha = json.loads((apart / "digits.json").read_text())["pair_reader"]["sha256"]
    assert sha == meta["pair_reader"]["sha256"]
    other = tmp_path / "other"
    r = runner.invoke(
        main,
        ["pairs", "--data", str(mnist_path), "--out", str(other), "--seed", "1", *reader_args],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        main,
        ["pairs", "--model", str(out / "digits.skops"), "--from", str(other)],
        env={"DIGITS_MNIST": "", "DIGITS_DATA_DIR": str(tmp_path / "no-data")},
    )
    assert r.exit_code == 0, r.output
    given = json.loads((out / "digits.json").read_text())
    theirs = json.loads((other / "digits.json").read_text())["pair_reader"]
    assert given["pair_reader"] == theirs and theirs["sha256"] != sha
    assert given["version"] != meta["version"] and given["convnet"] == meta["convnet"]
    assert load_model(out / "digits.skops").pair_reader is not None
    r = runner.invoke(main, ["pairs", "--out", str(other), "--from", str(apart)])
    assert r.exit_code != 0 and "only one" in r.output


def test_group_has_commands():
    assert {"train", "evaluate", "calibrate", "pairs"} <= set(main.commands)


def test_make_train_runs_the_whole_recipe_of_the_shipped_model():
    """`make train` must not leave a model without its touching-digit detector, calibration
    and pair reader (`digits train` alone makes one)."""
    import pathlib
    import subprocess

    root = pathlib.Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [
            "make",
            "-n",
            "-s",
            "-o",
            ".venv/.installed-stamp",
            "train",
            "OUT=/tmp/m",
            "DATA=/tmp/d.npz",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    steps = [line.split()[1:] for line in out if line.startswith(".venv/bin/digits")]
    names = [s[0] for s in steps]
    # the classifiers, then their calibration; the pair reader apart, as a second job (-j2)
    assert names.index("train") < names.index("calibrate"), out
    assert "-j2" in out[0] and {"train-classifiers", "train-reader"} <= set(out[0].split())
    reader = [s for s in steps if "--out" in s and s[0] == "pairs"]
    assert len(reader) == 1 and "--digits" in reader[0], out
    # then the reader goes into the model, and the test figures are recorded last
    given = steps[-2]
    assert given[0] == "pairs" and given[given.index("--from") + 1] == "/tmp/m/.pair-reader"
    assert names[-1] == "evaluate" and len(names) == 5, out
    assert all("--data /tmp/d.npz" in line for line in out if "digits" in line)
    assert "--model /tmp/m/digits.skops" in out[-1] and "--record" in out[-1]
