"""Readers that turn a fitted model of each library into a :class:`TreeEnsemble`.

Each reader module has ``parse(model) -> TreeEnsemble`` and ``library_outputs(model, X)`` ->
``(raw, leaves)``: the library's own raw prediction (n, C) and leaf output (n, T, C) or None,
which :func:`from_model` compares against.
"""

from __future__ import annotations

import importlib

import numpy as np

from ...exceptions import ModelParseError, UnsupportedModelError

__all__ = ["from_model", "reader_for", "check_parity"]

_READERS = {"lightgbm": "lightgbm", "xgboost": "xgboost", "catboost": "catboost",
            "sklearn": "sklearn"}


def reader_for(model):
    """The reader module for a model, by the package its class comes from."""
    package = type(model).__module__.split(".")[0]
    if package not in _READERS:
        raise UnsupportedModelError(
            f"{type(model).__module__}.{type(model).__name__} is not a supported model; "
            f"supported: LightGBM (LGBMRegressor, LGBMClassifier, Booster), XGBoost "
            f"(XGBRegressor, XGBClassifier, Booster), CatBoost (CatBoostRegressor, "
            f"CatBoostClassifier), scikit-learn (GradientBoosting*, HistGradientBoosting*, "
            f"RandomForest*, ExtraTrees*, DecisionTree*)"
        )
    return importlib.import_module(f"{__name__}.{_READERS[package]}")


def check_parity(ensemble, model, X, reader=None):
    """Raise :class:`ModelParseError` unless ``ensemble`` reproduces ``model`` on ``X``.

    Raw outputs must agree to 1e-6 relative (relative to the largest raw output magnitude for
    values near zero; a library that sums its trees in float32 may be off by one float32
    rounding per tree, so the tolerance grows to ``n_trees * 2**-23`` there) and every tree must
    partition the rows of ``X`` into the same leaves as the library's own leaf output, where the
    library has one.
    """
    reader = reader or reader_for(model)
    theirs_raw, theirs_leaves = reader.library_outputs(model, X)
    # from the leaves, not predict_raw: a first fit then compiles one tree walk, not two
    leaf_ids = ensemble.apply(X)
    ours_raw = ensemble.raw_from_leaves(leaf_ids)
    float32_sums = np.asarray(theirs_raw).dtype == np.float32
    theirs_raw = np.asarray(theirs_raw, dtype=np.float64).reshape(ours_raw.shape)
    scale = max(1.0, float(np.abs(theirs_raw).max(initial=0.0)))
    err = np.abs(ours_raw - theirs_raw)
    rtol = max(1e-6, ensemble.n_rounds * 2.0 ** -23) if float32_sums else 1e-6
    bad = err > rtol * np.maximum(np.abs(theirs_raw), scale)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ModelParseError(
            f"parsed {ensemble.source} disagrees with the library on {int(bad.any(axis=1).sum())}"
            f" of {len(ours_raw)} rows; first at row {row}, output {col}: ours "
            f"{ours_raw[row, col]!r}, library {theirs_raw[row, col]!r}"
        )
    if theirs_leaves is not None:
        ours = leaf_ids.reshape(len(ours_raw), -1).astype(np.int64)
        theirs = np.asarray(theirs_leaves).reshape(len(ours_raw), -1).astype(np.int64)
        # Same partition <=> the pairing (our leaf, their leaf) is one-to-one in every tree:
        # as many distinct pairs as distinct leaves on either side (counted per column).
        pairs = ours * (theirs.max(initial=0) + 1) + theirs
        counts = [_distinct_per_column(a) for a in (pairs, ours, theirs)]
        bad_trees = np.flatnonzero((counts[0] != counts[1]) | (counts[0] != counts[2]))
        if bad_trees.size:
            j = int(bad_trees[0])
            raise ModelParseError(
                f"parsed {ensemble.source}: tree {j} (round {j // ensemble.n_outputs}, "
                f"output {j % ensemble.n_outputs}) puts rows in other leaves than the "
                f"library does ({bad_trees.size} trees differ)"
            )


def _distinct_per_column(a):
    if a.shape[0] == 0:
        return np.zeros(a.shape[1], dtype=np.int64)
    s = np.sort(a, axis=0)
    return (np.diff(s, axis=0) != 0).sum(axis=0) + 1


def from_model(model, X_check=None):
    """Read a fitted tree-ensemble model of any supported library.

    Parameters
    ----------
    model : fitted model
        LightGBM (``LGBMRegressor``, ``LGBMClassifier``, ``lightgbm.Booster``), XGBoost
        (``XGBRegressor``, ``XGBClassifier``, ``xgboost.Booster``), CatBoost
        (``CatBoostRegressor``, ``CatBoostClassifier``) or scikit-learn (``GradientBoosting*``,
        ``HistGradientBoosting*``, ``RandomForest*``, ``ExtraTrees*``, ``DecisionTree*``), trained
        with squared error, logistic (binary) or softmax (multiclass) loss.
    X_check : array-like or DataFrame, optional
        Rows on which to verify that the parsed ensemble reproduces the library's raw output
        (to 1e-6 relative) and leaf partition; a mismatch raises :class:`ModelParseError`.

    Returns
    -------
    TreeEnsemble

    Raises
    ------
    UnsupportedModelError
        The model type, objective or a setting (DART, linear trees, ranking objectives, ...) is
        not supported; the message says what is.
    ModelParseError
        With ``X_check``: the parsed ensemble does not reproduce the model.

    Examples
    --------
    >>> import lightgbm as lgb
    >>> from sklearn.datasets import load_diabetes
    >>> from boostkit.trees import from_model
    >>> X, y = load_diabetes(return_X_y=True, as_frame=True)
    >>> model = lgb.LGBMRegressor(n_estimators=20, num_leaves=7, verbose=-1).fit(X, y)
    >>> ens = from_model(model, X_check=X)
    >>> ens.n_rounds, ens.n_outputs, ens.objective
    (20, 1, 'squared_error')
    >>> ens.feature_names[:3]
    ['age', 'sex', 'bmi']
    """
    reader = reader_for(model)
    ensemble = reader.parse(model)
    if X_check is not None:
        check_parity(ensemble, model, X_check, reader)
    return ensemble
