"""Each numba kernel against its naive NumPy twin."""

import numpy as np
import pytest

from boostkit.influence import _kernels


def _random_problem(seed, n=60, n_trees=7, n_leaves=5, n_test=9):
    rng = np.random.default_rng(seed)
    train_ids = rng.integers(0, n_leaves, size=(n, n_trees)).astype(np.uint8)
    test_ids = rng.integers(0, n_leaves, size=(n_test, n_trees))
    row_values = rng.normal(size=(n, n_trees))
    test_values = rng.normal(size=(n_test, n_trees))
    table = np.zeros((n_trees, n_leaves, n_test))
    for e in range(n_test):
        for j in range(n_trees):
            table[j, test_ids[e, j], e] = test_values[e, j]
    return train_ids, test_ids, row_values, test_values, table


def _naive_products(train_ids, test_ids, row_values, test_values, n_outputs, per_output):
    n, n_trees = train_ids.shape
    out = np.zeros((n, n_outputs if per_output else 1, test_ids.shape[0]))
    for i in range(n):
        for e in range(test_ids.shape[0]):
            for j in range(n_trees):
                if train_ids[i, j] == test_ids[e, j]:
                    out[i, j % n_outputs if per_output else 0, e] += (row_values[i, j]
                                                                      * test_values[e, j])
    return out


@pytest.mark.parametrize("per_output", [False, True])
def test_leaf_products_twin(per_output):
    train_ids, test_ids, row_values, test_values, table = _random_problem(0)
    C = 7 if per_output else 1
    out = np.zeros((train_ids.shape[0], C if per_output else 1, test_ids.shape[0]))
    _kernels.leaf_products(train_ids, row_values, table, C, out)
    expected = _naive_products(train_ids, test_ids, row_values, test_values, C, per_output)
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13)


def test_leaf_weight_products_twin():
    train_ids, test_ids, _, _, _ = _random_problem(1)
    rng = np.random.default_rng(1)
    weights = rng.uniform(size=(7, 5))
    table = np.zeros((7, 5, test_ids.shape[0]))
    for e in range(test_ids.shape[0]):
        table[np.arange(7), test_ids[e], e] = weights[np.arange(7), test_ids[e]]
    out = np.zeros((train_ids.shape[0], test_ids.shape[0]))
    _kernels.leaf_weight_products(train_ids, weights, table, out)
    expected = np.zeros_like(out)
    for i in range(train_ids.shape[0]):
        for e in range(test_ids.shape[0]):
            same = train_ids[i] == test_ids[e]
            expected[i, e] = (weights[np.arange(7), test_ids[e]] ** 2 * same).sum()
    np.testing.assert_allclose(out, expected, rtol=1e-13)


def test_ordered_products_twin_and_row_invariance():
    rng = np.random.default_rng(2)
    left, right = rng.normal(size=(13, 40)), rng.normal(size=(40, 3))
    out = np.empty((13, 3))
    _kernels.ordered_products(left, right, out)
    expected = np.zeros((13, 3))
    for e in range(13):
        for k in range(3):
            for i in range(40):
                expected[e, k] += left[e, i] * right[i, k]
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13)
    for e in range(13):  # one row at a time: the same bits as all rows at once
        row = np.empty((1, 3))
        _kernels.ordered_products(left[e:e + 1], right, row)
        np.testing.assert_array_equal(row[0], out[e])


@pytest.mark.parametrize("n_blocks", [1, 3, 8])
@pytest.mark.parametrize("k", [1, 4, 60])
def test_top_k_of_products_twin_with_ties(n_blocks, k):
    train_ids, test_ids, row_values, test_values, table = _random_problem(2)
    row_values = np.round(row_values, 0)  # many exact ties, and zeros
    full = _naive_products(train_ids, test_ids, row_values, test_values, 1, False)[:, 0]
    outs = [np.empty((k, test_ids.shape[0]), np.int64), np.empty((k, test_ids.shape[0])),
            np.empty((k, test_ids.shape[0]), np.int64), np.empty((k, test_ids.shape[0]))]
    _kernels.leaf_products_top_k(train_ids, row_values, table, k, n_blocks, *outs)
    helpful = np.argsort(-full, axis=0, kind="stable")[:k]
    harmful = np.argsort(full, axis=0, kind="stable")[:k]
    np.testing.assert_array_equal(outs[0], helpful)
    np.testing.assert_array_equal(outs[1], np.take_along_axis(full, helpful, 0))
    np.testing.assert_array_equal(outs[2], harmful)
    np.testing.assert_array_equal(outs[3], np.take_along_axis(full, harmful, 0))


def test_top_k_rows_twin_with_ties():
    rng = np.random.default_rng(3)
    values = np.round(rng.normal(size=(6, 50)), 1)
    k = 9
    outs = [np.empty((k, 6), np.int64), np.empty((k, 6)), np.empty((k, 6), np.int64),
            np.empty((k, 6))]
    _kernels.top_k_rows(values, k, *outs)
    np.testing.assert_array_equal(outs[0], np.argsort(-values, 1, kind="stable")[:, :k].T)
    np.testing.assert_array_equal(outs[2], np.argsort(values, 1, kind="stable")[:, :k].T)
    np.testing.assert_array_equal(outs[3], np.sort(values, 1)[:, :k].T)


@pytest.mark.parametrize("objective,factor", [("squared_error", 1.0), ("logistic", 1.0),
                                              ("softmax", 1.5)])
def test_round_derivatives_twin_uses_boostkit_losses(objective, factor):
    from boostkit.losses import get_loss

    rng = np.random.default_rng(4)
    n, T = 40, 6
    C = 3 if objective == "softmax" else 1
    n_leaves = 4
    leaf_ids = rng.integers(0, n_leaves, size=(n, T * C)).astype(np.uint8)
    table = rng.normal(scale=0.5, size=(T * C, n_leaves))
    bias = rng.normal(size=C)
    if objective == "softmax":
        targets = np.eye(C)[rng.integers(0, C, n)]
    elif objective == "logistic":
        targets = rng.integers(0, 2, (n, 1)).astype(float)
    else:
        targets = rng.normal(size=(n, 1))
    code = {"squared_error": 0, "logistic": 1, "softmax": 2}[objective]
    own, g, h = (np.empty((n, T * C)) for _ in range(3))
    _kernels.round_derivatives(leaf_ids, table, bias, targets, code, factor, own, g, h)
    # twin: raw scores accumulated round by round, derivatives from boostkit.losses
    loss = get_loss(objective, factor)
    raw = np.tile(bias, (n, 1))
    for t in range(T):
        cols = slice(t * C, (t + 1) * C)
        np.testing.assert_allclose(g[:, cols], loss.gradient(targets, raw), rtol=1e-12,
                                   atol=1e-15)
        np.testing.assert_allclose(h[:, cols], loss.hessian(targets, raw), rtol=1e-12,
                                   atol=1e-15)
        values = table[np.arange(t * C, (t + 1) * C), leaf_ids[:, cols]]
        np.testing.assert_array_equal(own[:, cols], values)
        raw = raw + values


def _round_problem(objective, seed=5, n=40, T=6, n_leaves=4):
    rng = np.random.default_rng(seed)
    C = 3 if objective == "softmax" else 1
    leaf_ids = rng.integers(0, n_leaves, size=(n, T * C)).astype(np.uint8)
    table = rng.normal(scale=0.5, size=(T * C, n_leaves))
    bias = rng.normal(size=C)
    if objective == "softmax":
        targets = np.eye(C)[rng.integers(0, C, n)]
    elif objective == "logistic":
        targets = rng.integers(0, 2, (n, 1)).astype(float)
    else:
        targets = rng.normal(size=(n, 1))
    w = rng.uniform(0.5, 2.0, size=n)
    return leaf_ids, table, bias, targets, w, C, T


def _numpy_rounds(objective, factor, leaf_ids, table, bias, targets, C, T):
    """Per round: (g, h, own leaf values) from boostkit.losses, raw summed round by round."""
    from boostkit.losses import get_loss

    loss = get_loss(objective, factor)
    raw = np.tile(bias, (len(leaf_ids), 1))
    for t in range(T):
        cols = slice(t * C, (t + 1) * C)
        values = table[np.arange(t * C, (t + 1) * C), leaf_ids[:, cols]]
        yield cols, loss.gradient(targets, raw), loss.hessian(targets, raw), values
        raw = raw + values


OBJECTIVES = [("squared_error", 1.0), ("logistic", 1.0), ("softmax", 1.5)]
CODES = {"squared_error": 0, "logistic": 1, "softmax": 2}


@pytest.mark.parametrize("n_blocks", [1, 4])
@pytest.mark.parametrize("objective,factor", OBJECTIVES)
def test_leaf_hessian_sums_twin(objective, factor, n_blocks):
    leaf_ids, table, bias, targets, w, C, T = _round_problem(objective)
    out = np.empty(table.shape)
    gradients = np.empty(leaf_ids.shape)
    _kernels.leaf_hessian_sums(leaf_ids, table, bias, targets, w, CODES[objective], factor,
                               n_blocks, out, gradients)
    expected = np.zeros(table.shape)
    for cols, g, h, _ in _numpy_rounds(objective, factor, leaf_ids, table, bias, targets, C, T):
        np.testing.assert_allclose(gradients[:, cols], g, rtol=1e-12, atol=1e-15)
        for k, j in enumerate(range(cols.start, cols.stop)):
            expected[j] = np.bincount(leaf_ids[:, j], weights=w * h[:, k],
                                      minlength=table.shape[1])
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("objective,factor", OBJECTIVES)
def test_boostin_rows_twin(objective, factor, exact):
    leaf_ids, table, bias, targets, w, C, T = _round_problem(objective, seed=6)
    rng = np.random.default_rng(7)
    sums = rng.uniform(0.5, 3.0, size=table.shape)
    sums[0, 1] = -0.1  # with l2 = 0.1: no hessian mass, no step -> D = 0
    eta, l2 = 0.3, 0.1
    # the kernel's input: the gradients of every round, as leaf_hessian_sums leaves them
    derivatives = np.empty(leaf_ids.shape)
    for cols, g, _, _ in _numpy_rounds(objective, factor, leaf_ids, table, bias, targets, C, T):
        derivatives[:, cols] = g
    self_inf = np.full((len(leaf_ids), C), np.nan)
    _kernels.boostin_rows(leaf_ids, table, targets, w, sums, eta, l2, exact,
                          CODES[objective], factor, derivatives, self_inf)
    expected_self = np.zeros((len(leaf_ids), C))
    for cols, g, h, values in _numpy_rounds(objective, factor, leaf_ids, table, bias, targets,
                                            C, T):
        for k, j in enumerate(range(cols.start, cols.stop)):
            denominator = sums[j, leaf_ids[:, j]] + l2
            v = values[:, k] / eta if exact else values[:, k]
            with np.errstate(divide="ignore", invalid="ignore"):
                D = eta * (w * g[:, k] + v * w * h[:, k]) / denominator
            D[denominator == 0] = 0.0
            np.testing.assert_allclose(derivatives[:, j], D, rtol=1e-12, atol=1e-15)
            expected_self[:, k] += D * g[:, k]
    np.testing.assert_allclose(self_inf, expected_self, rtol=1e-12, atol=1e-15)
