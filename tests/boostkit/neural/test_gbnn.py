"""GBNN estimators: exact steps, merge / to_mlp parity, staged outputs, seeds, warm start, errors."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, make_friedman1
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

from boostkit import GBNNClassifier, GBNNRegressor
from boostkit.neural import GBNNClassifier as NeuralGBNNClassifier
from boostkit.neural._block import initial_block

from .test_kernels import naive_lbfgs


@pytest.fixture(scope="module")
def friedman():
    X, y = make_friedman1(n_samples=600, noise=0.5, random_state=0)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, random_state=0)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def _act(Z, activation):
    if activation == "logistic":
        return expit(Z)
    if activation == "tanh":
        return np.tanh(Z)
    return np.maximum(Z, 0)


def _block_outputs(model, X, t):
    J = model.units_per_step_
    A = model.hidden_weights_[:, t * J:(t + 1) * J]
    c = model.hidden_biases_[t * J:(t + 1) * J]
    V = model.block_output_weights_[t * J:(t + 1) * J]
    return _act(X @ A + c, model.activation) @ V + model.block_output_biases_[t]


# --------------------------------------------------------------------------- independent boosting
def naive_gbnn(X, y, kind, seed, *, max_iter, J, lr, activation, alpha, subsample, step_iter):
    """The spec's algorithm with NumPy only, using the estimator's seeding scheme."""
    n, d = X.shape
    w = np.ones(n)
    if kind == "regression":
        Y = y[:, None] if y.ndim == 1 else y
        mean, scale = Y.mean(axis=0), Y.std(axis=0)
        T = (Y - mean) / scale
        F = np.tile(T.mean(axis=0), (n, 1))
    elif kind == "binary":
        T = y[:, None].astype(float)
        p = y.mean()
        F = np.full((n, 1), np.log(p / (1 - p)))
    else:
        K = y.max() + 1
        T = np.eye(K)[y]
        F = np.tile(np.log(np.bincount(y) / n), (n, 1))
    m = max(1, int(round(subsample * n)))
    for t in range(max_iter):
        rng = np.random.default_rng([seed, t])
        rows = np.sort(rng.permutation(n)[:m]) if m < n else np.arange(n)
        if kind == "regression":
            P, hess = F, np.ones_like(F)
        elif kind == "binary":
            P = expit(F)
            hess = P * (1 - P)
        else:
            P = softmax(F, axis=1)
            hess = P * (1 - P)
        residual = T - P
        rms = np.sqrt((residual[rows] ** 2).mean())
        theta0 = initial_block(rng, d, J, T.shape[1], activation)
        if kind == "regression":
            # Least squares to the residuals, rescaled to unit RMS.
            theta, _, _ = naive_lbfgs(theta0, X, residual / rms, w, rows, J, T.shape[1],
                                      activation, alpha, step_iter)
        else:
            # The log-loss of the current scores plus the block.
            theta, _, _ = naive_lbfgs(theta0, X, T, w, rows, J, T.shape[1], activation, alpha,
                                      step_iter, offset=F,
                                      loss="logistic" if kind == "binary" else "softmax")
        A = theta[: d * J].reshape(J, d).T
        c = theta[d * J: d * J + J]
        V = theta[d * J + J: d * J + J + J * T.shape[1]].reshape(J, -1)
        b = theta[d * J + J + J * T.shape[1]:]
        h = _act(X @ A + c, activation) @ V + b
        rho = (residual * h).sum(axis=0) / (hess * h * h).sum(axis=0)
        F = F + lr * rho * h
    if kind == "regression":
        return F * scale + mean
    return F


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass"])
def test_matches_independent_implementation(kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4))
    if kind == "regression":
        y = 3 * np.sin(X[:, 0]) + X[:, 1] ** 2 + 10
        model = GBNNRegressor
    elif kind == "binary":
        y = (X[:, 0] + X[:, 1] ** 2 + 0.3 * rng.normal(size=90) > 1).astype(int)
        model = GBNNClassifier
    else:
        y = np.digitize(X[:, 0] + 0.5 * X[:, 2], [-0.5, 0.5])
        model = GBNNClassifier
    params = dict(max_iter=4, units_per_step=2, learning_rate=0.7, activation="tanh", alpha=0.5,
                  subsample=0.7, step_max_iter=15, early_stopping=False)
    est = model(random_state=3, **params).fit(X, y)
    ref = naive_gbnn(X, y, kind, est._random_seed, max_iter=4, J=2, lr=0.7, activation="tanh",
                     alpha=0.5, subsample=0.7, step_iter=15)
    ours = est.predict(X) if kind == "regression" else est.decision_function(X)
    np.testing.assert_allclose(ours, ref.ravel() if ref.shape[1] == 1 else ref,
                               rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- steps and baselines
def test_regression_steps_are_exact_least_squares(friedman):
    X, _, y, _ = friedman
    model = GBNNRegressor(max_iter=8, early_stopping=False, random_state=0).fit(X, y)
    target = (y - y.mean()) / y.std()
    np.testing.assert_allclose(model.baseline_prediction_, [0.0], atol=1e-12)
    staged = [np.full(len(y), y.mean())] + list(model.staged_predict(X))
    for t in range(model.n_iter_):
        F_prev = (staged[t] - y.mean()) / y.std()
        h = _block_outputs(model, X, t)[:, 0]
        r = target - F_prev
        np.testing.assert_allclose(model.step_sizes_[t, 0], r @ h / (h @ h), rtol=1e-9)
        # Least squares: the shrunk step's residual is orthogonal to h when learning_rate=1 ...
        # and with shrinkage the loss still decreases along the step.
        F_next = (staged[t + 1] - y.mean()) / y.std()
        np.testing.assert_allclose(F_next, F_prev + 0.5 * model.step_sizes_[t, 0] * h, atol=1e-10)
        assert ((target - F_next) ** 2).sum() < ((target - F_prev) ** 2).sum()


def test_binary_steps_are_newton_steps_and_baseline_is_log_odds(cancer):
    X, _, y, _ = cancer
    w = np.random.default_rng(0).uniform(0.5, 2, size=len(y))
    model = GBNNClassifier(max_iter=6, early_stopping=False, random_state=0).fit(
        X, y, sample_weight=w)
    p1 = (w * y).sum() / w.sum()
    np.testing.assert_allclose(model.baseline_prediction_, [np.log(p1 / (1 - p1))], rtol=1e-12)
    staged = [np.full(len(y), model.baseline_prediction_[0])] + list(
        model.staged_decision_function(X))
    for t in range(model.n_iter_):
        p = expit(staged[t])
        h = _block_outputs(model, X, t)[:, 0]
        newton = (w * (y - p) * h).sum() / (w * p * (1 - p) * h * h).sum()
        np.testing.assert_allclose(model.step_sizes_[t, 0], newton, rtol=1e-9)


def test_multiclass_steps_are_diagonal_newton_and_baseline_is_log_priors(iris):
    X, _, y, _ = iris
    model = GBNNClassifier(max_iter=5, units_per_step=2, early_stopping=False,
                           random_state=0).fit(X, y)
    np.testing.assert_allclose(model.baseline_prediction_, np.log(np.bincount(y) / len(y)))
    Y = np.eye(3)[y]
    staged = [np.tile(model.baseline_prediction_, (len(y), 1))] + list(
        model.staged_decision_function(X))
    for t in range(model.n_iter_):
        P = softmax(staged[t], axis=1)
        h = _block_outputs(model, X, t)
        newton = ((Y - P) * h).sum(axis=0) / (P * (1 - P) * h * h).sum(axis=0)
        np.testing.assert_allclose(model.step_sizes_[t], newton, rtol=1e-9)


def test_multioutput_regression_per_target_means_and_steps(friedman):
    X, _, y, _ = friedman
    Y = np.column_stack([y, -2 * y + X[:, 0], X[:, 1] ** 2])
    model = GBNNRegressor(max_iter=40, units_per_step=2, early_stopping=False,
                          random_state=0).fit(X, Y)
    assert model.predict(X).shape == Y.shape and model.step_sizes_.shape == (40, 3)
    np.testing.assert_allclose(model.y_mean_, Y.mean(axis=0))
    assert model.score(X, Y) > 0.9
    mlp = model.to_mlp()
    np.testing.assert_allclose(mlp.predict(X), model.predict(X), rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------- merge and to_mlp
@pytest.mark.parametrize("units_per_step", [1, 3])
def test_merged_network_equals_additive_model(units_per_step, iris):
    X, X_test, y, _ = iris
    model = GBNNClassifier(max_iter=7, units_per_step=units_per_step, learning_rate=0.3,
                           random_state=0).fit(X, y)
    additive = np.tile(model.baseline_prediction_, (len(X_test), 1))
    for t in range(model.n_iter_):
        additive += 0.3 * model.step_sizes_[t] * _block_outputs(model, X_test, t)
    np.testing.assert_allclose(model.decision_function(X_test), additive, rtol=0, atol=1e-12)
    mlp = model.to_mlp()
    assert mlp.coefs_[0].shape == (X.shape[1], 7 * units_per_step)
    np.testing.assert_allclose(np.log(mlp.predict_proba(X_test)),
                               additive - np.log(np.exp(additive).sum(axis=1, keepdims=True)),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("activation", ["logistic", "tanh", "relu"])
def test_to_mlp_parity_classifier(activation, cancer, iris):
    for X_train, X_test, y_train, _ in (cancer, iris):
        labels = np.array(["neg", "pos", "third"])[y_train]
        model = GBNNClassifier(max_iter=12, units_per_step=2, activation=activation,
                               random_state=1).fit(X_train, labels)
        staged = list(model.staged_predict_proba(X_test))
        for n_units in (None, 2, 10, 24):
            mlp = model.to_mlp(n_units)
            assert isinstance(mlp, MLPClassifier)
            expected = staged[-1 if n_units is None else n_units // 2 - 1]
            np.testing.assert_allclose(mlp.predict_proba(X_test), expected, rtol=0, atol=1e-9)
            np.testing.assert_array_equal(mlp.predict(X_test),
                                          model.classes_[expected.argmax(axis=1)])
        assert mlp.hidden_layer_sizes == (24,) and mlp.coefs_[0].shape == (X_train.shape[1], 24)
        np.testing.assert_allclose(model.to_mlp().predict_proba(X_test),
                                   model.predict_proba(X_test), atol=1e-12)


@pytest.mark.parametrize("normalize_y", [True, False])
def test_to_mlp_parity_regressor(normalize_y, friedman):
    X_train, X_test, y_train, _ = friedman
    y_train = 100 * y_train - 7
    model = GBNNRegressor(max_iter=15, normalize_y=normalize_y, random_state=0).fit(X_train, y_train)
    staged = list(model.staged_predict(X_test))
    np.testing.assert_allclose(staged[-1], model.predict(X_test), rtol=1e-12, atol=1e-9)
    for n_units in (1, 7, 15):
        mlp = model.to_mlp(n_units)
        assert isinstance(mlp, MLPRegressor)
        np.testing.assert_allclose(mlp.predict(X_test), staged[n_units - 1], rtol=1e-12,
                                   atol=1e-9)
    assert mlp.score(X_test, model.predict(X_test)) == pytest.approx(1.0)


def test_switching_units_off_needs_the_bias_correction(cancer):
    X_train, X_test, y_train, _ = cancer
    model = GBNNClassifier(max_iter=30, learning_rate=1.0, random_state=0).fit(X_train, y_train)
    full = model.to_mlp()
    naive = model.to_mlp()
    naive.coefs_ = [full.coefs_[0][:, :3], full.coefs_[1][:3]]
    naive.intercepts_ = [full.intercepts_[0][:3], full.intercepts_[1]]
    corrected = model.to_mlp(3)
    np.testing.assert_allclose(corrected.coefs_[1], naive.coefs_[1])
    gap = np.abs(naive.predict_proba(X_test) - corrected.predict_proba(X_test)).max()
    assert gap > 1e-3  # keeping the full model's output bias is wrong
    np.testing.assert_allclose(corrected.predict_proba(X_test),
                               list(model.staged_predict_proba(X_test))[2], atol=1e-12)


def test_staged_outputs(iris):
    X_train, X_test, y_train, y_test = iris
    model = GBNNClassifier(max_iter=10, random_state=0).fit(X_train, y_train)
    probas = list(model.staged_predict_proba(X_test))
    scores = list(model.staged_decision_function(X_test))
    preds = list(model.staged_predict(X_test))
    assert len(probas) == len(scores) == len(preds) == model.n_iter_ == 10
    np.testing.assert_allclose(probas[-1], model.predict_proba(X_test), atol=1e-12)
    np.testing.assert_allclose(scores[-1], model.decision_function(X_test), atol=1e-12)
    np.testing.assert_array_equal(preds[-1], model.predict(X_test))
    np.testing.assert_allclose(np.sum(probas, axis=2), 1.0)
    accuracy = list(model.staged_score(X_test, y_test))
    assert accuracy[-1] == pytest.approx(model.score(X_test, y_test))


def test_train_score_decreases_and_records_baseline(friedman):
    X, _, y, _ = friedman
    model = GBNNRegressor(max_iter=20, subsample=1.0, early_stopping=False,
                          random_state=0).fit(X, y)
    assert model.train_score_.shape == (21,) and model.validation_score_.shape == (0,)
    np.testing.assert_allclose(model.train_score_[0], -0.5 * y.var())
    assert np.all(np.diff(model.train_score_) > 0)
    np.testing.assert_allclose(model.train_score_[-1],
                               -0.5 * ((y - model.predict(X)) ** 2).mean(), rtol=1e-10)


# --------------------------------------------------------------------------- learning
def test_learns_friedman(friedman):
    X_train, X_test, y_train, y_test = friedman
    model = GBNNRegressor(random_state=0).fit(X_train, y_train)
    # Early stopping (on by default) picked the size below the max_iter=200 cap.
    assert 10 < model.n_units_ < 200 and model.units_per_step_ == 1
    assert model.score(X_test, y_test) > 0.9


def test_learns_breast_cancer_with_few_units(cancer):
    X_train, X_test, y_train, y_test = cancer
    model = GBNNClassifier(max_iter=40, random_state=0).fit(X_train, y_train)
    curve = list(model.staged_score(X_test, y_test))
    # 171 test points: one point is 0.006 of accuracy, and the last stage moves by one point
    # between numpy / scipy releases, so the final check keeps a one-point margin
    assert curve[0] > 0.85 and max(curve) > 0.955 and curve[-1] > 0.94


def test_learns_iris(iris):
    X_train, X_test, y_train, y_test = iris
    assert GBNNClassifier(max_iter=30, random_state=0).fit(X_train, y_train).score(
        X_test, y_test) > 0.9


def test_normalize_y_makes_predictions_scale_equivariant(friedman):
    X, _, y, _ = friedman
    # Scaling by a power of two is exact in floating point, so the standardised targets are
    # bit-identical and so is every block fit: predictions scale exactly.
    a = GBNNRegressor(max_iter=10, random_state=0).fit(X, y)
    b = GBNNRegressor(max_iter=10, random_state=0).fit(X, 1024.0 * y)
    np.testing.assert_allclose(b.predict(X), 1024.0 * a.predict(X), rtol=1e-12)
    # Without standardisation the same regularisation means something else at that scale.
    c = GBNNRegressor(max_iter=10, normalize_y=False, random_state=0).fit(X, 1024.0 * y)
    assert np.abs(c.predict(X) - b.predict(X)).max() > 1.0


def test_early_stopping_on_noise(friedman):
    X, _, _, _ = friedman
    y = np.random.default_rng(0).normal(size=X.shape[0])
    model = GBNNRegressor(max_iter=200, early_stopping=True, n_iter_no_change=5,
                          learning_rate=1.0, random_state=0).fit(X, y)
    assert model.n_iter_ < 200
    # The network is cut back to the step of the best validation score.
    assert model.validation_score_.shape == (model.n_iter_ + 1,)
    assert np.argmax(model.validation_score_) == model.n_iter_
    assert model.n_units_ == model.n_iter_ and model.train_score_.shape == (model.n_iter_ + 1,)


# --------------------------------------------------------------------------- seeds and warm start
def test_random_state_makes_fits_reproducible(cancer):
    X, _, y, _ = cancer
    a = GBNNClassifier(max_iter=5, random_state=7).fit(X, y).decision_function(X)
    b = GBNNClassifier(max_iter=5, random_state=7).fit(X, y).decision_function(X)
    c = GBNNClassifier(max_iter=5, random_state=8).fit(X, y).decision_function(X)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_subsample_draws_follow_random_state(friedman):
    X, _, y, _ = friedman
    full = GBNNRegressor(max_iter=3, subsample=1.0, random_state=0).fit(X, y).predict(X)
    half = GBNNRegressor(max_iter=3, subsample=0.5, random_state=0).fit(X, y).predict(X)
    assert np.abs(full - half).max() > 1e-3


@pytest.mark.parametrize("early_stopping", [False, True])
def test_warm_start_equals_one_long_fit(early_stopping, cancer):
    X, _, y, _ = cancer
    params = dict(random_state=0, early_stopping=early_stopping, n_iter_no_change=50)
    once = GBNNClassifier(max_iter=12, **params).fit(X, y)
    warm = GBNNClassifier(max_iter=5, warm_start=True, **params).fit(X, y)
    warm.set_params(max_iter=12).fit(X, y)
    assert warm.n_iter_ == 12 and warm.n_units_ == 12
    np.testing.assert_allclose(warm.decision_function(X), once.decision_function(X), atol=1e-12)
    np.testing.assert_allclose(warm.train_score_, once.train_score_, atol=1e-12)
    with pytest.raises(ValueError, match="max_iter=3 must be >= n_iter_=12"):
        warm.set_params(max_iter=3).fit(X, y)
    with pytest.raises(ValueError, match="units_per_step and activation cannot change"):
        warm.set_params(max_iter=20, activation="tanh").fit(X, y)


# --------------------------------------------------------------------------- weights and inputs
def test_sample_weight_equals_repetition():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.sin(X[:, 0]) + X[:, 1]
    counts = rng.integers(0, 3, size=60)
    params = dict(max_iter=5, subsample=1.0, early_stopping=False, random_state=0)
    weighted = GBNNRegressor(**params).fit(X, y, sample_weight=counts)
    repeated = GBNNRegressor(**params).fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-6, atol=1e-6)
    labels = (y > 0).astype(int)
    weighted = GBNNClassifier(**params).fit(X, labels, sample_weight=counts)
    repeated = GBNNClassifier(**params).fit(np.repeat(X, counts, axis=0), np.repeat(labels, counts))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-3)


def test_pandas_input_keeps_feature_names(cancer):
    X, X_test, y, _ = cancer
    columns = [f"f{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns)
    model = GBNNClassifier(max_iter=4, random_state=0).fit(frame, pd.Series(y))
    np.testing.assert_array_equal(model.feature_names_in_, columns)
    mlp = model.to_mlp()
    np.testing.assert_array_equal(mlp.feature_names_in_, columns)
    test_frame = pd.DataFrame(X_test, columns=columns)
    np.testing.assert_allclose(mlp.predict_proba(test_frame), model.predict_proba(test_frame))
    np.testing.assert_allclose(
        model.predict_proba(test_frame),
        GBNNClassifier(max_iter=4, random_state=0).fit(X, y).predict_proba(X_test))


def test_sparse_input_is_refused_clearly():
    X = sp.random(30, 4, density=0.5, format="csr", random_state=0)
    with pytest.raises(TypeError, match="dense data is required"):
        GBNNRegressor(max_iter=2).fit(X, np.arange(30.0))


def test_same_class_from_both_import_paths():
    assert NeuralGBNNClassifier is GBNNClassifier


@pytest.mark.parametrize("param,value,message", [
    ("max_iter", 0, "max_iter must be an integer >= 1"),
    ("units_per_step", 1.5, "units_per_step must be 'auto' or an integer >= 1"),
    ("learning_rate", 0.0, "learning_rate must be a float > 0"),
    ("activation", "softplus", "activation must be one of"),
    ("alpha", -1.0, "alpha must be a float >= 0"),
    ("subsample", 1.5, r"subsample must be a float in \(0, 1\]"),
    ("early_stopping", "yes", "early_stopping must be 'auto', True or False"),
    ("validation_fraction", 1.0, r"validation_fraction must be a float in \(0, 1\)"),
    ("step_max_iter", 0, "step_max_iter must be an integer >= 1"),
    ("tol", -1.0, "tol must be a float >= 0"),
])
def test_bad_parameters_name_the_argument(param, value, message):
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match=message):
        GBNNClassifier(**{param: value}).fit(X, np.arange(20) % 2)


def test_bad_inputs(cancer):
    X, _, y, _ = cancer
    model = GBNNClassifier(max_iter=3, units_per_step=2, random_state=0).fit(X, y)
    for n_units in (0, 3, 8, 2.0):
        with pytest.raises(ValueError, match="n_units must be a multiple of units_per_step=2"):
            model.to_mlp(n_units)
    with pytest.raises(ValueError, match="at least 2 classes"):
        GBNNClassifier().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        GBNNClassifier().fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="NaN"):
        GBNNRegressor().fit(np.full((5, 2), np.nan), np.arange(5.0))
    with pytest.raises(ValueError, match="2 features"):
        GBNNRegressor(max_iter=2).fit(X[:, :2], y).predict(X)


def test_constant_target_stops_at_baseline():
    X = np.random.default_rng(0).normal(size=(30, 2))
    model = GBNNRegressor().fit(X, np.full(30, 4.0))
    assert model.n_iter_ == 0
    np.testing.assert_allclose(model.predict(X), 4.0)
    with pytest.raises(ValueError, match="no hidden units"):
        model.to_mlp()


def test_verbose_shows_a_progress_bar(capsys):
    X = np.random.default_rng(0).normal(size=(30, 2))
    GBNNRegressor(max_iter=3, verbose=1).fit(X, X[:, 0])
    assert "GBNNRegressor" in capsys.readouterr().err


def test_newton_steps_are_safeguarded_against_overshooting():
    # Ten-class softmax with learning_rate=1: the plain diagonal Newton step overshoots here
    # (the training loss reached 1e50 before the safeguard); halving keeps it monotone.
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = GBNNClassifier(learning_rate=1.0, max_iter=100, random_state=0).fit(X, y)
    assert np.all(np.diff(model.train_score_) >= 0)
    assert model.score(X, y) > 0.99


# --------------------------------------------------------------------------- size defaults
def test_units_per_step_auto_follows_the_number_of_outputs(cancer, iris, friedman):
    X, _, y, _ = cancer
    assert GBNNClassifier(max_iter=2, random_state=0).fit(X, y).units_per_step_ == 1
    X, _, y, _ = iris
    model = GBNNClassifier(max_iter=2, early_stopping=False, random_state=0).fit(X, y)
    assert model.units_per_step_ == 2 and model.n_units_ == 4  # ceil(sqrt(3 classes))
    digits_X, digits_y = load_digits(return_X_y=True)
    model = GBNNClassifier(max_iter=1, random_state=0).fit(digits_X[:200] / 16, digits_y[:200])
    assert model.units_per_step_ == 4  # ceil(sqrt(10 classes))
    X, _, y, _ = friedman
    Y = np.column_stack([y, y ** 2, X[:, 0], X[:, 1]])
    assert GBNNRegressor(max_iter=2, random_state=0).fit(X, Y).units_per_step_ == 2
    assert GBNNRegressor(max_iter=2, units_per_step=3, random_state=0).fit(X, Y).n_units_ == 6


def test_early_stopping_needs_a_possible_validation_split():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    # One row of class 2: no stratified split exists, so all rows train for max_iter steps.
    y = np.r_[np.zeros(15, int), np.ones(14, int), [2]]
    model = GBNNClassifier(max_iter=4, random_state=0).fit(X, y)
    assert model.validation_score_.shape == (0,) and model.n_iter_ == 4
    y = np.arange(30) % 3
    model = GBNNClassifier(max_iter=4, n_iter_no_change=50, random_state=0).fit(X, y)
    assert model.validation_score_.shape == (5,)


def test_many_classes_learn_digits():
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=600, random_state=0,
                                                        stratify=y)
    model = GBNNClassifier(max_iter=30, random_state=0).fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.92
    assert model.validation_score_[-1] > model.validation_score_[0] + 1.0


def test_zero_weight_validation_rows_turn_early_stopping_off():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = X[:, 0] + X[:, 1]
    model = GBNNRegressor(max_iter=3, validation_fraction=0.5, random_state=0)
    # Weight only on one row: one side of any split weighs zero.
    weight = np.zeros(40)
    weight[0] = 1.0
    model.fit(X, y, sample_weight=weight)
    assert model.validation_score_.shape == (0,) and np.all(np.isfinite(model.train_score_))
