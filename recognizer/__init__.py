"""Handwritten digit recognition: decode, segment, normalize, classify.

Pure library (OpenCV + NumPy + scikit-learn); no web, queue or database code.
"""

from .errors import (
    ImageTooLarge,
    ModelError,
    ModelVersionMismatch,
    RecognizerError,
    UnreadableImage,
)
from .imageio import DEFAULT_MAX_PIXELS, SUPPORTED_FORMATS, ImageInfo, image_info
from .model import (
    DEFAULT_MODEL_PATH,
    Digit,
    Model,
    ModelVersionWarning,
    Reading,
    load_model,
    model_file,
)
from .steps import preprocess_steps

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MODEL_PATH",
    "SUPPORTED_FORMATS",
    "Digit",
    "ImageInfo",
    "ImageTooLarge",
    "Model",
    "ModelError",
    "ModelVersionMismatch",
    "ModelVersionWarning",
    "Reading",
    "RecognizerError",
    "UnreadableImage",
    "image_info",
    "load_model",
    "model_file",
    "preprocess_steps",
    "train_model",
]


def __getattr__(name: str) -> object:
    """`recognizer.train_model` is imported on first use: serving never loads training code."""
    if name == "train_model":
        from .train import train_model

        return train_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
