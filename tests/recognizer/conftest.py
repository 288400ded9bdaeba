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


@pytest.fixture
def model_copy(tmp_path):
    """The path of a copy of the shipped model's files (``digits.skops`` and those beside
    it) in a directory of its own, to be changed or damaged by a test."""
    from recognizer.model import model_files

    if not DEFAULT_MODEL_PATH.exists():
        pytest.skip("shipped model file absent")
    out = tmp_path / "m"
    out.mkdir()
    for src in model_files(DEFAULT_MODEL_PATH):
        (out / src.name).write_bytes(src.read_bytes())
    return out / DEFAULT_MODEL_PATH.name
