"""audit() and AuditReport: tables against the explainers' own outputs, the model's own
predictions, the HTML file's content, method resolution and bad input."""

import base64
import html
import inspect
import os
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import boostkit.influence as influence
from boostkit.influence import TREX, AuditReport, BoostIn, audit
from boostkit.influence import report as report_module

from .models import make_data, make_model

CASES = [("lightgbm", "logistic"), ("lightgbm", "softmax"), ("lightgbm", "squared_error"),
         ("xgboost", "logistic"), ("catboost", "softmax"), ("hist_gradient_boosting", "logistic")]


def _case(library, objective):
    model, X, y, w = make_model(library, objective)
    _, _, X_test, y_test, _ = make_data(objective, library != "gradient_boosting")
    return model, X, y, w, X_test, y_test


def _model_loss(model, X, y, objective):
    """Per-row loss from the library's own predict / predict_proba."""
    if objective == "squared_error":
        return 0.5 * (np.asarray(y, float) - model.predict(X)) ** 2
    proba = model.predict_proba(X)
    codes = np.searchsorted(model.classes_, y)
    return -np.log(proba[np.arange(len(y)), codes])


@pytest.mark.parametrize("library,objective", CASES)
def test_tables_match_the_explainer_and_the_model(library, objective):
    model, X, y, w, X_test, y_test = _case(library, objective)
    report = audit(model, X, y, X_test, y_test, top_k=7, sample_weight=w)
    explainer = BoostIn().fit(model, X, y, sample_weight=w)
    scores = explainer.self_influence()

    # suspects: the 7 largest self influences, in decreasing order, ties to the smaller row
    order = np.argsort(-scores, kind="stable")[:7]
    np.testing.assert_array_equal(report.suspects["position"], order)
    np.testing.assert_allclose(report.suspects["self_influence"], scores[order], rtol=1e-12)
    np.testing.assert_array_equal(report.suspects["rank"], np.arange(1, 8))
    np.testing.assert_array_equal(report.suspects["label"], y[order])
    np.testing.assert_allclose(report.self_influence, scores, rtol=1e-12)

    # the model's predictions and losses, as the library computes them
    if objective == "squared_error":
        np.testing.assert_allclose(report.training["predicted"], model.predict(X), rtol=1e-6,
                                   atol=1e-9)
    else:
        proba = model.predict_proba(X)
        codes = np.searchsorted(model.classes_, y)
        np.testing.assert_allclose(report.training["p_label"],
                                   proba[np.arange(len(y)), codes], rtol=1e-5, atol=1e-7)
        confident = np.sort(proba, axis=1)[:, -1] - np.sort(proba, axis=1)[:, -2] > 1e-6
        np.testing.assert_array_equal(report.training["predicted"][confident],
                                      np.ravel(model.predict(X))[confident])

    # default test points: the 3 highest losses; their tables are local_influence's top_k
    losses = _model_loss(model, X_test, y_test, objective)
    expected_points = np.argsort(-losses, kind="stable")[:3]
    np.testing.assert_array_equal(sorted(report.helpful), sorted(expected_points))
    assert list(report.test_predictions["position"]) == list(report.helpful)
    np.testing.assert_allclose(report.test_predictions["loss"], losses[list(report.helpful)],
                               rtol=1e-5)
    points = list(report.helpful)
    top = explainer.local_influence(X_test[points], y_test[points], top_k=7)
    full = explainer.local_influence(X_test[points], y_test[points])
    for j, e in enumerate(points):
        helpful, harmful = report.helpful[e], report.harmful[e]
        np.testing.assert_array_equal(helpful["position"], top.helpful_indices[:, j])
        np.testing.assert_array_equal(harmful["position"], top.harmful_indices[:, j])
        np.testing.assert_allclose(helpful["influence"], top.helpful_values[:, j], rtol=1e-12)
        # and against the full matrix, sorted here
        column = full[:, j]
        np.testing.assert_allclose(helpful["influence"], np.sort(column)[::-1][:7],
                                   rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(harmful["influence"], np.sort(column)[:7], rtol=1e-9,
                                   atol=1e-15)
        np.testing.assert_allclose(column[harmful["position"]], harmful["influence"],
                                   rtol=1e-9, atol=1e-15)
        np.testing.assert_array_equal(harmful["label"], y[harmful["position"]])


def test_dataframe_index_labels_every_table_and_is_escaped(tmp_path):
    model, X, y, w, X_test, y_test = _case("lightgbm", "logistic")
    columns = [f"f{j}" for j in range(X.shape[1])]
    X_df = pd.DataFrame(X, columns=columns, index=[f"<i>row{i}&" for i in range(len(X))])
    X_test_df = pd.DataFrame(X_test, columns=columns, index=[f"t{i}" for i in range(len(X_test))])
    y_s = pd.Series(y, index=X_df.index)
    report = audit(model, X_df, y_s, X_test_df, y_test, top_k=4, test_points=[2, 0])
    positions = report.suspects["position"].to_numpy()
    assert list(report.suspects.index) == list(X_df.index[positions])
    assert list(report.helpful) == [2, 0]
    assert list(report.test_predictions.index) == ["t2", "t0"]
    assert list(report.harmful[0].index) == list(X_df.index[report.harmful[0]["position"]])
    assert not report.notes or all("highest loss" not in n for n in report.notes)

    path = report.to_html(str(tmp_path / "report.html"))
    assert path == str(tmp_path / "report.html")
    text = open(path, encoding="utf-8").read()
    assert "<i>row" not in text and "&lt;i&gt;row" in text
    assert "Method: BoostIn(" in text and "mode=&#x27;reference&#x27;" in text

    class Collect(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.images, self.links = [], [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            attrs = dict(attrs)
            if tag == "img":
                self.images.append(attrs["src"])
            for key in ("href", "src"):
                if key in attrs and tag != "img":
                    self.links.append(attrs[key])

    parser = Collect()
    parser.feed(text)
    parser.close()
    assert "script" not in parser.tags and "link" not in parser.tags and not parser.links
    # one suspects table, the test-point table, helpful + harmful for each of the 2 points
    assert parser.tags.count("table") == 1 + 1 + 2 * 2
    assert len(parser.images) == 1 + 2
    prefix = "data:image/png;base64,"
    for src in parser.images:
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix):]).startswith(b"\x89PNG\r\n\x1a\n")
    for label in report.suspects.index:
        assert html.escape(label) in text


def test_summary_and_repr_name_the_suspects():
    model, X, y, w, X_test, y_test = _case("lightgbm", "softmax")
    report = audit(model, X, y, X_test, y_test, top_k=5)
    text = report.summary()
    assert "Flagged 5 of 240 training rows" in text
    first = report.suspects.index[0]
    assert f"\n  {first} " in text
    assert text.count("most helpful:") == 3 and text.count("most harmful:") == 3
    assert "highest loss" in text  # the note on the default test points
    assert repr(report).startswith("<AuditReport BoostIn") and "5 rows flagged" in repr(report)
    figures = report.figures()
    assert sorted(figures) == sorted(["self_influence"] + [f"test_{e}" for e in report.helpful])
    bars = figures[f"test_{next(iter(report.helpful))}"].axes[0].patches
    assert len(bars) == 10  # 5 helpful + 5 harmful


def test_without_test_data_only_training_rows():
    model, X, y, w, _, _ = _case("lightgbm", "squared_error")
    report = audit(model, X, y, top_k=3)
    assert report.test_predictions is None and report.helpful == {}
    assert "residual" in report.suspects.columns
    np.testing.assert_allclose(report.suspects["residual"],
                               y[report.suspects["position"]]
                               - model.predict(X[report.suspects["position"]]), rtol=1e-6)
    assert any("No test data" in n for n in report.notes)


def test_methods_by_name_class_and_instance():
    model, X, y, w, X_test, y_test = _case("lightgbm", "logistic")
    trex = audit(model, X, y, X_test, y_test, method="trex", top_k=3,
                 method_params={"max_iter": 300})
    scores = TREX(max_iter=300).fit(model, X, y).self_influence()
    np.testing.assert_array_equal(trex.suspects["position"],
                                  np.argsort(-scores, kind="stable")[:3])
    assert trex.method == "TREX"
    assert audit(model, X, y, method="BoostIn", top_k=2).method == "BoostIn"
    assert audit(model, X, y, method="Boost-In", top_k=2).method == "BoostIn"
    given = BoostIn(mode="exact")
    # the exact mode checks the leaves against the weighted training data
    report = audit(model, X, y, X_test, y_test, method=given, top_k=3, sample_weight=w)
    assert not hasattr(given, "ensemble_")  # cloned, not fitted in place
    assert report.explainer.mode == "exact"
    exact = BoostIn(mode="exact").fit(model, X, y, sample_weight=w).self_influence()
    np.testing.assert_allclose(report.self_influence, exact, rtol=1e-12)
    assert audit(model, X, y, method=BoostIn, top_k=2).method == "BoostIn"


def test_global_only_method_skips_local_part(monkeypatch):
    model, X, y, w, X_test, y_test = _case("lightgbm", "logistic")
    if not hasattr(influence, "Loss"):
        class Loss(BoostIn):  # stand-in with the global-only surface
            def local_influence(self, X_test, y_test, **kwargs):
                raise NotImplementedError("Loss is a global method")

        monkeypatch.setattr(influence, "Loss", Loss, raising=False)
    report = audit(model, X, y, X_test, y_test, method="loss", top_k=3)
    assert report.method == "Loss" and report.helpful == {} and report.harmful == {}
    assert len(report.suspects) == 3
    assert any("globally" in n for n in report.notes)
    assert report.test_predictions is not None  # the chosen points are still listed


def test_unknown_and_unavailable_methods(monkeypatch):
    model, X, y, _, _, _ = _case("lightgbm", "logistic")
    with pytest.raises(ValueError, match=r"method must be one of \[.*'boostin'.*'trex'.*got "
                                         r"'boostinn'"):
        audit(model, X, y, method="boostinn")
    monkeypatch.setitem(report_module.METHODS, "not_yet", "NotYetWritten")
    with pytest.raises(ValueError, match="'not_yet' .*not available"):
        audit(model, X, y, method="not_yet")
    with pytest.raises(TypeError, match="method must be a method name"):
        audit(model, X, y, method=42)
    with pytest.raises(ValueError, match="method_params: BoostIn has no parameter"):
        audit(model, X, y, method="boostin", method_params={"nope": 1})


def test_bad_input():
    model, X, y, _, X_test, y_test = _case("lightgbm", "logistic")
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        audit(model, X, y, top_k=0)
    with pytest.raises(ValueError, match="X_test and y_test go together"):
        audit(model, X, y, X_test)
    with pytest.raises(ValueError, match=r"test_points must be positions in \[0, 30\)"):
        audit(model, X, y, X_test, y_test, test_points=[3, 30])
    with pytest.raises(ValueError, match="test_points has repeated"):
        audit(model, X, y, X_test, y_test, test_points=[3, 3])
    with pytest.raises(ValueError, match="y_test has labels the model never saw: \\[7\\]"):
        audit(model, X, y, X_test, np.where(np.arange(30) == 4, 7, y_test))
    with pytest.raises(ValueError, match="y_test must have shape \\(30,\\)"):
        audit(model, X, y, X_test, y_test[:5])


def test_top_k_larger_than_training_set():
    model, X, y, _, X_test, y_test = _case("lightgbm", "logistic")
    report = audit(model, X[:20], y[:20], X_test, y_test, top_k=50, n_test_points=1)
    assert len(report.suspects) == 20 and len(report.helpful[next(iter(report.helpful))]) == 20
    assert isinstance(report, AuditReport)
    assert os.path.basename(report_module.__file__) == "report.py"


def test_forest_with_trex_uses_the_averaged_probabilities():
    from sklearn.ensemble import RandomForestClassifier

    _, X, y, _, X_test, y_test = _case("lightgbm", "softmax")
    X, X_test = np.nan_to_num(X), np.nan_to_num(X_test)
    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="use TREX for forests"):
        audit(forest, X, y)
    report = audit(forest, X, y, X_test, y_test, method="trex", top_k=4,
                   method_params={"max_iter": 300})
    proba = forest.predict_proba(X)
    np.testing.assert_allclose(report.training["p_label"], proba[np.arange(len(y)), y],
                               rtol=1e-9, atol=1e-12)
    losses = _model_loss(forest, X_test, y_test, "softmax")
    np.testing.assert_array_equal(sorted(report.helpful),
                                  sorted(np.argsort(-losses, kind="stable")[:3]))


# The retraining methods refit the model once per training row / subset: slow run only.
_RETRAINING = {"loo", "subsample"}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n in _RETRAINING else n
    for n in sorted(report_module.METHODS)])
def test_every_available_method_through_audit(name):
    """Each method's tables are its own self influence sorted and its own local top_k."""
    if name not in report_module._available_methods():
        pytest.skip(f"{report_module.METHODS[name]} is not in boostkit.influence yet")
    import lightgbm as lgb

    _, X, y, _, X_test, y_test = _case("lightgbm", "logistic")
    X, y = X[:60], y[:60]
    model = lgb.LGBMClassifier(n_estimators=4, num_leaves=4, min_child_samples=5,
                               verbose=-1).fit(X, y)
    params = {"random_state": 0} if "random_state" in inspect.signature(
        getattr(influence, report_module.METHODS[name])).parameters else {}
    report = audit(model, X, y, X_test, y_test, method=name, top_k=3, test_points=[0, 4],
                   method_params=params)
    explainer = report.explainer  # refitting would double the retraining methods' cost
    assert type(explainer).__name__ == report_module.METHODS[name] == report.method
    if report.suspects is not None:
        scores = explainer.self_influence()
        np.testing.assert_allclose(report.suspects["self_influence"],
                                   np.sort(scores)[::-1][:3], rtol=1e-9, atol=1e-12)
    if report.helpful:
        top = explainer.local_influence(X_test[[0, 4]], y_test[[0, 4]], top_k=3)
        for j, e in enumerate([0, 4]):
            np.testing.assert_allclose(report.helpful[e]["influence"], top.helpful_values[:, j],
                                       rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(report.harmful[e]["influence"], top.harmful_values[:, j],
                                       rtol=1e-9, atol=1e-12)
    else:
        assert any("globally" in n for n in report.notes)


def test_explainer_without_top_k_is_ranked_from_its_full_matrix():
    model, X, y, _, X_test, y_test = _case("lightgbm", "logistic")

    class FullOnly(BoostIn):  # a user explainer whose local_influence has no top_k
        def local_influence(self, X_test, y_test):
            return super().local_influence(X_test, y_test)

    report = audit(model, X, y, X_test, y_test, method=FullOnly(), top_k=4, test_points=[1])
    full = BoostIn().fit(model, X, y).local_influence(X_test[[1]], y_test[[1]])[:, 0]
    np.testing.assert_array_equal(report.helpful[1]["position"],
                                  np.argsort(-full, kind="stable")[:4])
    np.testing.assert_array_equal(report.harmful[1]["position"],
                                  np.argsort(full, kind="stable")[:4])
    np.testing.assert_allclose(report.harmful[1]["influence"], np.sort(full)[:4], rtol=1e-12)


def test_html_without_matplotlib_has_the_tables_and_says_why_no_plots(tmp_path, monkeypatch):
    import sys

    model, X, y, w, X_test, y_test = _case("lightgbm", "logistic")
    report = audit(model, X, y, X_test, y_test, top_k=4)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install "boostkit\[plot\]"'):
        report.figures()
    page = (tmp_path / "report.html")
    report.to_html(page)
    text = page.read_text(encoding="utf-8")
    assert "<img" not in text and "Plots left out" in text and "boostkit[plot]" in text
    assert text.count("<table") == 2 + 2 * len(report.helpful)  # suspects, tests, 2 per point
