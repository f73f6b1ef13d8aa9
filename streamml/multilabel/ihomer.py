"""iHOMER: online hierarchical partitioning of the label space, one MLHAT per cluster."""

import collections
import copy

import numpy as np
from river import base

from . import _tree
from ._spaces import FeatureSpace
from .clustering import LabelClusterer
from .mlhat import MLHAT

__all__ = ["IHOMER"]


class IHOMER(base.MultiLabelClassifier):
    """Incremental HOMER: online label clustering with one multi-label learner per cluster.

    A :class:`LabelClusterer` (ODAC on the Jaccard distance between labels) watches the label
    sets. After each structural change (split or aggregation, once ``warmup`` instances were
    seen) the active leaf clusters become the partition of the labels; clusters smaller than
    ``min_cluster_size`` are merged into their ODAC sibling or the nearest cluster (mean
    Jaccard distance) as long as the result stays within ``max_cluster_size``. Each cluster
    owns a learner (a clone of ``model``, :class:`MLHAT` by default) trained on ``x`` and the
    cluster's labels. Clusters that did not change keep their learner; new clusters start from
    a copy of the learner that held most of their labels, restricted to them (``warm_start``),
    so a restructure never throws away what was learnt (resetting after an aggregation was
    measured to cost accuracy on the drifting benchmark: the learners' own ADWIN detectors
    already replace the subtrees that drift made wrong).
    The prediction is the union of the clusters' predictions; labels never seen are False.
    Local drift is handled inside each learner (ADWIN and alternate subtrees in MLHAT).

    Parameters
    ----------
    model
        Learner cloned for each cluster (a :class:`MLHAT`); None gives ``MLHAT()``.
    n_min
        Instances between two ODAC tests of a cluster.
    delta
        Confidence of ODAC's Hoeffding bound.
    tau
        ODAC's tie threshold.
    fading
        Fading factor of the label co-occurrence counts (see :class:`LabelClusterer`).
    min_cluster_size
        Clusters smaller than this are merged; None uses the most common label-set
        cardinality seen so far (at least 1).
    max_cluster_size
        Merges never produce clusters larger than this.
    warmup
        Instances before the first restructure.
    warm_start
        Start the learners of new clusters from a copy of their predecessor (else from scratch).
    chain_clusters
        Chain the clusters: the leaf models of each cluster also take the labels of the
        clusters before it as 0/1 inputs (true labels when learning, the predicted ones when
        predicting), which keeps the dependencies between clusters that the partition cuts.
        Weights are indexed by label, so they survive restructures.
    seed
        Seed of the learners (cluster k gets ``seed + k``).

    Examples
    --------
    >>> from river import datasets, metrics
    >>> from streamml.multilabel import IHOMER
    >>> model = IHOMER(seed=1)
    >>> metric = metrics.multioutput.MicroAverage(metrics.F1())
    >>> for x, y in datasets.Yeast().take(500):
    ...     y_pred = model.predict_one(x)  # empty before the first learn_one
    ...     metric.update(y, {label: y_pred.get(label, False) for label in y})
    ...     model.learn_one(x, y)
    >>> metric.get() > 0.5
    True
    >>> len(model.clusters) >= 1
    True
    """

    def __init__(
        self,
        model: MLHAT | None = None,
        n_min: int = 200,
        delta: float = 0.05,
        tau: float = 0.1,
        fading: float = 0.999,
        min_cluster_size: int | None = None,
        max_cluster_size: int = 32,
        warmup: int = 200,
        warm_start: bool = True,
        chain_clusters: bool = True,
        seed: int | None = None,
    ):
        self.model = model
        self.n_min = n_min
        self.delta = delta
        self.tau = tau
        self.fading = fading
        self.min_cluster_size = min_cluster_size
        self.max_cluster_size = max_cluster_size
        self.warmup = warmup
        self.warm_start = warm_start
        self.chain_clusters = chain_clusters
        self.seed = seed
        if model is not None and not isinstance(model, MLHAT):
            raise TypeError(f"model must be an MLHAT or None, got {type(model).__name__}")
        if min_cluster_size is not None and (
            not isinstance(min_cluster_size, int) or min_cluster_size < 1
        ):
            raise ValueError(
                f"min_cluster_size must be a positive integer or None, got {min_cluster_size!r}"
            )
        if isinstance(max_cluster_size, bool) or not isinstance(max_cluster_size, int) or (
            max_cluster_size < 1
        ):
            raise ValueError(f"max_cluster_size must be a positive integer, got {max_cluster_size!r}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")

        self._clusterer = LabelClusterer(n_min=n_min, delta=delta, tau=tau, fading=fading)
        self._features = FeatureSpace()
        self._clusters = []  # tuples of label indices
        self._learners = []
        self._where = {}  # label index -> (cluster index, position in cluster)
        self._cardinality = collections.Counter()
        self._n = 0
        self._n_learners_made = 0
        self._pending = False
        self._drifted = False
        self.restructures = collections.deque(maxlen=1000)

    @classmethod
    def _unit_test_params(cls):
        yield {"seed": 42}
        yield {"n_min": 20, "warmup": 20, "tau": 0.5, "max_cluster_size": 4, "seed": 1}

    # ------------------------------------------------------------------ learners
    def _make_learner(self):
        prototype = self.model if self.model is not None else MLHAT()
        params = {}
        if self.seed is not None:
            params["seed"] = self.seed + self._n_learners_made
        self._n_learners_made += 1
        return prototype.clone(params)

    def _reindex(self):
        self._where = {}
        for c, labels in enumerate(self._clusters):
            for p, a in enumerate(labels):
                self._where[a] = (c, p)

    def _add_label(self, idx):
        self._clusterer._add_label(idx)
        if not self._clusters:
            self._clusters.append((idx,))
            self._learners.append(self._make_learner())
        else:
            c = min(range(len(self._clusters)), key=lambda k: len(self._clusters[k]))
            self._clusters[c] = self._clusters[c] + (idx,)
            self._learners[c]._add_labels(1)
        self._reindex()

    # ------------------------------------------------------------------ river API
    @property
    def labels(self):
        """Labels seen so far, in order of first appearance."""
        return list(self._clusterer._labels.names)

    def learn_one(self, x, y):
        positives, new = self._clusterer._labels.encode(y)
        xv = self._features.vectorize(x, grow=True)
        xs = self._features.standardize(xv)
        self._features.learn(xv)
        for label in new:
            self._add_label(self._clusterer._labels.index[label])
        self._n += 1
        self._cardinality[len(positives)] += 1
        change = self._clusterer._update(positives)
        if change is not None:
            self._pending = True
            self._drifted = self._drifted or change == "aggregate"

        local = [[] for _ in self._clusters]
        for a in positives:
            c, p = self._where[a]
            local[c].append(p)
        ctx = np.zeros(len(self._clusterer._labels)) if self.chain_clusters else None
        for labels, learner, pos in zip(self._clusters, self._learners, local):
            yv = np.zeros(len(labels))
            yv[pos] = 1.0
            pos.sort()
            learner._learn_arrays(xv, xs, yv, pos, ctx)
            if ctx is not None:
                ctx[list(labels)] = yv  # teacher forcing for the clusters after this one

        if self._pending and self._n >= self.warmup:
            self._restructure(fresh=self._drifted)
            self._pending = False
            self._drifted = False

    def _vectors(self, x):
        xv = self._features.vectorize(x, grow=False)
        return xv, self._features.standardize(xv)

    def predict_proba_one(self, x, **kwargs):
        xv, xs = self._vectors(x)
        proba = np.zeros(len(self._clusterer._labels))
        ctx = np.zeros(len(proba)) if self.chain_clusters else None
        for labels, learner in zip(self._clusters, self._learners):
            if learner._root is not None:
                p = learner._proba_arrays(xv, xs, ctx)
                proba[list(labels)] = p
                if ctx is not None:
                    ctx[list(labels)] = p > 0.5
        return {
            label: {False: 1.0 - p, True: p}
            for label, p in zip(self._clusterer._labels.names, proba)
        }

    def predict_one(self, x, **kwargs):
        xv, xs = self._vectors(x)
        decision = np.zeros(len(self._clusterer._labels))
        ctx = np.zeros(len(decision)) if self.chain_clusters else None
        for labels, learner in zip(self._clusters, self._learners):
            if learner._root is not None:
                d = learner._decide_arrays(xv, xs, ctx)
                decision[list(labels)] = d
                if ctx is not None:
                    ctx[list(labels)] = d
        return {label: bool(v > 0.5) for label, v in zip(self._clusterer._labels.names, decision)}

    # ------------------------------------------------------------------ partition refinement
    def _min_size(self):
        if self.min_cluster_size is not None:
            return self.min_cluster_size
        if not self._cardinality:
            return 1
        mode = max(self._cardinality.items(), key=lambda kv: (kv[1], -kv[0]))[0]
        return max(1, mode)

    def _refined_partition(self):
        """ODAC leaves with the clusters smaller than the minimum size merged."""
        clusters = [list(c) for c in self._clusterer._partition_indices()]
        siblings = self._clusterer._siblings()
        group = list(range(len(clusters)))  # which merged group each leaf belongs to
        min_size = self._min_size()
        while True:
            sizes = {g: sum(len(clusters[i]) for i in range(len(clusters)) if group[i] == g)
                     for g in set(group)}
            small = [g for g, s in sorted(sizes.items(), key=lambda kv: kv[1]) if s < min_size]
            merged = False
            for g in small:
                members = [i for i in range(len(clusters)) if group[i] == g]
                labels = [a for i in members for a in clusters[i]]
                options = [h for h in sizes if h != g and sizes[h] + sizes[g] <= self.max_cluster_size]
                if not options:
                    continue
                sibling_groups = {group[siblings[i]] for i in members if i in siblings}
                preferred = [h for h in options if h in sibling_groups]
                pool = preferred or options

                def dist(h):
                    other = [a for i in range(len(clusters)) if group[i] == h for a in clusters[i]]
                    return self._clusterer._cluster_distance(labels, other)

                target = min(pool, key=dist)
                group = [target if gi == g else gi for gi in group]
                merged = True
                break
            if not merged:
                break
        out = collections.defaultdict(list)
        for i, g in enumerate(group):
            out[g].extend(clusters[i])
        return [tuple(sorted(v)) for _, v in sorted(out.items())]

    def _restructure(self, fresh):
        new_clusters = self._refined_partition()
        old = {frozenset(c): (c, m) for c, m in zip(self._clusters, self._learners)}
        clusters, learners = [], []
        for labels in new_clusters:
            key = frozenset(labels)
            if key in old:
                c, m = old[key]
                clusters.append(c)
                learners.append(m)
                continue
            if self.warm_start:
                best = max(zip(self._clusters, self._learners),
                           key=lambda cm: len(key & set(cm[0])))
                kept = [a for a in best[0] if a in key]
                if kept:
                    learner = best[1]._restricted_copy([best[0].index(a) for a in kept])
                    added = [a for a in labels if a not in set(kept)]
                    if added:
                        learner._add_labels(len(added))
                    clusters.append(tuple(kept) + tuple(added))
                    learners.append(learner)
                    continue
            clusters.append(tuple(labels))
            learner = self._make_learner()
            learners.append(learner)
        changed = sorted(map(sorted, clusters)) != sorted(map(sorted, self._clusters))
        self._clusters, self._learners = clusters, learners
        self._reindex()
        if changed:
            self.restructures.append((self._n, len(clusters), "aggregate" if fresh else "split"))

    # ------------------------------------------------------------------ inspection
    @property
    def clusters(self):
        """The label partition: one list of label names per learner."""
        names = self._clusterer._labels.names
        return [[names[a] for a in labels] for labels in self._clusters]

    @property
    def clusterer(self):
        """The :class:`LabelClusterer` tracking label dependencies."""
        return self._clusterer

    def to_text(self):
        """The ODAC hierarchy and the learners' partition as text."""
        lines = [self._clusterer.to_text(), "partition (one MLHAT each):"]
        for labels, learner in zip(self.clusters, self._learners):
            lines.append(f"  {labels}  ({getattr(learner, 'n_leaves', '?')} leaves)")
        return "\n".join(lines)

    def draw(self, ax=None):
        """Draw the label hierarchy (see :meth:`LabelClusterer.draw`)."""
        return self._clusterer.draw(ax=ax)
