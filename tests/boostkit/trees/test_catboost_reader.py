"""The CatBoost reader reproduces CatBoost's raw output and leaf indexes."""

import numpy as np
import pandas as pd
import pytest

catboost = pytest.importorskip("catboost")

from boostkit.exceptions import ModelParseError, UnsupportedModelError  # noqa: E402
from boostkit.trees import check_parity, from_model  # noqa: E402
from boostkit.trees.parsers import catboost as reader  # noqa: E402

N_ROWS = 240
TASKS = {"regression": "RMSE", "binary": "Logloss", "multiclass": "MultiClass"}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(N_ROWS, 4))
    y_reg = X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + 0.2 * rng.normal(size=N_ROWS)
    X_nan = X.copy()
    X_nan[:, :3][rng.random((N_ROWS, 3)) < 0.15] = np.nan  # column 3 never missing in training
    X_nan_test = X_nan.copy()
    X_nan_test[rng.random(X.shape) < 0.2] = np.nan  # now column 3 has NaN too
    return dict(X=X, X_nan=X_nan, X_nan_test=X_nan_test,
                y={"regression": y_reg, "binary": (y_reg > 0).astype(int),
                   "multiclass": np.digitize(y_reg, [-0.5, 0.5])})


def _fit(task, X, y, **params):
    cls = catboost.CatBoostRegressor if task == "regression" else catboost.CatBoostClassifier
    params = {"iterations": 15, "depth": 3, "learning_rate": 0.3, "verbose": 0,
              "thread_count": 1, "random_seed": 0, "allow_writing_files": False,
              "loss_function": TASKS[task], **params}
    return cls(**params).fit(X, y)


def assert_parity(model, X, exact_leaf_ids=True):
    ens = from_model(model)
    raw = np.asarray(model.predict(X, prediction_type="RawFormulaVal"), dtype=np.float64)
    raw = raw.reshape(len(raw), -1)
    ours = ens.predict_raw(X)
    assert ours.shape == raw.shape == (len(X), ens.n_outputs)
    np.testing.assert_allclose(ours, raw, rtol=1e-6, atol=1e-9)
    ids = ens.apply(X)
    assert ids.shape == (len(X), model.tree_count_, ens.n_outputs)
    theirs = np.asarray(model.calc_leaf_indexes(catboost.Pool(X)))
    for k in range(ens.n_outputs):
        if exact_leaf_ids:  # oblivious trees: our leaf ids are CatBoost's
            np.testing.assert_array_equal(ids[:, :, k], theirs)
        else:  # other trees: same partition of the rows
            for t in range(ids.shape[1]):
                pairs = set(zip(ids[:, t, k], theirs[:, t]))
                assert len(pairs) == len(set(ids[:, t, k])) == len(set(theirs[:, t]))
    # Leaf values by leaf id rebuild the raw output.
    table = ens.leaf_values()
    t_idx, k_idx = np.meshgrid(np.arange(ens.n_rounds), np.arange(ens.n_outputs), indexing="ij")
    total = table[t_idx[None], k_idx[None], ids].sum(axis=1) + ens.bias
    np.testing.assert_allclose(total, raw, rtol=1e-6, atol=1e-9)
    check_parity(ens, model, X)
    return ens


@pytest.mark.parametrize("task", list(TASKS))
def test_parity_on_float_arrays(data, task):
    model = _fit(task, data["X"], data["y"][task])
    ens = assert_parity(model, data["X"])
    assert ens.objective == {"regression": "squared_error", "binary": "logistic",
                             "multiclass": "softmax"}[task]
    assert ens.n_outputs == (3 if task == "multiclass" else 1)
    assert ens.n_rounds == 15 and ens.learning_rate == pytest.approx(0.3)
    assert ens.l2 == pytest.approx(3.0)
    assert ens.hessian_factor == pytest.approx(1.5 if task == "multiclass" else 1.0)
    assert ens.newton_leaves is True
    assert ens.float32_inputs and ens.feature_names is None
    scale, bias = model.get_scale_and_bias()
    np.testing.assert_allclose(ens.bias, np.ravel(bias))
    if task == "regression":  # boost_from_average: the bias is the target mean
        assert ens.bias[0] == pytest.approx(data["y"][task].mean(), rel=1e-5)


def test_multiclass_trees_share_splits(data):
    model = _fit("multiclass", data["X"], data["y"]["multiclass"])
    ens = from_model(model)
    ids = ens.apply(data["X"])
    # The three per-class trees of a round route every row to the same leaf...
    np.testing.assert_array_equal(ids[:, :, 0], ids[:, :, 1])
    np.testing.assert_array_equal(ids[:, :, 0], ids[:, :, 2])
    # ...but hold different values (one per class, de-interleaved from CatBoost's leaves).
    table = ens.leaf_values()
    assert not np.allclose(table[:, 0], table[:, 1])


@pytest.mark.parametrize("nan_mode", ["Min", "Max"])
@pytest.mark.parametrize("task", list(TASKS))
def test_parity_with_missing_values(data, task, nan_mode):
    model = _fit(task, data["X_nan"], data["y"][task], nan_mode=nan_mode)
    ens = assert_parity(model, data["X_nan"])
    assert_parity(model, data["X_nan_test"])
    # Min sends NaN left everywhere; Max sends it right on features that had NaNs in training
    # and left on the never-missing column 3.
    internal = ens.feature >= 0
    if nan_mode == "Min":
        assert ens.missing_left[internal].all()
    else:
        right = internal & ~ens.missing_left
        assert right.any() and set(ens.feature[right]) <= {0, 1, 2}
        assert ens.missing_left[internal & (ens.feature == 3)].all()


def test_forbidden_nan_mode(data):
    model = _fit("binary", data["X"], data["y"]["binary"], nan_mode="Forbidden")
    assert_parity(model, data["X"])


@pytest.mark.parametrize("task", list(TASKS))
def test_parity_on_named_dataframe(data, task):
    X = pd.DataFrame(data["X_nan"], columns=["age", "income", "height", "weight"])
    model = _fit(task, X, data["y"][task])
    ens = assert_parity(model, X)
    assert ens.feature_names == ["age", "income", "height", "weight"]
    with pytest.raises(ValueError, match="differ"):
        ens.predict_raw(X[["income", "age", "height", "weight"]])


@pytest.mark.parametrize("grow_policy", ["Depthwise", "Lossguide"])
@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_non_symmetric_trees(data, task, grow_policy):
    model = _fit(task, data["X_nan"], data["y"][task], grow_policy=grow_policy, iterations=8)
    assert_parity(model, data["X_nan"], exact_leaf_ids=False)
    assert_parity(model, data["X_nan_test"], exact_leaf_ids=False)


def test_leaf_index_is_binary_code_of_split_outcomes(data):
    """Leaf id = sum_j [x > border_j] << j, computed here from the exported splits alone."""
    model = _fit("regression", data["X"], data["y"]["regression"], iterations=3, depth=4)
    dump = reader._export_json(model)
    ens = from_model(model)
    X32 = data["X"].astype(np.float32)
    for t, tree in enumerate(dump["oblivious_trees"]):
        expected = np.zeros(N_ROWS, dtype=np.int64)
        for j, split in enumerate(tree["splits"]):
            expected |= (X32[:, split["float_feature_index"]] > split["border"]).astype(
                np.int64) << j
        np.testing.assert_array_equal(ens.apply(data["X"])[:, t, 0], expected)
        np.testing.assert_allclose(ens.leaf_values()[t, 0, expected],
                                   np.asarray(tree["leaf_values"])[expected])


def test_values_at_and_next_to_borders(data):
    """Inputs on a border (and one float64 ulp either side, which float32 rounding can move)
    follow CatBoost."""
    model = _fit("regression", data["X"], data["y"]["regression"], iterations=5)
    ens = from_model(model)
    rows = []
    for node in np.flatnonzero(ens.feature >= 0)[:40]:
        b = ens.threshold[node]
        for value in (b, np.nextafter(b, np.inf), np.nextafter(b, -np.inf),
                      float(np.nextafter(np.float32(b), np.float32(np.inf))),
                      b + 2e-8, b - 2e-8):
            row = data["X"][len(rows) % N_ROWS].copy()
            row[ens.feature[node]] = value
            rows.append(row)
    assert_parity(model, np.array(rows))


def test_read_only_and_strided_inputs(data):
    model = _fit("multiclass", data["X"], data["y"]["multiclass"])
    ens = from_model(model)
    expected = model.predict(data["X"], prediction_type="RawFormulaVal")
    read_only = data["X"].copy()
    read_only.setflags(write=False)
    wide = np.zeros((N_ROWS, 8))
    wide[:, 1::2] = data["X"]
    strided = wide[:, 1::2]
    assert not strided.flags.c_contiguous
    for X in (read_only, strided, np.asfortranarray(data["X"])):
        np.testing.assert_allclose(ens.predict_raw(X), expected, rtol=1e-6, atol=1e-9)
    check_parity(ens, model, read_only)
    assert not read_only.flags.writeable


@pytest.mark.parametrize("params", [
    {"leaf_estimation_iterations": 3},
    {"leaf_estimation_method": "Gradient"},
    {"boosting_type": "Ordered"},
])
def test_non_newton_leaves_are_flagged(data, params):
    model = _fit("binary", data["X"], data["y"]["binary"], iterations=5, **params)
    ens = assert_parity(model, data["X"])
    assert ens.newton_leaves is False


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_plain_catboost_class(data, task):
    model = catboost.CatBoost({"iterations": 5, "depth": 3, "verbose": 0, "thread_count": 1,
                               "loss_function": TASKS[task], "allow_writing_files": False})
    model.fit(data["X_nan"], data["y"][task])
    ens = assert_parity(model, data["X_nan_test"])
    assert ens.source == "catboost.CatBoost"
    assert ens.n_outputs == (3 if task == "multiclass" else 1)


def test_l2_leaf_reg_is_read(data):
    model = _fit("binary", data["X"], data["y"]["binary"], iterations=3, l2_leaf_reg=7.5)
    assert from_model(model).l2 == pytest.approx(7.5)


def test_parity_failure_is_reported(data):
    model = _fit("regression", data["X"], data["y"]["regression"], iterations=5)
    ens = from_model(model)
    ens.threshold[ens.feature >= 0] += 0.3
    with pytest.raises(ModelParseError):
        check_parity(ens, model, data["X"])


# ------------------------------------------------------------------ unsupported / invalid models
def test_cat_features_are_refused(data):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(data["X"], columns=list("abcd"))
    X["colour"] = rng.choice(["red", "green", "blue"], N_ROWS)
    model = _fit("binary", X, data["y"]["binary"], iterations=3, cat_features=["colour"])
    with pytest.raises(UnsupportedModelError, match="cat_features"):
        from_model(model)


@pytest.mark.parametrize("task, loss", [("regression", "MAE"), ("regression", "Quantile:alpha=0.7"),
                                        ("binary", "CrossEntropy"),
                                        ("multiclass", "MultiClassOneVsAll")])
def test_other_losses_are_refused(data, task, loss):
    model = _fit(task, data["X"], data["y"][task], iterations=3, loss_function=loss)
    with pytest.raises(UnsupportedModelError, match=loss.split(":")[0]):
        from_model(model)


def test_rescaled_model_is_refused(data):
    model = _fit("regression", data["X"], data["y"]["regression"], iterations=3)
    model.set_scale_and_bias(2.0, 0.5)
    with pytest.raises(UnsupportedModelError, match="scale"):
        from_model(model)


def test_unfitted_model_is_refused():
    with pytest.raises(ValueError, match="not fitted"):
        from_model(catboost.CatBoostClassifier(iterations=3))
