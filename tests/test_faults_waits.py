"""Long polls don't starve the web (issue 10): 64 concurrent `?wait=10` on items no worker
will finish; the web holds at most WAIT_MAX_CONCURRENT of them per process and answers the rest
at once with the current state, so /healthz and plain GETs still answer in under 1 s."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from scripts.embedded import EmbeddedRedis, free_port
from tests.faults import timed
from tests.support import mnist_test_digits, png_bytes, service_env, start_web

pytestmark = pytest.mark.slow  # real processes, faults and waits: `make test-fast` skips them


def test_64_long_polls_leave_the_web_responsive(make_database, model_path, tmp_path):
    with EmbeddedRedis(tmp_path / "redis") as redis:
        env = service_env(make_database("sqlite"), redis.url, model_path)
        web = start_web(env, tmp_path, free_port())  # and no worker: nothing finishes
        base = web.extra["url"]
        try:
            images, _ = mnist_test_digits(1)
            body = {"image": base64.b64encode(png_bytes(images[0])).decode()}
            rid = requests.post(f"{base}/api/v1/recognitions", json=body, timeout=10).json()["id"]

            def long_poll(_: int) -> float:
                took, response = timed(
                    lambda: requests.get(f"{base}/api/v1/recognitions/{rid}?wait=10", timeout=30)
                )
                assert response.status_code == 200 and response.json()["status"] == "queued"
                return took

            with ThreadPoolExecutor(64) as pool:
                polls = [pool.submit(long_poll, i) for i in range(64)]
                time.sleep(1.0)  # all 64 are in
                for path in ("/healthz", f"/api/v1/recognitions/{rid}", "/api/v1/model"):
                    took, response = timed(lambda p=path: requests.get(base + p, timeout=10))
                    assert response.status_code == 200, path
                    assert took < 1.0, f"{path} took {took:.2f} s behind 64 long polls"
                durations = sorted(p.result() for p in polls)
            held = sum(1 for d in durations if d >= 9)
            assert 1 <= held <= 4, durations  # WAIT_MAX_CONCURRENT (4) waited ...
            assert durations[63 - held] < 5, durations  # ... the others answered at once
        finally:
            web.stop()
