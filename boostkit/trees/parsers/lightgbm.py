"""LightGBM: LGBMRegressor, LGBMClassifier and lightgbm.Booster, read from ``dump_model()``."""

from __future__ import annotations

import re

import numpy as np

from ...exceptions import UnsupportedModelError
from ..ensemble import TreeBuilder

_MISSING_MODE = {"NaN": 0, "None": 1, "Zero": 2}


def _booster_and_rounds(model):
    import lightgbm as lgb

    if isinstance(model, lgb.Booster):
        booster = model
        best = booster.best_iteration
    elif isinstance(model, lgb.LGBMModel):
        if not hasattr(model, "_Booster") or model._Booster is None:
            raise ValueError(f"{type(model).__name__} is not fitted; call fit first")
        booster = model.booster_
        best = model.best_iteration_ or 0
    else:  # pragma: no cover - dispatch guarantees the type
        raise TypeError(type(model))
    n_rounds = booster.current_iteration()
    if best and 0 < best < n_rounds:
        n_rounds = best  # sklearn wrapper and Booster.predict use the best iteration
    return booster, n_rounds


def _parameter(model_string, name, default):
    match = re.search(rf"^\[{name}: ([^\]]*)\]", model_string, flags=re.MULTILINE)
    return match.group(1).strip() if match else default


def parse(model):
    booster, n_rounds = _booster_and_rounds(model)
    model_string = booster.model_to_string(num_iteration=n_rounds)
    boosting = _parameter(model_string, "boosting", "gbdt")
    if boosting not in ("gbdt", "goss"):
        raise UnsupportedModelError(
            f"LightGBM boosting={boosting!r} is not supported (DART rescales earlier trees, rf "
            f"averages them); supported: boosting='gbdt' or 'goss'"
        )
    if _parameter(model_string, "linear_tree", "0") in ("1", "true"):
        raise UnsupportedModelError(
            "LightGBM linear_tree=True is not supported: leaves must hold constants"
        )
    dump = booster.dump_model(num_iteration=n_rounds)
    objective_str = dump["objective"].split()
    name = objective_str[0]
    opts = dict(o.split(":", 1) for o in objective_str[1:] if ":" in o)
    n_outputs = int(dump["num_tree_per_iteration"])
    if name == "regression":
        objective, hessian_factor = "squared_error", 1.0
    elif name == "binary":
        if float(opts.get("sigmoid", 1)) != 1.0:
            raise UnsupportedModelError(
                f"LightGBM binary objective with sigmoid={opts['sigmoid']} is not supported; "
                f"only sigmoid=1 (the logistic loss on raw scores)"
            )
        objective, hessian_factor = "logistic", 1.0
    elif name == "multiclass":
        objective, hessian_factor = "softmax", n_outputs / (n_outputs - 1.0)
    else:
        raise UnsupportedModelError(
            f"LightGBM objective {dump['objective']!r} is not supported; supported: "
            f"'regression' (L2), 'binary', 'multiclass'"
        )
    if dump.get("average_output"):
        raise UnsupportedModelError("LightGBM models with average_output are not supported")

    feature_names = dump["feature_names"]
    infos = dump.get("feature_infos", {})
    # Categorical features list the categories they saw; numerical ones only a range.
    categorical = [i for i, f in enumerate(feature_names)
                   if isinstance(infos.get(f), dict) and infos[f].get("values")]
    categories = [None] * len(feature_names)
    pandas_categorical = dump.get("pandas_categorical") or []
    if pandas_categorical:
        if len(pandas_categorical) != len(categorical):
            raise UnsupportedModelError(
                f"LightGBM model has {len(categorical)} categorical features but "
                f"{len(pandas_categorical)} pandas category lists; cannot tell which column "
                f"each list belongs to"
            )
        for i, cats in zip(categorical, pandas_categorical):
            categories[i] = np.asarray(cats, dtype=object)

    builder = TreeBuilder()
    trees = dump["tree_info"]
    if len(trees) != n_rounds * n_outputs:
        raise UnsupportedModelError(
            f"LightGBM model has {len(trees)} trees for {n_rounds} rounds x {n_outputs} outputs"
        )
    for tree in trees:
        _add_tree(builder, tree["tree_structure"])

    # LightGBM keeps column names with whitespace replaced by "_" (and names plain arrays
    # Column_0, Column_1, ...); DataFrames are compared after the same replacement.
    auto_names = all(re.fullmatch(r"Column_\d+", f) for f in feature_names)
    return builder.build(
        n_rounds=n_rounds, n_outputs=n_outputs, objective=objective, bias=np.zeros(n_outputs),
        learning_rate=float(_parameter(model_string, "learning_rate", "0.1")),
        l2=float(_parameter(model_string, "lambda_l2", "0")),
        hessian_factor=hessian_factor, n_features=len(feature_names),
        feature_names=None if auto_names else feature_names, categories=categories,
        whitespace_in_names_as_underscore=True,
        newton_leaves=all(float(_parameter(model_string, name, "0")) == 0.0
                          for name in ("lambda_l1", "max_delta_step", "path_smooth")),
        source=f"lightgbm.{type(model).__name__}",
    )


def _add_tree(builder, root):
    nodes = []  # pre-order list of dicts

    def visit(node):
        index = len(nodes)
        nodes.append(node)
        if "leaf_value" not in node:
            node["_left"] = visit(node["left_child"])
            node["_right"] = visit(node["right_child"])
        return index

    visit(root)
    n = len(nodes)
    feature = np.full(n, -1, dtype=np.int64)
    threshold = np.zeros(n)
    left = np.full(n, -1, dtype=np.int64)
    right = np.full(n, -1, dtype=np.int64)
    value = np.zeros(n)
    missing_left = np.zeros(n, dtype=bool)
    missing_mode = np.zeros(n, dtype=np.int8)
    leaf_index = np.full(n, -1, dtype=np.int64)
    cat_left = {}
    for i, node in enumerate(nodes):
        if "leaf_value" in node:
            value[i] = node["leaf_value"]
            leaf_index[i] = node.get("leaf_index", 0)
            continue
        feature[i] = node["split_feature"]
        left[i], right[i] = node["_left"], node["_right"]
        missing_left[i] = bool(node["default_left"])
        if node["decision_type"] == "==":
            cat_left[i] = [int(c) for c in str(node["threshold"]).split("||")]
            # LightGBM sends NaN and negative categories right, whatever default_left says.
            missing_left[i] = False
        else:
            threshold[i] = float(node["threshold"])
            missing_mode[i] = _MISSING_MODE[node.get("missing_type", "None")]
    builder.add_tree(feature, threshold, left, right, value, missing_left=missing_left,
                     missing_mode=missing_mode, cat_left=cat_left, leaf_index=leaf_index)


def library_outputs(model, X):
    booster, n_rounds = _booster_and_rounds(model)
    raw = booster.predict(X, raw_score=True, num_iteration=n_rounds)
    leaves = booster.predict(X, pred_leaf=True, num_iteration=n_rounds)
    return raw, leaves
