"""ruff and mypy (config in pyproject.toml) are part of the suite, so style and types stay
enforced by CI."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_check_passes():
    result = ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_passes():
    """Strict on store/, worker/ and config/, the default checks on web/, cli/ and
    make_celery.py (the packages and settings are in pyproject.toml)."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_locks_hold_the_pins_of_pyproject():
    """pyproject.toml is the one list of pins; `make lock` writes the locks from it."""
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = project["dependencies"]
    dev = project["optional-dependencies"]["dev"]

    def pins(path: str) -> dict[str, str]:
        found = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", (ROOT / path).read_text(), re.M)
        return {name.lower().replace("_", "-"): version for name, version in found}

    for lock, wanted in (("requirements.lock", runtime), ("requirements-dev.lock", runtime + dev)):
        locked = pins(lock)
        for requirement in wanted:
            name, version = re.sub(r"\[.*\]", "", requirement).split("==")
            assert locked.get(name.lower()) == version, f"{lock}: {name}!={version}: make lock"
