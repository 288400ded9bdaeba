"""`digits submit` against a real service (gunicorn + a worker): folders and zips in, CSV out."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from cli.submit import MultipartBody, collect, submit
from scripts.embedded import free_port
from tests.support import ROOT, mnist_test_digits, png_bytes, zip_bytes


def test_folder_and_zip_to_csv(live_server, tmp_path):
    images, labels = mnist_test_digits(8, offset=200)
    pngs = [png_bytes(i) for i in images]
    folder = tmp_path / "scans"
    (folder / "b").mkdir(parents=True)
    for n in range(3):
        (folder / f"{n}.png").write_bytes(pngs[n])
    (folder / "b" / "3.png").write_bytes(pngs[3])
    (folder / "b" / "notes.txt").write_text("not an image")
    (folder / ".DS_Store").write_bytes(b"junk")
    archive = tmp_path / "more.zip"
    archive.write_bytes(zip_bytes({"x/4.png": pngs[4], "x/5.png": pngs[5]}))
    single = tmp_path / "single.png"
    single.write_bytes(pngs[6])
    out = tmp_path / "results.csv"

    result = CliRunner().invoke(
        submit,
        [str(folder), str(archive), str(single), "--url", live_server.url, "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "7 done, 1 failed" in result.output
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["filename"], r["status"], r["text"]) for r in rows] == [
        ("scans/0.png", "done", str(labels[0])),
        ("scans/1.png", "done", str(labels[1])),
        ("scans/2.png", "done", str(labels[2])),
        ("scans/b/3.png", "done", str(labels[3])),
        ("scans/b/notes.txt", "failed", ""),
        ("more.zip/x/4.png", "done", str(labels[4])),
        ("more.zip/x/5.png", "done", str(labels[5])),
        ("single.png", "done", str(labels[6])),
    ]
    assert "not a supported image" in rows[4]["error"]


def test_service_down_is_a_clear_message(tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(png_bytes(mnist_test_digits(1)[0][0]))
    url = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "digits"), "submit", str(image), "--url", url, "--wait"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "could not reach" in result.stderr and url in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_multipart_body_is_generated_with_the_right_length(tmp_path):
    for n in range(30):
        (tmp_path / f"{n}.png").write_bytes(bytes([n]) * (n * 1000))
    body = MultipartBody(collect((tmp_path,)))
    data = b"".join(iter(lambda: body.read(7777), b""))
    assert len(data) == len(body) and data.endswith(f"--{body.boundary}--\r\n".encode())
    assert data.count(b'name="files"') == 30
