"""The API keeps its own contract, checked on the running stack (gunicorn + a real worker):

- real responses of every operation (successes and errors) validate against /openapi.json;
- schemathesis fuzzes the stack from the document, stateful (links: create a batch or a
  recognition, then read it), with a fixed seed and a bounded number of examples: it must find
  no 5xx, no response that breaks the schema and no valid request rejected.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import schemathesis

from tests.support import mnist_test_digits, png_bytes, wait_until, zip_bytes
from web.openapi import example_png_base64

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).parent / "contract" / "schemathesis.toml"
SEED = 20261126
#: per operation and phase; ~25 s for the whole run on the 2-core machine
MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "40"))


@pytest.fixture(scope="module")
def stack(plain_stack):
    return plain_stack


@pytest.fixture(scope="module")
def document(stack):
    return schemathesis.openapi.from_url(f"{stack.url}/api/v1/openapi.json")


def check(document, path: str, method: str, response: requests.Response) -> requests.Response:
    """The response's status is documented for the operation and its body fits the schema."""
    operation = document[path][method]
    documented = operation.definition.raw["responses"]
    assert str(response.status_code) in documented, (path, response.status_code, response.text)
    operation.validate_response(response)
    return response


def wait_for(session: requests.Session, url: str, done, timeout: float = 60) -> dict:
    last: dict = {}

    def finished() -> dict | None:
        last.update(session.get(url, timeout=30).json())
        return dict(last) if done(last) else None

    return wait_until(finished, timeout, lambda: f"not finished: {last}", interval=0.2)


def test_real_responses_match_the_document(stack, document):
    base, web = stack.url, requests.Session()
    rec, rid = "/api/v1/recognitions", "/api/v1/recognitions/{id}"
    created = check(
        document, rec, "POST", web.post(f"{base}{rec}", json={"image": example_png_base64()})
    )
    assert created.status_code == 202
    images, _ = mnist_test_digits(3)
    upload = web.post(
        f"{base}{rec}?source=upload", files={"image": ("one.png", png_bytes(images[0]))}
    )
    check(document, rec, "POST", upload)
    url = f"{base}{created.json()['url']}"
    result = check(document, rid, "GET", web.get(f"{url}?wait=10", timeout=30))
    result = wait_for(web, url, lambda b: b["status"] in ("done", "failed"))
    assert result["status"] == "done" and result["digits"], result
    check(document, rid + "/image", "GET", web.get(f"{url}/image"))
    check(document, rid + "/normalized/{n}", "GET", web.get(f"{url}/normalized/0"))
    check(document, rid + "/normalized/{n}", "GET", web.get(f"{url}/normalized/99"))

    files = [("files", (f"d/{i}.png", io.BytesIO(png_bytes(img)))) for i, img in enumerate(images)]
    files += [
        ("files", ("notes.txt", io.BytesIO(b"not an image"))),
        ("files", ("more.zip", io.BytesIO(zip_bytes({"a.png": png_bytes(images[1])})))),
    ]
    batches = "/api/v1/batches"
    batch = check(document, batches, "POST", web.post(f"{base}{batches}", files=files))
    assert batch.status_code == 202
    burl = f"{base}{batch.json()['url']}"
    wait_for(web, burl, lambda b: b["status"] == "done")
    check(document, "/api/v1/batches/{id}", "GET", web.get(burl))
    results = "/api/v1/batches/{id}/results"
    page = check(document, results, "GET", web.get(f"{burl}/results?per_page=2&page=2"))
    assert page.json()["total"] == 5
    check(document, results, "GET", web.get(f"{burl}/results?format=csv"))
    failed = web.get(f"{burl}/results?status=failed").json()["items"][0]
    assert failed["image_url"] is None  # nothing was stored for it
    check(document, rid + "/image", "GET", web.get(f"{base}{rec}/{failed['id']}/image"))

    check(document, "/api/v1/history", "GET", web.get(f"{base}/api/v1/history"))
    check(document, "/api/v1/model", "GET", web.get(f"{base}/api/v1/model"))

    # corrections and the review queue
    label = rid + "/digits/{n}/label"
    digit = result["digits"][0]
    assert digit["label_url"] == f"{rec}/{result['id']}/digits/0/label"
    corrected = check(
        document, label, "PUT", web.put(f"{base}{digit['label_url']}", json={"label": 4})
    )
    assert corrected.status_code == 200 and corrected.json()["digits"][0]["correction"]
    assert check(document, rid, "GET", web.get(url)).json()["corrected_text"] is not None
    review, bid = "/api/v1/review", batch.json()["id"]
    for query in ("", f"?batch={bid}", f"?batch={bid}&below=1&per_page=2&page=1"):
        check(document, review, "GET", web.get(f"{base}{review}{query}"))
    queued = web.get(f"{base}{review}?batch={bid}&below=1").json()
    assert queued["total"] >= 3 and queued["items"][0]["label_url"]
    item = queued["items"][0]
    confirm = web.put(f"{base}{item['label_url']}", json={"label": item["label"]})
    assert check(document, label, "PUT", confirm).status_code == 200
    after = web.get(f"{base}{review}?batch={bid}&below=1").json()
    assert after["total"] == queued["total"] - 1  # looked at: out of the queue
    for flag in ("true", "false"):
        check(document, results, "GET", web.get(f"{burl}/results?needs_review={flag}"))
    summary = "/api/v1/corrections/summary"
    # the two above: a correction and a confirmation
    assert check(document, summary, "GET", web.get(f"{base}{summary}")).json()["total"] == 2
    check(document, "/api/v1/openapi.json", "GET", web.get(f"{base}/api/v1/openapi.json"))

    # errors, documented and in the one error shape
    unknown = "00000000-0000-0000-0000-000000000000"
    text = {"Content-Type": "text/plain"}
    for path, method, response in (
        (rid, "GET", web.get(f"{base}{rec}/{unknown}")),
        (rid, "GET", web.get(f"{url}?wait=soon")),
        (results, "GET", web.get(f"{burl}/results?page=99999999999999999999")),
        (rec, "POST", web.post(f"{base}{rec}", json={"image": ""})),
        (rec, "POST", web.post(f"{base}{rec}", data=b"x", headers=text)),
        (batches, "POST", web.post(f"{base}{batches}", files={"other": ("a", b"x")})),
        (label, "PUT", web.put(f"{base}{digit['label_url']}", json={"label": 10})),
        (label, "PUT", web.put(f"{base}{digit['label_url']}", data=b"4", headers=text)),
        (label, "PUT", web.put(f"{url}/digits/99/label", json={"label": 4})),
        (label, "PUT", web.put(f"{base}{digit['label_url']}", json={"label": 4, "x": "y" * 2000})),
        (review, "GET", web.get(f"{base}{review}?below=2")),
        (review, "GET", web.get(f"{base}{review}?batch={unknown}")),
        (results, "GET", web.get(f"{burl}/results?needs_review=maybe")),
    ):
        check(document, path, method, response)
        assert 400 <= response.status_code < 500
        assert set(response.json()["error"]) == {"code", "message"}
    long_url = web.get(f"{base}/api/v1/history?page={'9' * 5000}")
    assert check(document, "/api/v1/history", "GET", long_url).status_code == 414  # gunicorn


def test_every_405_says_what_is_allowed(stack):
    for method, path in [
        ("DELETE", "/api/v1/recognitions"),
        ("PUT", "/api/v1/batches"),
        ("POST", "/api/v1/recognitions/00000000-0000-0000-0000-000000000000"),
        ("PATCH", "/api/v1/model"),
    ]:
        response = requests.request(method, stack.url + path, timeout=10)
        assert response.status_code == 405, (method, path)
        assert response.headers["Allow"], (method, path)
        assert method not in response.headers["Allow"]
        assert response.json()["error"]["code"] == "method_not_allowed"


def run_schemathesis(url: str, report_dir: Path, examples: int, *extra: str) -> str:
    command = [
        str(Path(sys.executable).parent / "st"), "--config-file", str(CONFIG),
        "run", f"{url}/api/v1/openapi.json",
        "--seed", str(SEED), "--max-examples", str(examples), "--workers", "1",
        "--checks", "all",
        "--request-timeout", "30", "--warnings", "off", "--no-color",
        "--report", "junit", "--report-dir", str(report_dir), *extra,
    ]  # fmt: skip
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=report_dir,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip  (cwd: schemathesis keeps a cache in .schemathesis/ there)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert "Stateful" in output and "passed" in output, output[-3000:]
    return output


def test_schemathesis_finds_nothing(stack, tmp_path):
    """Bounded, seeded, stateful fuzzing of the live stack; what it found over time is kept as
    regular tests in tests/test_hostile.py and test_real_responses_match_the_document."""
    # Lenient by design: out-of-range paging and wait are capped, an odd `source` is stored as
    # "api", so "invalid request accepted" is not a failure here. Keys: the next test.
    exclude = "negative_data_rejection,ignored_auth,object_level_authorization"
    run_schemathesis(stack.url, tmp_path, MAX_EXAMPLES, "--exclude-checks", exclude)


def test_schemathesis_with_api_keys(keyed_stack, tmp_path):
    """AUTH=keys: the same contract with a key, and every operation but the document itself
    refuses a request without one (schemathesis' ignored_auth check)."""
    from store import session_scope
    from store.keys import create_key

    with session_scope(keyed_stack.database_url) as session:
        _, key = create_key(session, "fuzzer")
    run_schemathesis(
        keyed_stack.url, tmp_path, 10, "-H", f"Authorization: Bearer {key}",
        "--exclude-checks", "negative_data_rejection,object_level_authorization",
    )  # fmt: skip
