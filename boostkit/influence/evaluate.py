"""How good is an influence ranking? The paper's measures, each checked by retraining.

Every measure ranks the training rows with each explainer, changes the top of the ranking
(removes, relabels or poisons those rows), refits ``sklearn.base.clone(model)`` on the changed
training data and records what happened to the test loss (Brophy et al., 2023, section 5):

- :func:`remove` - delete the most helpful rows; a larger loss increase = a better ranking.
- :func:`relabel` - give the most helpful rows another label (rules below).
- :func:`poison` - relabel them and replace their features with the column means.
- :func:`targeted_edit` - the fewest top rows whose relabeling flips a prediction.
- :func:`noise_detection` - flip a fraction of the training labels and count how many of the
  flipped rows each explainer's self influence puts first.

``target="each"`` ranks rows per test point by its local influence and measures that test
point's loss; ``target="set"`` ranks them once by the influence summed over all of ``X_test``
(a validation set), changes them once and measures the mean loss over the set.

The loss is the model's own per-point loss (:func:`point_losses`): squared error on
``predict`` for regressors, log loss on ``predict_proba`` for classifiers.

Relabeling rules (``relabel``, ``poison``, ``targeted_edit``):

- binary classification: the other class;
- multiclass: the class the unmodified model scores highest for that row among the classes
  other than the row's own label (the most plausible wrong label);
- regression: the end of the training-target range on the other side of the reference target
  from the range's midpoint: ``min(y)`` if the reference is at or above the midpoint, else
  ``max(y)``. The reference is the test point's target (``target="each"``) or the mean target
  of the set (``target="set"``). A helpful row then pulls its leaves away from the test target.

Seeds: every refit uses the same clone of ``model``; when the model or an explainer has a
``random_state`` parameter set to None, it is set to the measure's ``random_state``, so the
only difference between two refits is the changed training data. Refits that change the same
rows the same way are run once (e.g. the top rows of two explainers that agree), and the
independent refits run in parallel with joblib (``n_jobs``); give the model itself one thread
(e.g. ``n_jobs=1`` for LightGBM) when ``n_jobs`` > 1, or the two compete for the cores.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone, is_classifier
from tqdm.auto import tqdm

from ._base import _check_model_fitted, _check_sample_weight

__all__ = ["point_losses", "remove", "relabel", "poison", "targeted_edit", "noise_detection"]

_LOG_FLOOR = 1e-15  # probability floor of the log loss (a class the refit lost entirely)
_TARGETS = ("each", "set")
_COLUMNS = ["measure", "method", "test_index", "fraction", "n_changed", "loss", "loss_change",
            "seed"]


# ---------------------------------------------------------------------------- losses
def _classifies(model):
    return is_classifier(model) or (hasattr(model, "predict_proba")
                                    and hasattr(model, "classes_"))


def point_losses(model, X, y):
    """The loss of a fitted model on every row: the quantity all measures here compare.

    Parameters
    ----------
    model : fitted estimator
        A classifier with ``predict_proba`` and ``classes_``, or a regressor with
        ``predict``.
    X : array-like or DataFrame of shape (n, n_features)
    y : array-like of shape (n,)
        Labels among ``model.classes_`` (classifier) or targets (regressor).

    Returns
    -------
    ndarray of float64, shape (n,)
        Classifier: log loss ``-log p(y)`` (probability floored at 1e-15, e.g. for a label
        the model never saw). Regressor: squared error ``(y - predict(X))^2``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from boostkit.influence.evaluate import point_losses
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> model = LinearRegression().fit(X, [0.0, 1.0, 2.0])
    >>> np.round(point_losses(model, X, [0.0, 1.5, 2.0]), 6)
    array([0.  , 0.25, 0.  ])
    """
    y = _labels(y, "y")
    if _classifies(model):
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        columns = pd.Index(model.classes_).get_indexer(y)
        picked = proba[np.arange(len(y)), np.maximum(columns, 0)]
        picked = np.where(columns >= 0, picked, 0.0)
        return -np.log(np.clip(picked, _LOG_FLOOR, 1.0))
    predictions = np.asarray(model.predict(X), dtype=np.float64).reshape(len(y))
    return (np.asarray(y, dtype=np.float64) - predictions) ** 2


# ---------------------------------------------------------------------------- input checks
def _labels(y, name):
    y = y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional; got shape {y.shape}")
    return y


def _check_model(model, fitted=True):
    if isinstance(model, type):
        raise TypeError(f"model must be a fitted estimator instance; got the class "
                        f"{model.__name__}")
    if not hasattr(model, "get_params") or not hasattr(model, "fit"):
        raise TypeError(
            f"model must be an estimator that sklearn.base.clone can copy, because the "
            f"measures refit it on changed training data; got {type(model).__module__}."
            f"{type(model).__name__}, which has no get_params/fit. Pass the scikit-learn "
            f"wrapper (e.g. lightgbm.LGBMClassifier, xgboost.XGBRegressor) instead of a raw "
            f"booster")
    try:
        clone(model)
    except Exception as err:  # sklearn raises TypeError / RuntimeError for broken get_params
        raise TypeError(f"model cannot be copied with sklearn.base.clone ({err}); the "
                        f"measures refit a clone on changed training data") from err
    if fitted:
        _check_model_fitted(model)


def _check_X(X, name, n_features=None):
    if not isinstance(X, pd.DataFrame):
        X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-dimensional array (rows x features); "
                         f"got shape {tuple(X.shape)}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but X has {n_features}")
    return X


def _check_data(model, X, y, sample_weight, X_test=None, y_test=None, need_y_test=True):
    _check_model(model)
    X = _check_X(X, "X")
    y = _labels(y, "y")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} rows but X has {X.shape[0]}; they must match")
    classifier = _classifies(model)
    if classifier:
        codes = pd.Index(model.classes_).get_indexer(y)
        if (codes < 0).any():
            bad = pd.unique(y[codes < 0])[:5].tolist()
            raise ValueError(f"y has labels the model never saw: {bad}; the model's classes "
                             f"are {list(model.classes_)[:20]}")
    else:
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"y must be numeric for a regressor; got dtype {y.dtype}") from None
    if not classifier and not np.isfinite(y).all():
        raise ValueError("y contains NaN or inf; targets must be finite")
    sample_weight = _check_sample_weight(sample_weight, X.shape[0])
    if X_test is not None:
        X_test = _check_X(X_test, "X_test", X.shape[1])
        if isinstance(X, pd.DataFrame) != isinstance(X_test, pd.DataFrame):
            raise TypeError("X_test must be of the same kind as X (both DataFrames or both "
                            "arrays)")
    if need_y_test:
        if y_test is None:
            raise ValueError("y_test is required")
        y_test = _labels(y_test, "y_test")
        if y_test.shape[0] != X_test.shape[0]:
            raise ValueError(f"y_test has {y_test.shape[0]} rows but X_test has "
                             f"{X_test.shape[0]}; they must match")
        if not classifier:
            y_test = y_test.astype(np.float64)
    return X, y, sample_weight, X_test, y_test, classifier


def _check_explainers(explainers, method):
    if not isinstance(explainers, dict) or not explainers:
        raise TypeError("explainers must be a non-empty dict of name -> unfitted explainer "
                        "(e.g. {'BoostIn': BoostIn()}); got "
                        f"{type(explainers).__name__}{'' if explainers else ' (empty)'}")
    for name, explainer in explainers.items():
        if not isinstance(name, str):
            raise TypeError(f"explainers: names must be strings; got {name!r}")
        if isinstance(explainer, type):
            raise TypeError(f"explainers[{name!r}] is the class {explainer.__name__}; pass an "
                            f"instance, e.g. {explainer.__name__}()")
        for attr in ("fit", "get_params", method):
            if not callable(getattr(explainer, attr, None)):
                raise TypeError(f"explainers[{name!r}] ({type(explainer).__name__}) has no "
                                f"{attr} method; an explainer needs fit(model, X, y), "
                                f"get_params (to be cloned) and {method}")


def _check_options(random_state, n_jobs, verbose, target=None):
    if not isinstance(random_state, numbers.Integral) or isinstance(random_state, bool):
        raise ValueError(f"random_state must be an integer; got {random_state!r}")
    if n_jobs is not None and (not isinstance(n_jobs, numbers.Integral) or n_jobs == 0
                               or isinstance(n_jobs, bool)):
        raise ValueError(f"n_jobs must be None, -1 or a positive integer; got {n_jobs!r}")
    if not isinstance(verbose, numbers.Integral) or verbose < 0:
        raise ValueError(f"verbose must be a non-negative integer; got {verbose!r}")
    if target is not None and target not in _TARGETS:
        raise ValueError(f"target must be one of {_TARGETS}; got {target!r}")


def _change_counts(fractions, counts, n_train, limit, name="fractions"):
    """(fraction, n_changed) pairs from fractions of n_train or from explicit counts."""
    if counts is not None:
        values = np.asarray(counts)
        if values.ndim != 1 or values.size == 0 or values.dtype.kind not in "iu":
            raise ValueError(f"counts must be a non-empty 1-d sequence of integers; got "
                             f"{counts!r}")
        if (values < 0).any() or (values > limit).any():
            raise ValueError(f"counts must lie in [0, {limit}] for {n_train} training rows; "
                             f"got {values.tolist()}")
        return [(int(c) / n_train, int(c)) for c in values]
    values = np.asarray(fractions, dtype=np.float64) if fractions is not None else None
    if values is None or values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d sequence of numbers in [0, 1); got "
                         f"{fractions!r}")
    if not np.isfinite(values).all() or (values < 0).any() or (values >= 1).any():
        raise ValueError(f"{name} must lie in [0, 1); got {values.tolist()}")
    out = [(float(f), int(np.floor(f * n_train + 0.5))) for f in values]
    too_many = [f for f, c in out if c > limit]
    if too_many:
        raise ValueError(f"{name} {too_many} would change more than {limit} of the {n_train} "
                         f"training rows")
    return out


# ---------------------------------------------------------------------------- helpers
def _seeded(estimator, seed):
    """An unfitted clone whose unset random_state is the measure's seed."""
    copy = clone(estimator)
    params = copy.get_params(deep=False)
    if "random_state" in params and params["random_state"] is None:
        copy.set_params(random_state=int(seed))
    return copy


def _rows(X, index):
    return X.iloc[index] if isinstance(X, pd.DataFrame) else X[index]


def _fit_model(template, X, y, sample_weight):
    model = clone(template)
    if sample_weight is None:
        return model.fit(X, y)
    return model.fit(X, y, sample_weight=sample_weight)


def _fit_explainer(explainer, name, model, X, y, sample_weight, seed):
    fitted = _seeded(explainer, seed)
    try:
        if sample_weight is None:
            fitted.fit(model, X, y)
        else:
            fitted.fit(model, X, y, sample_weight=sample_weight)
    except Exception as err:
        err.add_note(f"(while fitting explainers[{name!r}])")
        raise
    return fitted


def _local_influence(explainer, name, X_test, y_test, n_train):
    try:
        influence = explainer.local_influence(X_test, y_test)
    except Exception as err:
        err.add_note(f"(while computing the local influence of explainers[{name!r}]: these "
                     f"measures rank training rows for test points, so every explainer "
                     f"needs local_influence; use noise_detection for global-only methods)")
        raise
    influence = np.asarray(influence, dtype=np.float64)
    expected = (n_train, X_test.shape[0])
    if influence.shape != expected:
        raise ValueError(f"explainers[{name!r}].local_influence returned shape "
                         f"{influence.shape}; expected (n_train, n_test) = {expected}")
    if not np.isfinite(influence).all():
        raise ValueError(f"explainers[{name!r}].local_influence returned NaN or inf")
    return influence


def _ranking(scores):
    """Training rows from most to least helpful; ties go to the smaller row index."""
    return np.argsort(-scores, kind="stable")


def _column_means(X):
    if isinstance(X, pd.DataFrame):
        return X.mean(axis=0, numeric_only=True)
    return np.nanmean(np.asarray(X, dtype=np.float64), axis=0)


def _alternative_labels(model, X, y):
    """Classifier: the label every training row gets when relabeled (module docstring)."""
    classes = np.asarray(model.classes_)
    codes = pd.Index(classes).get_indexer(y)
    if len(classes) == 2:
        return classes[1 - codes]
    scores = np.array(model.predict_proba(X), dtype=np.float64)
    scores[np.arange(len(y)), codes] = -np.inf
    return classes[np.argmax(scores, axis=1)]


def _regression_label(y, reference):
    low, high = float(np.min(y)), float(np.max(y))
    return low if reference >= 0.5 * (low + high) else high


def _change_key(rows, labels):
    """The change as a hashable key: rows sorted together with their new labels, so the same
    change reached through two rankings shares one refit."""
    rows = [int(r) for r in rows]
    if not labels:
        return tuple(sorted(rows)), ()
    pairs = sorted(zip(rows, labels))
    return tuple(r for r, _ in pairs), tuple(v for _, v in pairs)


def _changed_data(X, y, sample_weight, mode, rows, new_labels, means):
    """The training data after removing / relabeling / poisoning ``rows``."""
    rows = np.asarray(rows, dtype=np.intp)
    if mode == "remove":
        keep = np.ones(len(y), dtype=bool)
        keep[rows] = False
        return (_rows(X, keep), y[keep],
                None if sample_weight is None else sample_weight[keep])
    y = y.copy()
    if rows.size:
        y[rows] = np.asarray(new_labels, dtype=y.dtype)
    if mode == "poison" and rows.size:
        if isinstance(X, pd.DataFrame):
            X = X.copy()
            for column, value in means.items():
                position = X.columns.get_loc(column)
                if X[column].dtype.kind in "iub":
                    X[column] = X[column].astype(np.float64)
                X.iloc[rows, position] = value
        else:
            X = np.array(X, dtype=np.float64 if X.dtype.kind in "iub" else X.dtype)
            X[rows] = means
    return X, y, sample_weight


def _refit_and_score(template, X, y, sample_weight, mode, rows, new_labels, means, X_eval,
                     y_eval, predict):
    data = _changed_data(X, y, sample_weight, mode, rows, new_labels, means)
    model = _fit_model(template, *data)
    losses = point_losses(model, X_eval, y_eval)
    return losses, (np.asarray(model.predict(X_eval)) if predict else None)


def _parallel(calls, n_jobs, verbose, desc):
    """Run delayed calls with joblib, in order, behind a progress bar."""
    calls = list(calls)
    if not calls:
        return []
    if n_jobs in (None, 1) or len(calls) == 1:
        results = (fn(*args, **kwargs) for fn, args, kwargs in calls)
    else:
        results = Parallel(n_jobs=n_jobs, return_as="generator")(calls)
    return list(tqdm(results, total=len(calls), desc=desc, disable=not verbose, leave=False))


# ---------------------------------------------------------------------------- edit measures
def _edit_measure(mode, model, X, y, X_test, y_test, explainers, fractions, counts, target,
                  sample_weight, random_state, n_jobs, verbose):
    _check_options(random_state, n_jobs, verbose, target)
    X, y, sample_weight, X_test, y_test, classifier = _check_data(
        model, X, y, sample_weight, X_test, y_test)
    _check_explainers(explainers, "local_influence")
    n_train, n_test = len(y), len(y_test)
    limit = n_train - 2 if mode == "remove" else n_train
    amounts = _change_counts(fractions, counts, n_train, limit)
    template = _seeded(model, random_state)
    means = _column_means(X) if mode == "poison" else None
    alternative = _alternative_labels(model, X, y) if classifier and mode != "remove" else None
    max_count = max(c for _, c in amounts)

    def new_labels(rows, reference):
        if mode == "remove":
            return ()
        if classifier:
            return tuple(alternative[rows].tolist())
        return (_regression_label(y, reference),) * len(rows)

    # task: (method, test_index or None, fraction, count, key); key = the change made
    tasks = []
    for name, explainer in explainers.items():
        fitted = _fit_explainer(explainer, name, model, X, y, sample_weight, random_state)
        influence = _local_influence(fitted, name, X_test, y_test, n_train)
        if target == "set":
            order = _ranking(influence.sum(axis=1))[:max_count]
            reference = float(np.mean(y_test)) if not classifier else None
            for fraction, count in amounts:
                rows = order[:count]
                tasks.append((name, None, fraction, count,
                              _change_key(rows, new_labels(rows, reference))))
            continue
        for e in range(n_test):
            order = _ranking(influence[:, e])[:max_count]
            reference = None if classifier else float(y_test[e])
            for fraction, count in amounts:
                rows = order[:count]
                tasks.append((name, e, fraction, count,
                              _change_key(rows, new_labels(rows, reference))))

    baseline_key = ((), ())
    needed = {baseline_key: set(range(n_test))}
    for _, e, _, count, key in tasks:
        if count == 0:
            continue
        needed.setdefault(key, set()).update(range(n_test) if e is None else [e])
    keys = list(needed)
    calls = []
    for key in keys:
        index = np.array(sorted(needed[key]), dtype=np.intp)
        calls.append(delayed(_refit_and_score)(template, X, y, sample_weight, mode, key[0],
                                               key[1], means, _rows(X_test, index),
                                               y_test[index], False))
    results = _parallel(calls, n_jobs, verbose, f"{mode}: refits")
    losses = {}
    for key, (values, _) in zip(keys, results):
        for e, value in zip(sorted(needed[key]), values):
            losses[key, e] = value
    base = np.array([losses[baseline_key, e] for e in range(n_test)])

    records = []
    for name, e, fraction, count, key in tasks:
        key = baseline_key if count == 0 else key
        if e is None:
            loss = float(np.mean([losses[key, i] for i in range(n_test)]))
            change = loss - float(base.mean()) if count else 0.0
        else:
            loss = float(losses[key, e])
            change = loss - float(base[e]) if count else 0.0
        records.append((mode, name, pd.NA if e is None else e, fraction, count, loss, change,
                        random_state))
    frame = pd.DataFrame.from_records(records, columns=_COLUMNS)
    frame["test_index"] = frame["test_index"].astype("Int64")
    return frame


_EDIT_PARAMS = """
    Parameters
    ----------
    model : fitted estimator
        A scikit-learn compatible model trained on ``(X, y, sample_weight)``; it is refit
        through ``sklearn.base.clone`` (a raw booster is refused: pass its sklearn wrapper).
    X : array-like or DataFrame of shape (n_train, n_features)
        The model's training data.
    y : array-like of shape (n_train,)
        The training labels.
    X_test : array-like or DataFrame of shape (n_test, n_features)
        Test points (``target="each"``) or the validation set (``target="set"``).
    y_test : array-like of shape (n_test,)
    explainers : dict of str -> explainer
        Unfitted explainers with ``fit(model, X, y, sample_weight=None)`` and
        ``local_influence(X_test, y_test)``; each is cloned and fitted once on ``model`` and
        the unmodified data.
    fractions : sequence of float in [0, 1), default=(0, 0.0025, 0.005, 0.01, 0.015, 0.02)
        Fractions of the training rows to change, rounded to whole rows (0 gives the
        unmodified refit: a loss change of exactly 0).
    counts : sequence of int, optional
        Numbers of rows to change instead of ``fractions`` (e.g. ``[1]`` for the single most
        influential row).
    target : {"each", "set"}, default="each"
        Rank and measure per test point, or once for the whole of ``X_test``.
    sample_weight : array-like of shape (n_train,), optional
        The weights the model was trained with; every refit uses them (minus removed rows).
    random_state : int, default=0
        Seed of every refit and explainer whose own ``random_state`` is None.
    n_jobs : int, optional
        Parallel refits (joblib; -1 = all cores).
    verbose : int, default=0
        1 shows a progress bar over the refits.

    Returns
    -------
    DataFrame
        One row per method x test point x amount, with columns ``measure``, ``method``,
        ``test_index`` (position in ``X_test``; <NA> for ``target="set"``), ``fraction``,
        ``n_changed``, ``loss`` (the test point's loss after the refit, or the mean over the
        set), ``loss_change`` (``loss`` minus the loss of the unmodified refit) and ``seed``.
"""


def remove(model, X, y, X_test, y_test, explainers,
           fractions=(0, 0.0025, 0.005, 0.01, 0.015, 0.02), *, counts=None, target="each",
           sample_weight=None, random_state=0, n_jobs=None, verbose=0):
    """Delete the most helpful training rows, refit, and record the test loss increase.

    For every test point (or once for the set) the top ``fraction`` of training rows by local
    influence (most helpful first) are removed and a clone of ``model`` is refit without
    them. A good ranking makes the test loss rise fastest; a random ranking is the floor.
    {params}
    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_diabetes
    >>> from boostkit.influence import BoostIn
    >>> from boostkit.influence.evaluate import remove
    >>> X, y = load_diabetes(return_X_y=True)
    >>> X_train, y_train, X_test, y_test = X[:300], y[:300], X[300:303], y[300:303]
    >>> model = lgb.LGBMRegressor(n_estimators=20, num_leaves=7, verbose=-1, n_jobs=1)
    >>> model = model.fit(X_train, y_train)
    >>> table = remove(model, X_train, y_train, X_test, y_test, {{"BoostIn": BoostIn()}},
    ...                fractions=(0, 0.02))
    >>> table[["method", "test_index", "n_changed"]].values.tolist()[:2]
    [['BoostIn', 0, 0], ['BoostIn', 0, 6]]
    >>> float(table.loc[table.n_changed == 0, "loss_change"].abs().max())
    0.0
    """
    return _edit_measure("remove", model, X, y, X_test, y_test, explainers, fractions, counts,
                         target, sample_weight, random_state, n_jobs, verbose)


def relabel(model, X, y, X_test, y_test, explainers,
            fractions=(0, 0.0025, 0.005, 0.01, 0.015, 0.02), *, counts=None, target="each",
            sample_weight=None, random_state=0, n_jobs=None, verbose=0):
    """Relabel the most helpful training rows, refit, and record the test loss increase.

    The top rows by local influence get another label (binary: the other class; multiclass:
    the class the model scores highest for the row among the other classes; regression: the
    end of the target range opposite the test target, see the module docstring); the
    features stay.
    {params}
    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_breast_cancer
    >>> from boostkit.influence import BoostIn
    >>> from boostkit.influence.evaluate import relabel
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1, n_jobs=1)
    >>> model = model.fit(X[:400], y[:400])
    >>> table = relabel(model, X[:400], y[:400], X[400:450], y[400:450],
    ...                 {{"BoostIn": BoostIn()}}, fractions=(0, 0.05), target="set")
    >>> table[["method", "n_changed"]].values.tolist()
    [['BoostIn', 0], ['BoostIn', 20]]
    >>> bool(table.loss_change.iloc[1] > 0)
    True
    """
    return _edit_measure("relabel", model, X, y, X_test, y_test, explainers, fractions, counts,
                         target, sample_weight, random_state, n_jobs, verbose)


def poison(model, X, y, X_test, y_test, explainers,
           fractions=(0, 0.0025, 0.005, 0.01, 0.015, 0.02), *, counts=None, target="each",
           sample_weight=None, random_state=0, n_jobs=None, verbose=0):
    """Relabel the most helpful training rows and replace their features by the column means.

    As :func:`relabel`, and every feature of the changed rows is set to its mean over the
    unmodified training data (NaN ignored; DataFrames: numeric columns only).
    {params}
    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_diabetes
    >>> from boostkit.influence import BoostIn
    >>> from boostkit.influence.evaluate import poison
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = lgb.LGBMRegressor(n_estimators=20, num_leaves=7, verbose=-1, n_jobs=1)
    >>> model = model.fit(X[:300], y[:300])
    >>> table = poison(model, X[:300], y[:300], X[300:302], y[300:302],
    ...                {{"BoostIn": BoostIn()}}, counts=[0, 3])
    >>> table.shape
    (4, 8)
    """
    return _edit_measure("poison", model, X, y, X_test, y_test, explainers, fractions, counts,
                         target, sample_weight, random_state, n_jobs, verbose)


for _function in (remove, relabel, poison):
    _function.__doc__ = _function.__doc__.format(params=_EDIT_PARAMS)
del _function


# ---------------------------------------------------------------------------- targeted edit
def _flip_search(template, X, y, sample_weight, order, alternative, counts, x_eval,
                 prediction):
    """Smallest count in ``counts`` whose relabeling flips the prediction (None if none)."""
    for count in counts:
        rows = order[:count]
        data = _changed_data(X, y, sample_weight, "relabel", rows, alternative[rows], None)
        new = np.asarray(_fit_model(template, *data).predict(x_eval))[0]
        if new != prediction:
            return count, new
    return None, prediction


def targeted_edit(model, X, y, X_test, explainers,
                  fractions=(0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05), *, counts=None,
                  sample_weight=None, random_state=0, n_jobs=None, verbose=0):
    """The fewest top-ranked training rows whose relabeling flips each test prediction.

    For each test point the rows are ranked by local influence on the loss of the model's own
    predicted label (the rows that support the prediction most come first). The top ``n``
    rows are relabeled (binary: the other class; multiclass: the class the model scores
    highest for the row among the others), a clone of ``model`` is refit, and ``n`` grows
    through ``counts`` (or ``fractions`` of the training rows) until the prediction changes.
    Fewer rows = a better ranking. Classifiers only.

    Parameters
    ----------
    model : fitted classifier
        Refit through ``sklearn.base.clone``.
    X : array-like or DataFrame of shape (n_train, n_features)
    y : array-like of shape (n_train,)
    X_test : array-like or DataFrame of shape (n_test, n_features)
    explainers : dict of str -> explainer
        Unfitted explainers (cloned, fitted once on ``model`` and the unmodified data).
    fractions : sequence of float in (0, 1), default=(0.0025, ..., 0.05)
        The amounts tried, as fractions of the training rows, in increasing order; the
        largest is the cap.
    counts : sequence of int, optional
        Numbers of rows to try instead (e.g. ``range(1, 21)`` for the exact smallest count up
        to 20).
    sample_weight : array-like of shape (n_train,), optional
    random_state : int, default=0
    n_jobs : int, optional
        Parallel searches (one per method x test point; joblib).
    verbose : int, default=0

    Returns
    -------
    DataFrame
        One row per method x test point: ``method``, ``test_index``, ``prediction`` (of the
        unmodified refit), ``flipped`` (False: not flipped within the cap), ``n_changed``
        (the smallest count that flipped it; <NA> if none), ``fraction`` (``n_changed`` /
        n_train), ``new_prediction``, ``cap`` (the largest count tried) and ``seed``.

    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_breast_cancer
    >>> from boostkit.influence import BoostIn
    >>> from boostkit.influence.evaluate import targeted_edit
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1, n_jobs=1)
    >>> model = model.fit(X[:400], y[:400])
    >>> table = targeted_edit(model, X[:400], y[:400], X[400:402], {"BoostIn": BoostIn()},
    ...                       counts=[5, 20, 40])
    >>> list(table.columns)[:5]
    ['method', 'test_index', 'prediction', 'flipped', 'n_changed']
    >>> int(table.cap.iloc[0])
    40
    """
    _check_options(random_state, n_jobs, verbose)
    X, y, sample_weight, X_test, _, classifier = _check_data(
        model, X, y, sample_weight, X_test, need_y_test=False)
    if not classifier:
        raise ValueError(f"model: targeted_edit flips class predictions, so it needs a "
                         f"classifier; got the regressor {type(model).__name__}")
    _check_explainers(explainers, "local_influence")
    n_train = len(y)
    amounts = _change_counts(fractions, counts, n_train, n_train)
    steps = sorted({c for _, c in amounts if c > 0})
    if not steps:
        raise ValueError("targeted_edit needs at least one positive amount in "
                         "fractions / counts")
    template = _seeded(model, random_state)
    predictions = np.asarray(_fit_model(template, X, y, sample_weight).predict(X_test))
    alternative = _alternative_labels(model, X, y)
    calls, meta = [], []
    for name, explainer in explainers.items():
        fitted = _fit_explainer(explainer, name, model, X, y, sample_weight, random_state)
        influence = _local_influence(fitted, name, X_test, predictions, n_train)
        for e in range(len(predictions)):
            order = _ranking(influence[:, e])[:steps[-1]]
            calls.append(delayed(_flip_search)(template, X, y, sample_weight, order,
                                               alternative, steps, _rows(X_test, [e]),
                                               predictions[e]))
            meta.append((name, e))
    results = _parallel(calls, n_jobs, verbose, "targeted edit: searches")
    records = []
    for (name, e), (count, new) in zip(meta, results):
        records.append((name, e, predictions[e], count is not None,
                        pd.NA if count is None else count,
                        np.nan if count is None else count / n_train, new, steps[-1],
                        random_state))
    frame = pd.DataFrame.from_records(records, columns=[
        "method", "test_index", "prediction", "flipped", "n_changed", "fraction",
        "new_prediction", "cap", "seed"])
    frame["n_changed"] = frame["n_changed"].astype("Int64")
    return frame


# ---------------------------------------------------------------------------- noise detection
def noise_detection(model, X, y, explainers, noise_fraction=0.4,
                    check_fractions=(0.01, 0.05, 0.1, 0.2, 0.3), *, sample_weight=None,
                    random_state=0, verbose=0):
    """Flip training labels, rank rows by self influence, count the flipped rows found first.

    ``noise_fraction`` of the training rows (chosen at random) get a wrong label (binary:
    the other class; multiclass: a uniformly drawn other class), a clone of ``model`` is fit
    on the noisy labels, each explainer is fitted on that model and the noisy data, and the
    rows are ranked by self influence, largest first. For every checked fraction ``k`` the
    table reports the fraction of the flipped rows among the top ``k`` of the ranking; a
    random ranking finds ``k`` of them on average (``random_expected``). Classifiers only.

    Parameters
    ----------
    model : classifier
        Its clone is fit on the noisy labels (the model itself is not used otherwise).
    X : array-like or DataFrame of shape (n_train, n_features)
    y : array-like of shape (n_train,)
        Clean labels.
    explainers : dict of str -> explainer
        Unfitted explainers with ``self_influence()``.
    noise_fraction : float in (0, 1), default=0.4
    check_fractions : sequence of float in (0, 1], default=(0.01, 0.05, 0.1, 0.2, 0.3)
        The top fractions of the ranking checked.
    sample_weight : array-like of shape (n_train,), optional
    random_state : int, default=0
        Seed of the flipped rows, the new labels, the model and the explainers.
    verbose : int, default=0

    Returns
    -------
    DataFrame
        One row per method x checked fraction: ``method``, ``check_fraction``, ``n_checked``,
        ``n_flipped`` (flipped rows in total), ``n_found`` (flipped rows among the checked),
        ``fraction_found`` (``n_found / n_flipped``), ``random_expected``
        (``n_checked / n_train``), ``noise_fraction`` and ``seed``.

    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_breast_cancer
    >>> from boostkit.influence import BoostIn
    >>> from boostkit.influence.evaluate import noise_detection
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1, n_jobs=1)
    >>> table = noise_detection(model, X, y, {"BoostIn": BoostIn()}, check_fractions=(0.1,))
    >>> table[["method", "n_checked", "n_flipped"]].values.tolist()
    [['BoostIn', 57, 228]]
    >>> bool(table.fraction_found.iloc[0] > table.random_expected.iloc[0])
    True
    """
    _check_options(random_state, None, verbose)
    _check_model(model, fitted=False)
    template = _seeded(model, random_state)
    if not is_classifier(template) and not hasattr(template, "predict_proba"):
        raise ValueError(f"model: noise_detection flips labels, so it needs a classifier; got "
                         f"{type(model).__name__}")
    X = _check_X(X, "X")
    y = _labels(y, "y")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} rows but X has {X.shape[0]}; they must match")
    sample_weight = _check_sample_weight(sample_weight, X.shape[0])
    _check_explainers(explainers, "self_influence")
    if not isinstance(noise_fraction, numbers.Real) or not 0 < noise_fraction < 1:
        raise ValueError(f"noise_fraction must be a number in (0, 1); got {noise_fraction!r}")
    checks = np.asarray(check_fractions, dtype=np.float64)
    if checks.ndim != 1 or checks.size == 0 or (checks <= 0).any() or (checks > 1).any():
        raise ValueError(f"check_fractions must be a non-empty sequence of numbers in (0, 1]; "
                         f"got {check_fractions!r}")
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError("y has a single class; noise_detection needs at least two")

    n = len(y)
    rng = np.random.default_rng(random_state)
    n_flipped = int(np.floor(noise_fraction * n + 0.5))
    flipped = rng.choice(n, size=n_flipped, replace=False)
    noisy = y.copy()
    codes = np.searchsorted(classes, y[flipped])
    shift = rng.integers(1, len(classes), size=n_flipped)  # any class but the row's own
    noisy[flipped] = classes[(codes + shift) % len(classes)]
    is_flipped = np.zeros(n, dtype=bool)
    is_flipped[flipped] = True

    noisy_model = _fit_model(template, X, noisy, sample_weight)
    records = []
    items = tqdm(explainers.items(), desc="noise detection", disable=not verbose, leave=False)
    for name, explainer in items:
        fitted = _fit_explainer(explainer, name, noisy_model, X, noisy, sample_weight,
                                random_state)
        scores = np.asarray(fitted.self_influence(), dtype=np.float64).reshape(-1)
        if scores.shape != (n,) or not np.isfinite(scores).all():
            raise ValueError(f"explainers[{name!r}].self_influence must return {n} finite "
                             f"values; got shape {scores.shape}")
        found = np.cumsum(is_flipped[_ranking(scores)])
        for check in checks:
            n_checked = int(np.floor(check * n + 0.5))
            n_found = int(found[n_checked - 1]) if n_checked else 0
            records.append((name, float(check), n_checked, n_flipped, n_found,
                            n_found / n_flipped, n_checked / n, float(noise_fraction),
                            random_state))
    return pd.DataFrame.from_records(records, columns=[
        "method", "check_fraction", "n_checked", "n_flipped", "n_found", "fraction_found",
        "random_expected", "noise_fraction", "seed"])
