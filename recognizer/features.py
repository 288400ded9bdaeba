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
    f = np.subtract(xs, x0, out=xs).astype(np.float32, copy=False)
    pad = np.zeros((n, SIZE, SIZE + 2), np.float32)
    pad[:, :, 1:-1] = x
    # the two neighbours of each sample, gathered by flat index (np.take is much cheaper than
    # take_along_axis's broadcast fancy indexing; same values)
    row = (np.arange(n * SIZE, dtype=np.int64) * (SIZE + 2)).reshape(n, SIZE, 1)
    flat = pad.reshape(-1)
    x0 += 1.0
    v0 = np.take(flat, _column(x0, row))
    x0 += 1.0
    v1 = np.take(flat, _column(x0, row))
    # v0 (1 - f) + v1 f, in place (same roundings)
    w0 = np.subtract(1, f)
    w0 *= v0
    v1 *= f
    w0 += v1
    return w0


def _column(c: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Flat indices ``row + clip(c, 0, SIZE + 1)`` of the whole-number float32 columns ``c``
    (clipped as floats, which hold such small whole numbers exactly: cheaper than int64)."""
    i = np.minimum(np.maximum(c, 0.0), np.float32(SIZE + 1)).astype(np.int64)
    i += row
    return i


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


def _split(
    v: np.ndarray,
    first: np.ndarray,
    pos1: np.ndarray,
    plane1: np.ndarray,
    neg1: np.ndarray,
    pos2: np.ndarray,
    plane2: np.ndarray,
    neg2: np.ndarray,
) -> None:
    """Write ``v`` (>= 0, shape (n, 28, 28)) into four (n, 784) planes: where ``first`` into
    ``plane1`` where ``pos1`` else ``neg1``; elsewhere into ``plane2`` where ``pos2`` else
    ``neg2``; 0 in the other three. Products with 0/1 and differences of equal values are
    exact: the planes are those of a scatter into zeros, with no zeroing or indices."""
    n = v.shape[0]
    v = v.reshape(n, -1)
    v1 = np.multiply(v, first.reshape(n, -1))
    np.multiply(v1, pos1.reshape(n, -1), out=plane1)
    np.subtract(v1, plane1, out=neg1)
    v2 = np.subtract(v, v1, out=v1)
    np.multiply(v2, pos2.reshape(n, -1), out=plane2)
    np.subtract(v2, plane2, out=neg2)


def gradient_features(x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    # Sobel: (d[y-1] + 2 d[y]) + d[y+1] of the central differences d, each difference taken
    # once for the three rows (columns) that use it (same values, same order of additions)
    dx = p[:, :, 2:] - p[:, :, :-2]  # (n, 30, 28)
    gx = dx[:, :-2] + 2 * dx[:, 1:-1]
    gx += dx[:, 2:]
    dy = p[:, 2:, :] - p[:, :-2, :]  # (n, 28, 30)
    gy = dy[:, :, :-2] + 2 * dy[:, :, 1:-1]
    gy += dy[:, :, 2:]
    # parallelogram decomposition onto the two nearest of the 8 directions (Liu et al.):
    # |g| = a * axis + b * diagonal with a = max(|gx|,|gy|) - min(...), b = sqrt2 * min(...)
    ax, ay = np.abs(gx), np.abs(gy)
    mn = np.minimum(ax, ay)
    a = np.maximum(ax, ay) - mn
    b = mn * np.float32(np.sqrt(2.0))
    npx = SIZE * SIZE
    planes = np.empty((n, N_DIR, npx), np.float32)
    px, py = gx > 0, gy > 0
    # axis planes: x (0 = +x, 4 = -x) where |gx| >= |gy|, else y (2 = +y, 6 = -y); diagonal
    # planes by quadrant: 1 (+x +y), 3 (-x +y), 7 (+x -y), 5 (-x -y)
    _split(a, ax >= ay, px, planes[:, 0], planes[:, 4], py, planes[:, 2], planes[:, 6])
    _split(b, py, px, planes[:, 1], planes[:, 3], px, planes[:, 7], planes[:, 5])
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
