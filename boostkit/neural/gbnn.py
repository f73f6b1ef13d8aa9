"""Gradient-boosted neural networks: a hidden layer grown block by block by gradient boosting.

Emami & Martinez-Munoz, "Sequential Training of Neural Networks with Gradient Boosting",
IEEE Access 11, 2023. A one-hidden-layer network ``F(x) = b + sum_u w_u act(a_u . x + c_u)`` is
an additive expansion, so it can be trained like gradient boosting: each step fits a block of
``units_per_step`` new hidden units to the residuals of the current model (regression) or to the
log-loss of its scores plus the block (classification), takes an exact least-squares or Newton
step along it, and shrinks the step by ``learning_rate``. Early stopping on a validation split
picks the number of units. The blocks merge into one ordinary network, exported by ``to_mlp``.
"""

import numbers

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from tqdm.auto import tqdm

from ..losses import Logistic, Softmax, SquaredError
from ._block import fit_block, hidden_activations, initial_block
from ._kernels import softmax_derivatives, softmax_mean_loss

__all__ = ["GBNNRegressor", "GBNNClassifier"]

ACTIVATIONS = ("logistic", "tanh", "relu")
# Early stopping "auto" switches on above this many samples (as HistGradientBoosting does).
AUTO_EARLY_STOPPING_MIN_SAMPLES = 10_000
# Fewest validation (and training) rows early stopping uses for regression; with fewer the
# model trains on all rows for max_iter steps.
MIN_VALIDATION_ROWS = 2
# Pseudo-residuals below this RMS are a perfect fit: boosting stops.
_RESIDUAL_FLOOR = 1e-12
# Halvings of a step that would increase the training loss before it is dropped.
_MAX_STEP_HALVINGS = 30


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_sample_weight(sample_weight, n_samples):
    if sample_weight is None:
        return np.ones(n_samples)
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    if sample_weight.ndim == 0:
        return np.full(n_samples, float(sample_weight))
    if sample_weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected ({n_samples},)"
        )
    if not np.all(np.isfinite(sample_weight)):
        raise ValueError("sample_weight must contain only finite values")
    if np.any(sample_weight < 0):
        raise ValueError("sample_weight must be non-negative")
    if sample_weight.sum() <= 0:
        raise ValueError("sample_weight must not be all zero: its sum must be positive")
    return np.ascontiguousarray(sample_weight)


def _weighted_mean(values, weight):
    return (values * weight[:, None]).sum(axis=0) / weight.sum()


class _BaseGBNN(BaseEstimator):
    """Shared boosting loop; subclasses define the loss, targets and output space."""

    def __init__(self, *, max_iter, units_per_step, learning_rate, activation, alpha,
                 subsample, step_max_iter, early_stopping, validation_fraction,
                 n_iter_no_change, tol, warm_start, random_state, verbose):
        self.max_iter = max_iter
        self.units_per_step = units_per_step
        self.learning_rate = learning_rate
        self.activation = activation
        self.alpha = alpha
        self.subsample = subsample
        self.step_max_iter = step_max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ validation
    def _check_params(self):
        name = type(self).__name__
        if not (self.units_per_step == "auto" or (_is_int(self.units_per_step)
                                                   and self.units_per_step >= 1)):
            raise ValueError(
                f"{name}: units_per_step must be 'auto' or an integer >= 1; "
                f"got {self.units_per_step!r}"
            )
        for param in ("max_iter", "step_max_iter", "n_iter_no_change"):
            value = getattr(self, param)
            if not _is_int(value) or value < 1:
                raise ValueError(
                    f"{name}: {param} must be an integer >= 1; got {value!r}"
                )
        if not _is_real(self.learning_rate) or not self.learning_rate > 0:
            raise ValueError(
                f"{name}: learning_rate must be a float > 0; got {self.learning_rate!r}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"{name}: activation must be one of {ACTIVATIONS}; got {self.activation!r}"
            )
        if not _is_real(self.alpha) or not self.alpha >= 0:
            raise ValueError(f"{name}: alpha must be a float >= 0; got {self.alpha!r}")
        if not _is_real(self.subsample) or not 0 < self.subsample <= 1:
            raise ValueError(
                f"{name}: subsample must be a float in (0, 1]; got {self.subsample!r}"
            )
        if not (self.early_stopping == "auto" or isinstance(self.early_stopping, bool)):
            raise ValueError(
                f"{name}: early_stopping must be 'auto', True or False; "
                f"got {self.early_stopping!r}"
            )
        if not _is_real(self.validation_fraction) or not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"{name}: validation_fraction must be a float in (0, 1); "
                f"got {self.validation_fraction!r}"
            )
        if not _is_real(self.tol) or not self.tol >= 0:
            raise ValueError(f"{name}: tol must be a float >= 0; got {self.tol!r}")
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise ValueError(f"{name}: warm_start must be True or False; got {self.warm_start!r}")
        if not _is_int(self.verbose) and not isinstance(self.verbose, bool):
            raise ValueError(f"{name}: verbose must be an integer; got {self.verbose!r}")

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y, sample_weight=None):
        """Grow the hidden layer by ``max_iter`` boosting steps (fewer with early stopping).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (dense; standardise them, as for any MLP).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the training rows.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_params()
        warm = bool(self.warm_start) and hasattr(self, "n_iter_")
        X, y = validate_data(
            self, X, y, dtype=np.float64, order="C", reset=not warm,
            multi_output=self._multi_output, y_numeric=not self._is_classifier_model,
        )
        if not np.all(np.isfinite(X)):
            raise ValueError("Input X contains NaN or infinity.")
        n_samples = X.shape[0]
        sample_weight = _check_sample_weight(sample_weight, n_samples)
        if warm and self.max_iter < self.n_iter_:
            raise ValueError(
                f"max_iter={self.max_iter} must be >= n_iter_={self.n_iter_} "
                "when warm_start is True"
            )
        if not warm:
            self._random_seed = int(
                check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            )
        target = self._encode_targets(y, fit_encoding=not warm)
        J = self._resolved_units_per_step(self._n_raw_outputs(target))
        if warm and (J, self.activation) != self._network_shape:
            raise ValueError(
                "units_per_step and activation cannot change when warm_start is True: the "
                f"fitted network has units_per_step={self._network_shape[0]} and "
                f"activation={self._network_shape[1]!r}"
            )

        early_stopping = self._uses_early_stopping(target)
        if early_stopping:
            stratify = target if self._is_classifier_model else None
            train_idx, val_idx = train_test_split(
                np.arange(n_samples), test_size=self.validation_fraction,
                stratify=stratify, random_state=self._random_seed,
            )
            train_idx.sort()
            val_idx.sort()
            # Validation rows that all weigh zero (or training rows that do) give no curve.
            if not (sample_weight[val_idx].sum() > 0 and sample_weight[train_idx].sum() > 0):
                early_stopping = False
        if not early_stopping:
            train_idx = np.arange(n_samples)
            val_idx = np.arange(0)
        X_train = np.ascontiguousarray(X[train_idx])
        t_train = target[train_idx]
        w_train = np.ascontiguousarray(sample_weight[train_idx])
        if w_train.sum() <= 0:
            raise ValueError("sample_weight of the training rows must not be all zero")
        X_val, t_val, w_val = X[val_idx], target[val_idx], sample_weight[val_idx]

        if not warm:
            self._init_output_space(t_train, w_train)
            self.baseline_prediction_ = self._baseline(t_train, w_train)
        # The loss's own targets (one-hot for softmax), built once for every step.
        t_train, t_val = self._loss_targets(t_train), self._loss_targets(t_val)
        if not warm:
            blocks = []
            self.train_score_ = np.empty(0)
            self.validation_score_ = np.empty(0)
            start = 0
            raw_train = np.tile(self.baseline_prediction_, (X_train.shape[0], 1))
            raw_val = np.tile(self.baseline_prediction_, (X_val.shape[0], 1))
            train_scores = [self._score_raw(t_train, raw_train, w_train)]
            val_scores = [self._score_raw(t_val, raw_val, w_val)] if early_stopping else []
        else:
            blocks = self._blocks_as_list()
            start = self.n_iter_
            raw_train = self._raw_from_blocks(X_train, start)
            raw_val = self._raw_from_blocks(X_val, start)
            train_scores = list(self.train_score_)
            val_scores = list(self.validation_score_)
        loss = self._loss
        stopped_early = False
        n_train = X_train.shape[0]
        n_rows = max(1, int(round(self.subsample * n_train)))

        progress = tqdm(total=self.max_iter, initial=start, disable=not self.verbose,
                        desc=type(self).__name__, unit="step")
        try:
            for step in range(start, self.max_iter):
                rng = np.random.default_rng([self._random_seed, step])
                if n_rows < n_train:
                    rows = np.sort(rng.permutation(n_train)[:n_rows])
                else:
                    rows = np.arange(n_train, dtype=np.int64)
                gradient, hessian = self._derivatives(t_train, raw_train)
                residual = np.negative(gradient, out=gradient)
                if n_rows < n_train:
                    w_rows, residual_rows = w_train[rows], residual[rows]
                else:
                    w_rows, residual_rows = w_train, residual
                rms = np.sqrt(w_rows @ np.einsum("ij,ij->i", residual_rows, residual_rows)
                              / (w_rows.sum() * residual.shape[1]))
                if not rms > _RESIDUAL_FLOOR:
                    break
                block_targets, offset = self._block_problem(t_train, raw_train, residual, rms)
                theta0 = initial_block(rng, X.shape[1], J, residual.shape[1], self.activation)
                A, c, V, b, _ = fit_block(X_train, block_targets, offset, w_train, rows, theta0,
                                          J, self.activation, loss.name, self.alpha,
                                          self.step_max_iter)
                h = hidden_activations(X_train, A, c, self.activation) @ V + b
                numerator = w_train @ (residual * h)
                denominator = w_train @ (hessian * h * h)
                rho = np.divide(numerator, denominator, out=np.zeros_like(numerator),
                                where=denominator > 1e-300)
                rho, raw_train, score = self._safeguarded_step(rho, h, t_train, raw_train,
                                                               w_train, train_scores[-1])
                blocks.append((A, c, V, b, rho, float(self.learning_rate)))
                train_scores.append(score)
                progress.update(1)
                if early_stopping:
                    h_val = hidden_activations(X_val, A, c, self.activation) @ V + b
                    raw_val += float(self.learning_rate) * rho * h_val
                    val_scores.append(self._score_raw(t_val, raw_val, w_val))
                    if self._should_stop(val_scores):
                        stopped_early = True
                        break
        finally:
            progress.close()
        if stopped_early:
            # Keep the network of the best validation score: the size the curve picked.
            best = int(np.argmax(val_scores))
            blocks, train_scores, val_scores = (
                blocks[:best], train_scores[:best + 1], val_scores[:best + 1])
        self._store_blocks(blocks, X.shape[1], self.baseline_prediction_.shape[0])
        self.train_score_ = np.asarray(train_scores)
        self.validation_score_ = np.asarray(val_scores)
        return self

    def _safeguarded_step(self, rho, h, t_train, raw_train, w_train, previous_score):
        """Apply the shrunk step; halve it while it would increase the training loss.

        The exact least-squares step never does (for learning_rate <= 2); a diagonal Newton
        step can overshoot (softmax with many classes, learning_rate near 1), and halving is
        the usual guard. Returns (step, new raw scores, new training score).
        """
        shrinkage = float(self.learning_rate)
        for _ in range(_MAX_STEP_HALVINGS):
            candidate = raw_train + shrinkage * rho * h
            score = self._score_raw(t_train, candidate, w_train)
            if score >= previous_score:
                return rho, candidate, score
            rho = 0.5 * rho
        return np.zeros_like(rho), raw_train, previous_score

    def _derivatives(self, t, raw):
        """(gradient, hessian) of the loss at the raw scores; t as _loss_targets makes them."""
        return self._loss.derivatives(t, raw)

    def _should_stop(self, scores):
        # HistGradientBoosting's rule: stop when none of the last n_iter_no_change scores beats
        # the score before them by more than tol.
        reference_position = self.n_iter_no_change + 1
        if len(scores) < reference_position:
            return False
        reference = scores[-reference_position] + self.tol
        return not any(score > reference for score in scores[-reference_position + 1:])

    def _resolved_units_per_step(self, n_outputs):
        if self.units_per_step != "auto":
            return self.units_per_step
        # One unit per step for one output. With K outputs each step would otherwise add a
        # rank-one change to K scores, and the per-row softmax of K classes would cost more
        # than the unit itself: ceil(sqrt(K)) units share it.
        return int(np.ceil(np.sqrt(n_outputs)))

    def _uses_early_stopping(self, target):
        """Early stopping as asked, unless the data are too few for a validation split."""
        early_stopping = self.early_stopping
        if early_stopping == "auto":
            return target.shape[0] > AUTO_EARLY_STOPPING_MIN_SAMPLES
        if not early_stopping:
            return False
        n_validation = int(np.ceil(self.validation_fraction * target.shape[0]))
        n_train = target.shape[0] - n_validation
        if self._is_classifier_model:
            counts = np.bincount(target)
            counts = counts[counts > 0]
            # A stratified split needs two rows of every class and room for each on both sides.
            return (counts.min() >= 2 and n_validation >= counts.shape[0]
                    and n_train >= counts.shape[0])
        return n_validation >= MIN_VALIDATION_ROWS and n_train >= MIN_VALIDATION_ROWS

    def _store_blocks(self, blocks, n_features, n_outputs):
        J = self._resolved_units_per_step(n_outputs)
        self._network_shape = (J, self.activation)
        self.units_per_step_ = J
        self.n_iter_ = len(blocks)
        if blocks:
            self.hidden_weights_ = np.hstack([blk[0] for blk in blocks])
            self.hidden_biases_ = np.concatenate([blk[1] for blk in blocks])
            self.block_output_weights_ = np.vstack([blk[2] for blk in blocks])
            self.block_output_biases_ = np.vstack([blk[3] for blk in blocks])
            self.step_sizes_ = np.vstack([blk[4] for blk in blocks])
            self._shrinkage = np.array([blk[5] for blk in blocks])
        else:
            self.hidden_weights_ = np.zeros((n_features, 0))
            self.hidden_biases_ = np.zeros(0)
            self.block_output_weights_ = np.zeros((0, n_outputs))
            self.block_output_biases_ = np.zeros((0, n_outputs))
            self.step_sizes_ = np.zeros((0, n_outputs))
            self._shrinkage = np.zeros(0)
        self.n_units_ = self.n_iter_ * J

    def _blocks_as_list(self):
        J = self._units_per_block()
        return [
            (np.ascontiguousarray(self.hidden_weights_[:, t * J:(t + 1) * J]),
             self.hidden_biases_[t * J:(t + 1) * J],
             self.block_output_weights_[t * J:(t + 1) * J], self.block_output_biases_[t],
             self.step_sizes_[t], self._shrinkage[t])
            for t in range(self.n_iter_)
        ]

    def _units_per_block(self):
        return self._network_shape[0]

    # ------------------------------------------------------------------ merged network
    def _raw_network(self, n_blocks):
        """(W, c, coef, bias) of the merged network of the first n_blocks, in raw score space."""
        J = self._units_per_block()
        units = n_blocks * J
        shrunk = self._shrinkage[:n_blocks, None] * self.step_sizes_[:n_blocks]
        coef = self.block_output_weights_[:units] * np.repeat(shrunk, J, axis=0)
        bias = self.baseline_prediction_ + (shrunk * self.block_output_biases_[:n_blocks]).sum(
            axis=0)
        return self.hidden_weights_[:, :units], self.hidden_biases_[:units], coef, bias

    def _network(self, n_blocks):
        """Merged network in output space (regression targets in their original units)."""
        W, c, coef, bias = self._raw_network(n_blocks)
        return W, c, self._output_scale * coef, self._output_scale * bias + self._output_shift

    def _raw_from_blocks(self, X, n_blocks):
        """Raw scores of the first n_blocks, accumulated step by step exactly as ``fit`` does
        (so a warm start continues from bit-identical scores)."""
        raw = np.tile(self.baseline_prediction_, (X.shape[0], 1))
        for A, c, V, b, rho, shrinkage in self._blocks_as_list()[:n_blocks]:
            raw += shrinkage * rho * (hidden_activations(X, A, c, self.activation) @ V + b)
        return raw

    def _validated_X(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if not np.all(np.isfinite(X)):
            raise ValueError("Input X contains NaN or infinity.")
        return X

    def _output(self, X):
        """Network output (before the output activation), shape (n, n_outputs)."""
        W, c, coef, bias = self._network(self.n_iter_)
        out = hidden_activations(X, W, c, self.activation) @ coef
        out += bias
        return out

    def _staged_output(self, X):
        W, c, coef, bias = self._network(self.n_iter_)
        H = hidden_activations(X, W, c, self.activation)
        J = self._units_per_block()
        shrunk = self._shrinkage[:, None] * self.step_sizes_
        step_bias = self._output_scale * shrunk * self.block_output_biases_
        out = np.tile(self._output_scale * self.baseline_prediction_ + self._output_shift,
                      (X.shape[0], 1))
        for t in range(self.n_iter_):
            out = out + H[:, t * J:(t + 1) * J] @ coef[t * J:(t + 1) * J] + step_bias[t]
            yield out

    def _check_n_units(self, n_units):
        check_is_fitted(self)
        J = self._units_per_block()
        if self.n_iter_ == 0:
            raise ValueError(
                "the model has no hidden units (boosting stopped at the baseline: the targets "
                "were fitted exactly), so it cannot be exported as an MLP"
            )
        if n_units is None:
            return self.n_iter_
        if not _is_int(n_units) or n_units < J or n_units > self.n_units_ or n_units % J:
            raise ValueError(
                f"n_units must be a multiple of units_per_step={J} between {J} and "
                f"n_units_={self.n_units_}; got {n_units!r}"
            )
        return n_units // J

    def _fill_mlp(self, mlp, n_blocks, out_activation):
        W, c, coef, bias = self._network(n_blocks)
        mlp.coefs_ = [W.copy(), coef.copy()]
        mlp.intercepts_ = [c.copy(), bias.copy()]
        mlp.n_layers_ = 3
        mlp.n_outputs_ = coef.shape[1]
        mlp.out_activation_ = out_activation
        mlp.n_features_in_ = self.n_features_in_
        if hasattr(self, "feature_names_in_"):
            mlp.feature_names_in_ = self.feature_names_in_
        mlp.n_iter_ = n_blocks
        mlp.t_ = 0
        mlp.loss_ = None
        mlp.best_loss_ = None
        mlp.loss_curve_ = []
        return mlp

    def _mlp_params(self, n_blocks):
        return dict(hidden_layer_sizes=(n_blocks * self._units_per_block(),),
                    activation=self.activation, alpha=self.alpha, solver="lbfgs",
                    random_state=self.random_state)


class GBNNRegressor(RegressorMixin, _BaseGBNN):
    """Gradient-boosted neural network regressor (single and multi-output).

    Grows one hidden layer block by block: each of ``max_iter`` steps fits ``units_per_step``
    new hidden units (a tiny network with linear outputs, trained by L-BFGS in numba) to the
    current residuals, takes the exact least-squares step along it per output, and shrinks
    the step by ``learning_rate``. The result is an ordinary one-hidden-layer network
    (:meth:`to_mlp`), whose first units alone already predict well (:meth:`staged_predict`).

    Parameters
    ----------
    max_iter : int, default=200
        Most boosting steps (blocks); the network has up to ``max_iter * units_per_step``
        units. With early stopping (the default) the validation curve picks fewer.
    units_per_step : "auto" or int, default="auto"
        Hidden units ``J`` added per step; "auto" is ``ceil(sqrt(n_outputs))`` (1 for a single
        target or a binary problem, 4 for 10 classes).
    learning_rate : float, default=0.5
        Shrinkage of every step.
    activation : {"logistic", "tanh", "relu"}, default="relu"
        Hidden activation (scikit-learn MLP's names).
    alpha : float, default=1.0
        L2 penalty on each block's weights (biases unpenalised; scikit-learn MLP's scaling
        ``0.5 * alpha * ||W||^2 / n``, applied to residuals rescaled to unit RMS, so its
        strength is the same at every step).
    subsample : float, default=0.5
        Fraction of training rows (drawn without replacement, seeded) each block is fitted on;
        the step is always chosen on all training rows.
    step_max_iter : int, default=20
        L-BFGS iterations per block.
    early_stopping : "auto" or bool, default=True
        Hold out ``validation_fraction`` of the rows; stop when the validation loss has not
        improved by ``tol`` for ``n_iter_no_change`` steps and keep the network of the best
        validation loss (this picks the size). "auto" turns it on above 10 000 samples only
        (HistGradientBoosting's rule). With fewer than two rows in the validation split, it
        is off.
    validation_fraction : float, default=0.1
        Share of the training rows held out for early stopping.
    n_iter_no_change : int, default=20
        Patience of early stopping, in steps.
    tol : float, default=1e-7
        Minimal validation-score improvement for early stopping.
    warm_start : bool, default=False
        Keep the fitted blocks and add steps up to ``max_iter`` on the next ``fit``.
    random_state : int, RandomState instance or None, default=None
        Seeds block initialisation, subsampling and the validation split.
    verbose : int, default=0
        Progress bar when > 0.
    normalize_y : bool, default=True
        Standardise each target (weighted mean and standard deviation) before boosting;
        undone on output (and folded into the exported MLP).

    Attributes
    ----------
    n_iter_ : int
        Boosting steps made.
    n_units_ : int
        Hidden units, ``n_iter_ * units_per_step_``.
    units_per_step_ : int
        Hidden units per step (``units_per_step`` with "auto" resolved).
    n_outputs_ : int
        Number of targets.
    baseline_prediction_ : ndarray of shape (n_outputs,)
        Initial raw prediction (weighted means, in standardised units if ``normalize_y``).
    hidden_weights_ : ndarray of shape (n_features, n_units_)
    hidden_biases_ : ndarray of shape (n_units_,)
    block_output_weights_ : ndarray of shape (n_units_, n_outputs)
        Output weights of each block as fitted, before its step.
    block_output_biases_ : ndarray of shape (n_iter_, n_outputs)
    step_sizes_ : ndarray of shape (n_iter_, n_outputs)
        Line-search steps ``rho`` (before shrinkage by ``learning_rate``).
    y_mean_, y_scale_ : ndarray of shape (n_outputs,)
        Target standardisation (0 and 1 when ``normalize_y=False``).
    train_score_ : ndarray of shape (n_iter_ + 1,)
        Negative mean squared-error loss ``-0.5 mean ||y - F||^2`` on the training rows after
        each step (the first entry is the baseline).
    validation_score_ : ndarray of shape (n_iter_ + 1,) or (0,)
        The same on the validation rows; empty without early stopping.

    Examples
    --------
    >>> from sklearn.datasets import make_friedman1
    >>> from sklearn.preprocessing import StandardScaler
    >>> from boostkit import GBNNRegressor
    >>> X, y = make_friedman1(n_samples=500, random_state=0)
    >>> X = StandardScaler().fit_transform(X)
    >>> model = GBNNRegressor(random_state=0).fit(X[:400], y[:400])
    >>> model.score(X[400:], y[400:]) > 0.95
    True
    >>> mlp = model.to_mlp()
    >>> bool(abs(mlp.predict(X) - model.predict(X)).max() < 1e-9)
    True
    """

    _is_classifier_model = False
    _multi_output = True

    def __init__(self, *, max_iter=200, units_per_step="auto", learning_rate=0.5,
                 activation="relu", alpha=1.0, subsample=0.5, step_max_iter=20,
                 early_stopping=True, validation_fraction=0.1, n_iter_no_change=20,
                 tol=1e-7, warm_start=False, random_state=None, verbose=0, normalize_y=True):
        super().__init__(
            max_iter=max_iter, units_per_step=units_per_step, learning_rate=learning_rate,
            activation=activation, alpha=alpha, subsample=subsample,
            step_max_iter=step_max_iter, early_stopping=early_stopping,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
            tol=tol, warm_start=warm_start, random_state=random_state, verbose=verbose,
        )
        self.normalize_y = normalize_y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _encode_targets(self, y, fit_encoding):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        if not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity.")
        if not fit_encoding and y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y.shape[1]} outputs but the model was fitted with {self.n_outputs_}"
            )
        return y

    @staticmethod
    def _n_raw_outputs(target):
        return target.shape[1]

    def _init_output_space(self, t_train, w_train):
        self.n_outputs_ = t_train.shape[1]
        if self.normalize_y:
            self.y_mean_ = _weighted_mean(t_train, w_train)
            var = _weighted_mean((t_train - self.y_mean_) ** 2, w_train)
            scale = np.sqrt(var)
            self.y_scale_ = np.where(scale > 0, scale, 1.0)
        else:
            self.y_mean_ = np.zeros(self.n_outputs_)
            self.y_scale_ = np.ones(self.n_outputs_)

    @property
    def _output_scale(self):
        return self.y_scale_

    @property
    def _output_shift(self):
        return self.y_mean_

    def _standardise(self, t):
        return (t - self.y_mean_) / self.y_scale_

    def _baseline(self, t_train, w_train):
        return _weighted_mean(self._standardise(t_train), w_train)

    @property
    def _loss(self):
        # Targets stay in their units (the scaling is fitted on the training rows only);
        # boosting runs on the standardised ones.
        return _StandardisedSquaredError(self)

    @staticmethod
    def _loss_targets(t):
        # The squared error standardises the targets itself (_StandardisedSquaredError).
        return t

    @staticmethod
    def _block_problem(t_train, raw_train, residual, rms):
        # Squared error: fitting F + block to y is fitting the block to the residuals; they are
        # rescaled to unit RMS so that alpha means the same at every step.
        return residual / rms, np.zeros_like(residual)

    def _score_raw(self, t, raw, w):
        if t.shape[0] == 0:
            return np.nan
        residual = (t - self.y_mean_) - raw * self.y_scale_
        return -float((w * 0.5 * (residual ** 2).sum(axis=1)).sum() / w.sum())

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            One column per target; raveled for a single target (as MLPRegressor does).
        """
        out = self._output(self._validated_X(X))
        return out.ravel() if out.shape[1] == 1 else out

    def staged_predict(self, X):
        """Predictions after each boosting step (the first ``k * units_per_step`` units).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Yields
        ------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        for out in self._staged_output(self._validated_X(X)):
            yield out.ravel() if out.shape[1] == 1 else out

    def to_mlp(self, n_units=None):
        """The merged network as a fitted :class:`sklearn.neural_network.MLPRegressor`.

        Parameters
        ----------
        n_units : int, default=None
            Keep the first ``n_units`` hidden units (a multiple of ``units_per_step``); all by
            default. The output bias is that of the boosted model after those steps.

        Returns
        -------
        mlp : MLPRegressor
            Predicts what ``staged_predict`` yields after ``n_units / units_per_step`` steps.
        """
        n_blocks = self._check_n_units(n_units)
        mlp = MLPRegressor(**self._mlp_params(n_blocks))
        return self._fill_mlp(mlp, n_blocks, "identity")


class _StandardisedSquaredError:
    """Squared error on standardised targets (the regressor's raw space)."""

    name = "squared_error"

    def __init__(self, model):
        self._model = model
        self._inner = SquaredError()

    def gradient(self, t, raw):
        return self._inner.gradient(self._model._standardise(t), raw)

    def hessian(self, t, raw):
        return self._inner.hessian(self._model._standardise(t), raw)

    def derivatives(self, t, raw):
        return self._inner.derivatives(self._model._standardise(t), raw)


class GBNNClassifier(ClassifierMixin, _BaseGBNN):
    """Gradient-boosted neural network classifier (binary and multiclass).

    Boosts the log-odds (binary, one output) or the K class scores (softmax) of a
    one-hidden-layer network: each of ``max_iter`` steps fits ``units_per_step`` new hidden
    units with K linear outputs (L-BFGS in numba) to the log-loss of the current scores plus
    the block (not by least squares to the pseudo-residuals ``y - p``: that wastes units on
    rows already separated and lost to scikit-learn's MLP on many-class problems), takes one
    Newton step per output along it (diagonal for softmax; halved while it would increase the
    training loss) and shrinks it by ``learning_rate``. The
    merged network is an ordinary MLPClassifier (:meth:`to_mlp`); its output is the log-odds,
    so no ``sigmoid(2F)`` factor is needed.

    Parameters
    ----------
    max_iter : int, default=200
        Most boosting steps (blocks); the network has up to ``max_iter * units_per_step``
        units. With early stopping (the default) the validation curve picks fewer.
    units_per_step : "auto" or int, default="auto"
        Hidden units ``J`` added per step; "auto" is ``ceil(sqrt(n_outputs))`` (1 for a single
        target or a binary problem, 4 for 10 classes).
    learning_rate : float, default=0.5
        Shrinkage of every step.
    activation : {"logistic", "tanh", "relu"}, default="relu"
        Hidden activation (scikit-learn MLP's names).
    alpha : float, default=1.0
        L2 penalty on each block's weights (scikit-learn MLP's scaling, added to the mean
        log-loss of the block fit).
    subsample : float, default=1.0
        Fraction of training rows each block is fitted on (seeded). Subsampling blocks cost
        many-class problems accuracy (a block fitted on half the rows of 15 classes
        generalises worse), so the classifier fits every block on all training rows.
    step_max_iter : int, default=20
        L-BFGS iterations per block.
    early_stopping : "auto" or bool, default=True
        Hold out ``validation_fraction`` of the rows (stratified); stop when the validation
        log-loss has not improved by ``tol`` for ``n_iter_no_change`` steps and keep the
        network of the best validation loss (this picks the size). "auto" turns it on above
        10 000 samples only. Off when no stratified split exists (a class with one row, or
        fewer validation rows than classes).
    validation_fraction : float, default=0.1
        Share of the training rows held out (stratified) for early stopping.
    n_iter_no_change : int, default=10
        Patience of early stopping, in steps (HistGradientBoosting's default). Every step
        after the best one is fitted and then dropped: 10 costs about 20 % less fit time than 20
        and gave the same accuracy on five of the benchmark's seven classification sets (one
        15-class fit of ten stopped early; docs/gbnn.md, *Choosing the size*).
    tol : float, default=1e-7
        Minimal validation-score improvement for early stopping.
    warm_start : bool, default=False
        Keep the fitted blocks and add steps up to ``max_iter`` on the next ``fit``.
    random_state : int, RandomState instance or None, default=None
        Seeds block initialisation, subsampling and the validation split.
    verbose : int, default=0
        Progress bar when > 0.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_iter_ : int
        Boosting steps made.
    n_units_ : int
        Hidden units, ``n_iter_ * units_per_step_``.
    units_per_step_ : int
        Hidden units per step (``units_per_step`` with "auto" resolved).
    baseline_prediction_ : ndarray of shape (n_outputs,)
        Prior log-odds (binary) or log class priors (multiclass).
    hidden_weights_, hidden_biases_, block_output_weights_, block_output_biases_, step_sizes_
        As in :class:`GBNNRegressor`; ``step_sizes_`` are the Newton steps.
    train_score_ : ndarray of shape (n_iter_ + 1,)
        Negative mean log-loss on the training rows after each step (first: the prior).
    validation_score_ : ndarray of shape (n_iter_ + 1,) or (0,)
        The same on the validation rows; empty without early stopping.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from boostkit import GBNNClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> model = GBNNClassifier(max_iter=20, random_state=0).fit(X, y)
    >>> model.score(X, y) > 0.95
    True
    >>> [round(acc, 2) > 0.9 for acc in model.staged_score(X, y)][:3]
    [True, True, True]
    >>> bool((model.to_mlp(5).predict(X) == list(model.staged_predict(X))[4]).all())
    True
    """

    _is_classifier_model = True
    _multi_output = False

    def __init__(self, *, max_iter=200, units_per_step="auto", learning_rate=0.5,
                 activation="relu", alpha=1.0, subsample=1.0, step_max_iter=20,
                 early_stopping=True, validation_fraction=0.1, n_iter_no_change=10,
                 tol=1e-7, warm_start=False, random_state=None, verbose=0):
        super().__init__(
            max_iter=max_iter, units_per_step=units_per_step, learning_rate=learning_rate,
            activation=activation, alpha=alpha, subsample=subsample,
            step_max_iter=step_max_iter, early_stopping=early_stopping,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
            tol=tol, warm_start=warm_start, random_state=random_state, verbose=verbose,
        )

    _output_scale = 1.0
    _output_shift = 0.0

    def _encode_targets(self, y, fit_encoding):
        check_classification_targets(y)
        if fit_encoding:
            classes, codes = np.unique(y, return_inverse=True)
            if classes.shape[0] < 2:
                raise ValueError(
                    "GBNNClassifier needs samples of at least 2 classes in the data; "
                    f"got 1 class ({classes[0]!r})"
                )
            self.classes_ = classes
            self._loss_object = Logistic() if classes.shape[0] == 2 else Softmax(1.0)
            return codes
        codes = np.searchsorted(self.classes_, y)
        codes = np.clip(codes, 0, self.classes_.shape[0] - 1)
        if not np.all(self.classes_[codes] == y):
            raise ValueError(
                "y contains classes not seen in the first fit (warm_start=True); "
                f"known classes: {self.classes_.tolist()}"
            )
        return codes

    @property
    def _loss(self):
        return self._loss_object

    def _n_raw_outputs(self, target):
        n_classes = self.classes_.shape[0]
        return 1 if n_classes == 2 else n_classes

    def _init_output_space(self, t_train, w_train):
        pass

    def _baseline(self, t_train, w_train):
        n_classes = self.classes_.shape[0]
        priors = np.bincount(t_train, weights=w_train, minlength=n_classes) / w_train.sum()
        priors = np.clip(priors, 1e-15, 1.0)
        if n_classes == 2:
            return np.array([np.log(priors[1] / priors[0])])
        return np.log(priors)

    def _loss_targets(self, t):
        # Class codes -> the loss's targets: 0/1 (binary) or one-hot rows (softmax).
        return np.ascontiguousarray(self._loss.targets(t, self._n_raw_outputs(t)))

    @staticmethod
    def _block_problem(t_train, raw_train, residual, rms):
        # The block is fitted to the log-loss of the current scores plus the block (not by
        # least squares to the residuals y - p): see boostkit/neural/_kernels.py. t_train are
        # the loss's targets (_loss_targets).
        return t_train, np.ascontiguousarray(raw_train)

    def _derivatives(self, t, raw):
        if raw.shape[1] == 1:
            return super()._derivatives(t, raw)
        # Softmax: one numba pass over all rows instead of scipy's (the same formulas, with
        # the hessian factor 1 of the classifier's Softmax(1.0)).
        gradient, hessian = np.empty_like(raw), np.empty_like(raw)
        softmax_derivatives(raw, t, gradient, hessian)
        return gradient, hessian

    def _score_raw(self, t, raw, w):
        if t.shape[0] == 0:
            return np.nan
        if raw.shape[1] > 1:
            return -softmax_mean_loss(np.ascontiguousarray(raw), t, np.ascontiguousarray(w))
        return -float((w * self._loss.value(t, raw)).sum() / w.sum())

    def decision_function(self, X):
        """Raw scores: log-odds of ``classes_[1]`` (binary) or the K class scores.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        out = self._output(self._validated_X(X))
        return out.ravel() if out.shape[1] == 1 else out

    @staticmethod
    def _proba(out):
        if out.shape[1] == 1:
            p = expit(out.ravel())
            return np.vstack([1 - p, p]).T
        tmp = out - out.max(axis=1)[:, None]
        np.exp(tmp, out=tmp)
        tmp /= tmp.sum(axis=1)[:, None]
        return tmp

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return self._proba(self._output(self._validated_X(X)))

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def staged_decision_function(self, X):
        """Raw scores after each boosting step.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Yields
        ------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        for out in self._staged_output(self._validated_X(X)):
            yield out.ravel() if out.shape[1] == 1 else out

    def staged_predict_proba(self, X):
        """Class probabilities after each boosting step.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Yields
        ------
        proba : ndarray of shape (n_samples, n_classes)
        """
        for out in self._staged_output(self._validated_X(X)):
            yield self._proba(out)

    def staged_predict(self, X):
        """Predicted classes after each boosting step (the accuracy-vs-units curve).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Yields
        ------
        y : ndarray of shape (n_samples,)
        """
        for proba in self.staged_predict_proba(X):
            yield self.classes_[np.argmax(proba, axis=1)]

    def staged_score(self, X, y, sample_weight=None):
        """Accuracy after each boosting step.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Yields
        ------
        accuracy : float
        """
        y = np.asarray(y)
        w = _check_sample_weight(sample_weight, y.shape[0])
        for pred in self.staged_predict(X):
            yield float(((pred == y) * w).sum() / w.sum())

    def to_mlp(self, n_units=None):
        """The merged network as a fitted :class:`sklearn.neural_network.MLPClassifier`.

        Parameters
        ----------
        n_units : int, default=None
            Keep the first ``n_units`` hidden units (a multiple of ``units_per_step``); all by
            default. The output bias is that of the boosted model after those steps.

        Returns
        -------
        mlp : MLPClassifier
            Its ``predict_proba`` equals ``staged_predict_proba`` after
            ``n_units / units_per_step`` steps.
        """
        n_blocks = self._check_n_units(n_units)
        mlp = MLPClassifier(**self._mlp_params(n_blocks))
        binary = self.classes_.shape[0] == 2
        self._fill_mlp(mlp, n_blocks, "logistic" if binary else "softmax")
        mlp._label_binarizer = LabelBinarizer().fit(self.classes_)
        mlp.classes_ = self.classes_
        return mlp
