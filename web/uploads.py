"""Reading uploads safely: multipart bodies in bounded memory, and file names made storable.

Multipart is decoded as a stream with werkzeug's sans-IO decoder, whose buffer is capped at
MAX_BUFFER: a body whose boundary never comes (a "preamble" of hundreds of MB), a part whose
headers never end or an endless epilogue is refused with 400 `bad_multipart` once it has used
that much, instead of being held in memory. File data never accumulates in the decoder (it is
handed out as it arrives). Header bytes that are not UTF-8 (a non-UTF-8 file name) are decoded
with replacement characters instead of failing the whole upload.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

from flask import request
from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.sansio.multipart import (
    HEADER_CONTINUATION_RE,
    Epilogue,
    Event,
    MultipartDecoder,
    NeedData,
)

from web.errors import ApiError

READ_SIZE = 256 * 1024  # bytes read from the request stream at a time
MAX_BUFFER = 1024 * 1024  # the decoder's buffer: preamble, part headers, epilogue
MAX_NAME = 1024  # characters kept of a file name


class TooLarge(ApiError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(413, code, message)


class TolerantDecoder(MultipartDecoder):
    """werkzeug's decoder, except that header bytes that are not UTF-8 do not raise."""

    def _parse_headers(self, data: bytes | bytearray) -> Headers:
        headers: list[tuple[str, str]] = []
        data = HEADER_CONTINUATION_RE.sub(b" ", data)
        for line in data.splitlines():
            line = line.strip(b" \t")
            if line != b"":
                name, _, value = line.decode("utf-8", "replace").partition(":")
                headers.append((name.strip(" \t"), value.strip(" \t")))
        return Headers(headers)


def batch_too_large(max_bytes: int) -> TooLarge:
    return TooLarge("batch_too_large", f"A batch upload may be at most {max_bytes} bytes in all.")


def request_chunks(max_bytes: int, too_large=batch_too_large) -> Iterator[bytes]:
    """The raw request body in pieces, raising `too_large(max_bytes)` past `max_bytes`."""
    stream = request.stream
    seen = 0
    while True:
        chunk = stream.read(READ_SIZE)
        if not chunk:
            return
        seen += len(chunk)
        if seen > max_bytes:
            raise too_large(max_bytes)
        yield chunk


def drain(max_bytes: int) -> None:
    """Read what is left of a rejected upload, so the client sees our 4xx, not a reset."""
    try:
        stream, seen = request.stream, 0
        while seen <= max_bytes:
            chunk = stream.read(READ_SIZE)
            if not chunk:
                return
            seen += len(chunk)
    except Exception:
        return


def multipart_events(boundary: bytes, chunks: Iterator[bytes]) -> Iterator[Event]:
    """Preamble, Field, File and Data events of a multipart body, in bounded memory."""
    decoder = TolerantDecoder(boundary, max_form_memory_size=MAX_BUFFER, max_parts=None)
    try:
        while True:
            event = decoder.next_event()
            if isinstance(event, NeedData):
                decoder.receive_data(next(chunks, None))
            elif isinstance(event, Epilogue):
                break
            else:
                yield event
    except RequestEntityTooLarge as exc:
        raise ApiError(
            400,
            "bad_multipart",
            f"The multipart body is malformed: no boundary, or part headers, within "
            f"{MAX_BUFFER} bytes.",
        ) from exc
    except ValueError as exc:
        raise ApiError(400, "bad_multipart", f"The multipart body is malformed: {exc}") from exc
    for _ in chunks:  # anything after the closing boundary (bounded by `chunks`)
        pass


def multipart_boundary() -> bytes:
    """The boundary of a multipart/form-data request (400 when it has none)."""
    boundary = request.mimetype_params.get("boundary", "")
    if not boundary:
        raise ApiError(400, "bad_multipart", "The multipart body has no boundary.")
    try:
        return boundary.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ApiError(400, "bad_multipart", "The multipart boundary is not ASCII.") from exc


def clean_name(name: object) -> str | None:
    """A file name any database stores: lone surrogates (from JSON `\\ud800`) and control
    characters (NUL, which PostgreSQL's text refuses, newlines, ...) become U+FFFD; trimmed to
    MAX_NAME characters. `..` and slashes are kept: a name is only ever a label (nothing is
    written to disk under it)."""
    if name is None:
        return None
    text = str(name)[:MAX_NAME]
    out = []
    for char in text:
        category = unicodedata.category(char)
        out.append("\ufffd" if category in ("Cs", "Cc") else char)
    return "".join(out) or None
