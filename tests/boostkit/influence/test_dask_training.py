"""Explainers fitted on training data partitioned across a LocalCluster give the single-process
results: the same values (to 1e-12 relative; the global leaf sums are added in another order)
and the same top-k rows."""

import numpy as np
import pandas as pd
import pytest

from boostkit.influence import BoostIn

from .models import make_data, make_model

distributed = pytest.importorskip("dask.distributed")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="module")
def client():
    # two workers in this process: real partition placement and transfers, no process start-up
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=":0", silence_logs=50)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def assert_close(ours, reference):
    ours, reference = np.asarray(ours), np.asarray(reference)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=1e-12,
                               atol=1e-12 * np.abs(reference).max())


def assert_same_top(ours, reference):
    for name in ("helpful_indices", "harmful_indices"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(reference, name))
    for name in ("helpful_values", "harmful_values"):
        assert_close(getattr(ours, name), getattr(reference, name))


def uneven_chunks(n):
    # uneven partitions, one of them empty and one smaller than top_k
    first = n // 3
    return (first, 0, 3, n - first - 3 - 50, 50)


@pytest.mark.parametrize("persist", [True, False])
@pytest.mark.parametrize("library, objective", [("lightgbm", "softmax"),
                                                ("xgboost", "logistic"),
                                                ("hist_gradient_boosting", "squared_error")])
def test_dask_array_training_matches_single_process(client, library, objective, persist):
    model, X, y, w = make_model(library, objective)
    _, _, X_test, y_test, _ = make_data(objective, library != "gradient_boosting")
    reference = BoostIn().fit(model, X, y, sample_weight=w)
    chunks = uneven_chunks(len(X))
    explainer = BoostIn().fit(model, da.from_array(X, chunks=(chunks, -1)),
                              da.from_array(y, chunks=(chunks,)), client=client,
                              sample_weight=da.from_array(w, chunks=(chunks,)), persist=persist)
    assert explainer.n_train_ == len(X)
    assert_close(explainer.leaf_hessian_sums_, reference.leaf_hessian_sums_)
    assert_close(explainer.leaf_derivatives().compute(), reference.leaf_derivatives())

    self_influence = explainer.self_influence()
    assert isinstance(self_influence, da.Array)
    nonempty = tuple(c for c in chunks if c)  # dask drops empty chunks when it concatenates
    assert self_influence.chunks == (nonempty,)
    assert_close(self_influence.compute(), reference.self_influence())
    assert_close(explainer.self_influence(per_output=True).compute(),
                 reference.self_influence(per_output=True))
    top_rows = explainer.self_influence(top_k=5)
    expected = reference.self_influence(top_k=5)
    np.testing.assert_array_equal(top_rows["position"], expected["position"])
    assert_close(top_rows["self_influence"], expected["self_influence"])
    np.testing.assert_array_equal(
        expected["position"], np.argsort(-reference.self_influence(), kind="stable")[:5])

    matrix = explainer.local_influence(X_test, y_test)
    assert isinstance(matrix, da.Array) and matrix.chunks[0] == nonempty
    assert_close(matrix.compute(), reference.local_influence(X_test, y_test))
    assert_same_top(explainer.local_influence(X_test, y_test, top_k=6),
                    reference.local_influence(X_test, y_test, top_k=6))
    if objective == "softmax":
        assert_close(explainer.local_influence(X_test, y_test, per_output=True).compute(),
                     reference.local_influence(X_test, y_test, per_output=True))


def test_dask_dataframe_keeps_the_index(client):
    model, X, y, w = make_model("lightgbm", "logistic")
    _, _, X_test, y_test, _ = make_data("logistic")
    columns = [f"f{j}" for j in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns, index=1000 + 7 * np.arange(len(X)))
    frame["label"], frame["weight"] = y, w
    model = type(model)(**model.get_params()).fit(frame[columns], y, sample_weight=w)
    reference = BoostIn().fit(model, frame[columns], y, sample_weight=w)
    data = dd.from_pandas(frame, npartitions=4, sort=False)
    explainer = BoostIn().fit(model, data[columns], data["label"],
                              sample_weight=data["weight"], client=client)
    series = explainer.self_influence()
    assert isinstance(series, dd.Series)
    computed = series.compute()
    pd.testing.assert_index_equal(computed.index, frame.index)
    assert_close(computed.to_numpy(), reference.self_influence())
    top_rows = explainer.self_influence(top_k=4)
    expected = reference.self_influence(top_k=4)
    np.testing.assert_array_equal(top_rows["position"], expected["position"])
    pd.testing.assert_index_equal(top_rows.index, frame.index[expected["position"]])
    test_frame = pd.DataFrame(X_test, columns=columns)
    assert_same_top(explainer.local_influence(test_frame, y_test, top_k=3),
                    reference.local_influence(test_frame, y_test, top_k=3))
    with pytest.raises(ValueError, match="other columns"):
        explainer.local_influence(test_frame[columns[::-1]], y_test, top_k=3)


@pytest.mark.filterwarnings("ignore:Parameter n_jobs will be ignored")
def test_models_trained_on_dask(client):
    lightgbm = pytest.importorskip("lightgbm")
    xgboost_dask = pytest.importorskip("xgboost.dask")
    X, y, X_test, y_test, _ = make_data("logistic", missing=False)
    X_dask, y_dask = da.from_array(X, chunks=(60, -1)), da.from_array(y, chunks=60)
    models = [
        lightgbm.DaskLGBMClassifier(n_estimators=6, num_leaves=5, min_child_samples=5,
                                    verbose=-1, client=client).fit(X_dask, y_dask),
        xgboost_dask.DaskXGBClassifier(n_estimators=6, max_depth=3, tree_method="hist"),
    ]
    models[1].client = client
    models[1].fit(X_dask, y_dask)
    for model, local in zip(models, [models[0].to_local(), models[1].get_booster()]):
        reference = BoostIn().fit(local, X, y)
        explainer = BoostIn().fit(model, X_dask, y_dask, client=client)
        assert list(explainer.classes_) == [0, 1]
        assert_close(explainer.self_influence().compute(), reference.self_influence())
        assert_same_top(explainer.local_influence(X_test, y_test, top_k=4),
                        reference.local_influence(X_test, y_test, top_k=4))
    # the dict xgboost.dask.train returns
    trained = xgboost_dask.train(client, {"objective": "reg:squarederror", "max_depth": 2},
                                 xgboost_dask.DaskDMatrix(client, X_dask, y_dask * 1.0),
                                 num_boost_round=4)
    explainer = BoostIn().fit(trained, X_dask, y_dask * 1.0, client=client)
    reference = BoostIn().fit(trained["booster"], X, y * 1.0)
    assert_close(explainer.self_influence().compute(), reference.self_influence())


def test_bad_dask_inputs(client):
    model, X, y, w = make_model("lightgbm", "logistic")
    X_dask = da.from_array(X, chunks=(60, -1))
    y_dask = da.from_array(y, chunks=60)
    with pytest.raises(ValueError, match="mode='reference'"):
        BoostIn(mode="exact").fit(model, X_dask, y_dask, client=client)
    with pytest.raises(ValueError, match="persist must be True or False"):
        BoostIn().fit(model, X_dask, y_dask, client=client, persist="yes")
    with pytest.raises(ValueError, match="features"):
        BoostIn().fit(model, X_dask[:, :3], y_dask, client=client)
    with pytest.raises(ValueError, match="labels the model never saw"):
        BoostIn().fit(model, X_dask, y_dask + 5, client=client)
    with pytest.raises(ValueError, match="zero for every row"):
        BoostIn().fit(model, X_dask, y_dask, sample_weight=y_dask * 0.0, client=client)
    frame = dd.from_pandas(pd.DataFrame(X), npartitions=3)
    with pytest.raises(ValueError, match="partitions"):
        BoostIn().fit(model, frame, dd.from_pandas(pd.Series(y), npartitions=2),
                      client=client)
    with pytest.raises(TypeError, match="partitioned like X"):
        BoostIn().fit(model, frame, y, client=client)
    # in-memory data with client=: split into partitions on the way
    reference = BoostIn().fit(model, X, y, sample_weight=w)
    for data in (X, pd.DataFrame(X, index=np.arange(len(X))[::-1])):
        explainer = BoostIn().fit(model, data, y, sample_weight=w, client=client)
        assert_close(explainer.self_influence().compute(), reference.self_influence())
    # a later in-memory fit forgets the cluster
    explainer = BoostIn().fit(model, X_dask, y_dask, client=client)
    explainer.fit(model, X, y)
    assert isinstance(explainer.self_influence(), np.ndarray)


# TREX's surrogate is solved to its optimum (L-BFGS, then Newton steps on hessian products
# summed over the partitions) down to float64 rounding of the gradient: the partitions' sums in
# another order move the solution only by rounding, below 1e-12. (L-BFGS alone stalled at
# ~1e-8 of the starting gradient, where the two routes differed by ~1e-8.)
@pytest.mark.parametrize("library, objective", [("lightgbm", "logistic"),
                                                ("hist_gradient_boosting", "squared_error"),
                                                ("lightgbm", "softmax")])
def test_trex_on_dask_matches_single_process(client, library, objective):
    rtol = 1e-12
    from boostkit.influence import TREX

    model, X, y, w = make_model(library, objective)
    _, _, X_test, y_test, _ = make_data(objective, library != "gradient_boosting")
    reference = TREX().fit(model, X, y, sample_weight=w)
    chunks = uneven_chunks(len(X))
    explainer = TREX().fit(model, da.from_array(X, chunks=(chunks, -1)),
                           da.from_array(y, chunks=(chunks,)), client=client,
                           sample_weight=da.from_array(w, chunks=(chunks,)))

    def close(ours, theirs):
        theirs = np.asarray(theirs)
        np.testing.assert_allclose(np.asarray(ours), theirs, rtol=rtol,
                                   atol=rtol * np.abs(theirs).max())

    close(explainer.coef_, reference.coef_)
    assert explainer.fidelity_["spearman"] == pytest.approx(reference.fidelity_["spearman"],
                                                            abs=1e-9)
    close(explainer.self_influence().compute(), reference.self_influence())
    close(explainer.local_influence(X_test, y_test).compute(),
          reference.local_influence(X_test, y_test))
    ours, theirs = (e.local_influence(X_test, y_test, top_k=5) for e in (explainer, reference))
    np.testing.assert_array_equal(ours.helpful_indices, theirs.helpful_indices)
    np.testing.assert_array_equal(ours.harmful_indices, theirs.harmful_indices)
    close(ours.helpful_values, theirs.helpful_values)
    np.testing.assert_array_equal(explainer.self_influence(top_k=5)["position"],
                                  reference.self_influence(top_k=5)["position"])
    with pytest.raises(ValueError, match="persist must be True for TREX"):
        TREX().fit(model, da.from_array(X, chunks=(chunks, -1)),
                   da.from_array(y, chunks=(chunks,)), client=client, persist=False)


@pytest.mark.parametrize("kind, persist", [("boostin", True), ("boostin", False),
                                           ("trex", True)])
def test_pickled_explainer_rebuilds_its_partitions(client, tmp_path, kind, persist):
    """A pickled cluster explainer keeps the global state and each partition's recipe (here
    its parquet file); unpickled, it answers as before, rebuilding the partitions' state from
    their rows on the default client."""
    import pickle

    from boostkit.influence import TREX

    model, X, y, w = make_model("lightgbm", "logistic")
    _, _, X_test, y_test, _ = make_data("logistic")
    columns = [f"f{j}" for j in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns, index=500 + np.arange(len(X)))
    frame["label"], frame["weight"] = y, w
    dd.from_pandas(frame, npartitions=3, sort=False).to_parquet(tmp_path / "train")
    data = dd.read_parquet(tmp_path / "train")
    explainer = (BoostIn() if kind == "boostin" else TREX()).fit(
        model, data[columns], data["label"], sample_weight=data["weight"], client=client,
        persist=persist)
    test_frame = pd.DataFrame(X_test, columns=columns)
    before = (explainer.self_influence().compute(), explainer.self_influence(top_k=4),
              explainer.local_influence(test_frame, y_test, top_k=3))

    restored = pickle.loads(pickle.dumps(explainer))
    assert restored._dask._client is None and restored._dask.shards is None
    after = (restored.self_influence().compute(), restored.self_influence(top_k=4),
             restored.local_influence(test_frame, y_test, top_k=3))
    assert restored._dask._client is client  # the default client, found at the first query
    # the same numbers, computed by the same per-partition code from the same rows
    pd.testing.assert_series_equal(after[0], before[0], rtol=1e-12)
    pd.testing.assert_frame_equal(after[1], before[1], rtol=1e-12)
    assert_same_top(after[2], before[2])
    # ... and the in-memory explainer's (TREX: to its solver's tolerance, see below)
    reference = (BoostIn() if kind == "boostin" else TREX()).fit(model, frame[columns], y,
                                                                 sample_weight=w)
    np.testing.assert_array_equal(after[1]["position"],
                                  reference.self_influence(top_k=4)["position"])


def test_unpickled_explainer_without_a_client(client, tmp_path):
    import pickle
    import subprocess
    import sys

    model, X, y, _ = make_model("lightgbm", "logistic")
    explainer = BoostIn().fit(model, da.from_array(X, chunks=(100, -1)),
                              da.from_array(y, chunks=100), client=client)
    (tmp_path / "explainer.pkl").write_bytes(pickle.dumps(explainer))
    # a fresh process with no Client: the error says what to do
    script = ("import pickle, sys\n"
              "explainer = pickle.loads(open(sys.argv[1], 'rb').read())\n"
              "try:\n    explainer.self_influence(top_k=3)\n"
              "except ValueError as error:\n    print(error)\n")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "explainer.pkl")],
                         capture_output=True, text=True, timeout=120)
    assert "create a dask.distributed.Client first" in out.stdout, out.stderr
