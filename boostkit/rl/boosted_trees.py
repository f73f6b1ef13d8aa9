"""A boosted tree ensemble trained by per-row gradients: one tree per ``step``.

``f(x) = bias - sum_t lr_t * tree_t(x)`` where each tree's leaves hold the mean gradient of the
rows that reached them. Trees are stored in growable flat arrays (capacity doubles, nothing is
preallocated up front); predictions of a batch seen before are kept with the number of trees they
include, so re-predicting it after new trees costs O(rows x new trees), not O(rows x all trees).
"""

from __future__ import annotations

import numbers

import numba
import numpy as np

from boostkit.trees import _grow_kernels as _k
from boostkit.trees.grower import CANDIDATES, GROW_POLICIES, SPLIT_SCORES, grow_tree

__all__ = ["BoostedTrees", "LinearSchedule"]

# Below this many rows, or rows x trees, waking threads costs more than they save.
_SERIAL_ROWS = 512
_SERIAL_WORK = 200_000


class LinearSchedule:
    """Learning rate moving linearly from ``start`` to ``end`` over ``n_trees`` trees.

    Parameters
    ----------
    start, end : float or array-like
        Values at tree 0 and at tree ``n_trees`` (held afterwards); arrays give per-output rates.
    n_trees : int
        Length of the ramp.

    Examples
    --------
    >>> sched = LinearSchedule(0.1, 0.0, n_trees=10)
    >>> float(sched(0)), float(sched(5)), float(sched(20))
    (0.1, 0.05, 0.0)
    """

    def __init__(self, start, end, n_trees):
        if not isinstance(n_trees, numbers.Integral) or n_trees < 1:
            raise ValueError(f"n_trees must be a positive int; got {n_trees!r}")
        self.start = start
        self.end = end
        self.n_trees = n_trees

    def __call__(self, tree_index):
        frac = min(1.0, tree_index / self.n_trees)
        return np.asarray(self.start, float) + frac * (np.asarray(self.end, float)
                                                       - np.asarray(self.start, float))

    def __repr__(self):
        return f"LinearSchedule({self.start!r}, {self.end!r}, n_trees={self.n_trees})"


class _Growable:
    """A numpy array whose first axis grows by doubling."""

    def __init__(self, dtype, width=None, capacity=16):
        shape = (capacity,) if width is None else (capacity, width)
        self.data = np.zeros(shape, dtype=dtype)
        self.size = 0

    def extend(self, values):
        m = values.shape[0]
        need = self.size + m
        if need > self.data.shape[0]:
            cap = max(need, 2 * self.data.shape[0])
            new = np.zeros((cap,) + self.data.shape[1:], dtype=self.data.dtype)
            new[: self.size] = self.data[: self.size]
            self.data = new
        self.data[self.size:need] = values
        self.size = need

    def view(self):
        return self.data[: self.size]

    def shrink(self):
        self.data = self.data[: max(self.size, 1)].copy()


class BoostedTrees:
    """Boosted trees fitted one tree at a time to per-row gradient vectors.

    The RL function approximator of GBRL (Fuhrer et al., ICML 2025): RL provides no targets,
    only the gradient of a loss with respect to the model outputs; each :meth:`step` fits one
    tree to those gradients (leaf value = mean gradient of its rows) and appends it with weight
    ``-learning_rate`` per output, i.e. one functional gradient-descent step.

    Parameters
    ----------
    n_outputs : int
        Number of model outputs (columns of the gradients).
    max_depth : int, default=4
        Depth of every tree.
    n_bins : int, default=256
        Maximum candidate bins per feature (2..256), computed from each batch.
    grow_policy : {"oblivious", "greedy"}, default="oblivious"
        One split per level (2**max_depth leaves) or the best split per node.
    split_score : {"cosine", "l2"}, default="cosine"
        Cosine similarity between gradients and the split's piecewise-mean fit, or the L2 score
        ``n_L |mu_L|^2 + n_R |mu_R|^2`` on per-column standardised gradients.
    learning_rate : float, array-like of shape (n_outputs,) or callable, default=0.1
        Step size per output; a callable maps the tree index to a float or per-output array
        (e.g. :class:`LinearSchedule`).
    min_samples_leaf : int, default=0
        Minimum rows in every non-empty child.
    categorical_features : array-like of int or bool, optional
        Features split by "equals value" (their values are category codes).
    seed : int, optional
        Seeds the row sample kept for compression (``max_trees``); growth is deterministic.
    candidates : {"quantile", "uniform"}, default="quantile"
        Candidate thresholds from batch quantiles or a uniform grid.
    grad_clip : float, optional
        Per-row L2-norm clip of the gradients before fitting.
    max_trees : int, optional
        Cap on the number of trees: when exceeded, the oldest half is distilled into one deeper
        tree fitted (L2, greedy) to its summed output on recently seen rows. Approximate.
    cache_size : int, default=4
        Number of batches whose predictions are cached.

    Attributes
    ----------
    n_trees_ : int
        Number of trees.
    bias_ : ndarray of shape (n_outputs,)
        Constant added to every prediction (see :meth:`set_bias`).
    n_features_in_ : int
        Number of features, fixed by the first :meth:`step`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, :1] > 0).astype(float)
    >>> model = BoostedTrees(1, learning_rate=0.5, seed=0)
    >>> for _ in range(20):
    ...     _ = model.step(X, model.predict(X) - y)   # squared-error gradient
    >>> model.n_trees_, bool(np.mean((model.predict(X) - y) ** 2) < 0.01)
    (20, True)
    """

    def __init__(self, n_outputs, *, max_depth=4, n_bins=256, grow_policy="oblivious",
                 split_score="cosine", learning_rate=0.1, min_samples_leaf=0,
                 categorical_features=None, seed=None, candidates="quantile", grad_clip=None,
                 max_trees=None, cache_size=4):
        self.n_outputs = n_outputs
        self.max_depth = max_depth
        self.n_bins = n_bins
        self.grow_policy = grow_policy
        self.split_score = split_score
        self.learning_rate = learning_rate
        self.min_samples_leaf = min_samples_leaf
        self.categorical_features = categorical_features
        self.seed = seed
        self.candidates = candidates
        self.grad_clip = grad_clip
        self.max_trees = max_trees
        self.cache_size = cache_size
        self._validate_params()
        self.bias_ = np.zeros(self.n_outputs)
        self.lr_scale = 1.0   # multiplies the learning rate (an agent's schedule over learn())
        self.n_features_in_ = None
        self._rng = np.random.default_rng(seed)
        self._reset_storage()

    # ------------------------------------------------------------------ validation
    def _validate_params(self):
        def _int(name, lo, hi=None):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < lo or (
                    hi is not None and v > hi):
                rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
                raise ValueError(f"{name} must be an int {rng}; got {v!r}")

        _int("n_outputs", 1)
        _int("max_depth", 0, 16)
        _int("n_bins", 2, 256)
        _int("min_samples_leaf", 0)
        _int("cache_size", 0)
        if self.grow_policy not in GROW_POLICIES:
            raise ValueError(f"grow_policy must be one of {GROW_POLICIES}; got {self.grow_policy!r}")
        if self.split_score not in SPLIT_SCORES:
            raise ValueError(f"split_score must be one of {SPLIT_SCORES}; got {self.split_score!r}")
        if self.candidates not in CANDIDATES:
            raise ValueError(f"candidates must be one of {CANDIDATES}; got {self.candidates!r}")
        if self.grad_clip is not None and not (isinstance(self.grad_clip, numbers.Real)
                                               and self.grad_clip > 0):
            raise ValueError(f"grad_clip must be None or a positive float; got {self.grad_clip!r}")
        if self.max_trees is not None:
            _int("max_trees", 2)
        if not callable(self.learning_rate):
            self._lr_vector(self.learning_rate)

    def _lr_vector(self, lr):
        lr = np.asarray(lr, dtype=np.float64)
        if lr.ndim == 0:
            lr = np.full(self.n_outputs, float(lr))
        if lr.shape != (self.n_outputs,) or not np.all(np.isfinite(lr)):
            raise ValueError("learning_rate must be a finite float, an array of shape "
                             f"(n_outputs,)=({self.n_outputs},) or a callable; got {lr!r}")
        return lr

    def _categorical_mask(self, d):
        cf = self.categorical_features
        mask = np.zeros(d, dtype=np.bool_)
        if cf is None:
            return mask
        cf = np.asarray(cf)
        if cf.dtype == np.bool_:
            if cf.shape != (d,):
                raise ValueError(f"categorical_features as a mask must have shape ({d},); "
                                 f"got {cf.shape}")
            return cf.copy()
        if cf.size and (not np.issubdtype(cf.dtype, np.integer) or cf.min() < 0
                        or cf.max() >= d):
            raise ValueError(f"categorical_features must be feature indices in [0, {d}) or a "
                             f"boolean mask; got {self.categorical_features!r}")
        mask[cf] = True
        return mask

    def _check_X(self, X, name="X"):
        if hasattr(X, "to_numpy"):
            X = X.to_numpy()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1 and self.n_features_in_ is not None:
            X = X.reshape(-1, self.n_features_in_)
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_rows, n_features); got shape {X.shape}")
        if self.n_features_in_ is not None and X.shape[1] != self.n_features_in_:
            raise ValueError(f"{name} has {X.shape[1]} features; this model was fitted with "
                             f"{self.n_features_in_}")
        if not np.all(np.isfinite(X)):
            raise ValueError(f"{name} contains NaN or infinite values")
        return np.ascontiguousarray(X)

    # ------------------------------------------------------------------ storage
    def _reset_storage(self):
        self._feature = _Growable(np.int32)
        self._threshold = _Growable(np.float64)
        self._is_cat = _Growable(np.uint8)
        self._left = _Growable(np.int32)
        self._right = _Growable(np.int32)
        self._node_start = _Growable(np.int64)
        self._leaf_start = _Growable(np.int64)
        self._n_nodes = _Growable(np.int32)
        self._leaf_values = _Growable(np.float64, self.n_outputs)
        self._cache = []
        self._recent_X = None

    @property
    def n_trees_(self):
        """Number of trees in the ensemble."""
        return self._n_nodes.size

    def set_bias(self, bias):
        """Set the constant output (e.g. initial logits or value); cached predictions follow.

        Examples
        --------
        >>> import numpy as np
        >>> m = BoostedTrees(2).set_bias([1.0, -1.0])
        >>> m.predict(np.zeros((1, 3)))
        array([[ 1., -1.]])
        """
        bias = np.asarray(bias, dtype=np.float64).reshape(-1)
        if bias.shape != (self.n_outputs,) or not np.all(np.isfinite(bias)):
            raise ValueError(f"bias must be finite of shape ({self.n_outputs},); got {bias!r}")
        for entry in self._cache:
            entry[2] += bias - self.bias_
        self.bias_ = bias
        return self

    def _append(self, tree, leaf_values):
        node_base = self._feature.size
        self._node_start.extend(np.array([node_base], np.int64))
        self._leaf_start.extend(np.array([self._leaf_values.size], np.int64))
        self._n_nodes.extend(np.array([tree.n_nodes], np.int32))
        self._feature.extend(tree.feature.astype(np.int32))
        self._threshold.extend(tree.threshold)
        self._is_cat.extend(tree.is_cat.astype(np.uint8))
        if not tree.oblivious:
            self._left.extend(tree.left)
            self._right.extend(tree.right)
        self._leaf_values.extend(leaf_values)

    # ------------------------------------------------------------------ fitting
    def current_learning_rate(self):
        """Per-output learning rate the next tree will get.

        Examples
        --------
        >>> BoostedTrees(2, learning_rate=[0.1, 0.2]).current_learning_rate()
        array([0.1, 0.2])
        """
        lr = self.learning_rate
        if callable(lr):
            lr = lr(self.n_trees_)
        return self._lr_vector(lr) * self.lr_scale

    def step(self, X, grads, *, score_weights=None):
        """Fit ONE tree to the per-row gradients ``grads`` and append it.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Observations (finite).
        grads : array-like of shape (n_rows, n_outputs)
            Gradient of the loss with respect to each model output, per row; the new tree moves
            the outputs against it. Shape (n_rows,) is accepted when ``n_outputs == 1``.
        score_weights : array-like of shape (n_outputs,), optional
            Positive weight of each output's gradient column in the SPLIT SEARCH only (the
            leaves still hold the unweighted mean gradients). Used to keep one output with
            large gradients (e.g. a value head) from choosing every split of a shared tree.

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> m = BoostedTrees(1, max_depth=1, learning_rate=1.0)
        >>> X = np.array([[0.0], [1.0]])
        >>> m.step(X, np.array([[1.0], [-1.0]])).predict(X).ravel()
        array([-1.,  1.])
        """
        X = self._check_X(X)
        if X.shape[0] < 1:
            raise ValueError("X must have at least one row")
        G = np.asarray(grads, dtype=np.float64)
        if G.ndim == 1 and self.n_outputs == 1:
            G = G[:, None]
        if G.shape != (X.shape[0], self.n_outputs):
            raise ValueError(f"grads must have shape (n_rows, n_outputs)=({X.shape[0]}, "
                             f"{self.n_outputs}); got {G.shape}")
        if not np.all(np.isfinite(G)):
            raise ValueError("grads contains NaN or infinite values")
        if self.n_features_in_ is None:
            self.n_features_in_ = X.shape[1]
            self._is_cat_mask = self._categorical_mask(X.shape[1])
        w = None
        if score_weights is not None:
            w = np.asarray(score_weights, dtype=np.float64).reshape(-1)
            if w.shape != (self.n_outputs,) or not np.all(np.isfinite(w) & (w > 0)):
                raise ValueError("score_weights must be positive and finite of shape "
                                 f"(n_outputs,)=({self.n_outputs},); got {score_weights!r}")
            G = G * w
        lr = self.current_learning_rate()
        tree = grow_tree(X, G, max_depth=self.max_depth, n_bins=self.n_bins,
                         grow_policy=self.grow_policy, split_score=self.split_score,
                         candidates=self.candidates, min_samples_leaf=self.min_samples_leaf,
                         is_categorical=self._is_cat_mask, grad_clip=self.grad_clip)
        leaf_values = tree.leaf_values if w is None else tree.leaf_values / w
        self._append(tree, -lr * leaf_values)
        if self.max_trees is not None:
            self._remember_rows(X)
            if self.n_trees_ > self.max_trees:
                self._compress()
        return self

    # ------------------------------------------------------------------ prediction
    def _predict_range(self, X, t0, t1, out):
        if t1 <= t0:
            return
        serial = (X.shape[0] < _SERIAL_ROWS or numba.get_num_threads() == 1
                  or X.shape[0] * (t1 - t0) < _SERIAL_WORK)
        X = np.ascontiguousarray(X.T)
        if self.grow_policy == "oblivious":
            fn = _k.predict_oblivious_serial if serial else _k.predict_oblivious
            fn(X, self._feature.data, self._threshold.data, self._is_cat.data,
               self._node_start.data, self._leaf_start.data, self._n_nodes.data,
               self._leaf_values.data, t0, t1, out)
        else:
            fn = _k.predict_greedy_serial if serial else _k.predict_greedy
            fn(X, self._feature.data, self._threshold.data, self._is_cat.data, self._left.data,
               self._right.data, self._node_start.data, self._leaf_start.data,
               self._n_nodes.data, self._leaf_values.data, t0, t1, out)

    def predict(self, X, *, use_cache=True):
        """Model outputs for every row: ``bias + sum of tree contributions``.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
        use_cache : bool, default=True
            Reuse (and keep) the partial sums of a batch predicted before, so that only trees
            added since are evaluated. Pass False for one-off batches (e.g. environment steps).

        Returns
        -------
        ndarray of shape (n_rows, n_outputs)

        Examples
        --------
        >>> import numpy as np
        >>> BoostedTrees(3).predict(np.zeros((2, 4))).shape
        (2, 3)
        """
        X = self._check_X(X)
        T = self.n_trees_
        if use_cache and self.cache_size > 0:
            for pos, entry in enumerate(self._cache):
                cached_X, n_done, preds = entry
                if cached_X.shape == X.shape and np.array_equal(cached_X, X):
                    self._predict_range(X, n_done, T, preds)
                    entry[1] = T
                    self._cache.insert(0, self._cache.pop(pos))
                    return preds.copy()
        out = np.tile(self.bias_, (X.shape[0], 1))
        self._predict_range(X, 0, T, out)
        if use_cache and self.cache_size > 0:
            self._cache.insert(0, [X.copy(), T, out.copy()])
            del self._cache[self.cache_size:]
        return out

    def feature_importances(self):
        """Split-based importance: share of all splits (greedy nodes / oblivious levels) per feature.

        Returns
        -------
        ndarray of shape (n_features,), summing to 1 (zeros before any split).

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(100, 3))
        >>> m = BoostedTrees(1, max_depth=1).step(X, (X[:, 2] > 0).astype(float))
        >>> m.feature_importances().tolist()
        [0.0, 0.0, 1.0]
        """
        d = self.n_features_in_ or 0
        counts = np.bincount(self._feature.view(), minlength=d).astype(np.float64)
        total = counts.sum()
        return counts / total if total > 0 else counts

    def clear_cache(self):
        """Forget cached batch predictions (they are also dropped on compression)."""
        self._cache = []

    # ------------------------------------------------------------------ compression
    _RECENT_ROWS = 4096

    def _remember_rows(self, X):
        if self._recent_X is None:
            self._recent_X = X.copy()
            return
        both = np.vstack([X, self._recent_X])
        if both.shape[0] > self._RECENT_ROWS:
            keep = self._rng.choice(both.shape[0], self._RECENT_ROWS, replace=False)
            both = both[np.sort(keep)]
        self._recent_X = both

    def _compress(self):
        """Distil the oldest half of the trees into one tree of depth ``max_depth + 2``."""
        T = self.n_trees_
        m = T // 2
        X = self._recent_X
        target = np.zeros((X.shape[0], self.n_outputs))
        self._predict_range(X, 0, m, target)
        tree = grow_tree(X, target, max_depth=min(self.max_depth + 2, 16),
                         n_bins=self.n_bins, grow_policy=self.grow_policy, split_score="l2",
                         is_categorical=self._is_cat_mask)
        old = self._export_arrays()
        self._reset_storage()
        self._recent_X = X
        self._append(tree, tree.leaf_values)
        self._append_block(old, m, T)

    def _append_block(self, arrays, t0, t1):
        """Append trees t0..t1-1 of an ``_export_arrays`` dict (offsets rebased)."""
        if t1 <= t0:
            return
        ns, ls = arrays["node_start"], arrays["leaf_start"]
        n0, n1 = ns[t0], (ns[t1] if t1 < ns.shape[0] else arrays["feature"].shape[0])
        l0, l1 = ls[t0], (ls[t1] if t1 < ls.shape[0] else arrays["leaf_values"].shape[0])
        self._node_start.extend(ns[t0:t1] - n0 + self._feature.size)
        self._leaf_start.extend(ls[t0:t1] - l0 + self._leaf_values.size)
        self._n_nodes.extend(arrays["n_nodes"][t0:t1])
        self._feature.extend(arrays["feature"][n0:n1])
        self._threshold.extend(arrays["threshold"][n0:n1])
        self._is_cat.extend(arrays["is_cat"][n0:n1])
        if self.grow_policy == "greedy":
            self._left.extend(arrays["left"][n0:n1])
            self._right.extend(arrays["right"][n0:n1])
        self._leaf_values.extend(arrays["leaf_values"][l0:l1])

    # ------------------------------------------------------------------ arrays / pickling
    def _export_arrays(self):
        arrays = {
            "feature": self._feature.view(), "threshold": self._threshold.view(),
            "is_cat": self._is_cat.view(), "left": self._left.view(),
            "right": self._right.view(), "node_start": self._node_start.view(),
            "leaf_start": self._leaf_start.view(), "n_nodes": self._n_nodes.view(),
            "leaf_values": self._leaf_values.view(), "bias": self.bias_,
        }
        return {k: v.copy() for k, v in arrays.items()}

    def to_arrays(self):
        """The ensemble as a dict of NumPy arrays (see :mod:`boostkit.trees._grow_kernels`).

        Examples
        --------
        >>> sorted(BoostedTrees(1).to_arrays())[:3]
        ['bias', 'feature', 'grow_policy']
        """
        arrays = self._export_arrays()
        arrays["grow_policy"] = np.array(self.grow_policy)
        return arrays

    def memory_bytes(self):
        """Bytes held by the tree arrays (capacity included) and the prediction cache.

        Examples
        --------
        >>> BoostedTrees(1).memory_bytes() < 10_000
        True
        """
        stores = (self._feature, self._threshold, self._is_cat, self._left, self._right,
                  self._node_start, self._leaf_start, self._n_nodes, self._leaf_values)
        total = sum(s.data.nbytes for s in stores)
        total += sum(e[0].nbytes + e[2].nbytes for e in self._cache)
        if self._recent_X is not None:
            total += self._recent_X.nbytes
        return total

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"] = []
        for name in ("_feature", "_threshold", "_is_cat", "_left", "_right", "_node_start",
                     "_leaf_start", "_n_nodes", "_leaf_values"):
            store = _Growable(state[name].data.dtype,
                              None if state[name].data.ndim == 1 else state[name].data.shape[1])
            store.data = state[name].view().copy()
            store.size = state[name].size
            state[name] = store
        return state

    def __repr__(self):
        return (f"BoostedTrees(n_outputs={self.n_outputs}, max_depth={self.max_depth}, "
                f"grow_policy={self.grow_policy!r}, split_score={self.split_score!r}, "
                f"n_trees_={self.n_trees_})")
