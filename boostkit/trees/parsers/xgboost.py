"""XGBoost: XGBRegressor, XGBClassifier and xgboost.Booster, read from the model's JSON."""

from __future__ import annotations

import json
import re

import numpy as np

from ...exceptions import UnsupportedModelError
from ..ensemble import TreeBuilder

_OBJECTIVES = {
    "reg:squarederror": "squared_error",
    "binary:logistic": "logistic",
    "binary:logitraw": "logistic",
    "multi:softprob": "softmax",
    "multi:softmax": "softmax",
}


def _booster_and_rounds(model):
    import xgboost as xgb

    if isinstance(model, xgb.Booster):
        return model, model.num_boosted_rounds()
    if isinstance(model, xgb.XGBModel):
        try:
            booster = model.get_booster()
        except Exception as exc:  # xgboost raises NotFittedError subclasses of its own
            raise ValueError(f"{type(model).__name__} is not fitted; call fit first") from exc
        n_rounds = booster.num_boosted_rounds()
        best = getattr(model, "best_iteration", None)
        if best is not None and best + 1 < n_rounds:
            n_rounds = best + 1  # the sklearn wrapper predicts with the best iteration
        missing = getattr(model, "missing", np.nan)
        if missing is not None and not np.isnan(missing):
            raise UnsupportedModelError(
                f"XGBoost missing={missing!r} is not supported; encode missing values as NaN "
                f"and use missing=np.nan"
            )
        return booster, n_rounds
    raise TypeError(type(model))  # pragma: no cover - dispatch guarantees the type


def _floats(text):
    return [float(v) for v in re.findall(r"[-+0-9.eEinfaINFA]+", str(text))]


def _decode_categories(enc):
    """Training categories of one feature from the model's ``cats`` section (XGBoost >= 3.1)."""
    if "offsets" in enc:  # strings: bytes delimited by offsets
        offsets, values = enc["offsets"], enc["values"]
        if not offsets:
            return None
        raw = bytes(v & 0xFF for v in values)
        try:
            return np.asarray([raw[a:b].decode("utf-8") for a, b in zip(offsets, offsets[1:])],
                              dtype=object)
        except UnicodeDecodeError:
            raise UnsupportedModelError(
                "XGBoost stores a non-ASCII category name of this model in a form that cannot "
                "be decoded; use ASCII category names or integer-coded categories"
            ) from None
    values = enc.get("values", [])
    return np.asarray(values, dtype=object) if len(values) else None


def parse(model):
    booster, n_rounds = _booster_and_rounds(model)
    learner = json.loads(booster.save_raw("json"))["learner"]
    config = json.loads(booster.save_config())["learner"]
    gb = learner["gradient_booster"]
    if gb["name"] != "gbtree":
        raise UnsupportedModelError(
            f"XGBoost booster={gb['name']!r} is not supported (DART rescales trees, gblinear "
            f"has none); supported: booster='gbtree'"
        )
    objective_name = learner["objective"]["name"]
    if objective_name not in _OBJECTIVES:
        raise UnsupportedModelError(
            f"XGBoost objective {objective_name!r} is not supported; supported: "
            f"{sorted(_OBJECTIVES)}"
        )
    objective = _OBJECTIVES[objective_name]
    params = learner["learner_model_param"]
    if int(params.get("num_target", 1)) > 1:
        raise UnsupportedModelError("XGBoost multi-target models are not supported")
    trees_model = gb["model"]
    if int(trees_model["gbtree_model_param"]["num_parallel_tree"]) != 1:
        raise UnsupportedModelError(
            "XGBoost num_parallel_tree > 1 (boosted random forests) is not supported"
        )
    n_outputs = max(1, int(params["num_class"]))
    if any(int(t["tree_param"].get("size_leaf_vector", 1)) > 1 for t in trees_model["trees"]):
        raise UnsupportedModelError("XGBoost vector-leaf trees (multi_strategy) are not supported")

    # base_score: an estimated intercept (XGBoost >= 2) in the objective's output space.
    base = np.asarray(_floats(params["base_score"]), dtype=np.float64)
    if objective_name == "binary:logistic":
        base = np.log(base / (1.0 - base))
    bias = np.broadcast_to(base, (n_outputs,)).copy()

    train = config["gradient_booster"].get("tree_train_param", {})
    learning_rate = float(train.get("eta", 0.3))
    l2 = float(train.get("lambda", 1.0))

    feature_names = learner.get("feature_names") or None
    n_features = int(params["num_feature"])
    categories = [None] * n_features
    cats = trees_model.get("cats")
    if cats and cats.get("enc"):
        for i, enc in enumerate(cats["enc"]):
            categories[i] = _decode_categories(enc)

    trees = trees_model["trees"][: n_rounds * n_outputs]
    if len(trees) != n_rounds * n_outputs:
        raise UnsupportedModelError(
            f"XGBoost model has {len(trees)} trees for {n_rounds} rounds x {n_outputs} outputs"
        )
    groups = trees_model["tree_info"][: len(trees)]
    order = sorted(range(len(trees)), key=lambda j: (j // n_outputs, groups[j]))
    builder = TreeBuilder()
    for j in order:
        _add_tree(builder, trees[j])

    return builder.build(
        n_rounds=n_rounds, n_outputs=n_outputs, objective=objective, bias=bias,
        learning_rate=learning_rate, l2=l2,
        hessian_factor=2.0 if objective == "softmax" else 1.0, n_features=n_features,
        feature_names=feature_names, categories=categories, float32_inputs=True,
        unknown_category="error",
        newton_leaves=all(float(train.get(name, 0.0)) == 0.0
                          for name in ("alpha", "max_delta_step")),
        source=f"xgboost.{type(model).__name__}",
    )


def _add_tree(builder, tree):
    left = np.asarray(tree["left_children"], dtype=np.int64)
    right = np.asarray(tree["right_children"], dtype=np.int64)
    cond = np.asarray(tree["split_conditions"], dtype=np.float32)
    is_leaf = left < 0
    feature = np.where(is_leaf, -1, np.asarray(tree["split_indices"], dtype=np.int64))
    # XGBoost sends x < t left, in float32; x32 < t32 <=> x32 <= the float32 just below t32.
    threshold = np.nextafter(cond, np.float32(-np.inf)).astype(np.float64)
    missing_left = np.asarray(tree["default_left"], dtype=bool)
    missing_mode = np.zeros(left.shape[0], dtype=np.int8)
    cat_left = {}
    sizes = tree.get("categories_sizes", [])
    for node, start, size in zip(tree.get("categories_nodes", []),
                                 tree.get("categories_segments", []), sizes):
        # XGBoost sends the listed categories RIGHT and everything else (unlisted, negative,
        # unseen) left. The kernel sends bitset members left, so swap the children.
        cat_left[node] = tree["categories"][start:start + size]
        left[node], right[node] = right[node], left[node]
        missing_left[node] = not missing_left[node]
        missing_mode[node] = 3  # invalid codes take the not-in-set side
    builder.add_tree(feature, threshold, left, right, np.where(is_leaf, cond, 0.0),
                     missing_left=missing_left, missing_mode=missing_mode, cat_left=cat_left)


def library_outputs(model, X):
    import xgboost as xgb

    booster, n_rounds = _booster_and_rounds(model)
    enable_cat = bool(getattr(model, "enable_categorical", False)) or any(
        t == "c" for t in (booster.feature_types or []))
    data = xgb.DMatrix(X, enable_categorical=enable_cat, missing=np.nan)
    raw = booster.predict(data, output_margin=True, iteration_range=(0, n_rounds))
    leaves = booster.predict(data, pred_leaf=True, iteration_range=(0, n_rounds))
    return raw, leaves
