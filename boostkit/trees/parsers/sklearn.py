"""scikit-learn: GradientBoosting*, HistGradientBoosting*, RandomForest*, ExtraTrees* and
DecisionTree* models.

Read from the fitted attributes: ``estimators_`` / ``tree_`` arrays of the classic trees and the
private ``_predictors`` node records of HistGradientBoosting (which has no public tree access).
"""

from __future__ import annotations

import numpy as np

from ...exceptions import UnsupportedModelError
from ..ensemble import TreeBuilder

_BOOSTING_LOSSES = {"squared_error", "log_loss"}


def _kind(model):
    from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor,
                                  GradientBoostingClassifier, GradientBoostingRegressor,
                                  HistGradientBoostingClassifier,
                                  HistGradientBoostingRegressor, RandomForestClassifier,
                                  RandomForestRegressor)
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if isinstance(model, (GradientBoostingRegressor, GradientBoostingClassifier)):
        return "gb"
    if isinstance(model, (HistGradientBoostingRegressor, HistGradientBoostingClassifier)):
        return "hgb"
    if isinstance(model, (RandomForestRegressor, RandomForestClassifier, ExtraTreesRegressor,
                          ExtraTreesClassifier)):
        return "forest"
    if isinstance(model, (DecisionTreeRegressor, DecisionTreeClassifier)):
        return "tree"
    raise UnsupportedModelError(
        f"scikit-learn model {type(model).__name__} is not supported; supported: "
        f"GradientBoostingRegressor/Classifier, HistGradientBoostingRegressor/Classifier, "
        f"RandomForestRegressor/Classifier, ExtraTreesRegressor/Classifier, "
        f"DecisionTreeRegressor/Classifier"
    )


def _check_fitted(model):
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)


def _is_classifier(model):
    from sklearn.base import is_classifier

    return is_classifier(model)


def _feature_names(model):
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(c) for c in names]


def _class_objective(n_classes):
    return "logistic" if n_classes == 2 else "softmax"


def parse(model):
    """Read a fitted scikit-learn tree model into a :class:`~boostkit.trees.TreeEnsemble`.

    Parameters
    ----------
    model : fitted GradientBoosting*, HistGradientBoosting*, RandomForest*, ExtraTrees* or
        DecisionTree* regressor / classifier

    Returns
    -------
    TreeEnsemble
        Boosting: leaves scaled by ``learning_rate``, bias from ``init_`` or the baseline.
        Forests and single trees: ``averaged=True``, one tree per class for classifiers
        holding that class's leaf probability.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from boostkit.trees.parsers import sklearn as reader
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3)); y = (X[:, 0] > 0).astype(int)
    >>> model = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0).fit(X, y)
    >>> ens = reader.parse(model)
    >>> ens.n_rounds, ens.n_outputs, ens.objective, ens.averaged
    (4, 2, 'logistic', True)
    >>> bool(np.allclose(ens.predict_raw(X), model.predict_proba(X)))
    True
    """
    kind = _kind(model)
    _check_fitted(model)
    if kind == "gb":
        return _parse_gb(model)
    if kind == "hgb":
        return _parse_hgb(model)
    return _parse_forest(model, [model] if kind == "tree" else list(model.estimators_))


def library_outputs(model, X):
    """The library's raw output (n, C) and leaf node ids (n, T, C), or None for
    HistGradientBoosting, which has no public leaf output.

    Raw output is ``decision_function`` for boosting classifiers, ``predict_proba`` for forest
    and tree classifiers, ``predict`` for regressors.
    """
    kind = _kind(model)
    n = len(X)
    if kind in ("gb", "hgb"):
        if _is_classifier(model):
            raw = np.asarray(model.decision_function(X), dtype=np.float64).reshape(n, -1)
        else:
            raw = np.asarray(model.predict(X), dtype=np.float64).reshape(n, 1)
        if kind == "hgb":
            return raw, None  # HistGradientBoosting has no public leaf output
        # GradientBoosting.apply hands a DataFrame to trees fitted without names, which warns;
        # decision_function / predict above already checked the names.
        X_values = X.to_numpy() if hasattr(X, "to_numpy") else X
        leaves = np.asarray(model.apply(X_values)).reshape(n, model.estimators_.shape[0], -1)
        return raw, leaves
    if _is_classifier(model):
        raw = np.asarray(model.predict_proba(X), dtype=np.float64)
    else:
        raw = np.asarray(model.predict(X), dtype=np.float64).reshape(n, 1)
    leaves = np.asarray(model.apply(X)).reshape(n, -1)
    return raw, np.repeat(leaves[:, :, None], raw.shape[1], axis=2)


# ---------------------------------------------------------------------- classic sklearn trees
def _add_sklearn_tree(builder, tree, values):
    """One ``sklearn.tree._tree.Tree`` with per-node ``values`` (already scaled)."""
    is_leaf = tree.children_left < 0
    feature = np.where(is_leaf, -1, tree.feature).astype(np.int64)
    threshold = np.where(is_leaf, 0.0, tree.threshold)
    missing_left = getattr(tree, "missing_go_to_left", None)
    if missing_left is not None:
        missing_left = np.asarray(missing_left, dtype=bool) & ~is_leaf
    builder.add_tree(feature, threshold, tree.children_left, tree.children_right, values,
                     missing_left=missing_left)


def _parse_gb(model):
    loss = model.loss
    if loss not in _BOOSTING_LOSSES:
        raise UnsupportedModelError(
            f"{type(model).__name__} with loss={loss!r} is not supported; supported losses: "
            f"'squared_error' (regression) and 'log_loss' (classification)"
        )
    estimators = model.estimators_
    n_rounds, n_outputs = estimators.shape
    bias = _gb_bias(model)
    eta = float(model.learning_rate)
    builder = TreeBuilder()
    for t in range(n_rounds):
        for k in range(n_outputs):
            tree = estimators[t, k].tree_
            _add_sklearn_tree(builder, tree, eta * tree.value[:, 0, 0])
    if _is_classifier(model):
        objective = _class_objective(len(model.classes_))
    else:
        objective = "squared_error"
    # GradientBoostingClassifier's multinomial Newton step scales the gradient sum by
    # (K - 1) / K: the step of a diagonal hessian K / (K - 1) p (1 - p) (checked on its leaves)
    factor = n_outputs / (n_outputs - 1.0) if objective == "softmax" else 1.0
    return builder.build(
        n_rounds=n_rounds, n_outputs=n_outputs, objective=objective, bias=bias,
        learning_rate=eta, l2=0.0, hessian_factor=factor, n_features=model.n_features_in_,
        feature_names=_feature_names(model), float32_inputs=True,
        source=f"sklearn.{type(model).__name__}",
    )


def _gb_bias(model):
    """Raw score of GradientBoosting's ``init_``, which must not depend on the input."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    init = model.init_
    n_outputs = model.estimators_.shape[1]
    if isinstance(init, str) and init == "zero":
        return np.zeros(n_outputs)
    if isinstance(init, DummyRegressor) or (
            isinstance(init, DummyClassifier) and init.strategy != "stratified"):
        # A dummy's prediction is the same for every row, so one row gives the bias; the library
        # turns it into a raw score with its own link (clipping, geometric-mean reference).
        row = np.zeros((1, model.n_features_in_), dtype=np.float32)
        return np.asarray(model._raw_predict_init(row), dtype=np.float64).reshape(n_outputs)
    raise UnsupportedModelError(
        f"{type(model).__name__} with init={init!r} is not supported: its initial raw score "
        f"depends on the input; supported: init=None (the default prior), 'zero', or a "
        f"constant DummyRegressor / DummyClassifier"
    )


def _parse_forest(model, trees):
    n_out = getattr(model, "n_outputs_", 1)
    if n_out != 1:
        raise UnsupportedModelError(
            f"{type(model).__name__} fitted on {n_out} targets is not supported; fit one model "
            f"per target"
        )
    builder = TreeBuilder()
    if _is_classifier(model):
        n_classes = len(model.classes_)
        for est in trees:
            tree = est.tree_
            counts = tree.value[:, 0, :]
            total = counts.sum(axis=1, keepdims=True)
            proba = counts / np.where(total == 0, 1.0, total)
            for k in range(n_classes):
                _add_sklearn_tree(builder, tree, proba[:, k])
        n_outputs, objective = n_classes, _class_objective(n_classes)
    else:
        for est in trees:
            _add_sklearn_tree(builder, est.tree_, est.tree_.value[:, 0, 0])
        n_outputs, objective = 1, "squared_error"
    return builder.build(
        n_rounds=len(trees), n_outputs=n_outputs, objective=objective,
        bias=np.zeros(n_outputs), learning_rate=1.0, l2=0.0, averaged=True,
        n_features=model.n_features_in_, feature_names=_feature_names(model),
        float32_inputs=True, source=f"sklearn.{type(model).__name__}",
    )


# ---------------------------------------------------------------------- HistGradientBoosting
def _parse_hgb(model):
    loss = model.loss
    if loss not in _BOOSTING_LOSSES:
        raise UnsupportedModelError(
            f"{type(model).__name__} with loss={loss!r} is not supported; supported losses: "
            f"'squared_error' (regression) and 'log_loss' (classification)"
        )
    n_features = model.n_features_in_
    preprocessor = model._preprocessor
    categories = [None] * n_features
    if preprocessor is None:
        to_input = np.arange(n_features)
    else:
        # The ColumnTransformer puts the categorical columns first; model feature f reads input
        # column to_input[f].
        is_cat = np.asarray(model.is_categorical_, dtype=bool)
        to_input = np.concatenate([np.flatnonzero(is_cat), np.flatnonzero(~is_cat)])
        encoder = preprocessor.named_transformers_["encoder"]
        known_bitsets, f_idx_map = model._bin_mapper.make_known_categories_bitsets()
        for f, (column, cats) in enumerate(zip(np.flatnonzero(is_cat), encoder.categories_)):
            cats = np.asarray(cats, dtype=object)
            if len(cats) and _is_nan(cats[-1]):
                cats = cats[:-1]  # the encoder lists NaN last; it is the missing value here
            # The predictor sends codes it did not see in training to the missing side, as our
            # kernel does for codes the ensemble cannot encode; both agree only if every code
            # the encoder can produce is known.
            bits = known_bitsets[f_idx_map[f]]
            codes = np.arange(len(cats))
            if not np.all((bits[codes >> 5] >> (codes & 31)) & 1):
                raise UnsupportedModelError(
                    f"{type(model).__name__}: categorical column {int(column)} has categories "
                    f"the model did not bin; cannot reproduce its routing"
                )
            categories[column] = cats
    builder = TreeBuilder()
    predictors = model._predictors
    n_rounds = len(predictors)
    n_outputs = int(model.n_trees_per_iteration_)
    for round_predictors in predictors:
        for predictor in round_predictors:
            _add_hgb_tree(builder, predictor, to_input)
    if _is_classifier(model):
        objective = _class_objective(len(model.classes_))
    else:
        objective = "squared_error"
    return builder.build(
        n_rounds=n_rounds, n_outputs=n_outputs, objective=objective,
        bias=np.asarray(model._baseline_prediction, dtype=np.float64).reshape(n_outputs),
        learning_rate=float(model.learning_rate), l2=float(model.l2_regularization),
        hessian_factor=1.0, n_features=n_features, feature_names=_feature_names(model),
        categories=categories, encode_categories_always=preprocessor is not None,
        source=f"sklearn.{type(model).__name__}",
    )


def _is_nan(value):
    try:
        return bool(np.isnan(value))
    except TypeError:
        return False


def _add_hgb_tree(builder, predictor, to_input):
    nodes = predictor.nodes
    is_leaf = nodes["is_leaf"].astype(bool)
    feature = np.where(is_leaf, -1, to_input[nodes["feature_idx"]]).astype(np.int64)
    left = np.where(is_leaf, -1, nodes["left"].astype(np.int64))
    right = np.where(is_leaf, -1, nodes["right"].astype(np.int64))
    threshold = np.where(is_leaf | nodes["is_categorical"].astype(bool), 0.0,
                         nodes["num_threshold"])
    missing_left = nodes["missing_go_to_left"].astype(bool) & ~is_leaf
    cat_left = {}
    bitsets = predictor.raw_left_cat_bitsets
    for i in np.flatnonzero(nodes["is_categorical"].astype(bool) & ~is_leaf):
        words = bitsets[nodes["bitset_idx"][i]]
        codes = [32 * w + b for w in range(len(words)) for b in range(32)
                 if (int(words[w]) >> b) & 1]
        cat_left[int(i)] = codes
    builder.add_tree(feature, threshold, left, right, nodes["value"],
                     missing_left=missing_left, cat_left=cat_left)
