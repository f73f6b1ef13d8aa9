"""Cheap baselines for influence: Random, Target, InputSim, LeafSim, TreeSim and Loss.

They follow the comparison set of Brophy et al. (2023) and the definitions of the authors'
``tree-influence`` package where those make sense (differences are stated per class). A real
influence method has to beat them: Random is the floor of every ranking measure, Loss the
floor of noise detection, and the similarity baselines show how much of a method's ranking is
plain "nearby rows with the same label".

Label sign, shared by InputSim, LeafSim and TreeSim: a classifier's training row counts +1
when it has the test point's label and -1 otherwise. For regression a row counts +1 when its
target lies on the same side of the model's prediction ``F_e`` as the test target ``y_e``
(it pulls the prediction towards the truth), -1 otherwise: with ``over = F_e >= y_e``, the
sign is +1 when ``(y_i >= F_e) != over``.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _kernels
from ._newton import authors_start_score
from .boostin import _boost_from_average
from ._base import _full_or_top, _InfluenceExplainer, _test_table
from .retraining import _model_loss

__all__ = ["Random", "Target", "InputSim", "LeafSim", "TreeSim", "Loss"]

_MEASURES = ("euclidean", "cosine", "dot")
_MODES = ("reference", "exact")


# ---------------------------------------------------------------------------- helpers
def _label_codes(targets):
    """Class code (or regression value) per row from the (n, C) loss targets."""
    return targets[:, 0] if targets.shape[1] == 1 else np.argmax(targets, axis=1).astype(float)


def _similarity(A, B, measure, mode="exact"):
    """(n_A, n_B) similarity of rows: 1 / (1 + euclidean distance), cosine, or dot product;
    ``mode="reference"``: the authors' ``1 / distance`` (the largest float for a distance of
    0, their ``nan_to_num`` of infinity) and cosine with no guard for all-zero rows."""
    if mode == "reference" and measure == "euclidean":
        with np.errstate(divide="ignore"):
            return np.nan_to_num(1.0 / cdist(A, B, "euclidean"))
    if mode == "reference" and measure == "cosine":
        norms = np.linalg.norm(A, axis=1)[:, None] * np.linalg.norm(B, axis=1)[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            return _dot(A, B) / norms
    if measure == "euclidean":
        return 1.0 / (1.0 + cdist(A, B, "euclidean"))
    if measure == "cosine":
        def unit(M):
            norms = np.linalg.norm(M, axis=1, keepdims=True)
            return np.divide(M, norms, out=np.zeros_like(M), where=norms > 0)

        return _dot(unit(A), unit(B))
    return _dot(A, B)


def _dot(A, B):
    # einsum's own loops, not BLAS: the same value for a row whatever the chunk of test points
    return np.einsum("if,ef->ie", A, B)


class _Baseline(_InfluenceExplainer):
    """Fit plumbing of the baselines (not public)."""

    # defaults of the base's thread / progress settings for the baselines without them
    n_jobs = None
    verbose = 0

    def _check_params(self):
        mode = getattr(self, "mode", "reference")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}; got {mode!r}")

    def _check_per_output(self, per_output):
        super()._check_per_output(per_output)
        if per_output:
            raise ValueError(f"per_output=True is not available for {type(self).__name__}: "
                             f"it scores a training row once for all outputs")

    def fit(self, model, X, y, sample_weight=None):
        """Read the fitted model and remember what the baseline needs of the training data.

        Parameters
        ----------
        model : fitted tree model
            Any model :func:`boostkit.trees.from_model` reads, forests included.
        X : array-like or DataFrame of shape (n_train, n_features)
            The model's training data.
        y : array-like of shape (n_train,)
            The training labels.
        sample_weight : array-like of shape (n_train,), optional
            Checked and stored as ``sample_weight_``; no baseline uses it (they score rows,
            not weighted losses).

        Returns
        -------
        self
        """
        self._check_params()
        X = self._fit_inputs(model, X, y, sample_weight)
        self._n_loss_outputs = self.ensemble_.n_outputs
        self._train_targets = self._targets(y, "y", self.n_train_)
        self._train_labels = _label_codes(self._train_targets)
        self.sample_weight_ = self._sample_weight(sample_weight, self.n_train_)
        self._boost_from_average = _boost_from_average(model)
        self._fit_baseline(X)
        return self

    def _fit_baseline(self, X):
        pass

    def _label_sign(self, X, targets):
        """(n_train, n_test) +1 / -1 label agreement (see the module docstring)."""
        test = _label_codes(targets)
        if self.classes_ is not None:
            return np.where(self._train_labels[:, None] == test[None, :], 1.0, -1.0)
        prediction = self.ensemble_.predict_raw(X)[:, 0]
        over = prediction >= test
        above = self._train_labels[:, None] >= prediction[None, :]
        return np.where(above != over[None, :], 1.0, -1.0)

    def _self_rows(self, start, stop, per_output):
        return self._self_values()[start:stop, None]

    def _self_local(self, per_output):
        return self._self_values()[:, None]

    def _no_self_influence(self, reason):
        check_is_fitted(self, "ensemble_")
        raise NotImplementedError(f"{type(self).__name__} has no self influence: {reason}")


class _SeededBaseline(_Baseline):
    """Random draws that depend only on ``random_state`` and the test point itself."""

    def _check_params(self):
        super()._check_params()
        state = self.random_state
        if state is not None and not isinstance(state, np.random.RandomState) and (
                not isinstance(state, (int, np.integer)) or isinstance(state, bool)
                or state < 0):
            raise ValueError(f"random_state must be None, a non-negative integer or a "
                             f"numpy RandomState; got {state!r}")

    def _fit_baseline(self, X):
        state = self.random_state
        self.seed_ = (int(state) if isinstance(state, (int, np.integer))
                      else int(check_random_state(state).randint(0, 2 ** 31 - 1)))

    def _test_generators(self, X, targets):
        """One generator per test point, seeded by ``seed_`` and the point's features and label,
        so a point gets the same draws whatever else is in the batch or chunk."""
        features = self.ensemble_.validate_X(X)
        generators = []
        for row, target in zip(features, targets):
            digest = hashlib.blake2b(row.tobytes() + np.ascontiguousarray(target).tobytes(),
                                     digest_size=8).digest()
            key = int.from_bytes(digest, "little")
            generators.append(np.random.default_rng([self.seed_, 1, key]))
        return generators


# ---------------------------------------------------------------------------- Random
class Random(_SeededBaseline):
    """Random influence: standard normal values, the floor of every ranking measure.

    ``local_influence`` draws an independent standard normal value for every (training row,
    test point) pair, seeded by ``random_state`` and the test point's own features and label:
    the same test point always gets the same column, whatever else is in the batch.
    ``self_influence`` draws one standard normal value per training row.

    Parameters
    ----------
    random_state : int, RandomState or None, default=0
        Seed (None: a fresh one at every ``fit``, kept in ``seed_``).

    Attributes
    ----------
    seed_ : int
        The seed in use.
    n_train_ : int

    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_breast_cancer
    >>> from boostkit.influence import Random
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(X, y)
    >>> a = Random(random_state=3).fit(model, X, y).local_influence(X[:2], y[:2])
    >>> b = Random(random_state=3).fit(model, X, y).local_influence(X[:2], y[:2])
    >>> a.shape, bool((a == b).all())
    ((569, 2), True)
    """

    def __init__(self, random_state=0):
        self.random_state = random_state

    def _local_block(self, X, targets, top_k, per_output):
        columns = [rng.standard_normal(self.n_train_)
                   for rng in self._test_generators(X, targets)]
        return _full_or_top(np.stack(columns, axis=1), top_k)

    def _self_values(self):
        return np.random.default_rng([self.seed_, 0]).standard_normal(self.n_train_)


# ---------------------------------------------------------------------------- Target
class Target(_SeededBaseline):
    """Label-agreement influence: rows with the test point's label help, the others hurt.

    Classifiers: a training row with the test point's label gets a uniform random value in
    ``[0, 1)``, any other row one in ``[-1, 0)`` (seeded as in :class:`Random`, so ties
    within a label are broken at random), as in the authors' package.

    Regression: ``Inf(i, e) = 1 / |y_i - y_e| + n_e`` with one normal draw ``n_e`` of
    standard deviation ``std_i |y_i - y_e|`` per test point (infinite for equal targets), as
    in the authors' package (``mode="reference"``); ``mode="exact"`` gives the deterministic
    ``m_e - |y_i - y_e|`` with ``m_e`` the median of ``|y_i - y_e|`` over the training rows.

    ``mode="reference"`` draws as the authors' package does: test point ``e`` (its position
    in the call of :meth:`local_influence`) gets ``numpy.random.default_rng(random_state + e
    + 1)``; pass ``random_state=1`` for their default. ``mode="exact"`` seeds each test point
    by its own features and label, so it gets the same draws whatever else is in the batch.

    There is no self influence: every row has its own label, so it would be pure noise
    (use :class:`Random`).

    Parameters
    ----------
    random_state : int, RandomState or None, default=0
    mode : {"reference", "exact"}, default="reference"

    Attributes
    ----------
    seed_ : int
    n_train_ : int

    Examples
    --------
    >>> import lightgbm as lgb
    >>> import numpy as np
    >>> from sklearn.datasets import load_breast_cancer
    >>> from boostkit.influence import Target
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(X, y)
    >>> influence = Target().fit(model, X, y).local_influence(X[:1], y[:1])
    >>> bool(((influence[:, 0] >= 0) == (y == y[0])).all())
    True
    """

    def __init__(self, random_state=0, mode="reference"):
        self.random_state = random_state
        self.mode = mode

    def _default_test_chunk(self, n_test, top_k):
        # reference: one block, since the draws depend on each point's position in the call
        return n_test if self.mode == "reference" else super()._default_test_chunk(n_test,
                                                                                   top_k)

    def local_influence(self, X_test, y_test, *, top_k=None, per_output=False, client=None,
                        chunk_size=None):
        if self.mode == "reference":  # positions in the call: one block, one process
            client, chunk_size = None, None
        return super().local_influence(X_test, y_test, top_k=top_k, per_output=per_output,
                                       client=client, chunk_size=chunk_size)

    local_influence.__doc__ = _Baseline.local_influence.__doc__

    def _reference_block(self, targets):
        test = _label_codes(targets)
        train = self._train_labels
        influence = np.empty((self.n_train_, test.shape[0]))
        for e, target in enumerate(test):
            rng = np.random.default_rng(self.seed_ + e + 1)
            if self.classes_ is None:
                distance = np.abs(train - target)
                with np.errstate(divide="ignore"):
                    influence[:, e] = 1.0 / distance + rng.normal(0.0, np.std(distance))
                continue
            same = train == target
            influence[same, e] = rng.uniform(0.0, 1.0, size=int(same.sum()))
            influence[~same, e] = rng.uniform(-1.0, 0.0, size=int((~same).sum()))
        return influence

    def _local_block(self, X, targets, top_k, per_output):
        if self.mode == "reference":
            return _full_or_top(self._reference_block(targets), top_k)
        test = _label_codes(targets)
        if self.classes_ is None:
            distance = np.abs(self._train_labels[:, None] - test[None, :])
            influence = np.median(distance, axis=0)[None, :] - distance
        else:
            same = self._train_labels[:, None] == test[None, :]
            draws = np.stack([rng.random(self.n_train_)
                              for rng in self._test_generators(X, targets)], axis=1)
            influence = np.where(same, draws, draws - 1.0)
        return _full_or_top(influence, top_k)

    def self_influence(self, *, per_output=False, client=None, chunk_size=None):
        """Not defined: every training row has its own label (see the class docstring)."""
        self._no_self_influence("every training row shares its own label, so the score "
                                "would be pure noise; use Random for a random ranking")


# ---------------------------------------------------------------------------- InputSim
class InputSim(_Baseline):
    """Input-space similarity times the label sign.

    ``Inf(i, e) = sim(z_i, z_e) * s_ie`` with the label sign ``s_ie`` of the module
    docstring and the rows ``z`` compared by

    - ``"euclidean"``: ``1 / ||z_i - z_e||`` (reference; the largest float for a duplicate of
      the test point, the authors' ``nan_to_num`` of infinity) or ``1 / (1 + ||z_i - z_e||)``
      (exact: finite, and still decreasing in the distance);
    - ``"cosine"``: cosine of the rows (reference: NaN for an all-zero row; exact: 0);
    - ``"dot"``: their dot product.

    ``mode="reference"`` (the authors' package): ``z`` are the raw features as given.
    ``mode="exact"``: ``z`` are the features standardised with the training rows' mean and
    standard deviation (NaN-safe; constant columns keep scale 1; a missing value becomes the
    column mean, i.e. 0), so that no feature dominates by its unit. Categorical columns enter
    as the model's category codes in both.

    There is no self influence (a row is most similar to itself: the same value for every
    row with ``"euclidean"``).

    Parameters
    ----------
    measure : {"euclidean", "cosine", "dot"}, default="euclidean"
    n_jobs : int, optional
        Threads for the numba kernels (None: numba's default, -1: all cores).
    verbose : int, default=0
        1 shows a progress bar over chunks of test points.
    mode : {"reference", "exact"}, default="reference"
        The authors' definition, or the variant without their infinities (above).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    scale_ : ndarray of shape (n_features,)
    n_train_ : int

    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_breast_cancer
    >>> from boostkit.influence import InputSim
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(X, y)
    >>> top = InputSim(mode="exact").fit(model, X, y).local_influence(X[:2], y[:2], top_k=1)
    >>> top.helpful_indices[0].tolist(), top.helpful_values[0].tolist()
    ([0, 1], [1.0, 1.0])
    """

    def __init__(self, measure="euclidean", n_jobs=None, verbose=0, mode="reference"):
        self.measure = measure
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.mode = mode

    def _check_params(self):
        super()._check_params()
        if self.measure not in _MEASURES:
            raise ValueError(f"measure must be one of {_MEASURES}; got {self.measure!r}")

    def _features(self, X):
        """Input columns as float64: numbers exactly as given (no float32 rounding even for
        models that split in float32), categories as the model's codes."""
        if not isinstance(X, pd.DataFrame):
            return np.asarray(X, dtype=np.float64)
        out = self.ensemble_.validate_X(X).copy()
        for j in range(X.shape[1]):
            column = X.iloc[:, j]
            if (pd.api.types.is_numeric_dtype(column.dtype)
                    and not isinstance(column.dtype, pd.CategoricalDtype)
                    and self.ensemble_.categories[j] is None):
                out[:, j] = column.to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def _fit_baseline(self, X):
        features = self._features(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            mean = np.nanmean(features, axis=0)
            scale = np.nanstd(features, axis=0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.mean_, self.scale_ = mean, scale
        self._train_features = self._standardise(features)

    def _standardise(self, features):
        if self.mode == "reference":
            return features
        z = (features - self.mean_) / self.scale_
        return np.where(np.isnan(z), 0.0, z)

    def _default_test_chunk(self, n_test, top_k):
        return max(1, min(256, (1 << 22) // max(1, self.n_train_)))

    def _local_block(self, X, targets, top_k, per_output):
        z = self._standardise(self._features(X))
        similarity = _similarity(self._train_features, z, self.measure, self.mode)
        return _full_or_top(similarity * self._label_sign(X, targets), top_k)

    def self_influence(self, *, per_output=False, client=None, chunk_size=None):
        """Not defined: every row is most similar to itself (see the class docstring)."""
        self._no_self_influence("every training row is most similar to itself, the same "
                                "value for every row; use Loss or Random for a global ranking")


# ---------------------------------------------------------------------------- LeafSim
class LeafSim(_Baseline):
    """Tree-kernel similarity times the label sign.

    ``k(x_i, x_e) = sum_trees [same leaf] / count(leaf)^2`` with ``count`` the number of
    training rows in the leaf: the dot product of the 1/count-weighted leaf one-hot features,
    i.e. TREX's ``leaf_weighted`` kernel (the authors' LeafSim weights by ``1 / count``, not
    squared; the ranking of rows that share the same leaves is the same). Then
    ``Inf(i, e) = k(x_i, x_e) * s_ie`` with the label sign of the module docstring. Rows in no
    leaf of the test point get 0.

    Self influence is ``k(x_i, x_i) = sum_trees 1 / count^2``: rows the model isolated in
    small leaves come first (often outliers or mislabeled rows).

    Parameters
    ----------
    n_jobs : int, optional
        Threads for the numba kernels (None: numba's default, -1: all cores).
    verbose : int, default=0
        1 shows a progress bar over chunks of test points.

    Attributes
    ----------
    train_leaf_ids_ : ndarray of shape (n_train, n_trees)
    leaf_weights_ : ndarray of shape (n_trees, max_leaves)
        ``1 / count`` of every leaf (0 for a leaf no training row reaches).
    n_train_ : int

    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_breast_cancer
    >>> from boostkit.influence import LeafSim
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(X, y)
    >>> explainer = LeafSim().fit(model, X, y)
    >>> explainer.local_influence(X[:2], y[:2]).shape, explainer.self_influence().shape
    ((569, 2), (569,))
    """

    def __init__(self, n_jobs=None, verbose=0):
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit_baseline(self, X):
        self.train_leaf_ids_ = leaf_ids = self._apply(X, "X")
        n_trees = leaf_ids.shape[1]
        n_leaves = max(self.ensemble_.max_leaves, 1)
        flat = leaf_ids.astype(np.int64) + np.arange(n_trees, dtype=np.int64) * n_leaves
        counts = np.bincount(flat.ravel(), minlength=n_trees * n_leaves).reshape(n_trees,
                                                                                 n_leaves)
        self.leaf_weights_ = np.divide(1.0, counts, out=np.zeros(counts.shape),
                                       where=counts > 0)
        own = self.leaf_weights_[np.arange(n_trees), leaf_ids]
        self._self_kernel = (own ** 2).sum(axis=1)

    def _default_test_chunk(self, n_test, top_k):
        return 128

    def _local_block(self, X, targets, top_k, per_output):
        leaf_ids = self._apply(X, "X_test")
        weights = self.leaf_weights_[np.arange(leaf_ids.shape[1]), leaf_ids]
        table = _test_table(leaf_ids, weights, self.leaf_weights_.shape[1])
        kernel = np.zeros((self.n_train_, leaf_ids.shape[0]))
        _kernels.leaf_weight_products(self.train_leaf_ids_, self.leaf_weights_, table, kernel)
        return _full_or_top(kernel * self._label_sign(X, targets), top_k)

    def _self_values(self):
        return self._self_kernel.copy()


# ---------------------------------------------------------------------------- TreeSim
class TreeSim(_Baseline):
    """Similarity of the rows' tree outputs times the label sign.

    Every row is represented by the vector of leaf values it reaches, one per tree
    (``z_j(x) = value of x's leaf in tree j``, as the library stores it): rows the model
    treats alike are close even when they share no leaf. Then
    ``Inf(i, e) = sim(z_i, z_e) * s_ie`` with the label sign of the module docstring and the
    measures and modes of :class:`InputSim`. ``mode="reference"`` takes the tree outputs as the
    authors' parser has them (a LightGBM model's ``boost_from_average`` start score moved out
    of the first round's leaves); ``mode="exact"`` takes the leaf values as the library
    stores them. This is the authors' TreeSim with their ``"to_"`` (tree output)
    representation; their default
    (weighted leaf path, dot product) is :class:`LeafSim`. With the signed measures
    (``"cosine"``, ``"dot"``) a row whose trees push the other way counts with the opposite
    sign.

    There is no self influence (every row is most similar to itself).

    Parameters
    ----------
    measure : {"euclidean", "cosine", "dot"}, default="euclidean"
    n_jobs : int, optional
        Threads for the numba kernels (None: numba's default, -1: all cores).
    verbose : int, default=0
        1 shows a progress bar over chunks of test points.
    mode : {"reference", "exact"}, default="reference"
        The authors' tree outputs and measures, or the stored leaf values and finite measures
        (above).

    Attributes
    ----------
    train_outputs_ : ndarray of shape (n_train, n_trees)
        ``z`` of every training row.
    n_train_ : int

    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_diabetes
    >>> from boostkit.influence import TreeSim
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, verbose=-1).fit(X, y)
    >>> TreeSim(measure="cosine").fit(model, X, y).local_influence(X[:3], y[:3]).shape
    (442, 3)
    """

    def __init__(self, measure="euclidean", n_jobs=None, verbose=0, mode="reference"):
        self.measure = measure
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.mode = mode

    def _check_params(self):
        super()._check_params()
        if self.measure not in _MEASURES:
            raise ValueError(f"measure must be one of {_MEASURES}; got {self.measure!r}")

    def _fit_baseline(self, X):
        ensemble = self.ensemble_
        self._leaf_table = ensemble.leaf_values().reshape(ensemble.n_trees, -1)
        start = authors_start_score(ensemble, self._train_targets.mean(axis=0))
        if self.mode == "reference" and start is not None and self._boost_from_average:
            self._leaf_table = self._leaf_table.copy()
            self._leaf_table[:ensemble.n_outputs] -= start[:, None]
        self.train_outputs_ = self._outputs(self._apply(X, "X"))

    def _outputs(self, leaf_ids):
        return self._leaf_table[np.arange(leaf_ids.shape[1]), leaf_ids]

    def _default_test_chunk(self, n_test, top_k):
        return max(1, min(256, (1 << 22) // max(1, self.n_train_)))

    def _local_block(self, X, targets, top_k, per_output):
        z = self._outputs(self._apply(X, "X_test"))
        similarity = _similarity(self.train_outputs_, z, self.measure, self.mode)
        return _full_or_top(similarity * self._label_sign(X, targets), top_k)

    def self_influence(self, *, per_output=False, client=None, chunk_size=None):
        """Not defined: every row is most similar to itself (see the class docstring)."""
        self._no_self_influence("every training row is most similar to itself; use LeafSim, "
                                "Loss or Random for a global ranking")


# ---------------------------------------------------------------------------- Loss
class Loss(_Baseline):
    """Global baseline: a training row's own loss under the model (higher = more suspect).

    ``self_influence()[i] = L(y_i, F(x_i))``, the model's own loss (squared error
    ``0.5 (y - F)^2``, log loss for classifiers; not sample-weighted). Rows the model fits
    worst come first: the natural first guess for mislabeled rows, and the floor a
    self-influence method has to beat at noise detection. There is no local influence.

    Attributes
    ----------
    n_train_ : int

    Examples
    --------
    >>> import lightgbm as lgb
    >>> import numpy as np
    >>> from sklearn.datasets import load_breast_cancer
    >>> from boostkit.influence import Loss
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(X, y)
    >>> losses = Loss().fit(model, X, y).self_influence()
    >>> p = model.predict_proba(X)[np.arange(len(y)), y]
    >>> bool(np.allclose(losses, -np.log(p)))
    True
    """

    def _fit_baseline(self, X):
        raw = self.ensemble_.predict_raw(X)
        self._train_losses = _model_loss(self.ensemble_, raw, self._train_targets)

    def local_influence(self, X_test, y_test, *, top_k=None, per_output=False, client=None,
                        chunk_size=None):
        """Not defined: Loss is a global method; use :meth:`self_influence`."""
        raise NotImplementedError("Loss is a global method: it scores each training row by "
                                  "its own loss and has no local influence; use "
                                  "self_influence()")

    def _self_values(self):
        return self._train_losses.copy()
