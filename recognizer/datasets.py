"""MNIST on disk: where to find it, and how to fetch it once from its public mirrors.

One rule finds the data for every command that needs the full set (`digits train`,
`digits evaluate`, `make train`, `make evaluate`, `make bench`): an explicit path, else
``$DIGITS_MNIST``, else ``mnist.npz`` in the data directory (``$DIGITS_DATA_DIR``, default
``~/.cache/digit-recognizer``), which ``digits data fetch`` fills. Nothing is downloaded
unless asked for.

A fetch downloads the four IDX files, trying each mirror in turn (the original site is often
down), checks every file's published SHA-256, and converts them to the ``.npz`` layout the
project uses (``x_train``, ``y_train``, ``x_test``, ``y_test``). Every file is written to a
temporary name in the data directory and renamed only once it is complete and verified, so an
interrupted or corrupt download never leaves a half file behind.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pathlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

NPZ_NAME = "mnist.npz"

#: Public mirrors of the original IDX files, tried in this order.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

NO_NETWORK = "no network: download MNIST elsewhere and pass --data PATH"


@dataclass(frozen=True)
class RemoteFile:
    """One gzipped IDX file: its name on every mirror, published SHA-256, and npz array."""

    name: str
    sha256: str
    array: str
    max_bytes: int = 16 * 1024**2  # a cap well above the real size: a runaway server stops here


MNIST_FILES = (
    RemoteFile(
        "train-images-idx3-ubyte.gz",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "x_train",
    ),
    RemoteFile(
        "train-labels-idx1-ubyte.gz",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "y_train",
    ),
    RemoteFile(
        "t10k-images-idx3-ubyte.gz",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "x_test",
    ),
    RemoteFile(
        "t10k-labels-idx1-ubyte.gz",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "y_test",
    ),
)


class DataError(Exception):
    """A clear, one-line reason why the data could not be found or fetched."""


class ChecksumMismatch(DataError):
    """A downloaded file is not the published one."""


class Unreachable(DataError):
    """No answer at all from a mirror (no network, refused, DNS)."""


class NoNetwork(DataError):
    def __init__(self) -> None:
        super().__init__(NO_NETWORK)


# ---------------------------------------------------------------- finding the data


def data_dir() -> pathlib.Path:
    """``$DIGITS_DATA_DIR``, else ``digit-recognizer`` in the user's cache directory."""
    configured = os.environ.get("DIGITS_DATA_DIR")
    if configured:
        return pathlib.Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(cache) / "digit-recognizer"


def find_mnist(path: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """The MNIST ``.npz`` to use: `path`, else ``$DIGITS_MNIST``, else the data directory's."""
    for candidate, origin in (
        (path, "--data"),
        (os.environ.get("DIGITS_MNIST"), "DIGITS_MNIST"),
    ):
        if candidate:
            found = pathlib.Path(candidate).expanduser()
            if not found.is_file():
                raise DataError(f"{origin} names {found}, which is not a file")
            return found
    fetched = data_dir() / NPZ_NAME
    if fetched.is_file():
        return fetched
    raise DataError(
        f"no MNIST found: pass --data PATH, set DIGITS_MNIST, or run `digits data fetch` "
        f"(downloads it once into {data_dir()})"
    )


# ---------------------------------------------------------------- IDX files


def parse_idx(raw: bytes) -> np.ndarray:
    """An IDX array (unsigned bytes, any number of dimensions) from its bytes."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError("not an IDX file of unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise DataError(f"IDX size does not match its header {shape}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array (the inverse of `parse_idx`)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    dims = b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return bytes([0, 0, 0x08, array.ndim]) + dims + array.tobytes()


def sha256_of(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- downloading

Progress = Callable[[str, int, int | None], None]  # (file name, bytes so far, total or None)


def _download(url: str, target: pathlib.Path, spec: RemoteFile, progress: Progress) -> None:
    """Download `url` to `target` through a temporary file; raise on any failure.

    `Unreachable` when no answer came at all (no network, refused, DNS), `DataError` for
    everything after the server answered (an HTTP error, a cut connection, a bad checksum).
    """
    import requests

    try:
        response = requests.get(url, stream=True, timeout=(10, 60))
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise Unreachable(f"{url}: {type(exc).__name__}") from exc
    with response:
        if response.status_code != 200:
            raise DataError(f"{url}: HTTP {response.status_code}")
        total = int(response.headers.get("Content-Length") or 0) or None
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (renamed or removed below)
            dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
        )
        tmp = pathlib.Path(handle.name)
        try:
            digest, seen = hashlib.sha256(), 0
            with handle:
                try:
                    for block in response.iter_content(1 << 16):
                        seen += len(block)
                        if seen > spec.max_bytes:
                            raise DataError(f"{url}: larger than {spec.max_bytes} bytes")
                        handle.write(block)
                        digest.update(block)
                        progress(spec.name, seen, total)
                except requests.RequestException as exc:
                    raise DataError(f"{url}: interrupted after {seen} bytes") from exc
            if total is not None and seen != total:
                raise DataError(f"{url}: interrupted after {seen} of {total} bytes")
            if digest.hexdigest() != spec.sha256:
                raise ChecksumMismatch(
                    f"{url}: SHA-256 {digest.hexdigest()} is not the published {spec.sha256}"
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


def _fetch_file(
    spec: RemoteFile, directory: pathlib.Path, mirrors: Sequence[str], progress: Progress
) -> pathlib.Path:
    """One verified file in `directory`, from the first mirror that serves it intact."""
    target = directory / spec.name
    if target.is_file() and sha256_of(target) == spec.sha256:
        return target
    errors: list[DataError] = []
    for mirror in mirrors:
        try:
            _download(mirror.rstrip("/") + "/" + spec.name, target, spec, progress)
            return target
        except DataError as exc:
            errors.append(exc)
    if all(isinstance(e, Unreachable) for e in errors):
        raise NoNetwork()
    if all(isinstance(e, ChecksumMismatch | Unreachable) for e in errors):
        raise ChecksumMismatch(f"checksum mismatch, nothing kept: {errors[-1]}")
    reasons = "; ".join(str(e) for e in errors)
    raise DataError(f"could not download {spec.name}, nothing kept: {reasons}")


def fetch_mnist(
    directory: pathlib.Path | None = None,
    *,
    mirrors: Sequence[str] = MIRRORS,
    files: Sequence[RemoteFile] = MNIST_FILES,
    progress: Progress = lambda name, seen, total: None,
) -> pathlib.Path:
    """Download (once), verify and convert MNIST; return the path of the ``.npz``."""
    directory = directory or data_dir()
    directory.mkdir(parents=True, exist_ok=True)
    npz = directory / NPZ_NAME
    paths = {spec.array: _fetch_file(spec, directory, mirrors, progress) for spec in files}
    arrays = {name: parse_idx(gzip.decompress(p.read_bytes())) for name, p in paths.items()}
    _check_layout(arrays)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (renamed or removed below)
        dir=directory, prefix=f".{NPZ_NAME}.", suffix=".part", delete=False
    )
    tmp = pathlib.Path(handle.name)
    try:
        with handle:
            # numpy's stub reads **arrays as its keyword-only allow_pickle
            np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, npz)
    finally:
        tmp.unlink(missing_ok=True)
    return npz


def _check_layout(arrays: dict[str, np.ndarray]) -> None:
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"{split} images {x.shape} and labels {y.shape} do not match")
