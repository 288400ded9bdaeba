"""Vectorized features for batches of normalized 28x28 digits.

deskew (second-order moments) -> Sobel gradient -> decomposed into 8 direction planes
(linear interpolation between the two nearest of 8 directions) -> each plane Gaussian-blurred and
sampled on a GRID x GRID grid (one matrix product) -> sqrt.  Plus a blurred, sampled copy of the
deskewed image itself.  Everything runs on the whole batch at once with numpy.
"""

from __future__ import annotations

import numpy as np

GRID = 7
SIGMA = 1.9
N_DIR = 8
SIZE = 28

DESCRIPTION = (
    f"deskew + {N_DIR}-direction Sobel gradient planes, Gaussian (sigma={SIGMA}) sampled on a "
    f"{GRID}x{GRID} grid, sqrt; + {GRID}x{GRID} blurred intensity"
)


def deskew(x: np.ndarray) -> np.ndarray:
    """Shear each image so that its principal axis is vertical.  x: (N, 28, 28) float32."""
    n = x.shape[0]
    ys = np.arange(SIZE, dtype=np.float32)
    m00 = x.sum(axis=(1, 2)) + 1e-6
    row = x.sum(axis=2)  # (N, 28) mass per row
    col = x.sum(axis=1)
    cy = (row * ys).sum(1) / m00
    cx = (col * ys).sum(1) / m00
    dy = ys[None, :] - cy[:, None]
    dx = ys[None, :] - cx[:, None]
    mu02 = (row * dy * dy).sum(1) / m00
    mu11 = np.einsum("nij,ni,nj->n", x, dy, dx) / m00
    skew = np.clip(mu11 / np.maximum(mu02, 1e-3), -1.0, 1.0)
    # dst(y, x) = src(y, x + skew * (y - cy))
    shift = skew[:, None] * (ys[None, :] - cy[:, None])  # (N, 28)
    xs = ys[None, None, :] + shift[:, :, None]  # (N, 28, 28)
    x0 = np.floor(xs)
    f = (xs - x0).astype(np.float32)
    x0 = x0.astype(np.int64)
    pad = np.zeros((n, SIZE, SIZE + 2), np.float32)
    pad[:, :, 1:-1] = x
    # the two neighbours of each sample, gathered by flat index (np.take is much cheaper than
    # take_along_axis's broadcast fancy indexing; same values)
    row = (np.arange(n * SIZE, dtype=np.int64) * (SIZE + 2)).reshape(n, SIZE, 1)
    i0 = np.clip(x0 + 1, 0, SIZE + 1)
    i0 += row
    i1 = np.clip(x0 + 2, 0, SIZE + 1)
    i1 += row
    flat = pad.reshape(-1)
    v0 = np.take(flat, i0)
    v1 = np.take(flat, i1)
    return v0 * (1 - f) + v1 * f


def _sampling_matrix(grid: int = GRID, sigma: float = SIGMA) -> np.ndarray:
    step = SIZE / grid
    centers = (np.arange(grid) + 0.5) * step - 0.5
    p = np.arange(SIZE, dtype=np.float64)
    g = np.exp(-((p[:, None] - centers[None, :]) ** 2) / (2 * sigma * sigma))  # (28, grid)
    g /= g.sum(0, keepdims=True)
    # separable: G[(y,x),(i,j)] = g[y,i] * g[x,j]
    return np.einsum("yi,xj->yxij", g, g).reshape(SIZE * SIZE, grid * grid).astype(np.float32)


_G = _sampling_matrix()
_GT = np.ascontiguousarray(_G.T)


_BASE_ROWS = 512
_BASE = (
    np.arange(_BASE_ROWS, dtype=np.int64)[:, None] * (N_DIR * SIZE * SIZE)
    + np.arange(SIZE * SIZE)[None, :]
)


def _base(n: int) -> np.ndarray:
    """Flat offsets of pixel p of image i in an (n, dir, pixel) array: i*dir*784 + p."""
    if n <= _BASE_ROWS:
        return _BASE[:n]
    npx = SIZE * SIZE
    return np.arange(n, dtype=np.int64)[:, None] * (N_DIR * npx) + np.arange(npx)[None, :]


# for code = 4 * (|gx| >= |gy|) + 2 * (gx > 0) + (gy > 0): the axis plane (0 = +x, 2 = +y,
# 4 = -x, 6 = -y; x when |gx| >= |gy|) and the diagonal plane (1, 3, 5, 7 by quadrant)
_AXIS_PLANE = np.array([6, 2, 6, 2, 4, 4, 0, 0], np.int64)
_DIAGONAL_PLANE = np.array([5, 3, 7, 1, 5, 3, 7, 1], np.int64)


def gradient_features(x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    # Sobel
    gx = (
        (p[:, :-2, 2:] - p[:, :-2, :-2])
        + 2 * (p[:, 1:-1, 2:] - p[:, 1:-1, :-2])
        + (p[:, 2:, 2:] - p[:, 2:, :-2])
    )
    gy = (
        (p[:, 2:, :-2] - p[:, :-2, :-2])
        + 2 * (p[:, 2:, 1:-1] - p[:, :-2, 1:-1])
        + (p[:, 2:, 2:] - p[:, :-2, 2:])
    )
    # parallelogram decomposition onto the two nearest of the 8 directions (Liu et al.):
    # |g| = a * axis + b * diagonal with a = max(|gx|,|gy|) - min(...), b = sqrt2 * min(...)
    ax, ay = np.abs(gx), np.abs(gy)
    mn = np.minimum(ax, ay)
    a = np.maximum(ax, ay) - mn
    b = mn * np.float32(np.sqrt(2.0))
    # direction planes by table look-up: code = 4 (|gx| >= |gy|) + 2 (gx > 0) + (gy > 0)
    code = (ax >= ay).astype(np.int64) << 2
    code |= (gx > 0) << 1
    code |= gy > 0
    ia = np.take(_AXIS_PLANE, code)
    idg = np.take(_DIAGONAL_PLANE, code)
    npx = SIZE * SIZE
    base = _base(n)
    planes = np.zeros(n * N_DIR * npx, np.float32)  # layout (n, dir, pixel)
    planes[base + ia.reshape(n, npx) * npx] = a.reshape(n, npx)
    planes[base + idg.reshape(n, npx) * npx] = b.reshape(n, npx)
    # blur + sample every plane with one matrix product: (n*8, 784) @ (784, grid^2)
    feats = planes.reshape(n * N_DIR, npx) @ _G
    return np.sqrt(np.maximum(feats, 0)).reshape(n, N_DIR * GRID * GRID)


def extract(images28: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 normalized digits -> (N, D) float32 features."""
    x = np.asarray(images28, dtype=np.float32).reshape(-1, SIZE, SIZE) * (1.0 / 255.0)
    if x.shape[0] == 0:
        return np.zeros((0, feature_dim()), np.float32)
    d = deskew(x)
    g = gradient_features(d) * 0.5
    inten = d.reshape(d.shape[0], -1) @ _G
    return np.concatenate([g, inten], axis=1).astype(np.float32)


def feature_dim() -> int:
    return N_DIR * GRID * GRID + GRID * GRID
