"""`boostkit audit` on a parquet folder through a Dask scheduler: the same flagged rows and the
same most helpful / harmful rows as the in-memory audit of the same data."""

import numpy as np
import pandas as pd
import pytest

from boostkit import cli
from boostkit.influence import audit
from boostkit.influence import report as report_module

distributed = pytest.importorskip("dask.distributed")
pytest.importorskip("pyarrow")
lgb = pytest.importorskip("lightgbm")

FEATURES = ["width", "height", "depth cm", "age"]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0", silence_logs=50) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    rng = np.random.default_rng(5)
    n = 300
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=FEATURES,
                     index=pd.Index(1000 + np.arange(n), name="row_id"))
    y = ((X["width"] - X["height"] ** 2 + 0.5 * rng.normal(size=n)) > -0.5).astype(int)
    folder = tmp_path_factory.mktemp("cli_dask")
    train = folder / "train"
    train.mkdir()
    for part, start in enumerate(range(0, 240, 80)):  # three parquet files
        rows = slice(start, start + 80)
        X.iloc[rows].assign(label=y.iloc[rows]).to_parquet(train / f"part.{part}.parquet")
    X.iloc[240:].assign(label=y.iloc[240:]).to_csv(folder / "test.csv")
    model = lgb.LGBMClassifier(n_estimators=15, num_leaves=7, verbose=-1)
    model.fit(X.iloc[:240], y.iloc[:240])
    model.booster_.save_model(str(folder / "model.txt"))
    return folder, X, y


def test_audit_on_parquet_through_a_scheduler(cluster, files, monkeypatch, capsys):
    folder, X, y = files
    reports = []
    original = report_module.AuditReport.to_html

    def keep(self, path, title=None):
        reports.append(self)
        return original(self, path, title)

    monkeypatch.setattr(report_module.AuditReport, "to_html", keep)
    status = cli.main(["audit", "--model", str(folder / "model.txt"),
                       "--data", str(folder / "train"), "--target", "label",
                       "--test", str(folder / "test.csv"), "--index-column", "row_id",
                       "--scheduler", cluster.scheduler_address, "--top-k", "4",
                       "--out", str(folder / "report.html"), "--quiet"])
    assert status == 0, capsys.readouterr().err
    assert (folder / "report.html").is_file()
    ours = reports[0]
    booster = lgb.Booster(model_file=str(folder / "model.txt"))
    expected = audit(booster, X.iloc[:240], y.iloc[:240], X.iloc[240:], y.iloc[240:], top_k=4)
    pd.testing.assert_index_equal(ours.suspects.index, expected.suspects.index)
    np.testing.assert_array_equal(ours.suspects["position"], expected.suspects["position"])
    np.testing.assert_allclose(ours.suspects["self_influence"],
                               expected.suspects["self_influence"], rtol=1e-12)
    np.testing.assert_allclose(ours.suspects["p_label"], expected.suspects["p_label"],
                               rtol=1e-12)
    assert sorted(ours.helpful) == sorted(expected.helpful)
    for e in expected.helpful:
        for got, want in ((ours.helpful[e], expected.helpful[e]),
                          (ours.harmful[e], expected.harmful[e])):
            np.testing.assert_array_equal(got["position"], want["position"])
            pd.testing.assert_index_equal(got.index, want.index)
    assert "Dask" in capsys.readouterr().out


def test_dask_route_errors(cluster, files, capsys):
    folder, _, _ = files
    base = ["audit", "--model", str(folder / "model.txt"), "--data", str(folder / "train"),
            "--scheduler", cluster.scheduler_address]
    assert cli.main(base + ["--target", "nope"]) == 2
    assert "--target: column 'nope'" in capsys.readouterr().err
    assert cli.main(base + ["--target", "label", "--method", "trex"]) == 2
    assert "BoostIn on the cluster" in capsys.readouterr().err
