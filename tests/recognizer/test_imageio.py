import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps
from recognizer_testutil import first_of, paper_image, png

from recognizer import ImageTooLarge, UnreadableImage, image_info
from recognizer.imageio import decode_gray
from recognizer.pipeline import extract_bytes


def _encode(img: np.ndarray, fmt: str) -> bytes:
    if fmt in ("gif",):
        buf = io.BytesIO()
        frames = [Image.fromarray(img), Image.fromarray(255 - img)]
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
        return buf.getvalue()
    ok, buf = cv2.imencode("." + fmt, img)
    assert ok, fmt
    return buf.tobytes()


@pytest.mark.parametrize(
    "fmt,name,mime",
    [
        ("png", "PNG", "image/png"),
        ("jpg", "JPEG", "image/jpeg"),
        ("bmp", "BMP", "image/bmp"),
        ("gif", "GIF", "image/gif"),
        ("webp", "WEBP", "image/webp"),
        ("tiff", "TIFF", "image/tiff"),
    ],
)
def test_formats_decode(mnist, fmt, name, mime):
    img, boxes = paper_image([first_of(mnist, 3)], scale=3)
    data = _encode(img, fmt)
    info = image_info(data)
    assert (info.format, info.mime, info.width, info.height) == (
        name,
        mime,
        img.shape[1],
        img.shape[0],
    )
    ex = extract_bytes(data)
    assert len(ex.digits) == 1  # GIF: first frame only (second frame is inverted)
    x, y, w, h = ex.boxes[0]
    bx, by, bw, bh = boxes[0]
    assert abs(x - bx) <= 4 and abs(y - by) <= 4 and abs(w - bw) <= 8 and abs(h - bh) <= 8


def test_color_image(mnist):
    img, _ = paper_image([first_of(mnist, 7)], scale=3)
    bgr = np.dstack([img, np.full_like(img, 255), img])  # magenta-ish ink on white
    assert len(extract_bytes(png(bgr)).digits) == 1


@pytest.mark.parametrize(
    "data", [b"", b"hello world", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"GIF89a"]
)
def test_not_an_image(data):
    with pytest.raises(UnreadableImage) as ei:
        extract_bytes(data)
    assert ei.value.code == "unreadable_image"


def test_truncated_png(mnist):
    data = png(paper_image([first_of(mnist, 1)])[0])
    with pytest.raises(UnreadableImage):
        extract_bytes(data[: len(data) // 2])


def test_non_bytes():
    with pytest.raises(UnreadableImage):
        image_info("not bytes")  # type: ignore[arg-type]


def _fake_png_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    chunk += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk + b"garbage, no pixel data at all"


def test_pixel_limit_header_only():
    # 50000 x 50000 claimed in the header; there is no pixel data, so only a header check
    # (no decode) can produce ImageTooLarge rather than UnreadableImage
    with pytest.raises(ImageTooLarge) as ei:
        extract_bytes(_fake_png_header(50_000, 50_000))
    assert ei.value.code == "image_too_large"


@pytest.mark.parametrize("fmt", ["png", "jpg", "bmp", "webp", "tiff", "gif"])
def test_pixel_limit_configurable(fmt):
    img = np.full((120, 100), 255, np.uint8)
    data = _encode(img, fmt)
    with pytest.raises(ImageTooLarge):
        image_info(data, max_pixels=100 * 119)
    assert image_info(data, max_pixels=100 * 120).width == 100


def test_alpha_composite_transparent_background(mnist):
    from recognizer.synth import canvas_png

    data = canvas_png(first_of(mnist, 4), np.random.default_rng(0))
    im = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert im.shape == (400, 400, 4)
    gray, info = decode_gray(data)
    assert gray.shape == (400, 400) and info.format == "PNG"
    ex = extract_bytes(data)
    assert len(ex.digits) == 1


def test_light_ink_on_transparent(mnist):
    d = cv2.resize(first_of(mnist, 2), None, fx=8, fy=8, interpolation=cv2.INTER_CUBIC)
    rgba = np.zeros((d.shape[0], d.shape[1], 4), np.uint8)
    rgba[..., :3] = 255  # white ink ...
    rgba[..., 3] = d  # ... where the digit is; transparent elsewhere
    assert len(extract_bytes(png(rgba)).digits) == 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_a_browser_shows_it(orientation):
    # a phone writes a portrait photo sideways and says so in EXIF (orientation 6 mostly)
    stored = np.zeros((40, 70), np.uint8)
    cv2.rectangle(stored, (5, 5), (20, 30), 255, -1)  # a mark off the centre: shows any turn
    ex = Image.Exif()
    ex[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(stored).save(buf, "PNG", exif=ex.tobytes())
    data = buf.getvalue()
    shown = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    gray, info = decode_gray(data)
    assert np.array_equal(gray, shown)
    assert (info.height, info.width) == shown.shape  # as shown, like the boxes
    assert info.orientation == orientation
