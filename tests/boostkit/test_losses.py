"""Losses: analytic derivatives against finite differences and known values."""

import numpy as np
import pytest
from scipy.special import softmax

from boostkit.losses import OBJECTIVE_CODES, get_loss, score_derivatives


def _numeric_derivative(f, raw, eps=1e-5):
    """d f / d raw[:, k] by central differences; for a per-output f, the diagonal term."""
    out = np.zeros_like(raw)
    for k in range(raw.shape[1]):
        step = np.zeros_like(raw)
        step[:, k] = eps
        diff = (f(raw + step) - f(raw - step)) / (2 * eps)
        out[:, k] = diff[:, k] if diff.ndim == 2 else diff
    return out


@pytest.mark.parametrize("objective,n_outputs,factor", [
    ("squared_error", 1, 1.0), ("squared_error", 2, 1.0), ("logistic", 1, 1.0),
    ("softmax", 3, 1.0), ("softmax", 4, 2.0)])
def test_derivatives_match_finite_differences(objective, n_outputs, factor):
    rng = np.random.default_rng(0)
    loss = get_loss(objective, hessian_factor=factor)
    raw = rng.normal(size=(50, n_outputs))
    if objective == "squared_error":
        y = rng.normal(size=(50, n_outputs)) if n_outputs > 1 else rng.normal(size=50)
    elif objective == "logistic":
        y = rng.integers(0, 2, 50).astype(float)
    else:
        y = rng.integers(0, n_outputs, 50)
    grad = _numeric_derivative(lambda r: loss.value(y, r), raw)
    np.testing.assert_allclose(loss.gradient(y, raw), grad, atol=1e-6)
    hess = _numeric_derivative(lambda r: loss.gradient(y, r), raw)
    np.testing.assert_allclose(loss.hessian(y, raw), factor * hess, atol=1e-6)
    third = _numeric_derivative(lambda r: loss.hessian(y, r), raw)
    np.testing.assert_allclose(loss.third_derivative(y, raw), third, atol=1e-6)
    # derivatives() computes the probabilities once; it must give the same pair.
    both = loss.derivatives(y, raw)
    np.testing.assert_allclose(both[0], loss.gradient(y, raw), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(both[1], loss.hessian(y, raw), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("objective,n_outputs,factor", [
    ("squared_error", 2, 1.0), ("logistic", 1, 1.0), ("softmax", 3, 1.0), ("softmax", 4, 2.0)])
def test_hessian_product_is_the_directional_derivative_of_the_gradient(objective, n_outputs,
                                                                        factor):
    """The full hessian of value() times a direction (softmax coupled, no hessian_factor):
    (gradient(F + e d) - gradient(F - e d)) / 2e per row."""
    rng = np.random.default_rng(1)
    loss = get_loss(objective, hessian_factor=factor)
    raw = rng.normal(size=(40, n_outputs))
    direction = rng.normal(size=(40, n_outputs))
    y = {"squared_error": rng.normal(size=(40, n_outputs)),
         "logistic": rng.integers(0, 2, 40).astype(float),
         "softmax": rng.integers(0, n_outputs, 40)}[objective]
    eps = 1e-5
    numeric = (loss.gradient(y, raw + eps * direction)
               - loss.gradient(y, raw - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(loss.hessian_product(y, raw, direction), numeric, atol=1e-8)


def test_known_values():
    logistic = get_loss("logistic")
    np.testing.assert_allclose(logistic.value([1.0, 0.0], [[0.0], [0.0]]), [np.log(2)] * 2)
    np.testing.assert_allclose(logistic.value([1.0], [[800.0]]), [0.0])  # no overflow
    sm = get_loss("softmax")
    np.testing.assert_allclose(sm.value([2], [[0.0, 0.0, 0.0]]), [np.log(3)])
    p = softmax([[1.0, 2.0, 3.0]], axis=1)
    np.testing.assert_allclose(sm.gradient([0], [[1.0, 2.0, 3.0]]), p - [[1, 0, 0]])
    np.testing.assert_allclose(get_loss("squared_error").value([1.0], [[3.0]]), [2.0])


def test_bad_labels_and_objectives_are_refused():
    with pytest.raises(ValueError, match="class indices"):
        get_loss("softmax").gradient([0, 3], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="objective must be one of"):
        get_loss("huber")


@pytest.mark.parametrize("objective,n_outputs,factor", [
    ("squared_error", 2, 1.0), ("logistic", 1, 1.0), ("softmax", 4, 4 / 3)])
def test_score_derivatives_kernel_matches_the_vectorised_losses(objective, n_outputs, factor):
    rng = np.random.default_rng(1)
    loss = get_loss(objective, hessian_factor=factor)
    raw = rng.normal(size=(20, 7, n_outputs)) * 3  # 7 score rows of each of 20 labels
    labels = (rng.normal(size=(20, n_outputs)) if objective == "squared_error"
              else rng.integers(0, max(n_outputs, 2), 20))
    targets = loss.targets(labels, n_outputs)
    g, h = np.empty((7, n_outputs)), np.empty((7, n_outputs))
    for i in range(20):
        score_derivatives(raw[i], targets[i], OBJECTIVE_CODES[objective], factor, g, h)
        same = np.repeat(labels[i:i + 1], 7, axis=0)
        np.testing.assert_allclose(g, loss.gradient(same, raw[i]), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(h, loss.hessian(same, raw[i]), rtol=1e-12, atol=1e-14)
