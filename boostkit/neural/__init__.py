"""Gradient-boosted neural networks: a hidden layer grown by boosting, exported as an MLP."""

from .gbnn import GBNNClassifier, GBNNRegressor

__all__ = ["GBNNRegressor", "GBNNClassifier"]
