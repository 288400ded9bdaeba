"""Digits as they come on paper: form lines, comb fields, touching digits, calibrated
confidence and the review flag (issue 12). Real shipped model, real images, no mocks."""

import json
import shutil

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from recognizer import calibrate as cal
from recognizer import lines, split
from recognizer.cli import main
from recognizer.imageio import decode_gray, to_ink
from recognizer.model import DEFAULT_MODEL_PATH, load_model, model_files
from recognizer.segment import segment
from recognizer.synth import (
    PAPER_CONDITIONS,
    boxed_png,
    circled_png,
    comb_png,
    dashed_png,
    desk_png,
    grid_png,
    hyphenated_png,
    paper_sample,
    pen_png,
    rows_png,
    shaded_png,
    shadow_png,
    touching_png,
    underline_png,
)


def _gray(blob: bytes) -> np.ndarray:
    return decode_gray(blob)[0]


def _scored(model, blobs: list[bytes], truths) -> tuple[int, int]:
    """(read right, read with too many digits) of ``blobs`` against their ``truths``."""
    texts = [r.text for r in model.recognize_many(blobs)]
    truths = [str(t) for t in truths]
    right = sum(t == s for t, s in zip(texts, truths, strict=True))
    return right, sum(len(t) > len(s) for t, s in zip(texts, truths, strict=True))


def _ones_and_twos(mnist, make, seed: int) -> tuple[list[bytes], list[str]]:
    """40 images of one or two test digits (alternately) made by ``make(digits, rng)``, and
    their texts."""
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(seed)
    blobs, texts = [], []
    for k in range(40):
        idx = [k, 40 + k][: 1 + k % 2]
        blobs.append(make([x[i] for i in idx], rng))
        texts.append("".join(str(int(y[i])) for i in idx))
    return blobs, texts


@pytest.mark.parametrize("condition", PAPER_CONDITIONS)
def test_paper_conditions_are_deterministic_dark_ink_on_light_paper(mnist, condition):
    x, y = mnist["x_test"], mnist["y_test"]
    a = paper_sample(condition, x, y, np.random.default_rng(4))
    b = paper_sample(condition, x, y, np.random.default_rng(4))
    assert a == b
    g = _gray(a[0])
    assert np.percentile(g, 90) > 180 and g.min() < 120  # light paper, dark ink
    assert a[1].isdigit() or a[1] == ""


def test_box_and_underline_are_removed_and_the_digit_read(mnist, shipped_model):
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(21)
    ok, n, extra = 0, 40, 0
    for i in range(n):
        for make in (boxed_png, underline_png):
            r = shipped_model.recognize(make(x[i], rng))
            ok += r.text == str(y[i])
            extra += len(r.text) > 1
    assert extra <= 1
    assert ok >= 0.95 * 2 * n


def test_digits_on_unevenly_lit_paper_are_read(mnist, shipped_model):
    # a phone photo's shadow: the paper falls to 45% of its brightest level across the image;
    # one paper level for the whole image would turn the dark side into ink
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(17)
    blobs = [shadow_png(x[i], rng, depth=0.55) for i in range(60)]
    assert _scored(shipped_model, blobs, y[:60])[0] >= 58


def test_polarity_of_a_tight_shaded_crop_is_dark_ink_on_light_paper():
    # a thick "8" cropped close, lit from the left: its border is half dark, and the darker
    # half of all pixels is mostly shaded paper, so only local contrast tells ink from paper
    page = np.full((74, 56), 230.0, np.float32)
    cv2.circle(page, (28, 20), 14, 30.0, 9)
    cv2.circle(page, (28, 52), 16, 30.0, 9)
    page *= np.linspace(1.0, 0.45, 56, dtype=np.float32)[None, :]
    ink, inverted = to_ink(page.astype(np.uint8))
    assert inverted  # light paper
    assert ink[20, 14] > 100 and ink[20, 28] < 40  # a stroke is ink, the loop's inside is not


def test_dashed_and_dotted_lines_are_removed_like_solid_ones(mnist, shipped_model):
    # boxes and underlines printed dashed or dotted: the pieces must not be read as digits
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(23)
    right, too_many = _scored(shipped_model, [dashed_png(x[i], rng) for i in range(60)], y[:60])
    assert too_many <= 3
    assert right >= 54


def test_a_dotted_box_close_round_its_digit_is_taken_out_whole(mnist, shipped_model):
    # the dots of a tight box: the line's core left their edges (a thin "1" beside the
    # digit), and at half size, where lines are first looked for, they run together or
    # vanish (old: 380 of 400 right, 17 with extra digits)
    x, y = mnist["x_test"], mnist["y_test"]
    blobs, truth = [], []
    for seed in (61, 67):
        rng = np.random.default_rng(seed)
        blobs += [dashed_png(x[i], rng) for i in range(200)]
        truth += list(y[:200])
    right, too_many = _scored(shipped_model, blobs, truth)
    assert right >= 386 and too_many <= 12


def test_digits_on_squared_paper_are_read(mnist, shipped_model):
    # the grid makes one component with the digit; it must come out, the digit stay
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(31)
    assert _scored(shipped_model, [grid_png(x[i], rng) for i in range(60)], y[:60])[0] >= 57


def test_a_card_photographed_on_a_desk_is_read(mnist, shipped_model):
    # the dark desk lines the border: taken for the background, it made the whole card one
    # huge light "stroke" (7.5% read right); the desk must count as paper
    right, too_many = _scored(shipped_model, *_ones_and_twos(mnist, desk_png, 41))
    assert right >= 37 and too_many <= 1


def test_digits_in_a_shaded_form_field_are_read(mnist, shipped_model):
    # a field printed grey (a flat tint or a halftone screen) is paper, not ink: a paper map
    # that only removes what is narrower than a third of the image took the field's inside
    # near its edge for ink, and read the field's outline as a digit (70% of strings right)
    right, too_many = _scored(shipped_model, *_ones_and_twos(mnist, shaded_png, 43))
    assert right >= 36 and too_many <= 2


def test_digits_in_a_field_printed_as_a_halftone_screen_are_read(mnist, shipped_model):
    # the screen's dots came through the threshold (or ran together into a mesh round the
    # digits): evened out by a blur and taken off with everything wider than a stroke
    # (old: 34 of 40 strings of three or four right, the field read as one big digit)
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(47)
    blobs, texts = [], []
    for k in range(40):
        idx = range(4 * k, 4 * k + 3 + k % 2)
        blobs.append(shaded_png([x[i] for i in idx], rng, screen=True))
        texts.append("".join(str(int(y[i])) for i in idx))
    right, too_many = _scored(shipped_model, blobs, texts)
    assert right >= 38 and too_many <= 1


def test_digits_in_a_flat_tinted_field_are_read(mnist, shipped_model):
    # a flat tint: (1) a light one passes the low threshold faint lines are looked for at,
    # where a printed box round it was the edge of a filled block, no line (lines are now also
    # looked for at the image's own threshold when the low one floods); (2) the paper map
    # rounded the field's corners off (now a square closing) and, taken at 64 px on the
    # longer side, lost a long strip's field among the strokes (now on the shorter side), so
    # its inside along the edge was ink, a "1" beside the digits. Old: 191 of 200 strings
    # right, 2 too long
    x, y = mnist["x_test"], mnist["y_test"]
    blobs, texts = [], []
    for seed in (43, 44):
        rng = np.random.default_rng(seed)
        for k in range(100):
            idx = range(4 * k, 4 * k + 1 + k % 4)
            blobs.append(shaded_png([x[i] for i in idx], rng, screen=False))
            texts.append("".join(str(int(y[i])) for i in idx))
    right, too_many = _scored(shipped_model, blobs, texts)
    assert right >= 196 and too_many == 0


def test_a_form_field_cut_out_along_its_box_is_dark_ink_on_light_paper(mnist, shipped_model):
    # the box's sides are the image's border: taken for the paper, they made the paper
    # inside "ink" and the digit a hole in it ("6" read "11"; old: 158 of 200 right, 27 with
    # extra digits). The paper is found inside the frame
    from bench.unseen import box_crop

    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(3)
    right, too_many = _scored(shipped_model, [box_crop(x[i], rng) for i in range(200)], y[:200])
    assert right >= 188 and too_many <= 8
    # a light digit on dark paper, even one whose loop nearly fills the image, stays light ink
    page = np.zeros((60, 50), np.uint8)
    cv2.ellipse(page, (25, 30), (20, 26), 0, 0, 360, 255, 7)
    assert not to_ink(page)[1]


def test_a_field_cut_out_along_its_box_from_a_skewed_scan_is_read(mnist, shipped_model):
    # cut from a page scanned askew, the box's sides run slantwise into the image's edge:
    # wedges along the edge, no straight run for the line search, each read as a "1", and
    # no row of the edge dark enough to be a frame for the paper's level (old: 187 of 200
    # right, 11 with extra digits). Going in from each edge, a side is the first ink, thin
    # and straight (``lines.edge_frame``, ``imageio._slanted_side``)
    from bench.unseen import skewed_box_crop

    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(9)
    blobs = [skewed_box_crop(x[i], rng) for i in range(200)]
    right, too_many = _scored(shipped_model, blobs, y[:200])
    assert right >= 194 and too_many <= 4


def test_a_row_of_boxes_cut_out_along_its_border_from_a_skewed_scan_is_read(mnist, shipped_model):
    # a comb field cut from a skewed scan: its top and bottom sides are wedges along the
    # edges, and its dividers, meeting no frame's corners, were read as "1"s (old: 46 of 100
    # right, 22 with extra digits; with the frame along the edges taken out but not the
    # dividers, 55 and 41). A thin straight piece that meets the frame's top side and its
    # bottom one (or the edge that cut it off) is a divider (``lines._dividers``). Then (73
    # right, 17 extra) a divider a digit touched, a "1" meeting both sides of its box, a row
    # cut inside its frame: 91 right, 4 extra (``_upright_runs``, ``_box_grid``)
    right, too_many = _scored(shipped_model, *_probe_rows(mnist, "skewed_boxes_crop", 7, 100))
    assert right >= 88 and too_many <= 8


def _row_cut_askew(turn: float, boxes: str, line: int = 3, inset: int = -1) -> bytes:
    """A row of boxes cut out along its border from a page scanned ``turn`` degrees askew:
    the crop cuts the row's top and bottom sides into wedges. In each box, by ``boxes``: "0"
    a zero in its middle, "o" a zero touching the divider (or the frame's side) on its
    right, "1" a one from the box's top side to its bottom side. The lines ``line`` px thick;
    the crop ``inset`` px inside the row's top and bottom edges."""
    page = np.full((220, 80 + 60 * len(boxes)), 230, np.uint8)
    x0, y0, bw, bh = 40, 70, 60, 64
    lines = np.zeros_like(page)
    cv2.rectangle(lines, (x0, y0), (x0 + len(boxes) * bw, y0 + bh), 255, line)
    for i in range(1, len(boxes)):
        cv2.line(lines, (x0 + i * bw, y0), (x0 + i * bw, y0 + bh), 255, line)
    page[lines > 0] = 70
    for i, kind in enumerate(boxes):
        middle = x0 + i * bw + bw // 2
        if kind == "1":
            cv2.line(page, (middle + 3, y0 + 2), (middle - 3, y0 + bh - 2), 20, 4)
        else:
            cx = x0 + (i + 1) * bw - 19 if kind == "o" else middle
            cv2.ellipse(page, (cx, y0 + bh // 2), (15, 21), 0, 0, 360, 20, 4)
    turned = cv2.getRotationMatrix2D((x0 + len(boxes) * bw / 2, y0 + bh / 2), turn, 1.0)
    page = cv2.warpAffine(page, turned, page.shape[::-1], borderValue=230)
    crop = page[y0 + inset : y0 + bh + 1 - inset, x0 - 1 : x0 + len(boxes) * bw + 2]
    return cv2.imencode(".png", crop)[1].tobytes()


@pytest.mark.parametrize("boxes", ["0o00", "oooo"])
def test_a_divider_a_digit_touches_in_a_row_of_boxes_cut_from_a_skewed_scan_is_no_digit(
    shipped_model, boxes
):
    # a "0" touching a divider made one piece with it, and the divider was read as a "1"
    # beside it (old: "00100" and "0101010" at 1.5 degrees). The divider is found inside the
    # piece: full-height columns as slanted as the row's other dividers (or, with every
    # divider touched, its frame's sides), on the row's grid of boxes (``lines._box_grid``)
    for turn in (-2.5, -1.5, 1.5, 2.5):
        assert shipped_model.recognize(_row_cut_askew(turn, boxes)).text == "0000", turn


@pytest.mark.parametrize("boxes", ["0000", "0o0o0", "00100"])
def test_a_row_of_boxes_cut_out_inside_its_frame_from_a_skewed_scan_is_read(shipped_model, boxes):
    # cut 4-5 px inside the row's top and bottom sides, its dividers run from the image's
    # top edge to its bottom one, no longer than the digits are tall, and what is left of
    # the sides joins them along the edges (old: "0101010" for "0000"). Upright runs on a
    # grid of equal boxes are the dividers, found either way: as the frame's sides
    # (``lines.edge_frame``) or with no frame at all (``_cut_dividers``)
    for turn in (-2.5, -1.5, 1.5, 2.5):
        for inset in (4, 5):
            assert shipped_model.recognize(
                _row_cut_askew(turn, boxes, inset=inset)
            ).text == boxes.replace("o", "0"), (turn, inset)


def test_a_row_of_boxes_printed_thick_cut_from_a_skewed_scan_is_read(shipped_model):
    # sides 6 px thick on a row 67 px tall (binarized, over a tenth of it) were no frame,
    # and the dividers were read as "1"s (old: "0101010"). A side up to 0.14 of the row
    # counts on a frame along three edges or more (``lines.EDGE_LINE_THICK``)
    for turn in (-2.5, -1.5, 1.5, 2.5):
        assert shipped_model.recognize(_row_cut_askew(turn, "0000", line=6)).text == "0000", turn


def test_a_one_from_its_box_s_top_side_to_its_bottom_one_is_no_divider(shipped_model):
    # a straight "1" meeting both sides of its box was taken out with the dividers ("0000"
    # for "00100" at 1.5 degrees): a divider stands on the row's grid of boxes, a "1" in a
    # box's middle
    for turn in (-2.5, -1.5, 1.5, 2.5):
        assert shipped_model.recognize(_row_cut_askew(turn, "00100")).text == "00100", turn


def _probe_rows(mnist, name: str, seed: int, n: int) -> tuple[list[bytes], list[str]]:
    """``n`` inputs of ``bench.unseen``'s probe ``name`` (one that makes its own text, of
    several test digits) and their texts."""
    from bench import unseen

    unseen._DATA.update(x=mnist["x_test"], y=mnist["y_test"])
    rng = np.random.default_rng(seed)
    samples = [unseen.CONDITIONS[name](mnist["x_test"][0], rng) for _ in range(n)]
    return [b for b, _ in samples], [t for _, t in samples]


def _framed(sides: tuple[int, int, int, int], level: int) -> np.ndarray:
    """A row of two boxes cut out along its border, a "7" and a "1" in them (ink 20, paper
    230): the border of grey ``level`` along the image's edges, its sides (top, bottom,
    left, right) that many px thick, 2 px of paper outside the right one."""
    h, w = 60, 100
    page = np.full((h, w), 230, np.uint8)
    top, bottom, left, right = sides
    page[:top], page[h - bottom :], page[:, :left] = level, level, level
    page[:, w - 2 - right : w - 2] = level
    page[:, 48:50] = level
    cv2.line(page, (15, 15), (35, 15), 20, 4)
    cv2.line(page, (35, 15), (22, 48), 20, 4)
    cv2.line(page, (72, 12), (70, 48), 20, 4)
    return page


def test_a_frame_printed_at_the_paper_and_ink_s_middle_grey_is_still_a_frame():
    # the frame's grey was exactly halfway between the ink and the paper: counted neither
    # dark (no frame looked for) nor light (not the paper), the paper inside it was taken
    # for ink (old: the dividers of a row of boxes read as "1"s)
    ink, light_paper = to_ink(_framed((2, 2, 2, 2), (20 + 230) // 2))
    assert light_paper and ink[30, 10] < 40 and ink[15, 25] > 150


def test_a_frame_side_thicker_than_the_band_it_is_looked_for_in_is_still_a_frame():
    # one side 8 px thick behind 2 px of paper filled the whole band looked at from that
    # edge: no paper in it, and the frame was given up (the paper inside taken for ink)
    ink, light_paper = to_ink(_framed((2, 2, 2, 8), 70))
    assert light_paper and ink[30, 10] < 40 and ink[15, 25] > 150


def test_a_tight_crop_s_strokes_along_its_edges_are_no_frame(mnist):
    # a digit cropped tight touches every edge: a "7"'s bar runs along the top, a thin "0"
    # close along all four (only a straight, thin line along two edges or more is a frame)
    x = mnist["x_test"]
    found = 0
    for i in range(500):
        big = cv2.resize(x[i], None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)
        b = cv2.erode(np.where(big > 100, 255, 0).astype(np.uint8), np.ones((3, 3), np.uint8))
        ys, xs = np.nonzero(b)
        b = b[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        b = cv2.copyMakeBorder(b, 0, 0, 0, max(0, 40 - b.shape[1]), cv2.BORDER_CONSTANT)
        found += lines.edge_frame(b) is not None
    assert found == 0


def test_a_row_of_boxes_cut_out_along_its_border_is_read(mnist, shipped_model):
    # the row's top and bottom sides lie on the image's edge: the opening that finds the
    # dividers counted the ink as running on past the edge, so those sides stayed in it as
    # vertical runs, joined the dividers into one block that is no line, and each divider
    # was read as a "1" (old: 41 of 100 right, 66 with the paper found inside the frame).
    # Beyond the edge is no ink
    right, too_many = _scored(shipped_model, *_probe_rows(mnist, "boxes_crop", 5, 100))
    assert right >= 92 and too_many <= 4


def test_a_row_of_boxes_cut_out_along_its_border_is_no_sheet_on_a_desk(mnist, shipped_model):
    # its boxes are light, solid and sharp-edged, like a sheet of paper on a dark desk, and
    # the frame round them is dark: taken for a sheet, the frame was painted the paper's
    # level, and with it a digit that touched it ("3865" read "865"; old: 9 of the first 600
    # rows taken for sheets, 3 of them misread). A desk is wider than a printed line
    from recognizer.imageio import _on_sheet

    blobs, texts = _probe_rows(mnist, "boxes_crop", 5, 600)
    assert not any(_on_sheet(_gray(blob)) is not None for blob in blobs)
    picked = (109, 117, 126, 200, 221, 297, 318, 367, 599)
    right, _ = _scored(shipped_model, [blobs[k] for k in picked], [texts[k] for k in picked])
    assert right == len(picked)


def test_a_cell_of_squared_paper_is_not_taken_for_a_card(mnist):
    # a cell of squared paper is light, solid, rectangular and sharp-edged like a card on a
    # desk, and the grid crossing the border lines its edge; but what lies round it is mostly
    # paper, not desk (taken for a card, the cell kept and the digit beside it was painted
    # over: 43 of 1,000 grid images, one misread)
    from recognizer.imageio import _on_sheet

    x = mnist["x_test"]
    rng = np.random.default_rng(61)
    cards = sum(_on_sheet(_gray(grid_png(x[i], rng))) is not None for i in range(200))
    assert cards <= 1


@pytest.mark.parametrize("stroke", [56, 60])
def test_a_light_loop_on_dark_paper_is_not_taken_for_a_card(stroke):
    # a thick light "0" on black looks like a card on a desk (a light, solid region with a
    # dark mark inside, dark all round): its dark inside is as wide as the ring, so it is not
    page = np.full((240, 200), 12, np.uint8)
    cv2.ellipse(page, (100, 120), (70, 95), 0, 0, 360, 235, stroke)
    ink, inverted = to_ink(page)
    assert not inverted  # light ink on dark paper
    assert ink[120, 30] > 150 and ink[120, 100] < 40  # the ring is ink, its inside is not


def test_hyphens_between_digits_are_not_read_as_digits(mnist, shipped_model):
    # a date or a phone number: a hyphen was read as a digit ("1" or "2") or joined to its
    # neighbour ("3" and "-" read as "4"); it belongs to neither and is no digit
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(43)
    blobs, texts = [], []
    for k in range(40):
        groups = [[3 * k % 200, 3 * k % 200 + 1], [3 * k % 200 + 2, 200 + k, 240 + k][: 2 + k % 2]]
        blobs.append(hyphenated_png([[x[i] for i in g] for g in groups], rng))
        texts.append("".join(str(int(y[i])) for g in groups for i in g))
    right, too_many = _scored(shipped_model, blobs, texts)
    assert right >= 36 and too_many <= 1


def test_a_loop_drawn_round_a_digit_is_not_read(mnist, shipped_model):
    # a circle round an answer was read as "0" (the digit inside merged with it), a box
    # drawn by hand broke into pieces at its straight stretches, each read as a digit
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(47)
    right, too_many = _scored(shipped_model, [circled_png(x[i], rng) for i in range(60)], y[:60])
    assert right >= 56 and too_many <= 1


def test_a_broken_zero_is_not_a_loop_round_its_own_piece():
    # a skipping pen breaks a "0" into a "C" and its right side, which stands inside the C's
    # box, clear of it, with the C's ink above, below and to its left -- but not level with
    # it on the right: the C does not go round it, and the two stay one digit
    page = np.full((130, 110), 235, np.uint8)
    cv2.ellipse(page, (50, 65), (30, 45), 0, 40, 320, 20, 5)  # the C
    cv2.ellipse(page, (50, 65), (18, 26), 0, -50, 50, 20, 5)  # its right side, broken off
    ink, _ = to_ink(page)
    seg = segment(ink)
    assert len(seg.segments) == 1 and seg.lines is None


def test_a_smaller_digit_beside_a_bigger_one_stays_a_digit(mnist, shipped_model):
    # a string written smaller here and bigger there: a digit 0.6 x its neighbour's height
    # (a fifth of its ink) stood within the reach of the "small fragment" rule and was
    # joined to it, and the joined pair was read as one digit
    from recognizer.synth import _lay, _paper, _to_png, pen_digit

    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(53)
    blobs, texts = [], []
    for k in range(30):
        big = pen_digit(x[k], rng, height=64.0, pen=0.14)
        small = pen_digit(x[30 + k], rng, height=38.0, pen=0.08)
        paper = _paper(120, big.shape[1] + small.shape[1] + 90, rng)
        _lay(paper, big, 30, 28, 40.0)
        _lay(paper, small, 30 + big.shape[1] + 12, 28 + int(rng.integers(0, 27)), 40.0)
        blobs.append(_to_png(paper))
        texts.append(f"{y[k]}{y[30 + k]}")
    assert _scored(shipped_model, blobs, texts)[0] >= 28


def test_a_small_one_in_a_thin_stroke_beside_a_bigger_digit_stays_a_digit(mnist, shipped_model):
    # a "1" written small beside a bigger digit, one straight stroke as thin as the pen: it
    # is narrower than the rule's "stroke-wide" whole digit (0.12 x the line's height), so
    # it was joined to its neighbour and read as one digit ("21" as "2"): 21 of 30 right,
    # now 30
    from recognizer.synth import _lay, _paper, _to_png, pen_digit

    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(54)
    blobs, texts = [], []
    for k in range(30):
        big = pen_digit(x[k], rng, height=64.0, pen=0.12)
        h = int(rng.uniform(0.58, 0.7) * big.shape[0])
        one = np.zeros((h + 8, 12), np.float32)
        cv2.line(one, (6 + int(rng.integers(-2, 3)), 4), (6, h + 3), 1.0, 4, cv2.LINE_AA)
        paper = _paper(130, big.shape[1] + 110, rng)
        _lay(paper, big, 30, 30, 40.0)
        gap = int(rng.uniform(0.12, 0.22) * big.shape[0])
        _lay(paper, one, 30 + big.shape[1] + gap - 4, 26 + int(rng.integers(0, 20)), 40.0)
        blobs.append(_to_png(paper))
        texts.append(f"{y[k]}1")
    assert _scored(shipped_model, blobs, texts)[0] >= 28


def test_a_digit_written_half_the_size_of_its_neighbour_stays_a_digit(mnist, shipped_model):
    # a digit 0.5-0.55 x the height of the digit before it, apart from it: the rule for a
    # small whole digit beside a bigger one asked for 0.55 of the line's height, so it was
    # joined to its neighbour as a piece of it and the two read as one digit: 42 of 60 right
    # (11 read as one digit), now 58
    from recognizer.synth import _lay, _paper, _to_png, pen_digit

    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(61)
    blobs, texts = [], []
    for k in range(60):
        big = pen_digit(x[k], rng, height=64.0, pen=0.1)
        small = pen_digit(x[300 + k], rng, height=64.0 * float(rng.uniform(0.5, 0.55)), pen=0.1)
        paper = _paper(140, big.shape[1] + small.shape[1] + 100, rng)
        _lay(paper, big, 30, 40, 40.0)
        gap = int(rng.uniform(0.12, 0.25) * big.shape[0])
        top = 40 + int(rng.integers(-8, big.shape[0] - small.shape[0] + 1))
        _lay(paper, small, 30 + big.shape[1] + gap, top, 40.0)
        blobs.append(_to_png(paper))
        texts.append(f"{y[k]}{y[300 + k]}")
    assert _scored(shipped_model, blobs, texts)[0] >= 54


def test_three_touching_digits_are_cut_twice(mnist, shipped_model):
    # three digits, each touching the next: the best cut of the whole leaves one piece that
    # still holds two, and that piece is offered cuts in its turn (123 of 200 read right
    # with one cut, 136 with the second); the pair reader reads the run as three, so it is
    # cut where one digit stands alone and the rest cut again (this reader without that:
    # 163, with it: 180)
    from recognizer.synth import _lay, _paper, _to_png, pen_digit

    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(59)
    blobs, texts = [], []
    for k in range(200):
        idx = [k, 600 + k, 1200 + k]
        covs = [pen_digit(x[i], rng, height=48.0, pen=0.11) for i in idx]
        paper = _paper(110, sum(c.shape[1] for c in covs) + 80, rng)
        left = 30
        for c in covs:
            _lay(paper, c, left, 30, 40.0)
            left += c.shape[1] - int(rng.integers(1, 5))
        blobs.append(_to_png(paper))
        texts.append("".join(str(int(y[i])) for i in idx))
    assert _scored(shipped_model, blobs, texts)[0] >= 172


def test_rows_of_digits_are_read_row_by_row(mnist, shipped_model):
    # three rows of three digits on one page: top row first, each left to right -- not one
    # row, and not rows merged one above the other into a few tall "digits"
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(37)
    pages, texts = [], []
    for p in range(20):
        idx = np.arange(9 * p, 9 * p + 9).reshape(3, 3)
        pages.append(rows_png([[x[j] for j in row] for row in idx], rng))
        texts.append("".join(str(y[j]) for j in idx.ravel()))
    assert _scored(shipped_model, pages, texts)[0] >= 17


def test_a_column_of_single_digits_is_read_top_to_bottom(mnist, shipped_model):
    # four answers, one digit per row: no row has two digits side by side, the rows stand
    # well apart
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(43)
    pages = [rows_png([[x[j]] for j in range(4 * p, 4 * p + 4)], rng) for p in range(20)]
    texts = ["".join(str(y[j]) for j in range(4 * p, 4 * p + 4)) for p in range(20)]
    assert _scored(shipped_model, pages, texts)[0] >= 14


def test_a_stray_tick_beside_a_digit_is_not_read_as_a_digit(mnist, shipped_model):
    # a reviewer's small check mark (a quarter of the digit's height) next to the digit
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(29)
    tick = np.full((14, 14), 255, np.uint8)
    cv2.polylines(tick, [np.array([[1, 7], [5, 12], [12, 1]], np.int32)], False, 40, 2)
    blobs = []
    for i in range(30):
        page = cv2.imdecode(np.frombuffer(pen_png(x[i], rng, 0.06), np.uint8), 0)
        h, w = page.shape
        page = cv2.copyMakeBorder(page, 0, 0, 0, 60, cv2.BORDER_REPLICATE)
        page[h // 2 : h // 2 + 14, w + 20 : w + 34] = np.minimum(
            page[h // 2 : h // 2 + 14, w + 20 : w + 34], tick
        )
        blobs.append(cv2.imencode(".png", page)[1].tobytes())
    right, too_many = _scored(shipped_model, blobs, y[:30])
    assert too_many <= 2
    assert right >= 27


def test_a_digit_spilling_over_its_box_is_read(mnist, shipped_model):
    # the box 0.8 x the digit's size: its sides are shorter than the digit is tall
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(41)
    blobs = [boxed_png(x[i], rng, fill=0.8) for i in range(60)]
    assert _scored(shipped_model, blobs, y[:60])[0] >= 48


def test_a_box_whose_corners_a_stroke_crosses_is_still_a_box(mnist, shipped_model):
    # a stroke crossing a side near a corner lengthens that side's straight run past the
    # corner: the sides must still be taken for a frame (old: 225 of 240, 9 with extra digits;
    # model 20261128-064440: 233 and 3; 20261128-090046, trained on slashed zeros too: 230
    # and 6, the extras a "1" read from a side a "4" spills over)
    x, y = mnist["x_test"], mnist["y_test"]
    blobs, truth = [], []
    for seed in (47, 53, 59):
        rng = np.random.default_rng(seed)
        blobs += [boxed_png(x[i], rng, fill=0.8) for i in range(80)]
        truth += list(y[:80])
    right, too_many = _scored(shipped_model, blobs, truth)
    assert right >= 228 and too_many <= 6


def test_the_outer_edge_of_a_side_a_stroke_carries_on_is_taken_out_too(mnist, shipped_model):
    # a stroke that carries a side on past a corner lengthens the side's longest run, and the
    # side's anti-aliased outer edge fell out of its core: left behind, that 1 px line joined
    # the digit and was read as a "1" beside it ("7" as "71"; ``lines._outer_edges``: old
    # 763 of 800 right, 22 with extra digits; now 768 and 17)
    x, y = mnist["x_test"], mnist["y_test"]
    blobs, truth = [], []
    for seed in (61, 62):
        rng = np.random.default_rng(seed)
        blobs += [boxed_png(x[i], rng, fill=0.8) for i in range(400)]
        truth += list(y[:400])
    right, too_many = _scored(shipped_model, blobs, truth)
    assert right >= 767 and too_many <= 18


def test_line_mask_covers_the_box_not_the_digit(mnist):
    rng = np.random.default_rng(5)
    g = _gray(boxed_png(mnist["x_test"][0], rng))
    ink, _ = to_ink(g)
    seg = segment(ink)
    assert seg.lines is not None and seg.lines.any()
    assert len(seg.segments) == 1
    x, y, w, h = seg.segments[0].box
    # the digit's box lies well inside the image, not along the printed border
    assert w < 0.8 * g.shape[1] and h < 0.8 * g.shape[0]


def test_straight_strokes_of_digits_are_not_lines(mnist):
    # MNIST digits drawn large on paper: their bars and stems must survive untouched
    rng = np.random.default_rng(8)
    for i in range(40):
        g = _gray(pen_png(mnist["x_test"][i], rng, 0.12))
        ink, _ = to_ink(g)
        seg = segment(ink)
        assert seg.lines is None, i


def test_a_long_straight_stroke_drawn_on_a_canvas_is_not_a_form_line(shipped_model):
    # a "2" whose base was dragged straight with the mouse, 1.6 x as long as the digit is
    # tall: on paper that run would be an underline, but a drawing on a transparent canvas
    # has no printed lines (the base was taken out and the rest read "7")
    rgba = np.zeros((400, 400, 4), np.uint8)
    two = [(140, 150), (160, 118), (200, 105), (235, 125), (238, 165), (200, 215), (110, 265)]
    pts = np.array([*two, (370, 265)], np.int32)
    cv2.polylines(rgba, [pts], False, (30, 30, 30, 255), 14, cv2.LINE_AA)
    rec = shipped_model.recognize(cv2.imencode(".png", rgba)[1].tobytes())
    assert rec.text == "2"
    x, _, w, _ = rec.digits[0].box
    assert x + w > 360  # the base is part of the digit
    # a loop drawn round a digit is still no digit (it is not a form line)
    rgba[:] = 0
    seven = np.array([(160, 130), (245, 130), (190, 270)], np.int32)
    cv2.polylines(rgba, [seven], False, (30, 30, 30, 255), 14, cv2.LINE_AA)
    cv2.ellipse(rgba, (200, 200), (120, 130), 0, 0, 360, (30, 30, 30, 255), 10, cv2.LINE_AA)
    assert shipped_model.recognize(cv2.imencode(".png", rgba)[1].tobytes()).text == "7"


def test_comb_field_reads_left_to_right_and_skips_empty_boxes(mnist, shipped_model):
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(33)
    right = 0
    for t in range(12):
        idx = list(range(8 * t, 8 * t + 8))
        digits = [x[i] for i in idx]
        digits[2] = None
        digits[6] = None
        png, kept = comb_png(digits, rng)
        assert kept == [0, 1, 3, 4, 5, 7]
        r = shipped_model.recognize(png)
        truth = "".join(str(y[idx[k]]) for k in kept)
        right += r.text == truth
        xs = [d.box[0] for d in r.digits]
        assert xs == sorted(xs)
    assert right >= 10


def test_touching_digits_come_out_as_two_boxes_left_to_right(mnist, shipped_model):
    x, y = mnist["x_test"], mnist["y_test"]
    rng = np.random.default_rng(17)
    right = 0
    n = 30
    for k in range(n):
        i, j = 2 * k, 2 * k + 1
        r = shipped_model.recognize(touching_png(x[i], x[j], rng))
        if r.text == f"{y[i]}{y[j]}":
            right += 1
            a, b = r.digits
            assert a.box[0] < b.box[0]
            assert a.box[0] + a.box[2] <= b.box[0] + b.box[2]
    assert right >= 0.5 * n


def test_cut_candidates_find_the_gap_between_two_digits():
    crop = np.zeros((40, 60), np.uint8)
    crop[5:35, 5:25] = 255
    crop[5:35, 34:55] = 255
    crop[18:21, 25:34] = 255  # a thin bridge where the two touch
    cols = split.candidate_columns(crop)
    assert any(25 <= c <= 34 for c in cols)
    cuts = split.cuts(crop, (100, 10, 60, 40))
    assert cuts
    c = min(cuts, key=lambda c: c.ink_at_cut)
    (ax, _, aw, _), (bx, _, _, _) = c.boxes
    assert ax == 105 and ax + aw <= bx + 1


def test_review_flags_follow_the_threshold_in_the_metadata(mnist, shipped_model):
    from recognizer.evaluate import encode_png_batch

    thr = shipped_model.review_threshold
    assert thr == shipped_model.metadata["review_threshold"]
    assert 0.5 < thr < 1.0
    recs = shipped_model.recognize_many(encode_png_batch(mnist["x_test"][:300]))
    flagged = 0
    for r in recs:
        for d in r.digits:
            assert d.needs_review == (d.confidence < thr)
            assert d.to_dict()["needs_review"] == d.needs_review
            flagged += d.needs_review
        assert r.needs_review == any(d.needs_review for d in r.digits)
    assert 0 < flagged < 30  # a few doubtful digits, not most


def test_temperature_changes_the_confidence_not_the_label(mnist):
    from recognizer.evaluate import encode_png_batch

    a = load_model()
    b = load_model()
    b.metadata["temperature"] = 1.0
    blobs = encode_png_batch(mnist["x_test"][:50])
    ra, rb = a.recognize_many(blobs), b.recognize_many(blobs)
    assert [r.text for r in ra] == [r.text for r in rb]
    assert a.temperature != 1.0
    ca = [d.confidence for r in ra for d in r.digits]
    cb = [d.confidence for r in rb for d in r.digits]
    assert ca != cb


def test_ece_and_threshold_helpers():
    conf = np.array([0.99] * 100 + [0.6] * 100)
    correct = np.array([True] * 99 + [False] + [True] * 60 + [False] * 40)
    assert cal.ece(conf, correct) < 0.01
    assert cal.ece(np.full(100, 0.99), np.array([True] * 50 + [False] * 50)) > 0.4
    thr, kept = cal.review_threshold(np.array([0.99, 0.98, 0.97, 0.5]), np.array([1, 1, 0, 1]) > 0)
    assert thr == 0.98 and kept == 0.5


def test_calibrate_cli_writes_temperature_and_threshold(mnist_path, tmp_path):
    for src in model_files(DEFAULT_MODEL_PATH):
        shutil.copy(src, tmp_path / src.name)
    r = CliRunner().invoke(
        main,
        [
            "calibrate",
            "--data",
            str(mnist_path),
            "--model",
            str(tmp_path / "digits.skops"),
            "--pairs",
            "150",
            "--split-pairs",
            "40",
            "--piece-pairs",
            "30",
            "--heldout",
            "120",
        ],
    )
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "digits.json").read_text())
    assert 0.05 < meta["temperature"] < 20
    assert 0 < meta["review_threshold"] <= 1
    assert meta["touching"]["n_pairs"] > 50
    accept = meta["touching"]["accept"]
    assert accept["n_pairs"] == 40 and accept["n_singles"] == 80
    pieces = meta["touching"]["pieces"]
    assert pieces["n_pairs"] == 30 and len(pieces["w1"]) == len(pieces["mean"])
    assert len(accept["coef"]) == len(accept["mean"]) == 19 and "threshold" in accept
    assert "ece_after" in meta["calibration"]["mnist_test"]
    m = load_model(tmp_path / "digits.skops")
    assert m.review_threshold == meta["review_threshold"]


def test_line_finder_on_a_plain_grid():
    img = np.zeros((200, 300), np.uint8)
    cv2.rectangle(img, (20, 20), (120, 150), 255, 2)
    cv2.line(img, (10, 180), (290, 180), 255, 2)
    cv2.circle(img, (200, 80), 30, 255, 6)  # a "0" next to the box
    mask, thick = lines.find_lines(img)
    assert thick >= 2
    assert mask[180, 150] and mask[20, 70] and mask[85, 20]
    assert not mask[80, 170:231].any()  # the circle stays


def test_a_loop_standing_on_a_box_side_leaves_the_side_a_line():
    # the flat foot of a loop (a "6" overfilling its box) runs along the bottom side, with a
    # valley of shorter runs between them: rows at 0.9 of the longest on both sides of it.
    # One core from the first to the last was 12 px thick, no line, and the box was not
    # found at all; each is now a core of its own, and the side is the box's
    img = np.zeros((120, 120), np.uint8)
    cv2.rectangle(img, (30, 30), (80, 85), 255, 3)
    img[74, 30:81] = 255  # the foot, from side to side
    img[75:83, 40:71] = 255  # the loop's bottom, down to the side
    mask, thick = lines.find_lines(img)
    assert thick and mask[84, 55] and mask[60, 31] and mask[60, 79]
    assert not mask[74, 55] and not mask[78, 55]  # the loop stays


def _comb(line_from: int = 20, digits: bool = True) -> np.ndarray:
    """A comb, white on black (200 x 520): its line along rows 150-152 from ``line_from`` to
    x = 480, a tooth 3 px wide every 60 px from x = 50 (rows 118-149) and, with ``digits``,
    a "0" (a loop) above the line in each of the first six boxes."""
    b = np.zeros((200, 520), np.uint8)
    b[150:153, line_from:480] = 255
    for x in range(50, 480, 60):
        b[118:150, x : x + 3] = 255
    for x in range(60, 420, 60) if digits else ():
        cv2.ellipse(b, (x + 20, 100), (12, 22), 0, 0, 360, 255, 3)
    return b


@pytest.mark.parametrize("touch", ["runs on from it", "beside it"])
def test_a_comb_s_tooth_that_a_digit_touches_is_still_a_tooth(touch):
    # a stroke that runs on up from a tooth made its longest column longer than the rest,
    # and the tooth's core kept that column alone; a loop that touches a tooth's side made
    # one component with it that is no straight run, and it was no candidate at all. Either
    # way the tooth was left beside the digits and read as a "1" (old: none of its pixels
    # taken). A tooth is looked for at the comb's own spacing, as wide as its other teeth
    b = _comb()
    if touch == "runs on from it":
        cv2.line(b, (231, 60), (231, 118), 255, 2)
    else:
        cv2.ellipse(b, (243, 125), (12, 20), 0, 0, 360, 255, 3)
    mask, _ = lines.find_lines(b)
    tooth = b[122:148, 230:233] > 0
    assert np.count_nonzero(mask[122:148, 230:233][tooth]) == np.count_nonzero(tooth)
    assert not mask[60:80, 200:260].any()  # the digits' ink above the teeth stays


def test_strokes_that_stand_like_teeth_between_a_comb_s_teeth_are_off_its_grid():
    # a "1" close to a tooth and a "7"'s stem split the gaps between teeth: the median gap
    # (21 here) was taken for the step, the two strokes stood a step apart and were taken
    # out as teeth (old: every centre below kept)
    teeth = [0.0, 28.0, 56.0, 84.0, 112.0, 140.0]
    on = lines._comb_grid(np.array(sorted([*teeth, 64.0, 119.0, 7.0])))[0]
    assert [x for x, k in zip(sorted([*teeth, 64.0, 119.0, 7.0]), on, strict=True) if k] == teeth
    # a "1" in the middle of its box: half the step fits it, but leaves every other slot
    # empty; a tooth a digit hides leaves one slot empty, and the step stands
    xs = np.array([0.0, 28.0, 42.0, 56.0, 84.0, 112.0])
    assert lines._comb_grid(xs)[0].tolist() == [True, True, False, True, True, True]
    xs = np.array([0.0, 27.0, 55.0, 110.0, 137.0, 165.0, 192.0])
    on, step = lines._comb_grid(xs)
    assert on.all() and 27.0 <= step <= 28.0
    # three candidates 2 px apart (a tooth's edges, a stroke beside it) are no comb: a grid
    # that small had every slot filled, and teeth were looked for along the line on it
    on, step = lines._comb_grid(np.array([50.0, 52.0, 54.0]), least=10.0)
    assert not on.any() and step == 0.0


def test_a_form_photographed_turned_with_a_comb_whose_digits_stand_like_teeth_is_read(
    mnist, shipped_model
):
    """Combs of 8 boxes photographed turned 4-9 degrees (``bench.unseen``'s ``tilted_comb``):
    where a "1" or a "7"'s stem stood close to a tooth, it was taken out with the teeth
    (old: 131 of these 150 right; now 136)."""
    blobs, texts = _probe_rows(mnist, "tilted_comb", 2, 150)
    read = [r.text for r in shipped_model.recognize_many(blobs)]
    assert sum(r == t for r, t in zip(read, texts, strict=True)) >= 135


@pytest.mark.parametrize("end", [50, 470])
def test_a_comb_s_end_tooth_that_a_digit_touches_is_still_a_tooth(end):
    # a loop touching the comb's first (last) tooth makes one component with it that is no
    # straight run: the teeth the candidates miss were looked for between the first tooth
    # found and the last only, and an end tooth was left as a "1" (old: none of it taken)
    b = _comb(line_from=40)
    side = 1 if end == 50 else -1
    cv2.ellipse(b, (end + 1 + side * 13, 125), (12, 20), 0, 0, 360, 255, 3)
    mask, _ = lines.find_lines(b)
    tooth = b[122:148, end : end + 3] > 0
    assert np.count_nonzero(mask[122:148, end : end + 3][tooth]) == np.count_nonzero(tooth)


def test_teeth_digits_touch_are_looked_for_at_the_comb_s_own_step():
    # three teeth a loop touches are no candidates: the gaps between the teeth found were
    # 120, 60, 180 and 60 px, and their median (90), once taken for the step, put the
    # teeth looked for between the teeth (old: none of the three taken)
    b = _comb(line_from=40, digits=False)
    for x in (110, 290, 350):
        cv2.ellipse(b, (x + 14, 125), (12, 20), 0, 0, 360, 255, 3)
    mask, _ = lines.find_lines(b)
    for x in (110, 290, 350):
        tooth = b[122:148, x : x + 3] > 0
        assert np.count_nonzero(mask[122:148, x : x + 3][tooth]) == np.count_nonzero(tooth), x


def test_comb_teeth_that_run_through_their_line_and_fade_at_their_edges_are_lines(mnist):
    # a comb as a page turned level gives it: each tooth runs on past the line's core (its
    # square end turned slantwise), and its outer columns are fainter and shorter than its
    # core. Such teeth were not taken for teeth, and a tooth's outer column was left as a "1"
    img = np.zeros((200, 520), np.uint8)
    img[150:152, 30:500] = 255  # the comb's line
    for x in range(40, 500, 60):
        img[115:153, x : x + 2] = 255  # the tooth, a row past the line (rows 150-151)
        img[120:152, x - 1] = img[120:152, x + 2] = 255  # its faint edges
    for i, x in enumerate(range(52, 470, 60)):  # a digit in each box
        digit = cv2.resize(mnist["x_test"][i], (40, 40), interpolation=cv2.INTER_LINEAR)
        img[105:145, x : x + 40] = np.where(digit > 100, 255, 0)
    mask, thick = lines.find_lines(img)
    assert thick and mask[151, 250]
    for x in range(40, 500, 60):
        assert mask[130, x - 1 : x + 3].all() and mask[152, x : x + 2].all(), x
    assert not mask[105:146, 52:88].any()  # the digits stay


def test_step_picture_shows_line_removal_and_the_touching_split(shipped_model):
    from recognizer import preprocess_steps
    from web.pages import EXAMPLE_FORM

    png = EXAMPLE_FORM.read_bytes()
    names = [s[0] for s in preprocess_steps(png)]
    assert names.index("form lines") < names.index("segmentation") < names.index("touching digits")
    assert shipped_model.recognize(png).text == "427"


def _write(page: np.ndarray, digit: np.ndarray, x0: int, y0: int) -> None:
    """A test digit written dark on ``page`` at 2x (56 px, ~40 px of ink), its box at (x0, y0)."""
    ink = cv2.resize(digit, (56, 56), interpolation=cv2.INTER_LINEAR)
    box = page[y0 : y0 + 56, x0 : x0 + 56]
    np.minimum(box, 255 - ink, out=box)


def _labelled(
    digits: list[np.ndarray], label: str, size: float, gap: float, after: bool = False
) -> bytes:
    """Three test digits 40 px tall written right of a printed ``label`` (OpenCV's simplex
    font at ``size``), ``gap`` x their height clear of it; with ``after``, the label (a unit)
    printed right of the digits instead."""
    (tw, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, size, 2)
    left = 10 if after else 10 + tw + int(gap * 40)
    text_x = left + 60 * len(digits) + int(gap * 40) if after else 10
    page = np.full(
        (120, left + 60 * len(digits) + 20 + (tw + int(gap * 40)) * after), 245, np.uint8
    )
    cv2.putText(page, label, (text_x, 84), cv2.FONT_HERSHEY_SIMPLEX, size, 30, 2, cv2.LINE_AA)
    for k, d in enumerate(digits):
        _write(page, d, left + 60 * k, 30)
    return cv2.imencode(".png", page)[1].tobytes()


@pytest.mark.parametrize(("size", "gap"), [(0.6, 0.5), (0.75, 1.5)])
def test_a_printed_label_beside_the_digits_is_not_read(mnist, shipped_model, size, gap):
    # a label under 0.4 x the digits' height half a digit height away; or up to half their
    # height, a digit height or more away (old: every label read as one or two digits)
    x, y = mnist["x_test"], mnist["y_test"]
    labels = ["No.", "Total:", "Qty", "ID", "Ref"]
    blobs = [
        _labelled([x[3 * i + j] for j in range(3)], labels[i % 5], size, gap) for i in range(20)
    ]
    texts = ["".join(str(int(y[3 * i + j])) for j in range(3)) for i in range(20)]
    right, too_many = _scored(shipped_model, blobs, texts)
    assert too_many <= 1
    assert right >= 18


@pytest.mark.parametrize(
    ("labels", "after"),
    [(["No.", "Total:", "ID", "Ref"], False), (["kg", "cm", "mm", "pcs"], True)],
)
def test_a_printed_word_close_to_the_digits_is_not_read(mnist, shipped_model, labels, after):
    # a label before the digits or a unit after them, 0.45 x their height, a third of a digit
    # height away: too close for ``_aside``, taken out as a word (old: 12-16 of 20 read a
    # letter or the word as a digit)
    x, y = mnist["x_test"], mnist["y_test"]
    blobs = [
        _labelled([x[3 * i + j] for j in range(3)], labels[i % 4], 0.75, 0.35, after)
        for i in range(20)
    ]
    texts = ["".join(str(int(y[3 * i + j])) for j in range(3)) for i in range(20)]
    right, too_many = _scored(shipped_model, blobs, texts)
    assert too_many <= 1
    assert right >= 19


def _amount(digits: list[np.ndarray], comma: bool = False) -> bytes:
    """Four test digits ~40 px tall written as an amount, a round point 6 px across after the
    second (``"12.50"``), standing 2 px off the digits' boxes; with ``comma``, a comma after
    the first instead (``"1,250"``): a head on the baseline, a tail down to the left."""
    page = np.full((120, 60 * len(digits) + 80), 245, np.uint8)
    left = 20
    for k, d in enumerate(digits):
        _write(page, d, left, 30)
        left += 56
        if k == (0 if comma else 1):
            cv2.circle(page, (left + 5, 79), 3, 30, -1, cv2.LINE_AA)
            if comma:
                cv2.line(page, (left + 5, 79), (left + 2, 90), 30, 3, cv2.LINE_AA)
            left += 10
    return cv2.imencode(".png", page)[1].tobytes()


def test_a_decimal_point_is_no_part_of_a_digit(mnist, shipped_model):
    # the point down at the foot of the digit before it was joined to it as a broken-off
    # piece (old: 6 of 40 amounts misread, "0" + point as "9", or a digit too many)
    x, y = mnist["x_test"], mnist["y_test"]
    blobs = [_amount([x[4 * i + j] for j in range(4)]) for i in range(40)]
    texts = ["".join(str(int(y[4 * i + j])) for j in range(4)) for i in range(40)]
    right, too_many = _scored(shipped_model, blobs, texts)
    assert too_many == 0
    assert right >= 39


def test_a_thousands_comma_is_no_part_of_a_digit(mnist, shipped_model):
    # a comma hanging from the foot of the digit before it: joined to it as a broken-off
    # piece, or read as a "1" of its own (old: 6 of 40 right, 23 with a digit too many)
    x, y = mnist["x_test"], mnist["y_test"]
    blobs = [_amount([x[4 * i + j] for j in range(4)], comma=True) for i in range(40)]
    texts = ["".join(str(int(y[4 * i + j])) for j in range(4)) for i in range(40)]
    right, too_many = _scored(shipped_model, blobs, texts)
    assert too_many <= 2
    assert right >= 37


def _captioned(digits: list[np.ndarray], caption: str, gap: float) -> bytes:
    """Three test digits 40 px tall under a printed ``caption`` (OpenCV's simplex font at
    0.6), ``gap`` x their height below its baseline."""
    page = np.full((140, 60 * len(digits) + 40), 245, np.uint8)
    cv2.putText(page, caption, (12, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 30, 2, cv2.LINE_AA)
    top = 26 + int(gap * 40) - 8  # MNIST's 4 px margin, doubled
    for k, d in enumerate(digits):
        _write(page, d, 12 + 60 * k, top)
    return cv2.imencode(".png", page)[1].tobytes()


def test_a_printed_caption_over_the_digits_is_not_read(mnist, shipped_model):
    # too small for a line of its own, the caption went to the digits' line and was stacked
    # onto the first digit ("Qty" over a 5 read as a 2; old: 9 of 40 right)
    x, y = mnist["x_test"], mnist["y_test"]
    words = ["Amount", "Date", "Total", "Qty", "Postcode"]
    blobs = [_captioned([x[3 * i + j] for j in range(3)], words[i % 5], 0.4) for i in range(40)]
    texts = ["".join(str(int(y[3 * i + j])) for j in range(3)) for i in range(40)]
    right, too_many = _scored(shipped_model, blobs, texts)
    assert too_many <= 1
    assert right >= 38


def test_a_side_a_stroke_runs_along_is_still_a_side():
    # the stem of a "4" written along a box's right side, touching it for half its length:
    # the two make one straight candidate, whose longest run (the stem) used to be all that
    # was kept of it, so the side stayed behind and was read as a "1"
    img = np.zeros((200, 200), np.uint8)
    cv2.rectangle(img, (40, 40), (100, 130), 255, 3)
    img[30:140, 88:95] = 255  # the stem, taller than the box
    img[60:110, 95:99] = 255  # where it touches the side
    cv2.line(img, (50, 90), (88, 90), 255, 6)  # the bar
    mask, thick = lines.find_lines(img)
    assert thick >= 3
    assert mask[50, 100] and mask[120, 100] and mask[40, 70] and mask[130, 70]
    assert not mask[35, 88:95].any() and not mask[135, 88:95].any()  # the stem stays
