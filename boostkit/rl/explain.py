"""Explanations of tree policies: SHAP values through ``shap.TreeExplainer``, gain importances.

:func:`shap_model` exports one head of an agent (policy logits / Gaussian mean, or the value)
as the dict of trees that ``shap.TreeExplainer`` reads (``children_left``, ``children_right``,
``children_default``, ``features``, ``thresholds``, ``values``, ``node_sample_weight``), so
shap's exact TreeSHAP algorithm attributes each output to the features: for every row the
attributions plus the explainer's ``expected_value`` sum to the head's output.

Categorical splits. The trees send ``x == c`` left; shap's dict format has only ``x <= t``
splits. Each categorical split is written as two threshold splits on the same feature,
``x < c`` (to a copy of the "not c" subtree), then ``x <= c`` ("c") else "not c" again (for an
integer code ``c``, as Discrete / MultiDiscrete parts give, the first threshold is ``c - 0.5``).
The exported tree computes exactly the same function; the "not c" subtree appears twice, and
shap attributes the split to the feature ``x`` either way.

Covers. ``node_sample_weight`` is the number of rows of ``X`` (observations you pass, e.g. a
rollout) reaching each node, plus 1e-6 per leaf so that no node is empty. With
``feature_perturbation="tree_path_dependent"`` (shap's default for a model without background
data) the attributions are relative to that distribution.

Examples
--------
>>> import numpy as np
>>> from boostkit.rl import PPO
>>> agent = PPO("CartPole-v1", n_envs=2, n_steps=32, seed=0).learn(128)
>>> X = agent.policy.features(np.random.default_rng(0).normal(size=(50, 4)))
>>> model = shap_model(agent, X, head="value")
>>> len(model["trees"]) == agent.policy.n_trees, model["trees"][0]["values"].shape[1]
(True, 1)
>>> feature_importances(agent, X, head="value").shape
(4,)
"""

from __future__ import annotations

import numpy as np

__all__ = ["shap_model", "feature_importances"]

_LEAF_PRIOR = 1e-6


class _TreeView:
    """Tree ``t`` of a :meth:`BoostedTrees.to_arrays` dict, walked node by node.

    A node is ``("o", level, prefix)`` (oblivious: leaf ``prefix`` once ``level`` = depth),
    ``("n", i)`` (greedy internal node) or ``("l", i)`` (leaf ``i``).
    """

    def __init__(self, arrays, t, columns):
        self.oblivious = str(arrays["grow_policy"]) == "oblivious"
        s = int(arrays["node_start"][t])
        k = int(arrays["n_nodes"][t])
        self.feature = arrays["feature"][s:s + k]
        self.threshold = arrays["threshold"][s:s + k]
        self.is_cat = arrays["is_cat"][s:s + k].astype(bool)
        if not self.oblivious:
            self.left = arrays["left"][s:s + k]
            self.right = arrays["right"][s:s + k]
        ls = int(arrays["leaf_start"][t])
        n_leaves = 2 ** k if self.oblivious else k + 1
        self.leaf_values = arrays["leaf_values"][ls:ls + n_leaves][:, columns]
        self.depth = k

    def root(self):
        if self.oblivious:
            return ("o", 0, 0)
        return ("n", 0) if self.depth > 0 else ("l", 0)

    def split(self, node):
        """(feature, threshold, is_categorical, left, right), or None for a leaf."""
        if node[0] == "o":
            _, level, prefix = node
            if level == self.depth:
                return None
            return (int(self.feature[level]), float(self.threshold[level]),
                    bool(self.is_cat[level]), ("o", level + 1, 2 * prefix),
                    ("o", level + 1, 2 * prefix + 1))
        if node[0] == "l":
            return None
        i = node[1]

        def child(c):
            return ("n", int(c)) if c >= 0 else ("l", int(-c - 1))

        return (int(self.feature[i]), float(self.threshold[i]), bool(self.is_cat[i]),
                child(self.left[i]), child(self.right[i]))

    def value(self, node):
        return self.leaf_values[node[2] if node[0] == "o" else node[1]]


class _ShapTreeBuilder:
    """Nodes of one shap tree, emitted in preorder."""

    def __init__(self, view, X):
        self.view, self.X = view, X
        self.rows = []
        self.left, self.right, self.feature, self.threshold = [], [], [], []
        self.values, self.cover = [], []

    def _new(self):
        self.left.append(-1)
        self.right.append(-1)
        self.feature.append(-2)
        self.threshold.append(-2.0)
        self.values.append(None)
        self.cover.append(0.0)
        return len(self.left) - 1

    def _split_node(self, feature, threshold, rows, build_left, build_right):
        """An ``x <= threshold`` node; returns (index, value, cover)."""
        i = self._new()
        go_left = self.X[rows, feature] <= threshold
        li, lv, lc = build_left(rows[go_left])
        ri, rv, rc = build_right(rows[~go_left])
        self.left[i], self.right[i] = li, ri
        self.feature[i], self.threshold[i] = feature, threshold
        cover = lc + rc
        self.values[i] = (lc * lv + rc * rv) / cover
        self.cover[i] = cover
        return i, self.values[i], cover

    def build(self, node, rows):
        split = self.view.split(node)
        if split is None:
            i = self._new()
            self.values[i] = np.asarray(self.view.value(node), dtype=np.float64)
            self.cover[i] = rows.shape[0] + _LEAF_PRIOR
            return i, self.values[i], self.cover[i]
        f, thr, is_cat, left, right = split

        def build_left(r):
            return self.build(left, r)

        def build_right(r):
            return self.build(right, r)

        if not is_cat:
            return self._split_node(f, thr, rows, build_left, build_right)
        # integer codes (Discrete parts): c - 0.5, which survives the float32 thresholds of
        # shap's interventional algorithm; other values: the float just below c
        below = thr - 0.5 if thr == np.floor(thr) else float(np.nextafter(thr, -np.inf))
        # x < c: "not c"; else x <= c: "c"; else "not c"
        return self._split_node(
            f, below, rows, build_right,
            lambda r: self._split_node(f, thr, r, build_left, build_right))

    def as_dict(self):
        left = np.array(self.left, dtype=np.int32)
        return {"children_left": left, "children_right": np.array(self.right, dtype=np.int32),
                "children_default": left.copy(),
                "features": np.array(self.feature, dtype=np.int32),
                "thresholds": np.array(self.threshold, dtype=np.float64),
                "values": np.vstack(self.values).astype(np.float64),
                "node_sample_weight": np.array(self.cover, dtype=np.float64)}


def _head(agent, head, outputs):
    """(BoostedTrees, output columns) of a head."""
    pol = getattr(agent, "policy", agent)
    if head == "policy":
        n_pi = pol.n_policy_outputs
        cols = np.arange(n_pi)
    elif head == "value":
        cols = np.array([pol.trees.n_outputs - 1]) if pol.shared_tree else np.array([0])
    else:
        raise ValueError(f"head must be 'policy' or 'value'; got {head!r}")
    trees = pol.trees if (pol.shared_tree or head == "policy") else pol.value_trees
    if outputs is not None:
        sel = np.atleast_1d(np.asarray(outputs))
        if (not np.issubdtype(sel.dtype, np.integer) or sel.min() < 0
                or sel.max() >= cols.shape[0]):
            raise ValueError(f"outputs must be indices in [0, {cols.shape[0]}) of the {head} "
                             f"head's outputs; got {outputs!r}")
        cols = cols[sel]
    return pol, trees, cols


def _features(pol, X):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != pol.n_features:
        raise ValueError(f"X must be features of shape (n, {pol.n_features}) as "
                         f"agent.policy.features(observations) gives; got shape {X.shape}")
    return X


def shap_model(agent, X, head="policy", outputs=None):
    """One head of an agent as the tree-ensemble dict ``shap.TreeExplainer`` reads.

    Parameters
    ----------
    agent : PPO, A2C, AWR or ActorCriticTrees
    X : ndarray of shape (n, n_features)
        Features of reference observations (``agent.policy.features(obs)``): they set the
        node covers (see the module docstring).
    head : {"policy", "value"}, default="policy"
        Policy outputs (the logits, or the Gaussian mean [and log-std when it is a tree head])
        or the value.
    outputs : int or list of int, optional
        Which of the head's outputs (e.g. one action's logit); default all.

    Returns
    -------
    dict
        ``{"trees": [...], "base_offset": ..., "tree_output": "raw_value", ...}``.

    Examples
    --------
    >>> import numpy as np
    >>> from boostkit.rl import PPO
    >>> agent = PPO("CartPole-v1", n_envs=2, n_steps=32, seed=0).learn(128)
    >>> X = agent.policy.features(np.random.default_rng(0).normal(size=(20, 4)))
    >>> model = shap_model(agent, X, outputs=1)
    >>> sorted(model["trees"][0])[:3]
    ['children_default', 'children_left', 'children_right']
    """
    pol, trees, cols = _head(agent, head, outputs)
    X = _features(pol, X)
    arrays = trees.to_arrays()
    rows = np.arange(X.shape[0])
    out = []
    for t in range(trees.n_trees_):
        builder = _ShapTreeBuilder(_TreeView(arrays, t, cols), X)
        builder.build(builder.view.root(), rows)
        out.append(builder.as_dict())
    base = np.asarray(trees.bias_[cols], dtype=np.float64)
    return {"trees": out, "base_offset": base if base.shape[0] > 1 else float(base[0]),
            "tree_output": "raw_value", "input_dtype": np.float64,
            "internal_dtype": np.float64}


def feature_importances(agent, X=None, head="policy", outputs=None, importance_type="gain"):
    """Per-feature importance of a head.

    Parameters
    ----------
    agent : PPO, A2C, AWR or ActorCriticTrees
    X : ndarray of shape (n, n_features), optional
        Features of reference observations; needed for ``"gain"``.
    head, outputs :
        As in :func:`shap_model`.
    importance_type : {"gain", "split"}, default="gain"
        ``"gain"``: for every split, how much of the variance of the tree's output (the chosen
        outputs of the head, summed over outputs) on ``X`` it accounts for,
        ``n_L |m_L - m|^2 + n_R |m_R - m|^2`` with ``m`` the mean output of the node's rows;
        summed per feature over all splits and trees. These decompose each tree's output
        variance on ``X`` exactly. ``"split"``: share of splits (nodes / oblivious levels) per
        feature, whichever head they serve.

    Returns
    -------
    ndarray of shape (n_features,), summing to 1 (zeros when there is nothing to share).

    Examples
    --------
    >>> import numpy as np
    >>> from boostkit.rl import PPO
    >>> agent = PPO("CartPole-v1", n_envs=2, n_steps=32, seed=0).learn(128)
    >>> imp = feature_importances(agent, agent.policy.features(np.zeros((10, 4))))
    >>> imp.shape, bool(imp.sum() in (0.0, 1.0) or abs(imp.sum() - 1) < 1e-9)
    ((4,), True)
    """
    if importance_type not in ("gain", "split"):
        raise ValueError(f"importance_type must be 'gain' or 'split'; got {importance_type!r}")
    pol, trees, cols = _head(agent, head, outputs)
    if importance_type == "split":
        return trees.feature_importances()
    if X is None:
        raise ValueError("importance_type='gain' needs X, features of reference observations")
    X = _features(pol, X)
    arrays = trees.to_arrays()
    gains = np.zeros(pol.n_features)
    for t in range(trees.n_trees_):
        view = _TreeView(arrays, t, cols)
        _gain(view, view.root(), X, np.arange(X.shape[0]), gains)
    total = gains.sum()
    return gains / total if total > 0 else gains


def _gain(view, node, X, rows, gains):
    """Sum of the tree's outputs over ``rows`` (adding split gains on the way), and count."""
    split = view.split(node)
    if split is None:
        return rows.shape[0] * np.asarray(view.value(node), dtype=np.float64), rows.shape[0]
    f, thr, is_cat, left, right = split
    x = X[rows, f]
    go_left = (x == thr) if is_cat else (x <= thr)
    s_l, n_l = _gain(view, left, X, rows[go_left], gains)
    s_r, n_r = _gain(view, right, X, rows[~go_left], gains)
    n = n_l + n_r
    if n_l and n_r:
        m = (s_l + s_r) / n
        gains[f] += (n_l * np.sum((s_l / n_l - m) ** 2) + n_r * np.sum((s_r / n_r - m) ** 2))
    return s_l + s_r, n
