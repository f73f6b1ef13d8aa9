"""Errors shared by every part of boostkit."""

__all__ = ["UnsupportedModelError", "ModelParseError"]


class UnsupportedModelError(ValueError):
    """The model type or one of its settings is outside what boostkit supports.

    The message names the model type or setting and what is supported instead.
    """


class ModelParseError(ValueError):
    """A parsed tree ensemble does not reproduce its library's own outputs.

    Raised by :func:`boostkit.trees.from_model` when ``X_check`` is given and the parsed
    ensemble's raw predictions or leaf partition differ from the library's.
    """
