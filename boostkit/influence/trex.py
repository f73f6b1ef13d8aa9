"""TREX: representer points of a kernel model on the tree ensemble's leaf feature map."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit, softmax
from scipy.stats import spearmanr
from sklearn.exceptions import ConvergenceWarning

from ..losses import get_loss
from . import _kernels
from ._base import _full_or_top, _InfluenceExplainer, _numba_threads, _test_table

__all__ = ["TREX"]

_KERNELS = ("leaf_weighted", "leaf", "leaf_value")
_TARGETS = ("actual", "predicted")


class TREX(_InfluenceExplainer):
    """Training-row influence through a kernel surrogate of a tree ensemble (Brophy et al.).

    The ensemble defines a sparse feature map ``phi(x)``: one entry per tree, at the leaf ``x``
    falls in. TREX fits an L2-regularised linear (regression), logistic (binary) or softmax
    (multiclass) model on ``phi(X_train)``,

    ``min_W  sum_i w_i L(y_i, phi_i W) / N + l2 * ||W||^2``,

    whose optimum is a sum over training rows, ``W = sum_i alpha_i phi_i`` with representer
    weights ``alpha_i = -w_i dL/dF(y_i, phi_i W) / (2 * l2 * N)``. Row ``i`` contributes
    ``r_ie = k(x_i, x_e) alpha_i`` to a test point's surrogate output ``s_e = sum_i r_ie``, and
    its influence is the loss change when that contribution is taken away:
    ``Inf(i, e) = L(y_e, s_e - r_ie) - L(y_e, s_e)`` (positive = helpful).

    Works for every model :func:`boostkit.trees.from_model` reads, forests included. Trees that
    share their structure across outputs (forest classifiers, CatBoost multiclass) count once.

    Parameters
    ----------
    kernel : {"leaf_weighted", "leaf", "leaf_value"}, default="leaf_weighted"
        Feature-map weight of a leaf: ``1 / count`` (training rows in the leaf), ``1`` (plain
        one-hot), or the leaf's value. The kernel is ``k(a, b) = sum_trees [same leaf] *
        weight^2``.
    target : {"actual", "predicted"}, default="actual"
        Fit the surrogate to the training labels, or to the model's own predictions
        (predicted labels for classifiers, predicted values for regression).
    l2 : float, default=0.003
        ``l2`` of the surrogate's objective above.
    max_iter : int, default=2000
        L-BFGS iterations for the surrogate.
    tol : float, default=1e-9
        Stop when the largest gradient entry falls below ``tol`` times its value at the start.
    n_jobs : int, optional
        Threads for the numba kernels (None: numba's default, -1: all cores).
    verbose : int, default=0
        1 shows progress bars on the long computations.

    Attributes
    ----------
    ensemble_ : TreeEnsemble
    classes_ : ndarray or None
    coef_ : ndarray of shape (n_leaf_features, n_surrogate_outputs)
        The surrogate's weights ``W``.
    representer_weights_ : ndarray of shape (n_train, n_surrogate_outputs)
        ``alpha``.
    leaf_weights_ : ndarray of shape (n_kernel_trees, max_leaves)
        Feature-map weight of every leaf.
    train_leaf_ids_ : ndarray of shape (n_train, n_kernel_trees)
    fidelity_ : dict
        ``{"pearson": r, "spearman": rho}`` between the surrogate's outputs and the model's on
        the training rows (probabilities for classifiers, flattened over classes).
    n_iter_ : int
        L-BFGS iterations used.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from boostkit.influence import TREX
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
    >>> explainer = TREX(kernel="leaf").fit(model, X, y)
    >>> explainer.local_influence(X[:2], y[:2]).shape
    (569, 2)
    >>> explainer.fidelity_["pearson"] > 0.9
    True
    """

    def __init__(self, kernel="leaf_weighted", target="actual", l2=0.003, max_iter=2000,
                 tol=1e-9, n_jobs=None, verbose=0):
        self.kernel = kernel
        self.target = target
        self.l2 = l2
        self.max_iter = max_iter
        self.tol = tol
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _check_params(self):
        if self.kernel not in _KERNELS:
            raise ValueError(f"kernel must be one of {_KERNELS}; got {self.kernel!r}")
        if self.target not in _TARGETS:
            raise ValueError(f"target must be one of {_TARGETS}; got {self.target!r}")
        if not isinstance(self.l2, (int, float, np.floating)) or not self.l2 > 0:
            raise ValueError(f"l2 must be a positive number; got {self.l2!r}")
        if not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer; got {self.max_iter!r}")
        if not isinstance(self.tol, (int, float, np.floating)) or not self.tol >= 0:
            raise ValueError(f"tol must be a non-negative number; got {self.tol!r}")

    # -------------------------------------------------------------- fit
    def fit(self, model, X, y, sample_weight=None):
        """Build the leaf feature map, fit the surrogate and its representer weights.

        Parameters
        ----------
        model : fitted tree model
            Any model :func:`boostkit.trees.from_model` reads, forests included.
        X : array-like or DataFrame of shape (n_train, n_features)
            The model's training data.
        y : array-like of shape (n_train,)
            The training labels.
        sample_weight : array-like of shape (n_train,), optional
            Weights of the surrogate's training loss.

        Returns
        -------
        self
        """
        self._check_params()
        X = self._fit_inputs(model, X, y, sample_weight)
        ensemble = self.ensemble_
        n = self.n_train_
        task = ensemble.objective
        n_out = 1 if task in ("squared_error", "logistic") else len(self.classes_)
        self._n_loss_outputs = n_out
        self._loss = loss = get_loss(task)
        self.sample_weight_ = w = self._sample_weight(sample_weight, n)
        labels = self._targets(y, "y", n)

        with _numba_threads(self.n_jobs):
            leaf_ids = self._apply(X, "X", progress="leaf ids")
        model_raw = self._raw_from_leaves(leaf_ids)
        self._kernel_trees = self._distinct_trees(leaf_ids)
        self.train_leaf_ids_ = leaf_ids = np.ascontiguousarray(leaf_ids[:, self._kernel_trees])
        n_trees = leaf_ids.shape[1]
        n_leaves = max(ensemble.max_leaves, 1)
        offsets = np.arange(n_trees, dtype=np.int64) * n_leaves
        flat = leaf_ids + offsets
        counts = np.bincount(flat.ravel(), minlength=n_trees * n_leaves).reshape(n_trees,
                                                                                 n_leaves)
        if self.kernel == "leaf_weighted":
            weights = np.divide(1.0, counts, out=np.zeros(counts.shape), where=counts > 0)
        elif self.kernel == "leaf":
            weights = np.ones(counts.shape)
        else:
            table = ensemble.leaf_values().reshape(ensemble.n_trees, -1)
            weights = np.zeros((n_trees, n_leaves))
            weights[:, :table.shape[1]] = table[self._kernel_trees]
        self.leaf_weights_ = weights
        self._offsets = offsets

        phi = sp.csr_matrix(
            (weights.ravel()[flat.ravel()], flat.ravel(),
             np.arange(0, n * n_trees + 1, n_trees, dtype=np.int64)),
            shape=(n, n_trees * n_leaves))
        targets = labels if self.target == "actual" else self._predicted_targets(model_raw)
        self._train_targets = targets

        coef = self._solve(phi, targets, w, loss, n_out)
        scores = phi @ coef
        alpha = -(w[:, None] * loss.gradient(targets, scores)) / (2.0 * self.l2 * n)
        self.coef_ = coef
        self.representer_weights_ = alpha
        # W as the representer sum: s_e = sum_i r_ie holds exactly with it
        self._representer_coef = np.asarray(phi.T @ alpha)
        self._train_scores = np.asarray(phi @ self._representer_coef)
        self.fidelity_ = self._fidelity(model_raw, loss.link_inverse(scores))

        return self

    def _raw_from_leaves(self, leaf_ids):
        """The model's raw output from the training rows' leaves (no second tree walk)."""
        ensemble = self.ensemble_
        n = leaf_ids.shape[0]
        table = ensemble.leaf_values().reshape(ensemble.n_trees, -1)
        values = table[np.arange(ensemble.n_trees), leaf_ids]
        raw = values.reshape(n, ensemble.n_rounds, ensemble.n_outputs).sum(axis=1)
        if ensemble.averaged:
            raw /= ensemble.n_rounds
        return raw + ensemble.bias

    def _distinct_trees(self, leaf_ids):
        """Tree columns of the feature map: one per round when all outputs share a structure."""
        ensemble = self.ensemble_
        T, C = ensemble.n_rounds, ensemble.n_outputs
        every = np.arange(T * C)
        if C == 1 or self.kernel == "leaf_value":
            return every
        if not (ensemble.averaged or ensemble.source.startswith("catboost")):
            return every
        ids = leaf_ids.reshape(-1, T, C)
        if all(np.array_equal(ids[:, :, k], ids[:, :, 0]) for k in range(1, C)):
            return every[::C]
        return every

    def _predicted_targets(self, raw):
        ensemble = self.ensemble_
        if ensemble.objective == "squared_error":
            return raw[:, :1].copy()
        if raw.shape[1] == 1:  # boosted binary: log-odds
            codes = (raw[:, 0] > 0).astype(np.int64)
        else:
            codes = np.argmax(raw, axis=1)
        if self._n_loss_outputs == 1:
            return codes.astype(np.float64)[:, None]
        return np.eye(self._n_loss_outputs)[codes]

    def _model_outputs(self, raw):
        ensemble = self.ensemble_
        if ensemble.objective == "squared_error" or ensemble.averaged:
            out = raw
        elif ensemble.objective == "logistic":
            out = expit(raw)
        else:
            out = softmax(raw, axis=1)
        if ensemble.objective == "logistic" and out.shape[1] == 2:
            out = out[:, 1:]  # forest: probability of the positive class
        return out

    def _fidelity(self, raw, surrogate):
        model = self._model_outputs(raw).ravel()
        surrogate = surrogate.ravel()
        if np.ptp(model) == 0 or np.ptp(surrogate) == 0:
            return {"pearson": float("nan"), "spearman": float("nan")}
        return {"pearson": float(np.corrcoef(model, surrogate)[0, 1]),
                "spearman": float(spearmanr(model, surrogate).statistic)}

    def _solve(self, phi, targets, w, loss, n_out):
        n, d = phi.shape
        phi_t = phi.T  # CSC view: its matvec needs no conversion
        l2 = float(self.l2)

        def objective(x):
            coef = x.reshape(d, n_out)
            scores = phi @ coef
            value = w @ loss.value(targets, scores) / n + l2 * (x @ x)
            grad = phi_t @ (w[:, None] * loss.gradient(targets, scores)) / n + 2.0 * l2 * coef
            return value, grad.ravel()

        x0 = np.zeros(d * n_out)
        gtol = self.tol * max(np.abs(objective(x0)[1]).max(), 1e-300)
        result = minimize(objective, x0, jac=True, method="L-BFGS-B",
                          options=dict(maxiter=self.max_iter, maxcor=20, ftol=0.0, gtol=gtol))
        self.n_iter_ = int(result.nit)
        if result.nit >= self.max_iter:
            warnings.warn(f"TREX: the surrogate did not converge in max_iter={self.max_iter} "
                          f"iterations; increase max_iter", ConvergenceWarning, stacklevel=3)
        return result.x.reshape(d, n_out)

    # -------------------------------------------------------------- influence
    def _check_per_output(self, per_output):
        super()._check_per_output(per_output)
        if per_output:
            raise ValueError("per_output=True is not available for TREX: its influence is the "
                             "loss change over all outputs at once and does not split by output")

    def _default_test_chunk(self, n_test, top_k):
        # (n_chunk, n_train, outputs) temporaries of the loss difference stay near 16 MB
        return max(1, (1 << 21) // (self.n_train_ * self._n_loss_outputs))

    def _kernel_values(self, X):
        """``k(x_i, x_e)`` for every training row against the rows of X: (n_train, n_X)."""
        leaf_ids = self._apply(X, "X_test")[:, self._kernel_trees]
        weights = self.leaf_weights_[np.arange(leaf_ids.shape[1]), leaf_ids]
        table = _test_table(leaf_ids, weights, self.leaf_weights_.shape[1])
        out = np.zeros((self.n_train_, leaf_ids.shape[0]))
        _kernels.leaf_weight_products(self.train_leaf_ids_, self.leaf_weights_, table, out)
        return out

    def _local_block(self, X, targets, top_k, per_output):
        loss = self._loss
        kernel = np.ascontiguousarray(self._kernel_values(X).T)
        n_test, n_train = kernel.shape
        alpha = self.representer_weights_
        scores = np.empty((n_test, alpha.shape[1]))
        _kernels.ordered_products(kernel, alpha, scores)  # not BLAS: chunk-invariant sums
        contributions = kernel[:, :, None] * alpha[None, :, :]
        removed = loss.value(np.repeat(targets, n_train, axis=0),
                             (scores[:, None, :] - contributions).reshape(-1, alpha.shape[1]))
        influence = removed.reshape(n_test, n_train) - loss.value(targets, scores)[:, None]
        return _full_or_top(influence.T, top_k)

    def _self_rows(self, start, stop, per_output):
        leaf_ids = self.train_leaf_ids_[start:stop]
        weights = self.leaf_weights_[np.arange(leaf_ids.shape[1]), leaf_ids]
        self_kernel = (weights ** 2).sum(axis=1)
        contributions = self_kernel[:, None] * self.representer_weights_[start:stop]
        scores = self._train_scores[start:stop]
        targets = self._train_targets[start:stop]
        influence = self._loss.value(targets, scores - contributions) - self._loss.value(
            targets, scores)
        return influence[:, None]
