"""A small convolutional network in NumPy: the classifier's second opinion.

The RBF SVC on gradient features is near its ceiling (every second opinion on the same
features moved the validation figures by +-0.03 points, bench/RESULTS.md). A network that
learns its own features errs on other digits, so where the SVC is unsure the two opinions are
averaged (``model.Model``). Training and inference are plain NumPy -- windows of the input
times a weight matrix (im2col) -- so neither serving nor training needs another dependency.

The network: 5x5 convolution to c1 channels, ReLU, 2x2 max pooling; 5x5 convolution to c2
channels, ReLU, 2x2 max pooling; 16*c2 -> h dense, ReLU (dropout while training); h -> 10. The
widths are read from the stored weights (``describe``). Inputs are the normalized 28x28 digits
(white on black), scaled to 0..1.

Training splits each batch into pieces of ``PIECE`` digits whose gradients are computed on a
pool of threads (NumPy releases the GIL in its loops and matrix products), with the BLAS held
to one thread and freed memory kept for reuse (``_reuse_freed_memory``): on 2 cores an epoch
takes a third to a quarter of the time one batch on a 2-thread BLAS took. The pieces' sum is
taken in a fixed order, so the result does not depend on the scheduling.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

KERNEL = 5
#: the convolutions' and the hidden layer's widths of a new network
CHANNELS = (24, 48)
HIDDEN = 128
CLASSES = 10
#: names of the weight arrays, in the order of the layers
NAMES = ("w1", "b1", "w2", "b2", "w3", "b3", "w4", "b4")
#: digits per matrix product at inference (keeps the windows of a chunk a few MB)
CHUNK = 256
#: digits per gradient piece in training (small enough for a piece's windows to stay in cache)
PIECE = 32
#: training's defaults that ``recipe`` names: the largest move of a digit (px), the dropout
SHIFT = 2
DROPOUT = 0.3


def weight_shapes(
    channels: tuple[int, int] = CHANNELS,
    hidden: int = HIDDEN,
    size: tuple[int, int] = (28, 28),
    outputs: int = CLASSES,
) -> tuple[tuple[int, ...], ...]:
    """The weight matrices' shapes, layer by layer (a bias has its matrix's last dimension),
    for inputs of ``size`` (height, width) and ``outputs`` logits."""
    c1, c2 = channels
    fh, fw = (_features_side(n) for n in size)
    return (
        (KERNEL, KERNEL, 1, c1),
        (KERNEL, KERNEL, c1, c2),
        (c2 * fh * fw, hidden),
        (hidden, outputs),
    )


def _features_side(n: int) -> int:
    """A side of the last pooled map: two (valid 5x5 convolution, 2x2 pool) steps."""
    return ((n - KERNEL + 1) // 2 - KERNEL + 1) // 2


def _windows(x: np.ndarray) -> np.ndarray:
    """(N, H, W, C) -> (N * H' * W', k * k * C): every k x k window as a row (a copy).

    One channel (the first layer's input) is copied a window row at a time, then a window
    column at a time: the same rows, in under half the time of the general copy."""
    if x.shape[3] == 1:
        return _windows_one_channel(x)
    v = np.lib.stride_tricks.sliding_window_view(x, (KERNEL, KERNEL), axis=(1, 2))
    n, h, w = v.shape[:3]
    return np.ascontiguousarray(v.transpose(0, 1, 2, 4, 5, 3)).reshape(n * h * w, -1)


def _windows_one_channel(x: np.ndarray) -> np.ndarray:
    n, h, w, c = x.shape
    oh, ow = h - KERNEL + 1, w - KERNEL + 1
    rows = np.empty((n, oh, w, KERNEL, c), x.dtype)
    for i in range(KERNEL):
        rows[:, :, :, i] = x[:, i : i + oh]
    out = np.empty((n, oh, ow, KERNEL, KERNEL, c), x.dtype)
    for j in range(KERNEL):
        out[:, :, :, :, j] = rows[:, :, j : j + ow]
    return out.reshape(n * oh * ow, -1)


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Valid convolution of (N, H, W, C) by (k, k, C, C'): the output and the windows."""
    n, h, ww = x.shape[0], x.shape[1] - KERNEL + 1, x.shape[2] - KERNEL + 1
    cols = _windows(x)
    out = cols @ w.reshape(-1, w.shape[3]) + b
    return out.reshape(n, h, ww, -1), cols


def _pool(x: np.ndarray) -> np.ndarray:
    """2x2 max pooling of (N, H, W, C) (four strided views: faster than a reshaped max)."""
    top = np.maximum(x[:, 0::2, 0::2], x[:, 0::2, 1::2])
    return np.maximum(top, np.maximum(x[:, 1::2, 0::2], x[:, 1::2, 1::2]), out=top)


def _unpool_relu(x: np.ndarray, pooled: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """The gradient of 2x2 max pooling of ReLU outputs ``x``: to the places that held the
    maximum, where it is above 0. (A window whose maximum is 0 holds only 0s, so the ReLU's
    own mask is the pooled one's: a quarter of the work of masking ``x``.)"""
    n, h, w, c = x.shape
    v = x.reshape(n, h // 2, 2, w // 2, 2, c)
    mask = v == pooled[:, :, None, :, None, :]
    live = grad * (pooled > 0)
    return (mask * live[:, :, None, :, None, :]).reshape(x.shape)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _inputs(images28: np.ndarray) -> np.ndarray:
    return (np.asarray(images28, np.float32) / np.float32(255.0))[..., None]


@dataclass
class ConvNet:
    """The network's weights (float32); ``logits`` of normalized 28x28 digits. ``heads``:
    the sizes of the softmax groups the logits fall into (one of 10 classes for a digit
    reader; a pair reader has one per digit, ``pairs``)."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    w3: np.ndarray
    b3: np.ndarray
    w4: np.ndarray
    b4: np.ndarray
    heads: tuple[int, ...] = (CLASSES,)

    @classmethod
    def initial(
        cls,
        rng: np.random.Generator,
        channels: tuple[int, int] = CHANNELS,
        hidden: int = HIDDEN,
        size: tuple[int, int] = (28, 28),
        heads: tuple[int, ...] = (CLASSES,),
    ) -> ConvNet:
        """He-initialized weights, zero biases."""
        ws = []
        for s in weight_shapes(channels, hidden, size, sum(heads)):
            fan_in = int(np.prod(s[:-1]))
            ws.append(rng.normal(0.0, np.sqrt(2.0 / fan_in), s).astype(np.float32))
            ws.append(np.zeros(s[-1], np.float32))
        return cls(**dict(zip(NAMES, ws, strict=True)), heads=tuple(heads))

    @classmethod
    def from_arrays(
        cls,
        arrays: dict[str, np.ndarray],
        size: tuple[int, int] = (28, 28),
        heads: tuple[int, ...] = (CLASSES,),
    ) -> ConvNet:
        """From stored arrays; ValueError unless every one has its layer's shape for inputs
        of ``size`` and ``heads``. The widths are read from ``w1``, ``w2`` and ``w3``, so a
        wider network loads as well."""
        dims = {k: np.shape(arrays.get(k, ())) for k in ("w1", "w2", "w3")}
        if [len(d) for d in dims.values()] != [4, 4, 2]:
            raise ValueError("w1, w2, w3: expected arrays of 4, 4 and 2 dimensions")
        widths = (dims["w1"][3], dims["w2"][3])
        layers = weight_shapes(widths, dims["w3"][1], size, sum(heads))
        shapes = [t for s in layers for t in (s, s[-1:])]
        out = []
        for name, shape in zip(NAMES, shapes, strict=True):
            if name not in arrays or np.shape(arrays[name]) != shape:
                raise ValueError(f"{name}: expected an array of shape {shape}")
            out.append(np.asarray(arrays[name], np.float32))
        return cls(**dict(zip(NAMES, out, strict=True)), heads=tuple(heads))

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in NAMES}

    def describe(self) -> str:
        """The layers in a line (the model's metadata and page show it)."""
        c1, c2, h = self.w1.shape[3], self.w2.shape[3], self.w3.shape[1]
        return (
            f"5x5 conv {c1}, ReLU, 2x2 max pool; 5x5 conv {c2}, ReLU, 2x2 max pool; "
            f"dense {h}, ReLU; dense {self.w4.shape[1]} (NumPy)"
        )

    def logits(self, images28: np.ndarray) -> np.ndarray:
        """(N, 28, 28) uint8 normalized digits -> (N, 10) logits (other sizes and heads:
        (N, H, W) -> (N, sum(heads)))."""
        x = np.asarray(images28)
        out = np.empty((len(x), self.w4.shape[1]), np.float32)
        for s in range(0, len(x), CHUNK):
            out[s : s + CHUNK] = self._forward(_inputs(x[s : s + CHUNK]))
        return out

    def _forward(self, x: np.ndarray) -> np.ndarray:
        a1 = _pool(_relu(_conv(x, self.w1, self.b1)[0]))
        a2 = _pool(_relu(_conv(a1, self.w2, self.b2)[0]))
        h = _relu(a2.reshape(len(x), -1) @ self.w3 + self.b3)
        return h @ self.w4 + self.b4

    def probabilities(self, images: np.ndarray, temperature: float = 1.0) -> list[np.ndarray]:
        """Each head's softmax of ``logits`` (divided by ``temperature``)."""
        z = self.logits(images) / np.float32(temperature)
        ends = np.cumsum(self.heads)
        return [softmax(z[:, e - k : e]) for k, e in zip(self.heads, ends, strict=True)]

    def gradients(
        self, x: np.ndarray, y: np.ndarray, keep: np.ndarray | None
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Mean cross-entropy of a batch ((N, H, W, 1) float inputs; (N,) labels, or (N,
        heads) labels, one per head, the heads' cross-entropies summed) and the gradient of
        every weight; ``keep`` is the dropout mask of the hidden layer (scaled), None for
        none."""
        n = len(x)
        z1, cols1 = _conv(x, self.w1, self.b1)
        r1 = _relu(z1)
        p1 = _pool(r1)
        z2, cols2 = _conv(p1, self.w2, self.b2)
        r2 = _relu(z2)
        p2 = _pool(r2)
        f = p2.reshape(n, -1)
        h = _relu(f @ self.w3 + self.b3)
        if keep is not None:
            h = h * keep
        z = h @ self.w4 + self.b4
        dz = np.empty_like(z)
        loss = 0.0
        labels = y.reshape(n, -1)
        start = 0
        for k, size in enumerate(self.heads):
            prob = softmax(z[:, start : start + size])
            loss -= float(np.mean(np.log(prob[np.arange(n), labels[:, k]] + 1e-12)))
            prob[np.arange(n), labels[:, k]] -= 1.0
            dz[:, start : start + size] = prob
            start += size
        dz /= n
        g = {"w4": h.T @ dz, "b4": dz.sum(0)}
        dh = dz @ self.w4.T
        dh *= h > 0
        if keep is not None:
            dh *= keep
        g["w3"], g["b3"] = f.T @ dh, dh.sum(0)
        dp2 = (dh @ self.w3.T).reshape(p2.shape)
        dr2 = _unpool_relu(r2, p2, dp2)
        d2 = dr2.reshape(-1, dr2.shape[3])
        g["w2"], g["b2"] = (cols2.T @ d2).reshape(self.w2.shape), d2.sum(0)
        dp1 = _col2im(d2 @ self.w2.reshape(-1, self.w2.shape[3]).T, p1.shape)
        dr1 = _unpool_relu(r1, p1, dp1)
        d1 = dr1.reshape(-1, dr1.shape[3])
        g["w1"], g["b1"] = (cols1.T @ d1).reshape(self.w1.shape), d1.sum(0)
        return loss, g


def _col2im(dcols: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The gradient of ``_windows``: each window's rows added back to where they came from
    (summed over the window's rows first, then over its columns: 2k adds instead of k*k)."""
    n, h, w, c = shape
    oh, ow = h - KERNEL + 1, w - KERNEL + 1
    d = dcols.reshape(n, oh, ow, KERNEL, KERNEL, c)
    rows = np.zeros((n, h, ow, KERNEL, c), np.float32)
    for i in range(KERNEL):
        rows[:, i : i + oh] += d[:, :, :, i]
    out = np.zeros(shape, np.float32)
    for j in range(KERNEL):
        out[:, :, j : j + ow] += rows[:, :, :, j]
    return out


def _shifted(x: np.ndarray, rng: np.random.Generator, most: int) -> np.ndarray:
    """Each image moved by up to ``most`` pixels each way (a writer's digit is never exactly
    where normalization puts MNIST's)."""
    n, h, w = len(x), int(x.shape[1]), int(x.shape[2])
    pad = np.pad(x, ((0, 0), (most, most), (most, most)))
    oy = rng.integers(0, 2 * most + 1, n)
    ox = rng.integers(0, 2 * most + 1, n)
    rows = (oy[:, None] + np.arange(h))[:, :, None]
    cols = (ox[:, None] + np.arange(w))[:, None, :]
    return pad[np.arange(n)[:, None, None], rows, cols]


def recipe(distort: bool = True, shift: int = SHIFT, dropout: float = DROPOUT) -> str:
    """How ``train`` fits the network, in a line (the model's metadata and page show it)."""
    moves = f"moves of up to {shift} px"
    if distort:
        moves += (
            "; half of the digits also rotated, scaled, sheared and (half of those) "
            "elastically bent, anew every epoch"
        )
    return f"Adam, warmup + cosine learning rate, dropout {dropout}, {moves}"


def _distorted(x: np.ndarray, rng: np.random.Generator, shift: int) -> np.ndarray:
    """Each image under its own small affine map -- rotation up to 12 degrees, scale 0.9-1.1,
    shear up to 0.2, a move of up to ``shift`` pixels -- and, for half of them, an elastic
    distortion (Simard et al. 2003: uniform noise blurred at sigma 4, times 34): a new variant
    of every digit in every epoch, where the training set's copies are fixed. One sampling
    map per image (the affine map plus the field), one ``cv2.remap`` each."""
    import cv2

    n, hgt, wid = len(x), int(x.shape[1]), int(x.shape[2])
    f32 = np.float32
    angle = np.radians(rng.uniform(-12, 12, n)).astype(f32)
    scale = rng.uniform(0.9, 1.1, n).astype(f32)
    shear = rng.uniform(-0.2, 0.2, n).astype(f32)[:, None, None]
    move = rng.uniform(-shift, shift, (n, 2)).astype(f32)
    strength = ((rng.random(n) < 0.5) * 68.0).astype(f32)[:, None, None, None]
    noise = rng.random((n * 2 * hgt, wid), dtype=f32)  # uniform 0..1; 2 * (u - 0.5) is -1..1
    # one blur for the whole stack: a field that bleeds into its neighbour's is still random
    field = cv2.GaussianBlur(noise, (0, 0), 4.0).reshape(n, 2, hgt, wid) - f32(0.5)
    field *= strength
    c, s = (np.cos(angle) / scale)[:, None, None], (np.sin(angle) / scale)[:, None, None]
    cy, cx = f32((hgt - 1) / 2), f32((wid - 1) / 2)
    gx = (np.arange(wid, dtype=f32) - cx)[None, None, :]
    gy = (np.arange(hgt, dtype=f32) - cy)[None, :, None]
    mx = c * gx + (shear * c - s) * gy + (move[:, 0, None, None] + cx) + field[:, 0]
    my = s * gx + (shear * s + c) * gy + (move[:, 1, None, None] + cy) + field[:, 1]
    out = np.empty_like(x)
    for i in range(n):
        out[i] = cv2.remap(x[i], mx[i], my[i], cv2.INTER_LINEAR)
    return out


def _reuse_freed_memory() -> None:
    """Ask glibc's malloc to keep freed blocks of up to 64 MB for reuse instead of returning
    them to the system: a step's temporaries (a few MB each) otherwise come back as fresh
    pages every time, and their page faults cost as much as the arithmetic (measured: 31 s
    instead of 49 s per epoch). A no-op where the C library has no ``mallopt``."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 64 << 20)
    mallopt(m_trim_threshold, 256 << 20)


def _batch_gradients(
    pool: ThreadPoolExecutor, net: ConvNet, x: np.ndarray, y: np.ndarray, keep: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """``net.gradients`` of a batch, computed in pieces of ``PIECE`` on the pool and summed
    in order, each piece weighted by its share of the batch."""
    starts = range(0, len(x), PIECE)
    parts = pool.map(
        lambda s: net.gradients(x[s : s + PIECE], y[s : s + PIECE], keep[s : s + PIECE]), starts
    )
    loss, total = 0.0, {k: np.zeros_like(v) for k, v in net.arrays().items()}
    for s, (part_loss, g) in zip(starts, parts, strict=True):
        share = np.float32(min(PIECE, len(x) - s) / len(x))
        loss += float(share) * part_loss
        for k, v in g.items():
            total[k] += share * v
    return loss, total


def train(
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    channels: tuple[int, int] = CHANNELS,
    hidden: int = HIDDEN,
    batch: int = 128,
    lr: float = 2e-3,
    dropout: float = DROPOUT,
    shift: int = SHIFT,
    seed: int = 0,
    distort: bool = True,
    workers: int | None = None,
    heads: tuple[int, ...] = (CLASSES,),
    progress: Callable[[str], None] | None = None,
) -> ConvNet:
    """Fit the network on normalized digits (N, 28, 28) uint8 with labels 0-9 (``recipe``;
    other inputs (N, H, W) with labels (N, len(heads)), one per head, as well):
    Adam, the learning rate warmed up over the first epoch and then cosine-decayed to zero,
    dropout on the hidden layer, and every digit moved by up to ``shift`` pixels -- with
    ``distort``, half of them also rotated, scaled, sheared and (half of those) elastically
    bent, anew in every epoch (``_distorted``). The other half keep their sharp edges:
    distorting every digit (resampling blurs it) cost binarized and low-resolution digits
    1.4 points on the validation split. The gradients are computed on ``workers`` threads
    (default: one per available core)."""
    from threadpoolctl import threadpool_limits

    say = progress or (lambda msg: None)
    _reuse_freed_memory()
    rng = np.random.default_rng(seed)
    net = ConvNet.initial(rng, channels, hidden, (x.shape[1], x.shape[2]), heads)
    params = net.arrays()
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v2 = {k: np.zeros_like(v) for k, v in params.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    per_epoch = len(x) // batch
    total = epochs * per_epoch
    t = 0
    y = np.asarray(y, np.int64)
    workers = workers or len(os.sched_getaffinity(0))
    with ThreadPoolExecutor(workers) as pool, threadpool_limits(1):
        for ep in range(epochs):
            order = rng.permutation(len(x))
            losses = []
            for k in range(per_epoch):
                idx = order[k * batch : (k + 1) * batch]
                moved = _shifted(x[idx], rng, shift)
                if distort:  # half of them: the rest keep their sharp edges (binarized scans)
                    bent = rng.random(len(idx)) < 0.5
                    moved[bent] = _distorted(x[idx[bent]], rng, shift)
                xb = _inputs(moved)
                keep = (rng.random((len(idx), hidden)) >= dropout).astype(np.float32)
                loss, g = _batch_gradients(pool, net, xb, y[idx], keep / (1 - dropout))
                losses.append(loss)
                t += 1
                rate = lr * min(1.0, t / per_epoch) * 0.5 * (1 + np.cos(np.pi * t / total))
                for name, p in params.items():
                    m[name] = b1 * m[name] + (1 - b1) * g[name]
                    v2[name] = b2 * v2[name] + (1 - b2) * g[name] ** 2
                    mh = m[name] / (1 - b1**t)
                    vh = v2[name] / (1 - b2**t)
                    p -= (rate * mh / (np.sqrt(vh) + eps)).astype(np.float32)
            say(f"epoch {ep + 1}/{epochs}: loss {np.mean(losses):.4f}")
    return net
