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
from ._base import (_full_or_top, _InfluenceExplainer, _is_dask_collection, _numba_threads,
                    _test_table)

__all__ = ["TREX"]

_KERNELS = ("leaf_weighted", "leaf", "leaf_value")
_TARGETS = ("actual", "predicted")
_MODES = ("reference", "exact")
# Newton polish of the surrogate's solution: until the gradient's norm is this fraction of its
# norm at the start (or stops halving).
_POLISH_TARGET = 1e-15
# The authors' log loss clips probabilities to [eps, 1 - eps].
_AUTHORS_EPS = 1e-5


def _newton_polish(gradient, x, inverse_hessian, target, max_steps=6, max_cg=200, cg_tol=1e-3):
    """Newton steps from L-BFGS's answer to the point where the gradient is rounding noise.

    L-BFGS's line search compares objective values, which stop changing in float precision
    when the gradient is still ~1e-8 of its start (the objective is flat to second order), so
    two runs that add the training rows' losses in another order (partitions on a cluster,
    another row order) stop ~1e-8 apart. Newton steps use the gradient only: each solves
    ``H d = -g`` by conjugate gradients preconditioned with L-BFGS's inverse-Hessian estimate
    ``inverse_hessian(v)``, with ``H v`` a difference of gradients (the objective is strictly
    convex: ``l2 > 0``); the polish stops when the gradient's norm is below ``target`` or no
    longer halves (rounding noise). Returns the point with the smallest gradient and the number
    of gradients evaluated.
    """
    eps = np.finfo(np.float64).eps
    g = gradient(x)
    best_x, best_norm = x, np.linalg.norm(g)
    n_gradients = 1
    for _ in range(max_steps):
        if best_norm <= target:
            break
        step = np.zeros_like(x)
        residual = -g
        preconditioned = inverse_hessian(residual)
        direction = preconditioned.copy()
        rz = residual @ preconditioned
        for _ in range(max_cg):
            h = np.sqrt(eps) * (1.0 + np.linalg.norm(x)) / np.linalg.norm(direction)
            h_direction = (gradient(x + h * direction) - g) / h
            n_gradients += 1
            curvature = direction @ h_direction
            if not curvature > 0:
                break
            a = rz / curvature
            step += a * direction
            residual -= a * h_direction
            if np.linalg.norm(residual) <= cg_tol * best_norm:
                break
            preconditioned = inverse_hessian(residual)
            rz_next = residual @ preconditioned
            direction = preconditioned + (rz_next / rz) * direction
            rz = rz_next
        x = x + step
        g = gradient(x)
        n_gradients += 1
        norm = np.linalg.norm(g)
        if not norm < best_norm:
            break
        improved = norm < 0.5 * best_norm
        best_x, best_norm = x, norm
        if not improved:
            break
    return best_x, n_gradients


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
    mode : {"reference", "exact"}, default="reference"
        ``"reference"``: as the authors' code computes it. Regression fits the surrogate to
        ``sum_i (y_i - phi_i W)^2 / N + l2 ||W||^2`` (no 1/2) while the representer weights
        keep ``alpha_i = (y_i - phi_i W) / (2 l2 N)``, so ``W = 2 sum_i alpha_i phi_i`` and the
        test outputs ``s_e`` are half the surrogate's; the binary influence clips the
        probabilities to ``[1e-5, 1 - 1e-5]`` in the log loss; ``target="predicted"`` fits a
        classifier's surrogate to the model's probabilities. ``"exact"``: the representer
        theorem as stated above (``W = sum_i alpha_i phi_i`` for every loss, unclipped
        losses, predicted labels for classifiers). Binary and multiclass agree in both modes
        up to the clipping.

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
                 tol=1e-9, n_jobs=None, verbose=0, mode="reference"):
        self.mode = mode
        self.kernel = kernel
        self.target = target
        self.l2 = l2
        self.max_iter = max_iter
        self.tol = tol
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _check_params(self):
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}; got {self.mode!r}")
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
    def fit(self, model, X, y, sample_weight=None, *, client=None, persist=True):
        """Build the leaf feature map, fit the surrogate and its representer weights.

        Parameters
        ----------
        model : fitted tree model
            Any model :func:`boostkit.trees.from_model` reads, forests included, and models
            trained on Dask (``lightgbm.DaskLGBM*``, ``xgboost.dask``).
        X : array-like, DataFrame, dask DataFrame or dask array of shape (n_train, n_features)
            The model's training data.
        y : array-like, dask Series or dask array of shape (n_train,)
            The training labels (partitioned like X when X is a dask collection).
        sample_weight : array-like, dask Series or dask array of shape (n_train,), optional
            Weights of the surrogate's training loss.
        client : dask.distributed.Client, optional
            Fit on a Dask cluster: every partition keeps its leaf ids and feature map on its
            worker, the surrogate is solved with losses and gradients summed over the
            partitions at every L-BFGS iteration (see :doc:`influence_dask`). Used (the
            default client when omitted) when X is a dask collection.
        persist : bool, default=True
            Must be True with ``client`` (the solver revisits every partition at each
            iteration).

        Returns
        -------
        self
        """
        self._check_params()
        if client is not None or _is_dask_collection(X):
            from .distributed import fit_trex

            return fit_trex(self, model, X, y, sample_weight, client, persist)
        self._dask = None
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
        model_raw = self.ensemble_.raw_from_leaves(leaf_ids)
        self._kernel_trees = self._distinct_trees(leaf_ids)
        self.train_leaf_ids_ = leaf_ids = np.ascontiguousarray(leaf_ids[:, self._kernel_trees])
        n_trees = leaf_ids.shape[1]
        n_leaves = max(ensemble.max_leaves, 1)
        offsets = np.arange(n_trees, dtype=np.int64) * n_leaves
        flat = leaf_ids + offsets
        counts = np.bincount(flat.ravel(), minlength=n_trees * n_leaves).reshape(n_trees,
                                                                                 n_leaves)
        self.leaf_weights_ = self._leaf_weights(counts)
        self._offsets = offsets

        phi = self._feature_map(leaf_ids)
        targets = labels if self.target == "actual" else self._predicted_targets(model_raw)
        self._train_targets = targets
        if self.mode == "reference" and not ensemble.averaged:
            self._check_training_rows(model, X, y, sample_weight)

        phi_t = phi.T  # CSC view: its matvec needs no conversion
        coef = self._solve(lambda c: self._loss_and_gradient(phi, phi_t, targets, w, c),
                           phi.shape[1], n_out)
        scores = phi @ coef
        alpha = -(w[:, None] * loss.gradient(targets, scores)) / (2.0 * self.l2 * n)
        self.coef_ = coef
        self.representer_weights_ = alpha
        # W as the representer sum: s_e = sum_i r_ie holds exactly with it
        self._representer_coef = np.asarray(phi.T @ alpha)
        self._train_scores = np.asarray(phi @ self._representer_coef)
        self.fidelity_ = self._fidelity(model_raw, loss.link_inverse(scores))

        return self

    def _feature_map(self, leaf_ids):
        """phi of rows with these kernel-tree leaf ids: sparse (n, trees * max_leaves)."""
        n, n_trees = leaf_ids.shape
        flat = (leaf_ids + self._offsets).ravel()
        return sp.csr_matrix((self.leaf_weights_.ravel()[flat], flat,
                              np.arange(0, n * n_trees + 1, n_trees, dtype=np.int64)),
                             shape=(n, self.leaf_weights_.size))

    def _loss_and_gradient(self, phi, phi_t, targets, w, coef):
        """The surrogate's summed weighted loss on rows phi, and its gradient in coef."""
        scores = phi @ coef
        return (w @ self._loss.value(targets, scores),
                phi_t @ (w[:, None] * self._loss.gradient(targets, scores)))

    def _leaf_weights(self, counts):
        """Feature-map weight of every leaf from its training-row count (trees x leaves)."""
        if self.kernel == "leaf_weighted":
            return np.divide(1.0, counts, out=np.zeros(counts.shape), where=counts > 0)
        if self.kernel == "leaf":
            return np.ones(counts.shape)
        ensemble = self.ensemble_
        table = ensemble.leaf_values().reshape(ensemble.n_trees, -1)
        weights = np.zeros(counts.shape)
        weights[:, :table.shape[1]] = table[self._kernel_trees]
        return weights

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
        if self.mode == "reference":  # the authors fit to the model's probabilities
            out = self._model_outputs(raw)
            return out if out.shape[1] == self._n_loss_outputs else out[:, 1:]
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

    def _check_training_rows(self, model, X, y, sample_weight):
        """Warn when (X, y) clearly are not the boosted model's training rows (the check of
        the Newton-step methods, as a warning; TREX itself runs on any rows)."""
        from .boostin import BoostIn

        probe = BoostIn(mode="reference", n_jobs=self.n_jobs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                probe.fit(model, X, y, sample_weight)
            except Exception:  # models BoostIn refuses (forests, several leaf steps)
                return
        for warning in caught:
            if "not one Newton step" in str(warning.message):
                warnings.warn(str(warning.message).replace("BoostIn", "TREX"), UserWarning,
                              stacklevel=3)

    def _solve(self, loss_and_gradient, d, n_out):
        """L-BFGS on the surrogate's objective; ``loss_and_gradient(coef)`` returns the summed
        weighted loss over the training rows and its gradient (d, n_out) with respect to coef."""
        n = self.n_train_
        l2 = float(self.l2)
        if self.mode == "reference" and self.ensemble_.objective == "squared_error":
            # the authors' regression objective has no 1/2: the same optimum as ours at l2 / 2
            l2 /= 2

        def objective(x):
            coef = x.reshape(d, n_out)
            loss_sum, gradient_sum = loss_and_gradient(coef)
            value = loss_sum / n + l2 * (x @ x)
            grad = gradient_sum / n + 2.0 * l2 * coef
            return value, grad.ravel()

        x0 = np.zeros(d * n_out)
        start_gradient = objective(x0)[1]
        gtol = self.tol * max(np.abs(start_gradient).max(), 1e-300)
        result = minimize(objective, x0, jac=True, method="L-BFGS-B",
                          options=dict(maxiter=self.max_iter, maxcor=20, ftol=0.0, gtol=gtol))
        self.n_iter_ = int(result.nit)
        if result.nit >= self.max_iter:
            warnings.warn(f"TREX: the surrogate did not converge in max_iter={self.max_iter} "
                          f"iterations; increase max_iter", ConvergenceWarning, stacklevel=3)
            return result.x.reshape(d, n_out)
        # then to rounding noise: the answer no longer depends on the order the rows' losses
        # are added in (1e-8 apart after L-BFGS alone, 1e-14 after the polish)
        x, self._n_polish_gradients = _newton_polish(
            lambda x: objective(x)[1], result.x, result.hess_inv.matvec,
            _POLISH_TARGET * np.linalg.norm(start_gradient))
        return x.reshape(d, n_out)

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
        kernel = np.ascontiguousarray(self._kernel_values(X).T)
        scores = np.empty((kernel.shape[0], self.representer_weights_.shape[1]))
        # not BLAS: each test point's sums in a fixed order, whatever the chunk
        _kernels.ordered_products(kernel, self.representer_weights_, scores)
        return self._influence_from_kernel(kernel, scores, targets, top_k)

    def _influence_from_kernel(self, kernel, scores, targets, top_k):
        """Influence of the training rows in ``kernel`` (n_test, n_rows) on test points whose
        surrogate outputs are ``scores`` (the sum over every training row)."""
        n_test, n_train = kernel.shape
        alpha = self.representer_weights_
        contributions = kernel[:, :, None] * alpha[None, :, :]
        value = self._influence_loss
        removed = value(np.repeat(targets, n_train, axis=0),
                        (scores[:, None, :] - contributions).reshape(-1, alpha.shape[1]))
        influence = removed.reshape(n_test, n_train) - value(targets, scores)[:, None]
        return _full_or_top(influence.T, top_k)

    def _self_rows(self, start, stop, per_output):
        leaf_ids = self.train_leaf_ids_[start:stop]
        weights = self.leaf_weights_[np.arange(leaf_ids.shape[1]), leaf_ids]
        self_kernel = (weights ** 2).sum(axis=1)
        contributions = self_kernel[:, None] * self.representer_weights_[start:stop]
        scores = self._train_scores[start:stop]
        targets = self._train_targets[start:stop]
        value = self._influence_loss
        influence = value(targets, scores - contributions) - value(targets, scores)
        return influence[:, None]

    def _influence_loss(self, targets, raw):
        """The loss of the influence step: the authors' clipped log loss in reference mode."""
        if self.mode == "reference" and self.ensemble_.objective == "logistic":
            p = np.clip(expit(raw), _AUTHORS_EPS, 1.0 - _AUTHORS_EPS)
            return -(targets * np.log(p) + (1.0 - targets) * np.log(1.0 - p)).sum(axis=1)
        return self._loss.value(targets, raw)
