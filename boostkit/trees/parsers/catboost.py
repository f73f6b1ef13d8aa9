"""CatBoost: CatBoostRegressor, CatBoostClassifier (and plain ``CatBoost`` models with the same
losses), read from the model's JSON export.

CatBoost's default trees are oblivious (symmetric): every node of one depth level applies the
same split. A row's leaf is the binary number whose bit ``j`` is the outcome of split ``j``
(1 when ``x > border``), which is also the leaf index ``calc_leaf_indexes`` reports. Each tree is
laid out as a full binary tree whose level ``j`` tests split ``j``, so that leaf numbering
carries over. Non-symmetric trees (``grow_policy='Depthwise'`` or ``'Lossguide'``) are read from
their nested JSON form.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from ...exceptions import UnsupportedModelError
from ..ensemble import TreeBuilder

_OBJECTIVES = {"RMSE": "squared_error", "Logloss": "logistic", "MultiClass": "softmax"}


def _check_model(model):
    import catboost

    if not isinstance(model, catboost.CatBoost):
        raise UnsupportedModelError(
            f"catboost.{type(model).__name__} is not supported; supported: CatBoostRegressor "
            f"(loss RMSE) and CatBoostClassifier (Logloss, MultiClass), or a CatBoost model "
            f"with one of those losses"
        )
    if not model.is_fitted():
        raise ValueError(f"{type(model).__name__} is not fitted; call fit first")


def _export_json(model):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.json")
        model.save_model(path, format="json")
        with open(path) as f:
            return json.load(f)


def _loss_name(params):
    return str(params.get("loss_function", "")).split(":")[0]


def parse(model):
    """Read a fitted CatBoost model into a :class:`~boostkit.trees.TreeEnsemble`.

    Parameters
    ----------
    model : fitted CatBoostRegressor (loss ``RMSE``) or CatBoostClassifier (``Logloss``,
        ``MultiClass``), or a plain ``CatBoost`` model with one of those losses, on numerical
        features only

    Returns
    -------
    TreeEnsemble
        With the extra attribute ``newton_leaves`` (bool): True when every leaf value is one
        Newton step on the plain boosting scores (``leaf_estimation_method='Newton'``,
        ``leaf_estimation_iterations=1``, ``boosting_type='Plain'``), which influence methods
        built on the Newton-step identity require.

    Examples
    --------
    >>> import numpy as np
    >>> from catboost import CatBoostRegressor
    >>> from boostkit.trees.parsers import catboost as reader
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3)); y = X[:, 0] + 0.1 * rng.normal(size=100)
    >>> model = CatBoostRegressor(iterations=5, depth=2, verbose=0).fit(X, y)
    >>> ens = reader.parse(model)
    >>> ens.n_rounds, ens.n_outputs, ens.objective, ens.newton_leaves
    (5, 1, 'squared_error', True)
    >>> bool(np.allclose(ens.predict_raw(X)[:, 0], model.predict(X)))
    True
    """
    _check_model(model)
    params = model.get_all_params()
    loss = _loss_name(params)
    if loss not in _OBJECTIVES:
        raise UnsupportedModelError(
            f"CatBoost loss_function={params.get('loss_function')!r} is not supported; "
            f"supported: 'RMSE' (CatBoostRegressor), 'Logloss' and 'MultiClass' "
            f"(CatBoostClassifier)"
        )
    cat_features = model.get_cat_feature_indices()
    if len(cat_features):
        raise UnsupportedModelError(
            f"CatBoost model with cat_features={list(cat_features)} is not supported: its "
            f"one-hot and CTR (target statistics) features cannot be reproduced exactly; encode "
            f"categorical columns as numbers before fitting"
        )
    scale, bias = model.get_scale_and_bias()
    if scale != 1.0:
        raise UnsupportedModelError(
            f"CatBoost model with scale={scale} is not supported (set_scale_and_bias changed "
            f"it); only scale=1"
        )
    dump = _export_json(model)
    features = dump.get("features_info", {})
    for kind in ("categorical_features", "text_features", "embedding_features", "ctrs"):
        if features.get(kind):
            raise UnsupportedModelError(
                f"CatBoost model with {kind.replace('_', ' ')} is not supported: only "
                f"numerical (float) features can be reproduced exactly"
            )
    float_features = features.get("float_features", [])
    flat_index = {f["feature_index"]: f.get("flat_feature_index", f["feature_index"])
                  for f in float_features}
    nan_right = {f["feature_index"]: f.get("nan_value_treatment", "AsIs") == "AsTrue"
                 for f in float_features}

    n_outputs = len(np.atleast_1d(bias))  # one bias per class for MultiClass
    if loss != "MultiClass" and n_outputs != 1:
        raise UnsupportedModelError(
            f"CatBoost {loss} model with {n_outputs} outputs is not supported"
        )

    builder = TreeBuilder()
    if "oblivious_trees" in dump:
        trees = dump["oblivious_trees"]
        for tree in trees:
            _add_oblivious(builder, tree, n_outputs, flat_index, nan_right)
    elif "trees" in dump:
        trees = dump["trees"]
        for tree in trees:
            _add_nested(builder, tree, n_outputs, flat_index, nan_right)
    else:
        raise UnsupportedModelError("CatBoost JSON export has no trees; cannot read the model")

    names = [str(c) for c in model.feature_names_]
    auto_names = names == [str(i) for i in range(len(names))]
    return builder.build(
        n_rounds=len(trees), n_outputs=n_outputs, objective=_OBJECTIVES[loss],
        bias=np.asarray(bias, dtype=np.float64).reshape(n_outputs),
        learning_rate=float(params["learning_rate"]), l2=float(params.get("l2_leaf_reg", 3.0)),
        hessian_factor=n_outputs / (n_outputs - 1.0) if loss == "MultiClass" else 1.0,
        n_features=len(names), feature_names=None if auto_names else names,
        float32_inputs=True, source=f"catboost.{type(model).__name__}",
        # Several leaf-estimation steps, gradient steps or ordered boosting break the identity
        # "leaf value = one Newton step on the plain boosting scores" that influence relies on.
        newton_leaves=bool(
            params.get("leaf_estimation_method", "Newton") == "Newton"
            and int(params.get("leaf_estimation_iterations", 1)) == 1
            and params.get("boosting_type", "Plain") == "Plain"),
    )


def _split_node(split, flat_index, nan_right):
    if split.get("split_type", "FloatFeature") != "FloatFeature":
        raise UnsupportedModelError(
            f"CatBoost split of type {split.get('split_type')!r} is not supported; only "
            f"splits on numerical features"
        )
    f = split["float_feature_index"]
    # CatBoost sends x > border right; NaN goes right only where the feature's treatment is
    # "AsTrue" (nan_mode='Max' with NaNs seen in training), left otherwise.
    return flat_index.get(f, f), float(split["border"]), not nan_right.get(f, False)


def _add_oblivious(builder, tree, n_outputs, flat_index, nan_right):
    splits = tree.get("splits", [])
    depth = len(splits)
    leaf_values = np.asarray(tree["leaf_values"], dtype=np.float64)
    if leaf_values.size != n_outputs << depth:
        raise UnsupportedModelError(
            f"CatBoost tree has {leaf_values.size} leaf values for depth {depth} and "
            f"{n_outputs} outputs"
        )
    leaf_values = leaf_values.reshape(1 << depth, n_outputs)  # leaves x classes, interleaved
    # Full binary tree in breadth-first order: node i has children 2i+1, 2i+2; level j tests
    # split j. The leaf reached by outcomes b_0..b_{d-1} is numbered sum_j b_j << j.
    n_internal = (1 << depth) - 1
    n_nodes = 2 * n_internal + 1
    feature = np.full(n_nodes, -1, dtype=np.int64)
    threshold = np.zeros(n_nodes)
    missing_left = np.zeros(n_nodes, dtype=bool)
    left = np.full(n_nodes, -1, dtype=np.int64)
    right = np.full(n_nodes, -1, dtype=np.int64)
    for j, split in enumerate(splits):
        col, border, nan_left = _split_node(split, flat_index, nan_right)
        level = np.arange((1 << j) - 1, (1 << (j + 1)) - 1)
        feature[level], threshold[level], missing_left[level] = col, border, nan_left
        left[level], right[level] = 2 * level + 1, 2 * level + 2
    # Position p within the leaf level spells the outcomes root-first (b_0 is p's top bit).
    positions = np.arange(1 << depth)
    leaf_index = np.full(n_nodes, -1, dtype=np.int64)
    code = np.zeros(1 << depth, dtype=np.int64)
    for j in range(depth):
        code |= ((positions >> (depth - 1 - j)) & 1) << j
    leaf_index[n_internal:] = code
    for k in range(n_outputs):
        value = np.zeros(n_nodes)
        value[n_internal:] = leaf_values[code, k]
        builder.add_tree(feature, threshold, left, right, value, missing_left=missing_left,
                         leaf_index=leaf_index.copy())


def _add_nested(builder, root, n_outputs, flat_index, nan_right):
    nodes = []

    def visit(node):
        index = len(nodes)
        nodes.append(node)
        if "split" in node:
            node["_left"] = visit(node["left"])
            node["_right"] = visit(node["right"])
        return index

    visit(root)
    n = len(nodes)
    feature = np.full(n, -1, dtype=np.int64)
    threshold = np.zeros(n)
    missing_left = np.zeros(n, dtype=bool)
    left = np.full(n, -1, dtype=np.int64)
    right = np.full(n, -1, dtype=np.int64)
    values = np.zeros((n, n_outputs))
    for i, node in enumerate(nodes):
        if "split" in node:
            feature[i], threshold[i], missing_left[i] = _split_node(node["split"], flat_index,
                                                                   nan_right)
            left[i], right[i] = node["_left"], node["_right"]
        else:
            values[i] = np.asarray(node["value"], dtype=np.float64).reshape(n_outputs)
    for k in range(n_outputs):
        builder.add_tree(feature, threshold, left, right, values[:, k],
                         missing_left=missing_left)


def library_outputs(model, X):
    """CatBoost's raw output ``predict(X, prediction_type='RawFormulaVal')`` as (n, C) and its
    leaf indexes ``calc_leaf_indexes`` (n, T) repeated over the C outputs."""
    from catboost import Pool

    _check_model(model)
    raw = np.asarray(model.predict(X, prediction_type="RawFormulaVal"), dtype=np.float64)
    raw = raw.reshape(raw.shape[0], -1)
    leaves = np.asarray(model.calc_leaf_indexes(Pool(X)))
    leaves = np.repeat(leaves.reshape(leaves.shape[0], -1)[:, :, None], raw.shape[1], axis=2)
    return raw, leaves
