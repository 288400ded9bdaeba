"""Security: headers, cookies, CSV formulas, the metrics token, API keys and rate limits."""

from __future__ import annotations

import base64
import csv
import io
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from store import ApiKey, session_scope
from store.keys import create_key, hash_key
from tests.support import ROOT, app_like, mnist_test_digits, png_bytes, wait_until

TEMPLATES = ROOT / "web" / "templates"


def a_png(offset: int = 0) -> bytes:
    images, _ = mnist_test_digits(1, offset=offset)
    return png_bytes(images[0])


def submit(client, offset: int = 0, **kwargs):
    image = base64.b64encode(a_png(offset)).decode()
    return client.post("/api/v1/recognitions", json={"image": image}, **kwargs)


# ---------------------------------------------------------------- headers and cookies


def test_security_headers_on_pages_api_errors_and_images(client):
    rid = submit(client).get_json()["id"]
    for path in ("/", "/batches/new", "/history", "/model", "/api/v1/model", "/nope",
                 "/api/v1/nope", f"/api/v1/recognitions/{rid}", "/healthz"):  # fmt: skip
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
    image = client.get(f"/api/v1/recognitions/{rid}/image")
    assert image.mimetype == "image/png"  # the type sniffed at upload, not the client's word
    assert image.headers["Content-Disposition"] == "inline"
    assert "sandbox" in image.headers["Content-Security-Policy"]
    assert image.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_have_no_inline_script_or_handlers():
    for template in TEMPLATES.glob("*.html"):
        html = template.read_text()
        for tag in re.findall(r"<script[^>]*>(.*?)</script>", html, re.S):
            assert not tag.strip(), f"inline script in {template.name}"
        assert not re.search(r"\son[a-z]+\s*=", html), f"inline handler in {template.name}"
        assert "style=" not in html, f"inline style in {template.name}"
        assert "javascript:" not in html


def test_session_cookie_is_samesite_lax_and_secure_in_production(app, database_url):
    cookie = submit(app.test_client()).headers["Set-Cookie"]
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie and "Secure" not in cookie
    from config import load_settings

    production = load_settings(
        {"APP_ENV": "production", "SECRET_KEY": "s" * 32, "DATABASE_URL": database_url}
    ).flask_config()
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["SESSION_COOKIE_SAMESITE"] == "Lax"
    prod_app = app_like(app, APP_ENV="production", SECRET_KEY="s" * 32)
    cookie = submit(prod_app.test_client()).headers["Set-Cookie"]
    assert "Secure" in cookie and "SameSite=Lax" in cookie


# ---------------------------------------------------------------- CSV


def test_csv_cells_are_escaped_against_formulas(client):
    names = ["=cmd|' /C calc'!A0", "+1+1.png", "-2.png", "@SUM(A1).png", "ok.png"]
    files = [(io.BytesIO(b"not an image"), name) for name in names]
    bid = client.post("/api/v1/batches", data={"files": files}).get_json()["id"]
    text = client.get(f"/api/v1/batches/{bid}/results?format=csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert [r[0] for r in rows] == ["'" + n for n in names[:-1]] + ["ok.png"]
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    json_names = client.get(f"/api/v1/batches/{bid}/results").get_json()["items"]
    assert [i["filename"] for i in json_names][0] == names[0]  # JSON keeps the name as sent
    from web.api_batches import csv_cell

    assert csv_cell("\t=1") == "'\t=1" and csv_cell("\r=1") == "'\r=1" and csv_cell("7") == "7"


# ---------------------------------------------------------------- /metrics


def test_metrics_token(app):
    open_app = app.test_client()
    assert open_app.get("/metrics").status_code == 200
    locked = app_like(app, METRICS_TOKEN="t0ken").test_client()
    refused = locked.get("/metrics")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert locked.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = locked.get("/metrics", headers={"Authorization": "Bearer t0ken"})
    assert ok.status_code == 200 and b"digits_" in ok.data


# ---------------------------------------------------------------- API keys


@pytest.fixture
def keyed(app, database_url):
    """An app with AUTH=keys and two clients' keys."""
    keyed_app = app_like(app, AUTH="keys")
    with session_scope(database_url) as session:
        _, alice = create_key(session, f"alice-{uuid.uuid4().hex[:6]}")
        _, bob = create_key(session, f"bob-{uuid.uuid4().hex[:6]}")
    return keyed_app, {"Authorization": f"Bearer {alice}"}, {"X-API-Key": bob}


def test_keys_each_client_sees_only_its_own(keyed):
    app, alice, bob = keyed
    client = app.test_client()
    rid = submit(client, headers=alice).get_json()["id"]
    files = {"files": [(io.BytesIO(a_png()), "a.png")]}
    bid = client.post("/api/v1/batches", data=files, headers=alice).get_json()["id"]
    item = client.get(f"/api/v1/batches/{bid}/results", headers=alice).get_json()["items"][0]
    batch, rec = f"/api/v1/batches/{bid}", f"/api/v1/recognitions/{rid}"
    mine = [rec, f"{rec}/image", batch, f"{batch}/results", f"{batch}/results?format=csv",
            f"/api/v1/recognitions/{item['id']}"]  # fmt: skip
    for path in mine:
        assert client.get(path, headers=alice).status_code == 200, path
        other = app.test_client().get(path, headers=bob)
        assert other.status_code == 404 and other.get_json()["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/recognitions/{rid}/normalized/0", headers=bob).status_code == 404


def test_keys_anonymous_and_unknown_keys_get_401_json(keyed):
    app, _, _ = keyed
    client = app.test_client()
    for method, path in [("GET", f"/api/v1/recognitions/{uuid.uuid4()}"),
                         ("POST", "/api/v1/recognitions"), ("POST", "/api/v1/batches"),
                         ("GET", "/api/v1/history"), ("GET", "/api/v1/model")]:  # fmt: skip
        for headers in ({}, {"Authorization": "Bearer dr_nope"}, {"X-API-Key": "x" * 500}):
            response = client.open(path, method=method, headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.get_json()["error"]["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_keys_revoked_key_stops_working(keyed, database_url):
    app, alice, _ = keyed
    client = app.test_client()
    assert submit(client, headers=alice).status_code == 202
    key = alice["Authorization"].split()[1]
    with session_scope(database_url) as session:
        row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
        from store.keys import revoke_keys

        assert revoke_keys(session, row.name) == 1
    assert submit(client, headers=alice).status_code == 401


def test_keys_browser_signs_in_and_the_pages_work(keyed):
    app, alice, bob = keyed
    browser = app.test_client()
    page = browser.get("/history")
    assert page.status_code == 302 and "/signin?next=/history" in page.headers["Location"]
    bad = browser.post("/signin", data={"key": "dr_wrong", "next": "/history"})
    assert bad.status_code == 401 and b"Unknown or revoked key" in bad.data
    key = alice["Authorization"].split()[1]
    evil = browser.post("/signin", data={"key": key, "next": "//evil.example/"})
    assert evil.headers["Location"] == "/"  # no open redirect
    signed = browser.post("/signin", data={"key": key, "next": "/history"})
    assert signed.status_code == 302 and signed.headers["Location"] == "/history"
    for path in ("/", "/batches/new", "/history", "/model"):
        assert browser.get(path).status_code == 200, path
    rid = submit(browser).get_json()["id"]  # as the draw page does: the cookie is the client
    assert browser.get(f"/api/v1/recognitions/{rid}").status_code == 200
    assert rid in [r["id"] for r in browser.get("/api/v1/history").get_json()["recognitions"]]
    assert app.test_client().get(f"/api/v1/recognitions/{rid}", headers=alice).status_code == 200
    assert app.test_client().get(f"/api/v1/recognitions/{rid}", headers=bob).status_code == 404
    browser.post("/signout")
    assert browser.get(f"/api/v1/recognitions/{rid}").status_code == 401


def test_keys_off_is_the_default_and_pages_work(client):
    assert client.get("/").status_code == 200
    assert client.get("/signin").status_code == 302
    assert submit(client).status_code == 202


def test_cli_creates_a_key_printed_once_and_stores_only_its_hash(database_url):
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    digits = str(Path(sys.executable).parent / "digits")
    name = f"cli-{uuid.uuid4().hex[:6]}"
    result = subprocess.run(
        [digits, "keys", "create", name], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert key.startswith("dr_") and len(key) > 40 and "\n" not in key
    assert "will not be shown again" in result.stderr
    with session_scope(database_url) as session:
        row = session.scalar(select(ApiKey).where(ApiKey.name == name))
        assert row.key_hash == hash_key(key) and key not in (row.key_hash, row.prefix)
    listed = subprocess.run(
        [digits, "keys", "list"], env=env, capture_output=True, text=True, timeout=60
    ).stdout
    assert name in listed and key not in listed
    revoke = subprocess.run([digits, "keys", "revoke", name], env=env, capture_output=True)
    assert revoke.returncode == 0


# ---------------------------------------------------------------- rate limits


def limited_app(app, limit: str):
    return app_like(app, RATE_LIMIT_SUBMIT=limit, RATELIMIT_KEY_PREFIX=uuid.uuid4().hex)


def test_rate_limits_are_429_json_with_retry_after(app):
    client = limited_app(app, "3/minute").test_client()
    for _ in range(3):
        assert submit(client).status_code == 202
    refused = submit(client)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    batch = client.post("/api/v1/batches", data={"files": [(io.BytesIO(b"x"), "a.txt")]})
    assert batch.status_code == 429  # the limit counts every submission
    assert client.get("/api/v1/history").status_code == 200  # reads are not limited


def test_rate_limits_are_per_client(app, database_url):
    keyed = app_like(
        app, AUTH="keys", RATE_LIMIT_SUBMIT="2/minute", RATELIMIT_KEY_PREFIX=uuid.uuid4().hex
    )
    with session_scope(database_url) as session:
        keys = [create_key(session, f"rl-{i}")[1] for i in range(2)]
    client = keyed.test_client()
    for key in keys:
        headers = {"Authorization": f"Bearer {key}"}
        assert [submit(client, headers=headers).status_code for _ in range(3)] == [202, 202, 429]


def test_rate_limits_off_by_default(client):
    assert all(submit(client).status_code == 202 for _ in range(30))


def test_rate_limits_with_redis_down_do_not_fail_requests(app, database_url):
    """The limits live in Redis too: with it down they cannot count, so requests are served (the
    enqueue answers 503), never refused with a 429 nor failed with a 500."""
    from scripts.embedded import free_port

    down = app_like(
        app, RATE_LIMIT_SUBMIT="1/minute", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"
    )
    assert down.config["RATELIMIT_STORAGE_URI"] == down.extensions["settings"].redis_url
    client = down.test_client()
    for _ in range(2):  # the second would be over the limit
        response = submit(client)
        assert (response.status_code, response.get_json()["error"]["code"]) == (
            503,
            "queue_unavailable",
        )


@pytest.mark.slow
def test_live_keys_stack_pages_and_api(keyed_stack):
    """gunicorn with AUTH=keys and rate limits, as compose runs it: a browser session signs in
    and submits like the draw page; an API client polls with its key."""
    stack = keyed_stack
    with session_scope(stack.database_url) as session:
        _, key = create_key(session, "live")
    browser = requests.Session()
    assert browser.get(f"{stack.url}/", allow_redirects=False).status_code == 302
    browser.post(f"{stack.url}/signin", data={"key": key, "next": "/"})
    assert browser.get(f"{stack.url}/").status_code == 200
    image = base64.b64encode(a_png(7)).decode()
    created = browser.post(f"{stack.url}/api/v1/recognitions?source=draw", json={"image": image})
    assert created.status_code == 202
    url = f"{stack.url}{created.json()['url']}"
    body = wait_until(
        lambda: (b := browser.get(f"{url}?wait=5").json())["status"] in ("done", "failed") and b,
        30,
        "the drawing did not finish",
        interval=0,
    )
    assert body["status"] == "done"
    api = requests.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert api.status_code == 200 and api.json()["text"] == body["text"]
    assert requests.get(url, timeout=10).status_code == 401
