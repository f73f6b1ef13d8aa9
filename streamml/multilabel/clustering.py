"""Online divisive-agglomerative clustering (ODAC) of the labels of a stream."""

import math

import numpy as np
from river import base

from ._spaces import LabelSpace

__all__ = ["LabelClusterer"]


def tree_leaves(root):
    """The leaves of a tree of nodes with ``is_leaf`` and ``children`` (None: no tree), left to
    right."""
    out = []
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if node.is_leaf:
            out.append(node)
        else:
            stack.extend(reversed(node.children))
    return out

class _Cluster:
    """A node of the label hierarchy; leaves are the active clusters.

    Leaves count, since they were created, how often each of their labels is present
    (``counts``) and how often each pair of their labels is present together (``pairs``,
    sparse: only pairs ever seen together have an entry).
    """

    def __init__(self, labels, parent, start):
        self.labels = list(labels)
        self.parent = parent
        self.children = []
        self.start = start
        self.counts = {}
        self.pairs = {}
        self.split_diameter = None
        self.split_bound = None

    @property
    def is_leaf(self):
        return not self.children

    def reset(self, start):
        self.start = start
        self.counts = {}
        self.pairs = {}


def _jaccard_distances(labels, counts, pairs):
    """Dense Jaccard distance matrix of ``labels`` from sparse counts (1 where never seen)."""
    k = len(labels)
    pos = {a: i for i, a in enumerate(labels)}
    n_a = np.array([counts.get(a, 0) for a in labels], dtype=np.float64)
    n_ab = np.zeros((k, k))
    for (a, b), c in pairs.items():
        i, j = pos.get(a), pos.get(b)
        if i is not None and j is not None:
            n_ab[i, j] = n_ab[j, i] = c
    union = n_a[:, None] + n_a[None, :] - n_ab
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.where(union > 0, 1.0 - n_ab / union, 1.0)
    np.fill_diagonal(dist, 0.0)
    return dist


class LabelClusterer(base.Base):
    """Online divisive-agglomerative clustering of labels on Jaccard distance (ODAC).

    Labels are the variables clustered; each instance's label set is one observation. Per
    label the number of instances carrying it, per pair the number carrying both (sparse:
    an instance with label set ``y`` updates ``|y|(|y|-1)/2`` pairs, whatever the number of
    labels). The distance is :math:`d(a, b) = 1 - n_{ab} / (n_a + n_b - n_{ab})`, of range
    ``R = 1``. Every ``n_min`` instances each leaf cluster is tested with the Hoeffding bound
    :math:`\\epsilon = \\sqrt{R^2 \\ln(1/\\delta) / (2n)}` on the distances measured since its
    creation (``d1`` largest, ``d2`` second largest, ``d0`` smallest, ``dbar`` mean):

    * split when ``(d1 - d2 > eps or eps < tau) and (d1 - d0) * |d1 + d0 - 2 dbar| > eps``;
      the labels of the farthest pair are the pivots and every other label joins the closer;
    * aggregate (undo its parent's split) when its ``d1`` exceeds the parent's ``d1`` at split
      time by more than ``max(eps, eps_parent)``: the dependency structure changed.

    Parameters
    ----------
    n_min
        Instances between two tests of a cluster (and before its first test).
    delta
        Confidence of the Hoeffding bound.
    tau
        Tie threshold: split once the bound falls below it, even without a clear farthest pair.
    fading
        Weight of the past per instance: counts are exponentially faded (an instance seen ``k``
        instances ago weighs ``fading**k``), so distances follow the recent dependencies and a
        dependency change shows up within about ``1 / (1 - fading)`` instances; the Hoeffding
        bound uses the faded count. 1 gives plain ODAC (counts since the cluster was created).

    Examples
    --------
    >>> from streamml.multilabel import LabelClusterer
    >>> clusterer = LabelClusterer(n_min=50)
    >>> for i in range(400):
    ...     y = {"a": i % 2 == 0, "b": i % 2 == 0, "c": i % 2 == 1, "d": i % 2 == 1}
    ...     clusterer.learn_one(y)
    >>> sorted(sorted(c) for c in clusterer.clusters)
    [['a', 'b'], ['c', 'd']]
    >>> print(clusterer.to_text())
    * split d1=1.000 (a b c d)
      - [a b]
      - [c d]
    """

    def __init__(
        self, n_min: int = 200, delta: float = 0.05, tau: float = 0.1, fading: float = 0.999
    ):
        self.n_min = n_min
        self.delta = delta
        self.tau = tau
        self.fading = fading
        if isinstance(fading, bool) or not isinstance(fading, (int, float)) or not (
            0 < fading <= 1
        ):
            raise ValueError(f"fading must be in (0, 1], got {fading!r}")
        if isinstance(n_min, bool) or not isinstance(n_min, int) or n_min < 1:
            raise ValueError(f"n_min must be a positive integer, got {n_min!r}")
        if not isinstance(delta, (int, float)) or not 0 < delta < 1:
            raise ValueError(f"delta must be in (0, 1), got {delta!r}")
        if not isinstance(tau, (int, float)) or tau < 0:
            raise ValueError(f"tau must be a number >= 0, got {tau!r}")
        self._labels = LabelSpace()
        self._root = None
        self._leaf_of = {}
        self._n = 0
        self._counts = {}
        self._pairs = {}
        # Counts are stored divided by fading**t (lazy fading): increments grow as 1/fading**t,
        # Jaccard ratios are unaffected, and everything is rescaled before it can overflow.
        self._increment = 1.0
        self.n_splits = 0
        self.n_aggregations = 0
        self.last_change = None

    # ------------------------------------------------------------------ learning
    def learn_one(self, y):
        """Update the label statistics with one label set ``{label: bool}``.

        Returns nothing; ``last_change`` tells whether the hierarchy just changed.
        """
        positives, new = self._labels.encode(y)
        for label in new:
            self._add_label(self._labels.index[label])
        self._update(positives)

    def _add_label(self, idx):
        if self._root is None:
            self._root = _Cluster([idx], None, self._n)
            self._leaf_of[idx] = self._root
            return
        leaves = self._leaves()
        target = min(leaves, key=lambda c: len(c.labels))
        node = target
        while node is not None:
            node.labels.append(idx)
            node = node.parent
        self._leaf_of[idx] = target

    def _update(self, positives, count=True, test_above=0):
        """Count one label set (indices of its labels); returns 'split', 'aggregate' or None.

        ``count=False`` only advances the instance counter (a caller with no use for the
        dependencies yet skips their cost). Only leaves holding more than ``test_above``
        labels, or whose parent does, are tested (IHOMER: below its cap a split or an
        aggregation cannot change its partition).
        """
        self._n += 1
        if not count:
            self.last_change = None
            return None
        inc = self._increment
        positives = sorted(positives)
        for i, a in enumerate(positives):
            self._counts[a] = self._counts.get(a, 0) + inc
            for b in positives[i + 1:]:
                self._pairs[a, b] = self._pairs.get((a, b), 0) + inc
        groups = {}
        for a in positives:
            groups.setdefault(id(self._leaf_of[a]), (self._leaf_of[a], []))[1].append(a)
        for leaf, members in groups.values():
            for i, a in enumerate(members):
                leaf.counts[a] = leaf.counts.get(a, 0) + inc
                for b in members[i + 1:]:
                    leaf.pairs[a, b] = leaf.pairs.get((a, b), 0) + inc
        if self.fading < 1.0:
            self._increment /= self.fading
            if self._increment > 1e100:
                self._rescale()
        self.last_change = None
        if self._n % self.n_min == 0 and self._root is not None:
            for leaf in self._leaves():
                if self._n - leaf.start < self.n_min or not leaf.is_leaf:
                    continue
                if len(leaf.labels) <= test_above and (
                    leaf.parent is None or len(leaf.parent.labels) <= test_above
                ):
                    continue
                change = self._test(leaf)
                if change is not None:
                    self.last_change = change
                    if change == "aggregate":
                        break  # the leaf list is stale
        return self.last_change

    def _rescale(self):
        factor = 1.0 / self._increment
        tables = [self._counts, self._pairs]
        stack = [self._root]
        while stack:
            node = stack.pop()
            tables += [node.counts, node.pairs]
            stack.extend(node.children)
        for table in tables:
            for key in table:
                table[key] *= factor
        self._increment = 1.0

    def _effective_n(self, m):
        """Faded weight of the last ``m`` instances."""
        if self.fading == 1.0:
            return float(m)
        return (1.0 - self.fading**m) / (1.0 - self.fading)

    def _bound(self, n):
        return math.sqrt(math.log(1.0 / self.delta) / (2.0 * n))

    def _test(self, leaf):
        k = len(leaf.labels)
        if k < 2:
            return None
        n = self._effective_n(self._n - leaf.start)
        eps = self._bound(n)
        dist = _jaccard_distances(leaf.labels, leaf.counts, leaf.pairs)
        iu = np.triu_indices(k, 1)
        d = dist[iu]
        order = np.argsort(d)
        d1 = d[order[-1]]
        parent = leaf.parent
        if parent is not None and d1 - parent.split_diameter > max(eps, parent.split_bound):
            self._aggregate(parent)
            return "aggregate"
        if k < 3:
            return None
        d2 = d[order[-2]]
        d0 = d[order[0]]
        dbar = d.mean()
        if (d1 - d2 > eps or eps < self.tau) and (d1 - d0) * abs(d1 + d0 - 2 * dbar) > eps:
            i, j = iu[0][order[-1]], iu[1][order[-1]]
            self._split(leaf, dist, i, j, d1, eps)
            return "split"
        return None

    def _split(self, leaf, dist, i, j, d1, eps):
        left, right = [], []
        for p, a in enumerate(leaf.labels):
            if p == i:
                left.append(a)
            elif p == j:
                right.append(a)
            elif dist[p, i] <= dist[p, j]:
                left.append(a)
            else:
                right.append(a)
        leaf.children = [_Cluster(left, leaf, self._n), _Cluster(right, leaf, self._n)]
        leaf.split_diameter = d1
        leaf.split_bound = eps
        leaf.counts, leaf.pairs = {}, {}
        for child in leaf.children:
            for a in child.labels:
                self._leaf_of[a] = child
        self.n_splits += 1

    def _aggregate(self, node):
        node.children = []
        node.split_diameter = node.split_bound = None
        node.reset(self._n)
        for a in node.labels:
            self._leaf_of[a] = node
        self.n_aggregations += 1

    # ------------------------------------------------------------------ inspection
    def _leaves(self):
        return tree_leaves(self._root)

    def _partition_indices(self):
        return [list(leaf.labels) for leaf in self._leaves()]

    def _siblings(self):
        """Map leaf-cluster index -> index of its sibling leaf (when the sibling is a leaf)."""
        leaves = self._leaves()
        where = {id(c): i for i, c in enumerate(leaves)}
        out = {}
        for i, leaf in enumerate(leaves):
            if leaf.parent is not None:
                for other in leaf.parent.children:
                    if other is not leaf and id(other) in where:
                        out[i] = where[id(other)]
        return out

    def _similarities(self, labels):
        """Whole-stream Jaccard similarity of the co-occurring pairs of ``labels``, best first."""
        members = set(labels)
        out = []
        for (a, b), n_ab in self._pairs.items():
            if a in members and b in members and n_ab > 0:
                union = self._counts.get(a, 0) + self._counts.get(b, 0) - n_ab
                if union > 0:
                    out.append((n_ab / union, a, b))
        out.sort(key=lambda t: (-t[0], t[1], t[2]))
        return out

    def capped_groups(self, labels, max_size, keep=()):
        """Split ``labels`` (indices) into groups of at most ``max_size`` co-occurring labels.

        Greedy agglomeration (Kruskal on whole-stream Jaccard similarity): pairs
        are joined most similar first as long as the joined group stays within ``max_size``;
        the groups left are then packed, largest first, into groups of at most ``max_size``
        (first fit), so labels that never co-occur share a group only to respect the cap.
        ``keep`` are groups to start from (their members among ``labels`` stay together), so
        that a partition refined again changes only where new evidence joins groups.
        """
        labels = list(labels)
        if len(labels) <= max_size:
            return [labels]
        parent = {a: a for a in labels}
        size = dict.fromkeys(labels, 1)

        def find(a):
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for group in keep:
            members = [a for a in group if a in parent][:max_size]
            for b in members[1:]:
                ra, rb = find(members[0]), find(b)
                if ra != rb:
                    parent[rb] = ra
                    size[ra] += size[rb]

        for _, a, b in self._similarities(labels):
            ra, rb = find(a), find(b)
            if ra != rb and size[ra] + size[rb] <= max_size:
                if size[ra] < size[rb]:
                    ra, rb = rb, ra
                parent[rb] = ra
                size[ra] += size[rb]
        components = {}
        for a in labels:
            components.setdefault(find(a), []).append(a)
        groups = []
        for comp in sorted(components.values(), key=len, reverse=True):
            for g in groups:
                if len(g) + len(comp) <= max_size:
                    g.extend(comp)
                    break
            else:
                groups.append(list(comp))
        return groups

    def _lowest_common_node(self, labels):
        """The lowest node of the hierarchy holding every label of ``labels``."""
        nodes = {id(self._leaf_of[a]): self._leaf_of[a] for a in labels}
        paths = []
        for node in nodes.values():
            path = []
            while node is not None:
                path.append(node)
                node = node.parent
            paths.append(path[::-1])
        common = paths[0][0]
        for depth in range(min(len(p) for p in paths)):
            if all(p[depth] is paths[0][depth] for p in paths):
                common = paths[0][depth]
            else:
                break
        return common

    @property
    def clusters(self):
        """The active clusters (leaves of the hierarchy) as lists of label names."""
        names = self._labels.names
        return [[names[a] for a in labels] for labels in self._partition_indices()]

    @property
    def n_instances(self):
        """Label sets seen."""
        return self._n

    def distance(self, a, b):
        """Jaccard distance between labels ``a`` and ``b`` over the whole stream."""
        ia, ib = self._labels.index[a], self._labels.index[b]
        if ia == ib:
            return 0.0
        key = (min(ia, ib), max(ia, ib))
        n_ab = self._pairs.get(key, 0)
        union = self._counts.get(ia, 0) + self._counts.get(ib, 0) - n_ab
        return 1.0 - n_ab / union if union > 0 else 1.0

    def _cluster_distance(self, left, right):
        """Mean Jaccard distance (whole stream) between two lists of label indices."""
        names = self._labels.names
        return float(np.mean([self.distance(names[a], names[b]) for a in left for b in right]))

    def to_text(self):
        """Indented text of the hierarchy: split nodes with their diameter, leaf clusters."""
        if self._root is None:
            return "(empty)"
        names = self._labels.names
        lines = []

        def walk(node, depth):
            pad = "  " * depth
            label_text = " ".join(str(names[a]) for a in node.labels)
            if node.is_leaf:
                lines.append(f"{pad}- [{label_text}]")
            else:
                lines.append(f"{pad}* split d1={node.split_diameter:.3f} ({label_text})")
                for child in node.children:
                    walk(child, depth + 1)

        walk(self._root, 0)
        lines[0] = lines[0].lstrip()
        return "\n".join(lines)

    def draw(self, ax=None):
        """Draw the hierarchy with matplotlib (leaves at the bottom); returns the axes."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as error:
            raise ImportError("draw() needs matplotlib, which is not installed: pip install "
                              "matplotlib") from error

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        if self._root is None:
            return ax
        names = self._labels.names
        positions = {}
        next_x = [0]

        def place(node, depth):
            if node.is_leaf:
                positions[id(node)] = (next_x[0], -depth)
                next_x[0] += 1
            else:
                xs = [place(child, depth + 1)[0] for child in node.children]
                positions[id(node)] = (sum(xs) / len(xs), -depth)
            return positions[id(node)]

        place(self._root, 0)

        def draw_node(node):
            x, y = positions[id(node)]
            if node.is_leaf:
                text = "\n".join(str(names[a]) for a in node.labels[:8])
                if len(node.labels) > 8:
                    text += f"\n(+{len(node.labels) - 8})"
                ax.annotate(text, (x, y), ha="center", va="top", fontsize=7,
                            bbox=dict(boxstyle="round", fc="lightyellow"))
            else:
                ax.annotate(f"d1={node.split_diameter:.2f}", (x, y), ha="center", fontsize=7,
                            bbox=dict(boxstyle="round", fc="lightblue"))
                for child in node.children:
                    cx, cy = positions[id(child)]
                    ax.plot([x, cx], [y, cy], color="gray", lw=1, zorder=0)
                    draw_node(child)

        draw_node(self._root)
        depth = -min(y for _, y in positions.values())
        ax.set_xlim(-1, max(next_x[0], 1))
        ax.set_ylim(-depth - 1.5, 0.5)
        ax.axis("off")
        return ax
