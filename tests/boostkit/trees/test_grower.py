"""Histogram tree growth: parity with naive NumPy twins and with a regression tree."""

import numpy as np
import pytest
from sklearn.tree import DecisionTreeRegressor

from boostkit.trees import _grow_kernels as K
from boostkit.trees.grower import clip_rows, grow_tree

# ---------------------------------------------------------------------------------------------
# Naive twins written from the spec's formulas (no histograms, no shared code).


def naive_cuts(col, n_bins, uniform, categorical):
    v = np.unique(col)
    if categorical:
        return v[: n_bins - 1]
    if uniform:
        if v[-1] <= v[0]:
            return np.array([])
        return v[0] + (v[-1] - v[0]) * np.arange(1, n_bins) / n_bins
    if v.size <= n_bins:
        return (v[1:] + v[:-1]) / 2
    s = np.sort(col)
    cuts, in_bin = [], 0
    for i in range(1, s.size):
        in_bin += 1
        if s[i] != s[i - 1] and in_bin >= s.size / n_bins and len(cuts) < n_bins - 1:
            cuts.append((s[i - 1] + s[i]) / 2)
            in_bin = 0
    return np.array(cuts)


def naive_bins(X, n_bins, uniform=False, is_cat=None):
    d = X.shape[1]
    is_cat = np.zeros(d, bool) if is_cat is None else is_cat
    cuts = [naive_cuts(X[:, f], n_bins, uniform, is_cat[f]) for f in range(d)]
    B = np.empty(X.shape, dtype=np.int64)
    for f in range(d):
        if is_cat[f]:
            lookup = {c: i for i, c in enumerate(cuts[f])}
            B[:, f] = [lookup.get(x, len(cuts[f])) for x in X[:, f]]
        else:
            B[:, f] = [(cuts[f] < x).sum() for x in X[:, f]]
    return cuts, B


def naive_candidates(B, cuts, is_cat, rows):
    """Every (feature, cut, left-mask) a node's rows could be split by."""
    for f in range(B.shape[1]):
        for b in range(len(cuts[f])):
            left = B[rows, f] == b if is_cat[f] else B[rows, f] <= b
            yield f, b, left


def fit_value(S):
    return 0.0 if S.shape[0] == 0 else float(np.sum(S.sum(0) ** 2) / S.shape[0])


def node_score(S, left, score):
    """L2: n_L |mu_L|^2 + n_R |mu_R|^2. Cosine, literally: sum_i g_i.v_i / sqrt(sum_i |v_i|^2)
    with v_i the mean of row i's child."""
    if score == "l2":
        return fit_value(S[left]) + fit_value(S[~left])
    V = np.zeros_like(S)
    for part in (left, ~left):
        if part.any():
            V[part] = S[part].mean(0)
    den = np.sqrt(np.sum(V * V))
    return 0.0 if den == 0 else float(np.sum(S * V) / den)


def naive_grow(X, G, max_depth, oblivious, score, n_bins=256, is_cat=None, min_leaf=0):
    """Returns the leaf value of every training row (mean raw gradient of its leaf)."""
    d = X.shape[1]
    is_cat = np.zeros(d, bool) if is_cat is None else is_cat
    cuts, B = naive_bins(X, n_bins, False, is_cat)
    Gs = G / np.where(G.std(0) > 1e-12, G.std(0), 1.0) if score == "l2" else G
    out = np.zeros_like(G)
    if oblivious:
        groups = [np.arange(X.shape[0])]
        values = [G.mean(0)]
        for _ in range(max_depth):
            best, best_fb = -np.inf, None
            for f in range(d):
                for b in range(len(cuts[f])):
                    total, real, ok = 0.0, False, True
                    for rows in groups:
                        left = B[rows, f] == b if is_cat[f] else B[rows, f] <= b
                        nl, nr = left.sum(), (~left).sum()
                        real |= nl > 0 and nr > 0
                        ok &= all(c == 0 or c >= min_leaf for c in (nl, nr)) or len(rows) == 0
                        total += node_score(Gs[rows], left, score)  # a level sums nodes
                    if real and ok and total > best:
                        best, best_fb = total, (f, b)
            if best_fb is None:
                break
            f, b = best_fb
            new_groups, new_values = [], []
            for rows, val in zip(groups, values):
                left = B[rows, f] == b if is_cat[f] else B[rows, f] <= b
                for part in (rows[left], rows[~left]):
                    new_groups.append(part)
                    new_values.append(G[part].mean(0) if part.size else val)
            groups, values = new_groups, new_values
        for rows, val in zip(groups, values):
            out[rows] = val
        return out

    def rec(rows, depth):
        best, best_left = -np.inf, None
        if depth < max_depth and rows.size >= 2:
            for f, b, left in naive_candidates(B, cuts, is_cat, rows):
                nl, nr = left.sum(), (~left).sum()
                if nl == 0 or nr == 0 or nl < min_leaf or nr < min_leaf:
                    continue
                s = node_score(Gs[rows], left, score)
                if s > best:
                    best, best_left = s, left
        if best_left is None:
            out[rows] = G[rows].mean(0)
            return
        rec(rows[best_left], depth + 1)
        rec(rows[~best_left], depth + 1)

    rec(np.arange(X.shape[0]), 0)
    return out


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("uniform", [False, True])
@pytest.mark.parametrize("n", [50, 700])
def test_binning_matches_naive_twin(uniform, n):
    rng = np.random.default_rng(n)
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 7, n).astype(float),
                         np.full(n, 3.0), rng.integers(0, 5, n).astype(float)])
    is_cat = np.array([False, False, False, True])
    cuts = np.empty((4, 64))
    n_cuts = np.zeros(4, np.int64)
    binned = np.empty((4, n), np.uint8)
    K.bin_batch(X, is_cat, 64, uniform, cuts, n_cuts, binned)
    ref_cuts, ref_B = naive_bins(X, 64, uniform, is_cat)
    for f in range(4):
        np.testing.assert_allclose(cuts[f, : n_cuts[f]], ref_cuts[f])
    np.testing.assert_array_equal(binned.T, ref_B)
    if not uniform and n == 700:
        assert 40 <= n_cuts[0] <= 63  # quantile bins of ~n / n_bins rows each


@pytest.mark.parametrize("oblivious", [False, True])
@pytest.mark.parametrize("score", ["l2", "cosine"])
def test_growth_matches_naive_twin(oblivious, score):
    rng = np.random.default_rng(1)
    n = 120
    X = np.column_stack([rng.normal(size=n), rng.uniform(size=n),
                         rng.integers(0, 4, n).astype(float)])
    is_cat = np.array([False, False, True])
    G = np.column_stack([np.sin(3 * X[:, 0]) + (X[:, 2] == 2), X[:, 1] * 10,
                         rng.normal(size=n)])
    tree = grow_tree(X, G, max_depth=3, n_bins=32, grow_policy="oblivious" if oblivious
                     else "greedy", split_score=score, is_categorical=is_cat)
    got = tree.leaf_values[tree.leaf_of_row]
    ref = naive_grow(X, G, 3, oblivious, score, n_bins=32, is_cat=is_cat)
    np.testing.assert_allclose(got, ref, atol=1e-12)
    # traversal by thresholds reproduces the training partition
    np.testing.assert_array_equal(tree.apply(X), tree.leaf_of_row)


@pytest.mark.parametrize("min_leaf", [5, 30])
def test_min_samples_leaf_matches_naive_twin(min_leaf):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 2))
    G = rng.normal(size=(90, 2))
    for oblivious in (False, True):
        tree = grow_tree(X, G, max_depth=3, grow_policy="oblivious" if oblivious else "greedy",
                         min_samples_leaf=min_leaf)
        counts = np.bincount(tree.leaf_of_row)
        assert np.all((counts == 0) | (counts >= min_leaf))
        ref = naive_grow(X, G, 3, oblivious, "l2", min_leaf=min_leaf)
        np.testing.assert_allclose(tree.leaf_values[tree.leaf_of_row], ref, atol=1e-12)


@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("depth", [1, 3, 5])
def test_greedy_l2_equals_regression_tree_on_same_bins(n_outputs, depth):
    """Squared-error gradients at F = 0 are -y: the tree is a regression tree on the bins."""
    rng = np.random.default_rng(depth)
    n = 400
    X = rng.normal(size=(n, 4))
    y = np.column_stack([np.sin(X[:, 0] * (k + 1)) + X[:, k % 4] ** 2 + 0.1 * rng.normal(size=n)
                         for k in range(n_outputs)])
    y = (y - y.mean(0)) / y.std(0)  # equal column scales: L2 standardisation is neutral
    is_cat = np.zeros(4, bool)
    cuts = np.empty((4, 64))
    n_cuts = np.zeros(4, np.int64)
    binned = np.empty((4, n), np.uint8)
    K.bin_batch(X, is_cat, 64, False, cuts, n_cuts, binned)
    ref = DecisionTreeRegressor(max_depth=depth, random_state=0).fit(binned.T, y)
    tree = grow_tree(X, -y, max_depth=depth, n_bins=64, grow_policy="greedy", split_score="l2")
    got = -tree.leaf_values[tree.leaf_of_row]
    np.testing.assert_allclose(got, ref.predict(binned.T).reshape(n, n_outputs), atol=1e-10)
    assert tree.n_leaves == ref.get_n_leaves()


def test_categorical_equals_split_beats_threshold():
    # The signal sits on category 2 of a feature whose codes are not ordered by effect:
    # one "equals" split isolates it, a threshold split cannot.
    rng = np.random.default_rng(3)
    X = rng.integers(0, 5, size=(300, 1)).astype(float)
    G = (X[:, :1] == 2).astype(float)
    cat = grow_tree(X, G, max_depth=1, is_categorical=np.array([True]))
    num = grow_tree(X, G, max_depth=1)
    assert cat.is_cat[0] and cat.threshold[0] == 2.0
    np.testing.assert_allclose(cat.leaf_values[cat.leaf_of_row], G)
    assert np.abs(num.leaf_values[num.leaf_of_row] - G).max() > 0.2


def test_clip_rows_and_constant_features():
    G = np.array([[3.0, 4.0], [0.0, 0.5]])
    np.testing.assert_allclose(np.linalg.norm(clip_rows(G, 2.0), axis=1), [2.0, 0.5])
    tree = grow_tree(np.ones((10, 2)), np.arange(10.0), max_depth=3)
    assert tree.n_nodes == 0 and tree.n_leaves == 1
    assert tree.leaf_values[0, 0] == pytest.approx(4.5)
    clipped = grow_tree(np.arange(4.0)[:, None], np.array([[10.0], [10.0], [0.0], [0.0]]),
                        max_depth=1, grad_clip=1.0)
    np.testing.assert_allclose(clipped.leaf_values.ravel(), [1.0, 0.0])


def _naive_predict(trees, X):
    return sum(t.leaf_values[t.apply(X)] for t in trees)


@pytest.mark.parametrize("policy", ["greedy", "oblivious"])
def test_predict_kernels_match_naive_traversal(policy):
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.normal(size=(700, 3)), rng.integers(0, 3, 700)])
    is_cat = np.array([False, False, False, True])
    trees = [grow_tree(X[i * 50:(i + 1) * 50 + 30], rng.normal(size=(80, 2)), max_depth=3,
                       grow_policy=policy, is_categorical=is_cat) for i in range(8)]
    arrays = {k: [] for k in ("feature", "threshold", "is_cat", "left", "right", "leaf")}
    node_start, leaf_start, n_nodes = [], [], []
    for t in trees:
        node_start.append(sum(map(len, arrays["feature"])))
        leaf_start.append(sum(map(len, arrays["leaf"])))
        n_nodes.append(t.n_nodes)
        for k, v in (("feature", t.feature), ("threshold", t.threshold), ("is_cat", t.is_cat),
                     ("left", t.left), ("right", t.right), ("leaf", t.leaf_values)):
            arrays[k].append(v)
    cat = {k: np.concatenate(v) if k != "leaf" else np.vstack(v) for k, v in arrays.items()}
    ns, ls, nn = (np.array(v, dtype=dt) for v, dt in ((node_start, np.int64),
                                                        (leaf_start, np.int64),
                                                        (n_nodes, np.int32)))
    XT = np.ascontiguousarray(X.T)
    for fn in ("", "_serial"):
        out = np.zeros((700, 2))
        if policy == "greedy":
            getattr(K, "predict_greedy" + fn)(XT, cat["feature"], cat["threshold"],
                                              cat["is_cat"], cat["left"], cat["right"], ns, ls,
                                              nn, cat["leaf"], 2, 8, out)
        else:
            getattr(K, "predict_oblivious" + fn)(XT, cat["feature"], cat["threshold"],
                                                 cat["is_cat"], ns, ls, nn, cat["leaf"], 2, 8,
                                                 out)
        np.testing.assert_allclose(out, _naive_predict(trees[2:], X), atol=1e-12)
