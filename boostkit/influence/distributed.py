"""Influence explainers fitted on a training set partitioned across a Dask cluster.

``BoostIn().fit(model, X, y, client=client)`` with ``X, y`` (and ``sample_weight``) as dask
DataFrames / Series / arrays lands here. The training rows never leave their workers:

1. The parsed model and the explainer's parameters (a copy of the explainer without training
   data, the *context*) are scattered to every worker once.
2. Each partition computes its own leaf ids and per-round derivatives with the same numba
   kernels as the single-process explainer (``trees/_kernels.py`` apply,
   ``influence/_kernels.py``), and returns only the explainer's global quantities: BoostIn's
   per-leaf hessian sums (``trees x leaves`` numbers), TREX's leaf counts and, at every solver
   iteration, its loss and gradient. The client adds them up, partition by partition.
3. Each partition then becomes a *shard*: a copy of the context holding that partition's rows
   only (leaf ids, leaf derivatives, self influence), which answers queries with the
   single-process code (``_self_rows``, ``_local_all``). Shards are kept in the workers' memory
   (``persist=True``) or rebuilt from the partition's rows at every query (``persist=False``:
   a worker then holds one partition's state per thread, however large the training set).

Queries return dask collections aligned with the training partitions (self influence, the full
influence matrix, both lazy) or merge per-partition top-k lists (the most suspicious rows, the
most helpful / harmful rows per test point); nothing of size ``n_train`` reaches the client
unless the caller computes it.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd

from ..losses import OBJECTIVE_CODES
from ..trees import check_parity, from_model
from . import _kernels
from ._base import (_PARITY_ROWS, TopInfluence, _check_model_fitted, _chunks, _concat_top,
                    _is_dask_collection, _numba_threads, _rows, _self_top_frame)
from .boostin import _boost_from_average

__all__ = ["DaskTraining", "local_model", "take_rows"]

# Per-partition top-k lists merged per task when the merge runs as a tree.
_MERGE_FANIN = 8


# ---------------------------------------------------------------------------- models
def local_model(model):
    """The in-memory model behind a model trained on Dask, and its class labels.

    ``lightgbm.DaskLGBM*`` models become their ``to_local()`` LightGBM model; ``xgboost.dask``
    estimators their booster, and the dict ``xgboost.dask.train`` returns its ``"booster"``.
    Other models are returned as they are.

    Parameters
    ----------
    model : fitted model

    Returns
    -------
    model : fitted in-memory model
    classes : ndarray or None
        The Dask estimator's ``classes_`` when the in-memory model does not carry them.

    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = lgb.LGBMRegressor(n_estimators=3, verbose=-1).fit(X, y)
    >>> local_model(model)[0] is model
    True
    """
    if isinstance(model, dict) and "booster" in model:  # xgboost.dask.train's result
        return model["booster"], None
    module = type(model).__module__
    if module.startswith("lightgbm.dask") and hasattr(model, "to_local"):
        return model.to_local(), None
    if module.startswith("xgboost.dask") and hasattr(model, "get_booster"):
        classes = getattr(model, "classes_", None)
        return model.get_booster(), None if classes is None else np.asarray(classes)
    return model, None


# ---------------------------------------------------------------------------- inputs
def _default_client(client):
    if client is not None:
        return client
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        raise ValueError("X is a dask collection: pass client=... (a dask.distributed.Client) "
                         "or create a Client first") from None


def _n_workers(client):
    return max(1, len(client.scheduler_info().get("workers", {})))


class _Partitions:
    """X, y and sample_weight as aligned lists of per-partition delayed objects."""

    def __init__(self, X, y, sample_weight, client):
        import dask.array as da
        import dask.dataframe as dd

        if y is None:
            raise ValueError("y is required")
        self._in_memory_index = None
        if not _is_dask_collection(X):  # in memory: split it, as a user would with from_array
            n_parts = 2 * _n_workers(client)
            if isinstance(X, pd.DataFrame):
                self._in_memory_index = X.index
                X = dd.from_pandas(X, npartitions=n_parts, sort=False)
            else:
                X = np.asarray(X) if not hasattr(X, "shape") else X
                X = da.from_array(X, chunks=(max(1, -(-X.shape[0] // n_parts)), -1))
        self.is_frame = isinstance(X, dd.DataFrame)
        if self.is_frame:
            self.columns = [str(c) for c in X.columns]
            self.divisions = X.divisions
            self.n_features = len(X.columns)
            # unoptimised: an optimised graph may merge small partitions differently for X
            # (many columns) and y (one column), so that their partitions no longer match
            self.X = list(X.to_delayed(optimize_graph=False))
        elif isinstance(X, da.Array):
            if X.ndim != 2:
                raise ValueError(f"X must be 2-dimensional (rows x features); got "
                                 f"{X.ndim} dimensions")
            X = X.rechunk({1: -1})
            self.columns, self.divisions = None, None
            self.n_features = X.shape[1]
            self.X = list(X.to_delayed().ravel())
        else:
            raise TypeError(f"X: a dask collection must be a dask DataFrame or a 2-d dask array;"
                            f" got {type(X).__name__}")
        self.frame = X
        self.y = self._aligned(y, "y", X)
        self.sample_weight = (None if sample_weight is None
                              else self._aligned(sample_weight, "sample_weight", X))

    def _aligned(self, values, name, X):
        """``values`` split like X's partitions (lengths are checked in each partition)."""
        import dask.array as da
        import dask.dataframe as dd

        n_parts = len(self.X)
        if isinstance(values, (dd.Series, dd.DataFrame)):
            if values.npartitions != n_parts:
                raise ValueError(f"{name} has {values.npartitions} partitions but X has "
                                 f"{n_parts}; they must be partitioned alike (e.g. both columns "
                                 f"of one dask DataFrame)")
            if (self.divisions is not None and values.known_divisions
                    and tuple(values.divisions) != tuple(self.divisions)):
                raise ValueError(f"{name} is partitioned at other index divisions than X")
            return list(values.to_delayed(optimize_graph=False))
        if isinstance(values, da.Array):
            if not self.is_frame and not np.isnan(X.shape[0]) and values.shape[0] != X.shape[0]:
                raise ValueError(f"{name} has {values.shape[0]} rows but X has {X.shape[0]}; "
                                 f"they must match")
            if not self.is_frame and not any(np.isnan(c) for c in X.chunks[0]):
                values = values.rechunk((X.chunks[0],) + values.chunks[1:])
            parts = values.to_delayed().ravel()
            if len(parts) != n_parts:
                raise ValueError(f"{name} has {len(parts)} row chunks but X has {n_parts} "
                                 f"partitions; chunk them alike")
            return list(parts)
        if _is_dask_collection(values):
            raise TypeError(f"{name}: a dask collection must be a dask Series, DataFrame or "
                            f"array; got {type(values).__name__}")
        if self._in_memory_index is not None:  # split like the in-memory DataFrame X
            values = (values.to_numpy() if isinstance(values, (pd.Series, pd.DataFrame))
                      else np.asarray(values))
            if values.shape[0] != len(self._in_memory_index):
                raise ValueError(f"{name} has {values.shape[0]} rows but X has "
                                 f"{len(self._in_memory_index)}; they must match")
            series = pd.Series(list(values) if values.ndim > 1 else values,
                               index=self._in_memory_index)
            return list(dd.from_pandas(series, npartitions=n_parts, sort=False)
                        .to_delayed(optimize_graph=False))
        if isinstance(X, da.Array) and not any(np.isnan(c) for c in X.chunks[0]):
            values = values.to_numpy() if isinstance(values, (pd.Series, pd.DataFrame)) else (
                np.asarray(values))
            if values.shape[0] != X.shape[0]:
                raise ValueError(f"{name} has {values.shape[0]} rows but X has {X.shape[0]}; "
                                 f"they must match")
            edges = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(int)
            return [values[a:b] for a, b in zip(edges[:-1], edges[1:])]
        raise TypeError(f"{name} must be a dask collection partitioned like X (X is a dask "
                        f"DataFrame with {n_parts} partitions); got {type(values).__name__}")

    def head(self):
        """The first rows of X, read on the client for the model's parity check."""
        if self.is_frame:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "insufficient elements" for small partitions
                return self.frame.head(_PARITY_ROWS, npartitions=-1)
        return self.frame[:_PARITY_ROWS].compute()

    def __len__(self):
        return len(self.X)


def _partition_weights(sample_weight, n_rows):
    """One partition's sample weights; the "not all zero" check is global (on the client)."""
    if sample_weight is None:
        return np.ones(n_rows)
    w = (sample_weight.to_numpy() if isinstance(sample_weight, (pd.Series, pd.DataFrame))
         else np.asarray(sample_weight)).astype(np.float64).reshape(-1)
    if w.shape[0] != n_rows:
        raise ValueError(f"sample_weight has {w.shape[0]} rows in a partition where X has "
                         f"{n_rows}; they must be partitioned alike")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must be finite and non-negative")
    return w


def _partition_rows(context, X_part, y_part, w_part):
    """Checked rows of one partition: (X, index or None, targets (n, C), weights)."""
    n = X_part.shape[0]
    index = X_part.index if isinstance(X_part, pd.DataFrame) else None
    if n:
        X_part = context._check_X(X_part, "X")
    targets = context._targets(y_part, "y", n)
    return X_part, index, targets, _partition_weights(w_part, n)


def _context_copy(explainer, **attributes):
    """The explainer without training data (what every worker needs), plus ``attributes``."""
    context = copy.copy(explainer)
    context._dask = None
    for name, value in attributes.items():
        setattr(context, name, value)
    return context


# ---------------------------------------------------------------------------- BoostIn tasks
def _target_sum(context, y_part):
    """A partition's share of the global target mean: (sum of its encoded targets, rows)."""
    n = len(y_part)
    return context._targets(y_part, "y", n).sum(axis=0), n


def _boostin_first_pass(context, X_part, y_part, w_part):
    """A partition's leaf ids and gradients, and its share of the leaf hessian sums."""
    ensemble = context.ensemble_
    X_part, index, targets, weights = _partition_rows(context, X_part, y_part, w_part)
    n = targets.shape[0]
    n_trees, n_leaves = context._leaf_table.shape
    with _numba_threads(context.n_jobs):
        if n:
            leaf_ids = context._apply(X_part, "X")
        else:
            leaf_ids = np.zeros((0, n_trees), dtype=np.uint8)
        hessian_sums = np.empty((n_trees, n_leaves))
        gradients = np.empty((n, n_trees))
        n_blocks = int(min(64, max(1, n // 256)))
        _kernels.leaf_hessian_sums(leaf_ids, context._leaf_table, context._bias, targets,
                                   weights, OBJECTIVE_CODES[ensemble.objective],
                                   context._hessian_factor, n_blocks, hessian_sums, gradients)
    shard = _context_copy(context, n_train_=n, train_leaf_ids_=leaf_ids, _train_targets=targets,
                          sample_weight_=weights, _train_derivatives=gradients)
    shard._shard = {"index": index, "hessian_sums": hessian_sums, "weight_sum": weights.sum(),
                    "stage": "gradients"}
    return shard


def _boostin_finish(shard, context, offset):
    """Leaf derivatives and self influence of a partition, from the global hessian sums."""
    if shard._shard["stage"] != "gradients":
        raise RuntimeError("internal: a BoostIn shard was finished twice")
    ensemble = context.ensemble_
    n = shard.n_train_
    self_influence = np.empty((n, ensemble.n_outputs))
    with _numba_threads(context.n_jobs):
        # the gradients become the leaf derivatives in place, as in the single-process fit
        _kernels.boostin_rows(shard.train_leaf_ids_, context._leaf_table, shard._train_targets,
                              shard.sample_weight_, context._hessian_sums,
                              ensemble.learning_rate, context._l2, False,
                              OBJECTIVE_CODES[ensemble.objective], context._hessian_factor,
                              shard._train_derivatives, self_influence)
    shard._hessian_sums = context._hessian_sums
    shard._self_influence = self_influence
    shard._shard = {"index": shard._shard["index"], "offset": int(offset), "stage": "done"}
    return shard


def _boostin_rebuild(final, X_part, y_part, w_part, offset):
    """A partition's finished shard from its rows and the fitted explainer's global state."""
    return _boostin_finish(_boostin_first_pass(final, X_part, y_part, w_part), final, offset)


def _rebuilt_then(query, n_query_args, *args):
    """Rebuild a partition's shard and answer ``query`` in one task: ``args`` are the query's
    arguments, then the rebuild function and its arguments."""
    query_args, (rebuild, *build_args) = args[:n_query_args], args[n_query_args:]
    return query(rebuild(*build_args), *query_args)


def _first_pass_stats(shard):
    info = shard._shard
    return shard.n_train_, info["hessian_sums"], info["weight_sum"]


def _first_pass_stats_of(context, X_part, y_part, w_part):
    return _first_pass_stats(_boostin_first_pass(context, X_part, y_part, w_part))


# ---------------------------------------------------------------------------- TREX tasks
def _trex_first_pass(context, X_part, y_part, w_part):
    """A partition's leaf ids (every tree), raw model outputs, labels and leaf counts."""
    ensemble = context.ensemble_
    X_part, index, labels, weights = _partition_rows(context, X_part, y_part, w_part)
    n = labels.shape[0]
    with _numba_threads(context.n_jobs):
        if n:
            leaf_ids = context._apply(X_part, "X")
        else:
            leaf_ids = np.zeros((0, ensemble.n_trees), dtype=np.uint8)
    n_trees, n_leaves = leaf_ids.shape[1], max(ensemble.max_leaves, 1)
    flat = leaf_ids + np.arange(n_trees, dtype=np.int64) * n_leaves
    counts = np.bincount(flat.ravel(), minlength=n_trees * n_leaves).reshape(n_trees, n_leaves)
    shard = _context_copy(context, n_train_=n, sample_weight_=weights)
    shard._shard = {"index": index, "leaf_ids": leaf_ids, "labels": labels,
                    "raw": context.ensemble_.raw_from_leaves(leaf_ids), "counts": counts,
                    "n_kernel_trees": len(context._distinct_trees(leaf_ids)),
                    "weight_sum": weights.sum()}
    return shard


def _trex_first_stats(shard):
    info = shard._shard
    return shard.n_train_, info["counts"], info["n_kernel_trees"], info["weight_sum"]


def _trex_features(shard, context, offset):
    """The partition's kernel-tree leaf ids, feature map and surrogate targets."""
    info = shard._shard
    leaf_ids = np.ascontiguousarray(info["leaf_ids"][:, context._kernel_trees])
    targets = (info["labels"] if context.target == "actual"
               else context._predicted_targets(info["raw"]))
    out = _context_copy(context, n_train_=shard.n_train_, sample_weight_=shard.sample_weight_,
                        train_leaf_ids_=leaf_ids, _train_targets=targets)
    phi = context._feature_map(leaf_ids)
    out._shard = {"index": info["index"], "offset": int(offset), "raw": info["raw"],
                  "phi": phi, "phi_t": phi.T}  # CSC view, as in the in-memory fit
    return out


def _trex_loss_and_gradient(shard, coef):
    info = shard._shard
    return shard._loss_and_gradient(info["phi"], info["phi_t"], shard._train_targets,
                                    shard.sample_weight_, coef)


def _trex_hessian_product(shard, coef, direction):
    info = shard._shard
    return shard._hessian_product(info["phi"], info["phi_t"], shard._train_targets,
                                  shard.sample_weight_, coef, direction)


def _trex_alpha(shard, coef, l2, n_total):
    """Representer weights of the partition's rows, and their share of W = Phi^T alpha."""
    info = shard._shard
    scores = info["phi"] @ coef
    alpha = -(shard.sample_weight_[:, None] * shard._loss.gradient(shard._train_targets,
                                                                   scores)) / (2.0 * l2 * n_total)
    out = _context_copy(shard, representer_weights_=alpha)
    out._shard = dict(info, surrogate=shard._loss.link_inverse(scores))
    return out


def _trex_representer_share(shard):
    return shard._shard["phi_t"] @ shard.representer_weights_


def _trex_finish(shard, context):
    out = _context_copy(shard, _representer_coef=context._representer_coef)
    out._train_scores = np.asarray(shard._shard["phi"] @ context._representer_coef)
    out._shard = {"index": shard._shard["index"], "offset": shard._shard["offset"],
                  "raw": shard._shard["raw"], "surrogate": shard._shard["surrogate"]}
    return out


def _trex_rebuild(final, X_part, y_part, w_part, offset):
    """A partition's finished shard from its rows and the fitted explainer's global state
    (the leaf counts, the surrogate's weights and W): the fit's partition steps, in order."""
    shard = _trex_features(_trex_first_pass(final, X_part, y_part, w_part), final, offset)
    shard = _trex_alpha(shard, final.coef_, float(final.l2), final.n_train_)
    return _trex_finish(shard, final)


def _trex_fidelity_sample(shard, step):
    info = shard._shard
    return info["raw"][::step], info["surrogate"][::step]


def _trex_local(shard, X_test, targets, scores, top_k, chunk_size):
    """TREX influence of a partition's rows on test points whose surrogate outputs ``scores``
    sum over every partition (a partition alone does not know them)."""
    n = shard.n_train_
    n_test = X_test.shape[0]
    if n == 0:
        return None if top_k is not None else np.zeros((0, n_test))
    k = None if top_k is None else min(top_k, n)
    size = chunk_size or shard._default_test_chunk(n_test, k)
    parts = []
    with _numba_threads(shard.n_jobs):
        for start, stop in _chunks(n_test, size):
            kernel = np.ascontiguousarray(shard._kernel_values(_rows(X_test, start, stop)).T)
            parts.append(shard._influence_from_kernel(kernel, scores[start:stop],
                                                      targets[start:stop], k))
    if top_k is None:
        return np.concatenate([p[:, :, 0] for p in parts], axis=1)
    top = _concat_top(parts)
    offset = shard._shard["offset"]
    return TopInfluence(top.helpful_indices + offset, top.helpful_values,
                        top.harmful_indices + offset, top.harmful_values)


# ---------------------------------------------------------------------------- query tasks
def _shard_self(shard, per_output, as_series, columns):
    n = shard.n_train_
    if n:
        with _numba_threads(shard.n_jobs):
            values = shard._self_rows(0, n, per_output)
    else:
        values = np.zeros((0, shard.ensemble_.n_outputs if per_output else 1))
    values = values if per_output else values[:, 0]
    if not as_series:
        return values
    index = shard._shard["index"]
    if per_output:
        return pd.DataFrame(values, index=index, columns=columns)
    return pd.Series(values, index=index, name="self_influence")


def _shard_derivatives(shard):
    ensemble = shard.ensemble_
    return shard._train_derivatives.reshape(shard.n_train_, ensemble.n_rounds,
                                            ensemble.n_outputs).copy()


def _shard_self_top(shard, k):
    """The partition's k largest self influences: (values, global positions, labels)."""
    n = shard.n_train_
    if n == 0:
        return np.zeros(0), np.zeros(0, np.int64), None
    with _numba_threads(shard.n_jobs):
        values = shard._self_rows(0, n, False)[:, 0]
    order = np.argsort(-values, kind="stable")[:k]
    index = shard._shard["index"]
    labels = None if index is None else index[order]
    return values[order], order.astype(np.int64) + shard._shard["offset"], labels


def _shard_local(shard, X_test, targets, top_k, per_output, chunk_size):
    """One partition's influence on the test points: its rows of the matrix, or its top-k
    (row indices made global)."""
    n = shard.n_train_
    if top_k is None:
        if n == 0:
            n_out = shard.ensemble_.n_outputs if per_output else 1
            shape = (0, X_test.shape[0], n_out) if per_output else (0, X_test.shape[0])
            return np.zeros(shape)
        return shard._local_all(X_test, targets, None, per_output, chunk_size, progress=False)
    if n == 0:
        return None
    top = shard._local_all(X_test, targets, min(top_k, n), False, chunk_size, progress=False)
    offset = shard._shard["offset"]
    return TopInfluence(top.helpful_indices + offset, top.helpful_values,
                        top.harmful_indices + offset, top.harmful_values)


def _merge_top(parts, k):
    """Merge per-partition top-k lists per test point; ties go to the smaller row index."""
    parts = [p for p in parts if p is not None]
    if len(parts) == 1 and parts[0].helpful_indices.shape[0] == k:
        return parts[0]
    merged = []
    for indices, values, sign in ((0, 1, -1.0), (2, 3, 1.0)):
        index = np.concatenate([p[indices] for p in parts], axis=0)
        value = np.concatenate([p[values] for p in parts], axis=0)
        # per column: by value (largest first for helpful), then by row index
        order = np.lexsort((index, sign * value), axis=0)[:k]
        merged += [np.take_along_axis(index, order, axis=0),
                   np.take_along_axis(value, order, axis=0)]
    return TopInfluence(*merged)


def _merge_self_top(parts, k):
    values = np.concatenate([p[0] for p in parts])
    positions = np.concatenate([p[1] for p in parts])
    order = np.lexsort((positions, -values))[:k]
    labels = None
    if any(p[2] is not None for p in parts):
        labels = pd.Index(np.concatenate([np.asarray(p[2]) for p in parts if p[2] is not None]))
        labels = labels[order]
    return values[order], positions[order], labels


# ---------------------------------------------------------------------------- the fitted state
class DaskTraining:
    """The distributed state of an explainer fitted on dask training data (not public API).

    What lives where: the explainer's global quantities (the parsed model, BoostIn's leaf
    hessian sums, TREX's leaf weights, surrogate weights and ``W``) are on the client, in the
    explainer, and a copy of them (``final``) is on every worker. The per-row state (leaf ids,
    derivatives, self influence; TREX's feature map and representer weights) lives on the
    workers, one *shard* per training partition, or nowhere (``persist=False``: rebuilt from the
    partition's rows inside every query's task).

    Pickling keeps the global state and the recipe of every partition (its dask graph: where
    its rows are read from) and drops the client and the workers' shards. An unpickled
    explainer queries the current default client and rebuilds each partition's shard from its
    rows inside each query's task, as ``persist=False`` does; its answers are those of the
    explainer that was pickled, while the training data it was fitted on is still there.

    Attributes
    ----------
    client : dask.distributed.Client
        The client the queries run on (the default client after unpickling).
    shards : list of dask.delayed.Delayed or None
        One per training partition, persisted on the workers; None when shards are rebuilt.
    rebuild : list of tuple or None
        Per partition, ``(rebuild function, final, X, y, sample_weight, offset)``.
    lengths, offsets : ndarray of int64
        Rows per partition, and the first row's global position.
    """

    def __init__(self, kind, client, shards, lengths, partitions, persist, final_state,
                 final, sources):
        self.kind = kind
        self._client = client
        self.shards = shards
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.is_frame = partitions.is_frame
        self.divisions = partitions.divisions
        self.persist = persist
        self.final_state = final_state  # the global state, on the client
        self.final = final  # its scattered copy (keeps it alive on the workers)
        self.sources = sources  # per partition: (X, y, sample_weight) as delayed objects
        self.rebuild = None if shards is not None else self._rebuild_recipe()

    def _rebuild_recipe(self):
        rebuild = _boostin_rebuild if self.kind == "boostin" else _trex_rebuild
        return [(rebuild, self.final, x, y, w, int(offset))
                for (x, y, w), offset in zip(self.sources, self.offsets)]

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_client=None, shards=None, rebuild=None, final=None, persist=False)
        return state

    def _attach(self):
        """After unpickling: the default client, the global state scattered to its workers."""
        if self._client is not None:
            return
        from distributed import default_client

        try:
            client = default_client()
        except ValueError:
            raise ValueError("this explainer was fitted on a Dask cluster and unpickled: create "
                             "a dask.distributed.Client first (its queries re-read the training "
                             "partitions the explainer was fitted on)") from None
        self.final = client.scatter(self.final_state, broadcast=True, hash=False)
        self.rebuild = self._rebuild_recipe()
        self._client = client

    @property
    def client(self):
        self._attach()
        return self._client

    def _per_shard(self, query, *args):
        """``query(shard, *args)`` for every partition, as delayed objects. Lazy shards are
        rebuilt inside the query's own task, so a worker holds a partition's state only
        while it answers the query."""
        from dask import delayed

        self._attach()
        if self.rebuild is None:
            return [delayed(query)(shard, *args) for shard in self.shards]
        return [delayed(_rebuilt_then)(query, len(args), *args, *build)
                for build in self.rebuild]

    # -------------------------------------------------------------- self influence
    def self_influence(self, explainer, per_output, top_k):
        from dask import delayed

        if top_k is not None:
            parts = self._per_shard(_shard_self_top, top_k)
            values, positions, labels = self.client.compute(
                delayed(_merge_self_top)(parts, top_k), sync=True)
            return _self_top_frame(values, positions, labels)
        columns = None
        if per_output:
            classes = explainer.classes_
            n_out = explainer.ensemble_.n_outputs
            columns = (list(classes) if classes is not None and len(classes) == n_out
                       else list(range(n_out)))
        blocks = self._per_shard(_shard_self, per_output, self.is_frame, columns)
        if self.is_frame:
            import dask.dataframe as dd

            meta = (pd.DataFrame({c: pd.Series(dtype="float64") for c in columns}) if per_output
                    else pd.Series(dtype="float64", name="self_influence"))
            return dd.from_delayed(blocks, meta=meta, divisions=self.divisions,
                                   verify_meta=False)
        import dask.array as da

        n_out = explainer.ensemble_.n_outputs
        return da.concatenate([
            da.from_delayed(b, shape=(int(n), n_out) if per_output else (int(n),),
                            dtype=np.float64)
            for b, n in zip(blocks, self.lengths)], axis=0)

    def leaf_derivatives(self, explainer):
        import dask.array as da

        ensemble = explainer.ensemble_
        tail = (ensemble.n_rounds, ensemble.n_outputs)
        return da.concatenate([
            da.from_delayed(block, shape=(int(n),) + tail, dtype=np.float64)
            for block, n in zip(self._per_shard(_shard_derivatives), self.lengths)], axis=0)

    # -------------------------------------------------------------- local influence
    def local_influence(self, explainer, X_test, y_test, top_k, per_output, chunk_size):
        from dask import delayed

        if _is_dask_collection(X_test):
            X_test = X_test.compute()
        X_test = explainer._check_X(X_test, "X_test")
        targets = explainer._targets(y_test, "y_test", X_test.shape[0])
        if self.kind == "trex":
            # a test point's surrogate output sums over every partition: computed here, from
            # W = Phi^T alpha (the representer sum)
            leaf_ids = explainer._apply(X_test, "X_test")[:, explainer._kernel_trees]
            scores = np.asarray(explainer._feature_map(leaf_ids) @ explainer._representer_coef)
            test = self.client.scatter([X_test, targets, scores], broadcast=True, hash=False)
            parts = self._per_shard(_trex_local, test[0], test[1], test[2], top_k, chunk_size)
        else:
            test = self.client.scatter([X_test, targets], broadcast=True, hash=False)
            parts = self._per_shard(_shard_local, test[0], test[1], top_k, per_output,
                                    chunk_size)
        if top_k is not None:
            while len(parts) > 1:  # a merge tree: no task sees more than a few lists
                parts = [delayed(_merge_top)(parts[i:i + _MERGE_FANIN], top_k)
                         for i in range(0, len(parts), _MERGE_FANIN)]
            return self.client.compute(delayed(_merge_top)(parts, top_k), sync=True)
        import dask.array as da

        n_test = X_test.shape[0]
        tail = (n_test, explainer.ensemble_.n_outputs) if per_output else (n_test,)
        return da.concatenate([da.from_delayed(p, shape=(int(n),) + tail, dtype=np.float64)
                               for p, n in zip(parts, self.lengths)], axis=0)


# ---------------------------------------------------------------------------- fitting
def _fit_common(explainer, model, X, y, sample_weight, client):
    """Partitions, the parsed model (checked on the first rows) and the shared attributes."""
    explainer._check_common_params()
    client = _default_client(client)
    partitions = _Partitions(X, y, sample_weight, client)
    model, classes = local_model(model)
    explainer._dask = None
    head = partitions.head()
    if len(head) == 0:
        raise ValueError("X: the first partition is empty; repartition the training data")
    _check_model_fitted(model)
    ensemble = from_model(model)
    if partitions.n_features != ensemble.n_features:
        raise ValueError(f"X has {partitions.n_features} features, but the model was fitted "
                         f"with {ensemble.n_features}")
    check_parity(ensemble, model, head)
    explainer.ensemble_ = ensemble
    explainer._set_feature_names(partitions.columns)
    explainer.n_features_in_ = ensemble.n_features
    explainer.classes_ = (classes if classes is not None and ensemble.objective != "squared_error"
                          else explainer._class_labels(model, ensemble))
    return client, partitions


def fit_boostin(explainer, model, X, y, sample_weight, client, persist):
    """:meth:`BoostIn.fit` on dask training data (see the module docstring)."""
    from dask import delayed
    from distributed import futures_of, wait

    if explainer.mode != "reference":
        raise ValueError(
            f"mode={explainer.mode!r} re-runs the boosting recursion over all training rows "
            f"round by round; with training data on a Dask cluster only mode='reference' is "
            f"available")
    if not isinstance(persist, (bool, np.bool_)):
        raise ValueError(f"persist must be True or False; got {persist!r}")
    client, partitions = _fit_common(explainer, model, X, y, sample_weight, client)
    explainer._check_boosted()
    explainer._n_loss_outputs = explainer.ensemble_.n_outputs
    explainer._boost_from_average = _boost_from_average(local_model(model)[0])
    target_mean = None
    if explainer._boost_from_average and explainer.ensemble_.source.startswith("lightgbm"):
        # the start score the authors' parser moves into the bias needs the global label mean
        context = _context_copy(explainer)
        sums = client.compute([delayed(_target_sum)(context, y_part)
                               for y_part in partitions.y], sync=True)
        target_mean = sum(s for s, _ in sums) / sum(n for _, n in sums)
    explainer._stored_view(target_mean)
    context = client.scatter(_context_copy(explainer), broadcast=True, hash=False)
    weights = partitions.sample_weight or [None] * len(partitions)
    if persist:
        first = client.persist([delayed(_boostin_first_pass)(context, x, y_part, w_part)
                                for x, y_part, w_part in zip(partitions.X, partitions.y,
                                                             weights)])
        stats = client.compute([delayed(_first_pass_stats)(s) for s in first], sync=True)
    else:  # one task per partition: its state never outlives the task
        stats = client.compute([delayed(_first_pass_stats_of)(context, x, y_part, w_part)
                                for x, y_part, w_part in zip(partitions.X, partitions.y,
                                                             weights)], sync=True)
    lengths = [s[0] for s in stats]
    hessian_sums = np.zeros_like(stats[0][1])
    for _, partial, _ in stats:  # in partition order: the same sum on every run
        hessian_sums += partial
    if not sum(s[2] for s in stats) > 0:
        raise ValueError("sample_weight is zero for every row")
    n = int(sum(lengths))
    if n == 0:
        raise ValueError("X has no rows")
    ensemble = explainer.ensemble_
    explainer.n_train_ = n
    explainer._hessian_sums = hessian_sums
    explainer.leaf_hessian_sums_ = hessian_sums.reshape(ensemble.n_rounds, ensemble.n_outputs,
                                                        -1)
    final_state = _context_copy(explainer)
    final = client.scatter(final_state, broadcast=True, hash=False)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    shards = None  # persist=False: rebuilt inside every query's task
    if persist:
        shards = client.persist([delayed(_boostin_finish)(s, final, int(o))
                                 for s, o in zip(first, offsets)])
        wait(futures_of(shards))
        del first  # the finished shards hold the same arrays
    explainer._dask = DaskTraining("boostin", client, shards, lengths, partitions, persist,
                                   final_state, final,
                                   list(zip(partitions.X, partitions.y, weights)))
    return explainer


def take_rows(frame, lengths, positions):
    """Rows of a dask DataFrame by global position, reading only the partitions that hold them.

    Parameters
    ----------
    frame : dask DataFrame
        Partitioned as when the explainer was fitted (``lengths`` rows per partition).
    lengths : sequence of int
    positions : array-like of int

    Returns
    -------
    pandas DataFrame
        The rows in the order of ``positions`` (repeats allowed), with their index labels.
    """
    import dask

    positions = np.asarray(positions, dtype=np.int64)
    edges = np.concatenate([[0], np.cumsum(lengths)])
    partition = np.searchsorted(edges, positions, side="right") - 1
    needed = np.unique(partition)
    delayed_parts = frame.to_delayed(optimize_graph=False)  # the partitions fit saw
    parts = dask.compute(*[delayed_parts[int(p)] for p in needed])
    pieces = [part.iloc[positions[partition == p] - edges[p]] for p, part in zip(needed, parts)]
    rows = pd.concat(pieces)
    # back into the order asked for
    order = np.concatenate([np.flatnonzero(partition == p) for p in needed])
    return rows.iloc[np.argsort(order, kind="stable")]


# Rows whose model and surrogate outputs give TREX's fidelity_ (a systematic sample beyond).
_FIDELITY_ROWS = 100_000


def fit_trex(explainer, model, X, y, sample_weight, client, persist):
    """:meth:`TREX.fit` on dask training data (see the module docstring)."""
    from dask import delayed
    from distributed import futures_of, wait

    from ..losses import get_loss

    if persist is not True:
        raise ValueError("persist must be True for TREX: its solver revisits every partition at "
                         "each iteration, so the partitions' leaf ids stay on the workers")
    client, partitions = _fit_common(explainer, model, X, y, sample_weight, client)
    ensemble = explainer.ensemble_
    task = ensemble.objective
    n_out = 1 if task in ("squared_error", "logistic") else len(explainer.classes_)
    explainer._n_loss_outputs = n_out
    explainer._loss = get_loss(task)
    context = client.scatter(_context_copy(explainer), broadcast=True, hash=False)
    weights = partitions.sample_weight or [None] * len(partitions)
    first = client.persist([delayed(_trex_first_pass)(context, x, y_part, w_part)
                            for x, y_part, w_part in zip(partitions.X, partitions.y, weights)])
    stats = client.compute([delayed(_trex_first_stats)(s) for s in first], sync=True)
    lengths = [s[0] for s in stats]
    n = int(sum(lengths))
    if n == 0:
        raise ValueError("X has no rows")
    if not sum(s[3] for s in stats) > 0:
        raise ValueError("sample_weight is zero for every row")
    every = np.arange(ensemble.n_trees)
    # outputs share a structure only if they do in every partition
    shared = max(s[2] for s in stats) < ensemble.n_trees
    explainer._kernel_trees = every[::ensemble.n_outputs] if shared else every
    counts = np.zeros_like(stats[0][1])
    for s in stats:
        counts += s[1]
    n_leaves = max(ensemble.max_leaves, 1)
    explainer._offsets = np.arange(len(explainer._kernel_trees), dtype=np.int64) * n_leaves
    explainer.n_train_ = n
    explainer.leaf_weights_ = explainer._leaf_weights(counts[explainer._kernel_trees])
    context = client.scatter(_context_copy(explainer), broadcast=True, hash=False)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    shards = client.persist([delayed(_trex_features)(s, context, int(o))
                             for s, o in zip(first, offsets)])
    wait(futures_of(shards))
    del first
    d = explainer.leaf_weights_.size

    def loss_and_gradient(coef):  # summed over the partitions, in partition order
        coef = client.scatter(coef, broadcast=True, hash=False)
        parts = client.compute([delayed(_trex_loss_and_gradient)(s, coef) for s in shards],
                               sync=True)
        loss_sum, gradient_sum = 0.0, np.zeros((d, n_out))
        for value, gradient in parts:
            loss_sum += value
            gradient_sum += gradient
        return loss_sum, gradient_sum

    def hessian_product(coef, direction):  # summed over the partitions, in partition order
        coef, direction = client.scatter([coef, direction], broadcast=True, hash=False)
        parts = client.compute([delayed(_trex_hessian_product)(s, coef, direction)
                                for s in shards], sync=True)
        product = np.zeros((d, n_out))
        for part in parts:
            product += part
        return product

    explainer.coef_ = coef = explainer._solve(loss_and_gradient, hessian_product, d, n_out)
    coef = client.scatter(coef, broadcast=True, hash=False)
    shards = client.persist([delayed(_trex_alpha)(s, coef, float(explainer.l2), n)
                             for s in shards])
    shares = client.compute([delayed(_trex_representer_share)(s) for s in shards], sync=True)
    representer_coef = np.zeros((d, n_out))
    for share in shares:
        representer_coef += share
    explainer._representer_coef = representer_coef
    final_state = _context_copy(explainer)
    context = client.scatter(final_state, broadcast=True, hash=False)
    shards = client.persist([delayed(_trex_finish)(s, context) for s in shards])
    wait(futures_of(shards))
    step = -(-n // _FIDELITY_ROWS)
    samples = client.compute([delayed(_trex_fidelity_sample)(s, step) for s in shards],
                             sync=True)
    explainer.fidelity_ = explainer._fidelity(np.concatenate([r for r, _ in samples]),
                                              np.concatenate([f for _, f in samples]))
    explainer._dask = DaskTraining("trex", client, shards, lengths, partitions, persist,
                                   final_state, context,
                                   list(zip(partitions.X, partitions.y, weights)))
    return explainer
