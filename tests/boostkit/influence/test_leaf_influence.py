"""LeafInfluence, LeafInfluenceSP and LeafRefit against naive NumPy versions of their formulas.

The references below are written from the recursion
    v[t, k, l] = -eta * sum_{j in l} w_j g_j / (sum_{j in l} w_j h_j + lambda)
and fed only by each library's own leaf ids and leaf values (``naive.library_view``).
"""

import warnings

import numpy as np
import pytest

from boostkit.exceptions import UnsupportedModelError
from boostkit.influence import BoostIn, LeafInfluence, LeafInfluenceSP, LeafRefit

from . import naive
from .models import LIBRARIES, OBJECTIVES, make_data, make_model, n_outputs, reader_available

SUPPORTED = [(lib, obj) for lib in LIBRARIES for obj in OBJECTIVES]


def assert_close(ours, reference, rtol=1e-9):
    scale = np.abs(reference).max()
    np.testing.assert_allclose(ours, reference, rtol=rtol, atol=rtol * scale)


# ----------------------------------------------------------------------------- the recursion
def third_derivative(objective, F, factor):
    if objective == "squared_error":
        return np.zeros_like(F)
    if objective == "logistic":
        p = 1.0 / (1.0 + np.exp(-F))
        return p * (1 - p) * (1 - 2 * p)
    p = naive._softmax(F)
    return factor * p * (1 - p) * (1 - 2 * p)


class Problem:
    """A model seen through its library: leaves, values, and the recursion's constants."""

    def __init__(self, library, objective, weighted=True):
        if not reader_available(library):
            pytest.skip(f"no boostkit reader for {library} yet")
        model, X, y, w = make_model(library, objective, weighted)
        _, _, X_test, y_test, _ = make_data(objective, library != "gradient_boosting")
        self.setup(library, objective, model, X, y, X_test, y_test, w)

    @classmethod
    def of(cls, library, objective, model, X, y, X_test, y_test, w=None):
        """The same view of any fitted model (the benchmark uses it)."""
        problem = cls.__new__(cls)
        problem.setup(library, objective, model, X, y, X_test, y_test, w)
        return problem

    def setup(self, library, objective, model, X, y, X_test, y_test, w):
        self.model, self.X, self.y, self.X_test, self.y_test = model, X, y, X_test, y_test
        C = self.C = len(np.unique(y)) if objective == "softmax" else 1
        self.objective = objective
        # CatBoost MultiClass leaves solve the full Newton system with J = diag(p) - p p^T
        self.full_newton = library == "catboost" and objective == "softmax"
        train, meta = naive.library_view(self.model, self.X, C)
        test, _ = naive.library_view(self.model, self.X_test, C)
        self.Y = naive.targets(objective, self.y, C)
        self.Y_test = naive.targets(objective, self.y_test, C)
        n = len(self.y)
        self.w = np.ones(n) if w is None else np.asarray(w, float)
        self.weights = w
        self.eta, self.l2, self.factor = meta["eta"], meta["l2"], meta["factor"]
        if library == "gradient_boosting" and C > 1:
            self.factor = C / (C - 1)  # its multinomial numerator carries (K-1)/K
        if library == "catboost":
            self.l2 = self.l2 * self.w.mean()  # l2_leaf_reg scaled by the mean weight
        self.leaves, self.test_leaves = train.leaves, test.leaves
        self.values, self.test_values = train.values.copy(), test.values.copy()
        self.bias = np.asarray(train.bias, float).copy()
        if library == "lightgbm":
            # boost_from_average: the start score sits in the first round's leaves
            avg = (self.w[:, None] * self.Y).sum(0) / self.w.sum()
            if objective == "squared_error":
                start = avg
            elif objective == "logistic":
                start = np.log(avg / (1 - avg))
            else:
                start = np.log(avg)
            self.bias += start
            self.values[:, 0] -= start
            self.test_values[:, 0] -= start

    def recursion(self, w, leaves=None, Y=None):
        """Leaf tables {(t, k): {leaf: value}} of the Newton recursion with weights ``w``."""
        leaves = self.leaves if leaves is None else leaves
        Y = self.Y if Y is None else Y
        n, T, C = leaves.shape
        F = np.tile(self.bias, (n, 1))
        tables = {}
        for t in range(T):
            g, h = naive.grad_hess(self.objective, Y, F, self.factor)
            step = np.zeros((n, C))
            if self.full_newton:
                P = naive._softmax(F)
                for k in range(C):
                    tables[t, k] = {}
                for leaf in np.unique(leaves[:, t, 0]):
                    rows = leaves[:, t, 0] == leaf
                    H = sum(w[r] * (np.diag(P[r]) - np.outer(P[r], P[r]))
                            for r in np.flatnonzero(rows))
                    theta = -np.linalg.solve(H + self.l2 * np.eye(C), w[rows] @ g[rows])
                    for k in range(C):
                        tables[t, k][leaf] = self.eta * theta[k]
                    step[rows] = self.eta * theta
                F = F + step
                continue
            for k in range(C):
                table = {}
                for leaf in np.unique(leaves[:, t, k]):
                    rows = leaves[:, t, k] == leaf
                    H = np.sum(w[rows] * h[rows, k]) + self.l2
                    table[leaf] = -self.eta * np.sum(w[rows] * g[rows, k]) / H if H else 0.0
                    step[rows, k] = table[leaf]
                tables[t, k] = table
            F = F + step
        return tables

    def scores(self, tables, leaves):
        n, T, C = leaves.shape
        F = np.tile(self.bias, (n, 1))
        for (t, k), table in tables.items():
            F[:, k] += [table.get(leaf, 0.0) for leaf in leaves[:, t, k]]
        return F

    def loss(self, Y, F):
        return naive.loss_value(self.objective, Y, F)


def naive_refit(p, rows=None):
    """(local (r, m), self (r,)) of LeafRefit for removed ``rows`` (all by default):
    L(without i) - L(all rows)."""
    rows = np.arange(len(p.w)) if rows is None else rows
    full = p.recursion(p.w)
    base_test = p.loss(p.Y_test, p.scores(full, p.test_leaves))
    base_train = p.loss(p.Y, p.scores(full, p.leaves))
    local, own = np.empty((len(rows), len(p.Y_test))), np.empty(len(rows))
    for a, i in enumerate(rows):
        w = p.w.copy()
        w[i] = 0.0
        tables = p.recursion(w)
        local[a] = p.loss(p.Y_test, p.scores(tables, p.test_leaves)) - base_test
        own[a] = p.loss(p.Y[i:i + 1], p.scores(tables, p.leaves[i:i + 1]))[0] - base_train[i]
    return local, own


def naive_leaf_influence(p, mode="reference", single_point=False):
    """(local (n, m, C), self (n, C)) of LeafInfluence, every perturbed row at once.

    dF[i, r, k] = d F_k(x_r) / d eps_i, carried through the rounds on the model's own scores.
    Both modes use theta = v / eta; "exact" carries softmax scores through every output,
    "reference" (the authors' code) each output through its own hessian only, and takes
    LeafInfluence's final gradients at the leaves recomputed as one Newton step each.
    """
    if p.full_newton:
        return naive_full_newton_influence(p, mode, single_point)
    leaves, values, w = p.leaves, p.values, p.w
    n, T, C = leaves.shape
    m = p.test_leaves.shape[0]
    exact = mode == "exact"
    eye = np.eye(n)
    F = np.tile(p.bias, (n, 1))
    dF = np.zeros((n, n, C))
    dF_test = np.zeros((n, m, C))
    newton_train, newton_test = np.zeros((n, C)), np.zeros((m, C))
    for t in range(T):
        g, h = naive.grad_hess(p.objective, p.Y, F, p.factor)
        third = third_derivative(p.objective, F, p.factor)
        if exact and p.objective == "softmax":
            P = naive._softmax(F)
            jacobian = np.einsum("rk,kc->rkc", P, np.eye(C)) - np.einsum("rk,rc->rkc", P, P)
            dg = np.einsum("rkc,irc->irk", jacobian, dF)
            dh = p.factor * (1 - 2 * P)[None] * dg
        else:
            dg = h[None] * dF
            dh = third[None] * dF
        step, step_test = np.zeros((n, n, C)), np.zeros((n, m, C))
        for k in range(C):
            for leaf in np.unique(leaves[:, t, k]):
                rows = leaves[:, t, k] == leaf
                theta = values[rows, t, k][0] / p.eta
                H = np.sum(w[rows] * h[rows, k]) + p.l2
                newton = -p.eta * np.sum(w[rows] * g[rows, k]) / H
                newton_train[rows, k] += newton
                newton_test[p.test_leaves[:, t, k] == leaf, k] += newton
                numerator = (w[rows] * (dg[:, rows, k] + theta * dh[:, rows, k])).sum(axis=1)
                numerator += rows * w * (g[:, k] + theta * h[:, k])
                d_leaf = -p.eta * numerator / H  # (n perturbed,)
                step[:, rows, k] = d_leaf[:, None]
                step_test[:, p.test_leaves[:, t, k] == leaf, k] = d_leaf[:, None]
        dF = dF + step
        if single_point:
            dF = dF * eye[:, :, None]
        dF_test = dF_test + step_test
        F = F + values[:, t, :]
    F_test = p.bias + p.test_values.sum(axis=1)
    if mode == "reference" and not single_point:
        F, F_test = p.bias + newton_train, p.bias + newton_test
    g_test, _ = naive.grad_hess(p.objective, p.Y_test, F_test, p.factor)
    g_train, _ = naive.grad_hess(p.objective, p.Y, F, p.factor)
    local = -g_test[None] * dF_test
    own = -g_train * dF[np.arange(n), np.arange(n)]
    return local, own


def naive_full_newton_influence(p, mode, single_point):
    """LeafInfluence of full-Newton leaves: theta = -(H + lambda I)^-1 G per leaf, with
    d theta = -(H + lambda I)^-1 (dG + dH theta), dH from the explicit Jacobian tensor."""
    leaves, values, w = p.leaves, p.values, p.w
    n, T, C = leaves.shape
    m = p.test_leaves.shape[0]
    F = np.tile(p.bias, (n, 1))
    dF = np.zeros((n, n, C))
    dF_test = np.zeros((n, m, C))
    eye_c = np.eye(C)
    for t in range(T):
        P = naive._softmax(F)
        g = P - p.Y
        J = P[:, :, None] * eye_c - P[:, :, None] * P[:, None, :]  # (n, C, C)
        dp = np.einsum("rab,irb->ira", J, dF)  # dg = dp
        dJ = (np.einsum("ira,ab->irab", dp, eye_c) - np.einsum("ira,rb->irab", dp, P)
              - np.einsum("ra,irb->irab", P, dp))
        step, step_test = np.zeros((n, n, C)), np.zeros((n, m, C))
        for leaf in np.unique(leaves[:, t, 0]):
            rows = leaves[:, t, 0] == leaf
            theta = values[rows, t, :][0] / p.eta
            H = np.einsum("r,rab->ab", w[rows], J[rows]) + p.l2 * eye_c
            N = np.einsum("r,ira->ia", w[rows], dp[:, rows] + dJ[:, rows] @ theta)
            N += (rows * w)[:, None] * (g + J @ theta)
            d_leaf = -p.eta * np.linalg.solve(H, N.T).T  # (n perturbed, C)
            step[:, rows] = d_leaf[:, None, :]
            step_test[:, p.test_leaves[:, t, 0] == leaf] = d_leaf[:, None, :]
        dF = dF + step
        if single_point:
            dF = dF * np.eye(n)[:, :, None]
        dF_test = dF_test + step_test
        F = F + values[:, t, :]
    F_test = p.bias + p.test_values.sum(axis=1)
    g_test = naive._softmax(F_test) - p.Y_test
    g_train = naive._softmax(F) - p.Y
    return -g_test[None] * dF_test, -g_train * dF[np.arange(n), np.arange(n)]


# ----------------------------------------------------------------------------- parity
@pytest.mark.parametrize("library, objective", SUPPORTED)
def test_recursion_reproduces_the_models_leaves(library, objective):
    p = Problem(library, objective)
    tables = p.recursion(p.w)
    rebuilt = np.stack([[[tables[t, k][leaf] for k, leaf in enumerate(row_leaves)]
                         for t, row_leaves in enumerate(rows)] for rows in p.leaves])
    # float32 libraries (LightGBM, XGBoost, CatBoost, HistGradientBoosting) round g and h
    tol = 1e-12 if library == "gradient_boosting" else 1e-4
    assert_close(rebuilt, p.values, rtol=tol)
    explainer = LeafRefit().fit(p.model, p.X, p.y, sample_weight=p.weights)
    assert explainer.leaf_deviation_ < tol
    table = explainer.leaf_values_
    ids = explainer.train_leaf_ids_.reshape(p.leaves.shape)
    ours = table[np.arange(p.leaves.shape[1])[None, :, None], np.arange(p.C)[None, None, :],
                 ids]
    assert_close(ours, rebuilt)


@pytest.mark.parametrize("library, objective", SUPPORTED)
@pytest.mark.parametrize("mode", ["reference", "exact"])
def test_leaf_influence_matches_naive(library, objective, mode):
    p = Problem(library, objective)
    local, own = naive_leaf_influence(p, mode)
    explainer = LeafInfluence(mode=mode).fit(p.model, p.X, p.y, sample_weight=p.weights)
    assert_close(explainer.local_influence(p.X_test, p.y_test), local.sum(axis=2))
    assert_close(explainer.self_influence(), own.sum(axis=1))
    if objective == "softmax":
        assert_close(explainer.local_influence(p.X_test, p.y_test, per_output=True), local)
        assert_close(explainer.self_influence(per_output=True), own)


@pytest.mark.parametrize("library, objective", SUPPORTED)
@pytest.mark.parametrize("mode", ["reference", "exact"])
def test_single_point_matches_naive(library, objective, mode):
    p = Problem(library, objective)
    local, own = naive_leaf_influence(p, mode, single_point=True)
    explainer = LeafInfluenceSP(mode=mode).fit(p.model, p.X, p.y, sample_weight=p.weights)
    assert_close(explainer.local_influence(p.X_test, p.y_test), local.sum(axis=2))
    assert_close(explainer.self_influence(), own.sum(axis=1))
    if objective == "softmax":
        assert_close(explainer.local_influence(p.X_test, p.y_test, per_output=True), local)


@pytest.mark.parametrize("library, objective", SUPPORTED)
def test_leaf_refit_matches_naive(library, objective):
    p = Problem(library, objective)
    rows = np.arange(0, len(p.w), 6)  # every 6th row: the naive refit is a slow loop
    local, own = naive_refit(p, rows)
    explainer = LeafRefit().fit(p.model, p.X, p.y, sample_weight=p.weights)
    assert_close(explainer.local_influence(p.X_test, p.y_test)[rows], local)
    assert_close(explainer.self_influence()[rows], own)


# ----------------------------------------------------------------------------- definitions
@pytest.mark.parametrize("library, rtol", [("gradient_boosting", 1e-6), ("lightgbm", 1e-3),
                                           ("catboost", 1e-3)])
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_exact_leaf_influence_is_the_derivative_of_the_refit(library, objective, rtol):
    """Inf(i, e) = -dL_e/d eps with w_i -> w_i (1 + eps): central differences of the refit."""
    p = Problem(library, objective)
    explainer = LeafInfluence(mode="exact").fit(p.model, p.X, p.y, sample_weight=p.weights)
    ours = explainer.local_influence(p.X_test, p.y_test)
    ours_self = explainer.self_influence()
    eps = 1e-4
    for i in (0, 17, 101):
        losses, own = [], []
        for sign in (1, -1):
            w = p.w.copy()
            w[i] *= 1 + sign * eps
            tables = p.recursion(w)
            losses.append(p.loss(p.Y_test, p.scores(tables, p.test_leaves)))
            own.append(p.loss(p.Y[i:i + 1], p.scores(tables, p.leaves[i:i + 1]))[0])
        fd = -(losses[0] - losses[1]) / (2 * eps)
        np.testing.assert_allclose(ours[i], fd, rtol=rtol, atol=rtol * np.abs(fd).max())
        np.testing.assert_allclose(ours_self[i], -(own[0] - own[1]) / (2 * eps), rtol=rtol)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_leaf_refit_equals_rebuilding_without_the_row(objective):
    p = Problem("xgboost", objective)
    explainer = LeafRefit().fit(p.model, p.X, p.y, sample_weight=p.weights)
    ours = explainer.local_influence(p.X_test, p.y_test)
    base = p.loss(p.Y_test, p.scores(p.recursion(p.w), p.test_leaves))
    for i in (3, 50, 239):
        keep = np.arange(len(p.w)) != i
        tables = p.recursion(p.w[keep], leaves=p.leaves[keep], Y=p.Y[keep])
        expected = p.loss(p.Y_test, p.scores(tables, p.test_leaves)) - base
        assert_close(ours[i], expected)


def test_leaf_refit_empties_a_leaf_safely():
    """Rows alone in their leaf (lambda = 0): without them H + lambda == 0, the value is 0."""
    from sklearn.ensemble import GradientBoostingRegressor

    X, y, X_test, y_test, _ = make_data("squared_error", missing=False)
    X, y = X[:60], y[:60]
    model = GradientBoostingRegressor(n_estimators=4, max_depth=6, learning_rate=0.5,
                                      random_state=0).fit(X, y)
    p = Problem.of("gradient_boosting", "squared_error", model, X, y, X_test, y_test)
    alone = [t for t in range(p.leaves.shape[1])
             if (np.unique(p.leaves[:, t, 0], return_counts=True)[1] == 1).any()]
    assert alone, "the model should have leaves holding a single row"
    local, own = naive_refit(p)
    explainer = LeafRefit().fit(model, X, y)
    ours = explainer.local_influence(X_test, y_test)
    assert np.isfinite(ours).all()
    assert_close(ours, local)
    assert_close(explainer.self_influence(), own)


@pytest.mark.parametrize("cls", [LeafInfluence, LeafInfluenceSP, LeafRefit])
def test_self_influence_is_the_diagonal(cls):
    model, X, y, w = make_model("lightgbm", "softmax")
    explainer = cls().fit(model, X, y, sample_weight=w)
    assert_close(explainer.self_influence(), np.diag(explainer.local_influence(X, y)))


def test_modes_differ():
    p = Problem("lightgbm", "softmax")
    ref = LeafInfluence().fit(p.model, p.X, p.y, sample_weight=p.weights)
    exact = LeafInfluence(mode="exact").fit(p.model, p.X, p.y, sample_weight=p.weights)
    a, b = ref.local_influence(p.X_test, p.y_test), exact.local_influence(p.X_test, p.y_test)
    assert not np.allclose(a, b)
    # ... but they rank rows alike
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


@pytest.mark.parametrize("cls", [LeafInfluence, LeafInfluenceSP, LeafRefit])
def test_top_k_matches_full_matrix(cls):
    model, X, y, w = make_model("lightgbm", "softmax")
    _, _, X_test, y_test, _ = make_data("softmax")
    explainer = cls().fit(model, X, y, sample_weight=w)
    full = explainer.local_influence(X_test, y_test)
    k = 6
    top = explainer.local_influence(X_test, y_test, top_k=k)
    helpful = np.argsort(-full, axis=0, kind="stable")[:k]
    harmful = np.argsort(full, axis=0, kind="stable")[:k]
    assert_close(top.helpful_values, np.take_along_axis(full, helpful, axis=0))
    assert_close(top.harmful_values, np.take_along_axis(full, harmful, axis=0))
    np.testing.assert_array_equal(top.helpful_indices, helpful)
    np.testing.assert_array_equal(top.harmful_indices, harmful)


@pytest.mark.parametrize("cls", [LeafInfluence, LeafRefit])
def test_chunks_and_threads_do_not_change_results(cls):
    model, X, y, w = make_model("lightgbm", "logistic")
    _, _, X_test, y_test, _ = make_data("logistic")
    whole = cls().fit(model, X, y, sample_weight=w).local_influence(X_test, y_test)
    explainer = cls(n_jobs=1).fit(model, X, y, sample_weight=w)
    np.testing.assert_array_equal(whole, explainer.local_influence(X_test, y_test,
                                                                   chunk_size=7))
    np.testing.assert_array_equal(explainer.self_influence(),
                                  explainer.self_influence(chunk_size=13))


# ----------------------------------------------------------------------------- refusals, errors
@pytest.mark.parametrize("cls", [LeafInfluence, LeafInfluenceSP, LeafRefit])
def test_forests_and_non_newton_models_are_refused(cls):
    import lightgbm as lgb
    from sklearn.ensemble import RandomForestRegressor

    X, y, _, _, _ = make_data("squared_error", missing=False)
    forest = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    with pytest.raises(UnsupportedModelError, match="forest|averages"):
        cls().fit(forest, X, y)
    l1 = lgb.LGBMRegressor(n_estimators=3, num_leaves=4, reg_alpha=1.0, verbose=-1).fit(X, y)
    with pytest.raises(UnsupportedModelError, match="Newton"):
        cls().fit(l1, X, y)


@pytest.mark.parametrize("cls", [LeafInfluence, LeafInfluenceSP, LeafRefit])
def test_bad_input(cls):
    model, X, y, w = make_model("lightgbm", "logistic")
    _, _, X_test, y_test, _ = make_data("logistic")
    with pytest.raises(ValueError, match="sample_weight"):
        cls().fit(model, X, y, sample_weight=w[:10])
    # other weights than the model's: its leaves are not Newton steps on them
    with pytest.raises(ValueError, match="sample_weight the model was trained with"):
        cls().fit(model, X, y, sample_weight=np.ones(len(y)))
    with pytest.raises(ValueError, match="n_jobs"):
        cls(n_jobs=0).fit(model, X, y, sample_weight=w)
    explainer = cls().fit(model, X, y, sample_weight=w)
    with pytest.raises(ValueError, match="y_test has 3 rows"):
        explainer.local_influence(X_test, y_test[:3])
    with pytest.raises(ValueError, match="X_test has 4 features"):
        explainer.local_influence(X_test[:, :4], y_test)
    with pytest.raises(ValueError, match="top_k"):
        explainer.local_influence(X_test, y_test, top_k=0)


def test_bad_mode_and_refit_per_output():
    model, X, y, w = make_model("lightgbm", "softmax")
    _, _, X_test, y_test, _ = make_data("softmax")
    for cls in (LeafInfluence, LeafInfluenceSP):
        with pytest.raises(ValueError, match="mode must be one of"):
            cls(mode="approx").fit(model, X, y, sample_weight=w)
    explainer = LeafRefit().fit(model, X, y, sample_weight=w)
    with pytest.raises(ValueError, match="per_output"):
        explainer.local_influence(X_test, y_test, per_output=True)
    with pytest.raises(ValueError, match="per_output"):
        explainer.self_influence(per_output=True)


@pytest.mark.slow
@pytest.mark.parametrize("cls", [LeafInfluence, LeafInfluenceSP, LeafRefit])
def test_distributed_results_are_identical(cls):
    distributed = pytest.importorskip("dask.distributed")
    model, X, y, w = make_model("lightgbm", "softmax")
    _, _, X_test, y_test, _ = make_data("softmax")
    explainer = cls().fit(model, X, y, sample_weight=w)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=":0",
                                       silence_logs=50)
    with cluster, distributed.Client(cluster) as client:
        np.testing.assert_array_equal(
            explainer.local_influence(X_test, y_test, client=client, chunk_size=7),
            explainer.local_influence(X_test, y_test))
        np.testing.assert_array_equal(explainer.self_influence(client=client, chunk_size=50),
                                      explainer.self_influence())


def test_lightgbm_start_score_inside_or_outside_the_first_trees():
    """boost_from_average=True folds the start score into round 0, False starts at 0: both are
    recognised; a bagged model's leaves are not Newton steps on all rows and are refused."""
    import lightgbm as lgb

    X, y, _, _, _ = make_data("squared_error")
    y = y + 5.0  # a start score far from 0
    for start in (True, False):
        model = lgb.LGBMRegressor(n_estimators=5, num_leaves=5, boost_from_average=start,
                                  verbose=-1).fit(X, y)
        assert LeafRefit().fit(model, X, y).leaf_deviation_ < 1e-5
    bagged = lgb.LGBMRegressor(n_estimators=5, num_leaves=5, subsample=0.5, subsample_freq=1,
                               verbose=-1).fit(X, y)
    with pytest.raises(ValueError, match="bagging"):
        LeafInfluence().fit(bagged, X, y)


def _converged(library, n_rows):
    """A model trained to convergence on few rows: its last leaves are ~1e-8, next to float32
    rounding of the gradient sums that built them."""
    import catboost as cb
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:n_rows], y[:n_rows]
    if library == "xgboost":
        model = xgb.XGBClassifier(n_estimators=200, max_depth=3, n_jobs=1, random_state=0)
    elif library == "lightgbm":
        model = lgb.LGBMClassifier(n_estimators=300, num_leaves=7, min_child_samples=3,
                                   verbose=-1, n_jobs=1)
    else:
        model = cb.CatBoostClassifier(iterations=300, depth=3, leaf_estimation_iterations=1,
                                      verbose=0, thread_count=1, random_seed=0)
    return model.fit(X, y), X, y


@pytest.mark.parametrize("library,n_rows", [("xgboost", 80), ("xgboost", 200),
                                            ("lightgbm", 80), ("catboost", 80)])
def test_converged_float32_models_are_newton_steps(library, n_rows):
    model, X, y = _converged(library, n_rows)
    explainer = LeafInfluenceSP().fit(model, X, y)
    # the late leaves are tiny next to the first ones: the old per-tree scale refused them
    values = np.abs(explainer._leaf_table).max(axis=1)
    if library == "xgboost":
        assert values.min() < 1e-5 * values.max()
    assert explainer.leaf_deviation_ < 1e-5
    BoostIn(mode="exact").fit(model, X, y)
    # every method with the check accepts it, the reference BoostIn without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BoostIn().fit(model, X, y)
        assert LeafInfluence().fit(model, X, y).leaf_deviation_ < 1e-5
    # ... while other rows than the training rows still fail the check
    with pytest.raises(ValueError, match="not one Newton step"):
        LeafInfluenceSP().fit(model, X, 1 - y)
