"""Shared orchestration of the influence explainers: input checks, labels, round-by-round
derivatives, chunking, progress bars and Dask distribution.

Layering: the explainers (``boostin.py``, ``trex.py``) own their parameters and formulas; this
module turns user input into contiguous arrays and loops over chunks; ``_kernels.py`` does the
per-row work.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import NamedTuple

import numba
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from ..exceptions import UnsupportedModelError
from ..trees import check_parity, from_model
from . import _kernels

__all__ = ["TopInfluence"]

# Rows x trees per chunk for the round-by-round derivative arrays (a few 16 MB float64 arrays).
_CHUNK_ENTRIES = 1 << 21
# Training rows checked against the library's own predictions when the model is parsed.
_PARITY_ROWS = 256


class TopInfluence(NamedTuple):
    """The ``k`` most helpful and most harmful training rows for every test point.

    Column ``e`` belongs to test point ``e``; row 0 is the most helpful (largest influence) or
    most harmful (most negative influence) training row. Ties go to the smaller row index.

    Attributes
    ----------
    helpful_indices : ndarray of int64, shape (k, n_test)
    helpful_values : ndarray of float64, shape (k, n_test)
        Influence values of ``helpful_indices``, in decreasing order.
    harmful_indices : ndarray of int64, shape (k, n_test)
    harmful_values : ndarray of float64, shape (k, n_test)
        Influence values of ``harmful_indices``, in increasing order.

    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_diabetes
    >>> from boostkit.influence import BoostIn
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = lgb.LGBMRegressor(n_estimators=10, num_leaves=5, verbose=-1).fit(X, y)
    >>> top = BoostIn().fit(model, X, y).local_influence(X[:4], y[:4], top_k=3)
    >>> top.harmful_indices.shape
    (3, 4)
    >>> bool((top.harmful_values[0] <= top.harmful_values[-1]).all())
    True
    """

    helpful_indices: np.ndarray
    helpful_values: np.ndarray
    harmful_indices: np.ndarray
    harmful_values: np.ndarray


# ---------------------------------------------------------------------------- small helpers
def _chunks(n, size):
    size = max(1, int(size))
    return [(start, min(n, start + size)) for start in range(0, n, size)]


def _rows(X, start, stop):
    return X.iloc[start:stop] if isinstance(X, pd.DataFrame) else X[start:stop]


def _is_dask_collection(obj):
    return type(obj).__module__.split(".")[0] == "dask"


@contextmanager
def _numba_threads(n_jobs):
    """Run numba kernels with ``n_jobs`` threads (None: numba's default), restored after."""
    if n_jobs is None:
        yield
        return
    available = numba.config.NUMBA_NUM_THREADS
    wanted = available if n_jobs < 0 else min(int(n_jobs), available)
    previous = numba.get_num_threads()
    numba.set_num_threads(wanted)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _check_sample_weight(sample_weight, n_rows):
    """``sample_weight`` as a float64 (n_rows,) array (None stays None), or a ValueError: the
    one check of the explainers and of :mod:`boostkit.influence.evaluate`."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n_rows:
        raise ValueError(f"sample_weight must have shape ({n_rows},) like X; got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must be finite and non-negative")
    if not (w > 0).any():
        raise ValueError("sample_weight is zero for every row")
    return w


def _check_model_fitted(model):
    """Refuse an unfitted model with a message that says so, for every supported library."""
    if isinstance(model, type):
        raise TypeError(f"model must be a fitted model instance; got the class {model.__name__}")
    is_fitted = getattr(model, "is_fitted", None)
    if callable(is_fitted):  # CatBoost
        if not is_fitted():
            raise NotFittedError(
                f"model: this {type(model).__name__} is not fitted; fit it on (X, y) first and "
                f"pass the fitted model"
            )
        return
    if hasattr(model, "fit") and hasattr(model, "get_params"):
        check_is_fitted(
            model,
            msg=(f"model: this {type(model).__name__} is not fitted; fit it on (X, y) first "
                 f"and pass the fitted model"),
        )


def _leaf_id_dtype(max_leaves):
    if max_leaves <= np.iinfo(np.uint8).max + 1:
        return np.uint8
    if max_leaves <= np.iinfo(np.uint16).max + 1:
        return np.uint16
    return np.int32


# ---------------------------------------------------------------------------- base class
class _InfluenceExplainer(BaseEstimator):
    """Input handling shared by every influence explainer (not public)."""

    # set by a fit on dask training data (``distributed.DaskTraining``): the queries go there
    _dask = None

    # -------------------------------------------------------------- parameters
    def _check_common_params(self):
        if self.n_jobs is not None and (not isinstance(self.n_jobs, (int, np.integer))
                                        or self.n_jobs == 0):
            raise ValueError(f"n_jobs must be None, -1 or a positive integer; got {self.n_jobs!r}")
        if not isinstance(self.verbose, (int, np.integer, bool)) or self.verbose < 0:
            raise ValueError(f"verbose must be a non-negative integer; got {self.verbose!r}")

    def _progress(self, iterable, desc, total=None):
        return tqdm(iterable, desc=desc, total=total, disable=not self.verbose, leave=False)

    # -------------------------------------------------------------- model and data
    def _parse_model(self, model, X):
        _check_model_fitted(model)
        ensemble = from_model(model)
        n = len(X)
        picks = np.unique(np.linspace(0, n - 1, num=min(n, _PARITY_ROWS)).astype(np.int64))
        X_check = X.iloc[picks] if isinstance(X, pd.DataFrame) else np.asarray(X)[picks]
        check_parity(ensemble, model, X_check)
        return ensemble

    def _class_labels(self, model, ensemble):
        if ensemble.objective == "squared_error":
            return None
        classes = getattr(model, "classes_", None)
        if classes is None:
            n_classes = 2 if ensemble.objective == "logistic" else ensemble.n_outputs
            classes = np.arange(n_classes)
        return np.asarray(classes)

    def _check_X(self, X, name):
        """Check X against the fitted columns; return it as given (pandas stays pandas)."""
        if _is_dask_collection(X):
            raise TypeError(f"{name} is a dask collection; pass client=... to "
                            f"local_influence, or call .compute() first")
        fitted = getattr(self, "feature_names_in_", None)
        fitted = None if fitted is None else fitted.tolist()
        if isinstance(X, pd.DataFrame):
            names = [str(c) for c in X.columns]
            if fitted is None:  # as scikit-learn warns
                warnings.warn(f"{name} has feature names, but {type(self).__name__} was fitted "
                              f"without feature names", UserWarning, stacklevel=3)
            elif names != fitted:
                missing = [c for c in fitted if c not in names]
                extra = [c for c in names if c not in fitted]
                raise ValueError(
                    f"{name} has other columns than the training data X: missing {missing[:5]},"
                    f" unexpected {extra[:5]}"
                    + ("" if missing or extra else " (same names, other order)")
                    + f"; expected {fitted[:10]}"
                )
        else:
            if fitted is not None:
                warnings.warn(f"{name} does not have valid feature names, but "
                              f"{type(self).__name__} was fitted with feature names",
                              UserWarning, stacklevel=3)
            if not hasattr(X, "shape"):
                X = np.asarray(X)
        if len(X.shape) != 2:
            raise ValueError(f"{name} must be 2-dimensional (rows x features); got shape "
                             f"{tuple(X.shape)}")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"{name} has {X.shape[1]} features, but the model was fitted with "
                             f"{self.n_features_in_}")
        if X.shape[0] == 0:
            raise ValueError(f"{name} has no rows")
        return X

    def _apply(self, X, name, rows_per_chunk=None, progress=None):
        """Leaf ids (n, T * C) in the smallest integer type, computed chunk by chunk."""
        ensemble = self.ensemble_
        n_trees = ensemble.n_trees
        n = X.shape[0]
        rows_per_chunk = rows_per_chunk or max(1, (1 << 23) // max(n_trees, 1))
        out = np.empty((n, n_trees), dtype=_leaf_id_dtype(ensemble.max_leaves))
        chunks = _chunks(n, rows_per_chunk)
        if progress is not None:
            chunks = self._progress(chunks, progress)
        for start, stop in chunks:
            try:
                leaves = ensemble.apply(_rows(X, start, stop))
            except (TypeError, ValueError) as err:
                raise type(err)(f"{name}: {err}") from None
            out[start:stop] = leaves.reshape(stop - start, n_trees)
        return out

    def _targets(self, y, name, n_rows):
        """Loss targets (n, C) as floats: values, 0/1, or one-hot over ``classes_``."""
        if y is None:
            raise ValueError(f"{name} is required")
        if _is_dask_collection(y):
            y = y.compute()
        y = y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"{name} must be 1-dimensional; got shape {y.shape}")
        if y.shape[0] != n_rows:
            raise ValueError(f"{name} has {y.shape[0]} rows but X has {n_rows}; they must "
                             f"match")
        missing = pd.isna(y) if y.dtype == object else np.zeros(y.shape, bool)
        if y.dtype.kind in "fc":
            missing = ~np.isfinite(y)
        if missing.any():
            raise ValueError(f"{name} contains NaN or inf (first at row "
                             f"{int(np.flatnonzero(missing)[0])}); labels must be finite")
        if self.classes_ is None:
            try:
                values = y.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be numeric for a regression model; got dtype "
                                 f"{y.dtype}") from None
            if not np.isfinite(values).all():
                raise ValueError(f"{name} contains NaN or inf; labels must be finite")
            return values[:, None]
        if y.dtype == bool and self.classes_.dtype.kind in "iuf":
            y = y.astype(np.int64)  # True / False for classes 1 / 0
        codes = pd.Index(self.classes_).get_indexer(y) if y.size else np.zeros(0, np.intp)
        if (codes < 0).any():
            unseen = pd.unique(y[codes < 0])
            raise ValueError(
                f"{name} has labels the model never saw: {pd.Index(unseen[:5]).tolist()}; the "
                f"model's classes are {pd.Index(self.classes_[:20]).tolist()}"
            )
        n_outputs = self._n_loss_outputs
        if n_outputs == 1:
            return codes.astype(np.float64)[:, None]
        onehot = np.zeros((codes.shape[0], n_outputs))
        onehot[np.arange(codes.shape[0]), codes] = 1.0
        return onehot

    def _sample_weight(self, sample_weight, n_rows):
        w = _check_sample_weight(sample_weight, n_rows)
        return np.ones(n_rows) if w is None else w

    def _set_feature_names(self, columns):
        """``feature_names_in_`` (an object ndarray of str) from the training columns; only
        defined with names (``columns`` None: removed), as in scikit-learn."""
        if columns is not None:
            self.feature_names_in_ = np.asarray([str(c) for c in columns], dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _fit_inputs(self, model, X, y, sample_weight):
        """Parse the model and check the training data; sets the attributes shared by all."""
        self._check_common_params()
        self._set_feature_names(X.columns if isinstance(X, pd.DataFrame) else None)
        if not isinstance(X, pd.DataFrame):
            if _is_dask_collection(X):
                raise TypeError("X is a dask collection; the training data must be in memory "
                                "(numpy or pandas)")
            X = X if hasattr(X, "shape") else np.asarray(X)
        if len(X.shape) != 2 or X.shape[0] == 0:
            raise ValueError(f"X must be a non-empty 2-dimensional array; got shape "
                             f"{tuple(X.shape)}")
        n = X.shape[0]
        if y is not None and len(y) != n:
            raise ValueError(f"y has {len(y)} rows but X has {n}; they must match")
        self.ensemble_ = ensemble = self._parse_model(model, X)
        self.n_features_in_ = ensemble.n_features
        if X.shape[1] != ensemble.n_features:
            raise ValueError(f"X has {X.shape[1]} features, but the model was fitted with "
                             f"{ensemble.n_features}")
        self.classes_ = self._class_labels(model, ensemble)
        self.n_train_ = n
        # the user's row labels, for to_frame (None: positions)
        self._train_index = X.index.copy() if isinstance(X, pd.DataFrame) else None
        return X

    # -------------------------------------------------------------- public surface
    def local_influence(self, X_test, y_test, *, top_k=None, per_output=False, client=None,
                        chunk_size=None):
        """Influence of every training row on the loss of every test point.

        Parameters
        ----------
        X_test : array-like, DataFrame or dask array of shape (n_test, n_features)
            Same columns as the training data.
        y_test : array-like of shape (n_test,)
            Test labels (regression targets, or labels among the model's classes).
        top_k : int, optional
            Instead of the full matrix, return the ``top_k`` most helpful and most harmful
            training rows per test point (:class:`TopInfluence`); memory stays
            O(n_train x threads), never n_train x n_test.
        per_output : bool, default=False
            Multiclass: one influence per output (last axis) instead of their sum.
        client : dask.distributed.Client, optional
            Run chunks of test points on the cluster's workers; the fitted explainer is sent
            to each worker once. Results are identical to the single-process ones. (An
            explainer fitted on dask training data always runs on its own cluster.)
        chunk_size : int, optional
            Test points per chunk (per task with ``client``).

        Returns
        -------
        influence : ndarray of shape (n_train, n_test) (``(n_train, n_test, C)`` with
            ``per_output``), or :class:`TopInfluence` with ``top_k``.
            Positive = helpful: up-weighting the training row lowers the test loss.
            Fitted on dask training data: the full matrix is a lazy dask array whose row
            chunks are the training partitions; ``top_k`` merges the partitions' lists.
        """
        check_is_fitted(self, "ensemble_")
        top_k = self._check_top_k(top_k, per_output)
        if self._dask is not None:
            return self._dask.local_influence(self, X_test, y_test, top_k, per_output,
                                              chunk_size)
        if client is not None:
            return self._distributed_local(client, X_test, y_test, top_k, per_output,
                                           chunk_size)
        if _is_dask_collection(X_test):
            X_test = X_test.compute()
        X_test = self._check_X(X_test, "X_test")
        targets = self._targets(y_test, "y_test", X_test.shape[0])
        return self._local_all(X_test, targets, top_k, per_output, chunk_size)

    def self_influence(self, *, per_output=False, top_k=None, client=None, chunk_size=None):
        """Influence of every training row on its own training loss (the diagonal).

        A large value means the row pulled the model strongly towards itself: rows the
        model had to bend to fit, often mislabeled ones, come first when sorted in
        decreasing order.

        Parameters
        ----------
        per_output : bool, default=False
            Multiclass: one column per output instead of their sum.
        top_k : int, optional
            Only the ``top_k`` rows with the largest self influence (the most suspicious),
            as a DataFrame (see Returns).
        client : dask.distributed.Client, optional
            Compute chunks of training rows on the cluster's workers.
        chunk_size : int, optional
            Training rows per chunk.

        Returns
        -------
        influence : ndarray of shape (n_train,) (``(n_train, C)`` with ``per_output``)
            Fitted on dask training data: a lazy dask array with the training partitions as
            chunks, or a dask Series (DataFrame with ``per_output``) with X's index when X was
            a dask DataFrame.
        top : DataFrame with ``top_k``
            Columns ``position`` (0-based row in the training data) and ``self_influence``,
            largest first (ties to the smaller position), indexed by the rows' labels when X
            was a dask DataFrame, else by position.
        """
        check_is_fitted(self, "ensemble_")
        top_k = self._check_top_k(top_k, per_output)
        if self._dask is not None:
            return self._dask.self_influence(self, per_output, top_k)
        if top_k is not None:
            values = self.self_influence(client=client, chunk_size=chunk_size)
            order = np.argsort(-values, kind="stable")[:top_k]
            return _self_top_frame(values[order], order)
        n = self.n_train_
        size = chunk_size or max(1, _CHUNK_ENTRIES // max(1, self.ensemble_.n_trees))
        if client is not None:
            size = chunk_size or max(1, -(-n // (2 * max(1, len(client.scheduler_info()
                                                           .get("workers", {})) or 1))))
            chunks = _chunks(n, size)
            explainer = client.scatter(self, broadcast=True, hash=False)
            futures = [client.submit(_self_task, explainer, start, stop, per_output, pure=False)
                       for start, stop in chunks]
            parts = client.gather(futures)
        else:
            with _numba_threads(getattr(self, "n_jobs", None)):
                if hasattr(self, "_self_local"):
                    parts = [self._self_local(per_output)]
                else:
                    parts = [self._self_rows(start, stop, per_output) for start, stop in
                             self._progress(_chunks(n, size), "self influence")]
        out = np.concatenate(parts, axis=0)
        return out if per_output else out[:, 0]

    def to_frame(self, result, X_test=None):
        """A result of this explainer as pandas objects keyed by the row labels of the data.

        Training rows are labelled by the index of the DataFrame ``X`` given to ``fit`` (by
        position for an array); test points by ``X_test.index`` (by position when ``X_test``
        is None or an array).

        Parameters
        ----------
        result : ndarray or TopInfluence
            What :meth:`local_influence` (full matrix or ``top_k``) or :meth:`self_influence`
            returned.
        X_test : DataFrame or array-like, optional
            The test points ``result`` is about (local influence only).

        Returns
        -------
        DataFrame, Series or TopInfluence
            Full matrix: DataFrame (training rows x test points). Self influence: Series over
            the training rows (DataFrame with ``per_output``). ``top_k``: a
            :class:`TopInfluence` of DataFrames (rank x test points) whose ``*_indices`` hold
            training row labels.

        Examples
        --------
        >>> import lightgbm as lgb
        >>> from sklearn.datasets import load_diabetes
        >>> from boostkit.influence import BoostIn
        >>> X, y = load_diabetes(return_X_y=True, as_frame=True)
        >>> X.index = [f"patient {i}" for i in range(len(X))]
        >>> model = lgb.LGBMRegressor(n_estimators=5, verbose=-1, n_jobs=1).fit(X, y)
        >>> explainer = BoostIn().fit(model, X, y)
        >>> frame = explainer.to_frame(explainer.local_influence(X[:2], y[:2]), X[:2])
        >>> frame.shape, frame.columns.tolist()
        ((442, 2), ['patient 0', 'patient 1'])
        >>> explainer.to_frame(explainer.self_influence()).index[0]
        'patient 0'
        """
        check_is_fitted(self, "ensemble_")
        train = getattr(self, "_train_index", None)
        train = train if train is not None else pd.RangeIndex(
            self.n_train_)
        if X_test is None:
            test = None
        elif isinstance(X_test, pd.DataFrame):
            test = X_test.index
        else:
            test = pd.RangeIndex(len(X_test))
        if isinstance(result, TopInfluence):
            n_test = result.helpful_indices.shape[1]
            columns = test if test is not None else pd.RangeIndex(n_test)
            ranks = pd.RangeIndex(1, result.helpful_indices.shape[0] + 1, name="rank")
            return TopInfluence(*(
                pd.DataFrame(train.to_numpy()[part] if field.endswith("indices") else part,
                             index=ranks, columns=columns)
                for field, part in zip(TopInfluence._fields, result)))
        result = np.asarray(result)
        if result.shape[0] != len(train):
            raise ValueError(f"result has {result.shape[0]} rows but the explainer was fitted "
                             f"on {len(train)} training rows")
        if result.ndim == 1:
            return pd.Series(result, index=train, name="self_influence")
        if test is None:  # self influence per output
            return pd.DataFrame(result, index=train)
        if result.ndim != 2 or result.shape[1] != len(test):
            raise ValueError(f"result has shape {result.shape}, but X_test has {len(test)} "
                             f"rows; pass the X_test the result is about")
        return pd.DataFrame(result, index=train, columns=test)

    # -------------------------------------------------------------- chunk plumbing
    def _check_per_output(self, per_output):
        if not isinstance(per_output, (bool, np.bool_)):
            raise ValueError(f"per_output must be True or False; got {per_output!r}")

    def _check_top_k(self, top_k, per_output):
        self._check_per_output(per_output)
        if top_k is None:
            return None
        if not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer or None; got {top_k!r}")
        if top_k > self.n_train_:
            raise ValueError(f"top_k={top_k} exceeds the {self.n_train_} training rows")
        if per_output:
            raise ValueError("top_k ranks the influence summed over outputs; per_output=True "
                             "is only available for the full matrix (top_k=None)")
        return int(top_k)

    def _default_test_chunk(self, n_test, top_k):
        return 256

    def _local_all(self, X_test, targets, top_k, per_output, chunk_size, progress=True):
        n_test = X_test.shape[0]
        size = chunk_size or self._default_test_chunk(n_test, top_k)
        chunks = _chunks(n_test, size)
        if progress:
            chunks = self._progress(chunks, "local influence")
        parts, out = [], None
        with _numba_threads(self.n_jobs):
            for start, stop in chunks:
                part = self._local_block(_rows(X_test, start, stop), targets[start:stop],
                                         top_k, per_output)
                if top_k is not None:
                    parts.append(part)
                elif stop - start == n_test:
                    out = part  # one chunk: no copy
                else:  # copied into place chunk by chunk: never the output twice in memory
                    if out is None:
                        out = np.empty((part.shape[0], n_test, part.shape[2]))
                    out[:, start:stop] = part
        if top_k is not None:
            return _concat_top(parts)
        return np.ascontiguousarray(out if per_output else out[:, :, 0])

    def _distributed_local(self, client, X_test, y_test, top_k, per_output, chunk_size):
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        if _is_dask_collection(X_test):
            import dask.array as da

            if not isinstance(X_test, da.Array):
                raise TypeError("X_test: with client=..., pass a dask array, numpy array or "
                                "pandas DataFrame")
            if X_test.ndim != 2 or X_test.shape[1] != self.n_features_in_:
                raise ValueError(f"X_test has shape {X_test.shape}, but the model was fitted "
                                 f"with {self.n_features_in_} features")
            if chunk_size is not None:
                X_test = X_test.rechunk((chunk_size, -1))
            else:
                X_test = X_test.rechunk({1: -1})
            bounds = np.concatenate([[0], np.cumsum(X_test.chunks[0])]).astype(int)
            blocks = client.compute(list(X_test.to_delayed().ravel()))
        else:
            X_test = self._check_X(X_test, "X_test")
            n = X_test.shape[0]
            size = chunk_size or max(1, -(-n // (2 * n_workers)))
            edges = [start for start, _ in _chunks(n, size)] + [n]
            bounds = np.asarray(edges)
            blocks = [_rows(X_test, a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        n_test = int(bounds[-1])
        targets = self._targets(y_test, "y_test", n_test)
        explainer = client.scatter(self, broadcast=True, hash=False)
        futures = [client.submit(_local_task, explainer, block, targets[a:b], top_k, per_output,
                                 pure=False)
                   for block, a, b in zip(blocks, bounds[:-1], bounds[1:])]
        parts = client.gather(futures)
        if top_k is not None:
            return _concat_top(parts)
        return np.concatenate(parts, axis=1)


def _empty_top(k, n_test):
    """Uninitialised :class:`TopInfluence` outputs for ``n_test`` test points."""
    return TopInfluence(np.empty((k, n_test), np.int64), np.empty((k, n_test)),
                        np.empty((k, n_test), np.int64), np.empty((k, n_test)))


def _full_or_top(influence, top_k):
    """A full (n_train, n_test) influence block in the block format of ``_local_block``, or
    its :class:`TopInfluence` with ``top_k``."""
    if top_k is None:
        return influence[:, :, None]
    result = _empty_top(top_k, influence.shape[1])
    _kernels.top_k_rows(np.ascontiguousarray(influence.T), top_k, *result)
    return result


def _self_top_frame(values, positions, labels=None):
    """The most suspicious rows as a DataFrame: their position and self influence, largest
    first, indexed by the rows' labels (their positions when there are none)."""
    index = (pd.Index(np.asarray(positions), name="row") if labels is None
             else pd.Index(labels))
    return pd.DataFrame({"position": np.asarray(positions, dtype=np.int64),
                         "self_influence": np.asarray(values, dtype=np.float64)}, index=index)


def _test_table(leaf_ids, values, n_leaves):
    """(n_trees, n_leaves, n_test) table: each test point's value in its own leaf, else 0."""
    n_test, n_trees = leaf_ids.shape
    table = np.zeros((n_trees, n_leaves, n_test))
    table[np.arange(n_trees)[None, :], leaf_ids, np.arange(n_test)[:, None]] = values
    return table


def _concat_top(parts):
    return TopInfluence(*(np.concatenate([p[f] for p in parts], axis=1) for f in range(4)))


def _local_task(explainer, X_block, targets, top_k, per_output):
    """Dask task: one chunk of test points (the explainer arrives once per worker)."""
    X_block = explainer._check_X(X_block, "X_test")
    return explainer._local_all(X_block, targets, top_k, per_output, None, progress=False)


def _self_task(explainer, start, stop, per_output):
    """Dask task: self influence of training rows ``start:stop``."""
    with _numba_threads(explainer.n_jobs):
        return explainer._self_rows(start, stop, per_output)


def refuse_averaged(ensemble, method):
    if ensemble.averaged:
        raise UnsupportedModelError(
            f"{method} needs a boosted ensemble, but {ensemble.source} averages independently "
            f"grown trees: its leaf values are not Newton steps on a loss computed round by "
            f"round, so there is no leaf derivative to trace; use TREX for forests"
        )
