"""Across hosts (issue 10): the web, two worker hosts, and the broker each in a network namespace
of their own (`ip netns`, veth pairs on a bridge); PostgreSQL reached over that network through
a proxy on the bridge (the machine's shared server itself is never touched). Worker host 1 is
partitioned (its link down: its packets go nowhere) for 30 s in the middle of a batch; the
batch still finishes, 0 lost, 0 doubled. Nothing is shared but the network: the images travel
in the database, and each host has its own processes.

Needs root, `ip` and TEST_DATABASE_URL (SQLite would be a shared file); runs in `make test`."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import sys
import time
import uuid

import pytest
import requests
from sqlalchemy.engine import make_url

from scripts.embedded import free_port, redis_server_binary
from tests.conftest import BACKENDS
from tests.faults import (
    CuttableProxy,
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
from tests.support import ROOT, Process, service_env

pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("ip") or "postgresql" not in BACKENDS,
        reason="needs root, `ip` and TEST_DATABASE_URL",
    ),
]

HOSTS = ("svc", "web", "w1", "w2")


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


class Network:
    """A bridge in the root namespace (.1, where the PostgreSQL proxy listens) and one namespace
    per host (.2 …), each on a veth pair; names are unique to this run."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.subnet = f"10.{random.randint(150, 250)}.{random.randint(1, 250)}"
        self.bridge = f"dgb{tag}"
        self.ns = {host: f"dg{host}{tag}" for host in HOSTS}
        self.links = {host: f"dv{host}{tag}"[:15] for host in HOSTS}
        self.ip = {host: f"{self.subnet}.{i + 2}" for i, host in enumerate(HOSTS)}
        self.gateway = f"{self.subnet}.1"

    def up(self) -> None:
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for host in HOSTS:
            ns, outer, inner = self.ns[host], self.links[host], "eth0"
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
            sh("ip", "link", "set", outer, "master", self.bridge)
            sh("ip", "link", "set", outer, "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{self.ip[host]}/24", "dev", inner)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", inner, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

    def partition(self, host: str, cut: bool) -> None:
        sh("ip", "netns", "exec", self.ns[host], "ip", "link", "set", "eth0",
           "down" if cut else "up")  # fmt: skip

    def down(self) -> None:
        for host in HOSTS:
            with contextlib.suppress(subprocess.CalledProcessError):
                sh("ip", "netns", "del", self.ns[host])
        with contextlib.suppress(subprocess.CalledProcessError):
            sh("ip", "link", "del", self.bridge)

    def spawn(self, host: str, name: str, cmd: list[str], env: dict, log_dir) -> Process:
        log = log_dir / f"{name}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                ["ip", "netns", "exec", self.ns[host], *cmd], cwd=ROOT, env=env, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        return Process(name, popen, log)


def celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "make_celery", *args]


def test_a_partitioned_worker_host_loses_and_doubles_nothing(make_database, model_path, tmp_path):
    direct = make_database("postgresql")
    parsed = make_url(direct)
    net = Network()
    procs: list[Process] = []
    proxy = None
    try:
        net.up()
        proxy = CuttableProxy(parsed.port or 5432, parsed.host or "127.0.0.1", bind=net.gateway)
        db = parsed.set(host=net.gateway, port=proxy.port).render_as_string(hide_password=False)
        redis_port, web_port = free_port(), free_port()
        redis_url = f"redis://{net.ip['svc']}:{redis_port}/0"
        env = service_env(
            db, redis_url, model_path,
            LEASE_TIMEOUT="4s", STUCK_TIMEOUT="5s", STUCK_CHECK_INTERVAL="1s",
            WEB_BIND=f"{net.ip['web']}:{web_port}", WEB_WORKERS="1",
        )  # fmt: skip
        procs.append(net.spawn("svc", "redis", [
            redis_server_binary(), "--port", str(redis_port), "--bind", net.ip["svc"],
            "--protected-mode", "no", "--save", "", "--appendonly", "no",
        ], env, tmp_path))  # fmt: skip
        for host in ("w1", "w2"):
            procs.append(net.spawn(host, host, celery(
                "worker", "--queues", "bulk,maintenance", "--concurrency", "1",
                "--prefetch-multiplier", "1", "--hostname", f"bulk@{host}", "--loglevel", "INFO",
            ), env, tmp_path))  # fmt: skip
        procs.append(net.spawn("svc", "beat", celery(
            "beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "beat-schedule")
        ), env, tmp_path))  # fmt: skip
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "config/gunicorn.py",
            "web:create_app()",
        ]
        procs.append(net.spawn("web", "web", cmd, env, tmp_path))
        base = f"http://{net.ip['web']}:{web_port}"
        for proc in procs[1:3]:
            wait_for(lambda p=proc: "start-up resume" in p.log(), 90, f"{proc.name} ready")

        def web_up() -> bool:
            with contextlib.suppress(requests.RequestException):
                return requests.get(f"{base}/readyz", timeout=1).status_code == 200
            return False

        wait_for(web_up, 60, "web ready")
        batch_id = post_batch(base, digit_files(600), chunk_size=20)
        wait_for(lambda: batch_view(direct, batch_id).done >= 60, 60, "60 items done")
        in_flight = 600 - batch_view(direct, batch_id).done
        net.partition("w1", cut=True)
        cut_at = time.monotonic()
        try:
            # w2 alone finishes the batch, w1's items included once their lease expired
            view = wait_batch(direct, batch_id, timeout=90)
            finished_during = time.monotonic() - cut_at
            time.sleep(max(0.0, 30 - (time.monotonic() - cut_at)))
        finally:
            net.partition("w1", cut=False)
        time.sleep(8)  # w1 is back: whatever it still held must not count twice
        view = wait_batch(direct, batch_id, timeout=30)
        assert_exact(view, expected_done=600)
        lost, doubled = lost_and_doubled(view, 600)
        fault = "worker host partitioned 30 s mid-batch (netns, link down)"
        note = "recovery: from the cut to batch done (by the other host)"
        report(Figures(fault, "postgresql", 600, in_flight, lost, doubled,
                       round(finished_during, 1), note))  # fmt: skip
    finally:
        for proc in reversed(procs):
            proc.stop(timeout=10)
        if proxy:
            proxy.close()
        net.down()
