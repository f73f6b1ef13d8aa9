"""Losses on raw scores: value, gradient, hessian and third derivative, vectorised.

Every loss works on a raw-score matrix ``raw`` of shape (n, C) (log-odds / margins for
classifiers, the prediction itself for regression) and returns per-row, per-output arrays of the
same shape, so callers never special-case binary versus multiclass.

===============  ==================  ====================  ================================
objective        gradient dL/dF      hessian d2L/dF2       third derivative
===============  ==================  ====================  ================================
squared_error    F - y               1                     0
logistic         p - y               p (1 - p)             p (1 - p) (1 - 2 p)
softmax          p - onehot(y)       c p (1 - p)           c p (1 - p) (1 - 2 p)
===============  ==================  ====================  ================================

``c`` is the library's multiclass hessian factor (K / (K - 1) for LightGBM, CatBoost and
scikit-learn GradientBoosting, 2 for XGBoost, 1 for HistGradientBoosting): the softmax hessian
is the diagonal one the library itself uses for its Newton leaf values. Squared error is
``0.5 (y - F)^2``. ``hessian_product`` is the loss's full hessian times a direction instead
(softmax: ``p * d - p (p . d)``, without ``c``), for solvers that minimise the loss as written.

Examples
--------
>>> import numpy as np
>>> from boostkit.losses import get_loss
>>> loss = get_loss("logistic")
>>> loss.gradient(np.array([1.0, 0.0]), np.zeros((2, 1))).ravel()
array([-0.5,  0.5])
>>> loss.hessian(np.array([1.0, 0.0]), np.zeros((2, 1))).ravel()
array([0.25, 0.25])
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.special import expit, log_softmax, softmax

__all__ = ["SquaredError", "Logistic", "Softmax", "get_loss", "OBJECTIVES", "OBJECTIVE_CODES",
           "score_derivatives"]

OBJECTIVES = ("squared_error", "logistic", "softmax")
# Integer codes of the objectives, for numba kernels (see :func:`score_derivatives`).
SQUARED_ERROR, LOGISTIC, SOFTMAX = 0, 1, 2
OBJECTIVE_CODES = {"squared_error": SQUARED_ERROR, "logistic": LOGISTIC, "softmax": SOFTMAX}


def _as_raw(raw):
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 1:
        raw = raw[:, None]
    if raw.ndim != 2:
        raise ValueError(f"raw must be of shape (n,) or (n, C); got shape {raw.shape}")
    return raw


class _Loss:
    """Shared surface of every loss; subclasses define the math."""

    name: str = ""
    hessian_factor: float = 1.0

    def __repr__(self):
        return f"{type(self).__name__}()"

    def targets(self, y, n_outputs):
        """Targets as a float (n, C) matrix (one-hot for softmax)."""
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        if y.shape[1] != n_outputs:
            raise ValueError(
                f"y has {y.shape[1]} columns but the raw scores have {n_outputs} outputs"
            )
        return y

    def value(self, y, raw):
        """Per-row loss, shape (n,)."""
        raise NotImplementedError

    def gradient(self, y, raw):
        """dL/dF, shape (n, C)."""
        raise NotImplementedError

    def hessian(self, y, raw):
        """Diagonal of d2L/dF2, shape (n, C)."""
        raise NotImplementedError

    def third_derivative(self, y, raw):
        """Diagonal third derivative d3L/dF3, shape (n, C)."""
        raise NotImplementedError

    def derivatives(self, y, raw):
        """(gradient, hessian) in one pass; both (n, C)."""
        return self.gradient(y, raw), self.hessian(y, raw)

    def hessian_product(self, y, raw, direction):
        """Per row, the full hessian of :meth:`value` in F times ``direction``; (n, C).

        The exact second derivative of the loss (softmax: its coupled C x C hessian, without
        the library's ``hessian_factor``), for Newton steps on a loss that is minimised as
        written (TREX's surrogate)."""
        raise NotImplementedError


class SquaredError(_Loss):
    """Half squared error ``0.5 (y - F)^2`` summed over outputs."""

    name = "squared_error"

    def value(self, y, raw):
        raw = _as_raw(raw)
        y = self.targets(y, raw.shape[1])
        return 0.5 * ((y - raw) ** 2).sum(axis=1)

    def gradient(self, y, raw):
        raw = _as_raw(raw)
        return raw - self.targets(y, raw.shape[1])

    def hessian(self, y, raw):
        raw = _as_raw(raw)
        return np.ones_like(raw)

    def third_derivative(self, y, raw):
        raw = _as_raw(raw)
        return np.zeros_like(raw)

    def hessian_product(self, y, raw, direction):
        return np.array(_as_raw(direction), dtype=np.float64)

    def link_inverse(self, raw):
        return _as_raw(raw)


class Logistic(_Loss):
    """Binary log-loss on log-odds ``F``; labels in {0, 1}."""

    name = "logistic"

    def value(self, y, raw):
        raw = _as_raw(raw)
        y = self.targets(y, 1)
        # log(1 + exp(F)) - y F, computed without overflow.
        return (np.logaddexp(0.0, raw) - y * raw).sum(axis=1)

    def gradient(self, y, raw):
        raw = _as_raw(raw)
        return expit(raw) - self.targets(y, 1)

    def hessian(self, y, raw):
        p = expit(_as_raw(raw))
        return p * (1.0 - p)

    def third_derivative(self, y, raw):
        p = expit(_as_raw(raw))
        return p * (1.0 - p) * (1.0 - 2.0 * p)

    def derivatives(self, y, raw):
        p = expit(_as_raw(raw))
        return p - self.targets(y, 1), p * (1.0 - p)

    def hessian_product(self, y, raw, direction):
        return self.hessian(y, raw) * _as_raw(direction)

    def link_inverse(self, raw):
        """Probability of the positive class, shape (n, 1)."""
        return expit(_as_raw(raw))


class Softmax(_Loss):
    """Multiclass cross-entropy on K raw scores; labels are class indices 0..K-1.

    Parameters
    ----------
    hessian_factor : float, default=1.0
        Multiplies the diagonal hessian (and third derivative) the way the library that grew
        the trees does: K/(K-1) for LightGBM and CatBoost, 2.0 for XGBoost, 1.0 for
        scikit-learn.
    """

    name = "softmax"

    def __init__(self, hessian_factor=1.0):
        self.hessian_factor = float(hessian_factor)

    def __repr__(self):
        return f"Softmax(hessian_factor={self.hessian_factor:g})"

    def targets(self, y, n_outputs):
        y = np.asarray(y)
        if y.ndim == 2:
            if y.shape[1] != n_outputs:
                raise ValueError(
                    f"y has {y.shape[1]} columns but the raw scores have {n_outputs} outputs"
                )
            return y.astype(np.float64)
        codes = y.astype(np.int64)
        if codes.size and (codes.min() < 0 or codes.max() >= n_outputs or
                           np.any(codes != y)):
            raise ValueError(
                f"softmax labels must be integer class indices in [0, {n_outputs}); "
                f"got values in [{y.min()}, {y.max()}]"
            )
        onehot = np.zeros((codes.shape[0], n_outputs))
        onehot[np.arange(codes.shape[0]), codes] = 1.0
        return onehot

    def value(self, y, raw):
        raw = _as_raw(raw)
        return -(self.targets(y, raw.shape[1]) * log_softmax(raw, axis=1)).sum(axis=1)

    def gradient(self, y, raw):
        raw = _as_raw(raw)
        return softmax(raw, axis=1) - self.targets(y, raw.shape[1])

    def hessian(self, y, raw):
        p = softmax(_as_raw(raw), axis=1)
        return self.hessian_factor * p * (1.0 - p)

    def third_derivative(self, y, raw):
        p = softmax(_as_raw(raw), axis=1)
        return self.hessian_factor * p * (1.0 - p) * (1.0 - 2.0 * p)

    def derivatives(self, y, raw):
        raw = _as_raw(raw)
        p = softmax(raw, axis=1)
        return p - self.targets(y, raw.shape[1]), self.hessian_factor * p * (1.0 - p)

    def hessian_product(self, y, raw, direction):
        # d2/dF2 of -log softmax(F)_y is diag(p) - p p^T, whatever the label
        p = softmax(_as_raw(raw), axis=1)
        direction = _as_raw(direction)
        return p * (direction - (p * direction).sum(axis=1, keepdims=True))

    def link_inverse(self, raw):
        """Class probabilities, shape (n, K)."""
        return softmax(_as_raw(raw), axis=1)


def get_loss(objective, hessian_factor=1.0):
    """The loss object for an objective name.

    Parameters
    ----------
    objective : {"squared_error", "logistic", "softmax"}
    hessian_factor : float, default=1.0
        Only used by softmax; see :class:`Softmax`.

    Examples
    --------
    >>> from boostkit.losses import get_loss
    >>> get_loss("softmax", hessian_factor=2.0)
    Softmax(hessian_factor=2)
    """
    if objective == "squared_error":
        return SquaredError()
    if objective == "logistic":
        return Logistic()
    if objective == "softmax":
        return Softmax(hessian_factor)
    raise ValueError(f"objective must be one of {OBJECTIVES}; got {objective!r}")


@njit(cache=True, inline="always")
def score_derivatives(raw, target, objective, hessian_factor, g, h):
    """Gradient and diagonal hessian at several raw-score rows of one target, for numba kernels:
    the formulas above.

    ``raw``, ``g`` and ``h`` are C-contiguous (m, C): e.g. one training row's scores before
    every round;
    ``target`` (C,) is its label (one-hot for softmax); ``objective`` is a code of
    ``OBJECTIVE_CODES``. The objective is tested once, outside the loops, so each loop body is
    straight-line code the compiler vectorises: called once per score row instead, the same
    formulas cost several times more. The vectorised classes above are the reference the
    kernel is tested against.
    """
    n_rows, n_outputs = raw.shape
    if objective == SOFTMAX:
        for r in range(n_rows):
            top = raw[r, 0]
            for k in range(1, n_outputs):
                top = max(top, raw[r, k])
            total = 0.0
            for k in range(n_outputs):
                g[r, k] = np.exp(raw[r, k] - top)
                total += g[r, k]
            for k in range(n_outputs):
                p = g[r, k] / total
                g[r, k] = p - target[k]
                h[r, k] = hessian_factor * p * (1.0 - p)
    elif n_outputs == 1:  # logistic or single-output squared error: one flat loop
        flat_raw, flat_g, flat_h, y = raw.ravel(), g.ravel(), h.ravel(), target[0]
        if objective == LOGISTIC:
            for r in range(n_rows):
                p = 1.0 / (1.0 + np.exp(-flat_raw[r]))
                flat_g[r] = p - y
                flat_h[r] = p * (1.0 - p)
        else:
            for r in range(n_rows):
                flat_g[r] = flat_raw[r] - y
                flat_h[r] = 1.0
    elif objective == LOGISTIC:
        for r in range(n_rows):
            for k in range(n_outputs):
                p = 1.0 / (1.0 + np.exp(-raw[r, k]))
                g[r, k] = p - target[k]
                h[r, k] = p * (1.0 - p)
    else:
        for r in range(n_rows):
            for k in range(n_outputs):
                g[r, k] = raw[r, k] - target[k]
                h[r, k] = 1.0
