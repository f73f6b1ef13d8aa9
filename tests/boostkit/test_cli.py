"""`boostkit audit` end to end on saved models of every format, and its errors."""

import os
import pickle
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest

from boostkit import cli
from boostkit.influence import BoostIn
from boostkit.influence import report as report_module

FEATURES = ["width", "height", "depth cm", "age"]  # one name with a space (LightGBM's rule)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(3)
    n = 260
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=FEATURES)
    y = ((X["width"] - X["height"] ** 2 + 0.5 * rng.normal(size=n)) > -0.5).astype(int)
    folder = tmp_path_factory.mktemp("cli")
    train = X.iloc[:200].assign(label=y.iloc[:200])
    test = X.iloc[200:].assign(label=y.iloc[200:])
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    return folder, X.iloc[:200], y.iloc[:200], X.iloc[200:], y.iloc[200:]


@pytest.fixture
def captured(monkeypatch):
    """The AuditReport the command line writes."""
    reports = []
    original = report_module.AuditReport.to_html

    def keep(self, path, title=None):
        reports.append(self)
        return original(self, path, title)

    monkeypatch.setattr(report_module.AuditReport, "to_html", keep)
    return reports


def _lightgbm(X, y, folder):
    import lightgbm as lgb

    model = lgb.LGBMClassifier(n_estimators=10, num_leaves=6, verbose=-1).fit(X, y)
    path = folder / "model.txt"
    model.booster_.save_model(str(path))
    return model, path


def _xgboost(X, y, folder, name="model.json"):
    import xgboost as xgb

    model = xgb.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1).fit(X, y)
    path = folder / name
    model.save_model(str(path))
    return model, path


def _catboost(X, y, folder):
    import catboost as cb

    model = cb.CatBoostClassifier(iterations=10, depth=3, leaf_estimation_iterations=1,
                                  verbose=False, thread_count=1, allow_writing_files=False,
                                  random_seed=0).fit(X, y)
    path = folder / "model.cbm"
    model.save_model(str(path))
    return model, path


def _hist_gradient_boosting(X, y, folder):
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=10, max_leaf_nodes=6,
                                           early_stopping=False).fit(X, y)
    path = folder / "model.pkl"
    with open(path, "wb") as f:
        pickle.dump(model, f)
    return model, path


def _lgbm_joblib(X, y, folder):
    import lightgbm as lgb

    model = lgb.LGBMClassifier(n_estimators=10, num_leaves=6, verbose=-1).fit(X, y)
    path = folder / "lgbm.joblib"
    joblib.dump(model, path, compress=3)
    return model, path


def _xgboost_ubj_no_extension(X, y, folder):
    model, path = _xgboost(X, y, folder, "model.ubj")
    renamed = folder / "model.bin"  # no telling extension: found from the first bytes
    os.replace(path, renamed)
    return model, renamed


@pytest.mark.parametrize("save", [_lightgbm, _xgboost, _catboost, _hist_gradient_boosting,
                                  _lgbm_joblib, _xgboost_ubj_no_extension])
def test_audit_end_to_end(data, save, captured, capsys):
    folder, X, y, X_test, y_test = data
    model, path = save(X, y, folder)
    out = folder / f"{save.__name__}.html"
    status = cli.main(["audit", "--model", str(path), "--data", str(folder / "train.csv"),
                       "--target", "label", "--test", str(folder / "test.csv"), "--out",
                       str(out), "--top-k", "6", "--quiet"])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert "Flagged 6 of 200 training rows" in printed.out
    assert f"Report written to {out.resolve()}" in printed.out
    text = out.read_text(encoding="utf-8")
    assert text.count('src="data:image/png;base64,') == 1 + 3
    # the report is the one audit() gives on the in-memory model
    (report,) = captured
    scores = BoostIn().fit(model, X, y).self_influence()
    np.testing.assert_array_equal(report.suspects["position"],
                                  np.argsort(-scores, kind="stable")[:6])
    np.testing.assert_allclose(report.suspects["self_influence"],
                               np.sort(scores)[::-1][:6], rtol=1e-9)
    e = next(iter(report.helpful))
    top = BoostIn().fit(model, X, y).local_influence(X_test.iloc[[e]], y_test.iloc[[e]],
                                                      top_k=6)
    np.testing.assert_allclose(report.helpful[e]["influence"], top.helpful_values[:, 0],
                               rtol=1e-9)


def test_unnamed_model_matches_columns_by_count_and_keeps_the_index_column(data, capsys):
    import lightgbm as lgb

    folder, X, y, X_test, y_test = data
    booster = lgb.train({"objective": "binary", "num_leaves": 6, "verbose": -1},
                        lgb.Dataset(X.to_numpy(), y.to_numpy()), num_boost_round=8)
    path = folder / "unnamed.txt"
    booster.save_model(str(path))
    frame = X.assign(label=y, id=[f"id{i}" for i in range(len(X))])
    frame.to_csv(folder / "with_id.csv", index=False)
    out = folder / "unnamed.html"
    status = cli.main(["audit", "--model", str(path), "--data", str(folder / "with_id.csv"),
                       "--target", "label", "--index-column", "id", "--out", str(out),
                       "--suspects-csv", str(folder / "flagged.csv"), "--quiet"])
    assert status == 0, capsys.readouterr().err
    assert ">id" in out.read_text(encoding="utf-8")
    flagged = pd.read_csv(folder / "flagged.csv", index_col=0)
    scores = BoostIn().fit(booster, X.to_numpy(), y).self_influence()
    order = np.argsort(-scores, kind="stable")[:10]
    np.testing.assert_array_equal(flagged["position"], order)
    assert list(flagged.index) == [f"id{i}" for i in order]
    X.assign(label=y, extra=1.0).to_csv(folder / "five.csv", index=False)
    status = cli.main(["audit", "--model", str(path), "--data", str(folder / "five.csv"),
                       "--target", "label", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and "has 5 feature columns besides the target" in err
    assert "expects 4" in err


def test_help_through_python_dash_m():
    result = subprocess.run([sys.executable, "-m", "boostkit", "audit", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for option in ("--model", "--data", "--target", "--test", "--out", "--method", "--top-k"):
        assert option in result.stdout
    assert "0..K-1" in result.stdout


def _run_error(argv, capsys):
    status = cli.main(argv + ["--quiet"])  # stderr then holds nothing but the error
    err = capsys.readouterr().err
    assert status == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_errors(data, capsys, tmp_path):
    folder, X, y, _, _ = data
    _, model_path = _lightgbm(X, y, tmp_path)
    train = str(folder / "train.csv")

    junk = tmp_path / "model.xyz"
    junk.write_bytes(b"GIF89a not a model")
    err = _run_error(["audit", "--model", str(junk), "--data", train, "--target", "label"],
                     capsys)
    assert "cannot tell the format" in err and ".cbm" in err and ".joblib" in err

    bad_json = tmp_path / "broken.json"
    bad_json.write_text("{not json")
    err = _run_error(["audit", "--model", str(bad_json), "--data", train, "--target", "label"],
                     capsys)
    assert "could not read" in err and "XGBoost" in err

    err = _run_error(["audit", "--model", str(tmp_path / "absent.txt"), "--data", train,
                      "--target", "label"], capsys)
    assert "no such file" in err

    err = _run_error(["audit", "--model", str(model_path), "--data", train, "--target",
                      "class"], capsys)
    assert "--target: column 'class' is not in" in err and "'width'" in err

    X.drop(columns="height").assign(label=y, weight=1.0).to_csv(tmp_path / "cols.csv",
                                                                index=False)
    err = _run_error(["audit", "--model", str(model_path), "--data", str(tmp_path / "cols.csv"),
                      "--target", "label"], capsys)
    assert "missing ['height']" in err and "unexpected ['weight']" in err

    err = _run_error(["audit", "--model", str(model_path), "--data", train, "--target",
                      "label", "--method", "boostinn"], capsys)
    assert "--method" in err and "boostin" in err and "trex" in err

    err = _run_error(["audit", "--model", str(model_path), "--data", train, "--target",
                      "label", "--top-k", "0"], capsys)
    assert "--top-k must be a positive integer" in err

    X.assign(label=np.where(np.arange(len(y)) == 5, 3, y)).to_csv(tmp_path / "labels.csv",
                                                                    index=False)
    err = _run_error(["audit", "--model", str(model_path), "--data", train, "--target",
                      "label", "--test", str(tmp_path / "labels.csv")], capsys)
    assert "--test: y_test has labels the model never saw: [3]" in err

    err = _run_error(["audit", "--model", str(model_path), "--data", train, "--target",
                      "label", "--test", str(folder / "test.csv"), "--test-points", "1,99"],
                     capsys)
    assert "--test-points: test_points must be positions in [0, 60)" in err

    pickled = tmp_path / "not_a_model.pkl"
    with open(pickled, "wb") as f:
        pickle.dump({"a": 1}, f)
    err = _run_error(["audit", "--model", str(pickled), "--data", train, "--target", "label"],
                     capsys)
    assert "is not a supported model" in err


def test_columns_in_another_order_are_reordered(data, capsys, tmp_path):
    folder, X, y, _, _ = data
    model, model_path = _lightgbm(X, y, tmp_path)
    X[FEATURES[::-1]].assign(label=y).to_csv(tmp_path / "reversed.csv", index=False)
    status = cli.main(["audit", "--model", str(model_path), "--data",
                       str(tmp_path / "reversed.csv"), "--target", "label", "--out",
                       str(tmp_path / "r.html"), "--quiet"])
    assert status == 0, capsys.readouterr().err


def test_model_format_detection(tmp_path):
    heads = {"a.model": b"tree\nversion=v4", "b.model": b'{"learner": {}}',
             "c.model": b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner", "d.model": b"CBM1\x00",
             "e.model": b"\x80\x04\x95", "f.model": b"x\x9c\x01"}
    expected = {"a": "lightgbm", "b": "xgboost", "c": "xgboost", "d": "catboost",
                "e": "pickle", "f": "pickle"}
    for name, head in heads.items():
        (tmp_path / name).write_bytes(head)
        assert cli.model_format(tmp_path / name) == expected[name[0]]
    (tmp_path / "g.json").write_bytes(b"tree\n")  # the extension decides when it is specific
    assert cli.model_format(tmp_path / "g.json") == "xgboost"
