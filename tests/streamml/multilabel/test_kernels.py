"""Parity of the numba kernels with naive NumPy twins written from the formulas."""

import numpy as np

from streamml.multilabel import _kernels


def test_gaussian_update_matches_weighted_moments():
    rng = np.random.default_rng(0)
    n_rows, n_features = 3, 4
    count, mean, m2 = (np.zeros((n_rows, n_features)) for _ in range(3))
    xs, ws, rows_seen = [], [], []
    for _ in range(200):
        x = rng.normal(size=n_features) * 3 + 1
        x[rng.random(n_features) < 0.2] = np.nan
        w = rng.uniform(0.5, 2.0)
        rows = np.flatnonzero(rng.random(n_rows) < 0.6).astype(np.int64)
        x_in = x.copy()
        _kernels.gaussian_update(count, mean, m2, rows, x, w)
        assert np.array_equal(x, x_in, equal_nan=True)  # input untouched
        xs.append(x)
        ws.append(w)
        rows_seen.append(set(rows.tolist()))
    X, W = np.array(xs), np.array(ws)
    for r in range(n_rows):
        in_row = np.array([r in s for s in rows_seen])
        for f in range(n_features):
            keep = in_row & ~np.isnan(X[:, f])
            w, v = W[keep], X[keep, f]
            assert np.isclose(count[r, f], w.sum())
            mu = (w * v).sum() / w.sum()
            assert np.isclose(mean[r, f], mu)
            assert np.isclose(m2[r, f], (w * (v - mu) ** 2).sum())


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def naive_chain_logits(features, coef, intercept, chain, use_chain):
    n_members, n_labels, _ = coef.shape
    proba = np.zeros(n_labels)
    for e in range(n_members):
        decisions = np.zeros(n_labels)
        for j in range(n_labels):
            z = intercept[e, j] + coef[e, j] @ features
            if use_chain:
                z += chain[e, j, :j] @ decisions[:j]
            p = _sigmoid(z)
            decisions[j] = p > 0.5
            proba[j] += p / n_members
    return proba


def test_chain_logits_matches_naive():
    rng = np.random.default_rng(1)
    coef = rng.normal(size=(3, 5, 7))
    intercept = rng.normal(size=(3, 5))
    chain = rng.normal(size=(3, 5, 5)) * 2
    x = rng.normal(size=7)
    for use_chain in (True, False):
        out = np.empty(5)
        _kernels.chain_logits(x, coef, intercept, chain, use_chain, out, np.zeros((3, 5)))
        assert np.allclose(out, naive_chain_logits(x, coef, intercept, chain, use_chain))
    # The chain matters: without it the answer differs.
    a, b = np.empty(5), np.empty(5)
    _kernels.chain_logits(x, coef, intercept, chain, True, a, np.zeros((3, 5)))
    _kernels.chain_logits(x, coef, intercept, chain, False, b, np.zeros((3, 5)))
    assert not np.allclose(a, b)


def naive_chain_sgd(x, y, mw, coef, b, chain, use_chain, lr, lr_coef, l2, ac, ab, ach, decay):
    coef, b, chain, ac, ab, ach = (a.copy() for a in (coef, b, chain, ac, ab, ach))
    n_members, n_labels, _ = coef.shape
    for e in range(n_members):
        if mw[e] <= 0:
            continue
        for j in range(n_labels):
            z = b[e, j] + coef[e, j] @ x + (chain[e, j, :j] @ y[:j] if use_chain else 0.0)
            err = mw[e] * (_sigmoid(z) - y[j])
            ab[e, j] = decay * ab[e, j] + err**2
            b[e, j] -= lr * err / (np.sqrt(ab[e, j]) + 1e-8)
            g = err * x + l2 * coef[e, j]
            nz = g != 0
            ac[e, j, nz] = decay * ac[e, j, nz] + g[nz] ** 2
            coef[e, j, nz] -= lr_coef * g[nz] / (np.sqrt(ac[e, j, nz]) + 1e-8)
            if use_chain:
                g = err * y[:j] + l2 * chain[e, j, :j]
                nz = np.flatnonzero(g != 0)
                ach[e, j, nz] = decay * ach[e, j, nz] + g[nz] ** 2
                chain[e, j, nz] -= lr * g[nz] / (np.sqrt(ach[e, j, nz]) + 1e-8)
    return coef, b, chain


def test_chain_sgd_matches_naive_and_learns():
    rng = np.random.default_rng(2)
    E, L, F = 2, 4, 6
    coef = rng.normal(size=(E, L, F)) * 0.1
    b = np.zeros((E, L))
    chain = np.zeros((E, L, L))
    ac, ab, ach = np.zeros_like(coef), np.zeros_like(b), np.zeros_like(chain)
    for step in range(50):
        x = rng.normal(size=F)
        y = (rng.random(L) < 0.5).astype(float)
        mw = rng.poisson(1.0, E).astype(float)
        expected = naive_chain_sgd(x, y, mw, coef, b, chain, True, 0.1, 0.05, 0.01,
                                   ac, ab, ach, 0.99)
        errors = np.zeros((E, L))
        _kernels.chain_sgd(x, y, mw, coef, b, chain, True, 0.1, 0.05, 0.01, ac, ab, ach, 0.99,
                           errors)
        assert np.all(errors[mw == 0] == 0)
        for got, want in zip((coef, b, chain), expected):
            assert np.allclose(got, want)
    assert np.all(np.triu(chain[0]) == 0)  # label j only ever sees labels i < j

    # Real learning: label 1 copies label 0, label 0 follows x[0].
    coef = np.zeros((1, 2, 2)); b = np.zeros((1, 2)); chain = np.zeros((1, 2, 2))
    acc = [np.zeros_like(coef), np.zeros_like(b), np.zeros_like(chain)]
    for _ in range(2000):
        x = rng.normal(size=2)
        y0 = float(x[0] > 0)
        _kernels.chain_sgd(x, np.array([y0, y0]), np.ones(1), coef, b, chain, True, 0.1, 0.1,
                           0.0, *acc, 0.999, np.zeros((1, 2)))
    assert coef[0, 0, 0] > 1.0 and chain[0, 1, 0] > 1.0


def test_leaf_observe_is_gaussian_update_of_row_0_and_the_label_rows_plus_extremes():
    rng = np.random.default_rng(5)
    n_labels, n_features = 4, 6
    fused = [np.zeros((n_labels + 1, n_features)) for _ in range(3)]
    fmin, fmax = np.full(n_features, np.inf), np.full(n_features, -np.inf)
    naive = [np.zeros((n_labels + 1, n_features)) for _ in range(3)]
    nmin, nmax = fmin.copy(), fmax.copy()
    for _ in range(100):
        x = rng.normal(size=n_features)
        x[rng.random(n_features) < 0.2] = np.nan
        positives = np.flatnonzero(rng.random(n_labels) < 0.4).astype(np.int64)
        w = rng.uniform(0.5, 2.0)
        x_in, pos_in = x.copy(), positives.copy()
        _kernels.leaf_observe(*fused, fmin, fmax, positives, x, w)
        assert np.array_equal(x, x_in, equal_nan=True) and np.array_equal(positives, pos_in)
        _kernels.gaussian_update(*naive, np.concatenate([[0], positives + 1]), x, w)
        np.fmin(nmin, x, out=nmin)
        np.fmax(nmax, x, out=nmax)
    for a, b in zip(fused, naive):
        assert np.array_equal(a, b)  # the same operations in the same order
    assert np.array_equal(fmin, nmin) and np.array_equal(fmax, nmax)


def _naive_vote(dist, n_rows, k, labels):
    order = np.argsort(dist[:n_rows], kind="stable")
    return labels[order[:k]].mean(axis=0), labels[order[0]].astype(float)


def test_neighbour_vote_matches_a_sort_and_declines_ambiguous_sets():
    rng = np.random.default_rng(6)
    labels = (rng.random((30, 5)) < 0.4).astype(np.float32)
    for trial in range(300):
        n_rows = int(rng.integers(1, 30))
        k = int(rng.integers(1, n_rows + 1))
        # Few distinct values: ties inside and at the edge of the k nearest are common.
        dist = rng.integers(0, 6, size=30).astype(float) if trial % 2 else rng.random(30)
        dist_in = dist.copy()
        proba, nearest = np.full(5, -1.0), np.full(5, -1.0)
        done = _kernels.neighbour_vote(dist, n_rows, k, labels, proba, nearest)
        assert np.array_equal(dist, dist_in)
        ordered = np.sort(dist[:n_rows])
        ambiguous = k < n_rows and ordered[k - 1] == ordered[k]
        assert done == (not ambiguous)
        if done:
            want_proba, want_nearest = _naive_vote(dist, n_rows, k, labels)
            assert np.allclose(proba, want_proba)
            assert np.array_equal(nearest, want_nearest)  # first of the nearest, row order
    dist = np.array([1.0, np.nan, 0.5])
    assert not _kernels.neighbour_vote(dist, 3, 1, labels, proba, nearest)


def test_joint_record_counts_like_numpy():
    rng = np.random.default_rng(7)
    counts = [np.zeros(2) for _ in range(5)]  # tp, fp, fn, errors, exact
    want = [np.zeros(2) for _ in range(5)]
    for _ in range(200):
        y = (rng.random(6) < 0.3).astype(float)
        answers = [(rng.random(6) < 0.3).astype(float), y.copy() if rng.random() < 0.3
                   else (rng.random(6) < 0.3).astype(float)]
        _kernels.joint_record(*answers, y, *counts)
        for i, a in enumerate(answers):
            tp = np.sum((a > 0.5) & (y > 0.5))
            fp = np.sum((a > 0.5) & (y < 0.5))
            fn = np.sum((a < 0.5) & (y > 0.5))
            for arr, v in zip(want, (tp, fp, fn, fp + fn, fp + fn == 0)):
                arr[i] += v
    for a, b in zip(counts, want):
        assert np.array_equal(a, b)


def test_scatter_values_matches_numpy_and_reports_infinities():
    rng = np.random.default_rng(9)
    for trial in range(50):
        n = int(rng.integers(1, 12))
        cols = rng.permutation(n)[: int(rng.integers(0, n + 1))].astype(np.int64)
        values = rng.normal(size=len(cols))
        if trial % 5 == 0 and len(values):
            values[rng.integers(len(values))] = np.nan
        if trial % 7 == 0 and len(values):
            values[rng.integers(len(values))] = -np.inf if trial % 2 else np.inf
        want = np.full(n, np.nan)
        want[cols] = values
        out = rng.normal(size=n)  # stale content is overwritten
        values_in = values.copy()
        infinite = _kernels.scatter_values(values, cols, out)
        assert np.array_equal(out, want, equal_nan=True)
        assert np.array_equal(values, values_in, equal_nan=True)
        assert infinite == bool(np.isinf(values).any())


def test_nonzero_entries_matches_numpy():
    """Non-zero, non-NaN values of keys with a column, sorted by column, and the number of
    those without a column; (-1, 0) on an infinity."""
    rng = np.random.default_rng(12)
    for trial in range(200):
        n = int(rng.integers(0, 15))
        values = np.where(rng.random(n) < 0.4, rng.normal(size=n), 0.0)
        values[rng.random(n) < 0.1] = np.nan
        key_cols = rng.permutation(3 * n + 1)[:n].astype(np.int64)  # distinct, any order
        if trial % 4 == 0:
            key_cols[rng.random(n) < 0.2] = -1
        if trial % 9 == 0 and n:
            values[rng.integers(n)] = np.inf if trial % 2 else -np.inf
        present = (values != 0) & ~np.isnan(values)
        keep = present & (key_cols >= 0)
        cols, out = np.full(n, 99, dtype=np.int64), rng.normal(size=n)
        values_in, key_cols_in = values.copy(), key_cols.copy()
        got, unknown = _kernels.nonzero_entries(values, key_cols, cols, out)
        assert np.array_equal(values, values_in, equal_nan=True)
        assert np.array_equal(key_cols, key_cols_in)
        if np.isinf(values).any():
            assert (got, unknown) == (-1, 0)
            continue
        assert got == int(keep.sum()) and unknown == int((present & (key_cols < 0)).sum())
        order = np.argsort(key_cols[keep])
        assert np.array_equal(cols[:got], key_cols[keep][order])
        assert np.array_equal(out[:got], values[keep][order])


def test_sparse_scale_and_sum_squares_match_numpy():
    rng = np.random.default_rng(10)
    sumsq = np.zeros(12)
    for n_rows in range(0, 40):
        cols = np.sort(rng.choice(15, size=int(rng.integers(0, 8)), replace=False)).astype(
            np.int64)
        values = rng.normal(size=len(cols)) * 3
        known = cols < len(sumsq)
        want = values.copy()
        if n_rows:
            rms = np.sqrt(sumsq[cols[known]] / n_rows)
            want[known] = np.where(rms > 0, values[known] / np.where(rms > 0, rms, 1.0), 1.0)
        want = np.clip(want, -2.0, 2.0)
        out = np.full(len(cols), np.nan)
        values_in, sumsq_in = values.copy(), sumsq.copy()
        _kernels.sparse_scale(cols, values, sumsq, n_rows, 2.0, out)
        assert np.allclose(out, want, rtol=1e-12, atol=0.0)
        assert np.array_equal(values, values_in) and np.array_equal(sumsq, sumsq_in)
        kept = cols[known], values[known]
        np.add.at(sumsq_in, kept[0], kept[1] ** 2)
        _kernels.sparse_sum_squares(*kept, sumsq)
        assert np.allclose(sumsq, sumsq_in, rtol=1e-12, atol=0.0)


def test_label_errors_counts_like_numpy():
    rng = np.random.default_rng(3)
    proba = rng.random(40)
    proba[:4] = 0.5  # ties: "> 0.5" is not a positive, ">= threshold" is
    labels = (rng.random(40) < 0.4).astype(np.float64)
    thresholds = np.concatenate([np.full(4, 0.5), rng.random(36), rng.random(3)])  # longer
    assert _kernels.label_errors(proba, None, labels) == np.count_nonzero(
        (proba > 0.5) != (labels > 0.5))
    assert _kernels.label_errors(proba, thresholds, labels) == np.count_nonzero(
        (proba >= thresholds[:40]) != (labels > 0.5))
    assert _kernels.label_errors(proba[:0], None, labels[:0]) == 0
