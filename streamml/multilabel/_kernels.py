"""numba kernels of the multi-label Hoeffding tree (per-instance hot loops).

Plain arrays and scalars in; outputs are written into the arrays given. The kernels never raise
for user errors (the estimators validate first) and never write into arrays documented as inputs.
Each kernel has a naive NumPy twin in ``tests/streamml/multilabel/test_kernels.py``.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True)
def gaussian_update(count, mean, m2, rows, x, weight):
    """Weighted Welford update of per-row, per-feature Gaussian statistics.

    Parameters
    ----------
    count, mean, m2 : float64 arrays (n_rows, n_features), updated in place
        Weight seen, running mean and sum of squared deviations of each feature, per row.
    rows : int64 array
        The rows that receive this instance (e.g. the labels present, or the row of all instances).
    x : float64 array (n_features,), input
        Raw feature values; NaN marks a missing value, which leaves its column untouched.
    weight : float
        Instance weight (> 0).
    """
    n_features = x.shape[0]
    for k in range(rows.shape[0]):
        r = rows[k]
        for f in range(n_features):
            v = x[f]
            if v != v:  # NaN: missing
                continue
            c = count[r, f] + weight
            delta = v - mean[r, f]
            mean[r, f] += weight * delta / c
            m2[r, f] += weight * delta * (v - mean[r, f])
            count[r, f] = c


@njit(cache=True)
def chain_logits(features, coef, intercept, chain, use_chain, proba, decisions):
    """Greedy classifier-chain inference of an ensemble of logistic chains.

    Parameters
    ----------
    features : float64 (n_features,), input
        Standardized features (missing already imputed with 0).
    coef : float64 (n_members, n_labels, n_features), input
    intercept : float64 (n_members, n_labels), input
    chain : float64 (n_members, n_labels, n_labels), input
        ``chain[e, j, i]`` (i < j) weighs label i's decision in label j's logit.
    use_chain : bool
        False gives binary relevance (``chain`` ignored).
    proba : float64 (n_labels,), output
        Mean over members of each label's probability (each member conditions on its own
        earlier decisions).
    decisions : float64 (n_members, n_labels), output (scratch)
    """
    n_members = coef.shape[0]
    n_labels = coef.shape[1]
    n_features = coef.shape[2]
    for j in range(n_labels):
        proba[j] = 0.0
    for e in range(n_members):
        for j in range(n_labels):
            z = intercept[e, j]
            for f in range(n_features):
                z += coef[e, j, f] * features[f]
            if use_chain:
                for i in range(j):
                    z += chain[e, j, i] * decisions[e, i]
            if z >= 0.0:
                p = 1.0 / (1.0 + math.exp(-z))
            else:
                ez = math.exp(z)
                p = ez / (1.0 + ez)
            decisions[e, j] = 1.0 if p > 0.5 else 0.0
            proba[j] += p
    for j in range(n_labels):
        proba[j] /= n_members


@njit(cache=True)
def chain_sgd(features, labels, member_weights, coef, intercept, chain, use_chain, lr, lr_coef,
              l2, acc_coef, acc_intercept, acc_chain, decay):
    """One weighted adaptive-gradient step on the log-loss of every unit of an ensemble of chains.

    Per weight, ``acc = decay * acc + g**2`` and ``w -= lr * g / sqrt(acc)`` (decay = 1 is
    AdaGrad; below 1 the step size stays alive, which tracks drift). Training is
    teacher-forced: label j sees the TRUE labels i < j.

    Parameters
    ----------
    features : float64 (n_features,), input
    labels : float64 (n_labels,), input, values 0 / 1
    member_weights : float64 (n_members,), input
        Online-bagging weight of each member (Poisson(1) draws, or ones).
    coef, intercept, chain : float64 arrays, updated in place
    use_chain : bool
    lr, lr_coef, l2 : float
        Step size of the intercepts and chain weights, of the feature weights, and L2 penalty
        on the weights (not on the intercept).
    acc_coef, acc_intercept, acc_chain : float64 arrays shaped like the weights, updated in place
        Decayed sums of squared gradients.
    decay : float in (0, 1]
    """
    n_members = coef.shape[0]
    n_labels = coef.shape[1]
    n_features = coef.shape[2]
    for e in range(n_members):
        w = member_weights[e]
        if w <= 0.0:
            continue
        for j in range(n_labels):
            z = intercept[e, j]
            for f in range(n_features):
                z += coef[e, j, f] * features[f]
            if use_chain:
                for i in range(j):
                    z += chain[e, j, i] * labels[i]
            if z >= 0.0:
                p = 1.0 / (1.0 + math.exp(-z))
            else:
                ez = math.exp(z)
                p = ez / (1.0 + ez)
            err = w * (p - labels[j])
            acc_intercept[e, j] = decay * acc_intercept[e, j] + err * err
            intercept[e, j] -= lr * err / (math.sqrt(acc_intercept[e, j]) + 1e-8)
            for f in range(n_features):
                g = err * features[f] + l2 * coef[e, j, f]
                if g != 0.0:
                    acc_coef[e, j, f] = decay * acc_coef[e, j, f] + g * g
                    coef[e, j, f] -= lr_coef * g / (math.sqrt(acc_coef[e, j, f]) + 1e-8)
            if use_chain:
                for i in range(j):
                    g = err * labels[i] + l2 * chain[e, j, i]
                    if g != 0.0:
                        acc_chain[e, j, i] = decay * acc_chain[e, j, i] + g * g
                        chain[e, j, i] -= lr * g / (math.sqrt(acc_chain[e, j, i]) + 1e-8)


def warm_up():
    """Compile (or load from cache) every kernel on tiny inputs."""
    c = np.zeros((2, 3))
    gaussian_update(c, c.copy(), c.copy(), np.array([0], dtype=np.int64), np.zeros(3), 1.0)
    coef = np.zeros((1, 2, 3))
    inter = np.zeros((1, 2))
    chain = np.zeros((1, 2, 2))
    proba = np.zeros(2)
    chain_logits(np.zeros(3), coef, inter, chain, True, proba, np.zeros((1, 2)))
    chain_sgd(np.zeros(3), np.zeros(2), np.ones(1), coef, inter, chain, True, 0.1, 0.1, 0.0,
              coef.copy(), inter.copy(), chain.copy(), 0.999)
