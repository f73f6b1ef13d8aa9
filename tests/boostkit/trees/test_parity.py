"""LightGBM and XGBoost readers: parity with each library's own raw output and leaf output.

The matrix is library x objective x {plain arrays, missing values, DataFrame with names,
categorical}. ``from_model(model, X_check=...)`` itself raises on any mismatch; the tests also
compare explicitly, on the training rows and on unseen rows.
"""

import json

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from boostkit.trees import ModelParseError, UnsupportedModelError, check_parity, from_model
from boostkit.trees.parsers import lightgbm as lgb_reader
from boostkit.trees.parsers import xgboost as xgb_reader

from .conftest import make_data


def _lightgbm(objective, variant):
    cls = lgb.LGBMRegressor if objective == "squared_error" else lgb.LGBMClassifier
    extra = dict(min_data_per_group=5, cat_smooth=1.0) if variant == "categorical" else {}
    return cls(n_estimators=15, num_leaves=15, min_child_samples=5, reg_lambda=0.7,
               verbose=-1, n_jobs=1, **extra)


def _xgboost(objective, variant):
    cls = xgb.XGBRegressor if objective == "squared_error" else xgb.XGBClassifier
    extra = dict(enable_categorical=True, max_cat_to_onehot=1) if variant == "categorical" else {}
    return cls(n_estimators=15, max_depth=4, learning_rate=0.2, reg_lambda=0.7, n_jobs=1,
               **extra)


def _assert_parity(ens, reader, model, X):
    raw, leaves = reader.library_outputs(model, X)
    ours = ens.predict_raw(X)
    np.testing.assert_allclose(ours, np.asarray(raw).reshape(ours.shape), rtol=1e-6, atol=1e-6)
    ids = ens.apply(X)
    assert ids.dtype == np.int32 and ids.shape == (len(ours), ens.n_rounds, ens.n_outputs)
    theirs = np.asarray(leaves).reshape(len(ours), -1)
    flat = ids.reshape(len(ours), -1)
    for j in range(flat.shape[1]):
        # Same partition: the pairing of our ids with theirs is one-to-one.
        pairs = {(a, b) for a, b in zip(flat[:, j], theirs[:, j])}
        assert len(pairs) == len(set(flat[:, j])) == len(set(theirs[:, j])), f"tree {j}"
    return ids


@pytest.mark.parametrize("make_model,reader", [(_lightgbm, lgb_reader), (_xgboost, xgb_reader)],
                         ids=["lightgbm", "xgboost"])
def test_parity_matrix(make_model, reader, objective, variant):
    X, y, X_other = make_data(variant, objective)
    model = make_model(objective, variant).fit(X, y)
    ens = from_model(model, X_check=X)
    n_outputs = 3 if objective == "softmax" else 1
    assert (ens.n_rounds, ens.n_outputs, ens.objective) == (15, n_outputs, objective)
    assert ens.learning_rate == pytest.approx(model.get_params()["learning_rate"] or 0.1)
    assert ens.l2 == pytest.approx(0.7)
    if isinstance(X, pd.DataFrame):
        assert ens.feature_names == list(X.columns)
    ids = _assert_parity(ens, reader, model, X)
    _assert_parity(ens, reader, model, X_other)
    assert (ids >= 0).all() and (ids < ens.n_leaves[None]).all()
    # Summing the leaf-value table at the leaf ids gives the raw score as well.
    table = ens.leaf_values()
    t, k = np.meshgrid(np.arange(ens.n_rounds), np.arange(ens.n_outputs), indexing="ij")
    raw = ens.bias + table[t[None], k[None], ids].sum(axis=1)
    np.testing.assert_allclose(raw, ens.predict_raw(X), rtol=1e-9, atol=1e-9)


def test_lightgbm_categorical_reads_as_codes_and_unseen_as_missing():
    X, y, _ = make_data("categorical", "squared_error")
    model = _lightgbm("squared_error", "categorical").fit(X, y)
    ens = from_model(model)
    assert list(ens.categories[5]) == ["Lyon", "Oslo", "Pune", "Quito", "Rome"]
    assert (ens.cat_index >= 0).any()
    other = X.copy()
    other["city"] = pd.Categorical(np.where(np.arange(len(X)) % 3 == 0, "Zurich", "Oslo"))
    check_parity(ens, model, other)  # LightGBM treats unseen categories as missing too


def test_xgboost_unseen_category_is_an_error():
    X, y, _ = make_data("categorical", "squared_error")
    model = _xgboost("squared_error", "categorical").fit(X, y)
    ens = from_model(model)
    other = X.copy()
    other["city"] = pd.Categorical(["Atlantis"] * len(X))
    with pytest.raises(ValueError, match="city.*never saw.*Atlantis"):
        ens.apply(other)


def test_native_boosters_and_saved_files(tmp_path):
    X, y, _ = make_data("missing", "logistic")
    booster = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1,
                         "learning_rate": 0.3, "lambda_l2": 2.0}, lgb.Dataset(X, y), 10)
    path = tmp_path / "model.txt"
    booster.save_model(path)
    loaded = lgb.Booster(model_file=str(path))
    ens = from_model(loaded, X_check=X)
    assert (ens.learning_rate, ens.l2, ens.source) == (0.3, 2.0, "lightgbm.Booster")

    dtrain = xgb.DMatrix(X, label=y)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "eta": 0.25}, dtrain, 10)
    path = tmp_path / "model.json"
    booster.save_model(path)
    loaded = xgb.Booster(model_file=str(path))
    ens = from_model(loaded, X_check=X)
    assert ens.n_rounds == 10 and ens.objective == "logistic"


def test_xgboost_estimated_intercept_is_the_bias():
    X, y, _ = make_data("plain", "logistic")
    model = xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(X, y)
    config = json.loads(model.get_booster().save_config())
    p = float(config["learner"]["learner_model_param"]["base_score"].strip("[]"))
    ens = from_model(model, X_check=X)
    np.testing.assert_allclose(ens.bias, [np.log(p / (1 - p))], rtol=1e-6)
    assert abs(p - y.mean()) < 0.1  # estimated from the data, not the old 0.5 default


def test_lightgbm_boost_from_average_folds_the_mean_into_the_first_tree():
    X, y, _ = make_data("plain", "squared_error")
    y = y + 100.0
    model = lgb.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, y)
    ens = from_model(model, X_check=X)
    first_tree = ens.leaf_values()[0, 0, : ens.n_leaves[0, 0]]
    assert np.all(np.abs(first_tree - y.mean()) < 5.0)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_early_stopping_uses_the_best_iteration(library):
    X, y, X_val = make_data("plain", "squared_error", seed=1)
    y_val = make_data("plain", "squared_error", seed=2)[1][: len(X_val)]
    if library == "lightgbm":
        model = lgb.LGBMRegressor(n_estimators=200, learning_rate=0.5, verbose=-1).fit(
            X, y, eval_set=[(X_val, y_val)], callbacks=[lgb.early_stopping(3, verbose=False)])
        best = model.best_iteration_
    else:
        model = xgb.XGBRegressor(n_estimators=200, learning_rate=0.5,
                                 early_stopping_rounds=3).fit(
            X, y, eval_set=[(X_val, y_val)], verbose=False)
        best = model.best_iteration + 1
    ens = from_model(model, X_check=X)
    assert ens.n_rounds == best < 200
    np.testing.assert_allclose(ens.predict_raw(X)[:, 0], model.predict(X), rtol=1e-5)


@pytest.mark.parametrize("model,match", [
    (lgb.LGBMRegressor(n_estimators=3, boosting_type="dart", verbose=-1), "dart"),
    (lgb.LGBMRegressor(n_estimators=3, linear_tree=True, verbose=-1), "linear_tree"),
    (lgb.LGBMRegressor(n_estimators=3, objective="huber", verbose=-1), "huber"),
    (xgb.XGBRegressor(n_estimators=3, booster="dart"), "dart"),
    (xgb.XGBRegressor(n_estimators=3, objective="reg:absoluteerror"), "absoluteerror"),
    (xgb.XGBRanker(n_estimators=3), "rank:"),
], ids=["lgb-dart", "lgb-linear", "lgb-huber", "xgb-dart", "xgb-l1", "xgb-rank"])
def test_unsupported_settings_are_named(model, match):
    X, y, _ = make_data("plain", "squared_error")
    if isinstance(model, xgb.XGBRanker):
        model.fit(X, np.digitize(y, [0]), qid=np.repeat(np.arange(6), 100))
    else:
        model.fit(X, y)
    with pytest.raises(UnsupportedModelError, match=match):
        from_model(model)


def test_unknown_model_type_lists_what_is_supported():
    with pytest.raises(UnsupportedModelError, match="supported: LightGBM"):
        from_model(object())


def test_unfitted_model_is_refused():
    with pytest.raises(ValueError, match="not fitted"):
        from_model(lgb.LGBMRegressor())
    with pytest.raises(ValueError, match="not fitted"):
        from_model(xgb.XGBRegressor())


def test_tampered_ensemble_fails_the_parity_check():
    X, y, _ = make_data("plain", "squared_error")
    model = _lightgbm("squared_error", "plain").fit(X, y)
    ens = from_model(model)
    internal = np.flatnonzero(ens.feature >= 0)
    ens.threshold[internal[0]] += 0.5
    with pytest.raises(ModelParseError, match="disagrees"):
        check_parity(ens, model, X)


def test_input_checks_name_the_problem():
    X, y, _ = make_data("dataframe", "squared_error")
    ens = from_model(_lightgbm("squared_error", "dataframe").fit(X, y))
    with pytest.raises(ValueError, match="expects 5"):
        ens.apply(X.to_numpy()[:, :4])
    with pytest.raises(ValueError, match="missing \\['noise'\\]"):
        ens.apply(X.rename(columns={"noise": "other"}))
    with pytest.raises(ValueError, match="another order"):
        ens.apply(X[X.columns[::-1]])
    with pytest.raises(TypeError, match="sparse"):
        import scipy.sparse as sp
        ens.apply(sp.csr_matrix(X.to_numpy()))
    with pytest.raises(ValueError, match="numerical"):
        ens.apply(X.assign(age=["a"] * len(X)))


def test_read_only_and_strided_inputs():
    X, y, _ = make_data("missing", "squared_error")
    model = _lightgbm("squared_error", "missing").fit(X, y)
    ens = from_model(model)
    expected = ens.predict_raw(X)
    read_only = X.copy()
    read_only.setflags(write=False)
    np.testing.assert_array_equal(ens.predict_raw(read_only), expected)
    wide = np.repeat(X, 2, axis=1)
    np.testing.assert_array_equal(ens.predict_raw(wide[:, ::2]), expected)
    np.testing.assert_array_equal(ens.predict_raw(np.asfortranarray(X)), expected)
    np.testing.assert_array_equal(ens.predict_raw(X.astype(np.float32)),
                                  ens.predict_raw(X.astype(np.float32).astype(np.float64)))


def test_lightgbm_names_with_whitespace_match_the_dataframe():
    X, y, _ = make_data("dataframe", "squared_error")
    X = X.rename(columns={"age": "age in years"})
    model = _lightgbm("squared_error", "dataframe").fit(X, y)
    ens = from_model(model, X_check=X)
    assert ens.feature_names[0] == "age_in_years"
    with pytest.raises(ValueError, match="missing"):
        ens.apply(X.rename(columns={"age in years": "weight"}))


@pytest.mark.parametrize("model,newton", [
    (lgb.LGBMRegressor(n_estimators=2, verbose=-1), True),
    (lgb.LGBMRegressor(n_estimators=2, reg_alpha=0.5, verbose=-1), False),
    (lgb.LGBMRegressor(n_estimators=2, max_delta_step=0.3, verbose=-1), False),
    (xgb.XGBRegressor(n_estimators=2), True),
    (xgb.XGBRegressor(n_estimators=2, reg_alpha=0.5), False),
], ids=["lgb", "lgb-l1", "lgb-max-delta", "xgb", "xgb-l1"])
def test_leaves_that_are_not_one_newton_step_are_flagged(model, newton):
    X, y, _ = make_data("plain", "squared_error")
    assert from_model(model.fit(X, y), X_check=X).newton_leaves is newton


def test_a_leaf_partition_mismatch_is_caught():
    X, y, _ = make_data("plain", "squared_error")
    model = _lightgbm("squared_error", "plain").fit(X, y)
    ens = from_model(model)

    class Merged:  # a library whose leaf output merges two of tree 3's leaves
        @staticmethod
        def library_outputs(m, X_):
            raw, leaves = lgb_reader.library_outputs(m, X_)
            leaves = leaves.copy()
            leaves[:, 3] = np.minimum(leaves[:, 3], 1)
            return raw, leaves

    with pytest.raises(ModelParseError, match="tree 3 .*other leaves"):
        check_parity(ens, model, X, reader=Merged)


def test_raw_from_leaves_equals_predict_raw():
    # check_parity compares the library with raw_from_leaves(apply(X)): it must be predict_raw
    import lightgbm as lgb
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestRegressor

    from boostkit.trees import from_model

    X, y = load_iris(return_X_y=True)
    X = X.copy()
    X[::7, 2] = np.nan
    for model in (lgb.LGBMClassifier(n_estimators=6, num_leaves=5, verbose=-1, n_jobs=1),
                  RandomForestRegressor(n_estimators=4, max_depth=3, random_state=0)):
        data = X if isinstance(model, lgb.LGBMClassifier) else np.nan_to_num(X)
        ensemble = from_model(model.fit(data, y))
        np.testing.assert_allclose(ensemble.raw_from_leaves(ensemble.apply(data)),
                                   ensemble.predict_raw(data), rtol=1e-12, atol=1e-12)
