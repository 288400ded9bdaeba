"""Training: augmented copies of MNIST (rotation and stretch, canvas redraws, "other writers
and scanners"), features, PCA and the RBF SVC, saved with its metadata by ``Model.save``.
Moved out of ``recognizer.model`` so that serving never imports what only training needs."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable

import cv2
import numpy as np

from . import features as F
from .model import Model
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


def paper_augment_images(x: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    return [paper_augment(img, rng) for img in x]


def _features_chunked(x: np.ndarray) -> np.ndarray:
    return np.concatenate([F.extract(x[i : i + 1000]) for i in range(0, len(x), 1000)])


def redraw_images(x: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Canvas-style copies: each digit re-drawn ~64 px tall with a brush of 15-30 px at 200 px
    (see ``synth.render_stroke``), as a user would draw it; sizes differ, hence a list."""
    from .synth import render_stroke

    covs = [render_stroke(img, 3.2, float(rng.uniform(4.8, 9.6))) for img in x]
    return [np.clip(c * 255.0 + 0.5, 0, 255).astype(np.uint8) for c in covs]


def train_model(
    x: np.ndarray,
    y: np.ndarray,
    *,
    progress: Callable[[str], None] | None = None,
    augment: int = 1,
    redraw: int = 0,
    paper: int = 0,
    C: float = 10.0,
    pca: int | None = 120,
    seed: int = 0,
    data_sha256: str | None = None,
    **extra_metadata: object,
) -> Model:
    """Fit the recognizer on raw single-digit images (N, h, w) uint8 white-on-black.

    Every image -- plus ``augment`` rotated/stretched copies and ``redraw`` canvas-style
    re-drawn copies of it -- is put through the same normalization as inference, then gradient
    features, then (optionally) PCA, then an RBF SVC."""
    import sklearn
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.svm import SVC

    say = progress or (lambda msg: None)
    x = np.asarray(x)
    y = np.asarray(y).astype(np.int64)
    t0 = time.time()
    rng = np.random.default_rng(seed)
    say(f"normalizing {len(x)} training images")
    sets = [normalize_training_images(x)]
    for a in range(augment):
        say(f"rotation/stretch copy {a + 1}/{augment}")
        sets.append(normalize_training_images(augment_images(x, rng)))
    for a in range(redraw):
        say(f"canvas-style redrawn copy {a + 1}/{redraw}")
        sets.append(normalize_training_images(redraw_images(x, rng)))
    for a in range(paper):
        say(f"other-writer/scanner copy {a + 1}/{paper} (resolution, binarization, pen, elastic)")
        sets.append(normalize_training_images(paper_augment_images(x, rng)))
    xn = np.concatenate(sets)
    yn = np.tile(y, len(sets))
    del sets
    say(f"extracting features of {len(xn)} images")
    feats = _features_chunked(xn)
    del xn
    steps = []
    k = min(pca or 0, feats.shape[1], len(feats))
    if k:
        say(f"PCA {feats.shape[1]} -> {k} dimensions")
        p = PCA(n_components=k, random_state=seed).fit(feats[:: max(1, len(feats) // 40000)])
        steps.append(("pca", p))
        z = p.transform(feats).astype(np.float32)
    else:
        z = feats
    gamma = float(1.0 / (z.shape[1] * z.var()))
    say(f"fitting RBF SVC (C={C}, gamma={gamma:.4f}) on {z.shape[0]}x{z.shape[1]}")
    svc = SVC(C=C, gamma=gamma, kernel="rbf", cache_size=2000, random_state=seed)
    svc.fit(z, yn)
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
        "training_images": int(len(yn)),
        "features": F.DESCRIPTION,
        "feature_dim": int(feats.shape[1]),
        "feature_grid": F.GRID,
        "feature_sigma": F.SIGMA,
        "pca_components": int(k),
        "classifier": f"RBF SVC C={C} gamma={gamma:.5f}, vectorized one-vs-one prediction, "
        "probabilities by pairwise coupling",
        "n_support_vectors": int(svc.support_vectors_.shape[0]),
        "training_seconds": round(elapsed, 1),
        "normalization": "stroke-width normalized, 20x20 box, center of mass in 28x28",
    }
    metadata.update(extra_metadata)
    return Model(estimator, metadata)
