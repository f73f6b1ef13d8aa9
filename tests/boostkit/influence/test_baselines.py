"""Baselines against their formulas, written here with plain loops over NumPy arrays.

Leaf ids, leaf values and predictions come from each library itself (``naive.library_view``,
``predict`` / ``predict_proba``), never from boostkit's parsed ensembles.
"""

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

from boostkit.influence import (InputSim, LeafSim, Loss, Random, Target, TopInfluence,
                                TreeSim)

from . import naive
from .models import make_data, make_model, n_outputs

CASES = [("lightgbm", "logistic"), ("xgboost", "softmax"), ("catboost", "squared_error"),
         ("hist_gradient_boosting", "softmax"), ("gradient_boosting", "squared_error")]


def case(library, objective):
    model, X, y, w = make_model(library, objective)
    _, _, X_test, y_test, _ = make_data(objective, library != "gradient_boosting")
    return model, X, y, w, X_test, y_test


def label_sign(model, y, X_test, y_test, regression):
    """+1 / -1 per (train, test) pair: same class, or target on the test target's side."""
    out = np.empty((len(y), len(y_test)))
    for e in range(len(y_test)):
        if not regression:
            out[:, e] = [1.0 if y[i] == y_test[e] else -1.0 for i in range(len(y))]
            continue
        pred = float(model.predict(X_test[e:e + 1])[0])
        for i in range(len(y)):
            train_above = y[i] >= pred
            test_over = pred >= y_test[e]
            out[i, e] = 1.0 if train_above != test_over else -1.0
    return out


def model_loss(model, X, y):
    if hasattr(model, "predict_proba"):
        p = model.predict_proba(X)
        codes = pd.Index(model.classes_).get_indexer(y)
        return -np.log(np.clip(p[np.arange(len(y)), codes], 1e-15, 1))
    return 0.5 * (y - model.predict(X)) ** 2


def assert_close(ours, reference, rtol=1e-9):
    np.testing.assert_allclose(ours, reference, rtol=rtol,
                               atol=rtol * max(1.0, np.abs(reference).max()))


# ---------------------------------------------------------------------------- Random
def test_random_is_reproducible_and_independent_of_batching():
    model, X, y, _, X_test, y_test = case("lightgbm", "logistic")
    a = Random(random_state=5).fit(model, X, y)
    full = a.local_influence(X_test, y_test)
    assert full.shape == (len(y), len(y_test))
    np.testing.assert_array_equal(Random(random_state=5).fit(model, X, y)
                                  .local_influence(X_test, y_test), full)
    np.testing.assert_array_equal(a.local_influence(X_test, y_test, chunk_size=4), full)
    np.testing.assert_array_equal(a.local_influence(X_test[7:9], y_test[7:9]), full[:, 7:9])
    assert not np.array_equal(Random(random_state=6).fit(model, X, y)
                              .local_influence(X_test, y_test), full)
    # standard normal values, different for every pair
    assert abs(full.mean()) < 0.05 and abs(full.std() - 1) < 0.05
    assert len(np.unique(full)) == full.size
    own = a.self_influence()
    assert own.shape == (len(y),)
    np.testing.assert_array_equal(Random(random_state=5).fit(model, X, y).self_influence(), own)
    assert not np.array_equal(Random(random_state=6).fit(model, X, y).self_influence(), own)
    fresh = Random(random_state=None).fit(model, X, y)
    assert isinstance(fresh.seed_, int)


def test_random_pandas_and_numpy_test_points_agree():
    model, X, y, _, X_test, y_test = case("lightgbm", "logistic")
    frame = pd.DataFrame(X_test, columns=model.booster_.feature_name())
    Xf = pd.DataFrame(X, columns=frame.columns)
    a = Random(random_state=1).fit(model, Xf, y).local_influence(frame, y_test)
    b = Random(random_state=1).fit(model, X, y).local_influence(X_test, y_test)
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- Target
@pytest.mark.parametrize("library, objective", [("lightgbm", "logistic"),
                                                ("xgboost", "softmax")])
def test_target_classification_signs(library, objective):
    model, X, y, _, X_test, y_test = case(library, objective)
    influence = Target(random_state=2).fit(model, X, y).local_influence(X_test, y_test)
    same = y[:, None] == y_test[None, :]
    assert ((influence >= 0) == same).all()
    assert (influence[same] < 1).all() and (influence[~same] >= -1).all()
    # random magnitudes within a label, reproducible, different for another seed
    assert len(np.unique(influence[same])) == same.sum()
    np.testing.assert_array_equal(
        Target(random_state=2).fit(model, X, y).local_influence(X_test, y_test), influence)
    assert not np.array_equal(
        Target(random_state=3).fit(model, X, y).local_influence(X_test, y_test), influence)


def test_target_regression_formula():
    model, X, y, _, X_test, y_test = case("lightgbm", "squared_error")
    influence = Target(mode="exact").fit(model, X, y).local_influence(X_test, y_test)
    expected = np.empty_like(influence)
    for e in range(len(y_test)):
        distance = [abs(y[i] - y_test[e]) for i in range(len(y))]
        expected[:, e] = np.median(distance) - np.array(distance)
    assert_close(influence, expected)


def test_target_has_no_self_influence():
    model, X, y, _, _, _ = case("lightgbm", "logistic")
    with pytest.raises(NotImplementedError, match="Target has no self influence.*Random"):
        Target().fit(model, X, y).self_influence()


# ---------------------------------------------------------------------------- InputSim
def naive_input_similarity(X, X_test, measure):
    mean = np.array([np.mean(c[~np.isnan(c)]) for c in X.T])
    std = np.array([np.std(c[~np.isnan(c)]) for c in X.T])
    std[std == 0] = 1.0
    Z, Zt = (X - mean) / std, (X_test - mean) / std
    Z[np.isnan(Z)] = 0.0
    Zt[np.isnan(Zt)] = 0.0
    out = np.empty((len(X), len(X_test)))
    for i in range(len(X)):
        for e in range(len(X_test)):
            a, b = Z[i], Zt[e]
            if measure == "euclidean":
                out[i, e] = 1.0 / (1.0 + np.sqrt(((a - b) ** 2).sum()))
            elif measure == "cosine":
                norm = np.sqrt((a ** 2).sum() * (b ** 2).sum())
                out[i, e] = (a * b).sum() / norm if norm > 0 else 0.0
            else:
                out[i, e] = (a * b).sum()
    return out


@pytest.mark.parametrize("measure", ["euclidean", "cosine", "dot"])
@pytest.mark.parametrize("library, objective", [("lightgbm", "softmax"),
                                                ("xgboost", "squared_error")])
def test_input_sim_formula(library, objective, measure):
    model, X, y, _, X_test, y_test = case(library, objective)
    X_test, y_test = X_test[:8], y_test[:8]
    influence = InputSim(measure=measure, mode="exact").fit(model, X, y).local_influence(
        X_test, y_test)
    expected = naive_input_similarity(X, X_test, measure) * label_sign(
        model, y, X_test, y_test, objective == "squared_error")
    assert_close(influence, expected)


def test_input_sim_has_no_self_influence_and_checks_measure():
    model, X, y, _, _, _ = case("lightgbm", "logistic")
    with pytest.raises(NotImplementedError, match="InputSim has no self influence"):
        InputSim().fit(model, X, y).self_influence()
    with pytest.raises(ValueError, match="measure must be one of"):
        InputSim(measure="manhattan").fit(model, X, y)
    with pytest.raises(ValueError, match="measure must be one of"):
        TreeSim(measure=None).fit(model, X, y)


# ---------------------------------------------------------------------------- LeafSim
@pytest.mark.parametrize("library, objective", CASES)
def test_leaf_sim_formula(library, objective):
    model, X, y, _, X_test, y_test = case(library, objective)
    C = n_outputs(objective)
    train, _ = naive.library_view(model, X, C)
    test, _ = naive.library_view(model, X_test, C)
    leaves = train.leaves.reshape(len(X), -1)
    test_leaves = test.leaves.reshape(len(X_test), -1)
    kernel = np.zeros((len(X), len(X_test)))
    own = np.zeros(len(X))
    for j in range(leaves.shape[1]):
        counts = {leaf: (leaves[:, j] == leaf).sum() for leaf in np.unique(leaves[:, j])}
        for i in range(len(X)):
            own[i] += 1.0 / counts[leaves[i, j]] ** 2
            for e in range(len(X_test)):
                if leaves[i, j] == test_leaves[e, j]:
                    kernel[i, e] += 1.0 / counts[leaves[i, j]] ** 2
    explainer = LeafSim().fit(model, X, y)
    sign = label_sign(model, y, X_test, y_test, objective == "squared_error")
    assert_close(explainer.local_influence(X_test, y_test), kernel * sign)
    assert_close(explainer.self_influence(), own)


def test_leaf_sim_top_k_and_forest():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] > 0).astype(int)
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    explainer = LeafSim().fit(model, X, y)
    full = explainer.local_influence(X[:6], y[:6])
    top = explainer.local_influence(X[:6], y[:6], top_k=5)
    assert isinstance(top, TopInfluence)
    order = np.argsort(-full, axis=0, kind="stable")[:5]
    np.testing.assert_array_equal(top.helpful_indices, order)
    np.testing.assert_array_equal(top.helpful_values, np.take_along_axis(full, order, axis=0))
    order = np.argsort(full, axis=0, kind="stable")[:5]
    np.testing.assert_array_equal(top.harmful_indices, order)
    assert (full[:, 0] * (2 * (y == y[0]) - 1) >= 0).all()


# ---------------------------------------------------------------------------- TreeSim
@pytest.mark.parametrize("measure", ["euclidean", "cosine", "dot"])
@pytest.mark.parametrize("library, objective", [("lightgbm", "logistic"),
                                                ("catboost", "softmax"),
                                                ("gradient_boosting", "squared_error")])
def test_tree_sim_formula(library, objective, measure):
    model, X, y, _, X_test, y_test = case(library, objective)
    X_test, y_test = X_test[:8], y_test[:8]
    C = n_outputs(objective)
    train, _ = naive.library_view(model, X, C)
    test, _ = naive.library_view(model, X_test, C)
    Z, Zt = train.values.reshape(len(X), -1), test.values.reshape(len(X_test), -1)
    similarity = np.empty((len(X), len(X_test)))
    for i in range(len(X)):
        for e in range(len(X_test)):
            a, b = Z[i], Zt[e]
            if measure == "euclidean":
                similarity[i, e] = 1.0 / (1.0 + np.sqrt(((a - b) ** 2).sum()))
            elif measure == "cosine":
                similarity[i, e] = (a * b).sum() / np.sqrt((a ** 2).sum() * (b ** 2).sum())
            else:
                similarity[i, e] = (a * b).sum()
    sign = label_sign(model, y, X_test, y_test, objective == "squared_error")
    influence = TreeSim(measure=measure, mode="exact").fit(model, X, y).local_influence(
        X_test, y_test)
    # CatBoost / float32 leaf values: the library's own values are float32-rounded
    assert_close(influence, similarity * sign, rtol=1e-6)


def test_tree_sim_has_no_self_influence():
    model, X, y, _, _, _ = case("lightgbm", "logistic")
    with pytest.raises(NotImplementedError, match="TreeSim has no self influence"):
        TreeSim().fit(model, X, y).self_influence()


# ---------------------------------------------------------------------------- Loss
@pytest.mark.parametrize("library, objective", CASES)
def test_loss_is_the_training_loss(library, objective):
    model, X, y, w, _, _ = case(library, objective)
    explainer = Loss().fit(model, X, y, sample_weight=w)
    assert_close(explainer.self_influence(), model_loss(model, X, y), rtol=1e-5)
    with pytest.raises(NotImplementedError, match="global method.*self_influence"):
        explainer.local_influence(X[:2], y[:2])


def test_loss_of_a_forest():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    y = np.digitize(X[:, 0] + 0.5 * rng.normal(size=60), [-0.5, 0.5])
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    assert_close(Loss().fit(model, X, y).self_influence(), model_loss(model, X, y))


# ---------------------------------------------------------------------------- inputs
def test_input_errors():
    model, X, y, _, X_test, y_test = case("lightgbm", "logistic")
    with pytest.raises(ValueError, match="random_state"):
        Random(random_state=-1).fit(model, X, y)
    with pytest.raises(ValueError, match="random_state"):
        Target(random_state="a").fit(model, X, y)
    with pytest.raises(ValueError, match="y has"):
        LeafSim().fit(model, X, y[:-1])
    for explainer in (Random(), Target(), InputSim(), LeafSim(), TreeSim()):
        explainer.fit(model, X, y)
        with pytest.raises(ValueError, match="X_test has 4 features"):
            explainer.local_influence(X_test[:, :4], y_test)
        with pytest.raises(ValueError, match="never saw"):
            explainer.local_influence(X_test, y_test + 5)
        with pytest.raises(ValueError, match="y_test has"):
            explainer.local_influence(X_test, y_test[:-1])
        with pytest.raises(ValueError, match="per_output"):
            explainer.local_influence(X_test, y_test, per_output=True)
        with pytest.raises(ValueError, match="top_k"):
            explainer.local_influence(X_test, y_test, top_k=len(y) + 1)
    with pytest.raises(ValueError, match="y must be numeric"):
        rmodel, Xr, yr, _, _, _ = case("lightgbm", "squared_error")
        InputSim().fit(rmodel, Xr, np.array(["a"] * len(yr)))


def test_unfitted_model_is_refused():
    _, X, y, _, _, _ = case("lightgbm", "logistic")
    with pytest.raises(Exception, match="not fitted"):
        LeafSim().fit(lgb.LGBMClassifier(), X, y)


@pytest.mark.parametrize("explainer", [InputSim(measure="cosine"), InputSim(measure="dot"),
                                       TreeSim(measure="dot"), TreeSim(), LeafSim(), Target(),
                                       Target(mode="exact")])
def test_results_do_not_depend_on_the_chunk_of_test_points(explainer):
    model, X, y, _, X_test, y_test = case("xgboost", "softmax")
    explainer.fit(model, X, y)
    np.testing.assert_array_equal(explainer.local_influence(X_test, y_test, chunk_size=1),
                                  explainer.local_influence(X_test, y_test))
