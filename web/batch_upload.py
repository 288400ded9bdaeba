"""Parsing a batch upload as a stream: multipart parts (web.uploads) and zip members become
items of a BatchWriter. Directory entries and junk in a zip are skipped, nested archives are not
opened, and member names are only names (nothing is extracted to disk). The bytes of every image
stored, zip members decompressed, count toward BATCH_MAX_BYTES; a zip's central directory is
walked entry by entry and refused past ZIP_ENTRIES_PER_FILE x BATCH_MAX_FILES entries before
Python's zipfile reads it whole."""

from __future__ import annotations

import logging
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

from werkzeug.sansio.multipart import Data, Field, File

from config import current_settings
from web.batch_writer import BatchWriter
from web.uploads import (
    TooLarge,
    clean_name,
    multipart_events,
    request_chunks,
)

log = logging.getLogger(__name__)

FIELD = "files"
ZIP_SPOOL_MEMORY = 8 * 1024**2  # a zip larger than this is spooled to a temp file
ZIP_ENTRIES_PER_FILE = 2  # a zip may list 2 x BATCH_MAX_FILES entries (folders, junk)
ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/x-zip"}
JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}


def _is_junk(name: str) -> bool:
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    if not parts:
        return True
    base = parts[-1]
    return "__MACOSX" in parts or base.lower() in JUNK_NAMES or base.startswith("._")


def _is_zip_part(filename: str, content_type: str | None) -> bool:
    return filename.lower().endswith(".zip") or (content_type or "").lower() in ZIP_TYPES


@dataclass
class StoredBytes:
    """Image bytes stored so far, decompressed zip members included: at most BATCH_MAX_BYTES."""

    limit: int
    used: int = 0

    def take(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise TooLarge(
                "batch_too_large",
                f"A batch may store at most {self.limit} bytes of images in all (zip members "
                "counted decompressed).",
            )


# zipfile's end-of-archive helpers: private, so not in its type information.
_zf: Any = zipfile


def _zip_entries(spool, limit: int) -> int:
    """How many entries the zip's central directory lists, counted header by header and
    stopping past `limit` (Python's ZipFile would read every entry before we could count)."""
    try:
        spool.seek(0)
        end = _zf._EndRecData(spool)
        if end is None:
            return 0  # not a zip: ZipFile says so
        size = end[_zf._ECD_SIZE]
        start = end[_zf._ECD_LOCATION] - size
        if end[_zf._ECD_SIGNATURE] == _zf.stringEndArchive64:
            start -= _zf.sizeEndCentDir64 + _zf.sizeEndCentDir64Locator
        spool.seek(max(start, 0))
        count = seen = 0
        while seen < size and count <= limit:
            header = spool.read(46)
            if len(header) < 46 or header[:4] != b"PK\x01\x02":
                break
            name_len, extra_len, comment_len = struct.unpack("<HHH", header[28:34])
            skip = name_len + extra_len + comment_len
            spool.seek(skip, 1)
            seen += 46 + skip
            count += 1
        return count
    except (OSError, struct.error, ValueError):
        return 0


def _add_zip(
    writer: BatchWriter, spool, zip_name: str, max_image: int, stored: StoredBytes
) -> None:
    max_entries = ZIP_ENTRIES_PER_FILE * writer.max_files
    if _zip_entries(spool, max_entries) > max_entries:
        raise TooLarge(
            "too_many_files",
            f"{zip_name} lists more than {max_entries} entries (folders included); a batch "
            f"holds at most {writer.max_files} files.",
        )
    spool.seek(0)
    try:
        archive = zipfile.ZipFile(spool)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        writer.add_failure(zip_name, f"not a readable zip archive ({exc})", "bad_archive")
        return
    with archive:
        for info in archive.infolist():
            name = info.filename
            if info.is_dir() or _is_junk(name):
                continue
            label = clean_name(f"{zip_name}/{name}")
            if name.lower().endswith(".zip"):
                writer.add_failure(
                    label, "nested archives are not opened", "nested_archive", info.file_size
                )
                continue
            if info.file_size > max_image:
                raise TooLarge(
                    "image_too_large",
                    f"{label} is {info.file_size} bytes; an image may be at most "
                    f"{max_image} bytes.",
                )
            stored.take(info.file_size)  # as declared: refuse before inflating
            try:
                with archive.open(info) as member:
                    data = member.read(max_image + 1)
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
                    OSError, EOFError, ValueError) as exc:  # fmt: skip
                stored.used -= info.file_size
                writer.add_failure(label, f"unreadable zip member ({exc})", "bad_archive_member")
                continue
            if len(data) > max_image:
                raise TooLarge(
                    "image_too_large",
                    f"{label} is larger than {max_image} bytes (the limit for one image).",
                )
            stored.take(len(data) - info.file_size)  # as it really was
            writer.add_image(label, data)


def parse_upload(writer: BatchWriter, boundary: bytes) -> None:
    settings = current_settings()
    max_image = settings.max_image_bytes
    max_bytes = settings.batch_max_bytes
    stored = StoredBytes(max_bytes)
    part: File | Field | None = None  # the current part of the `files` field, if any
    buffer = bytearray()
    spool = None  # the current .zip part, spooled
    try:
        for event in multipart_events(boundary, request_chunks(max_bytes)):
            if isinstance(event, File | Field):
                # A `files` part is a file with or without a filename (curl -F files=<x.png).
                part = event if event.name == FIELD else None
                buffer.clear()
                filename = getattr(part, "filename", None) or ""
                if part is not None and _is_zip_part(filename, part.headers.get("content-type")):
                    spool = tempfile.SpooledTemporaryFile(max_size=ZIP_SPOOL_MEMORY)  # noqa: SIM115
            elif isinstance(event, Data) and part is not None:
                if spool is not None:
                    spool.write(event.data)
                else:
                    buffer += event.data
                    if len(buffer) > max_image:
                        raise TooLarge(
                            "image_too_large",
                            f"{clean_name(getattr(part, 'filename', None)) or 'a part'} is "
                            f"larger than {max_image} bytes (the limit for one image).",
                        )
                if not event.more_data:
                    name = clean_name(getattr(part, "filename", None))
                    if spool is not None:
                        _add_zip(writer, spool, name or "upload.zip", max_image, stored)
                        spool.close()
                        spool = None
                    elif name is not None or buffer:  # (a browser's empty file input: skip)
                        stored.take(len(buffer))
                        writer.add_image(name, bytes(buffer))
                        buffer.clear()
                    part = None
            # Preamble, other fields and their data are ignored.
    finally:
        if spool is not None:
            spool.close()
