"""Flower as the Procfile runs it: its own Procfile line, a real `celery flower` with basic auth
read from FLOWER_BASIC_AUTH in the environment (never from the command line)."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scripts.embedded import free_port
from tests.support import ROOT, Process, _wait_for

USER, PASSWORD = "ops", f"s3cret-{secrets.token_hex(8)}"  # unique: /proc is scanned for it


def procfile_line(role: str) -> str:
    return next(
        line.split(":", 1)[1]
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith(f"{role}:")
    )


@contextlib.contextmanager
def running_flower(service_environment: dict[str, str], tmp: Path) -> Iterator[Process]:
    """Flower started by the Procfile's own line, its credentials in FLOWER_BASIC_AUTH."""
    port = free_port()
    env = {
        **service_environment,
        "PATH": f"{Path(sys.executable).parent}:{service_environment.get('PATH', '/usr/bin:/bin')}",
        "FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}",
        "FLOWER_PORT": str(port),
        "FLOWER_ADDRESS": "127.0.0.1",
        "VAR_DIR": str(tmp),
    }
    env.pop("FLOWER_USER", None)
    env.pop("FLOWER_PASSWORD", None)
    log = tmp / "flower.log"
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            ["sh", "-c", procfile_line("flower")], cwd=ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    proc = Process("flower", popen, log)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{base}/healthcheck", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    _wait_for(up, proc, 60, "/healthcheck")
    proc.extra.update(url=base, db=tmp / "flower.db", dir=tmp)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def flower(service_environment, tmp_path_factory):
    """One Flower shared by the tests that only talk to it."""
    with running_flower(service_environment, tmp_path_factory.mktemp("flower")) as proc:
        yield proc


def test_flower_password_is_not_on_any_command_line(flower):
    """`ps` shows command lines to every local user: the password must be on none of them."""
    own = Path(f"/proc/{flower.popen.pid}/cmdline").read_bytes()
    assert b"flower" in own  # the shell exec'd celery: this is Flower itself
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert PASSWORD.encode() not in cmdline.read_bytes(), cmdline
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    assert requests.get(flower.extra["url"] + "/", auth=(USER, PASSWORD), timeout=10).ok


def test_flower_requires_basic_auth(flower):
    base = flower.extra["url"]
    for path in ("/", "/workers", "/tasks", "/api/workers", "/api/tasks"):
        anonymous = requests.get(base + path, timeout=5)
        assert anonymous.status_code == 401, (path, anonymous.status_code)
        if not path.startswith("/api/"):  # Flower's API 401s carry no challenge header
            assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
        wrong = requests.get(base + path, auth=(USER, "wrong"), timeout=5)
        assert wrong.status_code == 401, path
        assert requests.get(base + path, auth=(USER, PASSWORD), timeout=10).status_code == 200


def test_flower_metrics_and_healthcheck_are_open(flower):
    """Observed with Flower 2.2: /metrics and /healthcheck answer without credentials (their
    handlers do not require a user), so a Prometheus can scrape Flower directly."""
    base = flower.extra["url"]
    metrics = requests.get(f"{base}/metrics", timeout=5)
    assert metrics.status_code == 200
    assert "flower_" in metrics.text or "# HELP" in metrics.text
    assert requests.get(f"{base}/healthcheck", timeout=5).text == "OK"


def test_flower_keeps_its_state_in_the_db_file(service_environment, tmp_path):
    """Its own Flower, since stopping it is the test (the shared one stays up)."""
    with running_flower(service_environment, tmp_path) as own:
        own.stop()  # persistent mode writes its state on shutdown
        assert list(tmp_path.glob("flower.db*")), list(tmp_path.iterdir())


def test_procfile_flower_refuses_to_start_without_credentials(tmp_path):
    line = procfile_line("flower")
    env = {"PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin", "FLOWER_USER": "admin"}
    result = subprocess.run(
        ["sh", "-c", line], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH (or FLOWER_USER and FLOWER_PASSWORD) must be set" in result.stderr
    assert not (tmp_path / "var").exists()


def test_make_run_passes_the_login_in_the_environment_and_never_prints_it(monkeypatch):
    from scripts import run

    monkeypatch.delenv("FLOWER_BASIC_AUTH", raising=False)
    monkeypatch.setenv("FLOWER_USER", "ops")
    monkeypatch.setenv("FLOWER_PASSWORD", PASSWORD)
    monkeypatch.setenv("SECRET_KEY", "test")  # (else one is kept in var/)
    env = run.service_environment(None)
    assert env["FLOWER_BASIC_AUTH"] == f"ops:{PASSWORD}"
    shown = run._flower_login(env)
    assert "ops" in shown and PASSWORD not in shown
