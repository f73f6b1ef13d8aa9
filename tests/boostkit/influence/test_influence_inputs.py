"""Bad input gets errors that name the argument; pandas, labels and options behave."""

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import NotFittedError

from boostkit.exceptions import UnsupportedModelError
from boostkit.influence import TREX, BoostIn

from .models import make_data, make_model, reader_available

EXPLAINERS = [BoostIn, TREX]


@pytest.fixture(scope="module")
def fitted():
    model, X, y, _ = make_model("lightgbm", "softmax", weighted=False)
    return model, X, y, {cls: cls().fit(model, X, y) for cls in EXPLAINERS}


@pytest.fixture(scope="module")
def frame_model():
    X, y, X_test, y_test, _ = make_data("logistic")
    columns = ["age", "income", "score", "ratio", "noise"]
    frame = pd.DataFrame(X, columns=columns)
    frame["city"] = pd.Categorical(np.random.default_rng(0).choice(["a", "b", "c"], len(X)))
    labels = np.where(y == 1, "yes", "no")
    model = lgb.LGBMClassifier(n_estimators=6, num_leaves=5, verbose=-1).fit(frame, labels)
    test = pd.DataFrame(X_test, columns=columns)
    test["city"] = pd.Categorical(np.random.default_rng(1).choice(["a", "b", "c"], len(test)),
                                  categories=["a", "b", "c"])
    return model, frame, labels, test, np.where(y_test == 1, "yes", "no")


@pytest.mark.parametrize("cls", EXPLAINERS)
def test_wrong_number_of_features(fitted, cls):
    _, X, y, explainers = fitted
    with pytest.raises(ValueError, match="X_test has 4 features.*5"):
        explainers[cls].local_influence(X[:3, :4], y[:3])


@pytest.mark.parametrize("cls", EXPLAINERS)
def test_other_column_names(frame_model, cls):
    model, frame, labels, test, test_labels = frame_model
    explainer = cls().fit(model, frame, labels)
    with pytest.raises(ValueError, match="X_test has other columns.*'wealth'"):
        explainer.local_influence(test.rename(columns={"income": "wealth"}), test_labels)


@pytest.mark.parametrize("cls", EXPLAINERS)
def test_string_labels_and_categorical_frame(frame_model, cls):
    model, frame, labels, test, test_labels = frame_model
    explainer = cls().fit(model, frame, labels)
    by_label = explainer.local_influence(test, test_labels)
    int_model = lgb.LGBMClassifier(n_estimators=6, num_leaves=5, verbose=-1).fit(
        frame, (labels == "yes").astype(int))
    codes = cls().fit(int_model, frame, (labels == "yes").astype(int))
    np.testing.assert_allclose(by_label, codes.local_influence(test, test_labels == "yes"),
                               rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="y_test has labels the model never saw: \\['maybe'\\]"):
        explainer.local_influence(test[:2], ["yes", "maybe"])


@pytest.mark.parametrize("cls", EXPLAINERS)
def test_unseen_labels_and_non_finite_targets(fitted, cls):
    model, X, y, explainers = fitted
    with pytest.raises(ValueError, match="y_test has labels the model never saw: \\[7\\]"):
        explainers[cls].local_influence(X[:2], [0, 7])
    with pytest.raises(ValueError, match="y_test contains NaN or inf"):
        explainers[cls].local_influence(X[:2], [0.0, np.nan])
    reg, Xr, yr, _ = make_model("lightgbm", "squared_error", weighted=False)
    bad = yr.copy()
    bad[3] = np.inf
    with pytest.raises(ValueError, match="y contains NaN or inf .*row 3"):
        cls().fit(reg, Xr, bad)


@pytest.mark.parametrize("cls", EXPLAINERS)
def test_length_mismatches(fitted, cls):
    model, X, y, explainers = fitted
    with pytest.raises(ValueError, match="y has 10 rows but X has 240"):
        cls().fit(model, X, y[:10])
    with pytest.raises(ValueError, match="y_test has 2 rows but X has 3"):
        explainers[cls].local_influence(X[:3], y[:2])
    with pytest.raises(ValueError, match="sample_weight must have shape \\(240,\\)"):
        cls().fit(model, X, y, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="sample_weight must be finite and non-negative"):
        cls().fit(model, X, y, sample_weight=-np.ones(240))


@pytest.mark.parametrize("cls", EXPLAINERS)
def test_unfitted_model_and_unfitted_explainer(fitted, cls):
    _, X, y, _ = fitted
    with pytest.raises(NotFittedError, match="model: this LGBMClassifier is not fitted"):
        cls().fit(lgb.LGBMClassifier(), X, y)
    with pytest.raises(NotFittedError):
        cls().self_influence()


@pytest.mark.parametrize("cls", EXPLAINERS)
def test_bad_options(fitted, cls):
    _, X, y, explainers = fitted
    explainer = explainers[cls]
    for top_k in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="top_k must be a positive integer"):
            explainer.local_influence(X[:2], y[:2], top_k=top_k)
    with pytest.raises(ValueError, match="exceeds the 240 training rows"):
        explainer.local_influence(X[:2], y[:2], top_k=241)
    with pytest.raises(ValueError, match="per_output"):
        explainer.local_influence(X[:2], y[:2], top_k=3, per_output=True)
    with pytest.raises(ValueError, match="n_jobs must be"):
        cls(n_jobs=0).fit(*fitted[:3])


def test_bad_parameters(fitted):
    model, X, y, _ = fitted
    with pytest.raises(ValueError, match="mode must be one of \\('reference', 'exact'\\)"):
        BoostIn(mode="fast").fit(model, X, y)
    with pytest.raises(ValueError, match="kernel must be one of"):
        TREX(kernel="rbf").fit(model, X, y)
    with pytest.raises(ValueError, match="target must be one of"):
        TREX(target="soft").fit(model, X, y)
    with pytest.raises(ValueError, match="l2 must be a positive number"):
        TREX(l2=0).fit(model, X, y)
    with pytest.raises(ValueError, match="per_output=True is not available for TREX"):
        TREX().fit(model, X, y).self_influence(per_output=True)


def test_boostin_refuses_forests_and_multi_step_catboost():
    if not reader_available("gradient_boosting"):
        pytest.skip("no boostkit reader for scikit-learn yet")
    X, y, _, _, _ = make_data("squared_error", missing=False)
    forest = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    with pytest.raises(UnsupportedModelError, match="averages independently grown trees.*TREX"):
        BoostIn().fit(forest, X, y)
    assert TREX().fit(forest, X, y).local_influence(X[:2], y[:2]).shape == (240, 2)
    if not reader_available("catboost"):
        return
    import catboost as cb

    X, y, _, _, _ = make_data("logistic")
    model = cb.CatBoostClassifier(iterations=3, depth=2, leaf_estimation_iterations=4,
                                  verbose=False, allow_writing_files=False,
                                  thread_count=1).fit(X, y)
    with pytest.raises(UnsupportedModelError, match="leaf_estimation_iterations"):
        BoostIn().fit(model, X, y)


def test_verbose_shows_progress_and_n_jobs_keeps_results(fitted, capsys):
    model, X, y, explainers = fitted
    quiet = explainers[BoostIn].local_influence(X[:5], y[:5])
    assert capsys.readouterr().err == ""
    loud = BoostIn(verbose=1, n_jobs=1).fit(model, X, y)
    np.testing.assert_array_equal(loud.local_influence(X[:5], y[:5]), quiet)
    assert "local influence" in capsys.readouterr().err


@pytest.mark.parametrize("cls", EXPLAINERS)
def test_lightgbm_frame_with_spaces_in_column_names(cls):
    # LightGBM stores "mean radius" as "mean_radius"; the user's names must still work
    X, y, X_test, y_test, _ = make_data("squared_error")
    names = ["mean radius", "worst area", "score", "ratio", "noise"]
    frame, test = pd.DataFrame(X, columns=names), pd.DataFrame(X_test, columns=names)
    model = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, verbose=-1).fit(frame, y)
    explainer = cls().fit(model, frame, y)
    plain = cls().fit(model, X, y)
    np.testing.assert_array_equal(explainer.local_influence(test, y_test),
                                  plain.local_influence(X_test, y_test))
    with pytest.raises(ValueError, match="X_test has other columns"):
        explainer.local_influence(test.rename(columns={"noise": "noise 2"}), y_test)


@pytest.mark.parametrize("cls", EXPLAINERS)
def test_feature_names_as_sklearn_has_them(frame_model, cls):
    model, frame, labels, test, test_labels = frame_model
    explainer = cls().fit(model, frame, labels)
    assert isinstance(explainer.feature_names_in_, np.ndarray)
    np.testing.assert_array_equal(explainer.feature_names_in_, frame.columns.astype(str))
    numeric = frame.drop(columns="city").to_numpy()
    target = np.nan_to_num(numeric[:, 0])
    regressor = lgb.LGBMRegressor(n_estimators=3, verbose=-1, n_jobs=1)
    plain = cls().fit(regressor.fit(numeric, target), numeric, target)
    assert not hasattr(plain, "feature_names_in_")
    with pytest.warns(UserWarning, match="X_test has feature names, but"):
        plain.local_influence(pd.DataFrame(numeric[:3]), target[:3])
    named = pd.DataFrame(numeric, columns=[f"f{i}" for i in range(numeric.shape[1])])
    named_explainer = cls().fit(regressor.fit(named, target), named, target)
    with pytest.warns(UserWarning, match="X_test does not have valid feature names"):
        named_explainer.local_influence(numeric[:3], target[:3])


@pytest.mark.parametrize("cls", EXPLAINERS)
def test_to_frame_keys_results_by_the_users_index(frame_model, cls):
    model, frame, labels, test, test_labels = frame_model
    frame = frame.set_axis([f"r{i}" for i in range(len(frame))])
    test = test.iloc[:4].set_axis(["a", "b", "c", "d"])
    explainer = cls().fit(model, frame, labels)
    full = explainer.local_influence(test, test_labels[:4])
    table = explainer.to_frame(full, test)
    assert table.index.tolist() == frame.index.tolist() and table.columns.tolist() == list("abcd")
    np.testing.assert_array_equal(table.to_numpy(), full)
    top = explainer.local_influence(test, test_labels[:4], top_k=3)
    tops = explainer.to_frame(top, test)
    np.testing.assert_array_equal(tops.helpful_indices.to_numpy(),
                                  frame.index.to_numpy()[top.helpful_indices])
    np.testing.assert_array_equal(tops.harmful_values.to_numpy(), top.harmful_values)
    assert tops.helpful_values.columns.tolist() == list("abcd")
    scores = explainer.to_frame(explainer.self_influence())
    assert scores.index.tolist() == frame.index.tolist()
    with pytest.raises(ValueError, match="pass the X_test the result is about"):
        explainer.to_frame(full, test.iloc[:2])


def test_one_sample_weight_check_for_explainers_and_evaluate(fitted):
    from boostkit.influence.evaluate import remove

    model, X, y, _ = fitted
    for call in (lambda w: BoostIn().fit(model, X, y, sample_weight=w),
                 lambda w: remove(model, X, y, X[:2], y[:2], {"BoostIn": BoostIn()},
                                  counts=[1], sample_weight=w)):
        with pytest.raises(ValueError, match=r"sample_weight must have shape \(\d+,\)"):
            call(np.ones(3))
        with pytest.raises(ValueError, match="finite and non-negative"):
            call(np.full(len(y), -1.0))
        with pytest.raises(ValueError, match="zero for every row"):
            call(np.zeros(len(y)))
