"""IHOMER: partition of the labels, one learner per cluster, union prediction, bad input."""

import pickle

import numpy as np
import pytest
from river import datasets

from streamml.datasets import DriftingMultiLabel, SparseTopicStream
from streamml.multilabel import IHOMER, MLHAT


def test_learns_yeast_better_than_the_most_frequent_label_set():
    # 1,200 instances: MLHAT's per-label rules trade some early subset accuracy for F1.
    data = list(datasets.Yeast().take(1200))
    model = IHOMER(seed=0)
    hits = 0
    for x, y in data:
        pred = model.predict_one(x)
        hits += all(pred.get(k, False) == v for k, v in y.items())
        model.learn_one(x, y)
    counts = {}
    for _, y in data:
        key = tuple(sorted(k for k, v in y.items() if v))
        counts[key] = counts.get(key, 0) + 1
    assert hits / len(data) > 1.5 * max(counts.values()) / len(data)
    # Every label lives in exactly one cluster.
    flat = [label for c in model.clusters for label in c]
    assert sorted(flat) == sorted(data[0][1])


def test_partition_recovers_the_generator_groups_and_reuses_learners():
    stream = DriftingMultiLabel(n_features=20, n_labels=12, n_groups=3, drift_at=(10**9,),
                                n_samples=2500, seed=7)
    model = IHOMER(seed=0, max_cluster_size=4)
    for x, y in stream:
        model.learn_one(x, y)
    assert sorted(map(sorted, model.clusters)) == sorted(map(sorted, stream.groups_at(0)))
    # HOMER: one root learning the three meta-labels "some label of group g".
    assert model.n_internal_nodes == 1 and len(model._tree.children) == 3
    # A restructure that finds the same partition keeps every learner (same objects).
    before = {frozenset(c): l for c, l in zip(model._clusters, model._learners)}
    model._restructure(fresh=False)
    after = {frozenset(c): l for c, l in zip(model._clusters, model._learners)}
    assert before.keys() == after.keys()
    assert all(before[key] is after[key] for key in before)
    # Each learner only knows its cluster's labels.
    for labels, learner in zip(model._clusters, model._learners):
        assert learner._root.n_labels == len(labels)


def test_warm_start_copies_the_predecessor_restricted_to_the_new_cluster():
    model = IHOMER(seed=0, warmup=10**9)  # no automatic restructure
    for x, y in datasets.Yeast().take(300):
        model.learn_one(x, y)
    assert len(model.clusters) == 1
    model.max_cluster_size = 7  # 14 labels: the two ODAC clusters below stay apart
    x = next(iter(datasets.Yeast()))[0]
    full = model.predict_proba_one(x)
    model._clusterer._root.children = []  # force a two-cluster partition by hand
    from streamml.multilabel.clustering import _Cluster

    root = model._clusterer._root
    left = _Cluster(root.labels[:7], root, 0)
    right = _Cluster(root.labels[7:], root, 0)
    root.children = [left, right]
    root.split_diameter, root.split_bound = 1.0, 0.1
    for child in root.children:
        for a in child.labels:
            model._clusterer._leaf_of[a] = child
    model._restructure(fresh=False)
    assert len(model.clusters) == 2
    split = model.predict_proba_one(x)
    # The copies start exactly where the single learner was, label by label (chain inputs of
    # the first cluster are unchanged; the second loses its cross-cluster chain weights).
    for label in model.clusters[0]:
        assert split[label][True] == pytest.approx(full[label][True])


def test_labels_mid_stream_empty_sets_and_unknown_labels():
    model = IHOMER(seed=0)
    model.learn_one({"a": 1.0}, {})
    model.learn_one({"a": 2.0}, {"p": True})
    model.learn_one({"a": 3.0}, {"p": False, "q": True})
    assert set(model.predict_one({"a": 1.0})) == {"p", "q"}
    with pytest.raises(ValueError, match="label 'q'"):
        model.learn_one({"a": 1.0}, {"q": 0.5})
    with pytest.raises(TypeError, match="model must be an MLHAT"):
        IHOMER(model="tree")
    with pytest.raises(ValueError, match="max_cluster_size"):
        IHOMER(max_cluster_size=0)
    with pytest.raises(ValueError, match="route_threshold"):
        IHOMER(route_threshold=1.5)


def test_pickle_clone_and_inspection():
    model = IHOMER(seed=2, model=MLHAT(n_models=2))
    data = list(datasets.Yeast().take(400))
    for x, y in data:
        model.learn_one(x, y)
    twin = pickle.loads(pickle.dumps(model))
    assert twin.predict_proba_one(data[0][0]) == model.predict_proba_one(data[0][0])
    fresh = model.clone()
    assert fresh.model.n_models == 2 and fresh.clusters == []
    text = model.to_text()
    assert "HOMER tree" in text and "Class1" in text
    assert model.draw() is not None


def test_thousand_label_stream_runs():
    stream = DriftingMultiLabel(n_features=10, n_labels=1000, n_groups=50, n_samples=150,
                                density=0.01, seed=1)
    model = IHOMER(seed=0, n_min=50, warmup=50)
    for x, y in stream:
        model.predict_one(x)
        model.learn_one(x, y)
    assert len(model.labels) == 1000
    assert sum(len(c) for c in model.clusters) == 1000


@pytest.mark.slow
def test_memory_stays_flat_on_a_long_drifting_stream():
    stream = DriftingMultiLabel(n_features=10, n_labels=8, n_groups=2,
                                drift_at=(30_000, 60_000, 90_000), n_samples=120_000, seed=3)
    model = IHOMER(seed=0)
    sizes = {}
    for i, (x, y) in enumerate(stream, 1):
        model.learn_one(x, y)
        if i in (40_000, 120_000):
            sizes[i] = model._raw_memory_usage
    assert sizes[120_000] < 1.5 * sizes[40_000]


def test_within_the_cap_ihomer_is_its_mlhat():
    """Labels that fit one cluster get one learner: the same predictions as MLHAT alone."""
    data = list(datasets.Yeast().take(600))
    ours, alone = IHOMER(seed=3), MLHAT(seed=3)
    for x, y in data:
        assert ours.predict_one(x) == alone.predict_one(x)
        ours.learn_one(x, y)
        alone.learn_one(x, y)
    assert len(ours.clusters) == 1 and ours.n_internal_nodes == 0


def _topic_stream(n_samples, drift_at=()):
    from streamml.datasets import SparseTopicStream

    return SparseTopicStream(n_features=300, n_labels=60, n_groups=12, drift_at=drift_at,
                             n_samples=n_samples, words_per_label=4, vocabulary_per_label=6,
                             noise_words=2, seed=5)


@pytest.mark.parametrize("hierarchical", [True, False])
def test_max_cluster_size_is_a_hard_cap(hierarchical):
    model = IHOMER(seed=0, max_cluster_size=8, n_min=50, warmup=50, hierarchical=hierarchical)
    for i, (x, y) in enumerate(_topic_stream(400, drift_at=(200,))):
        model.learn_one(x, y)
        if i % 50 == 0:
            assert max(len(c) for c in model.clusters) <= 8
            for node in model._internal_nodes():  # a flat partition's root learns nothing
                assert len(node.children) <= 8 or not hierarchical
    assert sorted(a for c in model.clusters for a in c) == sorted(model.labels)
    assert len(model.restructures) >= 1


def test_routing_sends_each_instance_to_the_clusters_of_its_labels():
    """Each internal node learns "some label of child c"; clusters learn routed instances only."""
    model = IHOMER(seed=0, max_cluster_size=8, n_min=50, warmup=50)
    data = list(_topic_stream(700))
    for x, y in data[:600]:
        model.learn_one(x, y)
    leaves = model._leaves()
    root = model._tree
    assert not root.is_leaf
    # Meta-labels of the root for one instance: the children holding one of its labels.
    x, y = data[600]
    index = model._clusterer._labels.index
    present = {index[k] for k, v in y.items() if v}
    expected = sorted({c for c, child in enumerate(root.children)
                       for a in child.labels if a in present})
    assert sorted({root.child_of[a] for a in present}) == expected
    # Learning touches the clusters of the labels present (plus those the root predicts),
    # far fewer than all clusters.
    seen_before = [leaf.learner._n_seen for leaf in leaves]
    for x, y in data[600:]:
        model.learn_one(x, y)
    visits = sum(leaf.learner._n_seen for leaf in leaves) - sum(seen_before)
    assert visits / 100 < 0.5 * len(leaves)
    # A leaf cluster only learnt instances routed to it: never more than the root saw.
    assert all(leaf.learner._n_seen <= root.learner._n_seen for leaf in leaves)
    # Routing follows the meta-label probabilities: with a threshold of 0 every child
    # (probability > 0) is routed to, with a threshold close to 1 only those holding a label.
    x, y = data[650]
    xv, xs = model._vectors(x)
    p = root.learner._proba_arrays(xv, xs)
    assert model._routed(root, p) == np.flatnonzero(p > model.route_threshold).tolist()


def test_a_young_node_teaches_every_child_every_instance():
    """While a node routes everything at prediction time (younger than ``warmup``), its
    children learn every instance too, not only those carrying their labels."""
    model = IHOMER(seed=0, max_cluster_size=8, n_min=50, warmup=10**9)
    data = list(_topic_stream(200))
    for x, y in data[:100]:
        model.learn_one(x, y)
    assert not model._tree.is_leaf and model._is_young(model._tree)
    leaves = model._leaves()
    seen = [leaf.learner._n_seen for leaf in leaves]
    for x, y in data[100:150]:
        model.learn_one(x, y)
    assert [leaf.learner._n_seen for leaf in leaves] == [s + 50 for s in seen]


def test_repartition_keeps_what_every_label_learned():
    """A new cluster gathering labels of several old clusters starts each label from the
    learner that held it (weights, label counts, decision threshold), not from zero: with
    one-leaf binary-relevance learners every probability is the same just after."""
    model = IHOMER(MLHAT(sparse=True, max_leaves=1), seed=0, max_cluster_size=8,
                   hierarchical=False, chain_clusters=False, warmup=10**9)
    data = list(_topic_stream(400))
    for x, y in data[:300]:
        model.learn_one(x, y)
    assert all(learner.n_leaves == 1 for learner in model._learners)
    before_clusters = sorted(map(sorted, model.clusters))
    before = [model.predict_proba_one(x) for x, _ in data[300:]]
    thresholds = {
        name: learner._thresholds.thresholds[p]
        for labels, learner in zip(model.clusters, model._learners)
        for p, name in enumerate(labels)
    }
    model._restructure(fresh=True)  # regroups the labels by co-occurrence
    assert sorted(map(sorted, model.clusters)) != before_clusters
    after = [model.predict_proba_one(x) for x, _ in data[300:]]
    for b, a in zip(before, after):
        for label in b:
            assert a[label][True] == pytest.approx(b[label][True], abs=1e-12)
    for labels, learner in zip(model.clusters, model._learners):
        for p, name in enumerate(labels):
            assert learner._thresholds.thresholds[p] == thresholds[name]


def test_no_warm_start_starts_new_clusters_from_scratch():
    model = IHOMER(seed=0, max_cluster_size=8, n_min=50, warmup=50, warm_start=False)
    data = list(_topic_stream(300))
    for x, y in data[:49]:
        model.learn_one(x, y)
    old = {frozenset(leaf.labels): leaf.learner for leaf in model._leaves()}
    model.learn_one(*data[49])  # the warm-up ends: first partition by co-occurrence
    for leaf in model._leaves():
        if frozenset(leaf.labels) not in old:
            assert leaf.learner._root is None or leaf.learner._n_seen <= 1


def test_river_evaluation_from_the_first_instance():
    """A label first seen mid-stream (and the first instance) must not break river's metrics."""
    from river import evaluate, metrics

    data = [({"a": float(i % 3)}, {"p": i % 2 == 0} if i < 20 else {"p": i % 2 == 0,
                                                                    "q": i % 3 == 0})
            for i in range(60)]
    metric = metrics.multioutput.MicroAverage(metrics.F1())
    evaluate.progressive_val_score(data, IHOMER(seed=0), metric)
    assert 0.0 <= metric.get() <= 1.0
    model = IHOMER(seed=0)
    for x, y in data:
        model.learn_one(x, y)
    assert model.predict_one({"a": 1.0})["never seen"] is False


def test_taking_labels_from_a_wider_leaf_copies_them_without_spare_rows():
    """A sparse leaf taking labels from a leaf that saw more features grows to exactly that
    leaf's rows: spare capacity handed on from donor to donor compounded over re-partitions
    (feature rows of 4x the features seen on a 1,000-label stream)."""
    from streamml.multilabel._sparse import SparseLeaf, SparseLogisticModel

    rng = np.random.default_rng(0)
    a = SparseLeaf(0, 2, 100, SparseLogisticModel(1, 2, 100), 0.002)
    b = SparseLeaf(0, 3, 110, SparseLogisticModel(1, 3, 110), 0.002)
    a.n, b.n = 20.0, 10.0
    b.positives[:] = [1.0, 4.0, 2.0]
    b.together[:] = rng.integers(0, 5, b.together.shape)
    b.model.coef[:] = rng.normal(size=b.model.coef.shape)
    b.model.intercept[:] = rng.normal(size=b.model.intercept.shape)
    a.add_labels(2)
    a.take_labels(b, [2, 1], [2, 3])
    assert len(a.present) == 110 and a.model.coef.shape[1] == 110
    np.testing.assert_array_equal(a.model.coef[:, :, [2, 3]], b.model.coef[:, :, [2, 1]])
    np.testing.assert_array_equal(a.model.intercept[:, [2, 3]], b.model.intercept[:, [2, 1]])
    # Counts are rescaled to the taking leaf's weight (20 vs 10 instances): same frequencies.
    np.testing.assert_allclose(a.positives[[2, 3]], [4.0, 8.0])
    np.testing.assert_allclose(a.together[:, [2, 3]], 2.0 * b.together[:, [2, 1]])


def test_repartition_on_drift_ignores_later_splits_and_change_follows_them():
    def run(mode):
        model = IHOMER(max_cluster_size=16, seed=0, repartition_on=mode)
        for x, y in SparseTopicStream(n_features=1_500, n_labels=120, n_groups=12,
                                      n_samples=800, seed=0):
            model.learn_one(x, y)
        return model

    drift, change = run("drift"), run("change")
    # The same label statistics: ODAC split the labels several times after the warm-up.
    assert drift.clusterer.n_splits == change.clusterer.n_splits > 1
    assert drift.clusterer.n_aggregations == 0
    # "drift": the first partition only (labels arriving later fill the clusters);
    # "change": partitioned again after the later splits.
    assert len(drift.restructures) == 1
    assert len(change.restructures) > 1
    for model in (drift, change):
        assert max(len(c) for c in model.clusters) <= 16
        assert sorted(label for c in model.clusters for label in c) == sorted(model.labels)
    with pytest.raises(ValueError, match="repartition_on"):
        IHOMER(repartition_on="always")


def _zero_filled_text(n, n_words=300, seed=0):
    """Word counts written densely (every word, mostly 0.0), as a dense ARFF of words is."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        words = set(rng.choice(n_words, size=5, replace=False).tolist())
        x = {f"w{i}": float(i in words) for i in range(n_words)}
        y = {f"l{l}": bool(words & set(range(10 * l, 10 * l + 10))) for l in range(4)}
        yield x, y


@pytest.mark.parametrize("stream", ["yeast", "text", "narrow text"])
def test_auto_representation_is_the_one_mlhat_chooses_at_the_same_instance(stream):
    if stream == "yeast":
        data = list(datasets.Yeast().take(40))
    else:
        data = list(_zero_filled_text(40, n_words=300 if stream == "text" else 40))
    ihomer, mlhat = IHOMER(seed=0), MLHAT(seed=0)
    for i, (x, y) in enumerate(data):
        ihomer.learn_one(x, y)
        mlhat.learn_one(x, y)
        assert ihomer._mode == mlhat._mode, i
    assert ihomer._mode == ("sparse" if stream == "text" else "dense")
    # Sparse: the buffered instances were learnt again, as by an IHOMER sparse from the start.
    fixed = IHOMER(MLHAT(sparse=ihomer._mode == "sparse"), seed=0)
    for x, y in data:
        fixed.learn_one(x, y)
    for x, _ in data[-5:]:
        assert ihomer.predict_one(x) == fixed.predict_one(x)
