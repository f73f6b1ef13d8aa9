"""BoostIn against the naive NumPy version of the spec, fed by each library's own leaves."""

import numpy as np
import pytest

from boostkit.exceptions import UnsupportedModelError
from boostkit.influence import BoostIn

from . import naive
from .models import LIBRARIES, OBJECTIVES, make_data, make_model, n_outputs, reader_available


def assert_close(ours, reference):
    scale = np.abs(reference).max()
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-9 * scale)


def _setup(library, objective, weighted=True, mode="reference"):
    if not reader_available(library):
        pytest.skip(f"no boostkit reader for {library} yet")
    model, X, y, w = make_model(library, objective, weighted)
    _, _, X_test, y_test, _ = make_data(objective, library != "gradient_boosting")
    C = n_outputs(objective)
    train, meta = naive.library_view(model, X, C)
    test, _ = naive.library_view(model, X_test, C)
    Y = naive.targets(objective, y, C)
    Y_test = naive.targets(objective, y_test, C)
    if library == "lightgbm" and mode == "reference":
        # the authors' parser moves the start score (from the unweighted labels) into the bias
        start = _start_score(objective, Y, np.ones(len(y)))
        for view in (train, test):
            view.values[:, 0, :] -= start
            view.bias = view.bias + start
    reference = naive.boostin(train, test, Y, Y_test, objective, meta, w, mode)
    explainer = BoostIn(mode=mode).fit(model, X, y, sample_weight=w)
    return explainer, X_test, y_test, reference


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("library", LIBRARIES)
def test_boostin_matches_naive(library, objective):
    explainer, X_test, y_test, (local, self_inf, D) = _setup(library, objective)
    assert_close(explainer.leaf_derivatives(), D)
    assert_close(explainer.local_influence(X_test, y_test), local.sum(axis=2))
    assert_close(explainer.self_influence(), self_inf.sum(axis=1))
    if objective == "softmax":
        assert_close(explainer.local_influence(X_test, y_test, per_output=True), local)
        assert_close(explainer.self_influence(per_output=True), self_inf)


def _start_score(objective, Y, w):
    """LightGBM's boost_from_average start score, from its documented rule: the weighted mean
    label (regression), its log-odds (binary), the log of each class share (multiclass)."""
    mean = (w[:, None] * Y).sum(axis=0) / w.sum()
    if objective == "squared_error":
        return mean
    return np.log(mean / (1 - mean)) if objective == "logistic" else np.log(mean)


def _exact_setup(library, objective):
    """The naive reference of the exact mode: LightGBM's start score taken out of its first
    round's leaves (where boost_from_average put it) and into the bias."""
    model, X, y, _ = make_model(library, objective, weighted=False)
    _, _, X_test, y_test, _ = make_data(objective, library != "gradient_boosting")
    C = n_outputs(objective)
    train, meta = naive.library_view(model, X, C)
    test, _ = naive.library_view(model, X_test, C)
    Y, Y_test = naive.targets(objective, y, C), naive.targets(objective, y_test, C)
    if library == "lightgbm":
        start = _start_score(objective, Y, np.ones(len(y)))
        for view in (train, test):
            view.values[:, 0, :] -= start
            view.bias = view.bias + start
        # the shifted first round is one Newton step at the start score
        g, h = naive.grad_hess(objective, Y, np.tile(train.bias, (len(y), 1)), meta["factor"])
        for k in range(C):
            for leaf in np.unique(train.leaves[:, 0, k]):
                rows = train.leaves[:, 0, k] == leaf
                newton = -meta["eta"] * g[rows, k].sum() / (h[rows, k].sum() + meta["l2"])
                np.testing.assert_allclose(train.values[rows, 0, k], newton, rtol=1e-5,
                                           atol=1e-7)
    reference = naive.boostin(train, test, Y, Y_test, objective, meta, None, "exact")
    return model, X, y, X_test, y_test, reference


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("library", LIBRARIES)
def test_boostin_exact_mode_on_the_newton_view(library, objective):
    if not reader_available(library):
        pytest.skip(f"no boostkit reader for {library} yet")
    model, X, y, X_test, y_test, (local, self_inf, D) = _exact_setup(library, objective)
    if library == "catboost" and objective == "softmax":
        with pytest.raises(UnsupportedModelError, match="full K x K Newton"):
            BoostIn(mode="exact").fit(model, X, y)
        return
    explainer = BoostIn(mode="exact").fit(model, X, y)
    assert_close(explainer.leaf_derivatives(), D)
    assert_close(explainer.local_influence(X_test, y_test), local.sum(axis=2))
    assert_close(explainer.self_influence(), self_inf.sum(axis=1))


def test_exact_mode_refuses_leaves_that_are_not_newton_steps_on_the_data():
    import lightgbm as lgb

    X, y, _, _, _ = make_data("logistic")
    bagged = lgb.LGBMClassifier(n_estimators=8, num_leaves=6, subsample=0.5, subsample_freq=1,
                                min_child_samples=5, verbose=-1, random_state=0).fit(X, y)
    with pytest.warns(UserWarning, match="not one Newton step"):
        BoostIn().fit(bagged, X, y)  # the published approximation reads it, with a warning
    with pytest.raises(ValueError, match="not one Newton step"):
        BoostIn(mode="exact").fit(bagged, X, y)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "catboost"])
def test_reference_mode_warns_on_rows_that_are_not_the_training_data(library):
    """Reference mode computes on any rows (as the authors' code does) but says so when the
    model's leaves are not one Newton step on them; the training rows pass silently."""
    import warnings

    model, X, y, w = make_model(library, "logistic", weighted=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BoostIn().fit(model, X, y)
    with pytest.warns(UserWarning, match="BoostIn: the model's leaf values are not one Newton"):
        BoostIn().fit(model, X, 1 - y)  # other labels
    with pytest.warns(UserWarning, match="not one Newton step"):
        BoostIn().fit(model, X[::-1], y)  # rows that are not the labels' rows


def test_modes_differ_by_leaf_value_scaling():
    ref, X_test, y_test, _ = _setup("lightgbm", "squared_error", mode="reference")
    exact, *_ = _setup("lightgbm", "squared_error", mode="exact")
    assert not np.allclose(ref.local_influence(X_test, y_test),
                           exact.local_influence(X_test, y_test))


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_top_k_matches_full_matrix(objective):
    explainer, X_test, y_test, (local, _, _) = _setup("lightgbm", objective)
    full = local.sum(axis=2)
    k = 7
    top = explainer.local_influence(X_test, y_test, top_k=k)
    helpful = np.argsort(-full, axis=0, kind="stable")[:k]
    harmful = np.argsort(full, axis=0, kind="stable")[:k]
    assert top.helpful_indices.shape == (k, len(X_test))
    assert_close(top.helpful_values, np.take_along_axis(full, helpful, axis=0))
    assert_close(top.harmful_values, np.take_along_axis(full, harmful, axis=0))
    # the indices agree wherever the values are not tied within rounding
    ours = explainer.local_influence(X_test, y_test)
    np.testing.assert_array_equal(top.helpful_indices,
                                  np.argsort(-ours, axis=0, kind="stable")[:k])
    np.testing.assert_array_equal(top.harmful_indices,
                                  np.argsort(ours, axis=0, kind="stable")[:k])


def test_self_influence_is_the_diagonal():
    model, X, y, w = make_model("lightgbm", "logistic")
    explainer = BoostIn().fit(model, X, y, sample_weight=w)
    assert_close(explainer.self_influence(), np.diag(explainer.local_influence(X, y)))


def test_chunking_does_not_change_results():
    explainer, X_test, y_test, _ = _setup("lightgbm", "softmax")
    whole = explainer.local_influence(X_test, y_test)
    np.testing.assert_array_equal(whole, explainer.local_influence(X_test, y_test,
                                                                   chunk_size=7))
    np.testing.assert_array_equal(explainer.self_influence(),
                                  explainer.self_influence(chunk_size=13))


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_boostin_matches_naive_on_categorical_frames(library):
    import pandas as pd

    X, y, X_test, y_test, w = make_data("logistic")
    rng = np.random.default_rng(3)
    cities = ["Lyon", "Oslo", "Pune", "Rome"]

    def frame(values, n):
        out = pd.DataFrame(values, columns=["age", "income", "score", "ratio", "noise"])
        out["city"] = pd.Categorical(rng.choice(cities, n), categories=cities)
        return out

    train, test = frame(X, len(X)), frame(X_test, len(X_test))
    y = (y + (train["city"] == "Oslo").to_numpy()) % 2
    if library == "lightgbm":
        import lightgbm as lgb

        model = lgb.LGBMClassifier(n_estimators=6, num_leaves=6, min_child_samples=5,
                                   cat_smooth=1, min_data_per_group=5, verbose=-1)
    else:
        import xgboost as xgb

        if not reader_available("xgboost"):
            pytest.skip("no boostkit reader for xgboost yet")
        model = xgb.XGBClassifier(n_estimators=6, max_depth=3, enable_categorical=True,
                                  tree_method="hist", n_jobs=1)
    model.fit(train, y, sample_weight=w)
    view, meta = naive.library_view(model, train, 1)
    view_test, _ = naive.library_view(model, test, 1)
    if library == "lightgbm":  # the authors' start score moves into the bias
        start = _start_score("logistic", y[:, None].astype(float), np.ones(len(y)))
        for v in (view, view_test):
            v.values[:, 0, :] -= start
            v.bias = v.bias + start
    local, self_inf, _ = naive.boostin(view, view_test, y[:, None].astype(float),
                                       y_test[:, None].astype(float), "logistic", meta, w)
    explainer = BoostIn().fit(model, train, y, sample_weight=w)
    assert_close(explainer.local_influence(test, y_test), local[:, :, 0])
    assert_close(explainer.self_influence(), self_inf[:, 0])
