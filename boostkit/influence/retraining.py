"""Retraining ground truths: leave-one-out (LOO) and subsample (Feldman & Zhang) influence.

Both refit copies of the user's estimator (``sklearn.base.clone``: same hyper-parameters and
seeds) on subsets of the training rows and measure how the model's own loss changes. They are
the slow, assumption-free references the fast estimators (BoostIn, TREX, LeafInfluence) are
judged against.

Design: ``fit`` does all the retraining, in parallel with joblib, and keeps every refit as a
compact :class:`boostkit.trees.TreeEnsemble` (the library model itself is discarded in the
worker). ``local_influence`` then only predicts with those ensembles, so it can be called for
any test points after ``fit`` without retraining. Memory is one parsed ensemble per refit:
about 300 kB for 100 trees x 31 leaves, i.e. ~0.6 GB for LOO on 2,000 training rows.
"""

from __future__ import annotations

import math
import warnings
from contextlib import nullcontext

import joblib
import numba
import numpy as np
import pandas as pd
from sklearn.base import clone
from threadpoolctl import ThreadpoolController

from ..losses import get_loss
from ..trees import check_parity, from_model
from ._base import _full_or_top, _InfluenceExplainer, _numba_threads

__all__ = ["LOO", "SubSample"]

# Rows of each refit compared with the library's own predictions after parsing it.
_PARITY_ROWS = 32
# Test points per chunk from which each refit's prediction runs on several numba threads.
_THREADED_ROWS = 4096
# Probabilities are clipped to [_EPS, 1] in the log loss of forests (they can predict 0).
_EPS = 1e-15


# ---------------------------------------------------------------------------- loss
def _model_loss(ensemble, raw, targets):
    """Per-row loss of the model's own objective on its raw output (n,).

    Boosted models: squared error ``0.5 (y - F)^2``, or log loss computed from the raw score
    (the same value as on the predicted probabilities, without rounding them). Forests and
    single trees output probabilities directly: ``-log p_y`` (clipped at 1e-15).
    ``targets`` is (n, C): values, 0/1 or one-hot.
    """
    if ensemble.objective == "squared_error":
        return get_loss("squared_error").value(targets, raw)
    if ensemble.averaged:
        p = np.clip(raw, _EPS, 1.0)
        if raw.shape[1] == 1:  # probability of the positive class
            y = targets[:, 0]
            return -(y * np.log(p[:, 0]) + (1.0 - y) * np.log(np.clip(1.0 - raw[:, 0], _EPS,
                                                                         1.0)))
        return -(targets * np.log(p)).sum(axis=1)
    return get_loss(ensemble.objective, ensemble.hessian_factor).value(targets, raw)


# ---------------------------------------------------------------------------- estimators
_THREAD_PARAMS = ("n_jobs", "num_threads", "nthread", "thread_count")


def _clone_model(model):
    """An unfitted copy with the same parameters, or a TypeError that names ``model``."""
    if not (hasattr(model, "fit") and hasattr(model, "get_params")):
        raise TypeError(
            f"model: retraining needs a scikit-learn compatible estimator with fit and "
            f"get_params (e.g. lightgbm.LGBMClassifier, not lightgbm.Booster); got "
            f"{type(model).__module__}.{type(model).__name__}")
    try:
        estimator = clone(model)
    except Exception as err:  # clone raises TypeError / RuntimeError for odd estimators
        raise TypeError(
            f"model: retraining needs an estimator that sklearn.base.clone can copy (with fit "
            f"and get_params); cloning {type(model).__name__} failed: {err}") from None
    if type(estimator).__module__.split(".")[0] == "catboost":
        # concurrent refits must not share CatBoost's training-log directory
        estimator.set_params(allow_writing_files=False)
    return estimator


def _single_threaded(estimator):
    """The estimator with its library threads set to 1 (refits already run in parallel).

    Only thread counts change; LightGBM, XGBoost and CatBoost with fixed seeds grow the same
    trees for any thread count (tested).
    """
    params = estimator.get_params(deep=False)
    wanted = {key: 1 for key in _THREAD_PARAMS if key in params}
    if type(estimator).__module__.split(".")[0] == "catboost":
        wanted["thread_count"] = 1
    if wanted:
        estimator = clone(estimator).set_params(**wanted)
    return estimator


def _take(data, rows):
    if isinstance(data, (pd.DataFrame, pd.Series)):
        return data.iloc[rows]
    return data[rows]


def _refit(estimator, X, y, sample_weight, rows, controller, limit_fit):
    """Fit a fresh copy on ``rows`` (an index array, or the one row index to leave out);
    returns its parsed ensemble, checked against the library's own predictions (the library
    model is dropped here, in the worker)."""
    if isinstance(rows, (int, np.integer)):
        rows = np.delete(np.arange(X.shape[0]), rows)
    model = clone(estimator)
    X_rows = _take(X, rows)
    with controller.limit(limits=1) if limit_fit else nullcontext():
        if sample_weight is None:
            model.fit(X_rows, _take(y, rows))
        else:
            model.fit(X_rows, _take(y, rows), sample_weight=sample_weight[rows])
    with controller.limit(limits=1):
        ensemble = from_model(model)
        picks = np.unique(np.linspace(0, len(rows) - 1, num=min(len(rows), _PARITY_ROWS))
                          .astype(np.int64))
        check_parity(ensemble, model, _take(X_rows, picks))
    return ensemble


def _refit_batch(estimator, X, y, sample_weight, targets, jobs, parallel):
    """Worker: for every (train_rows, scored_rows) job, refit and score the training rows
    (``train_rows``: index array, or the index of the one row to leave out).

    Returns a list of (ensemble, losses on ``scored_rows``). Parsing and scoring run on one
    thread (numba and OpenMP): on a few rows, starting a thread team costs more than the work
    (10 ms against 0.05 ms on a busy machine). The fit does too when refits run in parallel.
    """
    controller = ThreadpoolController()
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        results = []
        for train_rows, scored_rows in jobs:
            ensemble = _refit(estimator, X, y, sample_weight, train_rows, controller,
                              limit_fit=parallel)
            raw = ensemble.predict_raw(_take(X, scored_rows))
            results.append((ensemble, _model_loss(ensemble, raw, targets[scored_rows])))
        return results
    finally:
        numba.set_num_threads(previous)


# ---------------------------------------------------------------------------- base
class _RetrainingExplainer(_InfluenceExplainer):
    """Refit orchestration shared by LOO and SubSample (not public)."""

    def _check_per_output(self, per_output):
        super()._check_per_output(per_output)
        if per_output:
            raise ValueError(f"per_output=True is not available for {type(self).__name__}: "
                             f"its influence is a change of the total loss over all outputs")

    def _prepare(self, model, X, y, sample_weight):
        """Clone check, input checks, loss targets; returns (estimator, X, y, weights)."""
        estimator = _clone_model(model)
        X = self._fit_inputs(model, X, y, sample_weight)
        n = self.n_train_
        self._n_loss_outputs = self.ensemble_.n_outputs
        self._train_targets = self._targets(y, "y", n)
        self.sample_weight_ = None if sample_weight is None else self._sample_weight(
            sample_weight, n)
        if not isinstance(y, (pd.Series, pd.DataFrame)):
            y = np.asarray(y)
        return estimator, X, y, self.sample_weight_

    def _run(self, estimator, X, y, sample_weight, jobs, desc):
        """Run the refit jobs (in parallel when n_jobs allows); results in job order."""
        n_workers = min(joblib.effective_n_jobs(self.n_jobs if self.n_jobs is not None else 1),
                        len(jobs))
        parallel = n_workers > 1
        if parallel:
            estimator = _single_threaded(estimator)
        # a few batches per worker: the data travels once per batch, the bar moves often
        size = max(1, min(64, math.ceil(len(jobs) / (4 * n_workers))))
        batches = [jobs[start:start + size] for start in range(0, len(jobs), size)]
        args = (estimator, X, y, sample_weight, self._train_targets)
        bar = self._progress(None, desc, total=len(jobs))
        results = []
        try:
            if parallel:
                runner = joblib.Parallel(n_jobs=n_workers, return_as="generator")
                stream = runner(joblib.delayed(_refit_batch)(*args, batch, True)
                                for batch in batches)
            else:
                stream = (_refit_batch(*args, batch, False) for batch in batches)
            for part in stream:
                results.extend(part)
                bar.update(len(part))
        finally:
            bar.close()
        return results

    def _refit_full(self, estimator, X, y, sample_weight):
        """Refit on every row (the common reference of all differences)."""
        everything = np.arange(self.n_train_)
        [(full, losses)] = self._run(estimator, X, y, sample_weight,
                                     [(everything, everything)], "full refit")
        given = self.ensemble_.predict_raw(X)
        refit = full.predict_raw(X)
        self.full_refit_max_abs_diff_ = float(np.abs(given - refit).max())
        self.reproduces_model_ = bool(
            self.full_refit_max_abs_diff_ <= 1e-9 * max(1.0, float(np.abs(given).max())))
        if not self.reproduces_model_:
            warnings.warn(
                f"{type(self).__name__}: refitting the model on all of X does not reproduce it "
                f"(largest raw-output difference {self.full_refit_max_abs_diff_:.3g}); "
                f"influence is measured against that refit, so retraining noise still cancels, "
                f"but check that X, y and sample_weight are the ones the model was trained with "
                f"and that its random seed is fixed", UserWarning, stacklevel=3)
        return full, losses

    def _test_losses(self, ensembles, X, targets):
        """Loss of every stored refit on every test point: (n_refits, n_test)."""
        out = np.empty((len(ensembles), X.shape[0]))
        # one thread for small chunks: a thread team per call costs more than the prediction
        with _numba_threads(1 if X.shape[0] < _THREADED_ROWS else self.n_jobs):
            for m, ensemble in enumerate(ensembles):
                out[m] = _model_loss(ensemble, ensemble.predict_raw(X), targets)
        return out

    def _default_test_chunk(self, n_test, top_k):
        # each refit predicts a whole chunk at once (its call overhead dominates small chunks)
        return max(256, (1 << 22) // max(1, self.n_train_))

    def _self_rows(self, start, stop, per_output):
        return self._self_influence[start:stop, None].copy()

    def _self_local(self, per_output):
        return self._self_influence[:, None].copy()


def _check_int(value, name, minimum):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


# ---------------------------------------------------------------------------- LOO
class LOO(_RetrainingExplainer):
    """Leave-one-out influence by retraining the model once per training row.

    For every training row ``i`` a copy of the model (``sklearn.base.clone``: same
    hyper-parameters and seeds) is refitted on all rows but ``i`` (with their sample weights),
    and

    ``Inf(i, e) = L(y_e, f_{-i}(x_e)) - L(y_e, f_full(x_e))``

    where ``L`` is the model's own loss (squared error ``0.5 (y - F)^2`` on the raw
    prediction, log loss for classifiers) and ``f_full`` is a copy refitted on every row the
    same way. Measuring against that refit rather than the given model makes any retraining
    noise cancel; ``reproduces_model_`` says whether the refit reproduces the given model.
    Positive = helpful: removing the row raises the test loss. Self influence is the same
    difference on each row's own training loss.

    This is the exact answer to "what if this row had not been there" for the model's own
    training procedure, at the price of ``n_train + 1`` refits (run in parallel with joblib).
    The refits are kept as parsed ensembles (about 300 kB for 100 trees x 31 leaves), so
    ``local_influence`` costs only predictions.

    Parameters
    ----------
    n_jobs : int, default=-1
        Parallel refits (joblib processes; -1: every core). With more than one, the model's
        own thread count (``n_jobs`` / ``num_threads`` / ``nthread`` / ``thread_count``) is
        set to 1 in each refit, which leaves LightGBM, XGBoost and CatBoost models unchanged.
        Also the threads of the prediction kernels.
    verbose : int, default=0
        1 shows a progress bar over the refits.

    Attributes
    ----------
    ensemble_ : TreeEnsemble
        The given model, parsed.
    classes_ : ndarray or None
    n_train_ : int
    full_refit_ : TreeEnsemble
        The copy refitted on every row.
    refits_ : list of TreeEnsemble
        ``refits_[i]`` was refitted without row ``i``.
    reproduces_model_ : bool
        Whether ``full_refit_`` reproduces the given model's raw outputs on X (a warning is
        raised when it does not).
    full_refit_max_abs_diff_ : float
        Largest raw-output difference between the given model and ``full_refit_`` on X.

    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import make_regression
    >>> from boostkit.influence import LOO
    >>> X, y = make_regression(n_samples=40, n_features=3, noise=5.0, random_state=0)
    >>> model = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, min_child_samples=3,
    ...                           verbose=-1).fit(X, y)
    >>> explainer = LOO(n_jobs=1).fit(model, X, y)
    >>> explainer.reproduces_model_
    True
    >>> explainer.local_influence(X[:2], y[:2]).shape
    (40, 2)
    >>> explainer.self_influence().shape
    (40,)
    """

    def __init__(self, n_jobs=-1, verbose=0):
        self.n_jobs = n_jobs
        self.verbose = verbose

    def fit(self, model, X, y, sample_weight=None):
        """Refit the model without each training row in turn.

        Parameters
        ----------
        model : fitted estimator
            A scikit-learn compatible tree model (LightGBM / XGBoost / CatBoost scikit-learn
            wrappers, scikit-learn GradientBoosting, HistGradientBoosting, forests) fitted on
            ``X, y``; it must survive ``sklearn.base.clone``.
        X : array-like or DataFrame of shape (n_train, n_features)
            The model's training data.
        y : array-like of shape (n_train,)
        sample_weight : array-like of shape (n_train,), optional
            The weights the model was trained with; each refit gets the remaining rows'
            weights.

        Returns
        -------
        self
        """
        estimator, X, y, w = self._prepare(model, X, y, sample_weight)
        n = self.n_train_
        if n < 2:
            raise ValueError("X must have at least 2 rows for leave-one-out retraining")
        self.full_refit_, full_losses = self._refit_full(estimator, X, y, w)
        jobs = [(i, np.array([i])) for i in range(n)]
        results = self._run(estimator, X, y, w, jobs, "LOO refits")
        self.refits_ = [ensemble for ensemble, _ in results]
        self._full_train_losses = full_losses
        self._self_influence = np.array([losses[0] for _, losses in results]) - full_losses
        return self

    def _local_block(self, X, targets, top_k, per_output):
        full = _model_loss(self.full_refit_, self.full_refit_.predict_raw(X), targets)
        return _full_or_top(self._test_losses(self.refits_, X, targets) - full, top_k)


# ---------------------------------------------------------------------------- SubSample
class SubSample(_RetrainingExplainer):
    """Subsample influence (Feldman & Zhang, 2020): expected loss without a row minus with it.

    ``n_models`` copies of the model (``sklearn.base.clone``) are refitted on random subsets
    of ``subsample_fraction`` of the training rows, and for every training row ``i``

    ``Inf(i, e) = mean_{m: i not in S_m} L_e(f_m) - mean_{m: i in S_m} L_e(f_m)``

    with ``L`` the model's own loss (as in :class:`LOO`). Positive = helpful. Unlike LOO, it
    measures a row's effect in the company of many different subsets, which smooths out
    rows that are redundant with their neighbours; its noise shrinks like
    ``1 / sqrt(n_models)``. A row that no subset left out (or none kept) gets 0 and a warning.

    Parameters
    ----------
    n_models : int, default=100
        Number of refits.
    subsample_fraction : float, default=0.7
        Fraction of the training rows in every subset (rounded to a whole number of rows).
    random_state : int or None, default=0
        Seed of the subsets (None: fresh ones every fit); the model keeps its own seed.
    n_jobs : int, default=-1
        Parallel refits, as in :class:`LOO`.
    verbose : int, default=0
        1 shows a progress bar over the refits.

    Attributes
    ----------
    ensemble_ : TreeEnsemble
    classes_ : ndarray or None
    n_train_ : int
    subsets_ : ndarray of bool, shape (n_models, n_train)
        ``subsets_[m, i]``: row ``i`` was in the training subset of model ``m``.
    refits_ : list of TreeEnsemble
        The ``n_models`` refitted models.
    train_losses_ : ndarray of shape (n_models, n_train)
        Loss of every refit on every training row (the self-influence inputs).

    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import make_classification
    >>> from boostkit.influence import SubSample
    >>> X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    >>> model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, min_child_samples=3,
    ...                            verbose=-1).fit(X, y)
    >>> explainer = SubSample(n_models=20, n_jobs=1, random_state=0).fit(model, X, y)
    >>> explainer.subsets_.shape, int(explainer.subsets_[0].sum())
    ((20, 60), 42)
    >>> explainer.local_influence(X[:3], y[:3]).shape
    (60, 3)
    """

    def __init__(self, n_models=100, subsample_fraction=0.7, random_state=0, n_jobs=-1,
                 verbose=0):
        self.n_models = n_models
        self.subsample_fraction = subsample_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def fit(self, model, X, y, sample_weight=None):
        """Refit the model on ``n_models`` random subsets of the training rows.

        Parameters
        ----------
        model : fitted estimator
            As for :class:`LOO`: it must survive ``sklearn.base.clone``.
        X : array-like or DataFrame of shape (n_train, n_features)
        y : array-like of shape (n_train,)
        sample_weight : array-like of shape (n_train,), optional
            Each refit gets the weights of its subset's rows.

        Returns
        -------
        self
        """
        _check_int(self.n_models, "n_models", 1)
        fraction = self.subsample_fraction
        if (not isinstance(fraction, (int, float, np.floating)) or isinstance(fraction, bool)
                or not 0.0 < fraction < 1.0):
            raise ValueError(f"subsample_fraction must be a number strictly between 0 and 1; "
                             f"got {fraction!r}")
        if self.random_state is not None:
            _check_int(self.random_state, "random_state", 0)
        estimator, X, y, w = self._prepare(model, X, y, sample_weight)
        n = self.n_train_
        size = int(round(fraction * n))
        if not 1 <= size < n:
            raise ValueError(f"subsample_fraction={fraction} of {n} rows gives subsets of "
                             f"{size} rows; it must keep at least 1 row and leave 1 out")
        rng = np.random.default_rng(self.random_state)
        subsets = np.zeros((self.n_models, n), dtype=bool)
        for m in range(self.n_models):
            subsets[m, rng.choice(n, size=size, replace=False)] = True
        self.subsets_ = subsets
        everything = np.arange(n)
        jobs = [(np.flatnonzero(subsets[m]), everything) for m in range(self.n_models)]
        results = self._run(estimator, X, y, w, jobs, "SubSample refits")
        self.refits_ = [ensemble for ensemble, _ in results]
        self.train_losses_ = np.array([losses for _, losses in results])
        self._counts_in = subsets.sum(axis=0)
        self._counts_out = self.n_models - self._counts_in
        undefined = (self._counts_in == 0) | (self._counts_out == 0)
        if undefined.any():
            warnings.warn(
                f"SubSample: {int(undefined.sum())} of {n} training rows were in every subset "
                f"or in none, so their influence is set to 0; raise n_models (now "
                f"{self.n_models})", UserWarning, stacklevel=2)
        losses = self.train_losses_
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_in = (subsets * losses).sum(axis=0) / self._counts_in
            mean_out = (~subsets * losses).sum(axis=0) / self._counts_out
        self._self_influence = np.where(undefined, 0.0, mean_out - mean_in)
        return self

    def _difference(self, losses):
        """(n_models, n_test) losses -> (n_train, n_test) mean-out minus mean-in."""
        # summed model by model, not by a matrix product: BLAS rounds differently for other
        # numbers of test points, and a test point's result must not depend on its chunk
        sum_in = np.zeros((self.n_train_, losses.shape[1]))
        sum_out = np.zeros((self.n_train_, losses.shape[1]))
        for inside, row in zip(self.subsets_, losses):
            sum_in += np.where(inside[:, None], row[None, :], 0.0)
            sum_out += np.where(inside[:, None], 0.0, row[None, :])
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_in = sum_in / self._counts_in[:, None]
            mean_out = sum_out / self._counts_out[:, None]
        influence = mean_out - mean_in
        undefined = (self._counts_in == 0) | (self._counts_out == 0)
        influence[undefined] = 0.0
        return influence

    def _local_block(self, X, targets, top_k, per_output):
        return _full_or_top(self._difference(self._test_losses(self.refits_, X, targets)),
                                  top_k)
