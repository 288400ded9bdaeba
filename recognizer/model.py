"""The classifier: an RBF SVC on gradient features, predicted with our own vectorized kernel code.

The fitted scikit-learn ``SVC`` is what gets saved (skops) and trained; at load time its support
vectors, dual coefficients and intercepts are turned into two matrices so that a batch of N digits
costs one (N x D) @ (D x S) product, one exp and one (N x S) @ (S x 45) product -- all BLAS,
instead of libsvm's one-sample-at-a-time prediction.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import pathlib
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import cv2
import numpy as np

from . import convnet, hand, modelfile, pairs, split
from . import features as F
from .errors import (
    ImageTooLarge,
    ModelError,
    ModelVersionMismatch,
    RecognizerError,
    UnreadableImage,
)
from .imageio import DEFAULT_MAX_PIXELS
from .pipeline import Extracted, Joined, extract_bytes

MODELS_DIR = pathlib.Path(__file__).resolve().parent.parent / "models"
MODEL_FILENAME = "digits.skops"
DEFAULT_MODEL_PATH = MODELS_DIR / MODEL_FILENAME


def model_file(path: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """The one rule for where a model is: a file as given, ``digits.skops`` in a directory,
    else the shipped model."""
    if path is None or str(path) == "":
        return DEFAULT_MODEL_PATH
    path = pathlib.Path(path)
    return path / MODEL_FILENAME if path.is_dir() else path


#: the only non-default types a model file may contain (checked before loading)
TRUSTED_TYPES = [
    "sklearn.svm._classes.SVC",
    "sklearn.pipeline.Pipeline",
    "sklearn.decomposition._pca.PCA",
]
#: scale of the pairwise decision values before coupling them into probabilities
PROB_SCALE = 2.0
PREDICT_CHUNK = 512
#: review threshold of a model whose metadata has none (as worker/model.py assumes)
DEFAULT_REVIEW_THRESHOLD = 0.9


def metadata_path(model_path: str | os.PathLike[str]) -> pathlib.Path:
    return pathlib.Path(model_path).with_suffix(".json")


@contextlib.contextmanager
def _single_threaded_cv2() -> Iterator[None]:
    """OpenCV's thread pool costs more than it saves on the small per-digit images."""
    before = cv2.getNumThreads()
    if before != 1:
        cv2.setNumThreads(1)
    try:
        yield
    finally:
        if before != 1:
            cv2.setNumThreads(before)


#: a narrowed reading (``Extracted.narrowed``) is only weighed against one less sure than this
NARROWED_BELOW = 0.99
#: the network's file beside the SVC's (``digits.skops`` -> ``digits.convnet.npz``)
CONVNET_SUFFIX = ".convnet.npz"
PAIRS_SUFFIX = ".pairs.npz"
#: the network's second opinion (metadata ``convnet`` may override each; chosen on the
#: validation split, MNIST train 50,000-59,999, bench/RESULTS.md 2026-11-27): digits the SVC
#: gives less than ``NETWORK_BELOW`` are also read by the network, whose softmax at
#: ``NETWORK_TEMPERATURE`` gets ``NETWORK_WEIGHT`` of the mixture. An equal share of a
#: softened network (2.0) gained most over all conditions with the network trained on
#: distorted digits; a sharp one (1.0) costs digits stretched to fill their frame, which the
#: network reads worse than the SVC.
NETWORK_BELOW = 0.99
NETWORK_WEIGHT = 0.5
NETWORK_TEMPERATURE = 2.0


def _reads_better(other: np.ndarray, first: np.ndarray) -> bool:
    """A small image read more than one way (``Extracted.readings``: both polarities, or
    narrowed): ``other`` wins if it reads one digit where ``first`` does not, or one digit
    more confidently."""
    if len(other) != 1:
        return False
    return len(first) != 1 or float(other.max()) > float(first.max())


def _repeats(cut: list[Digit], digits: list[Digit], piece: Digit) -> bool:
    """Whether a digit of ``cut`` (the two digits ``piece`` was cut into) covers much the
    same box as another digit of the image (``digits``)."""
    others = [d.box for d in digits if d is not piece]
    return any(_iou(d.box, o) >= REPEAT_IOU for d in cut for o in others)


#: boxes that overlap this much (intersection over union) hold the same digit
REPEAT_IOU = 0.8


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0, w) * max(0, h)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _pieces_read(
    chosen: list[tuple[Extracted, list[int]] | None],
    asked: list[tuple[int, Joined]],
    probs: np.ndarray,
) -> list[float]:
    """For each ``asked`` join (image, join): how surely the less sure of its two pieces reads
    apart (``probs``: by the rows of ``chosen``)."""
    out = []
    for n, join in asked:
        kept = chosen[n]
        assert kept is not None  # (only a readable image has joins)
        rows = kept[1][join.index : join.index + 2]
        out.append(float(probs[rows].max(1).min()))
    return out


def _kept_readings(
    extracted: list[Extracted | RecognizerError], ways: list[list[Extracted]], probs: np.ndarray
) -> list[tuple[Extracted, list[int]] | None]:
    """Each image's reading kept (the likeliest of ``Extracted.readings``, see
    ``_reads_better``) and the rows of ``probs`` that hold its digits; None for a bad image.
    ``ways``: every reading of each image, its rows stacked in that order."""
    chosen: list[tuple[Extracted, list[int]] | None] = []
    k = 0
    for e, readings in zip(extracted, ways, strict=True):
        if isinstance(e, Exception):
            chosen.append(None)
            continue
        best, rows = e, slice(k, k + len(e.digits))
        k = rows.stop
        for alt in readings[1:]:
            span = slice(k, k + len(alt.digits))
            k = span.stop
            if alt.squeezed and probs[rows].max(initial=0.0) >= NARROWED_BELOW:
                continue  # read confidently as it is: not squeezed into a "1"
            if _reads_better(probs[span], probs[rows]):
                best, rows = alt, span
        chosen.append((best, list(range(rows.start, rows.stop))))
    return chosen


def _piece_found(job: split.Job, b: int, s: int, digit: Digit) -> Found:
    """Piece ``s`` of cut ``b`` of ``job``, read as ``digit``, as a segment of its own
    (``Found``) to be offered cuts; a list of its own holds ``digit``, for the cut's two."""
    cut, e = job.cuts[b], job.extracted
    box = cut.boxes[s]
    crop = cv2.resize(
        cut.crops[s], (max(1, box[2]), max(1, box[3])), interpolation=cv2.INTER_LINEAR
    )
    piece = Extracted(e.width, e.height, [], cut.digits[s][None], {0: (crop, box)}, e.scale, e.turn)
    k = 2 * b + s
    return piece, [digit], job.raw[k : k + 1].max(1), job.feats[k : k + 1]


def _extract_one(data: bytes, max_pixels: int) -> Extracted | RecognizerError:
    """``Extracted`` digits of one image, or the error that image gets (never raises)."""
    try:
        return extract_bytes(data, max_pixels)
    except RecognizerError as exc:
        return exc
    except Exception as exc:  # never let one bad item take down the batch
        return UnreadableImage(f"could not process image: {type(exc).__name__}")


#: threads that decode and segment the images of one ``recognize_many`` call (OpenCV and
#: zlib release the GIL); 1 (the default) works in the calling thread. A worker process
#: per core (the bulk pool) gains nothing from more; one process given several cores does.
EXTRACT_THREADS_ENV = "DIGITS_EXTRACT_THREADS"
_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}


def _extract_pool(n: int) -> ThreadPoolExecutor:
    """A pool of ``n`` threads for this process (a forked child makes its own)."""
    key = (os.getpid(), n)
    pool = _pools.get(key)
    if pool is None:
        pool = _pools[key] = ThreadPoolExecutor(n, thread_name_prefix="digits-extract")
    return pool


def default_extract_threads() -> int:
    try:
        return max(1, int(os.environ.get(EXTRACT_THREADS_ENV, "1")))
    except ValueError:
        return 1


class ModelVersionWarning(UserWarning):
    pass


@dataclass(frozen=True)
class Digit:
    label: int
    confidence: float
    probabilities: list[float]
    box: tuple[int, int, int, int]
    normalized: np.ndarray = field(repr=False, compare=False)
    #: confidence below the model's review threshold: a person should check this digit
    needs_review: bool = False

    def normalized_png(self) -> bytes:
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(self.normalized, dtype=np.uint8))
        return buf.tobytes() if ok else b""

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": list(self.probabilities),
            "box": list(self.box),
            "needs_review": self.needs_review,
        }


@dataclass
class Reading:
    """What the recognizer read in one image (the store's `Recognition` is the stored row)."""

    digits: list[Digit]
    width: int
    height: int
    error: str | None = None
    error_code: str | None = None

    @property
    def text(self) -> str:
        return "".join(str(d.label) for d in self.digits)

    @property
    def ok(self) -> bool:
        return self.error_code is None

    @property
    def needs_review(self) -> bool:
        """Any digit below the model's review threshold."""
        return any(d.needs_review for d in self.digits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "width": self.width,
            "height": self.height,
            "digits": [d.to_dict() for d in self.digits],
            "error": self.error,
            "error_code": self.error_code,
        }


#: one image's extraction, its digits, their uncalibrated top confidences and their features
Found = tuple[Extracted, list[Digit], np.ndarray, np.ndarray]
#: a piece holding two of three touching digits: the whole run's reading and the heads
#: (``pairs.combined`` sides) of the piece's two digits
Whole = tuple[pairs.Reading, tuple[int, int]]
#: such pieces by ``id`` of the piece's ``Extracted``
Threes = dict[int, Whole]


class _KernelSVC:
    """Vectorized prediction from a fitted multi-class RBF SVC (one-vs-one), optionally preceded
    by a PCA (a ``Pipeline([("pca", PCA), ("svc", SVC)])``).

    Only what prediction needs is kept (float32 where the products are BLAS): the estimator's
    own float64 copies are not referenced from here."""

    def __init__(self, svc: Any, pca: Any = None) -> None:
        self.proj: np.ndarray | None
        if getattr(svc, "kernel", None) != "rbf" or not hasattr(svc, "support_vectors_"):
            raise ModelError("model must be a fitted RBF SVC (optionally after a PCA)")
        n_in = getattr(pca if pca is not None else svc, "n_features_in_", None)
        if n_in is not None and n_in != F.feature_dim():
            raise ModelError(
                f"model expects {n_in} features but this code computes {F.feature_dim()} "
                f"({F.DESCRIPTION}); retrain the model"
            )
        if pca is not None:
            if getattr(pca, "whiten", False):
                raise ModelError("whitened PCA is not supported")
            comp = np.asarray(pca.components_, dtype=np.float32)
            self.proj = np.ascontiguousarray(comp.T)  # (D, k)
            self.shift = (np.asarray(pca.mean_, dtype=np.float32) @ self.proj)[None, :]
        else:
            self.proj = None
        self.classes = np.asarray(svc.classes_)
        k = len(self.classes)
        sv = np.asarray(svc.support_vectors_, dtype=np.float32)
        self.sv_t = np.ascontiguousarray(sv.T)
        self.sv_sq = np.einsum("ij,ij->i", sv, sv)
        self.gamma = float(svc._gamma)
        n_sv = np.asarray(svc.n_support_)
        start = np.concatenate([[0], np.cumsum(n_sv)])
        dual = np.asarray(svc.dual_coef_)
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        w = np.zeros((sv.shape[0], len(pairs)), np.float32)
        for p, (i, j) in enumerate(pairs):
            si, sj = slice(start[i], start[i + 1]), slice(start[j], start[j + 1])
            w[si, p] = dual[j - 1, si]
            w[sj, p] = dual[i, sj]
        self.w = w
        self.intercept = np.asarray(svc.intercept_, dtype=np.float32)
        self.pi = np.array([p[0] for p in pairs])
        self.pj = np.array([p[1] for p in pairs])
        # one-hot (n_pairs, k): which class each pair's first / second member is
        self.first = np.zeros((len(pairs), k))
        self.first[np.arange(len(pairs)), self.pi] = 1.0
        self.second = np.zeros((len(pairs), k))
        self.second[np.arange(len(pairs)), self.pj] = 1.0

    @classmethod
    def from_estimator(cls, estimator: Any) -> _KernelSVC:
        """From a fitted SVC or a two-step (PCA, SVC) pipeline (duck-typed: no sklearn import)."""
        steps = getattr(estimator, "steps", None)
        if steps is None:
            return cls(estimator)
        if len(steps) != 2:
            raise ModelError("expected a PCA -> SVC pipeline")
        return cls(steps[1][1], steps[0][1])

    def space(self, x: np.ndarray) -> np.ndarray:
        """(N, D) features -> the space the SVC reads them in (after the PCA, if any)."""
        x = np.asarray(x, dtype=np.float32)
        return x @ self.proj - self.shift if self.proj is not None else x

    def decision(self, x: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, n_pairs) one-vs-one decision values (positive favours the first class)."""
        x = self.space(x)
        # |x|^2 + |sv|^2 - 2 x.sv, with two (N, S) buffers instead of three (same roundings).
        # (2x) @ sv is 2 (x @ sv) bit for bit (doubling is exact) without a pass over (N, S)
        dot2 = (x + x) @ self.sv_t
        d2 = (x * x).sum(1)[:, None] + self.sv_sq[None, :]
        d2 -= dot2
        del dot2
        np.maximum(d2, 0, out=d2)
        d2 *= -self.gamma
        np.exp(d2, out=d2)
        return d2 @ self.w + self.intercept

    def predict_proba(self, x: np.ndarray, scale: float = PROB_SCALE) -> np.ndarray:
        return self.couple(self.decision(x) * scale)

    def couple(self, dec: np.ndarray) -> np.ndarray:
        """Scaled pairwise decision values (N, n_pairs) -> class probabilities (N, k)."""
        # pairwise coupling: score_i = sum_j log sigmoid(s * d_ij)
        lp = -np.logaddexp(0.0, -dec)  # log sigmoid(d): evidence for i over j
        ln = -np.logaddexp(0.0, dec)  # log sigmoid(-d): evidence for j over i
        score = lp @ self.first + ln @ self.second
        score -= score.max(1, keepdims=True)
        p = np.exp(score)
        p /= p.sum(1, keepdims=True)
        return p


class Model:
    """A fitted estimator plus its metadata; all prediction goes through ``predict_many``."""

    def __init__(
        self,
        estimator: Any = None,
        metadata: dict[str, Any] | None = None,
        *,
        kernel: _KernelSVC | None = None,
        path: str | os.PathLike[str] | None = None,
        network: convnet.ConvNet | None = None,
        pair_reader: convnet.ConvNet | None = None,
    ) -> None:
        """From a fitted ``estimator``, or (``load_model``) from its prediction ``kernel`` and
        the file it came from: the estimator is then loaded only if asked for. ``network`` is
        the network whose opinion is asked where the SVC is unsure (none: the SVC alone);
        ``pair_reader`` reads wide segments as two touching digits or one (``pairs``)."""
        if estimator is None and (kernel is None or path is None):
            raise ModelError("a model needs a fitted estimator, or a kernel and its file")
        self._estimator = estimator
        self._path = None if path is None else pathlib.Path(path)
        self.metadata = dict(metadata or {})
        #: threads for decoding and segmenting in ``recognize_many`` (outputs do not change)
        self.extract_threads = default_extract_threads()
        self._kernel = kernel if kernel is not None else _KernelSVC.from_estimator(estimator)
        self.network = network
        self.pair_reader = pair_reader

    @property
    def estimator(self) -> Any:
        """The fitted scikit-learn estimator (loaded with skops on first use after
        ``load_model``, which reads only the arrays prediction needs)."""
        if self._estimator is None:
            assert self._path is not None
            self._estimator = _skops_load(self._path)
        return self._estimator

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unversioned"))

    @property
    def review_threshold(self) -> float:
        """Digits less confident than this need review (metadata ``review_threshold``)."""
        return float(self.metadata.get("review_threshold", DEFAULT_REVIEW_THRESHOLD))

    @property
    def temperature(self) -> float:
        """Calibration temperature of the pairwise decision values (metadata)."""
        return float(self.metadata.get("temperature", 1.0))

    @property
    def pair_settings(self) -> dict[str, Any]:
        """How the pair reader's reading is used (metadata ``pair_reader``; ``pairs``)."""
        return dict(self.metadata.get("pair_reader", {}))

    def _network_setting(self, key: str, default: float) -> float:
        return float(self.metadata.get("convnet", {}).get(key, default))

    @property
    def network_below(self) -> float:
        """The SVC confidence below which the network's opinion is asked too (metadata)."""
        return self._network_setting("below", NETWORK_BELOW)

    @property
    def network_weight(self) -> float:
        """The network's share of the mixture where it is asked (metadata)."""
        return self._network_setting("weight", NETWORK_WEIGHT)

    @property
    def network_temperature(self) -> float:
        """The temperature of the network's softmax in the mixture (metadata)."""
        return self._network_setting("temperature", NETWORK_TEMPERATURE)

    def second_opinion(
        self,
        probs: np.ndarray,
        images28: np.ndarray | None = None,
        *,
        logits: np.ndarray | None = None,
    ) -> np.ndarray:
        """``probs`` (the SVC's calibrated probabilities) with the network's mixed in where
        the SVC gives less than ``network_below``: two classifiers that learned different
        features rarely err on the same digit, and where one is unsure the other often is
        not. Confident digits (~95%) are left alone, which keeps the cost small. The network
        reads ``images28``, or its ``logits`` of every row are given (calibration). Returns
        a new array."""
        out = np.array(probs, dtype=np.float64)
        if (self.network is None and logits is None) or len(out) == 0:
            return out
        unsure = np.nonzero(out.max(1) < self.network_below)[0]
        if len(unsure):
            if logits is None:
                assert self.network is not None and images28 is not None
                z = self.network.logits(np.asarray(images28)[unsure])
            else:
                z = logits[unsure]
            net = convnet.softmax(np.asarray(z, np.float64) / self.network_temperature)
            w = self.network_weight
            out[unsure] = (1 - w) * out[unsure] + w * net
        return out

    # -- prediction -------------------------------------------------------------------------
    def predict_many(self, images28: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 28, 28) normalized digits -> (labels (N,) int, calibrated probabilities (N, 10))."""
        labels, probs, _raw = self._predict(images28)
        return labels, probs

    @overload
    def _predict(
        self, images28: np.ndarray, with_features: Literal[False] = ...
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    @overload
    def _predict(
        self, images28: np.ndarray, with_features: Literal[True]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...

    def _predict(
        self, images28: np.ndarray, with_features: bool = False
    ) -> (
        tuple[np.ndarray, np.ndarray, np.ndarray]
        | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    ):
        """Labels, calibrated probabilities (with the network's ``second_opinion``) and the
        SVC's uncalibrated ones (temperature 1; what the touching-digit decisions were tuned
        on); with ``with_features`` also the classifier's
        features (the pair detector reads them too: extracted once)."""
        x = np.asarray(images28)
        if x.ndim == 2:
            x = x[None]
        n = x.shape[0]
        k = len(self._kernel.classes)
        feats = np.zeros((n if with_features else 0, F.feature_dim()), np.float32)
        if n == 0:
            out = (np.zeros(0, np.int64), np.zeros((0, k)), np.zeros((0, k)))
            return (*out, feats) if with_features else out
        probs = np.empty((n, k))
        raw = probs
        t = self.temperature
        if t != 1.0 or self.network is not None:
            raw = np.empty((n, k))
        for s in range(0, n, PREDICT_CHUNK):
            f = F.extract(x[s : s + PREDICT_CHUNK])
            if with_features:
                feats[s : s + PREDICT_CHUNK] = f
            dec = self._kernel.decision(f)
            probs[s : s + PREDICT_CHUNK] = self._kernel.couple(dec * (PROB_SCALE / t))
            if raw is not probs:
                raw[s : s + PREDICT_CHUNK] = self._kernel.couple(dec * PROB_SCALE)
        probs = self.second_opinion(probs, x)
        labels = self._kernel.classes[probs.argmax(1)].astype(np.int64)
        return (labels, probs, raw, feats) if with_features else (labels, probs, raw)

    def recognize(self, data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Reading:
        """Raises UnreadableImage / ImageTooLarge for bad input."""
        rec = self.recognize_many([data], max_pixels=max_pixels)[0]
        if rec.error_code == ImageTooLarge.code:
            raise ImageTooLarge(rec.error or "image too large")
        if rec.error_code is not None:
            raise UnreadableImage(rec.error or "unreadable image")
        return rec

    def recognize_many(
        self, blobs: Sequence[bytes], max_pixels: int = DEFAULT_MAX_PIXELS
    ) -> list[Reading]:
        """Never raises for bad input: each bad item gets error/error_code and no digits.

        All digits of all images are classified in one vectorized call."""
        with _single_threaded_cv2():
            if self.extract_threads > 1 and len(blobs) > 1:
                pool = _extract_pool(self.extract_threads)
                extracted = list(pool.map(_extract_one, blobs, itertools.repeat(max_pixels)))
            else:
                extracted = [_extract_one(data, max_pixels) for data in blobs]
        # every way each image was read, in the order its rows are stacked
        ways = [[] if isinstance(e, Exception) else e.readings() for e in extracted]
        stacks = [r.digits for rs in ways for r in rs]
        allx = np.concatenate(stacks) if stacks else np.zeros((0, 28, 28), np.uint8)
        labels, probs, raw, feats = self._predict(allx, with_features=True)
        chosen = _kept_readings(extracted, ways, probs)
        labels, probs, raw, feats = self._join_pieces(chosen, labels, probs, raw, feats)
        out, found = [], []
        for e, kept in zip(extracted, chosen, strict=True):
            if isinstance(e, Exception):
                out.append(
                    Reading([], 0, 0, error=getattr(e, "message", str(e)), error_code=e.code)
                )
                continue
            assert kept is not None  # (None only for a bad image)
            ex, rows = kept
            digits = [
                self._digit(labels[j], probs[j], box, img)
                for j, box, img in zip(rows, ex.boxes, ex.digits, strict=True)
            ]
            out.append(Reading(digits, ex.width, ex.height))
            if ex.wide:  # only wide segments are offered cuts (``_touching_jobs``)
                found.append((ex, digits, raw[rows].max(1), feats[rows]))
        with _single_threaded_cv2():
            self._split_touching(found)
        for reading in out:
            self._read_in_hand(reading)
        return out

    def _read_in_hand(self, reading: Reading) -> None:
        """In a string whose writer crosses a "7", a "7" with no bar is read "1" where that
        is then likelier (``hand``; in place)."""
        digits = reading.digits
        if len(digits) < 2:
            return
        probs = [np.asarray(d.probabilities) for d in digits]
        labels, images = [d.label for d in digits], [d.normalized for d in digits]
        if not hand.crossed_hand(labels, probs, images):
            return
        for k, (d, p) in enumerate(zip(digits, probs, strict=True)):
            q = hand.as_one(p, d.normalized)
            if q is not None:
                digits[k] = self._digit(hand.ONE, q, d.box, d.normalized)

    def _join_pieces(
        self,
        chosen: list[tuple[Extracted, list[int]] | None],
        labels: np.ndarray,
        probs: np.ndarray,
        raw: np.ndarray,
        feats: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Join (in ``chosen``: each image's reading and its rows, in place) the neighbouring
        segments that are one digit in pieces (``Extracted.joins``, ``_one_digit``). Returns
        the arrays with the joined digits' rows appended (the rows ``chosen`` points at)."""
        asked = [(n, join) for n, kept in enumerate(chosen) if kept for join in kept[0].joins]
        if not asked or self.pair_reader is None:
            return labels, probs, raw, feats
        j_labels, j_probs, j_raw, j_feats = self._predict(
            np.stack([join.digit for _, join in asked]), with_features=True
        )
        base = len(labels)
        pieces_read = _pieces_read(chosen, asked, probs)
        for n, taken in self._one_digit(asked, j_probs, pieces_read).items():
            kept = chosen[n]
            assert kept is not None  # (only a readable image has joins)
            e, rows = kept
            for k in sorted(taken, key=lambda k: asked[k][1].index, reverse=True):
                join = asked[k][1]
                e = e.joined(join)
                rows[join.index : join.index + 2] = [base + k]
            chosen[n] = (e, rows)
        return (
            np.concatenate([labels, j_labels]),
            np.concatenate([probs, j_probs]),
            np.concatenate([raw, j_raw]),
            np.concatenate([feats, j_feats]),
        )

    def _one_digit(
        self, asked: list[tuple[int, Joined]], probs: np.ndarray, pieces_read: list[float]
    ) -> dict[int, list[int]]:
        """By image, which of the ``asked`` joins (image, join) are one digit: read joined
        confidently (``pairs.join_read``, ``probs``) and by the pair reader as one digit
        (``pairs.is_one``, given how surely the two pieces read apart: ``pieces_read``, the
        less sure of the two). The surest first: a segment joins once."""
        sure = np.flatnonzero(probs.max(1) >= pairs.join_read(self.pair_settings)).tolist()
        if not sure:
            return {}
        reader = self.pair_reader
        assert reader is not None  # (``_join_pieces`` asks only with a reader)
        readings = pairs.read(reader, [asked[k][1].crop for k in sure])
        one = [float(r[1][pairs.NONE]) for r in readings]
        taken: dict[int, list[int]] = {}
        used: set[tuple[int, int]] = set()
        for p_one, k in sorted(zip(one, sure, strict=True), reverse=True):
            n, join = asked[k]
            pieces = {(n, join.index), (n, join.index + 1)}  # (image, segment)
            if pairs.is_one(self.pair_settings, p_one, pieces_read[k]) and not used & pieces:
                used |= pieces
                taken.setdefault(n, []).append(k)
        return taken

    def _digit(self, label: int, p: np.ndarray, box: Sequence[int], img: np.ndarray) -> Digit:
        probabilities = p.tolist()
        conf = max(probabilities)
        return Digit(
            label=int(label),
            confidence=conf,
            probabilities=probabilities,
            box=(int(box[0]), int(box[1]), int(box[2]), int(box[3])),
            normalized=img,
            needs_review=conf < self.review_threshold,
        )

    def _split_touching(
        self, found: list[Found], again: bool = True, threes: Threes | None = None
    ) -> None:
        """Replace (in place) each wide digit by the two digits of its best cut, when the
        cut reading is likelier than the whole (see ``split``); ``again``: a piece still wide
        enough to hold two (three digits touching) is offered cuts in its turn. A segment the
        pair reader reads as three digits (``pairs.holds_three``) is cut, and its piece that
        holds two of them is cut again (``threes``: by the piece's ``Extracted``, the whole's
        reading and the heads of the piece's two digits)."""
        params = self.metadata.get("touching")
        if not params:
            return
        threes = threes or {}
        settings = self.pair_settings
        p_min = float(params.get("accept", {}).get("p_pair_min", split.P_PAIR_MIN))
        replace: dict[int, list[Any]] = {}  # id -> [the image's digits, {index: pair}]
        wide_pieces: list[tuple[list[Digit], Digit, Found]] = []
        next_threes: Threes = {}
        for job in self._touching_jobs(found, params, p_min, threes):
            whole = threes.get(id(job.extracted))
            three = again and pairs.holds_three(settings, job.reader)
            b, pair_side = self._cut_of(job, params, p_min, whole, three)
            if b is None:
                continue
            c = job.cuts[b]
            pair = self._cut_digits(job, b, whole)
            replace.setdefault(id(job.digits), [job.digits, {}])[1][job.index] = pair
            if not (again and c.crops):
                continue
            if three:  # the piece holding two of the three is cut again
                assert job.reader is not None
                two = _piece_found(job, b, pair_side, pair[pair_side])
                wide_pieces.append((job.digits, pair[pair_side], two))
                next_threes[id(two[0])] = (job.reader, (0, 2) if pair_side == 0 else (2, 1))
            elif job.box[2] >= split.THREE_ASPECT * job.box[3]:
                wide_pieces += [
                    (job.digits, pair[s], _piece_found(job, b, s, pair[s]))
                    for s in (0, 1)
                    if c.boxes[s][2] >= split.ASPECT_MIN * c.boxes[s][3]
                ]
        for digits, repl in replace.values():
            for i in sorted(repl, reverse=True):
                digits[i : i + 1] = repl[i]
        if wide_pieces:
            self._split_touching([f for _, _, f in wide_pieces], again=False, threes=next_threes)
            for digits, piece, (_, cut, _, _) in wide_pieces:
                # the piece was cut too: its two digits take its place, unless the cut only
                # found a digit the image already has (a path that left the other piece
                # inside this one's span cuts this piece as it cut the segment)
                if len(cut) > 1 and not _repeats(cut, digits, piece):
                    i = next(k for k, d in enumerate(digits) if d is piece)
                    digits[i : i + 1] = cut

    def _cut_of(
        self,
        job: split.Job,
        params: dict[str, Any],
        p_min: float,
        whole: Whole | None,
        three: bool,
    ) -> tuple[int | None, int]:
        """The cut to take of ``job`` (None: keep it whole) and, for a run of ``three``, the
        side of its piece holding two. The split decision (``split.choose_cut``) and the pair
        reader (``pairs.decide``) choose; a run of three is cut by ``pairs.three_cut``; a
        piece holding two of three (``whole``) is always cut."""
        if three:
            assert job.reader is not None  # (``holds_three`` needs a reading)
            return pairs.three_cut(job.reader, job.raw, job.piece_pair)
        b = None
        if job.p_pair >= p_min:
            b = split.choose_cut(
                params,
                job.cuts,
                job.box,
                job.raw,
                job.piece_pair,
                job.p_pair,
                job.p_whole,
                job.valid,
            )
        if job.reader is not None:
            b = pairs.decide(self.pair_settings, job, b)
        if b is None and whole is not None:
            b = split.rank_cuts(job.raw, job.piece_pair)[0]
        return b, 0

    def _cut_digits(self, job: split.Job, b: int, whole: Whole | None) -> list[Digit]:
        """The two digits of cut ``b`` of ``job``: each piece's probabilities pooled with the
        pair reader's head of its side and, for a piece holding two of three, the whole
        run's (``pairs.combined``)."""
        c, e = job.cuts[b], job.extracted
        out = []
        for s in (0, 1):
            heads = [] if job.reader is None else [(job.reader, s)]
            if whole is not None:
                heads.append((whole[0], whole[1][s]))
            p = pairs.combined(self.pair_settings, job.probs[2 * b + s], heads)
            label = int(self._kernel.classes[int(np.argmax(p))])
            out.append(self._digit(label, p, e.original_box(c.boxes[s]), c.digits[s]))
        return out

    def _touching_jobs(
        self,
        found: list[Found],
        params: dict[str, Any],
        p_min: float,
        threes: Threes | None = None,
    ) -> list[split.Job]:
        """The wide segments of ``found`` ((extracted, digits, raw confidences, features) per
        image) the pair detector scores at ``p_min`` or more -- or the pair reader would
        have cut (``pairs.may_rescue``) -- with their candidate cuts and the pieces read (all
        pieces of all segments in one batch). The detector is asked about the segments
        ``split.wants_cut``; the reader, when the model has one, about every wide segment
        that does not read as one digit for certain (``pairs.asks``)."""
        asked = []  # (extracted, digits, index, working box, confidence)
        asked_feats = []
        wanted = []
        reads = self.pair_settings if self.pair_reader is not None else None
        threes = threes or {}
        for e, digits, conf, feats in found:
            for i, (_crop, wbox) in e.wide.items():
                want = split.wants_cut(wbox, float(conf[i])) or id(e) in threes
                if want or (reads is not None and pairs.asks(reads, float(conf[i]))):
                    asked.append((e, digits, i, wbox, float(conf[i])))
                    asked_feats.append(feats[i])
                    wanted.append(want)
        if not asked:
            return []
        detector = split.pair_probability(
            params,
            np.stack([digits[i].normalized for _, digits, i, _, _ in asked]),
            np.array([w[2] / max(1, w[3]) for _, _, _, w, _ in asked]),
            np.stack(asked_feats),
        )
        p_pair = detector * np.array(wanted)  # 0 where only the reader is asked
        heads = self._read_pairs(asked, detector)
        jobs = []
        for k, ((e, digits, i, wbox, whole), pp) in enumerate(zip(asked, p_pair, strict=True)):
            must = id(e) in threes
            if must or pp >= p_min or pairs.may_rescue(reads or {}, heads[k], float(detector[k])):
                cs = split.cuts(e.wide[i][0], wbox, more=pp >= split.MORE_CUTS_P)
                if cs:
                    job = split.Job(e, digits, i, wbox, float(pp), whole, cs)
                    job.reader, job.detector = heads[k], float(detector[k])
                    jobs.append(job)
        if not jobs:
            return []
        pieces = np.concatenate([c.digits for job in jobs for c in job.cuts])
        labels, probs, raw, piece_feats = self._predict(pieces, with_features=True)
        # a piece that still holds two digits (a bit of the neighbour) reads confidently too
        piece_pair = split.pair_probability(
            params,
            pieces,
            np.array([b[2] / max(1, b[3]) for job in jobs for c in job.cuts for b in c.boxes]),
            piece_feats,
        )
        k = 0
        for job in jobs:
            n = 2 * len(job.cuts)
            sl = slice(k, k + n)
            job.labels, job.probs, job.raw, job.piece_pair, job.feats = (
                labels[sl],
                probs[sl],
                raw[sl],
                piece_pair[sl],
                piece_feats[sl],
            )
            if "pieces" in params:
                x = split.piece_features(
                    self._kernel.space(job.feats), job.raw, job.piece_pair, job.cuts, job.box
                )
                job.valid = split.piece_validity(params["pieces"], x)
            k += n
        return jobs

    def _read_pairs(self, asked: list[Any], detector: np.ndarray) -> list[pairs.Reading | None]:
        """The pair reader's reading of each asked segment's crop that the detector gives
        at least ``detector_min`` (``pairs.DETECTOR_MIN``: reading every wide segment of a
        drawing cost 18% of the canvas rate); None for the others, and without a reader."""
        out: list[pairs.Reading | None] = [None] * len(asked)
        if self.pair_reader is None:
            return out
        floor = pairs.detector_min(self.pair_settings)
        read = [k for k in range(len(asked)) if detector[k] >= floor]
        readings = pairs.read(self.pair_reader, [asked[k][0].wide[asked[k][2]][0] for k in read])
        for k, reading in zip(read, readings, strict=True):
            out[k] = reading
        return out

    # -- persistence ------------------------------------------------------------------------
    def save(
        self, directory: str | os.PathLike[str], filename: str = MODEL_FILENAME
    ) -> pathlib.Path:
        import zipfile

        import skops.io as sio

        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / filename
        tmp = path.with_suffix(".skops.tmp")
        sio.dump(self.estimator, tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        os.replace(tmp, path)
        meta = dict(self.metadata)
        if self.network is not None:
            net = convnet_path(path)
            arrays: dict[str, Any] = self.network.arrays()
            with open(net.with_suffix(".tmp"), "wb") as f:
                np.savez_compressed(f, **arrays)
            os.replace(net.with_suffix(".tmp"), net)
            meta["convnet"] = {
                **meta.get("convnet", {}),
                "file": net.name,
                "sha256": sha256_file(net),
            }
        meta.pop("pair_reader", None)
        meta.pop("touching_reader", None)
        if self.pair_reader is not None:
            meta["pair_reader"] = {
                **self.pair_settings,
                **_write_pair_reader(path, self.pair_reader),
            }
            meta["touching_reader"] = pairs.text(self.pair_reader)
        meta["model_file"] = path.name
        meta["model_bytes"] = path.stat().st_size
        meta["model_sha256"] = sha256_file(path)
        self.metadata = meta
        metadata_path(path).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return path


def model_files(model_path: str | os.PathLike[str]) -> list[pathlib.Path]:
    """Every file of a saved model that exists: the ``.skops``, its ``.json`` metadata and
    its network's weights (what to copy to move a model)."""
    path = pathlib.Path(model_path)
    files = (path, metadata_path(path), convnet_path(path), pairs_path(path))
    return [p for p in files if p.exists()]


def convnet_path(model_path: str | os.PathLike[str]) -> pathlib.Path:
    """Where a model's network weights are: beside its ``.skops`` file."""
    path = pathlib.Path(model_path)
    return path.with_name(path.stem + CONVNET_SUFFIX)


def pairs_path(model_path: str | os.PathLike[str]) -> pathlib.Path:
    """Where a model's pair reader is: beside its ``.skops`` file."""
    path = pathlib.Path(model_path)
    return path.with_name(path.stem + PAIRS_SUFFIX)


def _load_convnet(
    path: pathlib.Path, metadata: dict[str, Any], key: str = "convnet"
) -> convnet.ConvNet | None:
    """The network the metadata names under ``key`` (arrays only, no pickle), checked
    against its sha256; None for a model without one. ``pair_reader``: the pair reader."""
    info = metadata.get(key)
    if not info:
        return None
    default = (convnet_path(path) if key == "convnet" else pairs_path(path)).name
    net = path.with_name(pathlib.Path(str(info.get("file", ""))).name or default)
    if not net.exists():
        raise ModelError(f"model {path} names a network file that is missing: {net}")
    if info.get("sha256") and sha256_file(net) != info["sha256"]:
        raise ModelError(f"network file {net} does not match its sha256 in the metadata")
    try:
        with np.load(net, allow_pickle=False) as f:
            if key == "convnet":
                return convnet.ConvNet.from_arrays(dict(f))
            arrays = dict(f)
            return convnet.ConvNet.from_arrays(arrays, pairs.SIZE, pairs.heads_of(arrays))
    except Exception as exc:
        raise ModelError(f"not a readable network file: {net}: {exc}") from exc


def load_pair_reader(model_path: str | os.PathLike[str]) -> tuple[convnet.ConvNet, dict[str, Any]]:
    """The pair reader saved beside ``model_path`` (a model, or a reader alone: ``digits
    pairs --out``) and its settings; ModelError if it has none or its file does not match."""
    path = model_file(model_path)
    mpath = metadata_path(path)
    meta = json.loads(mpath.read_text()) if mpath.exists() else {}
    net = _load_convnet(path, meta, "pair_reader")
    if net is None:
        raise ModelError(f"{path} has no pair reader")
    settings = {k: v for k, v in meta["pair_reader"].items() if k not in ("file", "sha256")}
    return net, settings


def save_pair_reader(
    model_path: str | os.PathLike[str],
    net: convnet.ConvNet,
    settings: dict[str, Any],
    new_version: bool = False,
) -> None:
    """Write ``net`` beside the model at ``model_path`` and name it, with ``settings``, in
    the model's metadata (``pair_reader``); the ``.skops`` file is left as it is. With
    ``new_version`` the model gets a new version (the time now; the training data's part
    kept): it reads touching digits differently."""
    import datetime

    path = model_file(model_path)
    mpath = metadata_path(path)
    meta = json.loads(mpath.read_text()) if mpath.exists() else {}
    meta["pair_reader"] = {**settings, **_write_pair_reader(path, net)}
    meta["touching_reader"] = pairs.text(net)
    if new_version:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
        data = str(meta.get("version", "")).split("-")[2:]
        meta["version"] = "-".join([now, *data])
    mpath.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def _write_pair_reader(path: pathlib.Path, net: convnet.ConvNet) -> dict[str, str]:
    """The reader's arrays beside the model at ``path``: its file's name and sha256."""
    out = pairs_path(path)
    arrays: dict[str, Any] = net.arrays()
    with open(out.with_suffix(".tmp"), "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(out.with_suffix(".tmp"), out)
    return {"file": out.name, "sha256": sha256_file(out)}


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_sklearn_version(metadata: dict[str, Any], path: str | os.PathLike[str] = "") -> None:
    """Same major.minor: warn on a patch difference; different major.minor: raise."""
    saved = metadata.get("sklearn_version")
    now = _sklearn_version()
    if saved is None:
        warnings.warn(
            f"model {path} has no sklearn_version in its metadata; cannot check compatibility",
            ModelVersionWarning,
            stacklevel=3,
        )
        return
    if saved == now:
        return
    if saved.split(".")[:2] != now.split(".")[:2]:
        raise ModelVersionMismatch(
            f"model {path} was trained with scikit-learn {saved} but {now} is installed; "
            f"retrain it (digits train) or install scikit-learn=={saved}"
        )
    warnings.warn(
        f"model {path} was trained with scikit-learn {saved}, running {now}",
        ModelVersionWarning,
        stacklevel=3,
    )


def _sklearn_version() -> str:
    """The installed scikit-learn's version, without importing it (and scipy) for that."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scikit-learn")
    except PackageNotFoundError:  # pragma: no cover - a dependency; an odd install
        import sklearn

        return sklearn.__version__


def _skops_load(path: pathlib.Path) -> Any:
    """The estimator through skops (imports scikit-learn), refusing untrusted types."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise ModelError(f"not a readable skops model file: {path}: {exc}") from exc
    unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unexpected:
        raise ModelError(f"model file {path} contains untrusted types: {unexpected}")
    return sio.load(path, trusted=TRUSTED_TYPES)


def load_model(path: str | os.PathLike[str] | None = None) -> Model:
    """Load a model saved by ``Model.save`` (skops file, explicit trusted types, version check).

    The arrays prediction needs are read with numpy alone (``modelfile``): a serving process
    never imports scikit-learn. A file that reader does not know is loaded with skops."""
    path = model_file(path)
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    mpath = metadata_path(path)
    metadata = json.loads(mpath.read_text()) if mpath.exists() else {}
    check_sklearn_version(metadata, path)
    try:
        kernel = _KernelSVC.from_estimator(modelfile.read_estimator(path, TRUSTED_TYPES))
    except modelfile.Unsupported:
        return Model(
            _skops_load(path),
            metadata,
            network=_load_convnet(path, metadata),
            pair_reader=_load_convnet(path, metadata, "pair_reader"),
        )
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"not a readable skops model file: {path}: {exc}") from exc
    return Model(
        metadata=metadata,
        kernel=kernel,
        path=path,
        network=_load_convnet(path, metadata),
        pair_reader=_load_convnet(path, metadata, "pair_reader"),
    )
