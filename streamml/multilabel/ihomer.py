"""iHOMER: online hierarchical partitioning of the label space, one MLHAT per cluster."""

import collections

import numpy as np
from river import base

from ._spaces import FeatureSpace, LabelDecisions, LabelProbabilities, auto_representation
from .clustering import LabelClusterer, tree_leaves
from .mlhat import AUTO_WINDOW, MLHAT, _learning_vectors

__all__ = ["IHOMER"]


class _Node:
    """A node of the HOMER hierarchy.

    A leaf holds a label cluster and a learner of those labels (``labels`` in the learner's
    order). An internal node holds a learner of its meta-labels, one per child: "the instance
    carries some label of child c"; ``child_of`` maps each label below to its child position.
    """

    def __init__(self, labels, learner, children=()):
        self.learner = learner
        self.children = list(children)
        if self.children:  # an internal node covers the labels of its children
            labels = [a for child in self.children for a in child.labels]
        self.labels = tuple(labels)
        self.position = {a: p for p, a in enumerate(self.labels)}
        self.child_of = {a: c for c, child in enumerate(self.children) for a in child.labels}
        self.n_learned = 0  # instances learnt since the node was made (routing warm-up)

    @property
    def is_leaf(self):
        return not self.children

    @property
    def key(self):
        if self.is_leaf:
            return frozenset(self.labels)
        return tuple(frozenset(child.labels) for child in self.children)

    def add_child(self, child):
        self.children.append(child)
        for a in child.labels:
            self.child_of[a] = len(self.children) - 1
        self.labels = self.labels + child.labels
        if self.learner is not None:  # None: a flat partition's root, which learns nothing
            self.learner._add_labels(1)

    def add_label(self, a):
        self.position[a] = len(self.labels)
        self.labels = self.labels + (a,)
        self.learner._add_labels(1)


class IHOMER(base.MultiLabelClassifier):
    """Incremental HOMER: online label clustering, one learner per cluster, hierarchical routing.

    A :class:`LabelClusterer` (ODAC on the Jaccard distance between labels) watches the label
    sets. At the end of the warm-up, and after each ODAC aggregation (dependency drift; every
    structural change with ``repartition_on="change"``), the labels are partitioned: every
    ODAC leaf cluster larger than ``max_cluster_size`` is cut into
    groups of co-occurring labels of at most that size (:meth:`LabelClusterer.capped_groups`),
    then groups smaller than ``min_cluster_size`` merge into the most similar group (mean
    whole-stream Jaccard similarity) while the result stays within ``max_cluster_size``. Labels
    appearing mid-stream join the smallest cluster, or a new one when every cluster is full:
    no learner ever holds more than ``max_cluster_size`` labels.

    Each cluster owns a learner (a clone of ``model``, :class:`MLHAT` by default) of its labels.
    With ``hierarchical=True`` (HOMER, Tsoumakas et al. 2008) the clusters are the leaves of a
    tree that follows the ODAC hierarchy (each cluster hangs under the lowest ODAC node holding
    all its labels; levels are merged while a node keeps at most ``max_cluster_size`` children).
    Every internal node learns the meta-labels "some label of child c is present". At
    prediction time an instance goes down only into the children whose meta-label probability
    exceeds ``route_threshold`` (low: a missed meta-label loses all the labels below it); for
    learning, into those and into the children holding one of its labels, so that a child also
    learns to answer "none of mine" where it is routed. A node younger than ``warmup`` instances
    routes every instance to every child, for prediction and for learning alike. The
    per-instance cost thus grows with the clusters routed to, not with the number of clusters.
    With ``hierarchical=False`` every cluster learns and predicts every instance (flat
    partition; ``chain_clusters`` applies).

    Unchanged clusters (and internal nodes with the same children) keep their learner. With
    ``warm_start`` (default) a new cluster, whether it comes from a split or an aggregation,
    starts from a copy of the learner that held most of its labels, restricted to them, and
    every other label of it brings what it learned in its old cluster (its weights, label
    counts and decision threshold; see ``MLHAT._absorb_labels``): a re-partition loses
    nothing a label learned (only the joint label-set counts of the cluster start over). A new
    internal node starts from the internal node that covered most of its labels. Starting from
    scratch after an aggregation was measured to cost accuracy on the drifting benchmark (the
    learners' own ADWIN detectors already replace the subtrees that drift made wrong), hence the
    default. ``warm_start=False`` starts every new node from scratch.
    The prediction is the union of the clusters' predictions; labels never seen are False.

    Parameters
    ----------
    model
        Learner cloned for each cluster and internal node (a :class:`MLHAT`); None gives
        ``MLHAT()``.
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
        Most labels of one cluster, and most children of one internal node (a hard cap). The
        default 1024 keeps label spaces of up to 1,024 labels in one MLHAT: smaller caps were
        measured to lose subset accuracy to one MLHAT on every text stream benchmarked
        (medical, enron, bibtex, a generated 1,000-label stream), while raising macro-F1 on
        the large label spaces (docs/multilabel.md, "What the defaults do").
    warmup
        Instances before the first partition by label co-occurrence, counted from the instance
        where the labels outgrew one cluster (the clusterer only counts from then on: within
        the cap no dependency can change the partition); also the instances a new internal node
        learns before it routes by its predictions.
    warm_start
        Start the learners of new clusters from a copy of their predecessor (else from scratch).
    hierarchical
        Route instances down a HOMER tree of meta-label learners (else a flat partition).
    route_threshold
        Meta-label probability above which an internal node routes an instance to a child.
        Measured on medical with clusters of at most 16 labels (file order), subset accuracy /
        micro-F1: .526 / .706 at 0.1, .519 / .703 at 0.2, .506 / .692 at 0.35; routing by the
        meta-labels' calibrated decisions missed a quarter of the clusters holding a label.
    chain_clusters
        Flat partition only: chain the clusters, the leaf models of each cluster also taking the
        labels of the clusters before it as 0/1 inputs (true labels when learning, the predicted
        ones when predicting).
    repartition_on
        When the labels are partitioned again after the first partition. ``"drift"``: only
        after an ODAC aggregation (a dependency change); labels arriving later join the
        smallest cluster, or a new one when every cluster is full. ``"change"``: after every
        structural change, ODAC's splits included. Every split of an ODAC node above the cap
        cuts the clusters straddling its new boundary: on the generated 1,000-label stream
        with ``max_cluster_size=64`` each re-partition replaced about half the clusters, and
        ``"change"`` ran at 164 against 251 instances/s with micro-F1 .735 against .751 (6,000
        instances; bibtex in full: 224 vs 287/s, .323 vs .353), hence the default.
    seed
        Seed of the learners (the k-th learner made gets ``seed + k``).

    Like :class:`MLHAT`, ``predict_one`` answers for every label seen so far and a label never
    seen reads as False, so river's multi-output metrics work from the first instance.

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
    >>> max(len(c) for c in model.clusters) <= model.max_cluster_size
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
        max_cluster_size: int = 1024,
        warmup: int = 200,
        warm_start: bool = True,
        hierarchical: bool = True,
        route_threshold: float = 0.1,
        chain_clusters: bool = True,
        repartition_on: str = "drift",
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
        self.hierarchical = hierarchical
        self.route_threshold = route_threshold
        self.chain_clusters = chain_clusters
        self.repartition_on = repartition_on
        self.seed = seed
        if repartition_on not in ("drift", "change"):
            raise ValueError(
                f"repartition_on must be 'drift' or 'change', got {repartition_on!r}"
            )
        if model is not None and not isinstance(model, MLHAT):
            raise TypeError(f"model must be an MLHAT or None, got {type(model).__name__}")
        if min_cluster_size is not None and (
            not isinstance(min_cluster_size, int) or min_cluster_size < 1
        ):
            raise ValueError(
                f"min_cluster_size must be a positive integer or None, got {min_cluster_size!r}"
            )
        if isinstance(max_cluster_size, bool) or not isinstance(max_cluster_size, int) or (
            max_cluster_size < 2
        ):
            raise ValueError(f"max_cluster_size must be an integer >= 2, got {max_cluster_size!r}")
        if isinstance(route_threshold, bool) or not isinstance(route_threshold, (int, float)) or (
            not 0 <= route_threshold < 1
        ):
            raise ValueError(f"route_threshold must be in [0, 1), got {route_threshold!r}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")

        self._reset()

    def _reset(self):
        self._clusterer = LabelClusterer(
            n_min=self.n_min, delta=self.delta, tau=self.tau, fading=self.fading
        )
        self._features = FeatureSpace()
        self._predicted = None  # the last prediction's (raw, scaled) vectors
        # Input representation, as MLHAT chooses it (``model.sparse``): "sparse" or "dense";
        # None while the first instances are buffered (sparse="auto"), then MLHAT's rule picks.
        sparse = self._prototype().sparse
        self._mode = {True: "sparse", False: "dense"}.get(sparse)
        self._auto_buffer = []
        self._tree = None  # root _Node
        self._clusters = []  # label tuples of the leaves, in tree order
        self._learners = []  # their learners
        self._leaf_of = {}  # label index -> leaf _Node
        self._cardinality = collections.Counter()
        self._n = 0
        self._n_learners_made = 0
        self._pending = False
        self._drifted = False
        self._partitioned = False  # by co-occurrence (before: label order, to fit the cap)
        self._counting_since = None  # instance after which the clusterer counts
        self.restructures = collections.deque(maxlen=1000)

    @classmethod
    def _unit_test_params(cls):
        yield {"seed": 42}
        yield {"n_min": 20, "warmup": 20, "tau": 0.5, "max_cluster_size": 4, "seed": 1}
        yield {"hierarchical": False, "n_min": 20, "warmup": 20, "max_cluster_size": 4,
               "seed": 2}

    # ------------------------------------------------------------------ learners
    def _prototype(self):
        return self.model if self.model is not None else MLHAT()

    def _make_learner(self):
        prototype = self._prototype()
        params = {}
        if self.seed is not None:
            params["seed"] = self.seed + self._n_learners_made
        self._n_learners_made += 1
        return prototype.clone(params)

    def _leaves(self):
        return tree_leaves(self._tree)

    def _internal_nodes(self):
        out = []
        stack = [self._tree] if self._tree is not None else []
        while stack:
            node = stack.pop()
            if not node.is_leaf:
                out.append(node)
                stack.extend(node.children)
        return out

    def _index(self):
        leaves = self._leaves()
        self._clusters = [leaf.labels for leaf in leaves]
        self._learners = [leaf.learner for leaf in leaves]
        self._leaf_of = {a: leaf for leaf in leaves for a in leaf.labels}

    def _add_label(self, idx):
        self._clusterer._add_label(idx)
        if self._tree is None:
            self._tree = _Node((idx,), self._make_learner())
            self._index()
            return
        leaves = self._leaves()
        smallest = min(leaves, key=lambda leaf: len(leaf.labels))
        if len(smallest.labels) < self.max_cluster_size:
            smallest.add_label(idx)
            for node in self._internal_nodes():  # the ancestors learn it as part of the child
                for c, child in enumerate(node.children):
                    if child is smallest or (not child.is_leaf and self._holds(child, smallest)):
                        node.child_of[idx] = c
                        node.labels = node.labels + (idx,)
        else:
            leaf = _Node((idx,), self._make_learner())
            if self._tree.is_leaf:
                learner = self._make_learner() if self.hierarchical else None
                self._tree = _Node((), learner, [])
                old = leaves[0]
                self._tree.add_child(old)
                self._tree.add_child(leaf)
            else:
                self._tree.add_child(leaf)
            if self.hierarchical and len(self._tree.children) > self.max_cluster_size:
                self._pending = True
        self._index()

    @staticmethod
    def _holds(node, leaf):
        stack = [node]
        while stack:
            n = stack.pop()
            if n is leaf:
                return True
            stack.extend(n.children)
        return False

    # ------------------------------------------------------------------ river API
    @property
    def labels(self):
        """Labels seen so far, in order of first appearance."""
        return list(self._clusterer._labels.names)

    def learn_one(self, x, y):
        predicted, self._predicted = self._predicted, None
        xv, xs, positives, new = _learning_vectors(
            self._features, self._clusterer._labels, x, y, self._mode == "sparse", predicted
        )
        self._learn_vectors(xv, xs, positives, new)
        if self._mode is None:
            self._auto_buffer.append((dict(x), dict(y)))
            if len(self._auto_buffer) >= AUTO_WINDOW:
                # The features seen so far are exactly those an MLHAT would have seen.
                self._choose_representation(auto_representation(
                    [seen for seen, _ in self._auto_buffer], len(self._features)))

    def _choose_representation(self, mode):
        """sparse="auto": keep dense, or start over sparse and learn the buffered instances."""
        buffer = self._auto_buffer
        if mode == "dense":
            self._mode, self._auto_buffer = "dense", []
            return
        self._reset()
        self._mode = "sparse"
        for x, y in buffer:
            self.learn_one(x, y)

    def _learn_vectors(self, xv, xs, positives, new):
        for label in new:
            self._add_label(self._clusterer._labels.index[label])
        self._n += 1
        self._cardinality[len(positives)] += 1
        # While every label fits one cluster no dependency can change the partition: the
        # clusterer starts counting (and its warm-up starts) once the labels outgrow the cap.
        if self._counting_since is None and len(self._clusterer._labels) > self.max_cluster_size:
            self._counting_since = self._n - 1
            self._clusterer._root.reset(self._clusterer._n)
        counting = self._counting_since is not None
        change = self._clusterer._update(
            positives, count=counting, test_above=self.max_cluster_size
        )
        if change == "aggregate" or (change == "split" and (
            self.repartition_on == "change" or not self._partitioned
        )):
            self._pending = True
            self._drifted = self._drifted or change == "aggregate"

        if self._tree is None:  # no label seen yet
            return
        if self.hierarchical:
            self._learn_node(self._tree, positives, xv, xs)
        else:
            self._learn_flat(positives, xv, xs)

        if not counting:
            return
        if self._n - self._counting_since == self.warmup or (
            self._pending and self._n - self._counting_since >= self.warmup
        ):
            self._restructure(fresh=self._drifted)
            self._pending = False
            self._drifted = False

    def _learn_node(self, node, positives, xv, xs):
        if node.is_leaf:
            node.n_learned += 1
            pos = sorted(node.position[a] for a in positives if a in node.position)
            yv = np.zeros(len(node.labels))
            yv[pos] = 1.0
            node.learner._learn_arrays(xv, xs, yv, pos)
            return
        hit = sorted({node.child_of[a] for a in positives if a in node.child_of})
        # The children learn the instances routed to them at prediction time as well as those
        # carrying their labels, so that they learn to say "none of mine" where routed. A young
        # node routes every instance to every child at prediction time, so every child learns
        # every instance then (children that only saw their own labels while the root was
        # young flooded the predictions with false positives: medical subset accuracy .44
        # -> .51, enron .06 -> .11, with a cap of 16 labels).
        if self._is_young(node):
            routed = range(len(node.children))
        else:
            routed = sorted(set(hit).union(self._routed(node, node.learner._proba_arrays(xv, xs))))
        node.n_learned += 1
        yv = np.zeros(len(node.children))
        yv[hit] = 1.0
        node.learner._learn_arrays(xv, xs, yv, hit)
        for c in routed:
            self._learn_node(node.children[c], positives, xv, xs)

    def _learn_flat(self, positives, xv, xs):
        local = {id(leaf): [] for leaf in self._leaves()}
        for a in positives:
            leaf = self._leaf_of[a]
            local[id(leaf)].append(leaf.position[a])
        ctx = np.zeros(len(self._clusterer._labels)) if self.chain_clusters else None
        for leaf in self._leaves():
            pos = sorted(local[id(leaf)])
            yv = np.zeros(len(leaf.labels))
            yv[pos] = 1.0
            leaf.n_learned += 1
            leaf.learner._learn_arrays(xv, xs, yv, pos, ctx)
            if ctx is not None:
                ctx[list(leaf.labels)] = yv  # teacher forcing for the clusters after this one

    def _vectors(self, x):
        """(raw, scaled) vectors of ``x`` for prediction (no feature is added); kept for a
        ``learn_one`` of the same instance next."""
        self._predicted = self._features.prediction_vectors(x, self._mode == "sparse")
        return self._predicted

    def _is_young(self, node):
        """A node that has not learnt ``warmup`` instances yet routes to every child."""
        return node.learner._root is None or node.n_learned < self.warmup

    def _routed(self, node, meta_proba):
        """Children an instance goes down to, given the node's meta-label probabilities."""
        if self._is_young(node):
            return range(len(node.children))
        return np.flatnonzero(meta_proba > self.route_threshold).tolist()

    def _predict_node(self, node, xv, xs, out, proba, weight=1.0):
        learner = node.learner
        if node.is_leaf:
            if learner._root is None:
                return
            meta = learner._proba_arrays(xv, xs) if proba else learner._decide_arrays(xv, xs)
            out[list(node.labels)] = weight * meta if proba else meta
            return
        young = self._is_young(node)
        meta = None if learner._root is None else learner._proba_arrays(xv, xs)
        for c in self._routed(node, meta):
            w = weight if young or not proba else weight * meta[c]
            self._predict_node(node.children[c], xv, xs, out, proba, w)

    def _predict_flat(self, xv, xs, out, proba):
        ctx = np.zeros(len(out)) if self.chain_clusters else None
        for leaf in self._leaves():
            learner = leaf.learner
            if learner._root is None:
                continue
            if proba:
                p = learner._proba_arrays(xv, xs, ctx)
                d = p > 0.5
            else:
                p = d = learner._decide_arrays(xv, xs, ctx)
            out[list(leaf.labels)] = p
            if ctx is not None:
                ctx[list(leaf.labels)] = d

    def _predict(self, x, proba):
        xv, xs = self._vectors(x)
        out = np.zeros(len(self._clusterer._labels))
        if self._tree is not None:
            if self.hierarchical:
                self._predict_node(self._tree, xv, xs, out, proba)
            else:
                self._predict_flat(xv, xs, out, proba)
        return out

    def predict_proba_one(self, x, **kwargs):
        proba = self._predict(x, proba=True)
        return LabelProbabilities(
            (label, {False: 1.0 - p, True: p})
            for label, p in zip(self._clusterer._labels.names, proba.tolist())
        )

    def predict_one(self, x, **kwargs):
        decision = self._predict(x, proba=False)
        return LabelDecisions(zip(self._clusterer._labels.names, (decision > 0.5).tolist()))

    # ------------------------------------------------------------------ partition refinement
    def _min_size(self):
        if self.min_cluster_size is not None:
            return self.min_cluster_size
        if not self._cardinality:
            return 1
        mode = max(self._cardinality.items(), key=lambda kv: (kv[1], -kv[0]))[0]
        return max(1, mode)

    def _refined_partition(self, fresh=True):
        """Largest ODAC subtrees within ``max_cluster_size`` (big leaves cut), small ones merged.

        Unless ``fresh`` (after an aggregation: the dependencies drifted), a big leaf is cut
        starting from the current clusters, so that a restructure keeps the clusters (and
        their learners) that new evidence does not join.
        """
        cap = self.max_cluster_size
        keep = self._clusters if self._partitioned and not fresh else ()
        groups = []
        stack = [self._clusterer._root]
        while stack:
            node = stack.pop()
            if len(node.labels) <= cap or node.is_leaf:
                groups.extend(self._clusterer.capped_groups(node.labels, cap, keep))
            else:
                stack.extend(reversed(node.children))
        min_size = min(self._min_size(), cap)
        if len(groups) > 1 and any(len(g) < min_size for g in groups):
            groups = self._merge_small(groups, min_size, cap)
        return [tuple(sorted(g)) for g in groups]

    def _merge_small(self, groups, min_size, cap):
        """Merge each group below ``min_size`` into its most similar group within ``cap``."""
        labels = [a for g in groups for a in g]
        where = {a: i for i, a in enumerate(labels)}
        sim = np.zeros((len(labels), len(labels)))
        for s, a, b in self._clusterer._similarities(labels):
            sim[where[a], where[b]] = sim[where[b], where[a]] = s
        groups = [list(g) for g in groups]
        while True:
            sizes = [len(g) for g in groups]
            small = [i for i in np.argsort(sizes, kind="stable") if sizes[i] < min_size]
            merged = False
            for i in small:
                options = [j for j in range(len(groups))
                           if j != i and sizes[i] + sizes[j] <= cap]
                if not options:
                    continue
                rows = [where[a] for a in groups[i]]

                def closeness(j):
                    cols = [where[a] for a in groups[j]]
                    # Most similar first; ties go to the neighbour in hierarchy order.
                    return (sim[np.ix_(rows, cols)].mean(), -abs(j - i))

                j = max(options, key=closeness)
                groups[j].extend(groups[i])
                del groups[i]
                merged = True
                break
            if not merged:
                return groups

    def _hierarchy_plan(self, groups):
        """Nested lists of group indices following the ODAC tree, fan-out within the cap."""
        cap = self.max_cluster_size
        anchored = collections.defaultdict(list)
        for i, g in enumerate(groups):
            anchored[id(self._clusterer._lowest_common_node(g))].append(i)

        def walk(node):
            items = list(anchored.get(id(node), []))
            for child in node.children:
                sub = walk(child)
                if sub is not None:
                    items.append(sub)
            if not items:
                return None
            # Merge levels (inline child nodes, smallest first) while the fan-out allows.
            while True:
                inner = [k for k, it in enumerate(items) if isinstance(it, list)]
                inner = [k for k in inner if len(items) - 1 + len(items[k]) <= cap]
                if not inner:
                    break
                k = min(inner, key=lambda k: len(items[k]))
                items = items[:k] + items[k] + items[k + 1:]
            while len(items) > cap:
                items = [items[k:k + cap] for k in range(0, len(items), cap)]
            return items[0] if len(items) == 1 else items

        return walk(self._clusterer._root)

    def _restructure(self, fresh):
        if self._tree is None:
            return
        groups = self._refined_partition(fresh)
        old_leaves = {leaf.key: leaf for leaf in self._leaves()}
        old_internal = {node.key: node for node in self._internal_nodes()}
        def leaf_for(labels):
            key = frozenset(labels)
            if key in old_leaves:
                return old_leaves[key]
            if self.warm_start and old_leaves:
                best = max(old_leaves.values(), key=lambda n: len(key & set(n.labels)))
                kept = [a for a in best.labels if a in key]
                if kept:
                    learner = best.learner._restricted_copy([best.position[a] for a in kept])
                    order = list(kept)
                    # Every other label keeps what it learned in the cluster it comes from.
                    for old in old_leaves.values():
                        if old is best:
                            continue
                        moved = [a for a in old.labels if a in key]
                        if moved:
                            learner._absorb_labels(old.learner, [old.position[a] for a in moved])
                            order += moved
                    added = [a for a in labels if a not in set(order)]
                    if added:
                        learner._add_labels(len(added))
                    node = _Node(tuple(order) + tuple(added), learner)
                    node.n_learned = best.n_learned
                    return node
            return _Node(labels, self._make_learner())

        def internal_for(children):
            node = _Node((), None, children)
            if node.key in old_internal and old_internal[node.key].learner is not None:
                old = old_internal[node.key]
                node.learner, node.n_learned = old.learner, old.n_learned
                return node
            if not self.hierarchical:
                return node
            covered = frozenset(node.labels)
            if self.warm_start and old_internal:
                best = max(old_internal.values(),
                           key=lambda n: len(covered & set(n.labels)))
                positions, matched, rest = [], [], []
                for child in children:
                    overlaps = [len(set(child.labels) & set(old.labels)) for old in best.children]
                    p = int(np.argmax(overlaps))
                    if overlaps[p] > 0 and p not in positions:
                        positions.append(p)
                        matched.append(child)
                    else:
                        rest.append(child)
                if positions:
                    learner = best.learner._restricted_copy(positions)
                    if rest:
                        learner._add_labels(len(rest))
                    node = _Node((), learner, matched + rest)
                    node.n_learned = best.n_learned
                    return node
            node.learner = self._make_learner()
            return node

        def build(item):
            if not isinstance(item, list):
                return leaf_for(groups[item])
            return internal_for([build(it) for it in item])

        if self.hierarchical:
            plan = self._hierarchy_plan(groups)
        else:
            plan = list(range(len(groups))) if len(groups) > 1 else 0
        before = sorted(map(sorted, self._clusters))
        self._tree = build(plan)
        self._partitioned = True
        self._index()
        if sorted(map(sorted, self._clusters)) != before:
            self.restructures.append((self._n, len(self._clusters),
                                      "aggregate" if fresh else "split"))

    # ------------------------------------------------------------------ inspection
    @property
    def clusters(self):
        """The label partition: one list of label names per learner."""
        names = self._clusterer._labels.names
        return [[names[a] for a in labels] for labels in self._clusters]

    @property
    def n_internal_nodes(self):
        """Meta-label learners of the hierarchy (0 for a flat partition)."""
        return len(self._internal_nodes()) if self.hierarchical else 0

    @property
    def clusterer(self):
        """The :class:`LabelClusterer` tracking label dependencies."""
        return self._clusterer

    def to_text(self):
        """The ODAC hierarchy, then the learners' hierarchy (clusters with their leaf counts)."""
        names = self._clusterer._labels.names
        kind = "HOMER tree" if self.hierarchical else "flat partition"
        lines = [self._clusterer.to_text(), f"{kind} (one MLHAT per line):"]

        def walk(node, depth):
            pad = "  " * (depth + 1)
            leaves = getattr(node.learner, "n_leaves", "?")
            if node.is_leaf:
                lines.append(f"{pad}{[names[a] for a in node.labels]}  ({leaves} leaves)")
            else:
                lines.append(f"{pad}* meta-labels of {len(node.children)} children  "
                             f"({leaves} leaves)")
                for child in node.children:
                    walk(child, depth + 1)

        if self._tree is not None:
            if self.hierarchical:
                walk(self._tree, 0)
            else:
                for leaf in self._leaves():
                    walk(leaf, 0)
        return "\n".join(lines)

    def draw(self, ax=None):
        """Draw the label hierarchy (see :meth:`LabelClusterer.draw`)."""
        return self._clusterer.draw(ax=ax)
