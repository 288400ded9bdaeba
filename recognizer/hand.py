"""One writer's hand across the digits of one image: a "7" crossed tells how its "1"s look.

Much of Europe crosses its 7s because it writes its 1s with a long flag from the top: such a
"1" is the shape of an uncrossed "7", and read alone it is one (on strings in a continental
hand, 89 of 1,731 flagged 1s read as 7, most with P(1) 0.06-0.48, where 99 of 100 7s had under
0.0005). A string that holds a crossed "7" was written in such a hand, so there a "7" with no
bar is a "1" unless the classifier is ten times surer of the 7 (``UNCROSSED``): the prior
of an uncrossed "7" in a hand that crosses them. Only a "7" read so becomes a "1";
nothing else changes, and a string with no crossed "7" is left as it was read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: a digit's ink: the normalized 28 x 28 image at or above this
INK = 100
#: the middle of a digit, where a "7" is crossed: this share of its height down, from ... to
MIDDLE = (0.3, 0.8)
#: a bar: the longest row of ink in the middle this many px longer than the median row's
#: (in the 28 x 28 normalized image, whose digit is 20 px tall). On dev strings a crossed
#: "7" measured 5 or more 95 times in 100, a flagged "1" read as "7" at most 3
BAR = 5
#: a crossed "7" tells the hand only when read at least this surely
SURE = 0.9
#: in a hand that crosses its 7s, a "7" with no bar is taken for a "1" unless P(7) is more
#: than 1 / UNCROSSED times P(1). Chosen on dev strings (MNIST train 50,000-59,999): at 0.05,
#: 51 of 1,500 continental strings mended and 3 of 3,000 rows of digits from many writers
#: (one of them crossing a "7") spoilt; at 0.1, 48 and 2; at 0.15, 43 and 1
UNCROSSED = 0.1
SEVEN, ONE = 7, 1


def bar(img28: np.ndarray) -> int:
    """How much longer (px) the longest run of ink along a row in the middle of the digit
    (``MIDDLE``) is than the median row's there: a bar across a stem. 0 without ink."""
    ink = np.asarray(img28) >= INK
    rows = np.flatnonzero(ink.any(1))
    if len(rows) == 0:
        return 0
    top, height = int(rows[0]), int(rows[-1] - rows[0] + 1)
    band = ink[top + int(MIDDLE[0] * height) : top + int(MIDDLE[1] * height) + 1]
    runs = [_longest_run(r) for r in band]
    return int(max(runs) - np.median(runs))


def _longest_run(row: np.ndarray) -> int:
    edges = np.flatnonzero(np.diff(np.concatenate(([0], row.astype(np.int8), [0]))))
    return int((edges[1::2] - edges[::2]).max()) if len(edges) else 0


def crossed_hand(
    labels: Sequence[int], probs: Sequence[np.ndarray], images: Sequence[np.ndarray]
) -> bool:
    """Whether one image's digits hold a "7" read surely (``SURE``) and crossed (``BAR``)."""
    return any(
        lab == SEVEN and p[SEVEN] >= SURE and bar(img) >= BAR
        for lab, p, img in zip(labels, probs, images, strict=True)
    )


def as_one(p: np.ndarray, img28: np.ndarray) -> np.ndarray | None:
    """In a crossed hand: the probabilities of a digit read "7" with no bar, the "7" weighed
    by ``UNCROSSED``, when a "1" is then likeliest; else None (the reading stands)."""
    if int(np.argmax(p)) != SEVEN or bar(img28) >= BAR:
        return None
    q = np.array(p, dtype=np.float64)
    q[SEVEN] *= UNCROSSED
    q /= q.sum()
    return q if int(np.argmax(q)) == ONE else None
