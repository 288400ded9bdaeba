import pathlib

import numpy as np
import pytest

from recognizer import DEFAULT_MODEL_PATH

ROOT = pathlib.Path(__file__).resolve().parents[2]
MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"


@pytest.fixture(scope="session")
def mnist():
    if not MNIST.exists():
        pytest.skip(f"MNIST not found at {MNIST}")
    d = np.load(MNIST)
    return {k: d[k] for k in ("x_train", "y_train", "x_test", "y_test")}


@pytest.fixture(scope="session")
def mnist_path():
    if not MNIST.exists():
        pytest.skip(f"MNIST not found at {MNIST}")
    return MNIST


@pytest.fixture(scope="session")
def shipped_model():
    if not DEFAULT_MODEL_PATH.exists():
        pytest.skip("shipped model file absent")
    from recognizer import load_model

    return load_model()
