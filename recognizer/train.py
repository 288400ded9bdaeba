"""Training: augmented copies of MNIST (rotation and stretch, canvas redraws, "other writers
and scanners"), features, PCA and the RBF SVC, saved with its metadata by ``Model.save``.
Moved out of ``recognizer.model`` so that serving never imports what only training needs."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from . import convnet
from . import features as F
from .model import NETWORK_BELOW, NETWORK_TEMPERATURE, NETWORK_WEIGHT, Model
from .pipeline import normalize_training_images


def augment_images(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random small rotation (+-12 deg) and horizontal stretch (0.8..1.2) of raw digits."""
    out = np.empty_like(x)
    h, w = x.shape[1:3]
    c = ((w - 1) / 2.0, (h - 1) / 2.0)
    for i, img in enumerate(x):
        m = cv2.getRotationMatrix2D(c, float(rng.uniform(-12, 12)), 1.0).astype(np.float64)
        sx = float(rng.uniform(0.8, 1.2))
        m[0, :] *= sx
        m[0, 2] += c[0] * (1 - sx)
        out[i] = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR)
    return out


def _elastic(img: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
    h, w = img.shape
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * alpha
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * alpha
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + dx, gy + dy, cv2.INTER_LINEAR, borderValue=0)


#: drawing precision of the added strokes (cv2 shift: 1/16 px)
_SHIFT = 4


def _stroke_width(img: np.ndarray) -> int:
    """The mean stroke width of a white-on-black digit, in pixels (at least 1)."""
    mask = (img > 100).astype(np.uint8)
    if not mask.any():
        return 1
    dt = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    return max(1, round(2 * float(dt[mask > 0].mean())))


def _line(img: np.ndarray, p: tuple[float, float], q: tuple[float, float], width: int) -> None:
    s = 1 << _SHIFT
    a = (round(p[0] * s), round(p[1] * s))
    b = (round(q[0] * s), round(q[1] * s))
    cv2.line(img, a, b, 255, width, cv2.LINE_AA, _SHIFT)


def _ink_centre(row: np.ndarray) -> float | None:
    cols = np.nonzero(row > 100)[0]
    return float(cols.mean()) if len(cols) else None


#: the digits `writer_form` knows another writer's form of
WRITER_FORM_DIGITS = (0, 1, 7)


def writer_form(img: np.ndarray, label: int, rng: np.random.Generator) -> np.ndarray:
    """One raw digit (white on black) as a writer outside MNIST's might form it: a "1" gets a
    flag from its top down to the left (0.2-0.45 of its height, 20-60 degrees below the
    horizontal), a quarter of them also a foot; a "7" gets a bar across its stem, 40-62% of
    the way down; a "0" gets a slash from its upper right to its lower left (each end from
    just inside the ring to 0.15 of its size beyond). Other digits, and a digit whose stroke
    cannot be found where the stroke goes, are returned unchanged (a copy)."""
    out = img.copy()
    ys, xs = np.nonzero(img > 60)
    if label not in WRITER_FORM_DIGITS or len(ys) == 0:
        return out
    top, bottom = int(ys.min()), int(ys.max())
    h, w = bottom - top + 1, int(xs.max() - xs.min() + 1)
    width = _stroke_width(img)
    if label == 0:
        left, right = int(xs.min()), int(xs.max())
        a, b = rng.uniform(-0.05, 0.15, size=2)
        lean = float(rng.uniform(-0.1, 0.1)) * w
        upper, lower = (right + a * w + lean, top - a * h), (left - b * w - lean, bottom + b * h)
        _line(out, upper, lower, width)
        return out
    if label == 7:
        row = top + float(rng.uniform(0.4, 0.62)) * h
        c = _ink_centre(img[round(row)])
        if c is None:
            return out
        half = float(rng.uniform(0.15, 0.3)) * max(w, 0.6 * h)
        tilt = float(rng.uniform(-0.08, 0.08)) * half
        _line(out, (c - half, row + tilt), (c + half, row - tilt), width)
        return out
    y0 = top + 0.5 * width
    c = _ink_centre(img[round(y0)])
    if c is None:
        return out
    length = float(rng.uniform(0.2, 0.45)) * h
    angle = np.deg2rad(rng.uniform(20, 60))
    _line(out, (c, y0), (c - length * np.cos(angle), y0 + length * np.sin(angle)), width)
    if rng.random() < 0.25:
        y1 = bottom - 0.5 * width
        foot = _ink_centre(img[round(y1)])
        if foot is not None:
            half = float(rng.uniform(0.12, 0.25)) * h
            _line(out, (foot - half, y1), (foot + half, y1), width)
    return out


def writer_forms(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, share: float
) -> np.ndarray:
    """``x`` with a ``share`` of its 0s, 1s and 7s (chosen at random) in another writer's form
    (``writer_form``)."""
    if share <= 0:
        return x
    out = np.array(x, copy=True)
    for i in np.nonzero(np.isin(y, WRITER_FORM_DIGITS))[0]:
        if rng.random() < share:
            out[i] = writer_form(x[i], int(y[i]), rng)
    return out


def paper_augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One raw digit (white on black) as another writer and scanner might give it: elastic
    distortion, slant and rotation, then one of: reduced to 9-16 px and binarized then scaled
    back up, a thin pen, a thick pen, or plain binarization."""
    up = cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    if rng.random() < 0.7:
        up = _elastic(up, rng, float(rng.uniform(2, 5)), float(rng.uniform(4, 6)))
    h, w = up.shape
    c = ((w - 1) / 2.0, (h - 1) / 2.0)
    m = cv2.getRotationMatrix2D(c, float(rng.uniform(-15, 15)), 1.0)
    sh = float(rng.uniform(-0.3, 0.3))
    m[0, 1] += sh
    m[0, 2] -= sh * c[1]
    up = cv2.warpAffine(up, m, (w, h), flags=cv2.INTER_LINEAR)
    kind = rng.integers(4)
    if kind == 0:  # low resolution, binarized, scanned back up
        f = float(rng.uniform(0.35, 0.6))
        small = cv2.resize(up, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        small = np.where(small > rng.uniform(70, 140), 255, 0).astype(np.uint8)
        interp = cv2.INTER_NEAREST if rng.random() < 0.5 else cv2.INTER_LINEAR
        return cv2.resize(small, None, fx=2.0 / f, fy=2.0 / f, interpolation=interp)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    if kind == 1:  # thin pen
        return cv2.erode(up, k, iterations=int(rng.integers(1, 3)))
    if kind == 2:  # thick pen
        return cv2.dilate(up, k, iterations=int(rng.integers(1, 4)))
    return np.where(up > rng.uniform(60, 160), 255, 0).astype(np.uint8)


def stretch_augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One raw digit (white on black) as datasets that scale each digit to fill a square frame
    without keeping its aspect give it (USPS, Semeion, ...): its ink box stretched across
    (or, a wide digit, down) towards a square -- half the time all the way, else a random part
    of the way -- then, half the time, at 12-20 px and, half of those, binarized; else at
    its own size or twice it. A narrow "1" becomes a thick slanted block."""
    ys, xs = np.nonzero(img > 30)
    if len(ys) == 0:
        return img
    c = img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = c.shape
    side = max(h, w)
    t = 1.0 if rng.random() < 0.5 else float(rng.uniform(0.3, 1.0))
    tw, th = w + t * (side - w), h + t * (side - h)
    if rng.random() < 0.5:
        f = float(rng.uniform(12, 20)) / max(tw, th)
    else:
        f = float(rng.choice([1.0, 2.0]))
    nw, nh = max(1, round(tw * f)), max(1, round(th * f))
    d = cv2.resize(c, (nw, nh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    if f < 1 and rng.random() < 0.5:
        d = np.where(d > rng.uniform(60, 140), 255, 0).astype(np.uint8)
    return cv2.copyMakeBorder(d, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=0)


def paper_augment_images(
    x: np.ndarray, rng: np.random.Generator, stretch: float = 0.0
) -> list[np.ndarray]:
    """The other-writer/scanner copy; with ``stretch`` > 0 that share of it (chosen at random)
    is stretched to fill a square instead (``stretch_augment``)."""
    if stretch <= 0:
        return [paper_augment(img, rng) for img in x]
    return [
        stretch_augment(img, rng) if rng.random() < stretch else paper_augment(img, rng)
        for img in x
    ]


def _features_chunked(x: np.ndarray) -> np.ndarray:
    return np.concatenate([F.extract(x[i : i + 1000]) for i in range(0, len(x), 1000)])


def redraw_images(x: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Canvas-style copies: each digit re-drawn ~64 px tall with a brush of 15-30 px at 200 px
    (see ``synth.render_stroke``), as a user would draw it; sizes differ, hence a list."""
    from .synth import render_stroke

    covs = [render_stroke(img, 3.2, float(rng.uniform(4.8, 9.6))) for img in x]
    return [np.clip(c * 255.0 + 0.5, 0, 255).astype(np.uint8) for c in covs]


def vsv_transform(img: np.ndarray, rng: np.random.Generator, kind: int) -> np.ndarray:
    """A virtual support vector: one normalized 28x28 support-vector digit (white on black),
    transformed the way another writer might write it.  ``kind`` 0: mild elastic distortion +
    small rotation/shear/stretch; 1: pen width (thinner or thicker) + small rotation; 2: the
    "other writer/scanner" copy (``paper_augment``: elastic, slant, 16 px, binarized, pens)."""
    if kind == 2:
        return paper_augment(img, rng)
    up = cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    h, w = up.shape
    c = ((w - 1) / 2.0, (h - 1) / 2.0)
    if kind == 0:
        up = _elastic(up, rng, float(rng.uniform(2, 4)), float(rng.uniform(4, 6)))
    m = cv2.getRotationMatrix2D(c, float(rng.uniform(-10, 10)), 1.0)
    sh = float(rng.uniform(-0.2, 0.2))
    m[0, 1] += sh
    m[0, 2] -= sh * c[1]
    sx = float(rng.uniform(0.85, 1.15))
    m[0, :] *= sx
    m[0, 2] += c[0] * (1 - sx)
    up = cv2.warpAffine(up, m, (w, h), flags=cv2.INTER_LINEAR)
    if kind == 1:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        if rng.random() < 0.5:
            up = cv2.erode(up, k, iterations=1)
        else:
            up = cv2.dilate(up, k, iterations=int(rng.integers(1, 3)))
    return up


def training_images(
    x: np.ndarray,
    rng: np.random.Generator,
    *,
    augment: int,
    redraw: int,
    paper: int,
    say: Callable[[str], None],
    stretch: float = 0.0,
    stretch_copies: int = 0,
    y: np.ndarray | None = None,
    forms: float = 0.0,
    forms_rng: np.random.Generator | None = None,
) -> list[np.ndarray]:
    """The normalized training sets: the originals, then the augmented copies, in order.
    With labels ``y`` and ``forms`` > 0, that share of the 0s, 1s and 7s of each rotated,
    redrawn and other-writer copy is first given another writer's form (``writer_forms``).
    The forms draw from a generator of their own (``forms_rng``), so that every image is
    augmented exactly as without them."""

    def source() -> np.ndarray:
        if y is None or forms_rng is None:
            return x
        return writer_forms(x, y, forms_rng, forms)

    say(f"normalizing {len(x)} training images")
    sets = [normalize_training_images(x)]
    for a in range(augment):
        say(f"rotation/stretch copy {a + 1}/{augment}")
        sets.append(normalize_training_images(augment_images(source(), rng)))
    for a in range(redraw):
        say(f"canvas-style redrawn copy {a + 1}/{redraw}")
        sets.append(normalize_training_images(redraw_images(source(), rng)))
    for a in range(paper):
        say(f"other-writer/scanner copy {a + 1}/{paper} (resolution, binarization, pen, elastic)")
        sets.append(normalize_training_images(paper_augment_images(source(), rng, stretch)))
    for a in range(stretch_copies):
        say(f"stretched-to-fill copy {a + 1}/{stretch_copies}")
        sets.append(normalize_training_images([stretch_augment(img, rng) for img in x]))
    return sets


def second_opinion_text(network: convnet.ConvNet) -> str:
    """The network's part in a line (the model page shows it)."""
    mix = (
        f"where the SVC gives a digit under {NETWORK_BELOW}, its softmax at temperature "
        f"{NETWORK_TEMPERATURE} is mixed in with weight {NETWORK_WEIGHT}"
    )
    return f"a small convolutional network ({network.describe()}; {convnet.recipe()}); {mix}"


def fit_svc(z: np.ndarray, y: np.ndarray, C: float, gamma: float, seed: int) -> Any:
    from sklearn.svm import SVC

    svc = SVC(C=C, gamma=gamma, kernel="rbf", cache_size=2000, random_state=seed)
    svc.fit(z, y)
    return svc


def virtual_sv_images(
    xn: np.ndarray, sv: np.ndarray, copies: int, rng: np.random.Generator
) -> np.ndarray:
    """``copies`` transformed, re-normalized copies of the support vectors' images: copy k is
    of kind k % 3 (see ``vsv_transform``)."""
    out = []
    for k in range(copies):
        imgs = [vsv_transform(xn[i], rng, k % 3) for i in sv]
        out.append(normalize_training_images(imgs))
    return np.concatenate(out) if out else np.zeros((0, 28, 28), np.uint8)


def train_model(
    x: np.ndarray,
    y: np.ndarray,
    *,
    progress: Callable[[str], None] | None = None,
    augment: int = 1,
    redraw: int = 0,
    paper: int = 0,
    stretch: float = 0.0,
    stretch_copies: int = 0,
    vsv: int = 0,
    vsv_keep_all: bool = False,
    C: float = 10.0,
    pca: int | None = 120,
    seed: int = 0,
    convnet_epochs: int = 0,
    forms: float = 0.0,
    data_sha256: str | None = None,
    **extra_metadata: object,
) -> Model:
    """Fit the recognizer on raw single-digit images (N, h, w) uint8 white-on-black.

    Every image -- plus ``augment`` rotated/stretched copies, ``redraw`` canvas-style re-drawn
    copies and ``paper`` other-writer/scanner copies of it (a ``stretch`` share of them
    stretched to fill a square instead; in these three, a ``forms`` share of the 0s, 1s and 7s
    in another writer's form) and ``stretch_copies`` stretched copies -- is put
    through the same normalization as inference, then gradient features, then (optionally)
    PCA, then an RBF SVC.
    With ``vsv`` > 0 the SVC is then fitted again (virtual support vectors, Schoelkopf et al.)
    on its support vectors plus ``vsv`` transformed copies of each (``virtual_sv_images``);
    with ``vsv_keep_all`` on the whole training set plus those copies.
    With ``convnet_epochs`` > 0 a small network (``convnet``) is trained on the same
    normalized images as the SVC's second opinion."""
    import sklearn
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline

    say = progress or (lambda msg: None)
    x = np.asarray(x)
    y = np.asarray(y).astype(np.int64)
    t0 = time.time()
    rng = np.random.default_rng(seed)
    sets = training_images(
        x,
        rng,
        augment=augment,
        redraw=redraw,
        paper=paper,
        say=say,
        stretch=stretch,
        stretch_copies=stretch_copies,
        y=y,
        forms=forms,
        forms_rng=np.random.default_rng([seed, 1]),
    )
    xn = np.concatenate(sets)
    yn = np.tile(y, len(sets))
    del sets
    network = None
    if convnet_epochs:
        say(f"training the network ({convnet_epochs} epochs of {len(xn)} images)")
        t_net = time.time()
        network = convnet.train(xn, yn, epochs=convnet_epochs, seed=seed, progress=say)
        net_seconds = time.time() - t_net
    say(f"extracting features of {len(xn)} images")
    feats = _features_chunked(xn)
    if not vsv:
        del xn
    steps = []
    k = min(pca or 0, feats.shape[1], len(feats))
    p = None
    if k:
        say(f"PCA {feats.shape[1]} -> {k} dimensions")
        p = PCA(n_components=k, random_state=seed).fit(feats[:: max(1, len(feats) // 40000)])
        steps.append(("pca", p))
        z = p.transform(feats).astype(np.float32)
    else:
        z = feats
    feature_dim = int(feats.shape[1])
    del feats
    gamma = float(1.0 / (z.shape[1] * z.var()))
    say(f"fitting RBF SVC (C={C}, gamma={gamma:.4f}) on {z.shape[0]}x{z.shape[1]}")
    svc = fit_svc(z, yn, C, gamma, seed)
    n_images = len(yn)
    first_sv = int(svc.support_vectors_.shape[0])
    if vsv:
        sv = np.asarray(svc.support_)
        say(f"{len(sv)} support vectors; {vsv} virtual copies of each")
        xv = virtual_sv_images(xn, sv, vsv, rng)
        del xn
        fv = _features_chunked(xv)
        zv = p.transform(fv).astype(np.float32) if p is not None else fv
        yv = np.tile(yn[sv], vsv)
        if vsv_keep_all:
            z2, y2 = np.concatenate([z, zv]), np.concatenate([yn, yv])
        else:
            z2, y2 = np.concatenate([z[sv], zv]), np.concatenate([yn[sv], yv])
        del z
        say(f"fitting RBF SVC again on {z2.shape[0]}x{z2.shape[1]} (support + virtual vectors)")
        svc = fit_svc(z2, y2, C, gamma, seed)
        n_images += len(yv)
    steps.append(("svc", svc))
    estimator = Pipeline(steps) if len(steps) > 1 else svc
    elapsed = time.time() - t0
    say(f"fitted in {elapsed:.0f}s with {svc.support_vectors_.shape[0]} support vectors")
    created = _dt.datetime.now(_dt.UTC).replace(microsecond=0)
    metadata = {
        "version": created.strftime("%Y%m%d-%H%M%S")
        + (f"-{data_sha256[:8]}" if data_sha256 else ""),
        "created": created.isoformat(),
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "opencv_version": cv2.__version__,
        "training_data_sha256": data_sha256,
        "train_size": int(len(x)),
        "augment_copies": int(augment),
        "redraw_copies": int(redraw),
        "paper_copies": int(paper),
        "stretch_share": float(stretch),
        "stretch_copies": int(stretch_copies),
        "writer_forms": float(forms),
        "vsv_copies": int(vsv),
        "vsv_keep_all": bool(vsv_keep_all),
        "seed": int(seed),
        "training_images": int(n_images),
        "features": F.DESCRIPTION,
        "feature_dim": feature_dim,
        "feature_grid": F.GRID,
        "feature_sigma": F.SIGMA,
        "pca_components": int(k),
        "classifier": f"RBF SVC C={C} gamma={gamma:.5f}, vectorized one-vs-one prediction, "
        "probabilities by pairwise coupling",
        "n_support_vectors": int(svc.support_vectors_.shape[0]),
        "training_seconds": round(elapsed, 1),
        "normalization": "stroke-width normalized, 20x20 box, center of mass in 28x28",
    }
    if vsv:
        metadata["first_fit_support_vectors"] = first_sv
    if network is not None:
        metadata["second_opinion"] = second_opinion_text(network)
        metadata["convnet"] = {
            "description": network.describe(),
            "training": convnet.recipe(),
            "epochs": int(convnet_epochs),
            "below": NETWORK_BELOW,
            "weight": NETWORK_WEIGHT,
            "temperature": NETWORK_TEMPERATURE,
            "training_seconds": round(net_seconds, 1),
        }
    metadata.update(extra_metadata)
    return Model(estimator, metadata, network=network)
