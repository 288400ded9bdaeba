import numpy as np
import pytest

from recognizer import DEFAULT_MODEL_PATH
from tests.support import MNIST


@pytest.fixture(scope="session")
def mnist():
    with np.load(MNIST) as d:
        return {k: d[k] for k in ("x_train", "y_train", "x_test", "y_test")}


@pytest.fixture(scope="session")
def mnist_path():
    return MNIST


@pytest.fixture(scope="session")
def shipped_model():
    if not DEFAULT_MODEL_PATH.exists():
        pytest.skip("shipped model file absent")
    from recognizer import load_model

    return load_model()
