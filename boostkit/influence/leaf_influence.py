"""Fixed-structure influence: LeafInfluence, LeafInfluenceSP and LeafRefit.

All three keep the trees of a fitted boosted model as they are (every training row stays in its
leaf of every tree) and treat each leaf value as one Newton step on the scores before its round:

    v[t, k, l] = -eta * sum_{j in l} w_j g_j / (sum_{j in l} w_j h_j + lambda)

with ``g, h`` the loss derivatives at ``F_{t-1}(x_j)`` (CatBoost MultiClass: the full K x K
Newton system of each leaf, ``theta = -(sum_j w_j J_j + lambda I)^-1 sum_j w_j g_j`` with the
softmax Jacobian ``J``). ``LeafInfluence`` differentiates this recursion with respect to one
row's weight (Sharchilev et al., 2018, as adapted by Brophy et al.,
2023), ``LeafInfluenceSP`` does the same while only following the perturbed row's own score, and
``LeafRefit`` removes the row and re-runs the recursion.
"""

from __future__ import annotations

import numba
import numpy as np

from ..exceptions import UnsupportedModelError
from ..losses import get_loss
from . import _kernels, _leaf_kernels
from ._base import (_chunks, _empty_top, _full_or_top, _InfluenceExplainer, _numba_threads,
                    _test_table, refuse_averaged)
from ._newton import _NewtonView

__all__ = ["LeafInfluence", "LeafInfluenceSP", "LeafRefit"]

_MODES = ("reference", "exact")
# Perturbed rows per kernel call: progress bars move and chunks stay a few seconds at most.
_ROWS_PER_CALL = 256
# Entries of one (perturbed rows x test points) block of the full influence matrix.
_BLOCK_ENTRIES = 1 << 24


class _FixedStructure(_NewtonView, _InfluenceExplainer):
    """Shared fit of the fixed-structure methods: the model's Newton view of its training data."""

    _method = ""

    def fit(self, model, X, y, sample_weight=None):
        """Read the fitted model and check that its leaves are Newton steps on (X, y).

        Parameters
        ----------
        model : fitted boosted tree model
            Any boosted model :func:`boostkit.trees.from_model` reads (LightGBM, XGBoost,
            CatBoost, scikit-learn GradientBoosting / HistGradientBoosting).
        X : array-like or DataFrame of shape (n_train, n_features)
            The model's training data (as it was passed to the model's ``fit``).
        y : array-like of shape (n_train,)
            The training labels.
        sample_weight : array-like of shape (n_train,), optional
            The weights the model was trained with.

        Returns
        -------
        self

        Raises
        ------
        UnsupportedModelError
            For forests and models whose leaves are not one Newton step.
        ValueError
            When the recursion on (X, y, sample_weight) does not reproduce the model's leaf
            values (other training data or weights, bagging, row subsampling).
        """
        self._check_params()
        X = self._fit_inputs(model, X, y, sample_weight)
        ensemble = self.ensemble_
        refuse_averaged(ensemble, self._method)
        if getattr(ensemble, "newton_leaves", True) is False:
            raise UnsupportedModelError(
                f"{self._method} needs leaves that are a single Newton step on the loss, but "
                f"{ensemble.source} was trained with settings that change them (L1, "
                f"max_delta_step, path smoothing, several leaf-estimation steps or ordered "
                f"boosting); refit it without them")
        n, C = self.n_train_, ensemble.n_outputs
        self._n_loss_outputs = C
        self._train_targets = self._targets(y, "y", n)
        self.sample_weight_ = self._sample_weight(sample_weight, n)
        with _numba_threads(self.n_jobs):
            self.train_leaf_ids_ = self._apply(X, "X", progress="leaf ids")
            self._newton_view()
            self._prepare()
        return self

    def _check_params(self):
        mode = getattr(self, "mode", "exact")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}; got {mode!r}")

    def _loss(self):
        return get_loss(self.ensemble_.objective, self._hessian_factor)

    def _raw(self, leaf_ids, table):
        C = self.ensemble_.n_outputs
        n_trees = table.shape[0]
        values = table[np.arange(n_trees)[None, :], leaf_ids]
        return self._bias + values.reshape(leaf_ids.shape[0], -1, C).sum(axis=1)

    def _prepare(self):
        raise NotImplementedError

    def _default_test_chunk(self, n_test, top_k):
        # every chunk of test points re-runs the O(n_train^2 T) propagation: few, large chunks
        return max(1, min(n_test, _BLOCK_ENTRIES // max(1, self.n_train_)))

    def _self_local(self, per_output):
        if getattr(self, "_self_cache", None) is None:  # self_influence sets the threads
            self._self_cache = self._self_rows(0, self.n_train_, True)
        out = self._self_cache
        return out.copy() if per_output else out.sum(axis=1, keepdims=True)


class _Derivative(_FixedStructure):
    """Shared preparation of LeafInfluence and LeafInfluenceSP: per-row, per-tree terms."""

    def _prepare(self):
        ensemble = self.ensemble_
        T, C = ensemble.n_rounds, ensemble.n_outputs
        n, n_trees = self.n_train_, T * C
        eta = ensemble.learning_rate
        loss = self._loss()
        leaf_ids, table = self._leaf_ids_c, self._leaf_table
        own = table[np.arange(n_trees)[None, :], leaf_ids]  # (n, n_trees)
        theta = (own / eta).T  # tree-major
        w = self.sample_weight_
        Y = self._train_targets
        addend = np.empty((n_trees, n))
        multiplier = np.empty((n_trees, n))
        # exact: the chain rule through every softmax output; reference (the authors' code):
        # each output's score moves its own gradient only, by its (factor-scaled) hessian
        coupled = self.mode == "exact" and ensemble.objective == "softmax"
        prob = np.empty((T, n, C)) if coupled else np.empty((0, 0, 0))
        hessian_sums = np.zeros((n_trees, table.shape[1]))
        gradient_sums = np.zeros((n_trees, table.shape[1]))
        raw = np.tile(self._bias, (n, 1))
        for t in range(T):
            g, h = loss.derivatives(Y, raw)
            third = loss.third_derivative(Y, raw)
            p = loss.link_inverse(raw) if coupled else None
            if coupled:
                prob[t] = p
            for k in range(C):
                j = t * C + k
                hessian_sums[j] = np.bincount(leaf_ids[:, j], weights=w * h[:, k],
                                              minlength=table.shape[1])
                gradient_sums[j] = np.bincount(leaf_ids[:, j], weights=w * g[:, k],
                                               minlength=table.shape[1])
                addend[j] = w * (g[:, k] + theta[j] * h[:, k])
                if coupled:
                    factor = self._hessian_factor
                    multiplier[j] = w * p[:, k] * (1.0 + theta[j] * factor
                                                   * (1.0 - 2.0 * p[:, k]))
                else:
                    multiplier[j] = w * (h[:, k] + theta[j] * third[:, k])
            raw = raw + own[:, t * C:(t + 1) * C]
        denominator = hessian_sums + self._l2
        safe = np.where(denominator != 0.0, denominator, 1.0)
        self._scale = np.where(denominator != 0.0, -eta / safe, 0.0)
        # each leaf's Newton step at the model's own scores before its round (the authors'
        # recomputed leaf values)
        self._newton_table = (self._leaf_table if self._full_newton
                              else self._scale * gradient_sums)
        self.leaf_hessian_sums_ = hessian_sums.reshape(T, C, -1)
        self._addend, self._multiplier, self._prob = addend, multiplier, prob
        # the loss gradient the influence is taken at, on the training rows (self influence)
        final = self._raw(leaf_ids, self._gradient_table())
        self._train_gradient = np.ascontiguousarray(loss.gradient(Y, final))
        self._self_cache = None
        if self._full_newton:
            self._prepare_full_newton(theta, own)

    def _gradient_table(self):
        """Leaf values of the final scores the test gradient is taken at: the model's own."""
        return self._leaf_table

    def _prepare_full_newton(self, theta, own):
        """Per-row terms and per-leaf inverse systems of full-Newton (CatBoost MultiClass)
        leaves: ``d theta = -(H + lambda I)^-1 (w_i (g_i + J_i theta) + sum_j w_j (J_j dF_j
        + dJ_j[dF_j] theta))`` with the softmax Jacobian ``J = diag(p) - p p^T``."""
        ensemble = self.ensemble_
        T, C = ensemble.n_rounds, ensemble.n_outputs
        n, n_leaves = self.n_train_, self._leaf_table.shape[1]
        eta = ensemble.learning_rate
        loss = get_loss("softmax", 1.0)
        w, Y = self.sample_weight_, self._train_targets
        leaf_ids = self._leaf_ids_c[:, ::C]  # one structure per round
        prob = np.empty((T, n, C))
        addend = np.empty((T * C, n))
        inverse = np.zeros((T, n_leaves, C, C))
        theta_t = theta
        eye = np.eye(C)
        raw = np.tile(self._bias, (n, 1))
        for t in range(T):
            p = loss.link_inverse(raw)
            prob[t] = p
            g = p - Y
            th = theta_t[t * C:(t + 1) * C].T  # (n, C)
            j_theta = p * (th - (p * th).sum(axis=1, keepdims=True))
            addend[t * C:(t + 1) * C] = (w[:, None] * (g + j_theta)).T
            jacobian = p[:, :, None] * eye[None] - p[:, :, None] * p[:, None, :]
            H = np.zeros((n_leaves, C, C))
            np.add.at(H, leaf_ids[:, t], w[:, None, None] * jacobian)
            for leaf in range(n_leaves):
                system = H[leaf] + self._l2 * eye
                if np.linalg.matrix_rank(system) == C:
                    inverse[t, leaf] = -eta * np.linalg.inv(system)
            raw = raw + own[:, t * C:(t + 1) * C]
        self._full = dict(prob=prob, addend=np.ascontiguousarray(addend), theta=theta_t,
                          inverse=inverse, exact=True)

    def _full_newton_run(self, rows, test_leaf_ids, test_gradient, single_point, local, own,
                         own_leaf):
        f = self._full
        _leaf_kernels.full_newton_influence_rows(
            rows, self._leaf_ids_t, f["addend"], f["prob"], np.ascontiguousarray(f["theta"]),
            self.sample_weight_, f["exact"], f["inverse"], single_point, self._train_gradient,
            test_leaf_ids, test_gradient, local, own, own_leaf)

    def _test_gradient(self, leaf_ids, targets):
        raw = self._raw(leaf_ids, self._gradient_table())
        return np.ascontiguousarray(self._loss().gradient(targets, raw))


_DERIVATIVE_DOC = """
    Parameters
    ----------
    mode : {"reference", "exact"}, default="reference"
        Both differentiate the recursion with the unscaled Newton value ``theta = v / eta``:
        ``d theta = -(w_i (g_i + theta h_i) + sum_j w_j (dg_j + theta dh_j)) / (H + lambda)``.
        ``"reference"``: as the authors' ``tree_influence`` package computes it (checked
        against it to 1e-9 relative; see docs/influence_methods.md): each softmax output's
        score moves only its own gradient, ``dg_k = h_k dF_k``, ``dh_k = h'_k dF_k`` (with the
        library's hessian factor in ``h``), and LeafInfluence's final gradients are taken at
        the leaves recomputed as one Newton step at the model's scores before each round.
        ``"exact"``: the chain rule through every softmax output (``dg_k = p_k (dF_k - sum_c
        p_c dF_c)``, ``dh_k`` with the library's hessian factor) and the final gradients at
        the model's own leaves. The two agree for regression and binary models up to the
        float precision of the library's leaves. Sample weights enter both modes (the
        authors' code has none; unit weights give its numbers). CatBoost MultiClass leaves (a
        full K x K Newton system, outside the authors' code) use the full softmax Jacobian in
        both modes.
    n_jobs : int, optional
        Threads for the numba kernels (None: numba's default, -1: all cores).
    verbose : int, default=0
        1 shows progress bars on the long computations.

    Attributes
    ----------
    ensemble_ : TreeEnsemble
        The parsed model.
    classes_ : ndarray or None
        Class labels of a classifier (None for regression).
    n_train_ : int
        Number of training rows.
    train_leaf_ids_ : ndarray of shape (n_train, T * C)
        Leaf of every training row in every tree (round-major: tree ``t * C + k``).
    leaf_hessian_sums_ : ndarray of shape (T, C, max_leaves)
        ``H``: sample-weighted hessian summed over the training rows of each leaf.
    leaf_deviation_ : float
        Largest gap between the model's leaf values and the recursion's, relative to each
        tree's largest leaf (float precision of the library: about 1e-7 to 1e-5).
    sample_weight_ : ndarray of shape (n_train,)
"""


class LeafInfluence(_Derivative):
    """Influence function of a boosted model with its tree structure held fixed.

    Up-weighting training row ``i`` (``w_i -> w_i (1 + eps)``) moves the leaf values of the
    trees it falls in; that moves the scores of every training row in those leaves, hence their
    gradients and hessians in every later round, hence every later leaf value. LeafInfluence
    (Sharchilev et al., 2018; Brophy et al., 2023) follows this chain exactly for every
    training row through every round and returns
    ``Inf(i, e) = -sum_k dL(y_e, F_T(x_e))/dF_k * dF_T,k(x_e)/d eps``:
    positive = helpful (up-weighting row ``i`` lowers the test loss).

    Cost: O(n_train^2 * T * C) per call of :meth:`local_influence` (and once for
    :meth:`self_influence`), in parallel over training rows with O(n_train) memory per thread.
    It is the slow gold standard :class:`BoostIn` approximates; :class:`LeafInfluenceSP` is
    its cheap single-point variant. Boosted models only; leaf values must be one Newton step
    (``fit`` checks that the recursion reproduces them). The bias (start score) is held fixed.
    {doc}
    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_diabetes
    >>> from boostkit.influence import LeafInfluence
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = lgb.LGBMRegressor(n_estimators=10, num_leaves=5, verbose=-1).fit(X, y)
    >>> explainer = LeafInfluence(mode="exact").fit(model, X, y)
    >>> explainer.local_influence(X[:3], y[:3]).shape
    (442, 3)
    >>> explainer.self_influence().shape
    (442,)
    """

    _method = "LeafInfluence"

    def __init__(self, mode="reference", n_jobs=None, verbose=0):
        self.mode = mode
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _gradient_table(self):
        # reference: the authors take the test gradient at the leaf values recomputed as one
        # Newton step at the model's scores before each round
        return self._newton_table if self.mode == "reference" else self._leaf_table

    def _run(self, start, stop, test_leaf_ids, test_gradient, per_output, desc=None):
        """Local (stop - start, n_out, n_test) and self (stop - start, C) influence (self
        always per output: it is cached for both forms)."""
        C = self.ensemble_.n_outputs
        n_out = C if per_output else 1
        n_test = test_leaf_ids.shape[0]
        local = np.empty((stop - start, n_out, n_test))
        own = np.empty((stop - start, C))
        chunks = _chunks(stop - start, max(_ROWS_PER_CALL, 4 * numba.get_num_threads()))
        if desc:
            chunks = self._progress(chunks, desc)
        for a, b in chunks:
            rows = np.arange(start + a, start + b, dtype=np.int64)
            if self._full_newton:
                self._full_newton_run(rows, test_leaf_ids, test_gradient, False, local[a:b],
                                      own[a:b], np.empty((0, 0)))
                continue
            _leaf_kernels.leaf_influence_rows(
                rows, self._leaf_ids_t, self._addend, self._multiplier, self._prob,
                self._scale, self._train_gradient, test_leaf_ids, test_gradient,
                local[a:b], own[a:b])
        return local, own

    def _local_block(self, X, targets, top_k, per_output):
        leaf_ids = np.ascontiguousarray(self._apply(X, "X_test"))
        gradient = self._test_gradient(leaf_ids, targets)
        local, own = self._run(0, self.n_train_, leaf_ids, gradient, per_output,
                               "LeafInfluence")
        if getattr(self, "_self_cache", None) is None:
            self._self_cache = own
        if top_k is not None:
            return _full_or_top(local[:, 0], top_k)
        return local.transpose(0, 2, 1)

    def _self_rows(self, start, stop, per_output):
        empty_ids = np.zeros((0, self._leaf_ids_t.shape[0]), dtype=self._leaf_ids_t.dtype)
        _, own = self._run(start, stop, empty_ids, np.zeros((0, self.ensemble_.n_outputs)),
                           True, "self influence")
        return own if per_output else own.sum(axis=1, keepdims=True)


class LeafInfluenceSP(_Derivative):
    """Single-point LeafInfluence: only the up-weighted row's own score derivative is followed.

    Like :class:`LeafInfluence`, but when row ``i`` is up-weighted the scores of the other
    training rows are held fixed (``dF(x_j)/d eps = 0`` for ``j != i``), so in every tree only
    the leaf of row ``i`` moves: ``dv = -eta * (w_i (g_i + theta h_i) + w_i (dg_i + theta
    dh_i)) / (H + lambda)``. Each row costs O(T * C), the local influence
    O(n_train * n_test * T * C) (leaf-matched products, as in :class:`BoostIn`).
    ``Inf(i, e) = -sum_k dL(y_e, F_T(x_e))/dF_k * dF_T,k(x_e)/d eps``; positive = helpful.
    {doc}
    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_breast_cancer
    >>> from boostkit.influence import LeafInfluenceSP
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1).fit(X, y)
    >>> explainer = LeafInfluenceSP().fit(model, X, y)
    >>> explainer.local_influence(X[:3], y[:3]).shape
    (569, 3)
    >>> explainer.local_influence(X[:3], y[:3], top_k=5).helpful_indices.shape
    (5, 3)
    """

    _method = "LeafInfluenceSP"

    def __init__(self, mode="reference", n_jobs=None, verbose=0):
        self.mode = mode
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _prepare(self):
        super()._prepare()
        n, n_trees = self._leaf_ids_c.shape
        C = self.ensemble_.n_outputs
        self._leaf_derivatives = np.empty((n, n_trees))
        own = np.empty((n, C))
        if self._full_newton:
            self._full_newton_run(np.arange(n, dtype=np.int64), np.zeros((0, n_trees), np.uint8),
                                  np.zeros((0, C)), True, np.empty((n, 1, 0)), own,
                                  self._leaf_derivatives)
        else:
            _leaf_kernels.single_point_rows(self._leaf_ids_c, self._addend, self._multiplier,
                                            self._prob, self._scale, C, self._train_gradient,
                                            self._leaf_derivatives, own)
        self._self_cache = own
        # Inf = -G . dv: the negated derivatives feed the leaf-matched product kernels
        self._row_values = -self._leaf_derivatives

    def leaf_derivatives(self):
        """d v / d eps of the leaf of every training row in every tree.

        Returns
        -------
        ndarray of shape (n_train, T, C)
        """
        ensemble = self.ensemble_
        return self._leaf_derivatives.reshape(self.n_train_, ensemble.n_rounds,
                                              ensemble.n_outputs).copy()

    def _default_test_chunk(self, n_test, top_k):
        return 128

    def _local_block(self, X, targets, top_k, per_output):
        ensemble = self.ensemble_
        leaf_ids = self._apply(X, "X_test")
        gradient = self._test_gradient(np.ascontiguousarray(leaf_ids), targets)
        values = gradient[:, ensemble.tree_output]  # (n_test, n_trees)
        table = _test_table(leaf_ids, values, self._leaf_table.shape[1])
        n_test = leaf_ids.shape[0]
        if top_k is None:
            n_out = ensemble.n_outputs if per_output else 1
            out = np.zeros((self.n_train_, n_out, n_test))
            _kernels.leaf_products(self.train_leaf_ids_, self._row_values, table,
                                   ensemble.n_outputs, out)
            return out.transpose(0, 2, 1)
        result = _empty_top(top_k, n_test)
        n_blocks = max(1, min(self.n_train_, 4 * numba.get_num_threads()))
        _kernels.leaf_products_top_k(self.train_leaf_ids_, self._row_values, table, top_k,
                                     n_blocks, *result)
        return result

    def _self_rows(self, start, stop, per_output):
        out = self._self_cache[start:stop]
        return out.copy() if per_output else out.sum(axis=1, keepdims=True)

    def _self_local(self, per_output):
        return self._self_rows(0, self.n_train_, per_output)


class LeafRefit(_FixedStructure):
    """Leave-one-out with the tree structure fixed: remove a row, recompute every leaf value.

    For every training row ``i``: set its weight to 0 and re-run the boosting recursion over
    all rounds with the trees' structure unchanged (each leaf one Newton step on the new scores
    before its round; an emptied leaf gets value 0), then
    ``Inf(i, e) = L(y_e, F_without_i(x_e)) - L(y_e, F_all(x_e))``, where ``F_all`` is the same
    recursion with every row (it reproduces the model's own leaves to float precision).
    Positive = helpful: removing the row raises the test loss. The bias is held fixed.

    Cost: O(n_train^2 * T * C) per call of :meth:`local_influence`, in parallel over the
    removed rows. Boosted models only; leaf values must be one Newton step (``fit`` checks).
    Influence is a change of the whole loss, so there is no ``per_output`` split.

    Parameters
    ----------
    n_jobs : int, optional
        Threads for the numba kernels (None: numba's default, -1: all cores).
    verbose : int, default=0
        1 shows progress bars on the long computations.

    Attributes
    ----------
    ensemble_ : TreeEnsemble
        The parsed model.
    classes_ : ndarray or None
        Class labels of a classifier (None for regression).
    n_train_ : int
        Number of training rows.
    train_leaf_ids_ : ndarray of shape (n_train, T * C)
        Leaf of every training row in every tree (round-major: tree ``t * C + k``).
    leaf_values_ : ndarray of shape (T, C, max_leaves)
        The recursion's leaf values with every training row (``F_all``).
    leaf_deviation_ : float
        Largest gap between the model's leaf values and the recursion's, relative to each
        tree's largest leaf.
    sample_weight_ : ndarray of shape (n_train,)

    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_breast_cancer
    >>> from boostkit.influence import LeafRefit
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = lgb.LGBMClassifier(n_estimators=10, num_leaves=5, verbose=-1).fit(X, y)
    >>> explainer = LeafRefit().fit(model, X, y)
    >>> explainer.local_influence(X[:2], y[:2]).shape
    (569, 2)
    >>> explainer.self_influence().shape
    (569,)
    """

    _method = "LeafRefit"

    def __init__(self, n_jobs=None, verbose=0):
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _prepare(self):
        ensemble = self.ensemble_
        self.leaf_values_ = self._refit_table.reshape(ensemble.n_rounds, ensemble.n_outputs,
                                                      -1).copy()
        self._self_cache = None

    def _no_per_output(self, per_output):
        if per_output:
            raise ValueError("per_output: LeafRefit's influence is a change of the whole loss "
                             "and has no per-output split; use per_output=False")

    def _run(self, rows, test_leaf_ids, targets=None, base=None, desc=None):
        """(influence on the test points (rows, n_test), refit raw scores of the removed rows
        themselves (rows, C)); the test points' refit scores live one chunk of rows at a time.
        """
        ensemble = self.ensemble_
        C = ensemble.n_outputs
        n_test = test_leaf_ids.shape[0]
        influence = np.empty((rows.shape[0], n_test))
        self_raw = np.empty((rows.shape[0], C))
        size = max(_ROWS_PER_CALL, 4 * numba.get_num_threads())
        chunks = _chunks(rows.shape[0], size)
        if desc:
            chunks = self._progress(chunks, desc)
        test_raw = np.empty((min(size, rows.shape[0]), n_test, C))
        for a, b in chunks:
            raw = test_raw[:b - a]
            if self._full_newton:
                _leaf_kernels.refit_full_newton_rows(
                    rows[a:b], self._leaf_ids_t, self._bias, self._train_targets,
                    self.sample_weight_, ensemble.learning_rate, self._l2,
                    self._leaf_table.shape[1], test_leaf_ids, raw, self_raw[a:b])
            else:
                _leaf_kernels.refit_rows(
                    rows[a:b], self._leaf_ids_t, self._bias, self._train_targets,
                    self.sample_weight_, self._code, self._hessian_factor,
                    ensemble.learning_rate, self._l2, self._leaf_table.shape[1],
                    test_leaf_ids, raw, self_raw[a:b])
            if n_test:
                flat = np.broadcast_to(targets, raw.shape).reshape(-1, C)
                losses = self._loss().value(flat, raw.reshape(-1, C)).reshape(b - a, n_test)
                influence[a:b] = losses - base[None, :]
        return influence, self_raw

    def _local_block(self, X, targets, top_k, per_output):
        self._no_per_output(per_output)
        leaf_ids = np.ascontiguousarray(self._apply(X, "X_test"))
        base = self._loss().value(targets, self._raw(leaf_ids, self._refit_table))
        rows = np.arange(self.n_train_, dtype=np.int64)
        influence, self_raw = self._run(rows, leaf_ids, targets, base, "LeafRefit")
        if getattr(self, "_self_cache", None) is None:
            self._self_cache = self._self_from(rows, self_raw)
        if top_k is not None:
            return _full_or_top(influence, top_k)
        return influence[:, :, None]

    def _self_from(self, rows, self_raw):
        targets = self._train_targets[rows]
        base = self._loss().value(targets, self._raw(self._leaf_ids_c[rows],
                                                     self._refit_table))
        return (self._loss().value(targets, self_raw) - base)[:, None]

    def _self_rows(self, start, stop, per_output):
        self._no_per_output(per_output)
        rows = np.arange(start, stop, dtype=np.int64)
        empty_ids = np.zeros((0, self._leaf_ids_c.shape[1]), dtype=self._leaf_ids_c.dtype)
        _, self_raw = self._run(rows, empty_ids, desc="self influence")
        return self._self_from(rows, self_raw)

    def _self_local(self, per_output):
        self._no_per_output(per_output)
        if getattr(self, "_self_cache", None) is None:  # self_influence sets the threads
            self._self_cache = self._self_rows(0, self.n_train_, False)
        return self._self_cache.copy()


LeafInfluence.__doc__ = LeafInfluence.__doc__.format(doc=_DERIVATIVE_DOC)
LeafInfluenceSP.__doc__ = LeafInfluenceSP.__doc__.format(doc=_DERIVATIVE_DOC)
