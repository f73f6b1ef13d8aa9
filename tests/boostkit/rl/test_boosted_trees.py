"""BoostedTrees: boosting by gradient steps, cache, learning rates, errors, memory, pickling."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeRegressor

from boostkit.rl import BoostedTrees, LinearSchedule
from boostkit.trees import _grow_kernels as K
from boostkit.trees.grower import grow_tree


def _data(n=300, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.column_stack([np.sin(2 * X[:, 0]), X[:, 1] * X[:, 2], (X[:, 3] > 0) * 1.0])
    return X, y


@pytest.mark.parametrize("policy", ["greedy", "oblivious"])
@pytest.mark.parametrize("score", ["l2", "cosine"])
def test_squared_error_boosting_reduces_loss(policy, score):
    X, y = _data()
    m = BoostedTrees(3, grow_policy=policy, split_score=score, learning_rate=0.3)
    losses = []
    for _ in range(40):
        F = m.predict(X)
        losses.append(np.mean((F - y) ** 2))
        m.step(X, F - y)
    assert m.n_trees_ == 40
    assert losses[-1] < 0.25 * losses[0]
    assert np.all(np.diff(losses) <= 1e-12)  # each tree is a descent step on the batch


def test_first_step_equals_regression_tree_on_same_bins():
    X, y = _data(seed=1)
    y = y[:, :1]
    m = BoostedTrees(1, grow_policy="greedy", split_score="l2", learning_rate=1.0, max_depth=4,
                     n_bins=64)
    m.step(X, -y)  # gradient of 0.5 (F - y)^2 at F = 0
    cuts = np.empty((4, 64))
    n_cuts = np.zeros(4, np.int64)
    binned = np.empty((4, X.shape[0]), np.uint8)
    K.bin_batch(X, np.zeros(4, bool), 64, False, cuts, n_cuts, binned)
    ref = DecisionTreeRegressor(max_depth=4).fit(binned.T, y[:, 0])
    np.testing.assert_allclose(m.predict(X)[:, 0], ref.predict(binned.T), atol=1e-10)


def test_prediction_is_bias_plus_sum_of_scaled_trees():
    X, y = _data(seed=2)
    rng = np.random.default_rng(0)
    lr = np.array([0.1, 0.2, 0.3])
    m = BoostedTrees(3, learning_rate=lr, grow_policy="greedy").set_bias([1.0, 2.0, 3.0])
    trees = []
    for _ in range(5):
        G = rng.normal(size=(100, 3))
        m.step(X[:100], G)
        trees.append(grow_tree(X[:100], G, grow_policy="greedy", split_score="cosine"))
    Xt = rng.normal(size=(50, 4))
    ref = np.array([1.0, 2.0, 3.0]) - sum(lr * t.leaf_values[t.apply(Xt)] for t in trees)
    np.testing.assert_allclose(m.predict(Xt), ref, atol=1e-12)


def test_cached_predictions_match_fresh_ones():
    X, y = _data(seed=3)
    m = BoostedTrees(3, cache_size=2)
    for _ in range(5):
        m.step(X, m.predict(X) - y)
    cached = m.predict(X)
    assert m._cache[0][1] == m.n_trees_  # partial sums cover every tree
    fresh = m.predict(X, use_cache=False)
    np.testing.assert_allclose(cached, fresh, atol=1e-12)
    m.set_bias([0.5, 0.0, 0.0])
    np.testing.assert_allclose(m.predict(X), m.predict(X, use_cache=False), atol=1e-12)
    # a batch with the same shape but other values is not served from the cache
    X2 = X + 1.0
    np.testing.assert_allclose(m.predict(X2), m.predict(X2, use_cache=False), atol=1e-12)


def test_learning_rate_schedule_and_per_output():
    sched = LinearSchedule(1.0, 0.0, n_trees=4)
    m = BoostedTrees(1, learning_rate=sched, max_depth=1)
    X = np.array([[0.0], [1.0]])
    for _ in range(6):
        m.step(X, np.array([1.0, 1.0]))
    # rates 1, .75, .5, .25, 0, 0 on a unit gradient
    np.testing.assert_allclose(m.predict(X)[:, 0], -2.5)
    m2 = BoostedTrees(2, learning_rate=[0.0, 1.0], max_depth=1)
    m2.step(X, np.ones((2, 2)))
    np.testing.assert_allclose(m2.predict(X), [[0.0, -1.0], [0.0, -1.0]])


def test_categorical_features_and_pandas_input():
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"obj": rng.integers(0, 6, 400).astype(float), "x": rng.normal(size=400)})
    target = np.isin(X["obj"], [1, 4]).astype(float)[:, None]
    cat = BoostedTrees(1, categorical_features=[0], learning_rate=1.0, max_depth=2)
    cat.step(X, -target)
    assert np.abs(cat.predict(X) - target).max() < 1e-12


@pytest.mark.parametrize("kwargs, match", [
    ({"grow_policy": "leafwise"}, "grow_policy"),
    ({"split_score": "gini"}, "split_score"),
    ({"n_bins": 1000}, "n_bins"),
    ({"max_depth": -1}, "max_depth"),
    ({"learning_rate": [0.1, 0.2]}, "learning_rate"),
    ({"grad_clip": -1.0}, "grad_clip"),
    ({"candidates": "random"}, "candidates"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BoostedTrees(1, **kwargs)


def test_bad_inputs():
    m = BoostedTrees(2)
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match="grads must have shape"):
        m.step(X, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="grads must have shape"):
        m.step(X, np.zeros(4))
    with pytest.raises(ValueError, match="grads contains NaN"):
        m.step(X, np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="X contains NaN"):
        m.step(np.full((4, 3), np.nan), np.zeros((4, 2)))
    m.step(X, np.ones((4, 2)))
    with pytest.raises(ValueError, match="3"):
        m.predict(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="categorical_features"):
        BoostedTrees(1, categorical_features=[7]).step(X, np.zeros(4))


def test_pickle_roundtrip_and_seeded_reproducibility():
    X, y = _data(seed=6)
    runs = []
    for _ in range(2):
        m = BoostedTrees(3, seed=0)
        for _ in range(4):
            m.step(X, m.predict(X) - y)
        runs.append(m.predict(X))
    np.testing.assert_array_equal(runs[0], runs[1])
    back = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    back.step(X, back.predict(X) - y)
    assert back.n_trees_ == 5


@pytest.mark.parametrize("policy", ["oblivious", "greedy"])
def test_memory_of_100k_depth4_trees(policy):
    m = BoostedTrees(3, max_depth=4, grow_policy=policy)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 4))
    G = rng.normal(size=(256, 3))
    m.step(X, G)
    tree = grow_tree(X, G, grow_policy=policy, split_score="cosine")  # the same tree
    assert tree.n_leaves == 16
    while m.n_trees_ < 100_000:  # double the ensemble through the growable stores
        m._append_block(m._export_arrays(), 0, m.n_trees_)
    assert m.n_trees_ == 2 ** 17
    assert m.memory_bytes() < 200e6
    out = m.predict(X[:3], use_cache=False)
    np.testing.assert_allclose(out, -0.1 * 2 ** 17 * tree.leaf_values[tree.apply(X[:3])],
                               rtol=1e-9)


def test_max_trees_compression_keeps_predictions_close():
    X, y = _data(n=400, seed=7)
    m = BoostedTrees(3, max_trees=20, learning_rate=0.2, seed=0)
    for _ in range(20):
        m.step(X, m.predict(X) - y)
    before = m.predict(X)
    m.step(X, m.predict(X) - y)  # 21 trees > 20: the oldest 10 become one deeper tree
    assert m.n_trees_ == 12
    assert m.max_depth + 2 == 6 and m._n_nodes.data[0] == 6
    after = m.predict(X)
    assert np.sqrt(np.mean((after - before) ** 2)) < 0.35 * np.sqrt(np.mean(before ** 2))
    for _ in range(30):
        m.step(X, m.predict(X) - y)
    assert m.n_trees_ <= 20
    assert np.mean((m.predict(X) - y) ** 2) < 0.2 * np.mean(y ** 2)
    np.testing.assert_allclose(m.predict(X), m.predict(X, use_cache=False), atol=1e-10)


def test_feature_importances_find_the_informative_features():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(400, 5))
    y = np.column_stack([np.sin(2 * X[:, 1]), X[:, 3] > 0])
    for policy in ("greedy", "oblivious"):
        m = BoostedTrees(2, grow_policy=policy, learning_rate=0.3)
        for _ in range(15):
            m.step(X, m.predict(X) - y)
        imp = m.feature_importances()
        assert imp.shape == (5,) and imp.sum() == pytest.approx(1.0)
        assert imp[1] + imp[3] > 0.8
        n_splits = m._feature.size
        assert n_splits == (15 * 4 if policy == "oblivious" else m._n_nodes.view().sum())
