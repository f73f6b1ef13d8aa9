"""The scikit-learn reader reproduces every supported estimator's raw output and leaf partition."""

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (AdaBoostRegressor, ExtraTreesClassifier, ExtraTreesRegressor,
                              GradientBoostingClassifier, GradientBoostingRegressor,
                              HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from boostkit.exceptions import ModelParseError, UnsupportedModelError
from boostkit.trees import check_parity, from_model
from boostkit.trees.parsers import sklearn as reader

N_ROWS = 240


def _library_raw(model, X):
    raw, _ = reader.library_outputs(model, X)
    return raw


def assert_same_partition(ours, theirs):
    """Every tree puts two rows in one leaf for us exactly when it does for the library."""
    ours = np.asarray(ours).reshape(len(ours), -1)
    theirs = np.asarray(theirs).reshape(len(theirs), -1)
    assert ours.shape == theirs.shape
    for j in range(ours.shape[1]):
        # The map leaf -> library leaf must be a bijection on the rows seen.
        pairs = {(a, b) for a, b in zip(ours[:, j], theirs[:, j])}
        assert len(pairs) == len(set(ours[:, j])) == len(set(theirs[:, j])), f"tree {j}"


def assert_parity(model, X):
    """The reader's ensemble against the library, checked here without ``check_parity``."""
    ens = from_model(model)
    raw, leaves = reader.library_outputs(model, X)
    ours = ens.predict_raw(X)
    assert ours.shape == raw.shape == (len(X), ens.n_outputs)
    np.testing.assert_allclose(ours, raw, rtol=1e-6, atol=1e-9)
    ids = ens.apply(X)
    assert ids.shape == (len(X), ens.n_rounds, ens.n_outputs)
    assert ids.min() >= 0 and np.all(ids < ens.n_leaves[None])
    # Leaf ids and leaf values tell the whole story: their sum is the raw output.
    table = ens.leaf_values()
    t_idx, k_idx = np.meshgrid(np.arange(ens.n_rounds), np.arange(ens.n_outputs), indexing="ij")
    per_tree = table[t_idx[None], k_idx[None], ids]
    total = per_tree.mean(axis=1) if ens.averaged else per_tree.sum(axis=1)
    np.testing.assert_allclose(total + ens.bias, raw, rtol=1e-6, atol=1e-9)
    if leaves is not None:
        assert_same_partition(ids, leaves)
    check_parity(ens, model, X)  # the public check agrees
    return ens


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(N_ROWS, 4))
    signal = X[:, 0] + 0.5 * X[:, 1] * X[:, 2]
    y_reg = signal + 0.3 * rng.normal(size=N_ROWS)
    y_bin = (y_reg > 0).astype(int)
    y_multi = np.digitize(y_reg, [-0.6, 0.6])
    X_nan = X.copy()
    X_nan[rng.random(X.shape) < 0.12] = np.nan
    return dict(X=X, X_nan=X_nan, y={"regression": y_reg, "binary": y_bin,
                                     "multiclass": y_multi})


def _make(name, task):
    classifier = task != "regression"
    if name == "gb":
        cls = GradientBoostingClassifier if classifier else GradientBoostingRegressor
        return cls(n_estimators=12, max_depth=3, learning_rate=0.3, subsample=0.8,
                   random_state=0)
    if name == "hgb":
        cls = HistGradientBoostingClassifier if classifier else HistGradientBoostingRegressor
        return cls(max_iter=12, max_leaf_nodes=8, learning_rate=0.3, l2_regularization=0.5,
                   random_state=0)
    if name == "rf":
        cls = RandomForestClassifier if classifier else RandomForestRegressor
        return cls(n_estimators=8, max_depth=6, random_state=0)
    if name == "et":
        cls = ExtraTreesClassifier if classifier else ExtraTreesRegressor
        return cls(n_estimators=8, max_depth=6, random_state=0)
    cls = DecisionTreeClassifier if classifier else DecisionTreeRegressor
    return cls(max_depth=6, random_state=0)


MODELS = ["gb", "hgb", "rf", "et", "tree"]
TASKS = ["regression", "binary", "multiclass"]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", MODELS)
def test_parity_on_float_arrays(data, name, task):
    model = _make(name, task).fit(data["X"], data["y"][task])
    ens = assert_parity(model, data["X"])
    n_classes = {"regression": 1, "binary": 2, "multiclass": 3}[task]
    if name in ("gb", "hgb"):
        assert ens.averaged is False
        assert ens.n_outputs == (3 if task == "multiclass" else 1)
    else:
        assert ens.averaged is True and ens.learning_rate == 1.0
        assert ens.n_outputs == n_classes
        np.testing.assert_array_equal(ens.bias, 0.0)
    expected = {"regression": "squared_error", "binary": "logistic",
                "multiclass": "softmax"}[task]
    assert ens.objective == expected
    assert ens.feature_names is None


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", ["hgb", "rf", "et", "tree"])
def test_parity_with_missing_values(data, name, task):
    model = _make(name, task).fit(data["X_nan"], data["y"][task])
    ens = assert_parity(model, data["X_nan"])
    # Missing values reach splits that send them right as well as left, or the test is idle.
    internal = ens.feature >= 0
    assert ens.missing_left[internal].any() and not ens.missing_left[internal].all()
    # Rows missing everything still follow the library.
    X_all_nan = np.full((3, 4), np.nan)
    np.testing.assert_allclose(ens.predict_raw(X_all_nan), _library_raw(model, X_all_nan),
                               rtol=1e-6, atol=1e-9)


def test_gradient_boosting_refuses_nan_at_fit(data):
    with pytest.raises(ValueError, match="NaN"):
        GradientBoostingRegressor(n_estimators=2).fit(data["X_nan"], data["y"]["regression"])


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", MODELS)
def test_parity_on_named_dataframe(data, name, task):
    X = pd.DataFrame(data["X"], columns=["age", "income", "height", "weight"])
    model = _make(name, task).fit(X, data["y"][task])
    ens = assert_parity(model, X)
    assert ens.feature_names == ["age", "income", "height", "weight"]
    with pytest.raises(ValueError, match="differ"):
        ens.predict_raw(X[["income", "age", "height", "weight"]])


@pytest.mark.parametrize("name", ["gb", "hgb"])
def test_gradient_boosting_scales_leaves_and_reads_init(data, name):
    y = data["y"]["regression"] + 5.0
    model = _make(name, "regression").fit(data["X"], y)
    ens = from_model(model, X_check=data["X"])
    assert ens.learning_rate == pytest.approx(0.3)
    # The bias is the training mean (the default init for squared error).
    np.testing.assert_allclose(ens.bias, [y.mean()], rtol=1e-9)
    if name == "gb":
        first = model.estimators_[0, 0].tree_
        leaves = first.children_left < 0
        stored = ens.value[ens.tree_roots[0]:ens.tree_roots[1]][leaves]
        np.testing.assert_allclose(stored, 0.3 * first.value[leaves, 0, 0])
        assert ens.l2 == 0.0
    else:
        assert ens.l2 == pytest.approx(0.5)


def test_gradient_boosting_binary_bias_is_prior_log_odds(data):
    y = data["y"]["binary"]
    model = _make("gb", "binary").fit(data["X"], y)
    ens = from_model(model)
    p = y.mean()
    np.testing.assert_allclose(ens.bias, [np.log(p / (1 - p))], rtol=1e-9)


@pytest.mark.parametrize("init", ["zero", DummyClassifier(strategy="prior")])
def test_gradient_boosting_constant_init(data, init):
    model = GradientBoostingClassifier(n_estimators=5, init=init, random_state=0).fit(
        data["X"], data["y"]["multiclass"])
    ens = assert_parity(model, data["X"])
    if init == "zero":
        np.testing.assert_array_equal(ens.bias, 0.0)


def test_hist_gradient_boosting_per_tree_values(data):
    """Each parsed tree gives the value of the library's own predictor for that tree."""
    model = _make("hgb", "multiclass").fit(data["X_nan"], data["y"]["multiclass"])
    ens = from_model(model)
    X = data["X_nan"]
    ids = ens.apply(X)
    table = ens.leaf_values()
    known, f_idx_map = model._bin_mapper.make_known_categories_bitsets()
    for t, predictors in enumerate(model._predictors):
        for k, predictor in enumerate(predictors):
            theirs = predictor.predict(X, known_cat_bitsets=known, f_idx_map=f_idx_map,
                                       n_threads=1)
            np.testing.assert_allclose(table[t, k][ids[:, t, k]], theirs, rtol=1e-12)


# ------------------------------------------------------------------ HistGradientBoosting categories
@pytest.fixture(scope="module")
def cat_frame():
    rng = np.random.default_rng(3)
    n = N_ROWS
    frame = pd.DataFrame({
        "a": rng.normal(size=n),
        "color": pd.Categorical(rng.choice(["red", "green", "blue", "cyan"], n)),
        "code": rng.choice([0, 1, 2, 5, -3], n).astype(float),
        "b": rng.normal(size=n),
    })
    frame.loc[rng.random(n) < 0.1, "a"] = np.nan
    frame.loc[rng.random(n) < 0.1, "code"] = np.nan
    frame.loc[rng.random(n) < 0.1, "color"] = np.nan
    y = (frame["a"].fillna(0) + 2.0 * (frame["color"] == "red") + (frame["code"] == 5)
         - 1.5 * (frame["code"] == -3) + 0.1 * rng.normal(size=n)).to_numpy()
    # Prediction-time rows: unseen categories, NaN, negative and never-seen numeric codes.
    unseen = frame.copy()
    unseen["color"] = pd.Categorical(rng.choice(["red", "green", "purple", None], n))
    unseen["code"] = rng.choice([0.0, 1.0, 5.0, -3.0, 7.0, np.nan, -1.0], n)
    targets = {"regression": y, "binary": (y > 0.5).astype(int),
               "multiclass": np.digitize(y, [0.0, 1.0])}
    return frame, unseen, targets


@pytest.mark.parametrize("task", TASKS)
def test_hgb_categorical_dataframe(cat_frame, task):
    frame, unseen, targets = cat_frame
    cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    # "color" is categorical from its dtype; "code" is a numeric column declared categorical.
    model = cls(max_iter=15, max_leaf_nodes=8, categorical_features=["color", "code"],
                random_state=0).fit(frame, targets[task])
    ens = assert_parity(model, frame)
    assert (ens.cat_index >= 0).sum() > 0, "no categorical split: the test would be idle"
    assert ens.feature_names == ["a", "color", "code", "b"]
    assert list(ens.categories[1]) == ["blue", "cyan", "green", "red"]
    assert list(ens.categories[2]) == [-3.0, 0.0, 1.0, 2.0, 5.0]
    assert ens.categories[0] is None and ens.categories[3] is None
    assert_parity(model, unseen)
    # An unseen category is routed like a missing one.
    probe = unseen.iloc[[0, 0]].copy()
    probe["color"] = pd.Categorical(["purple", None])
    raw = ens.predict_raw(probe)
    np.testing.assert_allclose(raw[0], raw[1])


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_hgb_categorical_string_object_column(cat_frame, task):
    frame, unseen, targets = cat_frame
    frame = frame.assign(color=frame["color"].astype(object))
    unseen = unseen.assign(color=unseen["color"].astype(object))
    cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    model = cls(max_iter=10, categorical_features=["color"], random_state=0).fit(
        frame, targets[task])
    assert_parity(model, frame)
    assert_parity(model, unseen)


def test_hgb_categorical_numpy_columns(cat_frame):
    frame, unseen, targets = cat_frame
    X = frame[["a", "code", "b"]].to_numpy()
    X_unseen = unseen[["a", "code", "b"]].to_numpy()
    model = HistGradientBoostingClassifier(max_iter=15, categorical_features=[1],
                                           random_state=0).fit(X, targets["multiclass"])
    ens = assert_parity(model, X)
    assert ens.encode_categories_always and ens.categories[1] is not None
    # The categorical column is moved first inside the model: the reader maps it back.
    assert set(ens.feature[ens.cat_index >= 0]) == {1}
    assert_parity(model, X_unseen)


# ------------------------------------------------------------------ inputs
@pytest.mark.parametrize("name", ["gb", "hgb", "rf"])
def test_read_only_and_strided_inputs(data, name):
    model = _make(name, "binary").fit(data["X"], data["y"]["binary"])
    ens = from_model(model)
    expected = _library_raw(model, data["X"])
    read_only = data["X"].copy()
    read_only.setflags(write=False)
    wide = np.zeros((N_ROWS, 8))
    wide[:, ::2] = data["X"]
    strided = wide[:, ::2]
    assert not strided.flags.c_contiguous
    for X in (read_only, strided, np.asfortranarray(data["X"]), data["X"].astype(np.float32)):
        np.testing.assert_allclose(ens.predict_raw(X), expected, rtol=1e-6, atol=1e-9)
    check_parity(ens, model, read_only)
    assert not read_only.flags.writeable


@pytest.mark.parametrize("name", ["rf", "gb", "hgb"])
def test_values_at_and_next_to_thresholds(data, name):
    """Rows sitting on split thresholds (and one float64 ulp either side) follow the library,
    including where float32 rounding of the input decides the side."""
    model = _make(name, "regression").fit(data["X"], data["y"]["regression"])
    ens = from_model(model)
    internal = np.flatnonzero(ens.feature >= 0)[:60]
    rows = []
    for node in internal:
        for value in (ens.threshold[node], np.nextafter(ens.threshold[node], np.inf),
                      np.nextafter(ens.threshold[node], -np.inf),
                      np.nextafter(np.float32(ens.threshold[node]), np.float32(np.inf))):
            row = data["X"][len(rows) % N_ROWS].copy()
            row[ens.feature[node]] = value
            rows.append(row)
    X = np.array(rows)
    np.testing.assert_allclose(ens.predict_raw(X), _library_raw(model, X), rtol=1e-6,
                               atol=1e-9)
    check_parity(ens, model, X)


def test_parity_failure_is_reported(data):
    model = _make("gb", "regression").fit(data["X"], data["y"]["regression"])
    ens = from_model(model)
    ens.value[ens.feature < 0] *= 1.01
    with pytest.raises(ModelParseError, match="disagrees"):
        check_parity(ens, model, data["X"])


# ------------------------------------------------------------------ unsupported / invalid models
@pytest.mark.parametrize("model, match", [
    (GradientBoostingRegressor(loss="huber", n_estimators=3), "huber"),
    (GradientBoostingRegressor(loss="absolute_error", n_estimators=3), "absolute_error"),
    (GradientBoostingRegressor(loss="quantile", n_estimators=3), "quantile"),
    (HistGradientBoostingRegressor(loss="poisson", max_iter=3), "poisson"),
    (HistGradientBoostingRegressor(loss="absolute_error", max_iter=3), "absolute_error"),
    (GradientBoostingRegressor(init=LinearRegression(), n_estimators=3), "init"),
    (AdaBoostRegressor(n_estimators=3), "AdaBoostRegressor"),
])
def test_unsupported_regressors(data, model, match):
    model.fit(data["X"], np.abs(data["y"]["regression"]))
    with pytest.raises(UnsupportedModelError, match=match):
        from_model(model)


def test_unsupported_exponential_loss(data):
    model = GradientBoostingClassifier(loss="exponential", n_estimators=3).fit(
        data["X"], data["y"]["binary"])
    with pytest.raises(UnsupportedModelError, match="exponential"):
        from_model(model)


def test_unsupported_stratified_dummy_init(data):
    model = GradientBoostingClassifier(init=DummyClassifier(strategy="stratified"),
                                       n_estimators=3).fit(data["X"], data["y"]["binary"])
    with pytest.raises(UnsupportedModelError, match="init"):
        from_model(model)


def test_unsupported_multi_output_forest(data):
    Y = np.column_stack([data["y"]["regression"], data["y"]["regression"] ** 2])
    model = RandomForestRegressor(n_estimators=3, random_state=0).fit(data["X"], Y)
    with pytest.raises(UnsupportedModelError, match="2 targets"):
        from_model(model)


@pytest.mark.parametrize("name", MODELS)
def test_unfitted_model_raises(name):
    with pytest.raises(NotFittedError):
        from_model(_make(name, "binary"))
