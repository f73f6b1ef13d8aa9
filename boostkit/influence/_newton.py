"""The Newton view of a boosted model: its leaves as one Newton step per round on the training
data, with each library's own conventions made explicit.

The methods that differentiate the boosting recursion (BoostIn in its exact mode, LeafInfluence,
LeafInfluenceSP, LeafRefit) need the bias, leaf values, hessian factor and ``lambda`` for which

    v[t, k, l] = -eta * sum_{j in l} w_j g_j / (sum_{j in l} w_j h_j + lambda)

holds on the training rows. Libraries store something close but not equal: LightGBM's
``boost_from_average`` folds the start score into the first round's leaves, CatBoost scales
``l2_leaf_reg`` by the mean sample weight, CatBoost MultiClass solves a full K x K Newton system
per leaf. :class:`_NewtonView` undoes these and checks the result by re-running the recursion.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..exceptions import UnsupportedModelError
from ..losses import OBJECTIVE_CODES, get_loss
from . import _leaf_kernels

# Largest gap between the model's leaf values and the recursion's, relative to each leaf's own
# scale (see ``_leaf_gap``): float32 libraries reproduce to ~1e-6; bagging, other weights or
# other training rows give >= 1e-2.
_LEAF_TOLERANCE = 1e-3

def _initial_score(objective, targets, weights):
    """LightGBM's ``boost_from_average`` start score from the weighted labels."""
    mean = (weights[:, None] * targets).sum(axis=0) / weights.sum()
    if objective == "squared_error":
        return mean
    mean = np.clip(mean, 1e-15, 1 - 1e-15)
    if objective == "logistic":
        return np.log(mean) - np.log1p(-mean)
    return np.log(mean)


def authors_start_score(ensemble, target_mean):
    """The start score the authors' parser takes out of a LightGBM model's first round (None
    for other libraries): the label mean (regression), its log-odds (binary) or the log class
    frequencies (multiclass), from ``target_mean``, the unweighted mean of the encoded training
    targets (n_outputs,), as ``tree_influence`` computes it."""
    if not ensemble.source.startswith("lightgbm"):
        return None
    mean = np.asarray(target_mean, dtype=np.float64)
    if ensemble.objective == "squared_error":
        return mean
    if ensemble.objective == "logistic":
        return np.log(mean / (1.0 - mean))
    return np.log(mean)


class _NewtonView:
    """Mixin for explainers with ``ensemble_``, ``train_leaf_ids_``, ``_train_targets``,
    ``sample_weight_`` and a ``_method`` name: :meth:`_newton_view` sets ``_bias``,
    ``_leaf_table``, ``_hessian_factor``, ``_l2``, ``_full_newton``, ``_refit_table`` and
    ``leaf_deviation_``."""

    def _newton_view(self, on_gap="raise", rounds=None):
        """Bias, leaf table, hessian factor and lambda of the recursion, checked against the
        model's own leaves (``on_gap``: "raise" a ValueError or "warn" when they differ).

        ``rounds`` limits the check to the first rounds (the refit table then covers only
        those): enough to tell other rows, labels, weights or bagging, which move the first
        leaves already, at a fraction of the cost."""
        ensemble = self.ensemble_
        T, C = ensemble.n_rounds, ensemble.n_outputs
        n_trees, n_leaves = T * C, max(ensemble.max_leaves, 1)
        checked = n_trees if rounds is None else min(rounds, T) * C
        self._leaf_table = ensemble.leaf_values().reshape(n_trees, n_leaves).copy()
        self._bias = ensemble.bias.astype(np.float64).copy()
        self._hessian_factor = float(ensemble.hessian_factor)
        self._l2 = float(ensemble.l2)
        if ensemble.source.startswith("catboost"):
            # CatBoost scales l2_leaf_reg by the mean sample weight (held fixed here)
            self._l2 *= float(self.sample_weight_.mean())
        self._leaf_ids_c = np.ascontiguousarray(self.train_leaf_ids_)
        self._leaf_ids_t = np.ascontiguousarray(self._leaf_ids_c.T)
        # CatBoost MultiClass: each leaf solves the full K x K Newton system of the round
        self._full_newton = (ensemble.source.startswith("catboost")
                             and ensemble.objective == "softmax")
        if self._full_newton:
            ids = self._leaf_ids_t.reshape(T, C, -1)
            if (ids != ids[:, :1]).any():
                raise UnsupportedModelError(
                    f"{self._method}: this CatBoost MultiClass model's trees of one round do "
                    f"not share their structure; only symmetric (oblivious) trees are "
                    f"supported")
        self._code = OBJECTIVE_CODES[ensemble.objective]
        candidates = [None]
        if ensemble.source.startswith("lightgbm"):
            # boost_from_average folds the start score into the first round's leaves
            candidates.append(_initial_score(ensemble.objective, self._train_targets,
                                             self.sample_weight_))
        best = None
        for start in candidates:
            bias, table = self._bias.copy(), self._leaf_table.copy()
            if start is not None:
                bias = bias + start
                table[:C] -= start[:, None]
            refit = self._refit_values(-1, bias, checked)
            gap = self._leaf_gap(refit, table[:checked], bias)
            if best is None or gap < best[0]:
                best = (gap, bias, table, refit)
        gap, self._bias, self._leaf_table, self._refit_table = best
        self.leaf_deviation_ = gap
        if gap > _LEAF_TOLERANCE:
            message = (
                f"{self._method}: the model's leaf values are not one Newton step on the "
                f"given training data (largest gap {gap:.2g} of a leaf's own scale); pass "
                f"the X, y and sample_weight the model was trained with, and a model trained "
                f"without bagging / row subsampling and without an early-stopping validation "
                f"split (it trains on a subset of X)")
            if on_gap == "raise":
                raise ValueError(message)
            warnings.warn(message + "; the influence is computed on the rows given",
                          UserWarning, stacklevel=4)

    def _refit_values(self, removed, bias=None, n_trees=None):
        """The recursion's leaf values without row ``removed`` (-1: none), for the first
        ``n_trees`` trees (all by default)."""
        ensemble = self.ensemble_
        bias = self._bias if bias is None else bias
        n, C = self.n_train_, ensemble.n_outputs
        out = np.empty_like(self._leaf_table[:n_trees])
        leaf_ids_t = self._leaf_ids_t[:n_trees]
        if self._full_newton:
            _leaf_kernels.refit_full_newton(
                leaf_ids_t, bias, self._train_targets, self.sample_weight_, removed,
                ensemble.learning_rate, self._l2, np.empty((C, n)), out)
            return out
        _leaf_kernels.refit_leaf_values(
            leaf_ids_t, bias, self._train_targets, self.sample_weight_, removed,
            self._code, self._hessian_factor, ensemble.learning_rate, self._l2,
            np.empty((C, n)), np.empty((2, C, out.shape[1])), out)
        return out

    def _leaf_gap(self, refit, table, bias):
        """Largest ``|refit - v|`` over the leaves training rows reach, relative to the leaf's
        own scale ``max(|v|, eta * sum |w g| / (sum w h + lambda))``, over the first
        ``len(table)`` trees: the second term is what
        the library's float rounding of the gradient sums moves a leaf by (times its
        precision), so late, converged leaves of 1e-8 next to first leaves of 1 pass, while
        other rows, weights or bagging move leaves by a sizeable part of that scale."""
        ensemble = self.ensemble_
        n_trees, n_leaves = table.shape
        C = ensemble.n_outputs
        ids = self._leaf_ids_c[:, :n_trees]
        flat = (ids + np.arange(n_trees) * n_leaves).ravel()
        used = np.bincount(flat, minlength=table.size).reshape(table.shape) > 0
        loss = get_loss(ensemble.objective, self._hessian_factor)
        w = self.sample_weight_
        raw = np.tile(bias, (ids.shape[0], 1))
        gradient_sums = np.zeros(table.shape)
        hessian_sums = np.zeros(table.shape)
        for t in range(n_trees // max(C, 1)):
            g, h = loss.derivatives(self._train_targets, raw)
            for k in range(C):
                j = t * C + k
                gradient_sums[j] = np.bincount(ids[:, j], weights=w * np.abs(g[:, k]),
                                               minlength=n_leaves)
                hessian_sums[j] = np.bincount(ids[:, j], weights=w * h[:, k],
                                              minlength=n_leaves)
                raw[:, k] += table[j][ids[:, j]]  # one tree at a time: O(n) memory
        denominator = hessian_sums + self._l2
        step = ensemble.learning_rate * gradient_sums / np.where(denominator > 0, denominator,
                                                                 np.inf)
        scale = np.maximum(np.abs(table), step)
        gap = np.where(used, np.abs(refit - table), 0.0) / np.maximum(scale, 1e-300)
        return float(gap.max()) if gap.size else 0.0
