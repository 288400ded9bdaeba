"""`digits submit PATH...`: upload files, folders and zips as one batch (talks HTTP only).

The multipart body is produced piece by piece while it is sent (a file-like object with a known
length, read by requests/urllib3 in blocks), so a folder of 10,000 scans is never in memory.
"""

from __future__ import annotations

import mimetypes
import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import requests

JUNK = {".ds_store", "thumbs.db", "desktop.ini"}
BLOCK = 64 * 1024
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Part:
    path: Path
    name: str  # the file name sent: a relative path for files found in folders
    size: int


def collect(paths: tuple[Path, ...]) -> list[Part]:
    """Files as given; folders recursively (hidden files and OS junk skipped), sorted."""
    parts: list[Part] = []
    for path in paths:
        if path.is_dir():
            root = path.resolve()
            base = root.name
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for filename in sorted(filenames):
                    if filename.startswith(".") or filename.lower() in JUNK:
                        continue
                    file = Path(dirpath, filename)
                    rel = file.relative_to(root).as_posix()
                    parts.append(Part(file, f"{base}/{rel}", file.stat().st_size))
        else:
            parts.append(Part(path, path.name, path.stat().st_size))
    return parts


def _quote(name: str) -> bytes:
    safe = name.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")
    return safe.encode("utf-8")


class MultipartBody:
    """A multipart/form-data body of `files` fields, generated while it is read."""

    def __init__(self, parts: list[Part], on_read=None) -> None:
        self.parts = parts
        self.boundary = f"digits-{uuid.uuid4().hex}"
        self.on_read = on_read
        self._heads = [self._head(p) for p in parts]
        self._tail = f"--{self.boundary}--\r\n".encode()
        self.length = sum(len(h) + p.size + 2 for h, p in zip(self._heads, parts, strict=True))
        self.length += len(self._tail)
        self._pieces = self._generate()
        self._pending = b""

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _head(self, part: Part) -> bytes:
        if part.name.lower().endswith(".zip"):
            mime = "application/zip"
        else:
            mime = mimetypes.guess_type(part.name)[0] or "application/octet-stream"
        return (
            f"--{self.boundary}\r\n".encode()
            + b'Content-Disposition: form-data; name="files"; filename="'
            + _quote(part.name)
            + f'"\r\nContent-Type: {mime}\r\n\r\n'.encode()
        )

    def _generate(self) -> Iterator[bytes]:
        for head, part in zip(self._heads, self.parts, strict=True):
            yield head
            sent = 0
            with open(part.path, "rb") as handle:
                while sent < part.size:
                    block = handle.read(min(BLOCK, part.size - sent))
                    if not block:
                        raise click.ClickException(f"{part.path} changed while it was sent")
                    sent += len(block)
                    yield block
            yield b"\r\n"
        yield self._tail

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        while block := self.read(BLOCK):
            yield block

    def read(self, size: int = -1) -> bytes:
        out = bytearray(self._pending)
        self._pending = b""
        while size < 0 or len(out) < size:
            piece = next(self._pieces, None)
            if piece is None:
                break
            out += piece
        if size >= 0 and len(out) > size:
            self._pending = bytes(out[size:])
            del out[size:]
        if self.on_read and out:
            self.on_read(len(out))
        return bytes(out)


def _error_message(response: requests.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['message']} ({response.status_code} {error['code']})"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"


def _unreachable(url: str, exc: Exception) -> click.ClickException:
    return click.ClickException(
        f"could not reach the digit-recognizer service at {url} "
        f"({type(exc).__name__}). Is it running? Start it with `make run`, or pass --url."
    )


@click.command()
@click.argument(
    "paths",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, readable=True, path_type=Path),
)
@click.option(
    "--url",
    default="http://127.0.0.1:5000",
    envvar="DIGITS_URL",
    show_default=True,
    help="The service's base URL.",
)
@click.option("--wait", is_flag=True, help="Wait for the batch to finish, showing progress.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the results CSV here (implies --wait).",
)
@click.option(
    "--chunk-size", type=click.IntRange(1, 1000), help="Items per worker task (server default)."
)
def submit(
    paths: tuple[Path, ...], url: str, wait: bool, out: Path | None, chunk_size: int | None
) -> None:
    """Upload images, folders (recursively) and .zip archives as one batch."""
    base = url.rstrip("/")
    parts = collect(paths)
    if not parts:
        raise click.ClickException("no files to upload")
    http = requests.Session()
    try:
        http.get(f"{base}/healthz", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        raise _unreachable(base, exc) from None

    total_mb = sum(p.size for p in parts) / 1024**2
    click.echo(f"Uploading {len(parts)} file(s), {total_mb:.1f} MB, to {base}", err=True)
    with click.progressbar(length=1, label="Uploading  ", file=sys.stderr) as bar:
        body = MultipartBody(parts, on_read=bar.update)
        bar.length = len(body)
        try:
            response = http.post(
                f"{base}/api/v1/batches",
                params={"chunk_size": chunk_size} if chunk_size else None,
                data=body,
                headers={"Content-Type": body.content_type},
                timeout=(10, 600),
            )
        except requests.RequestException as exc:
            raise click.ClickException(
                f"the upload to {base} failed ({type(exc).__name__}): the service stopped or "
                "closed the connection; check that it is running and try again."
            ) from None
    if response.status_code != 202:
        raise click.ClickException(f"the upload was refused: {_error_message(response)}")
    batch = response.json()
    batch_url = f"{base}{batch['url']}"
    click.echo(f"batch {batch['id']}: {batch['total']} item(s) queued", err=True)
    if not (wait or out):
        click.echo(batch["id"])
        return

    state = _wait_for(http, batch_url, batch["total"])
    click.echo(
        f"batch {batch['id']} {state['status']}: {state['done']} done, {state['failed']} failed",
        err=True,
    )
    if out:
        _download_csv(http, f"{base}{batch['url']}/results", out)
        click.echo(f"results written to {out}", err=True)
    else:
        click.echo(batch["id"])


def _wait_for(http: requests.Session, batch_url: str, total: int) -> dict:
    finished = 0
    with click.progressbar(length=max(total, 1), label="Recognizing", file=sys.stderr) as bar:
        while True:
            try:
                response = http.get(batch_url, timeout=30)
            except requests.RequestException as exc:
                raise _unreachable(batch_url, exc) from None
            if response.status_code != 200:
                raise click.ClickException(f"polling failed: {_error_message(response)}")
            state = response.json()
            now = state["done"] + state["failed"]
            bar.update(now - finished)
            finished = now
            if state["status"] == "done":
                return state
            time.sleep(POLL_SECONDS)


def _download_csv(http: requests.Session, results_url: str, out: Path) -> None:
    try:
        with http.get(results_url, params={"format": "csv"}, stream=True, timeout=60) as response:
            if response.status_code != 200:
                raise click.ClickException(f"fetching results failed: {_error_message(response)}")
            tmp = out.with_name(out.name + ".part")
            with open(tmp, "wb") as handle:
                for block in response.iter_content(BLOCK):
                    handle.write(block)
            tmp.replace(out)
    except requests.RequestException as exc:
        raise _unreachable(results_url, exc) from None
