"""The second-opinion network: its gradients, its training, and how the model uses it."""

import json

import numpy as np
import pytest

from recognizer import convnet, features, load_model
from recognizer.errors import ModelError
from recognizer.model import (
    PROB_SCALE,
    convnet_path,
    metadata_path,
    sha256_file,
)
from recognizer.pipeline import normalize_training_images


def _net(seed=1):
    rng = np.random.default_rng(seed)
    net = convnet.ConvNet.initial(rng)
    for name in ("b1", "b2", "b3", "b4"):  # non-zero biases: every path carries gradient
        setattr(net, name, rng.normal(0, 0.1, getattr(net, name).shape).astype(np.float32))
    return net


def _loss(net, x, y):
    return net.gradients(x, y, None)[0]


@pytest.mark.parametrize("name", convnet.NAMES)
def test_gradients_match_finite_differences(name):
    """Along the gradient, the loss changes by |g|^2 per unit step (a central difference)."""
    net = _net()
    rng = np.random.default_rng(2)
    x = rng.random((6, 28, 28, 1)).astype(np.float32)
    y = np.arange(6)
    _, g = net.gradients(x, y, None)
    w, d = getattr(net, name), g[name]
    eps = 1e-3 / float(np.linalg.norm(d))  # small: ReLU and max pooling have kinks
    w += eps * d
    up = _loss(net, x, y)
    w -= 2 * eps * d
    down = _loss(net, x, y)
    w += eps * d
    slope = (up - down) / (2 * eps)
    assert slope == pytest.approx(float((d * d).sum()), rel=0.05)


@pytest.mark.parametrize("shape", [(3, 28, 28, 1), (2, 28, 56, 1), (2, 12, 12, 4)])
def test_windows_are_every_window_of_the_input_in_order(shape):
    """The first layer's one-channel copy and the general one give each window as a row,
    its rows, then its columns, then its channels."""
    x = np.random.default_rng(4).random(shape).astype(np.float32)
    v = np.lib.stride_tricks.sliding_window_view(x, (5, 5), axis=(1, 2))
    expected = v.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 25 * shape[3])
    assert np.array_equal(convnet._windows(x), expected)


def test_inference_is_the_training_forward_pass():
    net = _net()
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    y = np.array([3, 1, 4, 1, 5])
    logits = net.logits(x).astype(np.float64)
    p = convnet.softmax(logits)
    expected = -np.mean(np.log(p[np.arange(5), y]))
    assert net.gradients(x[..., None] / np.float32(255), y, None)[0] == pytest.approx(expected)


@pytest.mark.parametrize("distort", [False, True])
def test_training_learns_digits(mnist, distort):
    """A few epochs on 1,000 normalized training digits read most test digits (chance: 10%),
    with or without new distortions of the digits in every epoch."""
    x = normalize_training_images(mnist["x_train"][:1000])
    y = mnist["y_train"][:1000]
    net = convnet.train(x, y, epochs=4, batch=32, seed=0, distort=distort)
    xt = normalize_training_images(mnist["x_test"][:300])
    assert (net.logits(xt).argmax(1) == mnist["y_test"][:300]).mean() >= 0.85


def test_distortions_keep_the_digit_and_differ_every_time(mnist):
    x = normalize_training_images(mnist["x_train"][:64])
    a = convnet._distorted(x, np.random.default_rng(0), 2)
    again = convnet._distorted(x, np.random.default_rng(0), 2)
    other = convnet._distorted(x, np.random.default_rng(1), 2)
    assert a.shape == x.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, again)  # the seed decides
    assert (a != other).any(axis=(1, 2)).all()
    ink = a.reshape(64, -1).sum(1) / x.reshape(64, -1).sum(1)
    assert ink.min() > 0.5 and ink.max() < 2  # moved and bent, not lost or smeared
    # still the same digit: most of its ink stays near where it was
    near = [_surroundings(x[i]) for i in range(64)]
    kept = [(a[i][near[i] > 0].sum() / a[i].sum()) for i in range(64)]
    assert np.median(kept) > 0.7


def _surroundings(img):
    import cv2

    return cv2.dilate(img, np.ones((5, 5), np.uint8))


def test_gradients_in_pieces_on_threads_are_the_batch_gradients():
    """Training splits a batch into pieces computed on threads; their weighted sum is the
    whole batch's gradient, and the same whatever the number of threads."""
    from concurrent.futures import ThreadPoolExecutor

    net = _net()
    rng = np.random.default_rng(4)
    n = convnet.PIECE * 2 + 7  # a short last piece
    x = rng.random((n, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, n)
    keep = (rng.random((n, convnet.HIDDEN)) >= 0.3).astype(np.float32) / 0.7
    loss, whole = net.gradients(x, y, keep)
    results = []
    for workers in (1, 2):
        with ThreadPoolExecutor(workers) as pool:
            results.append(convnet._batch_gradients(pool, net, x, y, keep))
    assert results[0][0] == pytest.approx(loss, rel=1e-5)
    for name in convnet.NAMES:
        np.testing.assert_allclose(results[0][1][name], whole[name], rtol=1e-4, atol=1e-7)
        np.testing.assert_array_equal(results[0][1][name], results[1][1][name])


def test_a_wider_network_trains_saves_and_loads():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (64, 28, 28)).astype(np.uint8)
    y = rng.integers(0, 10, 64)
    net = convnet.train(x, y, epochs=1, batch=32, channels=(8, 12), hidden=20)
    assert net.w2.shape == (5, 5, 8, 12) and net.w3.shape == (12 * 16, 20)
    assert "conv 8" in net.describe() and "conv 12" in net.describe()
    again = convnet.ConvNet.from_arrays(net.arrays())
    np.testing.assert_array_equal(again.logits(x), net.logits(x))
    with pytest.raises(ValueError, match="w3: expected an array of shape"):
        convnet.ConvNet.from_arrays({**net.arrays(), "w3": net.w3[:100]})


def test_shipped_model_asks_the_network_only_where_the_svc_is_unsure(shipped_model, mnist):
    x = normalize_training_images(mnist["x_test"][:300])
    assert shipped_model.network is not None
    labels, probs, raw = shipped_model._predict(x)
    dec = shipped_model._kernel.decision(features.extract(x))
    svc_alone = shipped_model._kernel.couple(dec * (PROB_SCALE / shipped_model.temperature))
    np.testing.assert_allclose(raw, shipped_model._kernel.couple(dec * PROB_SCALE))  # the SVC's
    sure = svc_alone.max(1) >= shipped_model.network_below
    assert 0.8 < sure.mean() < 1
    np.testing.assert_allclose(probs[sure], svc_alone[sure], rtol=1e-6, atol=1e-9)
    net = convnet.softmax(
        shipped_model.network.logits(x[~sure]).astype(np.float64)
        / shipped_model.network_temperature
    )
    w = shipped_model.network_weight
    mixed = (1 - w) * svc_alone[~sure] + w * net
    np.testing.assert_allclose(probs[~sure], mixed, rtol=1e-5, atol=1e-7)
    assert (labels == probs.argmax(1)).all()


def test_a_damaged_or_missing_network_file_is_refused(model_copy):
    path = model_copy
    net = convnet_path(path)
    data = bytearray(net.read_bytes())
    data[len(data) // 2] ^= 0xFF
    net.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_model(path)
    arrays = _net().arrays()
    arrays["w3"] = arrays["w3"][:100]  # a layer of the wrong size: refused at load, not in use
    with open(net, "wb") as f:
        np.savez(f, **arrays)
    meta = json.loads(metadata_path(path).read_text())
    meta["convnet"]["sha256"] = sha256_file(net)
    metadata_path(path).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="w3: expected an array of shape"):
        load_model(path)
    net.unlink()
    with pytest.raises(ModelError, match="missing"):
        load_model(path)


def test_a_model_without_a_network_reads_with_the_svc_alone(model_copy, shipped_model, mnist):
    path = model_copy
    meta = json.loads(metadata_path(path).read_text())
    del meta["convnet"]
    metadata_path(path).write_text(json.dumps(meta))
    convnet_path(path).unlink()
    alone = load_model(path)
    assert alone.network is None
    x = normalize_training_images(mnist["x_test"][:50])
    _, probs = alone.predict_many(x)
    assert np.allclose(probs.sum(1), 1.0)
