"""BoostIn: TracIn for gradient-boosted trees, with the leaf values as the parameters."""

from __future__ import annotations

import numba
import numpy as np

from ..exceptions import UnsupportedModelError
from ..losses import OBJECTIVE_CODES
from . import _kernels
from ._base import (_empty_top, _InfluenceExplainer, _is_dask_collection, _numba_threads,
                    _test_table, refuse_averaged)
from ._newton import _NewtonView, authors_start_score

__all__ = ["BoostIn"]

_MODES = ("reference", "exact")
# Reference mode's training-row check re-runs this many first rounds of the recursion: other
# rows, labels, weights or bagging move the first leaves already (the whole recursion made the
# check 3/4 of the fit).
_CHECKED_ROUNDS = 5



def _boost_from_average(model):
    """Whether a LightGBM model folded its start score into the first round's leaves."""
    params = model.get_params() if hasattr(model, "get_params") else {}
    booster = getattr(model, "booster_", model)
    params = {**getattr(booster, "params", {}), **params}
    value = params.get("boost_from_average", True)
    return str(value).lower() not in ("false", "0")


class BoostIn(_NewtonView, _InfluenceExplainer):
    """Training-row influence for a fitted gradient-boosted tree ensemble (Brophy et al., 2023).

    Every boosting round ``t`` and output ``k`` fit one tree whose leaves are a Newton step on
    the loss at the raw score ``F_{t-1}`` before that round. BoostIn traces how up-weighting a
    training row ``i`` moves the leaf it falls in, and how that move changes a test point's
    loss. With ``g, h`` the (sample-weighted) gradient and hessian at ``F_{t-1}``, ``H`` the
    sum of ``h`` over the training rows in the leaf, ``lambda`` the L2 leaf regularisation and
    ``eta`` the learning rate:

    - leaf derivative ``D_i = eta * (g_i + v * h_i) / (H + lambda)``
    - influence ``Inf(i, e) = sum_{t,k} D_i * G_e * [leaf(x_i) == leaf(x_e)]`` with ``G_e``
      the test point's loss gradient at its own ``F_{t-1}``.

    Positive influence = helpful (up-weighting the row lowers the test loss), negative =
    harmful. Self influence (the diagonal) ranks rows that look mislabeled.

    Works for every boosted model :func:`boostkit.trees.from_model` reads (LightGBM, XGBoost,
    CatBoost, scikit-learn GradientBoosting and HistGradientBoosting) with squared error,
    logistic or softmax loss. Forests are refused (their trees are not Newton steps); use
    :class:`TREX` for them.

    Parameters
    ----------
    mode : {"reference", "exact"}, default="reference"
        ``"reference"``: the published method, as the authors' ``tree_influence`` package
        computes it (checked against it to 1e-9 relative; see docs/influence.md): the stored,
        learning-rate-scaled leaf value ``v`` in the leaf derivative, and the model's bias and
        leaves as the authors' parser splits them (a LightGBM model's ``boost_from_average``
        start score, the mean label / its log-odds, moves out of the first round's leaves into
        the bias). It reads any boosted model and warns when the leaves are clearly not one
        Newton step on the given rows (other rows or labels than the model's training data).
        ``"exact"``: ``-D_i`` is the exact derivative of each leaf value with respect to row
        ``i``'s weight. It uses the unscaled Newton value ``theta = v / eta``, and the leaves
        as the Newton steps they are (LightGBM's start score moved into the bias as above;
        CatBoost's ``lambda`` is ``l2_leaf_reg`` times the mean sample weight); the result is
        checked by re-running the recursion on the training rows, and a model whose leaves
        are not one Newton step on them (bagging, an early-stopping validation split, other
        weights) raises ``ValueError``, as does CatBoost MultiClass (a full K x K Newton step
        per leaf) with ``UnsupportedModelError``.
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
    sample_weight_ : ndarray of shape (n_train,)

    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_breast_cancer
    >>> from boostkit.influence import BoostIn
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1).fit(X, y)
    >>> explainer = BoostIn().fit(model, X, y)
    >>> explainer.local_influence(X[:3], y[:3]).shape
    (569, 3)
    >>> top = explainer.local_influence(X[:3], y[:3], top_k=5)
    >>> top.helpful_indices.shape, bool((top.helpful_values[0] >= top.helpful_values[1]).all())
    ((5, 3), True)
    >>> explainer.self_influence().shape
    (569,)
    """

    _method = "BoostIn"

    def __init__(self, mode="reference", n_jobs=None, verbose=0):
        self.mode = mode
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -------------------------------------------------------------- fit
    def fit(self, model, X, y, sample_weight=None, *, client=None, persist=True):
        """Read the fitted model and trace its training rows through every round.

        Parameters
        ----------
        model : fitted boosted tree model
            Any boosted model :func:`boostkit.trees.from_model` reads, and models trained on
            Dask (``lightgbm.DaskLGBM*``, ``xgboost.dask`` estimators or the dict
            ``xgboost.dask.train`` returns).
        X : array-like, DataFrame, dask DataFrame or dask array of shape (n_train, n_features)
            The model's training data (as it was passed to the model's ``fit``).
        y : array-like, dask Series or dask array of shape (n_train,)
            The training labels (partitioned like X when X is a dask collection).
        sample_weight : array-like, dask Series or dask array of shape (n_train,), optional
            The weights the model was trained with; they scale ``g`` and ``h``.
        client : dask.distributed.Client, optional
            Fit on a Dask cluster: the training rows stay on the workers, partition by
            partition, and the queries return dask collections or merged top-k lists (see
            :doc:`influence_dask`). Used (the default client when omitted) when X is a dask
            collection. Only ``mode="reference"``.
        persist : bool, default=True
            With ``client``: keep every partition's leaf ids and leaf derivatives in the
            workers' memory (``n_train * trees * (8 + 1)`` bytes in all), or recompute them
            from the partition's rows at every query (memory per worker bounded by the
            partition size).

        Returns
        -------
        self
        """
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}; got {self.mode!r}")
        if client is not None or _is_dask_collection(X):
            from .distributed import fit_boostin

            return fit_boostin(self, model, X, y, sample_weight, client, persist)
        self._dask = None
        X = self._fit_inputs(model, X, y, sample_weight)
        self._boost_from_average = _boost_from_average(model)
        with _numba_threads(self.n_jobs):
            self._fit_rounds(X, y, sample_weight)
        return self

    def _check_training_rows(self):
        """Reference mode: warn when (X, y, sample_weight) clearly are not the rows the model
        was trained on (the check of ``mode="exact"``, as a warning, on the first rounds)."""
        try:
            self._newton_view(on_gap="warn", rounds=_CHECKED_ROUNDS)
        except UnsupportedModelError:
            pass
        # only the check was wanted: drop the recursion's arrays (n x trees each)
        for name in ("_leaf_ids_c", "_leaf_ids_t", "_refit_table"):
            self.__dict__.pop(name, None)

    def _check_boosted(self):
        ensemble = self.ensemble_
        refuse_averaged(ensemble, "BoostIn")
        if getattr(ensemble, "newton_leaves", True) is False:
            raise UnsupportedModelError(
                f"BoostIn needs leaves that are a single Newton step on the loss, but "
                f"{ensemble.source} was trained with leaf_estimation_iterations != 1 (several "
                f"gradient steps per leaf); refit it with leaf_estimation_iterations=1"
            )

    def _stored_view(self, target_mean):
        """The library's stored leaf values, bias, hessian factor and lambda, as the published
        method reads them (mode='reference'): LightGBM's boost_from_average start score, which
        the authors' parser computes from ``target_mean`` (the unweighted mean of the encoded
        training targets), moves from the first round's leaves into the bias."""
        ensemble = self.ensemble_
        self._leaf_table = ensemble.leaf_values().reshape(ensemble.n_trees,
                                                          max(ensemble.max_leaves, 1)).copy()
        self._bias = ensemble.bias.astype(np.float64).copy()
        self._hessian_factor, self._l2 = ensemble.hessian_factor, ensemble.l2
        start = authors_start_score(ensemble, target_mean) if self._boost_from_average else None
        if start is not None:
            self._bias = self._bias + start
            self._leaf_table[:ensemble.n_outputs] -= start[:, None]

    def _fit_rounds(self, X, y, sample_weight):
        ensemble = self.ensemble_
        self._check_boosted()
        T, C = ensemble.n_rounds, ensemble.n_outputs
        n_trees, n_leaves, n = T * C, max(ensemble.max_leaves, 1), self.n_train_
        self._n_loss_outputs = C
        self._train_targets = self._targets(y, "y", n)
        self.sample_weight_ = self._sample_weight(sample_weight, n)
        self.train_leaf_ids_ = leaf_ids = self._apply(X, "X", progress="leaf ids")
        exact = self.mode == "exact"
        if exact:
            # the recursion the leaves really are (start score, CatBoost's lambda), checked
            self._newton_view()
            if self._full_newton:
                raise UnsupportedModelError(
                    "BoostIn(mode='exact') differentiates a diagonal Newton step, but CatBoost "
                    "MultiClass leaves solve a full K x K Newton system; use mode='reference' "
                    "(the published approximation) or LeafInfluence")
        else:  # the stored values, split into bias and leaves as the authors' parser does
            self._check_training_rows()
            self._stored_view(self._train_targets.mean(axis=0))

        code = OBJECTIVE_CODES[ensemble.objective]
        hessian_sums = np.empty((n_trees, n_leaves))
        # fixed blocks (the sums do not depend on the thread count), enough to balance threads
        n_blocks = int(min(64, max(1, n // 256)))
        # the gradients of the first walk are the second pass's input, in the output's place
        self._train_derivatives = np.empty((n, n_trees))
        _kernels.leaf_hessian_sums(leaf_ids, self._leaf_table, self._bias, self._train_targets,
                                   self.sample_weight_, code, self._hessian_factor, n_blocks,
                                   hessian_sums, self._train_derivatives)
        self._hessian_sums = hessian_sums
        self.leaf_hessian_sums_ = hessian_sums.reshape(T, C, n_leaves)
        self._self_influence = np.empty((n, C))
        _kernels.boostin_rows(leaf_ids, self._leaf_table, self._train_targets,
                              self.sample_weight_, hessian_sums, ensemble.learning_rate,
                              self._l2, exact, code, self._hessian_factor,
                              self._train_derivatives, self._self_influence)

    def _walk_rounds(self, leaf_ids, targets, hessian=True):
        ensemble = self.ensemble_
        shape = leaf_ids.shape
        own, g = np.empty(shape), np.empty(shape)
        h = np.empty(shape) if hessian else np.empty((0, 0))
        _kernels.round_derivatives(leaf_ids, self._leaf_table, self._bias,
                                   np.ascontiguousarray(targets, dtype=np.float64),
                                   OBJECTIVE_CODES[ensemble.objective],
                                   self._hessian_factor, own, g, h)
        return own, g, h

    def leaf_derivatives(self):
        """Leaf derivative ``D`` of every training row in every tree.

        Returns
        -------
        ndarray of shape (n_train, T, C)
            Fitted on dask training data: a lazy dask array, one chunk per partition.
        """
        if self._dask is not None:
            return self._dask.leaf_derivatives(self)
        ensemble = self.ensemble_
        return self._train_derivatives.reshape(self.n_train_, ensemble.n_rounds,
                                               ensemble.n_outputs).copy()

    # -------------------------------------------------------------- influence
    def _default_test_chunk(self, n_test, top_k):
        # one tree's (leaves, chunk) slice of the test table stays in cache
        return 128

    def _local_block(self, X, targets, top_k, per_output):
        ensemble = self.ensemble_
        leaf_ids = self._apply(X, "X_test")
        _, gradients, _ = self._walk_rounds(leaf_ids, targets, hessian=False)
        table = _test_table(leaf_ids, gradients, self._leaf_table.shape[1])
        n_test = leaf_ids.shape[0]
        if top_k is None:
            n_out = ensemble.n_outputs if per_output else 1
            out = np.zeros((self.n_train_, n_out, n_test))
            _kernels.leaf_products(self.train_leaf_ids_, self._train_derivatives, table,
                                   ensemble.n_outputs, out)
            if n_out == 1:  # (n_train, 1, n_test) and (n_train, n_test, 1): the same memory
                return out.reshape(self.n_train_, n_test, 1)
            return out.transpose(0, 2, 1)
        result = _empty_top(top_k, n_test)
        n_blocks = max(1, min(self.n_train_, 4 * numba.get_num_threads()))
        _kernels.leaf_products_top_k(self.train_leaf_ids_, self._train_derivatives, table,
                                     top_k, n_blocks, *result)
        return result

    def _self_rows(self, start, stop, per_output):
        # computed with the leaf derivatives in fit, by the same per-row kernel
        out = self._self_influence[start:stop]
        return out.copy() if per_output else out.sum(axis=1, keepdims=True)

    def _self_local(self, per_output):
        return self._self_rows(0, self.n_train_, per_output)
