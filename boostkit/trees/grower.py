"""Fit one tree to per-row gradient vectors with a histogram split search.

This is the orchestration layer over :mod:`boostkit.trees._grow_kernels`: it validates and
prepares the arrays (gradient clipping, per-column standardisation for the L2 score) and returns
the grown tree as a small :class:`GrownTree` record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from boostkit.trees import _grow_kernels as _k

__all__ = ["GrownTree", "grow_tree", "GROW_POLICIES", "SPLIT_SCORES", "CANDIDATES"]

GROW_POLICIES = ("oblivious", "greedy")
SPLIT_SCORES = ("cosine", "l2")
CANDIDATES = ("quantile", "uniform")


@dataclass
class GrownTree:
    """One tree as compact arrays (see :mod:`boostkit.trees._grow_kernels` for the encoding).

    Attributes
    ----------
    oblivious : bool
        True for a level-wise tree (``feature[l]`` splits level ``l``).
    feature, threshold, is_cat : ndarray
        Split of each internal node (greedy) or level (oblivious).
    left, right : ndarray
        Children of each internal node (greedy only); ``c < 0`` is leaf ``-c - 1``.
    leaf_values : ndarray of shape (n_leaves, n_outputs)
        Mean raw gradient of each leaf.
    leaf_of_row : ndarray of shape (n_rows,)
        Leaf each training row fell into.
    """

    oblivious: bool
    feature: np.ndarray
    threshold: np.ndarray
    is_cat: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf_values: np.ndarray
    leaf_of_row: np.ndarray

    @property
    def n_nodes(self):
        """Internal nodes (greedy) or levels (oblivious)."""
        return self.feature.shape[0]

    @property
    def n_leaves(self):
        """Number of leaves."""
        return self.leaf_values.shape[0]

    def apply(self, X):
        """Leaf index of every row of ``X`` (plain NumPy; used by tests and export).

        Examples
        --------
        >>> import numpy as np
        >>> X = np.arange(8.0).reshape(-1, 1)
        >>> tree = grow_tree(X, (X > 3.5).astype(float), max_depth=1)
        >>> tree.apply(X).tolist()
        [0, 0, 0, 0, 1, 1, 1, 1]
        """
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        if self.oblivious:
            idx = np.zeros(n, dtype=np.int64)
            for lv in range(self.n_nodes):
                x = X[:, self.feature[lv]]
                if self.is_cat[lv]:
                    right = x != self.threshold[lv]
                else:
                    right = ~(x <= self.threshold[lv])
                idx = 2 * idx + right
            return idx
        out = np.zeros(n, dtype=np.int64)
        if self.n_nodes == 0:
            return out
        for i in range(n):
            node = 0
            while True:
                x = X[i, self.feature[node]]
                go_left = x == self.threshold[node] if self.is_cat[node] else x <= self.threshold[node]
                child = self.left[node] if go_left else self.right[node]
                if child < 0:
                    out[i] = -child - 1
                    break
                node = child
        return out


def clip_rows(G, max_norm):
    """Scale every row of ``G`` whose L2 norm exceeds ``max_norm`` down to that norm.

    Examples
    --------
    >>> import numpy as np
    >>> clip_rows(np.array([[3.0, 4.0], [0.3, 0.4]]), 1.0)
    array([[0.6, 0.8],
           [0.3, 0.4]])
    """
    norms = np.sqrt(np.einsum("ij,ij->i", G, G))
    scale = np.minimum(1.0, max_norm / np.maximum(norms, np.finfo(float).tiny))
    return G * scale[:, None]


def grow_tree(X, G, *, max_depth=4, n_bins=256, grow_policy="greedy", split_score="l2",
              candidates="quantile", min_samples_leaf=0, is_categorical=None, grad_clip=None):
    """Fit ONE tree to per-row gradient vectors ``G`` of shape (n, k).

    Parameters are validated by the caller (:class:`boostkit.rl.BoostedTrees`); this function
    only checks shapes. Leaf values are the mean (clipped) gradient of each leaf's rows.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Finite feature values.
    G : ndarray of shape (n, k) or (n,)
        Per-row gradients.
    max_depth : int
        Depth of the tree (0 gives a single leaf).
    n_bins : int in [2, 256]
        Maximum candidate bins per feature (computed from this batch).
    grow_policy : {"greedy", "oblivious"}
        Best split per node, or one split per level.
    split_score : {"l2", "cosine"}
        L2 on per-column standardised gradients, or cosine similarity on raw gradients.
    candidates : {"quantile", "uniform"}
        Candidate thresholds from batch quantiles or a uniform grid between min and max.
    min_samples_leaf : int
        Minimum rows in a non-empty child.
    is_categorical : ndarray of bool of shape (d,), optional
        Features split by "equals value".
    grad_clip : float, optional
        Per-row L2-norm clip of the gradients.

    Returns
    -------
    GrownTree

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> G = np.array([[1.0], [1.0], [-1.0], [-1.0]])
    >>> tree = grow_tree(X, G, max_depth=1)
    >>> float(tree.threshold[0]), tree.leaf_values.ravel().tolist()
    (1.5, [1.0, -1.0])
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    if G.ndim == 1:
        G = G[:, None]
    if X.ndim != 2 or G.ndim != 2 or G.shape[0] != X.shape[0]:
        raise ValueError(f"X (n, d) and G (n, k) must share n; got {X.shape} and {G.shape}")
    if grad_clip is not None:
        G = clip_rows(G, grad_clip)
    G = np.ascontiguousarray(G)
    if split_score == "l2":
        std = G.std(axis=0)
        std[std <= 1e-12 * (1.0 + np.abs(G).max(initial=0.0))] = 1.0
        Gs = np.ascontiguousarray(G / std)
    else:
        Gs = G
    if is_categorical is None:
        is_categorical = np.zeros(X.shape[1], dtype=np.bool_)
    oblivious = grow_policy == "oblivious"
    out = _k.grow_tree(X, G, Gs, np.asarray(is_categorical, dtype=np.bool_), int(n_bins),
                       candidates == "uniform", int(max_depth), oblivious,
                       float(min_samples_leaf),
                       _k.SCORE_COSINE if split_score == "cosine" else _k.SCORE_L2)
    feature, threshold, is_cat, left, right, n_nodes, leaf_values, n_leaves, leaf_of_row = out
    return GrownTree(oblivious, feature[:n_nodes].copy(), threshold[:n_nodes].copy(),
                     is_cat[:n_nodes].copy(), left[:n_nodes].copy(), right[:n_nodes].copy(),
                     leaf_values[:n_leaves].copy(), leaf_of_row)
