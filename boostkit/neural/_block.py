"""Orchestration of one boosting step's block: initialise, fit (numba kernel), evaluate.

Plain Python between the estimators and :mod:`boostkit.neural._kernels`.
"""

import numpy as np
from scipy.special import expit

from ._kernels import ACTIVATION_CODES, LOSS_CODES, fit_block_lbfgs, n_parameters

LBFGS_HISTORY = 10


def activate(Z, activation):
    """Apply the hidden activation in place (the same functions scikit-learn's MLP uses)."""
    if activation == "logistic":
        expit(Z, out=Z)
    elif activation == "tanh":
        np.tanh(Z, out=Z)
    else:
        np.maximum(Z, 0.0, out=Z)
    return Z


def hidden_activations(X, weights, biases, activation):
    """act(X @ weights + biases), shape (n_samples, n_units)."""
    Z = X @ weights
    Z += biases
    return activate(Z, activation)


def initial_block(rng, n_features, n_units, n_outputs, activation):
    """Glorot-uniform start of a block (scikit-learn MLP's rule), as a flat parameter vector.

    Hidden weights and biases are uniform in +-sqrt(f / (d + J)), output weights and biases in
    +-sqrt(f / (J + K)), with f = 2 for logistic units and 6 otherwise; one draw, laid out as
    ``[A.T.ravel(), c, V.ravel(), b]``.
    """
    factor = 2.0 if activation == "logistic" else 6.0
    n_hidden = n_features * n_units + n_units
    theta = rng.uniform(-1.0, 1.0, size=n_parameters(n_features, n_units, n_outputs))
    theta[:n_hidden] *= np.sqrt(factor / (n_features + n_units))
    theta[n_hidden:] *= np.sqrt(factor / (n_units + n_outputs))
    return theta


def unpack_block(theta, n_features, n_units, n_outputs):
    """Split a flat block vector into (A, c, V, b)."""
    d, J, K = n_features, n_units, n_outputs
    A = theta[: d * J].reshape(J, d).T
    c = theta[d * J: d * J + J]
    V = theta[d * J + J: d * J + J + J * K].reshape(J, K)
    b = theta[d * J + J + J * K:]
    return A, c, V, b


def fit_block(X, R, offset, sample_weight, rows, theta0, n_units, activation, loss, alpha,
              max_iter):
    """Fit one block on ``rows`` to the loss of ``offset + block`` against the targets ``R``.

    ``loss`` is a key of ``LOSS_CODES``. ``X`` (n, d), ``R`` and ``offset`` (n, K) are float64
    C-contiguous; ``rows`` is an int64 array of the rows used (the subsample). Returns
    (A, c, V, b, n_lbfgs_iter).
    """
    n_features = X.shape[1]
    n_outputs = R.shape[1]
    theta = np.empty(n_parameters(n_features, n_units, n_outputs))
    n_iter, _ = fit_block_lbfgs(
        theta0, X, R, offset, sample_weight, rows, n_units, n_outputs,
        ACTIVATION_CODES[activation], LOSS_CODES[loss], float(alpha), int(max_iter),
        LBFGS_HISTORY, theta,
    )
    A, c, V, b = unpack_block(theta, n_features, n_units, n_outputs)
    return np.ascontiguousarray(A), c.copy(), V.copy(), b.copy(), n_iter
