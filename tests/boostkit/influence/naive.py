"""Naive NumPy influence, written from the spec's formulas and fed only by each library's own
leaf ids and leaf values (never by boostkit's parsers or tree kernels).

``library_view(model, X)`` asks the library itself which leaf every row reaches in every tree and
what that leaf's value is; the bias is what remains of the library's raw prediction (checked to
be one constant). The influence functions below are plain loops over rounds and leaves with
dense (n_train, n_test) masks.
"""

import json

import numpy as np

# ----------------------------------------------------------------------------- losses
# Written again here on purpose: the reference must not share code with boostkit.losses.


def _softmax(F):
    z = np.exp(F - F.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def grad_hess(objective, Y, F, factor):
    """g, h on raw scores F (n, C); Y is (n, C): values, 0/1, or one-hot."""
    if objective == "squared_error":
        return F - Y, np.ones_like(F)
    if objective == "logistic":
        p = 1.0 / (1.0 + np.exp(-F))
        return p - Y, p * (1.0 - p)
    p = _softmax(F)
    return p - Y, factor * p * (1.0 - p)


def loss_value(objective, Y, F):
    if objective == "squared_error":
        return 0.5 * ((Y - F) ** 2).sum(axis=1)
    if objective == "logistic":
        return (np.log1p(np.exp(-np.abs(F))) + np.maximum(F, 0) - Y * F).sum(axis=1)
    m = F.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(F - m).sum(axis=1, keepdims=True)))[:, 0]
    return lse - (Y * F).sum(axis=1)


def targets(objective, y, n_classes):
    y = np.asarray(y)
    if objective == "softmax":
        return np.eye(n_classes)[y.astype(int)]
    return y.astype(float)[:, None]


# ----------------------------------------------------------------------------- libraries
class View:
    """What the library says about rows X: leaf labels and leaf values per tree (n, T, C)."""

    def __init__(self, leaves, values, raw, bias=None):
        self.leaves = leaves
        self.values = values
        self.raw = raw
        rest = raw - values.sum(axis=1)
        spread = np.abs(rest - rest.mean(axis=0)).max()
        assert spread <= 1e-5 * max(1.0, np.abs(raw).max()), f"bias not constant: {spread}"
        # the library's stated intercept when it has one (its raw output may be float32)
        self.bias = rest.mean(axis=0) if bias is None else np.broadcast_to(bias, rest.shape[1:])
        np.testing.assert_allclose(self.bias, rest.mean(axis=0), rtol=1e-5, atol=1e-5)


def _lightgbm(model, X, C):
    booster = model.booster_
    leaves = booster.predict(X, pred_leaf=True).astype(np.int64)
    n, n_trees = leaves.shape
    values = np.empty((n, n_trees))
    for j in range(n_trees):
        table = {leaf: booster.get_leaf_output(j, int(leaf)) for leaf in np.unique(leaves[:, j])}
        values[:, j] = [table[leaf] for leaf in leaves[:, j]]
    raw = booster.predict(X, raw_score=True).reshape(n, C)
    params = model.get_params()
    meta = dict(eta=params["learning_rate"], l2=params["reg_lambda"],
                factor=C / (C - 1.0) if C > 1 else 1.0)
    return leaves.reshape(n, -1, C), values.reshape(n, -1, C), raw, meta


def _xgboost(model, X, C):
    import xgboost as xgb

    booster = model.get_booster()
    matrix = xgb.DMatrix(X, missing=np.nan, enable_categorical=True)
    leaves = booster.predict(matrix, pred_leaf=True).astype(np.int64)
    n, n_trees = leaves.shape
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    values = np.empty((n, n_trees))
    for j in range(n_trees):
        # a leaf's value is stored in split_conditions (float32, exactly as saved)
        conditions = np.asarray(trees[j]["split_conditions"], dtype=np.float32)
        values[:, j] = conditions[leaves[:, j]].astype(np.float64)
    raw = booster.predict(matrix, output_margin=True).reshape(n, C)
    config = json.loads(booster.save_config())
    train = config["learner"]["gradient_booster"]["tree_train_param"]
    meta = dict(eta=float(train["eta"]), l2=float(train["lambda"]),
                factor=2.0 if C > 1 else 1.0)
    base = np.asarray(json.loads(config["learner"]["learner_model_param"]["base_score"]),
                      dtype=np.float64)
    if config["learner"]["objective"]["name"] == "binary:logistic":
        base = np.log(base) - np.log1p(-base)
    meta["bias"] = base
    return leaves.reshape(n, -1, C), values.reshape(n, -1, C), raw, meta


def _catboost(model, X, C):
    from catboost import Pool

    pool = Pool(X, cat_features=model.get_cat_feature_indices() or None)
    leaves = np.asarray(model.calc_leaf_indexes(pool), dtype=np.int64)  # (n, T)
    n, T = leaves.shape
    flat = np.asarray(model.get_leaf_values())
    counts = np.asarray(model.get_tree_leaf_counts(), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts * C)]).astype(np.int64)
    values = np.empty((n, T, C))
    for t in range(T):
        segment = flat[starts[t]:starts[t + 1]].reshape(counts[t], C)  # interleaved per class
        values[:, t, :] = segment[leaves[:, t]]
    scale, _ = model.get_scale_and_bias()
    values *= scale
    raw = np.asarray(model.predict(pool, prediction_type="RawFormulaVal")).reshape(n, -1)
    if C == 1:
        raw = raw[:, :1]
    params = model.get_all_params()
    meta = dict(eta=float(params["learning_rate"]), l2=float(params["l2_leaf_reg"]),
                factor=C / (C - 1.0) if C > 1 else 1.0)
    return np.repeat(leaves[:, :, None], C, axis=2), values, raw, meta


def _sklearn_gb(model, X, C):
    nodes = model.apply(X).astype(np.int64)  # (n, T, C) node ids; (n, T) for regression
    n, T = nodes.shape[:2]
    nodes = nodes.reshape(n, T, C)
    values = np.empty((n, T, C))
    for t in range(T):
        for k in range(C):
            tree = model.estimators_[t, k].tree_
            values[:, t, k] = tree.value[nodes[:, t, k], 0, 0] * model.learning_rate
    raw = (model.decision_function(X) if hasattr(model, "classes_") else model.predict(X))
    # sklearn's multinomial Newton numerator carries (K - 1) / K: a hessian factor K / (K - 1)
    meta = dict(eta=model.learning_rate, l2=0.0, factor=C / (C - 1.0) if C > 1 else 1.0)
    return nodes, values, np.asarray(raw).reshape(n, C), meta


def _hgb_nodes(predictor, X):
    """Leaf node reached by each row, walking HistGradientBoosting's own node records."""
    nodes = predictor.nodes
    at = np.zeros(X.shape[0], dtype=np.int64)
    while True:
        inner = ~nodes["is_leaf"][at].astype(bool)
        if not inner.any():
            return at
        rows = np.flatnonzero(inner)
        node = at[rows]
        x = X[rows, nodes["feature_idx"][node]]
        left = np.where(np.isnan(x), nodes["missing_go_to_left"][node].astype(bool),
                        x <= nodes["num_threshold"][node])
        at[rows] = np.where(left, nodes["left"][node], nodes["right"][node])


def _sklearn_hgb(model, X, C):
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    T = len(model._predictors)
    leaves = np.empty((n, T, C), dtype=np.int64)
    values = np.empty((n, T, C))
    for t in range(T):
        for k in range(C):
            predictor = model._predictors[t][k]
            leaves[:, t, k] = _hgb_nodes(predictor, X)
            values[:, t, k] = predictor.nodes["value"][leaves[:, t, k]]
    raw = (model.decision_function(X) if hasattr(model, "classes_") else model.predict(X))
    meta = dict(eta=model.learning_rate, l2=float(model.l2_regularization), factor=1.0)
    return leaves, values, np.asarray(raw).reshape(n, C), meta


def _sklearn_forest(model, X, C):
    nodes = model.apply(X).astype(np.int64)  # (n, T)
    n, T = nodes.shape
    values = np.zeros((n, T, 1))
    meta = dict(eta=1.0, l2=0.0, factor=1.0)
    return nodes[:, :, None], values, None, meta


def library_view(model, X, n_outputs):
    """(View, meta) of ``model`` on rows ``X`` from the library's own leaf output."""
    package = type(model).__module__.split(".")[0]
    name = type(model).__name__
    if package == "lightgbm":
        parts = _lightgbm(model, X, n_outputs)
    elif package == "xgboost":
        parts = _xgboost(model, X, n_outputs)
    elif package == "catboost":
        parts = _catboost(model, X, n_outputs)
    elif name.startswith("HistGradientBoosting"):
        parts = _sklearn_hgb(model, X, n_outputs)
    elif name.startswith("GradientBoosting"):
        parts = _sklearn_gb(model, X, n_outputs)
    else:
        leaves, values, _, meta = _sklearn_forest(model, X, n_outputs)
        view = View.__new__(View)
        view.leaves, view.values, view.raw, view.bias = leaves, values, None, None
        return view, meta
    leaves, values, raw, meta = parts
    return View(leaves, values, raw, meta.pop("bias", None)), meta


# ----------------------------------------------------------------------------- BoostIn
def boostin(train, test, Y, Y_test, objective, meta, sample_weight=None, mode="reference"):
    """Full local influence (n, m, C), self influence (n, C) and D (n, T, C) from the spec."""
    leaves, values = train.leaves, train.values
    n, T, C = leaves.shape
    m = test.leaves.shape[0]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    eta, l2, factor = meta["eta"], meta["l2"], meta["factor"]
    F = np.tile(train.bias, (n, 1))
    F_test = np.tile(train.bias, (m, 1))
    local = np.zeros((n, m, C))
    self_inf = np.zeros((n, C))
    D = np.zeros((n, T, C))
    for t in range(T):
        g, h = grad_hess(objective, Y, F, factor)
        g_test, _ = grad_hess(objective, Y_test, F_test, factor)
        for k in range(C):
            for leaf in np.unique(leaves[:, t, k]):
                rows = leaves[:, t, k] == leaf
                H = np.sum(w[rows] * h[rows, k])
                v = values[rows, t, k][0]
                theta = v if mode == "reference" else v / eta
                D[rows, t, k] = eta * (w[rows] * g[rows, k] + theta * w[rows] * h[rows, k]) / (
                    H + l2)
            same = leaves[:, t, k][:, None] == test.leaves[:, t, k][None, :]
            local[:, :, k] += D[:, t, k][:, None] * g_test[None, :, k] * same
            self_inf[:, k] += D[:, t, k] * g[:, k]
        F = F + values[:, t, :]
        F_test = F_test + test.values[:, t, :]
    return local, self_inf, D


# ----------------------------------------------------------------------------- TREX
def feature_map(train_leaves, test_leaves, kernel, train_values=None, test_values=None):
    """Dense phi for train and test rows from leaf labels (n, n_trees); columns = (tree, leaf)."""
    n, n_trees = train_leaves.shape
    cols_train, cols_test, w_train, w_test = [], [], [], []
    for j in range(n_trees):
        labels = np.unique(np.concatenate([train_leaves[:, j], test_leaves[:, j]]))
        count = {lab: np.sum(train_leaves[:, j] == lab) for lab in labels}
        for lab in labels:
            tr = (train_leaves[:, j] == lab).astype(float)
            te = (test_leaves[:, j] == lab).astype(float)
            if kernel == "leaf_weighted":
                weight = 1.0 / count[lab] if count[lab] else 0.0
                tr, te = tr * weight, te * weight
            elif kernel == "leaf_value":
                vt = train_values[:, j][train_leaves[:, j] == lab]
                ve = test_values[:, j][test_leaves[:, j] == lab]
                weight = vt[0] if len(vt) else (ve[0] if len(ve) else 0.0)
                tr, te = tr * weight, te * weight
            cols_train.append(tr)
            cols_test.append(te)
    return np.stack(cols_train, axis=1), np.stack(cols_test, axis=1)


def trex_influence(phi_train, phi_test, alpha, Y_test, objective):
    """Inf(i, e) = L(y_e, s_e - r_ie) - L(y_e, s_e), r_ie = k(x_i, x_e) alpha_i: (n, m)."""
    K = phi_train @ phi_test.T  # (n, m)
    n, m = K.shape
    out = np.empty((n, m))
    for e in range(m):
        r = K[:, e][:, None] * alpha  # (n, C)
        s = r.sum(axis=0)
        base = loss_value(objective, Y_test[e:e + 1], s[None, :])[0]
        out[:, e] = loss_value(objective, np.repeat(Y_test[e:e + 1], n, 0), s[None, :] - r) - base
    return out


def trex_self(phi_train, alpha, Y, objective):
    K = phi_train @ phi_train.T
    s = K @ alpha
    r = np.diag(K)[:, None] * alpha
    return loss_value(objective, Y, s - r) - loss_value(objective, Y, s)


def trex_alpha(phi, Y, objective, l2, sample_weight=None, iters=200):
    """Representer weights of the surrogate, solved to machine precision by Newton's method."""
    n, d = phi.shape
    C = Y.shape[1]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    W = np.zeros((d, C))
    for _ in range(iters):
        F = phi @ W
        if objective == "squared_error":
            G = F - Y
        elif objective == "logistic":
            G = 1.0 / (1.0 + np.exp(-F)) - Y
        else:
            G = _softmax(F) - Y
        grad = phi.T @ (w[:, None] * G) / n + 2 * l2 * W
        if np.abs(grad).max() < 1e-15:
            break
        # full Hessian in (d*C) space, for the tiny test problems
        if objective == "softmax":
            P = _softmax(F)
            Hs = np.zeros((d * C, d * C))
            for a in range(C):
                for b in range(C):
                    coef = w * P[:, a] * ((a == b) - P[:, b])
                    Hs[a::C, b::C] = phi.T @ (coef[:, None] * phi) / n
        else:
            if objective == "squared_error":
                coef = w
            else:
                p = 1.0 / (1.0 + np.exp(-F[:, 0]))
                coef = w * p * (1 - p)
            Hs = phi.T @ (coef[:, None] * phi) / n
        Hs += 2 * l2 * np.eye(d * C)
        W = W - np.linalg.solve(Hs, grad.reshape(-1)).reshape(d, C)
    F = phi @ W
    G = (F - Y if objective == "squared_error" else
         (1.0 / (1.0 + np.exp(-F)) - Y if objective == "logistic" else _softmax(F) - Y))
    return -(w[:, None] * G) / (2 * l2 * n)
