"""LOO and SubSample against explicit retraining written here with clone + fit.

The reference losses use each library's own ``predict`` / ``predict_proba`` (never boostkit's
parsed ensembles), so the retraining, the loss and the bookkeeping are all checked.
"""

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier

from boostkit.influence import LOO, SubSample, TopInfluence
from boostkit.influence.retraining import _single_threaded

from .models import make_data, make_model

N = 60  # training rows of the explicit-retraining checks


def library_loss(model, X, y):
    """The model's own loss per row, from the library's predictions."""
    if hasattr(model, "predict_proba"):
        p = model.predict_proba(X)
        codes = pd.Index(model.classes_).get_indexer(np.asarray(y))
        return -np.log(np.clip(p[np.arange(len(codes)), codes], 1e-15, 1.0))
    return 0.5 * (np.asarray(y, float) - model.predict(X)) ** 2


def fit_on(model, X, y, w, rows):
    twin = clone(model)
    if w is None:
        return twin.fit(X[rows], y[rows])
    return twin.fit(X[rows], y[rows], sample_weight=w[rows])


def explicit_loo(model, X, y, w, X_test, y_test, rows):
    """(local (len(rows), n_test), self (len(rows),)) by retraining without each row."""
    everything = np.arange(len(y))
    full = fit_on(model, X, y, w, everything)
    full_test, full_train = library_loss(full, X_test, y_test), library_loss(full, X, y)
    local, own = [], []
    for i in rows:
        refit = fit_on(model, X, y, w, np.delete(everything, i))
        local.append(library_loss(refit, X_test, y_test) - full_test)
        own.append(library_loss(refit, X[i:i + 1], y[i:i + 1])[0] - full_train[i])
    return np.array(local), np.array(own)


def small_case(library, objective):
    """A small model of ``library`` on the first N rows of the shared data (NaN where allowed)."""
    model, X, y, w = make_model(library, objective)
    _, _, X_test, y_test, _ = make_data(objective, library != "gradient_boosting")
    X, y, w = X[:N], y[:N], w[:N]
    # one library thread: OpenMP threads only slow tiny fits down on a busy machine
    params = {"lightgbm": dict(min_child_samples=3, n_jobs=1), "xgboost": {},
              "gradient_boosting": {}}
    model = clone(model).set_params(**params[library]).fit(X, y, sample_weight=w)
    return model, X, y, w, X_test[:10], y_test[:10]


CASES = [("lightgbm", "logistic"), ("xgboost", "softmax"), ("gradient_boosting",
                                                             "squared_error")]


@pytest.mark.parametrize("library, objective", CASES)
def test_loo_matches_explicit_retraining(library, objective):
    model, X, y, w, X_test, y_test = small_case(library, objective)
    explainer = LOO(n_jobs=1).fit(model, X, y, sample_weight=w)
    assert explainer.reproduces_model_
    rows = [0, 7, N - 1]
    local, own = explicit_loo(model, X, y, w, X_test, y_test, rows)
    ours = explainer.local_influence(X_test, y_test)
    assert ours.shape == (N, len(y_test))
    # float32 probabilities of XGBoost bound the agreement of the library-side reference
    np.testing.assert_allclose(ours[rows], local, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(explainer.self_influence()[rows], own, rtol=1e-5, atol=1e-6)
    assert np.abs(local).max() > 1e-4  # the check has something to compare


def test_loo_forest_and_unweighted():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] + 0.5 * rng.normal(size=40) > 0).astype(int)
    model = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0).fit(X, y)
    explainer = LOO(n_jobs=1).fit(model, X, y)
    local, own = explicit_loo(model, X, y, None, X[:5], y[:5], [3, 20])
    np.testing.assert_allclose(explainer.local_influence(X[:5], y[:5])[[3, 20]], local,
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(explainer.self_influence()[[3, 20]], own, rtol=1e-9, atol=1e-12)


def test_loo_parallel_equals_serial_and_top_k():
    model, X, y, w, X_test, y_test = small_case("lightgbm", "logistic")
    serial = LOO(n_jobs=1).fit(model, X, y, sample_weight=w)
    parallel = LOO(n_jobs=2, verbose=1).fit(model, X, y, sample_weight=w)
    full = serial.local_influence(X_test, y_test)
    np.testing.assert_array_equal(parallel.local_influence(X_test, y_test), full)
    np.testing.assert_array_equal(parallel.self_influence(), serial.self_influence())
    # chunking does not change anything either
    np.testing.assert_array_equal(serial.local_influence(X_test, y_test, chunk_size=3), full)

    top = serial.local_influence(X_test, y_test, top_k=4)
    assert isinstance(top, TopInfluence)
    order = np.argsort(-full, axis=0, kind="stable")[:4]
    np.testing.assert_array_equal(top.helpful_indices, order)
    np.testing.assert_array_equal(top.helpful_values, np.take_along_axis(full, order, axis=0))
    order = np.argsort(full, axis=0, kind="stable")[:4]
    np.testing.assert_array_equal(top.harmful_indices, order)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "catboost"])
def test_thread_count_does_not_change_the_model(library):
    model, X, y, w = make_model(library, "softmax")
    X, y, w = X[:120], y[:120], w[:120]
    key = {"lightgbm": "n_jobs", "xgboost": "n_jobs", "catboost": "thread_count"}[library]
    many = clone(model).set_params(**{key: 2}).fit(X, y, sample_weight=w)
    one = _single_threaded(clone(model).set_params(**{key: 2}))
    assert one.get_params()[key] == 1
    one.fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(one.predict_proba(X), many.predict_proba(X))


@pytest.mark.filterwarnings("ignore:SubSample:UserWarning")
def test_catboost_parallel_subsample_equals_serial():
    model, X, y, w = make_model("catboost", "logistic")
    model = clone(model).set_params(thread_count=2).fit(X[:N], y[:N], sample_weight=w[:N])
    kwargs = dict(n_models=6, random_state=4)
    serial = SubSample(n_jobs=1, **kwargs).fit(model, X[:N], y[:N], sample_weight=w[:N])
    parallel = SubSample(n_jobs=2, **kwargs).fit(model, X[:N], y[:N], sample_weight=w[:N])
    np.testing.assert_array_equal(parallel.train_losses_, serial.train_losses_)
    np.testing.assert_array_equal(parallel.local_influence(X[N:N + 5], y[N:N + 5]),
                                  serial.local_influence(X[N:N + 5], y[N:N + 5]))


@pytest.mark.filterwarnings("ignore:SubSample:UserWarning")
def test_subsample_matches_direct_computation():
    model, X, y, w, X_test, y_test = small_case("gradient_boosting", "squared_error")
    explainer = SubSample(n_models=12, subsample_fraction=0.7, random_state=3,
                          n_jobs=1).fit(model, X, y, sample_weight=w)
    subsets = explainer.subsets_
    assert subsets.shape == (12, N) and (subsets.sum(axis=1) == round(0.7 * N)).all()
    test_losses, train_losses = [], []
    for mask in subsets:
        refit = fit_on(model, X, y, w, np.flatnonzero(mask))
        test_losses.append(library_loss(refit, X_test, y_test))
        train_losses.append(library_loss(refit, X, y))
    test_losses, train_losses = np.array(test_losses), np.array(train_losses)
    expected = np.zeros((N, len(y_test)))
    expected_self = np.zeros(N)
    for i in range(N):
        inside = subsets[:, i]
        if inside.all() or not inside.any():
            continue
        expected[i] = test_losses[~inside].mean(axis=0) - test_losses[inside].mean(axis=0)
        expected_self[i] = train_losses[~inside, i].mean() - train_losses[inside, i].mean()
    np.testing.assert_allclose(explainer.local_influence(X_test, y_test), expected,
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(explainer.self_influence(), expected_self, rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(explainer.train_losses_, train_losses, rtol=1e-9, atol=1e-12)


@pytest.mark.filterwarnings("ignore:SubSample:UserWarning")
def test_subsample_seeding_and_undefined_rows():
    model, X, y, w, X_test, y_test = small_case("lightgbm", "logistic")
    a = SubSample(n_models=6, random_state=1, n_jobs=1).fit(model, X, y)
    b = SubSample(n_models=6, random_state=1, n_jobs=1).fit(model, X, y)
    c = SubSample(n_models=6, random_state=2, n_jobs=1).fit(model, X, y)
    np.testing.assert_array_equal(a.subsets_, b.subsets_)
    assert not np.array_equal(a.subsets_, c.subsets_)
    with pytest.warns(UserWarning, match="raise n_models"):
        one = SubSample(n_models=1, n_jobs=1).fit(model, X, y)
    assert (one.local_influence(X_test, y_test) == 0).all()
    assert (one.self_influence() == 0).all()


def test_pandas_input_and_string_labels():
    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    y = pd.Series(np.where(X["a"] + 0.3 * rng.normal(size=30) > 0, "yes", "no"))
    model = lgb.LGBMClassifier(n_estimators=3, num_leaves=3, min_child_samples=2, n_jobs=1,
                               verbose=-1).fit(X, y)
    explainer = LOO(n_jobs=1).fit(model, X, y)
    refit = clone(model).fit(X.drop(index=4), y.drop(index=4))
    full = clone(model).fit(X, y)
    expected = library_loss(refit, X.iloc[:3], y.iloc[:3]) - library_loss(full, X.iloc[:3],
                                                                           y.iloc[:3])
    np.testing.assert_allclose(explainer.local_influence(X.iloc[:3], y.iloc[:3])[4], expected,
                               rtol=1e-9, atol=1e-12)


def test_warns_when_the_refit_does_not_reproduce_the_model():
    model, X, y, w, _, _ = small_case("gradient_boosting", "squared_error")
    with pytest.warns(UserWarning, match="does not reproduce"):
        explainer = LOO(n_jobs=1).fit(model, X, y)  # the model was fitted with weights
    assert not explainer.reproduces_model_ and explainer.full_refit_max_abs_diff_ > 0


@pytest.mark.parametrize("make", [lambda m: m.booster_, lambda m: object()])
def test_uncloneable_model_is_refused(make):
    model, X, y, _, _, _ = small_case("lightgbm", "logistic")
    for explainer in (LOO(n_jobs=1), SubSample(n_jobs=1)):
        with pytest.raises(TypeError, match="model: retraining needs .*fit and get_params"):
            explainer.fit(make(model), X, y)


def test_xgboost_booster_is_refused():
    model, X, y, _, _, _ = small_case("xgboost", "softmax")
    with pytest.raises(TypeError, match="model: .*get_params"):
        LOO().fit(model.get_booster(), X, y)


@pytest.mark.filterwarnings("ignore:SubSample:UserWarning")
def test_input_errors():
    model, X, y, w, X_test, y_test = small_case("lightgbm", "logistic")
    with pytest.raises(ValueError, match="y has"):
        LOO(n_jobs=1).fit(model, X, y[:-1])
    with pytest.raises(ValueError, match="sample_weight"):
        LOO(n_jobs=1).fit(model, X, y, sample_weight=w[:-1])
    with pytest.raises(ValueError, match="n_jobs"):
        LOO(n_jobs=0).fit(model, X, y)
    with pytest.raises(ValueError, match="n_models"):
        SubSample(n_models=0).fit(model, X, y)
    with pytest.raises(ValueError, match="subsample_fraction"):
        SubSample(subsample_fraction=1.0).fit(model, X, y)
    with pytest.raises(ValueError, match="random_state"):
        SubSample(random_state="seed").fit(model, X, y)
    explainer = SubSample(n_models=4, n_jobs=1).fit(model, X, y)
    with pytest.raises(ValueError, match="X_test has 4 features"):
        explainer.local_influence(X_test[:, :4], y_test)
    with pytest.raises(ValueError, match="never saw"):
        explainer.local_influence(X_test, np.full(len(y_test), 7))
    with pytest.raises(ValueError, match="y_test has"):
        explainer.local_influence(X_test, y_test[:-1])
    with pytest.raises(ValueError, match="per_output"):
        explainer.local_influence(X_test, y_test, per_output=True)
    with pytest.raises(ValueError, match="top_k"):
        explainer.local_influence(X_test, y_test, top_k=0)


def test_loo_regression_on_xgboost_without_nan():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(25, 2))
    y = X[:, 0] + 0.1 * rng.normal(size=25)
    model = xgb.XGBRegressor(n_estimators=3, max_depth=2, n_jobs=1).fit(X, y)
    explainer = LOO(n_jobs=1).fit(model, X, y)
    local, own = explicit_loo(model, X, y, None, X[:4], y[:4], [0, 24])
    np.testing.assert_allclose(explainer.local_influence(X[:4], y[:4])[[0, 24]], local,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(explainer.self_influence()[[0, 24]], own, rtol=1e-5, atol=1e-6)


def test_gradient_boosting_regressor_loo_sees_a_helpful_duplicate():
    # a test point identical to a training row: removing that row raises its loss
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(30, 1))
    y = np.sin(6 * X[:, 0])
    model = GradientBoostingRegressor(n_estimators=20, max_depth=2, learning_rate=0.5,
                                      random_state=0).fit(X, y)
    influence = LOO(n_jobs=1).fit(model, X, y).local_influence(X[[11]], y[[11]])[:, 0]
    assert influence[11] > 0
    assert influence[11] == influence.max()


@pytest.mark.filterwarnings("ignore:SubSample:UserWarning")
def test_dask_client_gives_the_same_results():
    distributed = pytest.importorskip("dask.distributed")
    from boostkit.influence import Random

    model, X, y, w, X_test, y_test = small_case("lightgbm", "logistic")
    explainers = [SubSample(n_models=8, n_jobs=1).fit(model, X, y, sample_weight=w),
                  Random(random_state=2).fit(model, X, y)]
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1,
                            dashboard_address=":0") as client:
        for explainer in explainers:
            np.testing.assert_array_equal(
                explainer.local_influence(X_test, y_test, client=client, chunk_size=3),
                explainer.local_influence(X_test, y_test))
            np.testing.assert_array_equal(explainer.self_influence(client=client, chunk_size=7),
                                          explainer.self_influence())
