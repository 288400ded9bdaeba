"""``pngfast.decode`` gives OpenCV's pixels exactly, or None (OpenCV then decodes)."""

import struct
import zlib

import cv2
import numpy as np
import pytest

from recognizer import pngfast
from recognizer.imageio import decode_gray
from recognizer.synth import canvas_png, multi_digit_canvas

pytestmark = pytest.mark.skipif(not pngfast.available(), reason="deflate not installed")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(img: np.ndarray, filters, extra=(), interlace=0) -> bytes:
    """A PNG of ``img`` (gray, RGB or RGBA) with the given row filters (0 None, 1 Sub,
    2 Up), its IDAT split in two."""
    h, w = img.shape[:2]
    c = 1 if img.ndim == 2 else img.shape[2]
    px = img.reshape(h, w * c).astype(np.int32)
    rows = []
    for y in range(h):
        r = px[y].copy()
        if filters[y] == 1:
            r[c:] -= px[y][:-c]
        elif filters[y] == 2 and y:
            r -= px[y - 1]
        rows.append(bytes([filters[y]]) + (r % 256).astype(np.uint8).tobytes())
    ihdr = struct.pack(">IIBBBBB", w, h, 8, {1: 0, 3: 2, 4: 6}[c], 0, 0, interlace)
    comp = zlib.compress(b"".join(rows))
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    for kind, body in extra:
        out += _chunk(kind, body)
    half = len(comp) // 2
    return out + _chunk(b"IDAT", comp[:half]) + _chunk(b"IDAT", comp[half:]) + _chunk(b"IEND", b"")


def _opencv(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def _images(rng):
    for i in range(24):
        c = (1, 3, 4)[i % 3]
        h, w = (int(v) for v in rng.integers(64, 260, 2))
        img = np.zeros((h, w) if c == 1 else (h, w, c), np.uint8)
        kind = i // 3 % 4
        if kind == 0:
            img[...] = rng.integers(0, 256, img.shape)
        elif kind == 1:  # a patch of noise on zeros (the box of non-zero bytes)
            y0, x0 = int(rng.integers(0, h - 20)), int(rng.integers(0, w - 20))
            patch = img[y0 : y0 + 40, x0 : x0 + 50]
            patch[...] = rng.integers(0, 256, patch.shape)
        elif kind == 2:  # a level running to the right edge
            img[:, w // 2 :] = 200
        else:
            img[h // 3 : h // 2] = 77
        yield img


def test_same_pixels_as_opencv():
    rng = np.random.default_rng(5)
    taken = 0
    for i, img in enumerate(_images(rng)):
        h = img.shape[0]
        for filters in (np.ones(h, int), rng.integers(0, 2, h), np.full(h, 2)):
            extra = [(b"tEXt", b"Software\x00test")] if i % 2 else []
            for data in (_png(img, filters, extra), cv2.imencode(".png", img)[1].tobytes()):
                got = pngfast.decode(data)
                if got is not None:
                    taken += 1
                    want = _opencv(data)
                    assert got.dtype == want.dtype and got.shape == want.shape
                    assert np.array_equal(got, want)
    assert taken >= 60


def test_big_gray_and_rgb_pngs_in_bands_the_same_as_opencv():
    # gray and RGB rows are undone a band of rows at a time (``_running_sum_integral``): a
    # scan's size, noise everywhere, crosses several bands; also one row wider than a band
    rng = np.random.default_rng(8)
    scan = np.clip(rng.normal(230, 30, (1000, 2000)), 0, 255).astype(np.uint8)
    rgb = rng.integers(0, 256, (300, 700, 3)).astype(np.uint8)
    wide = rng.integers(0, 256, (3, pngfast._BAND_BYTES + 5)).astype(np.uint8)
    for img in (scan, rgb, wide):
        h = img.shape[0]
        for data in (
            cv2.imencode(".png", img)[1].tobytes(),
            _png(img, rng.integers(0, 2, h)),
        ):
            got = pngfast.decode(data)
            assert got is not None
            assert np.array_equal(got, _opencv(data))


def test_running_sum_of_rows_too_long_for_int32_sums(monkeypatch):
    rng = np.random.default_rng(9)
    box = rng.integers(0, 256, (4, 30)).astype(np.uint8)
    want = np.cumsum(box.reshape(4, 10, 3), axis=1, dtype=np.uint8).reshape(4, 30)
    assert np.array_equal(pngfast._running_sum(box, 3), want)
    monkeypatch.setattr(pngfast, "_INT32_ROW", 16)  # as if a row of 30 bytes could overflow
    assert np.array_equal(pngfast._running_sum(box, 3), want)


def test_canvases_decode_fast_and_the_same():
    rng = np.random.default_rng(3)
    x = np.zeros((4, 28, 28), np.uint8)
    x[:, 5:23, 12:16] = 255
    blobs = [canvas_png(x[0], rng) for _ in range(5)] + [multi_digit_canvas(x, rng)[0]]
    for data in blobs:
        got = pngfast.decode(data)
        assert got is not None
        assert np.array_equal(got, _opencv(data))


def test_what_it_does_not_take_goes_to_opencv():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (80, 90, 4)).astype(np.uint8)
    ok = _png(img, np.ones(80, int))
    assert pngfast.decode(ok) is not None
    up = _png(img, np.r_[np.full(40, 2), np.ones(40, int)])
    assert pngfast.decode(up) is None  # Up rows among Sub rows
    assert np.array_equal(decode_gray(up)[0], decode_gray(ok)[0])
    assert pngfast.decode(_png(img, np.full(80, 3))) is None  # Average
    many = _png(img, np.ones(80, int), extra=[(b"tEXt", b"k\x00v")] * pngfast.MAX_CHUNKS)
    assert pngfast.decode(many) is None  # too many chunks to check in Python
    assert np.array_equal(decode_gray(many)[0], decode_gray(ok)[0])
    assert pngfast.decode(_png(img, np.ones(80, int), extra=[(b"gAMA", b"\0\0\xb1\x8f")])) is None
    bad = bytearray(ok)
    bad[60] ^= 1  # inside the first IDAT: its CRC fails
    assert pngfast.decode(bytes(bad)) is None
    assert pngfast.decode(ok[:-12]) is None  # no IEND
    assert pngfast.decode(cv2.imencode(".png", img[:8, :8])[1].tobytes()) is None  # small
    assert pngfast.decode(cv2.imencode(".png", img.astype(np.uint16) * 257)[1].tobytes()) is None


def test_a_chromium_canvas_every_row_up_decodes_fast_and_the_same():
    # Chromium's canvas.toBlob / toDataURL filter every row "Up"; the rows below the box of
    # non-zero filtered bytes repeat its last row
    img = np.zeros((400, 400, 4), np.uint8)
    cv2.line(img, (120, 80), (280, 330), (0, 0, 0, 255), 24, cv2.LINE_AA)
    band = img.copy()
    band[200:, :, 3] = np.maximum(band[200:, :, 3], 90)  # a level running to the bottom
    gama = [(b"gAMA", b"\0\0\xb1\x8f")]  # a chunk pngfast leaves to OpenCV
    for im in (img, band):
        data = _png(im, np.full(400, 2))
        found = pngfast.decode_part(data)
        assert found is not None
        assert np.array_equal(pngfast.whole(*found), _opencv(data))
        by_opencv = _png(im, np.full(400, 2), extra=gama)
        assert pngfast.decode(by_opencv) is None
        assert np.array_equal(decode_gray(data)[0], decode_gray(by_opencv)[0])
