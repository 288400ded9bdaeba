"""The deployment files: compose validates, and the Procfile starts what `make run` promises."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support import ROOT


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="needs Debian's docker-compose")
def test_compose_file_is_valid():
    env = {"PATH": "/usr/bin:/bin", "SECRET_KEY": "x", "FLOWER_USER": "u", "FLOWER_PASSWORD": "p"}
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env=env, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    services = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--services"],
        env=env, capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout.split()  # fmt: skip
    assert {
        "redis",
        "postgres",
        "migrate",
        "web",
        "worker",
        "interactive",
        "beat",
        "flower",
    } <= set(services)


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="needs Debian's docker-compose")
def test_compose_refuses_to_run_without_secrets():
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_procfile_runs_every_role():
    roles = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
    assert set(roles) == {"web", "interactive", "bulk", "beat", "flower"}
    assert "--queues interactive " in roles["interactive"]
    assert "--queues bulk" in roles["bulk"] and "nice" in roles["bulk"]
    assert "--persistent=True" in roles["flower"]
    assert "--basic-auth" not in roles["flower"] and "FLOWER_BASIC_AUTH" in roles["flower"]
