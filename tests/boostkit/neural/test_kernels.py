"""Block-training kernels against naive NumPy twins, finite differences and scipy's L-BFGS."""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, logsumexp

from boostkit.neural import _kernels
from boostkit.neural._block import fit_block, initial_block, unpack_block
from boostkit.neural._kernels import (
    ACTIVATION_CODES,
    LOSS_CODES,
    block_loss_grad,
    fit_block_lbfgs,
    n_parameters,
)


# --------------------------------------------------------------------------- naive twins
def naive_loss_grad(theta, X, R, w, rows, J, K, activation, alpha, offset=None,
                    loss="squared_error"):
    """The block objective and its gradient, written from the formulas with whole arrays."""
    d = X.shape[1]
    A = theta[: d * J].reshape(J, d).T
    c = theta[d * J: d * J + J]
    V = theta[d * J + J: d * J + J + J * K].reshape(J, K)
    b = theta[d * J + J + J * K:]
    Xr, Rr, wr = X[rows], R[rows], w[rows]
    Z = Xr @ A + c
    if activation == "logistic":
        H = expit(Z)
        dH = H * (1 - H)
    elif activation == "tanh":
        H = np.tanh(Z)
        dH = 1 - H ** 2
    else:
        H = np.maximum(Z, 0)
        dH = (Z > 0).astype(float)
    out = H @ V + b + (0.0 if offset is None else offset[rows])
    if loss == "squared_error":
        row_loss = 0.5 * ((out - Rr) ** 2).sum(axis=1)
        E = out - Rr
    elif loss == "logistic":
        row_loss = (np.logaddexp(0.0, out) - Rr * out).sum(axis=1)
        E = expit(out) - Rr
    else:
        log_p = out - logsumexp(out, axis=1, keepdims=True)
        row_loss = -(Rr * log_p).sum(axis=1)
        E = np.exp(log_p) * Rr.sum(axis=1, keepdims=True) - Rr
    sw = wr.sum()
    f = ((wr * row_loss).sum() + 0.5 * alpha * ((A ** 2).sum() + (V ** 2).sum())) / sw
    dP = wr[:, None] * E / sw
    gV = H.T @ dP + alpha * V / sw
    gb = dP.sum(axis=0)
    dZ = (dP @ V.T) * dH
    gA = Xr.T @ dZ + alpha * A / sw
    gc = dZ.sum(axis=0)
    return f, np.concatenate([gA.T.ravel(), gc, gV.ravel(), gb])


def naive_lbfgs(theta0, X, R, w, rows, J, K, activation, alpha, max_iter, m=10, offset=None,
                loss="squared_error"):
    """L-BFGS as documented in fit_block_lbfgs, written with NumPy lists."""
    theta = theta0.copy()
    f, g = naive_loss_grad(theta, X, R, w, rows, J, K, activation, alpha, offset, loss)
    S, Y = [], []
    it = 0
    while it < max_iter:
        if np.abs(g).max() < _kernels.GTOL:
            break
        q = g.copy()
        coeffs = []
        for s, y in zip(reversed(S), reversed(Y)):
            a = (s @ q) / (s @ y)
            coeffs.append(a)
            q = q - a * y
        if S:
            q = q * (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1])
        for (s, y), a in zip(zip(S, Y), reversed(coeffs)):
            bcoef = (y @ q) / (s @ y)
            q = q + s * (a - bcoef)
        direction = -q
        gd = g @ direction
        if gd >= 0:
            S, Y = [], []
            direction = -g
            gd = -(g @ g)
        step = min(1.0, 1.0 / np.sqrt(-gd)) if not S else 1.0
        accepted = False
        for _ in range(_kernels.MAX_BACKTRACKS):
            theta_new = theta + step * direction
            f_new, g_new = naive_loss_grad(theta_new, X, R, w, rows, J, K, activation, alpha,
                                           offset, loss)
            if f_new <= f + _kernels.ARMIJO_C1 * step * gd:
                accepted = True
                break
            denom = 2 * (f_new - f - gd * step)
            if denom > 0 and np.isfinite(f_new):
                step = min(max(-gd * step ** 2 / denom, 0.1 * step), 0.5 * step)
            else:
                step *= 0.1
        if not accepted:
            break
        it += 1
        s, y = theta_new - theta, g_new - g
        if s @ y > 1e-10 * (y @ y) and s @ y > 0:
            S.append(s)
            Y.append(y)
            if len(S) > m:
                S.pop(0)
                Y.pop(0)
        decrease = f - f_new
        scale = max(abs(f), abs(f_new), 1.0)
        theta, g, f = theta_new, g_new, f_new
        if decrease <= _kernels.FTOL * scale:
            break
    return theta, it, f


def _problem(n=120, d=5, K=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    R = np.column_stack([np.sin(X[:, k % d]) + 0.3 * X[:, (k + 1) % d] for k in range(K)])
    R += 0.05 * rng.normal(size=R.shape)
    w = rng.uniform(0.2, 2.0, size=n)
    rows = np.sort(rng.choice(n, size=int(0.7 * n), replace=False)).astype(np.int64)
    return X, R, w, rows


def _classification_problem(loss, n=120, d=5, K=3, seed=0):
    """Inputs, 0/1 or one-hot targets and non-zero current scores (the offset)."""
    X, _, w, rows = _problem(n=n, d=d, K=1, seed=seed)
    rng = np.random.default_rng(seed + 10)
    if loss == "logistic":
        R = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(float)[:, None]
        offset = 0.8 * rng.normal(size=(n, 1))
    else:
        R = np.eye(K)[np.digitize(X[:, 0] + X[:, 1], np.linspace(-1, 1, K - 1))]
        offset = 0.8 * rng.normal(size=(n, K))
    return X, R, offset, w, rows


def _kernel_loss_grad(theta, X, R, w, rows, J, K, activation, alpha, offset=None,
                      loss="squared_error"):
    n_chunks = max(1, -(-rows.shape[0] // _kernels.CHUNK_ROWS))
    grad = np.empty_like(theta)
    offset = np.zeros_like(R) if offset is None else offset
    work = _kernels.chunk_work(min(rows.shape[0], _kernels.CHUNK_ROWS), J, K)
    f = block_loss_grad(theta, X[rows], _kernels.transposed_chunks(X[rows]), R[rows],
                        offset[rows], w[rows], J, K,
                        ACTIVATION_CODES[activation], LOSS_CODES[loss], alpha, w[rows].sum(),
                        work, np.empty((n_chunks, theta.size)), np.empty(n_chunks), grad)
    return f, grad


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("activation", ["logistic", "tanh", "relu"])
@pytest.mark.parametrize("J,K", [(1, 1), (3, 1), (2, 3)])
def test_loss_grad_matches_naive_twin(activation, J, K):
    X, R, w, rows = _problem(K=K)
    theta = initial_block(np.random.default_rng(1), X.shape[1], J, K, activation)
    theta = theta * 3.0  # away from the origin so relu units are both on and off
    f, grad = _kernel_loss_grad(theta, X, R, w, rows, J, K, activation, 0.7)
    f_ref, grad_ref = naive_loss_grad(theta, X, R, w, rows, J, K, activation, 0.7)
    np.testing.assert_allclose(f, f_ref, rtol=1e-12)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("loss,J,K", [("logistic", 2, 1), ("softmax", 1, 3), ("softmax", 3, 4)])
def test_classification_losses_match_naive_twin(activation, loss, J, K):
    X, R, offset, w, rows = _classification_problem(loss, K=K)
    theta = 3.0 * initial_block(np.random.default_rng(1), X.shape[1], J, K, activation)
    f, grad = _kernel_loss_grad(theta, X, R, w, rows, J, K, activation, 0.7, offset, loss)
    f_ref, grad_ref = naive_loss_grad(theta, X, R, w, rows, J, K, activation, 0.7, offset, loss)
    np.testing.assert_allclose(f, f_ref, rtol=1e-12)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("loss,K", [("logistic", 1), ("softmax", 3)])
def test_classification_loss_is_the_log_loss_of_offset_plus_block(loss, K):
    # With a block whose output is zero, the objective is the mean log-loss of the offset.
    X, R, offset, w, rows = _classification_problem(loss, K=K)
    theta = np.zeros(n_parameters(X.shape[1], 2, K))
    f, _ = _kernel_loss_grad(theta, X, R, w, rows, 2, K, "tanh", 0.0, offset, loss)
    if loss == "logistic":
        p = expit(offset[rows, 0])
        y = R[rows, 0]
        row_loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    else:
        p = np.exp(offset[rows]) / np.exp(offset[rows]).sum(axis=1, keepdims=True)
        row_loss = -np.log((p * R[rows]).sum(axis=1))
    np.testing.assert_allclose(f, (w[rows] * row_loss).sum() / w[rows].sum(), rtol=1e-12)


def test_softmax_loss_is_stable_for_large_scores():
    X, R, offset, w, rows = _classification_problem("softmax", K=3)
    theta = initial_block(np.random.default_rng(1), X.shape[1], 1, 3, "tanh")
    f, grad = _kernel_loss_grad(theta, X, R, w, rows, 1, 3, "tanh", 0.0, offset + 800.0,
                                "softmax")
    f_ref, grad_ref = _kernel_loss_grad(theta, X, R, w, rows, 1, 3, "tanh", 0.0, offset,
                                        "softmax")
    # Adding the same constant to every class score changes nothing (and must not overflow).
    np.testing.assert_allclose(f, f_ref, rtol=1e-9)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("activation", ["logistic", "tanh"])
def test_gradient_matches_finite_differences(activation):
    X, R, w, rows = _problem(K=2)
    J, K = 2, 2
    theta = initial_block(np.random.default_rng(2), X.shape[1], J, K, activation)
    _, grad = _kernel_loss_grad(theta, X, R, w, rows, J, K, activation, 0.3)
    eps = 1e-6
    numeric = np.empty_like(theta)
    for p in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[p] += eps
        down[p] -= eps
        numeric[p] = (_kernel_loss_grad(up, X, R, w, rows, J, K, activation, 0.3)[0]
                      - _kernel_loss_grad(down, X, R, w, rows, J, K, activation, 0.3)[0]) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_chunked_parallel_path_matches_twin():
    # Enough rows for the prange path, summed in chunk order.
    n_rows = _kernels.PARALLEL_MIN_CHUNKS * _kernels.CHUNK_ROWS + 50
    X, R, w, rows = _problem(n=int(n_rows / 0.7) + 2, d=4, K=2)
    theta = initial_block(np.random.default_rng(3), 4, 3, 2, "tanh")
    f, grad = _kernel_loss_grad(theta, X, R, w, rows, 3, 2, "tanh", 0.1)
    assert rows.shape[0] > _kernels.PARALLEL_MIN_CHUNKS * _kernels.CHUNK_ROWS
    f_ref, grad_ref = naive_loss_grad(theta, X, R, w, rows, 3, 2, "tanh", 0.1)
    np.testing.assert_allclose(f, f_ref, rtol=1e-12)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("activation,J,K", [("logistic", 1, 1), ("tanh", 2, 3), ("relu", 3, 1)])
def test_lbfgs_matches_naive_twin(activation, J, K):
    X, R, w, rows = _problem(K=K)
    theta0 = initial_block(np.random.default_rng(4), X.shape[1], J, K, activation)
    out = np.empty_like(theta0)
    it, f = fit_block_lbfgs(theta0, X, R, np.zeros_like(R), w, rows, J, K,
                            ACTIVATION_CODES[activation], LOSS_CODES["squared_error"], 0.5, 12,
                            10, out)
    theta_ref, it_ref, f_ref = naive_lbfgs(theta0, X, R, w, rows, J, K, activation, 0.5, 12)
    assert it == it_ref
    np.testing.assert_allclose(f, f_ref, rtol=1e-9)
    np.testing.assert_allclose(out, theta_ref, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("loss,K", [("logistic", 1), ("softmax", 4)])
def test_lbfgs_on_classification_loss_matches_naive_twin(loss, K):
    X, R, offset, w, rows = _classification_problem(loss, K=K)
    theta0 = initial_block(np.random.default_rng(4), X.shape[1], 2, K, "tanh")
    out = np.empty_like(theta0)
    it, f = fit_block_lbfgs(theta0, X, R, offset, w, rows, 2, K, ACTIVATION_CODES["tanh"],
                            LOSS_CODES[loss], 0.5, 12, 10, out)
    theta_ref, it_ref, f_ref = naive_lbfgs(theta0, X, R, w, rows, 2, K, "tanh", 0.5, 12,
                                           offset=offset, loss=loss)
    assert it == it_ref
    np.testing.assert_allclose(f, f_ref, rtol=1e-9)
    np.testing.assert_allclose(out, theta_ref, rtol=1e-6, atol=1e-8)
    # The block lowers the log-loss of the current scores.
    f0 = naive_loss_grad(np.zeros_like(theta0), X, R, w, rows, 2, K, "tanh", 0.0, offset,
                         loss)[0]
    assert f < f0


def test_lbfgs_reaches_scipy_minimum():
    X, R, w, rows = _problem(n=200, K=1, seed=5)
    J, K = 2, 1
    theta0 = initial_block(np.random.default_rng(6), X.shape[1], J, K, "logistic")
    out = np.empty_like(theta0)
    _, f = fit_block_lbfgs(theta0, X, R, np.zeros_like(R), w, rows, J, K, 0,
                           LOSS_CODES["squared_error"], 0.1, 500, 10, out)
    ref = minimize(naive_loss_grad, theta0, args=(X, R, w, rows, J, K, "logistic", 0.1),
                   jac=True, method="L-BFGS-B", options={"maxiter": 500})
    f0 = naive_loss_grad(theta0, X, R, w, rows, J, K, "logistic", 0.1)[0]
    assert f < 0.5 * f0
    # Same local basin from the same start: objectives agree to well below the decrease made.
    assert abs(f - ref.fun) < 1e-3 * (f0 - ref.fun)


def test_kernel_does_not_write_into_read_only_inputs():
    X, R, w, rows = _problem()
    theta0 = initial_block(np.random.default_rng(7), X.shape[1], 2, 1, "logistic")
    offset = np.ones_like(R)
    copies = [a.copy() for a in (X, R, offset, w, rows, theta0)]
    for a in (X, R, offset, w, rows, theta0):
        a.setflags(write=False)
    A, c, V, b, n_iter = fit_block(X, R, offset, w, rows, theta0, 2, "logistic",
                                   "squared_error", 1e-2, 20)
    for a, a_copy in zip((X, R, offset, w, rows, theta0), copies):
        np.testing.assert_array_equal(a, a_copy)
    assert A.shape == (X.shape[1], 2) and V.shape == (2, 1) and 1 <= n_iter <= 20


def test_unpack_inverts_initial_layout():
    rng = np.random.default_rng(8)
    theta = rng.normal(size=n_parameters(4, 3, 2))
    A, c, V, b = unpack_block(theta, 4, 3, 2)
    # The j-th hidden unit's weights are contiguous in theta.
    np.testing.assert_array_equal(A[:, 1], theta[4:8])
    assert c.shape == (3,) and V.shape == (3, 2) and b.shape == (2,)
    np.testing.assert_array_equal(b, theta[-2:])


def test_vectorised_exp_matches_numpy():
    # The softmax's exp: non-positive arguments, down to and below the clamp at EXP_MIN.
    x = np.concatenate([-np.geomspace(1e-300, 745.0, 4001), [0.0, -0.0, -1e-320, -800.0]])
    values, bits = x.copy(), np.empty(x.size, dtype=np.int64)
    _kernels._exp_nonpositive(values, bits)
    expected = np.exp(np.maximum(x, _kernels.EXP_MIN))
    np.testing.assert_allclose(values, expected, rtol=4e-16, atol=0)
    nan = np.array([np.nan, -1.0])
    _kernels._exp_nonpositive(nan, np.empty(2, dtype=np.int64))
    assert np.isnan(nan[0]) and nan[1] == pytest.approx(np.exp(-1.0), rel=1e-15)


def test_transposed_chunks_layout():
    X = np.arange(2.0 * (_kernels.CHUNK_ROWS + 3)).reshape(-1, 2)
    flat = _kernels.transposed_chunks(X)
    first = flat[:2 * _kernels.CHUNK_ROWS].reshape(2, _kernels.CHUNK_ROWS)
    np.testing.assert_array_equal(first, X[:_kernels.CHUNK_ROWS].T)
    np.testing.assert_array_equal(flat[2 * _kernels.CHUNK_ROWS:].reshape(2, 3),
                                  X[_kernels.CHUNK_ROWS:].T)


def test_step_softmax_kernels_match_the_loss_classes():
    # The boosting step's softmax passes against boostkit.losses.Softmax (the reference).
    from boostkit.losses import Softmax

    rng = np.random.default_rng(11)
    raw = 4.0 * rng.normal(size=(300, 7))
    raw[0] += 900.0  # a row whose scores would overflow a naive exp
    targets = np.eye(7)[rng.integers(0, 7, 300)]
    w = rng.uniform(0.1, 2.0, 300)
    gradient, hessian = np.empty_like(raw), np.empty_like(raw)
    _kernels.softmax_derivatives(raw, targets, gradient, hessian)
    expected_gradient, expected_hessian = Softmax(1.0).derivatives(targets, raw)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hessian, expected_hessian, rtol=1e-12, atol=1e-15)
    expected_loss = (w * Softmax(1.0).value(targets, raw)).sum() / w.sum()
    np.testing.assert_allclose(_kernels.softmax_mean_loss(raw, targets, w), expected_loss,
                               rtol=1e-12)
