"""TREX against the naive NumPy version of the spec, fed by each library's own leaves.

The surrogate's optimum is checked against an independent Newton solve on a dense feature map
(to 1e-9: the solver's Newton steps reach float64 rounding); the influence formulas are then
checked to 1e-9 given the representer weights.
"""

import functools

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning

from boostkit.influence import TREX

from . import naive
from .models import LIBRARIES, OBJECTIVES, make_data, make_model, n_outputs, reader_available


def assert_close(ours, reference, rtol=1e-9):
    scale = np.abs(reference).max()
    np.testing.assert_allclose(ours, reference, rtol=rtol, atol=rtol * scale)


def _kernel_leaves(view, library, kernel):
    leaves = view.leaves
    n, T, C = leaves.shape
    if library == "catboost" and kernel != "leaf_value":
        return leaves[:, :, 0]  # one oblivious tree per round, whatever the outputs
    return leaves.reshape(n, T * C)


def _check(explainer, model, library, objective, X, y, X_test, y_test, w, kernel):
    C = n_outputs(objective)
    train, _ = naive.library_view(model, X, C)
    test, _ = naive.library_view(model, X_test, C)
    phi, phi_test = naive.feature_map(
        _kernel_leaves(train, library, kernel), _kernel_leaves(test, library, kernel), kernel,
        train.values.reshape(len(X), -1), test.values.reshape(len(X_test), -1))
    Y = naive.targets(objective, y, C)
    Y_test = naive.targets(objective, y_test, C)
    alpha = naive.trex_alpha(phi, Y, objective, explainer.l2, w)
    assert_close(explainer.representer_weights_, alpha)
    assert explainer.relative_gradient_ < 1e-12
    ours_alpha = explainer.representer_weights_
    assert_close(explainer.local_influence(X_test, y_test),
                 naive.trex_influence(phi, phi_test, ours_alpha, Y_test, objective))
    assert_close(explainer.self_influence(), naive.trex_self(phi, ours_alpha, Y, objective))


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("library", LIBRARIES)
def test_trex_matches_naive(library, objective):
    if not reader_available(library):
        pytest.skip(f"no boostkit reader for {library} yet")
    model, X, y, w = make_model(library, objective)
    _, _, X_test, y_test, _ = make_data(objective, library != "gradient_boosting")
    explainer = TREX(mode="exact").fit(model, X, y, sample_weight=w)
    _check(explainer, model, library, objective, X, y, X_test, y_test, w, "leaf_weighted")


@pytest.mark.parametrize("kernel", ["leaf", "leaf_value"])
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_trex_kernels_match_naive(kernel, objective):
    model, X, y, w = make_model("lightgbm", objective)
    _, _, X_test, y_test, _ = make_data(objective)
    explainer = TREX(mode="exact", kernel=kernel).fit(model, X, y, sample_weight=w)
    _check(explainer, model, "lightgbm", objective, X, y, X_test, y_test, w, kernel)


@functools.lru_cache(maxsize=None)
def _forest(kind):
    objective = "logistic" if kind == "classifier" else "squared_error"
    X, y, X_test, y_test, _ = make_data(objective, missing=False)
    cls = RandomForestClassifier if kind == "classifier" else ExtraTreesRegressor
    model = cls(n_estimators=6, max_depth=4, random_state=0).fit(X, y)
    return model, objective, X, y, X_test, y_test


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_trex_on_forests_matches_naive(kind):
    if not reader_available("gradient_boosting"):
        pytest.skip("no boostkit reader for scikit-learn yet")
    model, objective, X, y, X_test, y_test = _forest(kind)
    explainer = TREX(mode="exact").fit(model, X, y)
    _check(explainer, model, "forest", objective, X, y, X_test, y_test, None, "leaf_weighted")
    assert explainer.train_leaf_ids_.shape == (len(X), 6)  # one column per tree


def test_predicted_target_fits_the_models_labels():
    model, X, y, _ = make_model("lightgbm", "logistic", weighted=False)
    actual = TREX(mode="exact", target="actual", kernel="leaf").fit(model, X, y)
    predicted = TREX(mode="exact", target="predicted", kernel="leaf").fit(model, X, y)
    for explainer in (actual, predicted):
        assert set(explainer.fidelity_) == {"pearson", "spearman"}
        assert 0.5 < explainer.fidelity_["pearson"] <= 1.0
    assert predicted.fidelity_ != actual.fidelity_
    labels = model.predict(X)
    C = 1
    train, _ = naive.library_view(model, X, C)
    phi, _ = naive.feature_map(train.leaves[:, :, 0], train.leaves[:, :, 0], "leaf")
    alpha = naive.trex_alpha(phi, naive.targets("logistic", labels, C), "logistic", 0.003)
    assert_close(predicted.representer_weights_, alpha)


def test_trex_self_influence_is_the_diagonal_and_top_k_matches():
    model, X, y, w = make_model("xgboost", "softmax")
    explainer = TREX().fit(model, X, y, sample_weight=w)
    full = explainer.local_influence(X, y)
    assert_close(explainer.self_influence(), np.diag(full))
    top = explainer.local_influence(X, y, top_k=5)
    np.testing.assert_array_equal(top.helpful_indices, np.argsort(-full, 0, kind="stable")[:5])
    np.testing.assert_array_equal(top.harmful_indices, np.argsort(full, 0, kind="stable")[:5])
    assert_close(top.harmful_values, np.sort(full, axis=0)[:5])


def test_reference_regression_is_the_authors_halved_surrogate():
    """The authors' regression: the surrogate minimises sum (y - phi W)^2 / N + l2 ||W||^2
    (no 1/2), alpha = (y - phi W) / (2 l2 N), so the representer sum is W / 2."""
    model, X, y, w = make_model("lightgbm", "squared_error", weighted=False)
    reference = TREX().fit(model, X, y)
    phi, used = reference_feature_map(reference)
    n, l2 = len(y), reference.l2
    # the optimum of the authors' objective: (Phi^T Phi / N + l2 I) W = Phi^T y / N
    coef = np.linalg.solve(phi.T @ phi / n + l2 * np.eye(phi.shape[1]), phi.T @ y / n)
    assert_close(reference.coef_[used, 0], coef)
    alpha = (y - phi @ coef) / (2 * l2 * n)
    assert_close(reference.representer_weights_[:, 0], alpha)
    assert_close(2 * phi.T @ alpha, coef)


def test_newton_steps_take_the_solve_past_where_lbfgs_stalls():
    """L-BFGS alone stops near 1e-8 of the starting gradient (the objective no longer changes
    in float64); the Newton steps after it reach the optimum (the same weights as an
    independent dense Newton solve) to rounding, where its stopping rule left 1e-9 or worse."""
    model, X, y, _ = make_model("lightgbm", "logistic", weighted=False)
    lbfgs_only = TREX(kernel="leaf", tol=1e-15)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("boostkit.influence.trex._NEWTON_STEPS", 0)
        with pytest.warns(ConvergenceWarning):
            lbfgs_only.fit(model, X, y)
    explainer = TREX(kernel="leaf").fit(model, X, y)
    train, _ = naive.library_view(model, X, 1)
    phi, _ = naive.feature_map(train.leaves[:, :, 0], train.leaves[:, :, 0], "leaf")
    alpha = naive.trex_alpha(phi, naive.targets("logistic", y, 1), "logistic", 0.003)
    assert lbfgs_only.relative_gradient_ > 1e-10
    assert explainer.relative_gradient_ < 1e-13
    scale = np.abs(alpha).max()
    assert np.abs(explainer.representer_weights_ - alpha).max() < 1e-12 * scale
    assert np.abs(lbfgs_only.representer_weights_ - alpha).max() > 1e-11 * scale


def reference_feature_map(explainer):
    """Dense phi (1 / count at each training row's leaf of every tree) over the leaves some
    training row reaches, and the mask of those leaves among the surrogate's columns."""
    ids = explainer.train_leaf_ids_
    n_trees, n_leaves = explainer.leaf_weights_.shape
    phi = np.zeros((ids.shape[0], n_trees * n_leaves))
    for j in range(n_trees):
        phi[np.arange(ids.shape[0]), j * n_leaves + ids[:, j]] = explainer.leaf_weights_[j,
                                                                                      ids[:, j]]
    used = phi.any(axis=0)
    return phi[:, used], used


def test_reference_mode_warns_on_rows_that_are_not_the_training_data():
    import warnings

    model, X, y, w = make_model("lightgbm", "logistic", weighted=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the training rows: no warning
        TREX().fit(model, X, y)
    with pytest.warns(UserWarning, match="TREX: the model's leaf values are not one Newton"):
        TREX().fit(model, X, 1 - y)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_trex_results_do_not_depend_on_the_chunk_of_test_points(objective):
    # the surrogate's scores were once a BLAS product, whose summation order follows the
    # chunk's shape: one test point at a time must give the same bits as all at once
    model, X, y, w = make_model("lightgbm", objective)
    _, _, X_test, y_test, _ = make_data(objective)
    explainer = TREX().fit(model, X, y, sample_weight=w)
    whole = explainer.local_influence(X_test, y_test)
    for chunk_size in (1, 7):
        np.testing.assert_array_equal(
            explainer.local_influence(X_test, y_test, chunk_size=chunk_size), whole)
    np.testing.assert_array_equal(explainer.self_influence(chunk_size=13),
                                  explainer.self_influence())
