"""Restart resumes at once (issue 10): `make run`'s launcher (scripts.run: embedded Redis with
its append-only file in VAR_DIR, SQLite, web, workers, beat, Flower under honcho) stopped in the
middle of a batch, by Ctrl-C or by SIGKILL of every process, then started again: the batch
finishes within seconds (not after STUCK_TIMEOUT), 0 lost, 0 doubled."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from scripts.embedded import free_port
from tests.faults import (
    Figures,
    assert_exact,
    batch_view,
    digit_files,
    lost_and_doubled,
    post_batch,
    report,
    wait_batch,
    wait_for,
)
from tests.support import ROOT, child_pids

pytestmark = pytest.mark.slow  # real processes, faults and waits: `make test-fast` skips them

ITEMS = 2000  # the test sample's digits


def launch(var: Path, port: int, model_path: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "VAR_DIR")}
    env.update(
        VAR_DIR=str(var),
        DATABASE_URL=f"sqlite:///{var / 'digits.db'}",
        WEB_BIND=f"127.0.0.1:{port}",
        FLOWER_PORT=str(free_port()),
        MODEL_PATH=model_path,
        PYTHONUNBUFFERED="1",
        STUCK_TIMEOUT="10m",  # what must not be waited for
    )
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "scripts.run"], cwd=ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def web_up(base: str) -> bool:
    try:
        return requests.get(f"{base}/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def stop(popen: subprocess.Popen, var: Path, how: str) -> None:
    if how == "ctrl-c":  # what a terminal sends: SIGINT to the whole foreground group
        os.killpg(popen.pid, signal.SIGINT)
        popen.wait(timeout=60)
        return
    # a power cut: every process of the service (honcho gives each its own group), and its
    # Redis, die at once
    pids = [int((var / "redis" / "redis.pid").read_text()), *descendants(popen.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    popen.wait(timeout=10)


def descendants(pid: int) -> list[int]:
    """`pid` and every process under it."""
    out = [pid]
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for child in child_pids(pid):
            out += descendants(child)
    return out


@pytest.mark.parametrize("how", ["ctrl-c", "kill-9"])
def test_make_run_stopped_mid_batch_resumes_at_once(how, model_path, tmp_path):
    var, port = tmp_path / "var", free_port()
    base, log = f"http://127.0.0.1:{port}", tmp_path / "run.log"
    popen = launch(var, port, model_path, log)
    try:
        wait_for(lambda: web_up(base), 90, "make run's web")
        db = f"sqlite:///{var / 'digits.db'}"
        batch_id = post_batch(base, digit_files(ITEMS), chunk_size=64, timeout=120)
        wait_for(lambda: batch_view(db, batch_id).done >= 100, 60, "100 items done")
        stop(popen, var, how)
        left = ITEMS - batch_view(db, batch_id).done
        assert left > 0, "the batch finished before the stop: nothing was tested"
        popen = launch(var, port, model_path, log)
        restarted = time.monotonic()
        view = wait_batch(db, batch_id, timeout=90)
        recovered = time.monotonic() - restarted
        assert_exact(view, expected_done=ITEMS)
        assert recovered < 60, f"took {recovered:.0f} s"
        lost, doubled = lost_and_doubled(view, ITEMS)
        fault = f"make run stopped mid-batch ({how}), started again"
        note = "recovery: from the new launch (start-up included) to batch done"
        report(Figures(fault, "sqlite", ITEMS, left, lost, doubled, round(recovered, 1), note))
    finally:
        if popen.poll() is None:
            os.killpg(popen.pid, signal.SIGINT)
            try:
                popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(FileNotFoundError):  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    return False


def test_make_run_stops_everything_on_sigterm_to_the_launcher(model_path, tmp_path):
    """`kill <pid>` of the launcher alone (as systemd or a container runtime does) stops the
    whole service, the embedded Redis included: nothing is left running."""
    var, port = tmp_path / "var", free_port()
    popen = launch(var, port, model_path, tmp_path / "run.log")
    try:
        wait_for(lambda: web_up(f"http://127.0.0.1:{port}"), 90, "make run's web")
        pids = [int((var / "redis" / "redis.pid").read_text()), *descendants(popen.pid)]
        assert len(pids) >= 7, pids  # redis, launcher, honcho, web, 2 workers, beat, flower
        popen.send_signal(signal.SIGTERM)
        popen.wait(timeout=60)
        wait_for(lambda: not any(alive(pid) for pid in pids), 30, "every process stopped")
        assert not (var / "redis" / "redis.pid").exists()
    finally:
        if popen.poll() is None:
            os.killpg(popen.pid, signal.SIGKILL)
