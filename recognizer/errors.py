"""Typed errors raised by the recognizer library."""

from __future__ import annotations


class RecognizerError(Exception):
    """Base class of every error the recognizer raises on purpose.

    ``code`` is a short machine-readable string (stable, used by the API)."""

    code: str = "recognizer_error"

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details


class UnreadableImage(RecognizerError):
    code = "unreadable_image"


class ImageTooLarge(RecognizerError):
    code = "image_too_large"


class ModelError(RecognizerError):
    code = "model_error"


class ModelVersionMismatch(ModelError):
    code = "model_version_mismatch"
