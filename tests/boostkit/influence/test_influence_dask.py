"""Chunks of test points on a LocalCluster of worker processes give the single-process results."""

import numpy as np
import pytest

from boostkit.influence import TREX, BoostIn

from .models import make_data, make_model

distributed = pytest.importorskip("dask.distributed")
da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=":0",
                                       silence_logs=50)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.mark.parametrize("cls", [BoostIn, TREX])
def test_distributed_results_are_identical(client, cls):
    model, X, y, w = make_model("lightgbm", "softmax")
    _, _, X_test, y_test, _ = make_data("softmax")
    explainer = cls().fit(model, X, y, sample_weight=w)
    local = explainer.local_influence(X_test, y_test)
    np.testing.assert_array_equal(
        explainer.local_influence(X_test, y_test, client=client, chunk_size=7), local)
    dask_X = da.from_array(X_test, chunks=(11, 5))
    dask_y = da.from_array(y_test, chunks=11)
    np.testing.assert_array_equal(explainer.local_influence(dask_X, dask_y, client=client),
                                  local)
    top = explainer.local_influence(X_test, y_test, top_k=4)
    far = explainer.local_influence(dask_X, y_test, top_k=4, client=client)
    for ours, theirs in zip(far, top):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(explainer.self_influence(client=client, chunk_size=50),
                                  explainer.self_influence())
    with pytest.raises(ValueError, match="y_test has labels the model never saw"):
        explainer.local_influence(X_test, np.full(len(X_test), 9), client=client)
