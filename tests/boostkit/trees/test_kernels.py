"""The numba traversal kernels against a naive NumPy/Python twin on random trees."""

import numpy as np
import pytest

from boostkit.trees.ensemble import TreeBuilder

N_FEATURES = 4
N_CATEGORIES = 40


def _random_tree(rng, depth):
    """Random tree as node lists; categorical splits on feature 3 (codes 0..N_CATEGORIES-1)."""
    feature, threshold, left, right, value, mleft, mode = [], [], [], [], [], [], []
    cat_left = {}

    def grow(level):
        i = len(feature)
        for lst in (feature, threshold, left, right, value, mleft, mode):
            lst.append(0)
        if level == depth or rng.random() < 0.15:
            feature[i], left[i], right[i], value[i] = -1, -1, -1, rng.normal()
            return i
        f = int(rng.integers(N_FEATURES))
        feature[i], mleft[i] = f, bool(rng.random() < 0.5)
        if f == 3:
            cat_left[i] = sorted(rng.choice(N_CATEGORIES, rng.integers(1, 8), replace=False))
            mode[i] = int(rng.choice([0, 3]))
        else:
            threshold[i] = float(rng.choice([0.0, rng.normal()]))
            mode[i] = int(rng.integers(3))
        left[i] = grow(level + 1)
        right[i] = grow(level + 1)
        return i

    grow(0)
    return dict(feature=feature, threshold=threshold, left=left, right=right, value=value,
                missing_left=mleft, missing_mode=mode, cat_left=cat_left)


def _naive_leaf(tree, x, n_bits):
    """Route one row, written from the routing rules, not from the kernel."""
    node = 0
    while tree["feature"][node] >= 0:
        v = x[tree["feature"][node]]
        default = tree["left"][node] if tree["missing_left"][node] else tree["right"][node]
        if node in tree["cat_left"]:
            if np.isnan(v):
                node = default
            elif int(v) < 0 or int(v) >= n_bits:
                node = tree["right"][node] if tree["missing_mode"][node] == 3 else default
            else:
                node = (tree["left"][node] if int(v) in tree["cat_left"][node]
                        else tree["right"][node])
            continue
        mode = tree["missing_mode"][node]
        if np.isnan(v) and mode == 1:
            v = 0.0
        if np.isnan(v) or (mode == 2 and abs(v) <= 1e-35):
            node = default
        else:
            node = tree["left"][node] if v <= tree["threshold"][node] else tree["right"][node]
    return node


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_apply_and_predict_match_the_naive_twin(seed):
    rng = np.random.default_rng(seed)
    n_rounds, n_outputs = 6, 2
    trees = [_random_tree(rng, depth=5) for _ in range(n_rounds * n_outputs)]
    builder = TreeBuilder()
    for t in trees:
        builder.add_tree(t["feature"], t["threshold"], t["left"], t["right"], t["value"],
                         missing_left=t["missing_left"], missing_mode=t["missing_mode"],
                         cat_left=t["cat_left"])
    ens = builder.build(n_rounds=n_rounds, n_outputs=n_outputs, objective="softmax",
                        bias=[0.5, -0.5], learning_rate=0.1, l2=1.0, n_features=N_FEATURES)
    X = rng.normal(size=(400, N_FEATURES))
    X[rng.random(X.shape) < 0.1] = np.nan
    X[rng.random(X.shape) < 0.05] = 0.0
    X[:, 3] = rng.integers(-3, N_CATEGORIES + 40, size=400) + rng.choice([0.0, 0.5], size=400)
    X[rng.random(400) < 0.1, 3] = np.nan

    ids = ens.apply(X)
    raw = ens.predict_raw(X)
    expected_raw = np.tile([0.5, -0.5], (len(X), 1))
    for j, tree in enumerate(trees):
        t, k = divmod(j, n_outputs)
        leaves = [i for i, f in enumerate(tree["feature"]) if f < 0]
        for row in range(len(X)):
            node = _naive_leaf(tree, X[row], 32 * ens.cat_bitsets.shape[1])
            assert ids[row, t, k] == leaves.index(node)
            expected_raw[row, k] += tree["value"][node]
    np.testing.assert_allclose(raw, expected_raw, rtol=1e-12, atol=1e-12)


def test_averaged_ensembles_divide_by_the_number_of_trees():
    builder = TreeBuilder()
    for v in (1.0, 2.0, 6.0):  # three stumps
        builder.add_tree([0, -1, -1], [0.0, 0, 0], [1, -1, -1], [2, -1, -1], [0, v, -v])
    ens = builder.build(n_rounds=3, n_outputs=1, objective="squared_error", bias=[0.0],
                        learning_rate=1.0, l2=0.0, averaged=True, n_features=1)
    np.testing.assert_allclose(ens.predict_raw(np.array([[-1.0], [1.0]]))[:, 0], [3.0, -3.0])
