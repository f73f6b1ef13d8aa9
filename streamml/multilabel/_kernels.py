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
              l2, acc_coef, acc_intercept, acc_chain, decay, errors):
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
    errors : float64 (n_members, n_labels), output
        Weighted gradient of the log-loss w.r.t. each logit (``w * (p - y)``), for callers that
        train further weights on the same logits.
    """
    n_members = coef.shape[0]
    n_labels = coef.shape[1]
    n_features = coef.shape[2]
    for e in range(n_members):
        w = member_weights[e]
        for j in range(n_labels):
            errors[e, j] = 0.0
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
            errors[e, j] = err
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


@njit(cache=True)
def chain_joint_log_proba(features, coef, intercept, chain, use_chain, candidates, out):
    """Mean over members of log P(label set | x) of each candidate label set under the chain.

    Parameters
    ----------
    features : float64 (n_features,), input
    coef, intercept, chain : ensemble weights (see ``chain_logits``), input
    use_chain : bool
    candidates : float64 (n_candidates, n_labels), input, values 0 / 1
    out : float64 (n_candidates,), output
    """
    n_members = coef.shape[0]
    n_labels = coef.shape[1]
    n_features = coef.shape[2]
    n_cand = candidates.shape[0]
    for k in range(n_cand):
        out[k] = 0.0
    for e in range(n_members):
        for j in range(n_labels):
            base = intercept[e, j]
            for f in range(n_features):
                base += coef[e, j, f] * features[f]
            for k in range(n_cand):
                z = base
                if use_chain:
                    for i in range(j):
                        z += chain[e, j, i] * candidates[k, i]
                if candidates[k, j] < 0.5:
                    z = -z
                # log sigmoid(z), stable for both signs
                if z >= 0.0:
                    out[k] -= math.log1p(math.exp(-z))
                else:
                    out[k] += z - math.log1p(math.exp(z))
    for k in range(n_cand):
        out[k] /= n_members


@njit(cache=True)
def standardize(raw, count, mean, m2, clip, out):
    """(raw - mean) / sd clipped to [-clip, clip]; missing (NaN) and constant features give 0.

    Parameters
    ----------
    raw : float64 (n,), input
    count, mean, m2 : float64 (1, >= n), input (the running moments of ``gaussian_update``)
    clip : float
    out : float64 (n,), output
    """
    for f in range(raw.shape[0]):
        v = raw[f]
        c = count[0, f]
        var = m2[0, f] / (c - 1.0) if c > 1.0 else 0.0
        if v != v or var <= 0.0:
            out[f] = 0.0
            continue
        z = (v - mean[0, f]) / math.sqrt(var)
        if z > clip:
            z = clip
        elif z < -clip:
            z = -clip
        out[f] = z


def warm_up():
    """Compile (or load from cache) every kernel on tiny inputs."""
    c = np.zeros((2, 3))
    gaussian_update(c, c.copy(), c.copy(), np.array([0], dtype=np.int64), np.zeros(3), 1.0)
    coef = np.zeros((1, 2, 3))
    inter = np.zeros((1, 2))
    chain = np.zeros((1, 2, 2))
    proba = np.zeros(2)
    chain_logits(np.zeros(3), coef, inter, chain, True, proba, np.zeros((1, 2)))
    chain_joint_log_proba(np.zeros(3), coef, inter, chain, True, np.zeros((2, 2)), np.zeros(2))
    standardize(np.zeros(3), c[:1], c[:1], c[:1], 8.0, np.zeros(3))
    chain_sgd(np.zeros(3), np.zeros(2), np.ones(1), coef, inter, chain, True, 0.1, 0.1, 0.0,
              coef.copy(), inter.copy(), chain.copy(), 0.999, np.zeros((1, 2)))
