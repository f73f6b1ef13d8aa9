"""One representation of a tree ensemble, whatever library grew it."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import _kernels

__all__ = ["TreeEnsemble", "TreeBuilder"]

_INT = np.int32


class TreeEnsemble:
    """Flat node arrays for every tree of a fitted ensemble, plus its bias and training settings.

    Build one with :func:`boostkit.trees.from_model`; the constructor is for parsers. Trees are
    stored round-major: tree ``j = t * n_outputs + k`` is round ``t``'s tree for output ``k``.
    All trees' nodes are concatenated; node indices (``left``, ``right``, ``tree_roots``) are
    global.

    Attributes
    ----------
    n_rounds : int
        Number of boosting rounds (or trees of a forest), ``T``.
    n_outputs : int
        Number of outputs ``C``: 1 for regression and binary boosting, K for multiclass
        boosting, K for forest / single-tree classifiers (their outputs are class probabilities).
    objective : {"squared_error", "logistic", "softmax"}
        The loss the model was trained for (for forests: the task).
    bias : ndarray of shape (C,)
        Raw score before any tree (XGBoost ``base_score`` as a margin, LightGBM's initial score
        if it is not folded into the trees, scikit-learn's ``init_`` / baseline).
    learning_rate : float
        Shrinkage ``eta`` the leaves were multiplied by (1.0 for forests).
    l2 : float
        L2 regularisation ``lambda`` of the Newton leaf values.
    hessian_factor : float
        Factor the library applies to the softmax hessian (K/(K-1) for LightGBM, CatBoost and
        scikit-learn GradientBoosting, 2 for XGBoost, 1 for HistGradientBoosting); 1 for other
        objectives.
    newton_leaves : bool
        True when every leaf value is one Newton step ``-eta * G / (H + l2)`` on the scores
        before its tree (what BoostIn and LeafInfluence differentiate); False when the library
        used L1 / max-delta-step / path smoothing, several leaf-estimation steps, ordered
        boosting, or for forests.
    averaged : bool
        True for forests and single trees: ``predict_raw`` averages the trees instead of
        summing them, and there is no bias.
    n_features : int
        Number of input columns.
    feature_names : list of str or None
        Column names the model was fitted with; DataFrames passed to :meth:`apply` and
        :meth:`predict_raw` must have them in this order.
    categories : list of (ndarray or None)
        Per input column, the categories whose position is their code (as the library encoded
        them), or None for numerical columns.
    whitespace_in_names_as_underscore : bool
        The library stores column names with whitespace replaced by ``_`` (LightGBM);
        DataFrame columns are compared after the same replacement.
    unknown_category : {"missing", "error"}
        What a category unseen in training becomes: a missing value (LightGBM, scikit-learn), or
        an error (XGBoost refuses most unseen categories and miscodes the others).
    value : ndarray of shape (n_nodes,)
        Leaf value of each node: its contribution to the raw score, as the library stores it
        (already multiplied by ``learning_rate`` for boosting; class probability for forests).
    n_leaves : ndarray of shape (T, C)
        Leaves per tree; leaf ids run from 0 to ``n_leaves[t, k] - 1``.
    source : str
        The model type that was parsed, e.g. ``"lightgbm.LGBMClassifier"``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> from boostkit.trees import from_model
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = X[:, 0] + rng.normal(size=200)
    >>> model = GradientBoostingRegressor(n_estimators=10, max_depth=2).fit(X, y)
    >>> ens = from_model(model, X_check=X)
    >>> ens.n_rounds, ens.n_outputs, ens.apply(X).shape
    (10, 1, (200, 10, 1))
    >>> bool(np.allclose(ens.predict_raw(X)[:, 0], model.predict(X)))
    True
    """

    def __init__(self, *, tree_roots, feature, threshold, left, right, missing_left,
                 missing_mode, cat_index, cat_bitsets, value, leaf_index, n_leaves, n_rounds,
                 n_outputs, objective, bias, learning_rate, l2, hessian_factor=1.0,
                 averaged=False, n_features, feature_names=None, categories=None,
                 float32_inputs=False, encode_categories_always=False,
                 unknown_category="missing", whitespace_in_names_as_underscore=False,
                 newton_leaves=True, source=""):
        self.tree_roots = np.ascontiguousarray(tree_roots, dtype=np.int64)
        self.feature = np.array(feature, dtype=_INT, order="C")  # own copy
        self.threshold = np.ascontiguousarray(threshold, dtype=np.float64)
        self.left = np.array(left, dtype=_INT, order="C")  # own copy
        self.right = np.array(right, dtype=_INT, order="C")  # own copy
        self.missing_left = np.array(missing_left, dtype=np.bool_, order="C")  # own copy
        self.missing_mode = np.array(missing_mode, dtype=np.int8, order="C")  # own copy
        self.cat_index = np.array(cat_index, dtype=_INT, order="C")  # own copy
        self.cat_bitsets = np.ascontiguousarray(cat_bitsets, dtype=np.uint32)
        self.value = np.ascontiguousarray(value, dtype=np.float64)
        self.leaf_index = np.ascontiguousarray(leaf_index, dtype=_INT)
        self.n_leaves = np.asarray(n_leaves, dtype=np.int64).reshape(n_rounds, n_outputs)
        self.n_rounds = int(n_rounds)
        self.n_outputs = int(n_outputs)
        self.objective = objective
        self.bias = np.asarray(bias, dtype=np.float64).reshape(n_outputs)
        self.learning_rate = float(learning_rate)
        self.l2 = float(l2)
        self.hessian_factor = float(hessian_factor)
        self.averaged = bool(averaged)
        self.n_features = int(n_features)
        self.feature_names = None if feature_names is None else [str(c) for c in feature_names]
        self.categories = list(categories) if categories is not None else [None] * n_features
        self.float32_inputs = bool(float32_inputs)
        self.encode_categories_always = bool(encode_categories_always)
        if unknown_category not in ("missing", "error"):
            raise ValueError(f"unknown_category must be 'missing' or 'error'; got "
                             f"{unknown_category!r}")
        self.unknown_category = unknown_category
        self.whitespace_in_names_as_underscore = bool(whitespace_in_names_as_underscore)
        self.newton_leaves = bool(newton_leaves) and not self.averaged
        self.source = source
        self.tree_output = np.tile(np.arange(self.n_outputs, dtype=np.int64), self.n_rounds)
        # The structure is fixed once built: the kernels walk arrays derived from it.
        for structure in (self.feature, self.left, self.right, self.missing_left,
                          self.missing_mode, self.cat_index):
            structure.setflags(write=False)
        self._split_feature, self._children, self._kind = _kernels.routing_arrays(
            self.feature, self.left, self.right, self.missing_left, self.missing_mode,
            self.cat_index)
        self._general_nodes = bool((self._kind == _kernels.KIND_OTHER).any())
        if self.tree_roots.shape[0] != self.n_rounds * self.n_outputs:
            raise ValueError(
                f"{self.tree_roots.shape[0]} trees do not make {self.n_rounds} rounds x "
                f"{self.n_outputs} outputs"
            )

    # ------------------------------------------------------------------ structure
    @property
    def n_trees(self):
        """Total number of trees, ``n_rounds * n_outputs``."""
        return self.tree_roots.shape[0]

    @property
    def n_nodes(self):
        return self.feature.shape[0]

    @property
    def max_leaves(self):
        return int(self.n_leaves.max()) if self.n_leaves.size else 0

    def leaf_values(self):
        """Leaf values by leaf id: ndarray of shape (T, C, max_leaves), zero-padded.

        ``leaf_values()[t, k, l]`` is the value of leaf ``l`` of round ``t``'s tree for output
        ``k``, so ``leaf_values()[t, k][apply(X)[:, t, k]]`` is that tree's contribution.
        """
        table = np.zeros((self.n_trees, max(self.max_leaves, 1)))
        is_leaf = self.feature < 0
        tree_of_node = np.searchsorted(self.tree_roots, np.arange(self.n_nodes), side="right") - 1
        table[tree_of_node[is_leaf], self.leaf_index[is_leaf]] = self.value[is_leaf]
        return table.reshape(self.n_rounds, self.n_outputs, -1)

    def __repr__(self):
        kind = "averaged" if self.averaged else "boosted"
        return (f"TreeEnsemble(source={self.source!r}, objective={self.objective!r}, "
                f"{kind}, n_rounds={self.n_rounds}, n_outputs={self.n_outputs}, "
                f"n_features={self.n_features}, max_leaves={self.max_leaves})")

    def summary(self):
        """A few lines describing the ensemble, for printing."""
        n_cat = int((self.cat_index >= 0).sum())
        n_internal = int((self.feature >= 0).sum())
        lines = [
            repr(self),
            f"  trees: {self.n_trees} ({self.n_rounds} rounds x {self.n_outputs} outputs), "
            f"nodes: {self.n_nodes}, leaves per tree: {self.n_leaves.min()}-{self.n_leaves.max()}",
            f"  splits: {n_internal} ({n_cat} categorical), "
            f"missing values routed at {int(self.missing_left[self.feature >= 0].sum())} "
            f"splits to the left",
            f"  bias: {np.array2string(self.bias, precision=5)}, learning_rate: "
            f"{self.learning_rate:g}, l2: {self.l2:g}, hessian factor: {self.hessian_factor:g}",
        ]
        if self.feature_names is not None:
            names = ", ".join(self.feature_names[:6])
            more = "" if len(self.feature_names) <= 6 else f", ... ({len(self.feature_names)})"
            lines.append(f"  features: {names}{more}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ inputs
    def _encode_column(self, column, categories, name):
        """Codes of a categorical column: position in ``categories``; missing -> NaN; unseen
        categories -> NaN or an error, as ``unknown_category`` says.
        """
        values = pd.Index(np.asarray(column, dtype=object))
        codes = pd.Index(categories).get_indexer(values).astype(np.float64)
        unseen = (codes < 0) & ~values.isna()
        if unseen.any() and self.unknown_category == "error":
            raise ValueError(
                f"column {name!r} has categories the model never saw in training: "
                f"{sorted(map(str, set(values[unseen])))[:5]}; known: "
                f"{[str(c) for c in categories[:10]]}"
            )
        codes[codes < 0] = np.nan
        return codes

    def validate_X(self, X):
        """Convert X (ndarray, DataFrame, read-only or strided) to the float64 matrix the kernels
        read: columns checked against the fitted names, categories encoded as the library did.
        """
        if sp.issparse(X):
            raise TypeError(
                "X is a scipy sparse matrix; tree libraries disagree on whether absent entries "
                "are zeros or missing values, so pass a dense array (X.toarray()) whose "
                "missing entries are NaN"
            )
        if isinstance(X, pd.DataFrame):
            names = [str(c) for c in X.columns]
            if self.whitespace_in_names_as_underscore:
                names = [re.sub(r"\s", "_", c) for c in names]
            if self.feature_names is not None and names != self.feature_names:
                missing = [c for c in self.feature_names if c not in names]
                extra = [c for c in names if c not in self.feature_names]
                detail = (f"missing {missing[:5]}, unexpected {extra[:5]}" if missing or extra
                          else "same names in another order")
                raise ValueError(
                    f"X has columns that differ from the ones the model was fitted with "
                    f"({detail}); expected {self.feature_names[:10]}"
                    f"{' ...' if len(self.feature_names) > 10 else ''}"
                )
            if X.shape[1] != self.n_features:
                raise ValueError(
                    f"X has {X.shape[1]} features, but the model expects {self.n_features}"
                )
            out = np.empty(X.shape, dtype=np.float64)
            for i in range(X.shape[1]):
                col = X.iloc[:, i]
                cats = self.categories[i]
                numeric = pd.api.types.is_numeric_dtype(col.dtype) and not isinstance(
                    col.dtype, pd.CategoricalDtype)
                if cats is not None and (self.encode_categories_always or not numeric):
                    out[:, i] = self._encode_column(col, cats, names[i])
                elif numeric or pd.api.types.is_bool_dtype(col.dtype):
                    out[:, i] = col.to_numpy(dtype=np.float64, na_value=np.nan)
                else:
                    raise ValueError(
                        f"column {names[i]!r} has dtype {col.dtype} but the model treats it as "
                        f"numerical; pass numbers (NaN for missing)"
                    )
        else:
            out = np.asarray(X)
            if out.ndim != 2:
                raise ValueError(f"X must be 2-dimensional; got shape {out.shape}")
            if out.shape[1] != self.n_features:
                raise ValueError(
                    f"X has {out.shape[1]} features, but the model expects {self.n_features}"
                )
            if out.dtype.kind not in "fiub":
                raise ValueError(f"X must be numeric; got dtype {out.dtype}")
            # No copy when X already is C-contiguous float64: the kernels never write into it.
            out = np.ascontiguousarray(out, dtype=np.float64)
            if self.encode_categories_always and any(c is not None for c in self.categories):
                out = out.copy()
                for i, cats in enumerate(self.categories):
                    if cats is not None:
                        out[:, i] = self._encode_column(out[:, i], cats, str(i))
        if self.float32_inputs:
            out = out.astype(np.float32).astype(np.float64)
        return np.ascontiguousarray(out)

    # ------------------------------------------------------------------ outputs
    def _node_args(self):
        return (self.feature, self._split_feature, self.threshold, self._children, self._kind,
                self.missing_left, self.missing_mode, self.cat_index, self.cat_bitsets,
                self._general_nodes)

    def apply(self, X):
        """Leaf id of every row in every tree.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n, n_features)
            Missing values as NaN; categorical columns as the model was fitted with them.

        Returns
        -------
        leaf_ids : ndarray of int32, shape (n, T, C)
            ``leaf_ids[i, t, k]`` in ``[0, n_leaves[t, k])``.
        """
        X = self.validate_X(X)
        out = np.empty((X.shape[0], self.n_trees), dtype=_INT)
        _kernels.apply_kernel(X, self.tree_roots, *self._node_args(), self.leaf_index, out)
        return out.reshape(X.shape[0], self.n_rounds, self.n_outputs)

    def raw_from_leaves(self, leaf_ids):
        """Raw outputs from leaf ids already computed by :meth:`apply` (no second tree walk).

        Equal to :meth:`predict_raw` up to the order of the float sums.

        Parameters
        ----------
        leaf_ids : ndarray of shape (n, T, C)

        Returns
        -------
        raw : ndarray of float64, shape (n, C)
        """
        leaf_ids = np.asarray(leaf_ids).reshape(-1, self.n_rounds, self.n_outputs)
        values = np.take_along_axis(self.leaf_values(), leaf_ids.transpose(1, 2, 0), axis=2)
        raw = values.sum(axis=0).T
        if self.averaged:
            raw /= self.n_rounds
        return raw + self.bias

    def predict_raw(self, X):
        """Raw outputs: margins / log-odds for boosting, averaged tree outputs for forests.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n, n_features)

        Returns
        -------
        raw : ndarray of float64, shape (n, C)
        """
        X = self.validate_X(X)
        out = np.zeros((X.shape[0], self.n_outputs))
        _kernels.predict_kernel(X, self.tree_roots, self.tree_output, *self._node_args(),
                                self.value, out)
        if self.averaged:
            out /= self.n_rounds
        return out + self.bias


def _local_positions(counts):
    """0, 1, ..., counts[0] - 1, 0, 1, ..., counts[1] - 1, ...: positions within each group."""
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    return np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)


class TreeBuilder:
    """Collects trees (node indices local to each tree) and lays them out as one TreeEnsemble.

    Parsers add trees round-major (round 0 output 0, round 0 output 1, ...), one at a time with
    :meth:`add_tree` or many at once with :meth:`add_trees`. Per node: ``feature`` (-1 for a
    leaf), ``threshold``, ``left`` / ``right`` (node indices local to the tree), ``value`` (leaf
    contribution to the raw score), optional ``missing_left``, ``missing_mode`` (see
    :mod:`boostkit.trees._kernels`), ``cat_left`` (node -> codes that go left) and
    ``leaf_index`` (the library's own leaf numbering; node order otherwise).
    """

    def __init__(self):
        self._chunks = []

    def add_tree(self, feature, threshold, left, right, value, *, missing_left=None,
                 missing_mode=None, cat_left=None, leaf_index=None):
        """One tree: arrays over its nodes, ``cat_left`` keyed by node."""
        cat_left = {(0, node): codes for node, codes in (cat_left or {}).items()}
        self.add_trees([len(feature)], feature, threshold, left, right, value,
                       missing_left=missing_left, missing_mode=missing_mode,
                       cat_left=cat_left, leaf_index=leaf_index)

    def add_trees(self, sizes, feature, threshold, left, right, value, *, missing_left=None,
                  missing_mode=None, cat_left=None, leaf_index=None):
        """Several trees at once: their node arrays concatenated tree after tree (``sizes``
        nodes each, child indices local to each tree), ``cat_left`` keyed by (tree among
        these, node)."""
        sizes = np.asarray(sizes, dtype=np.int64)
        feature = np.asarray(feature, dtype=np.int64)
        n = feature.shape[0]
        is_leaf = feature < 0
        if leaf_index is None:
            before = np.cumsum(is_leaf) - is_leaf  # leaves earlier in the chunk
            starts = np.cumsum(sizes) - sizes
            leaf_index = before - np.repeat(before[starts] if n else starts, sizes)
        leaf_index = np.where(is_leaf, np.asarray(leaf_index, dtype=np.int64), -1)
        self._chunks.append(dict(
            sizes=sizes,
            feature=feature,
            threshold=np.asarray(threshold, dtype=np.float64),
            left=np.asarray(left, dtype=np.int64),
            right=np.asarray(right, dtype=np.int64),
            value=np.where(is_leaf, np.asarray(value, dtype=np.float64), 0.0),
            missing_left=(np.zeros(n, bool) if missing_left is None
                          else np.asarray(missing_left, dtype=bool)),
            missing_mode=(np.zeros(n, np.int8) if missing_mode is None
                          else np.asarray(missing_mode, dtype=np.int8)),
            cat_left=cat_left or {},
            leaf_index=leaf_index,
        ))

    def build(self, **meta):
        chunks = self._chunks

        def cat(key, dtype):
            parts = [c[key] for c in chunks]
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

        sizes = cat("sizes", np.int64)
        roots = np.cumsum(sizes) - sizes
        node_root = np.repeat(roots, sizes)
        feature = cat("feature", np.int64)
        left, right = cat("left", np.int64), cat("right", np.int64)
        left = np.where(left >= 0, left + node_root, -1)
        right = np.where(right >= 0, right + node_root, -1)
        n_leaves = np.add.reduceat((feature < 0).astype(np.int64), roots) if len(sizes) else []

        first_tree = np.cumsum([0] + [len(c["sizes"]) for c in chunks])
        cat_sets = sorted((int(first_tree[c] + t), int(node), codes)
                          for c, chunk in enumerate(chunks)
                          for (t, node), codes in chunk["cat_left"].items())
        max_code = max((max(codes) for _, _, codes in cat_sets if len(codes)), default=0)
        n_words = max(1, int(max_code) // 32 + 1)
        bitsets = np.zeros((max(len(cat_sets), 1), n_words), dtype=np.uint32)
        cat_index = np.full(feature.shape[0], -1, dtype=np.int64)
        for c, (tree, node, codes) in enumerate(cat_sets):
            cat_index[roots[tree] + node] = c
            for code in codes:
                bitsets[c, int(code) >> 5] |= np.uint32(1) << np.uint32(int(code) & 31)

        return TreeEnsemble(
            tree_roots=roots, feature=feature, threshold=cat("threshold", np.float64),
            left=left, right=right, missing_left=cat("missing_left", bool),
            missing_mode=cat("missing_mode", np.int8), cat_index=cat_index,
            cat_bitsets=bitsets, value=cat("value", np.float64),
            leaf_index=cat("leaf_index", np.int64), n_leaves=n_leaves, **meta,
        )
