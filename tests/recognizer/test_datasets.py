"""`digits data fetch` against a real HTTP server of our own, serving IDX files of the sample."""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from click.testing import CliRunner

from recognizer import datasets
from recognizer.cli import main
from scripts.embedded import free_port


@pytest.fixture(scope="module")
def served(mnist) -> dict[str, bytes]:
    """The four gzipped IDX files, made from the shipped sample."""
    return {
        spec.name: gzip.compress(datasets.idx_bytes(mnist[spec.array]), mtime=0)
        for spec in datasets.MNIST_FILES
    }


@pytest.fixture(scope="module")
def sample_specs(served) -> list[datasets.RemoteFile]:
    """The published file list, with the sample files' own checksums."""
    return [
        datasets.RemoteFile(s.name, hashlib.sha256(served[s.name]).hexdigest(), s.array)
        for s in datasets.MNIST_FILES
    ]


class Mirror:
    """A real HTTP server on loopback; `mode` decides how it answers."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.mode, self.requests = files, "ok", []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                mirror.requests.append(name)
                body = mirror.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mirror.mode == "dies":  # half the file, then the connection is gone
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.close()
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/mnist/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror(served) -> Iterator[Mirror]:
    server = Mirror(served)
    yield server
    server.close()


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/"


def leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_fetch_verifies_converts_and_downloads_once(mirror, sample_specs, mnist, tmp_path):
    seen: list[tuple[str, int]] = []
    path = datasets.fetch_mnist(
        tmp_path,
        mirrors=[closed_port_url(), mirror.url],  # the first mirror is down
        files=sample_specs,
        progress=lambda name, n, total: seen.append((name, n)),
    )
    assert path == tmp_path / "mnist.npz"
    with np.load(path) as data:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            np.testing.assert_array_equal(data[key], mnist[key])
    assert {name for name, _ in seen} == {s.name for s in sample_specs}
    assert not [n for n in leftovers(tmp_path) if n.endswith(".part")]
    assert len(mirror.requests) == 4

    datasets.fetch_mnist(tmp_path, mirrors=[mirror.url], files=sample_specs)
    assert len(mirror.requests) == 4  # verified files on disk are not downloaded again


def test_checksum_mismatch_keeps_nothing(mirror, tmp_path):
    """The sample's files are not the published MNIST: the real checksums refuse them."""
    target = tmp_path / "data"
    result = CliRunner().invoke(
        main, ["data", "fetch", "--dir", str(target), "--mirror", mirror.url]
    )
    assert result.exit_code == 1
    assert "checksum mismatch" in result.output and "Traceback" not in result.output
    assert leftovers(target) == []


def test_server_dying_mid_download_keeps_nothing(mirror, sample_specs, tmp_path):
    mirror.mode = "dies"
    with pytest.raises(datasets.DataError, match="interrupted") as failure:
        datasets.fetch_mnist(tmp_path, mirrors=[mirror.url], files=sample_specs)
    assert "nothing kept" in str(failure.value)
    assert leftovers(tmp_path) == []


def test_offline_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(
        main, ["data", "fetch", "--dir", str(tmp_path), "--mirror", closed_port_url()]
    )
    assert result.exit_code == 1
    assert result.output == f"Error: {datasets.NO_NETWORK}\n"


def test_one_way_to_find_the_data(monkeypatch, tmp_path, mnist_path):
    monkeypatch.delenv("DIGITS_MNIST", raising=False)
    monkeypatch.setenv("DIGITS_DATA_DIR", str(tmp_path))
    with pytest.raises(datasets.DataError, match="digits data fetch"):
        datasets.find_mnist()
    (tmp_path / "mnist.npz").write_bytes(mnist_path.read_bytes())
    assert datasets.find_mnist() == tmp_path / "mnist.npz"
    monkeypatch.setenv("DIGITS_MNIST", str(mnist_path))
    assert datasets.find_mnist() == mnist_path
    assert datasets.find_mnist(str(tmp_path / "mnist.npz")) == tmp_path / "mnist.npz"
    with pytest.raises(datasets.DataError, match="--data"):
        datasets.find_mnist(str(tmp_path / "missing.npz"))


def test_train_without_data_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("DIGITS_MNIST", raising=False)
    monkeypatch.setenv("DIGITS_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["train", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "digits data fetch" in result.output and "Traceback" not in result.output
