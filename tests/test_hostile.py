"""A catalogue of hostile input. Every one gets a clear 4xx JSON error or a per-item `failed`
with a reason; never a 500. The web's memory stays bounded, and the service answers normally
right after (the live-stack tests at the end).

Also kept here: what fuzzing (tests/test_contract.py) and issue 11 found, as regular tests.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import struct
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from store import Recognition, open_session
from tests.support import (
    child_pids,
    mnist_test_digits,
    png_bytes,
    rss_bytes,
    set_settings,
    zip_bytes,
)

MB = 1024 * 1024


def error_of(response) -> str:
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:300])
    assert response.mimetype == "application/json", response.data[:300]
    body = response.get_json()
    assert set(body["error"]) == {"code", "message"} and body["error"]["message"]
    return body["error"]["code"]


def a_png(offset: int = 0) -> bytes:
    images, _ = mnist_test_digits(1, offset=offset)
    return png_bytes(images[0])


def multipart(parts: list[tuple[bytes, bytes | None, bytes]], boundary: bytes = b"xYzZy") -> bytes:
    """A raw multipart body: (field name, raw filename bytes or None, data) per part."""
    out = b""
    for name, filename, data in parts:
        disposition = b'form-data; name="' + name + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename + b'"'
        out += b"--" + boundary + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n"
        out += data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


def post_raw(client, path: str, body: bytes, boundary: bytes = b"xYzZy"):
    return client.post(
        path, data=body, content_type=f"multipart/form-data; boundary={boundary.decode()}"
    )


def items_of(client, batch_url: str) -> list[dict]:
    return client.get(f"{batch_url}/results?per_page=200").get_json()["items"]


# ---------------------------------------------------------------- what issue 11 and fuzzing found


def test_huge_page_numbers_are_400_not_500(client):
    bid = client.post("/api/v1/batches", data={"files": [(io.BytesIO(b"x"), "a.txt")]}).get_json()[
        "id"
    ]
    results = f"/api/v1/batches/{bid}/results"
    assert error_of(client.get(f"{results}?page=99999999999999999999")) == "bad_page"
    assert error_of(client.get(f"{results}?page=1000001")) == "bad_page"
    assert client.get(f"{results}?page=1000000").get_json()["items"] == []
    assert client.get(f"{results}?per_page=99999999999999999999").get_json()["per_page"] == 200
    history = client.get("/api/v1/history?page=99999999999999999999&per_page=-5")
    assert history.status_code == 200 and history.get_json()["per_page"] == 1


def test_empty_image_and_empty_batch_are_documented_as_invalid(client):
    assert error_of(client.post("/api/v1/recognitions", json={"image": ""})) == "missing_image"
    assert error_of(client.post("/api/v1/recognitions", json={"image": "  \n"})) == "missing_image"
    empty_part = post_raw(client, "/api/v1/recognitions", multipart([(b"image", b"a.png", b"")]))
    assert error_of(empty_part) == "missing_image"
    no_files = post_raw(client, "/api/v1/batches", multipart([(b"other", None, b"x")]))
    assert error_of(no_files) == "no_files"
    spec = client.get("/api/v1/openapi.json").get_json()
    post = spec["paths"]["/api/v1/recognitions"]["post"]["requestBody"]["content"]
    assert spec["components"]["schemas"]["SubmitJson"]["properties"]["image"]["minLength"] == 1
    assert post["multipart/form-data"]["schema"]["properties"]["image"]["minLength"] == 1
    batch = spec["paths"]["/api/v1/batches"]["post"]["requestBody"]["content"]
    files = batch["multipart/form-data"]["schema"]
    assert files["required"] == ["files"] and files["properties"]["files"]["minItems"] == 1


def test_item_that_was_not_an_image_has_no_image_url(client):
    bid = client.post(
        "/api/v1/batches", data={"files": [(io.BytesIO(b"hello"), "a.txt")]}
    ).get_json()["id"]
    (item,) = items_of(client, f"/api/v1/batches/{bid}")
    assert item["status"] == "failed" and item["image_url"] is None
    assert error_of(client.get(f"/api/v1/recognitions/{item['id']}/image")) == "no_image"


def test_a_plain_files_field_counts_as_a_file(client):
    """`curl -F files=<x.png` sends no filename: it is still a file of the batch."""
    response = post_raw(client, "/api/v1/batches", multipart([(b"files", None, a_png())]))
    assert response.status_code == 202 and response.get_json()["total"] == 1


# ---------------------------------------------------------------- odd names


def test_non_utf8_multipart_filename_is_one_item_not_a_failed_batch(client):
    body = multipart([(b"files", b"caf\xe9-\xff.png", a_png()), (b"files", b"ok.png", a_png(1))])
    response = post_raw(client, "/api/v1/batches", body)
    assert response.status_code == 202, response.get_json()
    names = [i["filename"] for i in items_of(client, response.get_json()["url"])]
    assert names == ["caf\ufffd-\ufffd.png", "ok.png"]
    single = post_raw(
        client, "/api/v1/recognitions", multipart([(b"image", b"\xc3\x28.png", a_png())])
    )
    assert single.status_code == 202


def test_lone_surrogates_and_nul_in_json_filenames_are_stored_cleaned(client):
    image = base64.b64encode(a_png()).decode()
    for raw, stored in [
        ('"a\\ud800b.png"', "a\ufffdb.png"),
        ('"\\udfff"', "\ufffd"),
        ('"nul\\u0000.png"', "nul\ufffd.png"),
        ('"new\\nline\\r.png"', "new\ufffdline\ufffd.png"),
        ('"\\ud83d\\ude00 ok.png"', "\U0001f600 ok.png"),  # a real pair stays
    ]:
        body = f'{{"image": "{image}", "filename": {raw}}}'
        response = client.post("/api/v1/recognitions", data=body, content_type="application/json")
        assert response.status_code == 202, (raw, response.get_json())
        assert client.get(response.get_json()["url"]).get_json()["filename"] == stored


def test_a_filename_that_is_not_a_string_is_400(client):
    image = base64.b64encode(a_png()).decode()
    for bad in (7, ["a"], {"a": 1}, True):
        response = client.post("/api/v1/recognitions", json={"image": image, "filename": bad})
        assert error_of(response) == "bad_filename"


def test_nul_and_control_characters_in_multipart_and_zip_names(client):
    inner = zip_bytes({"z\x00ip/bell.png": a_png(2), "../../etc/passwd.png": a_png(3)})
    body = multipart(
        [
            (b"files", b"nul\x00name.png", a_png()),
            (b"files", b"../../../x.png", a_png(1)),
            (b"files", b"in.zip", inner),
        ]
    )
    response = post_raw(client, "/api/v1/batches", body)
    assert response.status_code == 202, response.get_json()
    names = [i["filename"] for i in items_of(client, response.get_json()["url"])]
    assert names == [
        "nul\ufffdname.png",
        "../../../x.png",  # a label only: nothing is ever written under a name
        "in.zip/z",  # Python's zipfile ends a member name at a NUL
        "in.zip/../../etc/passwd.png",
    ]


def test_source_is_a_short_word_or_api(client):
    image = base64.b64encode(a_png()).decode()
    for source, stored in [("draw", "draw"), ("a\x00b", "api"), ("x" * 40, "api"), ("", "api")]:
        response = client.post(f"/api/v1/recognitions?source={source}", json={"image": image})
        assert response.status_code == 202
        with open_session(client.application.extensions["settings"].database_url) as session:
            rid = uuid.UUID(response.get_json()["id"])
            assert session.scalar(select(Recognition.source).where(Recognition.id == rid)) == stored


# ---------------------------------------------------------------- wrong content types and bodies


WRONG_TYPES = [
    ("text/plain", b"hello"),
    ("application/x-www-form-urlencoded", b"image=abc&files=def"),
    ("application/xml", b"<image/>"),
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("multipart/form-data", b"--x\r\n\r\n--x--"),  # no boundary parameter
    ("multipart/mixed; boundary=x", b"--x--"),
    ("application/json", b'{"files": []}'),
    ("", b"raw"),
]


def test_wrong_content_type_on_every_post(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    posts = [path for path, ops in spec["paths"].items() if "post" in ops]
    assert sorted(posts) == ["/api/v1/batches", "/api/v1/recognitions"]
    for path in posts:
        for content_type, body in WRONG_TYPES:
            if path.endswith("recognitions") and content_type == "application/json":
                continue  # JSON is a right type there (tested with bad bodies below)
            response = client.post(path, data=body, headers={"Content-Type": content_type})
            code = error_of(response)
            assert code in ("unsupported_content_type", "bad_multipart"), (path, content_type)


@pytest.mark.parametrize(
    "body",
    [b"[]", b'"image"', b"null", b"{", b"\xff\xfe", b'{"image": 5}', b'{"image": ["x"]}',
     b'{"image": "data:image/png,abc"}', b'{"image": "%%%"}', b'{"image": "QUJD"}'],
)  # fmt: skip
def test_bad_json_bodies(client, body):
    response = client.post("/api/v1/recognitions", data=body, content_type="application/json")
    assert error_of(response) in ("bad_json", "missing_image", "bad_base64", "unsupported_image")


def test_malformed_multipart_bodies(client):
    for body in (
        b"no boundary anywhere" * 1000,
        b'--xYzZy\r\nContent-Disposition: form-data; name="files"; filename="a"\r\n\r\nabc',
        b"--xYzZy\r\nX-Nothing: here\r\n\r\nabc\r\n--xYzZy--\r\n",
    ):
        for path in ("/api/v1/batches", "/api/v1/recognitions"):
            assert error_of(post_raw(client, path, body)) in ("bad_multipart", "missing_image")


def test_zip_of_huge_members_counts_decompressed_bytes(app, client, database_url, monkeypatch):
    """30 PNGs, each followed by 9 MB of zeros: ~300 KB zipped, 270 MB inflated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(30):
            zf.writestr(f"{i}.png", a_png(i) + bytes(9 * MB))
    assert len(buf.getvalue()) < 400_000
    set_settings(app, monkeypatch, batch_max_bytes=40 * MB)
    response = client.post(
        "/api/v1/batches", data={"files": [(io.BytesIO(buf.getvalue()), "bomb.zip")]}
    )
    assert response.status_code == 413 and error_of(response) == "batch_too_large"
    assert _count(database_url) == 0


def _count(database_url: str) -> int:
    with open_session(database_url) as session:
        return session.scalar(select(func.count()).select_from(Recognition))


# ---------------------------------------------------------------- the live stack: memory and after


def million_entry_zip(entries: int = 1_000_000) -> Iterator[bytes]:
    """A zip64 archive of `entries` directory entries (~80 MB), generated piece by piece."""
    name = b"d/"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name
    block = 10_000
    for _ in range(entries // block):
        yield local * block
    cd_offset = len(local) * entries
    central = bytearray()
    for i in range(entries):
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0,
            0x10, i * len(local),
        ) + name  # fmt: skip
        if len(central) > 4 * MB:
            yield bytes(central)
            central.clear()
    yield bytes(central)
    cd_size = 48 * entries
    eocd64 = cd_offset + cd_size
    yield struct.pack(
        "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, cd_size, cd_offset
    )
    yield struct.pack("<4sLQL", b"PK\x06\x07", 0, eocd64, 1)
    yield struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, cd_size, cd_offset, 0)


def streamed_upload(parts: Iterator[bytes], field: bytes = b"files", name: bytes = b"x.zip"):
    yield b'--xYzZy\r\nContent-Disposition: form-data; name="' + field + b'"; filename="'
    yield name + b'"\r\nContent-Type: application/zip\r\n\r\n'
    yield from parts
    yield b"\r\n--xYzZy--\r\n"


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.fixture(scope="module")
def hostile_stack(plain_stack):
    return plain_stack


@pytest.mark.slow
def test_live_hostile_uploads_keep_the_web_small_and_working(hostile_stack, capsys):
    url = hostile_stack.url
    (web_pid,) = child_pids(hostile_stack.web.popen.pid)  # WEB_WORKERS=1
    assert hostile_stack.environment["BATCH_MAX_BYTES"] == "100MB"
    requests.get(f"{url}/api/v1/openapi.json", timeout=10)
    before = rss_bytes(web_pid)
    headers = {"Content-Type": "multipart/form-data; boundary=xYzZy"}
    started = time.monotonic()

    # 1. a body whose boundary never comes: 60 MB of preamble
    junk = (b"x" * MB for _ in range(60))
    response = requests.post(f"{url}/api/v1/batches", data=junk, headers=headers, timeout=120)
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_multipart"
    # 2. a million directory entries in one zip
    response = requests.post(
        f"{url}/api/v1/batches",
        data=streamed_upload(million_entry_zip()),
        headers=headers,
        timeout=300,
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "too_many_files"
    # 3. an endless part header
    header = (b"--xYzZy\r\nX-Long: " + b"a" * MB for _ in range(5))
    response = requests.post(f"{url}/api/v1/recognitions", data=header, headers=headers, timeout=60)
    assert response.status_code in (400, 413), response.text
    elapsed = time.monotonic() - started
    after, peak = rss_bytes(web_pid), _peak_rss(web_pid)
    with capsys.disabled():
        print(
            f"\n[hostile] web RSS before {before / MB:.0f} MB, after {after / MB:.0f} MB, "
            f"peak {peak / MB:.0f} MB; 60 MB preamble + 80 MB million-entry zip in {elapsed:.1f} s"
        )
    assert after - before < 64 * MB
    assert peak - before < 96 * MB  # the 140 MB of bodies were never held

    # the service answers normally right after
    image = base64.b64encode(a_png(5)).decode()
    created = requests.post(f"{url}/api/v1/recognitions", json={"image": image}, timeout=10)
    assert created.status_code == 202
    result = requests.get(f"{url}{created.json()['url']}?wait=10", timeout=30).json()
    assert result["status"] == "done" and result["text"], result


@pytest.mark.slow
def test_dot_dot_in_every_path_parameter(hostile_stack):
    """Sent raw (no client-side normalization): each is a 4xx, JSON under /api."""
    rid = str(uuid.uuid4())
    paths = [
        "/api/v1/recognitions/..", "/api/v1/recognitions/../image",
        "/api/v1/recognitions/%2e%2e", "/api/v1/recognitions/%2e%2e/image",
        f"/api/v1/recognitions/{rid}/..", "/api/v1/recognitions/../normalized/0",
        f"/api/v1/recognitions/{rid}/normalized/..",
        f"/api/v1/recognitions/{rid}/normalized/%2e%2e",
        "/api/v1/recognitions/..%2f..%2fetc%2fpasswd", "/api/v1/recognitions/....//image",
        "/api/v1/batches/..", "/api/v1/batches/../results", "/api/v1/batches/%2e%2e/results",
        "/api/v1/batches/..%5c..%5cresults", "/batches/..", "/batches/%2e%2e",
        "/api/v1/recognitions/%00", "/api/v1/batches/%00/results",
        f"/api/v1/recognitions/{rid}/normalized/99999999999999999999999",
    ]  # fmt: skip
    target = urlsplit(hostile_stack.url)
    for path in paths:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        body = response.read()
        conn.close()
        assert 400 <= response.status < 500, (path, response.status, body[:200])
        if path.startswith("/api/"):
            assert json.loads(body)["error"]["code"], path
