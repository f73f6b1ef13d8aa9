"""LabelClusterer (ODAC over labels): distances, split / aggregate rules, sparse counts."""

import math
import pickle

import numpy as np
import pytest

from streamml.multilabel import LabelClusterer
from streamml.multilabel.clustering import _jaccard_distances


def _grouped(groups, n, seed, p=0.3, leak=0.02):
    """Label sets where the labels of a group appear together."""
    rng = np.random.default_rng(seed)
    labels = [l for g in groups for l in g]
    for _ in range(n):
        y = {l: bool(rng.random() < leak) for l in labels}
        for g in groups:
            if rng.random() < p:
                for l in g:
                    y[l] = bool(rng.random() < 0.95)
        yield y


def test_jaccard_distance_matches_naive():
    rng = np.random.default_rng(0)
    Y = rng.random((300, 5)) < [0.5, 0.4, 0.1, 0.0, 0.3]
    Y[:, 1] |= Y[:, 0]
    clusterer = LabelClusterer(n_min=1000, fading=1.0)  # no split, no fading: exact counts
    for row in Y:
        clusterer.learn_one({f"l{j}": bool(v) for j, v in enumerate(row)})
    for a in range(5):
        for b in range(5):
            both = (Y[:, a] & Y[:, b]).sum()
            union = (Y[:, a] | Y[:, b]).sum()
            want = 0.0 if a == b else (1.0 - both / union if union else 1.0)
            assert math.isclose(clusterer.distance(f"l{a}", f"l{b}"), want)
    leaf = clusterer._root
    dist = _jaccard_distances(leaf.labels, leaf.counts, leaf.pairs)
    assert math.isclose(dist[0, 1], clusterer.distance("l0", "l1"))


def test_pair_counts_are_sparse():
    clusterer = LabelClusterer()
    labels = [f"l{i}" for i in range(200)]
    for i in range(100):
        clusterer.learn_one({l: (j in (i % 200, (i + 1) % 200)) for j, l in enumerate(labels)})
    # Only pairs seen together are stored: 100 consecutive pairs, not 200 * 199 / 2.
    assert len(clusterer._pairs) == 100


def test_recovers_groups_of_co_occurring_labels():
    groups = [["a", "b", "c"], ["d", "e"], ["f", "g", "h"]]
    clusterer = LabelClusterer(n_min=100)
    for y in _grouped(groups, 3000, 0):
        clusterer.learn_one(y)
    found = sorted(sorted(c) for c in clusterer.clusters)
    assert found == sorted(sorted(g) for g in groups)
    assert clusterer.n_splits == 2


@pytest.mark.parametrize(("tau", "splits"), [(0.1, 0), (0.2, 1)])
def test_split_rule_against_the_hoeffding_bound(tau, splits):
    # Two anti-correlated halves: d1 = d2 = 1, d0 = 0, dbar = 2/3. No clear farthest pair, so
    # the split needs eps = sqrt(ln(20) / 100) = 0.173 < tau; then (1 - 0) * |1 - 4/3| > eps.
    clusterer = LabelClusterer(n_min=50, delta=0.05, tau=tau, fading=1.0)
    for i in range(50):
        on = i % 2 == 0
        clusterer.learn_one({"a": on, "b": on, "c": not on, "d": not on})
    assert clusterer.n_splits == splits
    if not splits:
        return
    eps = math.sqrt(math.log(1 / 0.05) / (2 * 50))
    root = clusterer._root
    assert root.split_diameter == 1.0 and math.isclose(root.split_bound, eps)


@pytest.mark.parametrize("fading", [1.0, 0.999])
def test_aggregates_when_dependencies_change(fading):
    clusterer = LabelClusterer(n_min=100, fading=fading)
    # Groups {a, b} and {c, d} that also co-occur by chance: the root splits with d1 < 1.
    for y in _grouped([["a", "b"], ["c", "d"]], 600, 1, p=0.5, leak=0.0):
        clusterer.learn_one(y)
    assert sorted(map(sorted, clusterer.clusters)) == [["a", "b"], ["c", "d"]]
    assert clusterer._root.split_diameter < 0.9
    # Now a and b exclude each other: the diameter of {a, b} grows past the root's.
    rng = np.random.default_rng(2)
    for _ in range(3000):
        first = bool(rng.random() < 0.5)
        clusterer.learn_one({"a": first, "b": not first, "c": first, "d": first})
    assert clusterer.n_aggregations >= 1


def test_no_aggregation_on_a_stationary_stream():
    clusterer = LabelClusterer(n_min=100)
    for y in _grouped([["a", "b", "c"], ["d", "e"], ["f", "g", "h"]], 6000, 0):
        clusterer.learn_one(y)
    assert clusterer.n_aggregations == 0
    assert sorted(map(sorted, clusterer.clusters)) == [["a", "b", "c"], ["d", "e"],
                                                       ["f", "g", "h"]]


def test_text_drawing_pickle_and_clone():
    clusterer = LabelClusterer(n_min=50)
    for y in _grouped([["a", "b"], ["c", "d"]], 500, 3):
        clusterer.learn_one(y)
    text = clusterer.to_text()
    assert text.startswith("* split") and "- [a b]" in text
    ax = clusterer.draw()
    assert len(ax.texts) == 3
    twin = pickle.loads(pickle.dumps(clusterer))
    assert twin.clusters == clusterer.clusters
    assert clusterer.clone().clusters == []


def test_fading_counts_follow_recent_label_sets_and_rescale():
    clusterer = LabelClusterer(n_min=10**6, fading=0.99)
    for _ in range(500):
        clusterer.learn_one({"a": True, "b": True})
    for _ in range(500):
        clusterer.learn_one({"a": True, "b": False})
    # Faded: n_ab ~ 0.99**500 * 100 vs n_a ~ 100: a and b look unrelated now.
    assert clusterer.distance("a", "b") > 0.99
    plain = LabelClusterer(n_min=10**6, fading=1.0)
    for y in [{"a": True, "b": True}] * 500 + [{"a": True, "b": False}] * 500:
        plain.learn_one(y)
    assert plain.distance("a", "b") == pytest.approx(0.5)
    for _ in range(60000):  # 0.99**-60000 overflows unless rescaled
        clusterer._update([0])
    assert math.isfinite(clusterer._increment) and clusterer._increment <= 1e100
    assert math.isfinite(clusterer._counts[0])


@pytest.mark.parametrize(("param", "value"), [("n_min", 0), ("delta", 1.5), ("tau", -1),
                                              ("fading", 0.0)])
def test_bad_parameters(param, value):
    with pytest.raises(ValueError, match=param):
        LabelClusterer(**{param: value})


def test_capped_groups_keep_co_occurring_labels_together_within_the_cap():
    clusterer = LabelClusterer(n_min=10**9)  # counts only, no split
    rng = np.random.default_rng(0)
    blocks = [[f"b{k}_{i}" for i in range(5)] for k in range(6)]  # 6 blocks of 5 labels
    everything = [label for block in blocks for label in block] + ["lonely1", "lonely2"]
    for _ in range(600):
        block = blocks[rng.integers(6)]
        on = set(rng.choice(block, 3, replace=False))
        clusterer.learn_one({label: label in on for label in everything})
    index = clusterer._labels.index
    groups = clusterer.capped_groups([index[a] for a in everything], max_size=10)
    names = clusterer._labels.names
    groups = [sorted(names[a] for a in g) for g in groups]
    assert sorted(label for g in groups for label in g) == sorted(everything)
    assert max(len(g) for g in groups) <= 10
    # No block is cut: the cap only packs whole blocks (and the labels never seen) together.
    for block in blocks:
        assert sum(any(label in g for label in block) for g in groups) == 1
    assert len(groups) == 4  # 32 labels, at most 10 each, blocks of 5 whole
    # Within the cap nothing is cut.
    assert clusterer.capped_groups([0, 1, 2], max_size=3) == [[0, 1, 2]]
