"""LightGBM: LGBMRegressor, LGBMClassifier and lightgbm.Booster, read from the model string."""

from __future__ import annotations

import re

import numpy as np

from ...exceptions import UnsupportedModelError
from ..ensemble import TreeBuilder, _local_positions

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


def _parameters(model_string):
    """The training parameters LightGBM appends to the model string, as {name: text}.

    They sit in a ``parameters:`` ... ``end of parameters`` section after the trees; reading
    only that tail (not the whole string) keeps the parse fast for large models.
    """
    start = model_string.rfind("\nparameters:\n")
    if start < 0:
        return {}
    section = model_string[start:model_string.find("\nend of parameters", start)]
    return dict(re.findall(r"^\[([^:\]]+): ([^\]]*)\]", section, flags=re.MULTILINE))


def parse(model):
    booster, n_rounds = _booster_and_rounds(model)
    model_string = booster.model_to_string(num_iteration=n_rounds)
    params = _parameters(model_string)

    def _parameter(name, default):
        return params.get(name, default).strip()

    boosting = _parameter("boosting", "gbdt")
    if boosting not in ("gbdt", "goss"):
        raise UnsupportedModelError(
            f"LightGBM boosting={boosting!r} is not supported (DART rescales earlier trees, rf "
            f"averages them); supported: boosting='gbdt' or 'goss'"
        )
    header, trees = _read_model_string(model_string)
    objective_str = header["objective"].split()
    name = objective_str[0]
    opts = dict(o.split(":", 1) for o in objective_str[1:] if ":" in o)
    n_outputs = int(header["num_tree_per_iteration"])
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
            f"LightGBM objective {header['objective']!r} is not supported; supported: "
            f"'regression' (L2), 'binary', 'multiclass'"
        )
    if "average_output" in header:
        raise UnsupportedModelError("LightGBM models with average_output are not supported")

    feature_names = header["feature_names"].split(" ")
    # Categorical features list the categories they saw ("-1:0:2"); numerical ones a range.
    infos = header.get("feature_infos", "").split(" ")
    categorical = [i for i, info in enumerate(infos) if info != "none" and not
                   info.startswith("[")]
    categories = [None] * len(feature_names)
    pandas_categorical = getattr(booster, "pandas_categorical", None) or []
    if pandas_categorical:
        if len(pandas_categorical) != len(categorical):
            raise UnsupportedModelError(
                f"LightGBM model has {len(categorical)} categorical features but "
                f"{len(pandas_categorical)} pandas category lists; cannot tell which column "
                f"each list belongs to"
            )
        for i, cats in zip(categorical, pandas_categorical):
            categories[i] = np.asarray(cats, dtype=object)

    if len(trees) != n_rounds * n_outputs:
        raise UnsupportedModelError(
            f"LightGBM model has {len(trees)} trees for {n_rounds} rounds x {n_outputs} outputs"
        )
    if any(tree.get("is_linear", "0") != "0" for tree in trees):
        raise UnsupportedModelError(
            "LightGBM linear_tree=True is not supported: leaves must hold constants"
        )
    builder = TreeBuilder()
    _add_trees(builder, trees)

    # LightGBM keeps column names with whitespace replaced by "_" (and names plain arrays
    # Column_0, Column_1, ...); DataFrames are compared after the same replacement.
    auto_names = all(re.fullmatch(r"Column_\d+", f) for f in feature_names)
    return builder.build(
        n_rounds=n_rounds, n_outputs=n_outputs, objective=objective, bias=np.zeros(n_outputs),
        learning_rate=float(_parameter("learning_rate", "0.1")),
        l2=float(_parameter("lambda_l2", "0")),
        hessian_factor=hessian_factor, n_features=len(feature_names),
        feature_names=None if auto_names else feature_names, categories=categories,
        whitespace_in_names_as_underscore=True,
        newton_leaves=all(float(_parameter(name, "0")) == 0.0
                          for name in ("lambda_l1", "max_delta_step", "path_smooth")),
        source=f"lightgbm.{type(model).__name__}",
    )


def _read_model_string(text):
    """(header, trees) of a LightGBM model string: ``key=value`` dicts, one per tree.

    The model string is LightGBM's own text format (what ``save_model`` writes); reading it is
    several times faster than ``dump_model()``'s JSON and holds the same trees.
    """
    body = text.split("\nend of trees", 1)[0]
    blocks = re.split(r"\n(?=Tree=\d+\n)", body)
    header = dict(line.split("=", 1) for line in blocks[0].splitlines() if "=" in line)
    if header.get("version", "v4") not in ("v3", "v4"):
        raise UnsupportedModelError(f"LightGBM model format {header['version']!r} is not "
                                    f"supported; supported: v3, v4")
    trees = [dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
             for block in blocks[1:]]
    return header, trees


def _numbers(trees, key, dtype):
    """Every tree's space-separated numbers under ``key``, converted in one call: the values of
    all trees one after the other, and how many each tree has."""
    texts = [tree.get(key, "") for tree in trees]
    counts = np.array([text.count(" ") + 1 if text else 0 for text in texts], dtype=np.int64)
    joined = " ".join(text for text in texts if text)
    values = np.array(joined.split(" "), dtype=dtype) if joined else np.zeros(0, dtype)
    return values, counts


def _add_trees(builder, trees):
    """All trees at once, each laid out as LightGBM's internal nodes 0..L-2, then its leaves
    0..L-1 (node indices local to the tree)."""
    n_leaves = np.array([int(tree["num_leaves"]) for tree in trees], dtype=np.int64)
    n_internal = n_leaves - 1
    sizes = n_internal + n_leaves
    starts = np.cumsum(sizes) - sizes
    internal = np.repeat(starts, n_internal) + _local_positions(n_internal)
    leaves = np.repeat(starts + n_internal, n_leaves) + _local_positions(n_leaves)
    n = int(sizes.sum())
    feature = np.full(n, -1, dtype=np.int64)
    threshold = np.zeros(n)
    left = np.full(n, -1, dtype=np.int64)
    right = np.full(n, -1, dtype=np.int64)
    missing_left = np.zeros(n, dtype=bool)
    missing_mode = np.zeros(n, dtype=np.int8)
    value = np.zeros(n)
    value[leaves] = _numbers(trees, "leaf_value", np.float64)[0]
    leaf_index = np.full(n, -1, dtype=np.int64)
    leaf_index[leaves] = _local_positions(n_leaves)

    feature[internal] = _numbers(trees, "split_feature", np.int64)[0]
    raw_threshold = _numbers(trees, "threshold", np.float64)[0]
    decision = _numbers(trees, "decision_type", np.int64)[0]
    own_internal = np.repeat(n_internal, n_internal)  # each internal node's tree's count
    for side, key in ((left, "left_child"), (right, "right_child")):
        child = _numbers(trees, key, np.int64)[0]
        side[internal] = np.where(child >= 0, child, own_internal + ~child)  # ~c: leaf c
    is_cat = (decision & 1) == 1
    missing_left[internal] = (decision & 2) == 2
    # LightGBM missing types None / Zero / NaN are the kernel's missing modes 1 / 2 / 0.
    missing_mode[internal] = np.array([1, 2, 0, 0], dtype=np.int8)[(decision >> 2) & 3]
    threshold[internal] = np.where(is_cat, 0.0, raw_threshold)
    cat_left = {}
    if is_cat.any():
        bounds, bound_counts = _numbers(trees, "cat_boundaries", np.int64)
        words, word_counts = _numbers(trees, "cat_threshold", np.uint64)
        bound_starts = np.cumsum(bound_counts) - bound_counts
        word_starts = np.cumsum(word_counts) - word_counts
        tree_of = np.repeat(np.arange(len(trees)), n_internal)
        for position in np.flatnonzero(is_cat):
            t = int(tree_of[position])
            c = int(raw_threshold[position])
            lo, hi = bounds[bound_starts[t] + c], bounds[bound_starts[t] + c + 1]
            bits = words[word_starts[t] + lo:word_starts[t] + hi]
            node = int(internal[position] - starts[t])
            cat_left[(t, node)] = [32 * w + b for w, word in enumerate(bits)
                                   for b in range(32) if (int(word) >> b) & 1]
            # LightGBM sends NaN and negative categories right, whatever default_left says.
            missing_left[internal[position]] = False
            missing_mode[internal[position]] = 0
    builder.add_trees(sizes, feature, threshold, left, right, value, missing_left=missing_left,
                      missing_mode=missing_mode, cat_left=cat_left, leaf_index=leaf_index)


def library_outputs(model, X):
    booster, n_rounds = _booster_and_rounds(model)
    raw = booster.predict(X, raw_score=True, num_iteration=n_rounds)
    leaves = booster.predict(X, pred_leaf=True, num_iteration=n_rounds)
    return raw, leaves
