"""numba kernels for GBNN block training: the hot loop of boosting (T small non-convex fits).

A block is a one-hidden-layer network with ``J`` hidden units and ``K`` linear outputs,

    g(x) = b + act(x A + c) V,      A: (d, J), c: (J,), V: (J, K), b: (K,)

fitted by L-BFGS on a set of rows to the loss of the current model's raw scores ``F`` (the
``offset``) plus the block, with targets ``R``:

    f = sum_i w_i l(F_i + g(x_i), R_i) / sum_i w_i  +  0.5 * alpha * (||A||^2 + ||V||^2) / sum_i w_i

where ``l`` is the squared error ``0.5 ||o - R_i||^2`` (regression: ``R`` the scaled residuals,
``F`` zero), the log-loss ``log(1 + e^o) - R_i o`` (binary: ``R`` the 0/1 labels) or the softmax
cross-entropy ``sum_k R_ik (logsumexp(o) - o_k)`` (multiclass: ``R`` one-hot). Fitting the block
to the loss itself rather than by least squares to the pseudo-residuals ``y - p`` puts each new
unit where the classification loss can still fall, instead of spending it on rows the model
already separates (whose residuals are small but whose squared error the fit still weighs).

(scikit-learn's MLP convention: the L2 penalty is divided by the total sample weight, biases are
not penalised). The parameters live in one flat vector ``theta = [A.T.ravel(), c, V.ravel(), b]`` (the hidden
weights unit by unit, so the inner loops over features run over contiguous memory).

Kernels never raise for user errors (the estimator validates first), never write into their
inputs, and take plain arrays and scalars. Rows are processed in fixed chunks whose partial
gradients are summed in chunk order, so results do not depend on the number of threads.
"""

import numpy as np
from numba import njit, prange

ACTIVATION_CODES = {"logistic": 0, "tanh": 1, "relu": 2}
LOSS_CODES = {"squared_error": 0, "logistic": 1, "softmax": 2}

# Rows per chunk of the parallel gradient pass. Below PARALLEL_MIN_CHUNKS chunks the serial
# path is used: on 2 cores (shared with other work) waking threads for every one of the
# thousands of gradient passes costs more than it saves at smaller sizes (measured: 8 chunks of
# 1 024 rows ran 12x slower in parallel than serially on a loaded 2-core machine).
CHUNK_ROWS = 4096
PARALLEL_MIN_CHUNKS = 8
# Backtracking line search: sufficient-decrease constant and maximal number of halvings.
ARMIJO_C1 = 1e-4
MAX_BACKTRACKS = 30
# Stopping rules: scipy's L-BFGS-B defaults (factr=1e7 -> ftol ~ 2.2e-9; pgtol=1e-5).
FTOL = 2.220446049250313e-09
GTOL = 1e-5


def n_parameters(n_features, n_units, n_outputs):
    """Length of the flat parameter vector of one block."""
    return n_features * n_units + n_units + n_units * n_outputs + n_outputs


@njit(cache=True)
def _activate(z, act):
    if act == 0:
        return 1.0 / (1.0 + np.exp(-z))
    if act == 1:
        return np.tanh(z)
    return z if z > 0.0 else 0.0


@njit(cache=True)
def _activation_derivative(h, z, act):
    # Written in terms of the activation value h (and z for relu), as in backpropagation.
    if act == 0:
        return h * (1.0 - h)
    if act == 1:
        return 1.0 - h * h
    return 1.0 if z > 0.0 else 0.0


# Re-association lets LLVM vectorise the dot products over features; it changes rounding
# only (no finite-math assumptions, so NaN/inf keep their meaning).
@njit(cache=True, fastmath={"reassoc", "contract"})
def _rows_loss_grad(theta, X, R, offset, w, rows, start, stop, n_units, n_outputs, act, loss,
                    grad):
    """Unnormalised sum_i w_i l(F_i + g(x_i), R_i) over rows[start:stop]; adds its gradient."""
    d = X.shape[1]
    J = n_units
    K = n_outputs
    off_c = d * J
    off_v = off_c + J
    off_b = off_v + J * K
    h = np.empty(J)
    dh = np.empty(J)
    e = np.empty(K)
    o = np.empty(K)
    total = 0.0
    for pos in range(start, stop):
        i = rows[pos]
        wi = w[i]
        xi = X[i]
        for j in range(J):
            aj = theta[j * d:(j + 1) * d]
            z = 0.0
            for f in range(d):
                z += xi[f] * aj[f]
            z += theta[off_c + j]
            hj = _activate(z, act)
            h[j] = hj
            dh[j] = _activation_derivative(hj, z, act)
        for k in range(K):
            out = offset[i, k] + theta[off_b + k]
            for j in range(J):
                out += h[j] * theta[off_v + j * K + k]
            o[k] = out
        # e = d loss / d output, times the row weight.
        if loss == 0:
            for k in range(K):
                ek = o[k] - R[i, k]
                total += 0.5 * wi * ek * ek
                e[k] = wi * ek
        elif loss == 1:
            z = o[0]
            if z > 0.0:
                ez = np.exp(-z)
                total += wi * (z + np.log1p(ez) - R[i, 0] * z)
                p = 1.0 / (1.0 + ez)
            else:
                ez = np.exp(z)
                total += wi * (np.log1p(ez) - R[i, 0] * z)
                p = ez / (1.0 + ez)
            e[0] = wi * (p - R[i, 0])
        else:
            top = o[0]
            for k in range(1, K):
                if o[k] > top:
                    top = o[k]
            norm = 0.0
            for k in range(K):
                e[k] = np.exp(o[k] - top)
                norm += e[k]
            log_norm = top + np.log(norm)
            r_sum = 0.0
            for k in range(K):
                r_sum += R[i, k]
                total += wi * R[i, k] * (log_norm - o[k])
            for k in range(K):
                e[k] = wi * (e[k] / norm * r_sum - R[i, k])
        for k in range(K):
            grad[off_b + k] += e[k]
        for j in range(J):
            back = 0.0
            for k in range(K):
                grad[off_v + j * K + k] += h[j] * e[k]
                back += e[k] * theta[off_v + j * K + k]
            dz = back * dh[j]
            grad[off_c + j] += dz
            gj = grad[j * d:(j + 1) * d]
            for f in range(d):
                gj[f] += xi[f] * dz
    return total


@njit(cache=True, parallel=True)
def _chunked_loss_grad(theta, X, R, offset, w, rows, n_units, n_outputs, act, loss, chunk_grads,
                       chunk_losses):
    n_chunks = chunk_losses.shape[0]
    n_rows = rows.shape[0]
    for c in prange(n_chunks):
        start = c * CHUNK_ROWS
        stop = min(start + CHUNK_ROWS, n_rows)
        g = chunk_grads[c]
        g[:] = 0.0
        chunk_losses[c] = _rows_loss_grad(theta, X, R, offset, w, rows, start, stop, n_units,
                                          n_outputs, act, loss, g)


@njit(cache=True)
def block_loss_grad(theta, X, R, offset, w, rows, n_units, n_outputs, act, loss, alpha, sw_sum,
                    chunk_grads, chunk_losses, grad):
    """Objective value of a block at ``theta``; writes its gradient into ``grad``.

    ``chunk_grads`` (n_chunks, P) and ``chunk_losses`` (n_chunks,) are scratch buffers; with
    one chunk the rows are processed serially.
    """
    grad[:] = 0.0
    n_chunks = chunk_losses.shape[0]
    if n_chunks <= 1:
        total = _rows_loss_grad(theta, X, R, offset, w, rows, np.int64(0), rows.shape[0],
                                n_units, n_outputs, act, loss, grad)
    else:
        _chunked_loss_grad(theta, X, R, offset, w, rows, n_units, n_outputs, act, loss,
                           chunk_grads, chunk_losses)
        total = 0.0
        for c in range(n_chunks):
            total += chunk_losses[c]
            for p in range(grad.shape[0]):
                grad[p] += chunk_grads[c, p]
    d = X.shape[1]
    J = n_units
    off_v = d * J + J
    off_b = off_v + J * n_outputs
    penalty = 0.0
    for p in range(d * J):
        penalty += theta[p] * theta[p]
        grad[p] += alpha * theta[p]
    for p in range(off_v, off_b):
        penalty += theta[p] * theta[p]
        grad[p] += alpha * theta[p]
    total += 0.5 * alpha * penalty
    inv = 1.0 / sw_sum
    for p in range(grad.shape[0]):
        grad[p] *= inv
    return total * inv


@njit(cache=True)
def fit_block_lbfgs(theta0, X, R, offset, w, rows, n_units, n_outputs, act, loss, alpha,
                    max_iter, history, theta_out):
    """Minimise the block objective from ``theta0`` by L-BFGS; the result goes to ``theta_out``.

    Two-loop recursion with ``history`` correction pairs, backtracking (Armijo, with quadratic
    interpolation) line search; correction pairs with non-positive curvature are skipped.
    Stops after ``max_iter`` iterations, when max |gradient| < GTOL, or when the relative
    decrease of the objective falls below FTOL. Returns (iterations, final objective).
    """
    P = theta0.shape[0]
    sw_sum = 0.0
    for pos in range(rows.shape[0]):
        sw_sum += w[rows[pos]]
    n_chunks = (rows.shape[0] + CHUNK_ROWS - 1) // CHUNK_ROWS
    if n_chunks < PARALLEL_MIN_CHUNKS:
        n_chunks = 1
    chunk_grads = np.empty((n_chunks, P))
    chunk_losses = np.empty(n_chunks)

    theta = theta0.copy()
    g = np.empty(P)
    f = block_loss_grad(theta, X, R, offset, w, rows, n_units, n_outputs, act, loss, alpha,
                        sw_sum, chunk_grads, chunk_losses, g)
    S = np.zeros((history, P))
    Y = np.zeros((history, P))
    rho_hist = np.zeros(history)
    a_hist = np.zeros(history)
    n_hist = 0
    newest = -1
    direction = np.empty(P)
    theta_new = np.empty(P)
    g_new = np.empty(P)
    it = 0
    while it < max_iter:
        gmax = 0.0
        for p in range(P):
            if abs(g[p]) > gmax:
                gmax = abs(g[p])
        if gmax < GTOL:
            break
        # Two-loop recursion: direction = -H g.
        for p in range(P):
            direction[p] = g[p]
        for m in range(n_hist):
            idx = (newest - m) % history
            a = 0.0
            for p in range(P):
                a += S[idx, p] * direction[p]
            a *= rho_hist[idx]
            a_hist[idx] = a
            for p in range(P):
                direction[p] -= a * Y[idx, p]
        if n_hist > 0:
            yy = 0.0
            for p in range(P):
                yy += Y[newest, p] * Y[newest, p]
            gamma = 1.0 / (rho_hist[newest] * yy)
            for p in range(P):
                direction[p] *= gamma
        for m in range(n_hist - 1, -1, -1):
            idx = (newest - m) % history
            b = 0.0
            for p in range(P):
                b += Y[idx, p] * direction[p]
            b *= rho_hist[idx]
            for p in range(P):
                direction[p] += S[idx, p] * (a_hist[idx] - b)
        gd = 0.0
        for p in range(P):
            direction[p] = -direction[p]
            gd += g[p] * direction[p]
        if gd >= 0.0:
            # Not a descent direction (numerical trouble): restart from steepest descent.
            n_hist = 0
            gd = 0.0
            for p in range(P):
                direction[p] = -g[p]
                gd -= g[p] * g[p]
        if n_hist == 0:
            gnorm = np.sqrt(-gd)
            step = min(1.0, 1.0 / gnorm)
        else:
            step = 1.0
        accepted = False
        f_new = f
        for _ in range(MAX_BACKTRACKS):
            for p in range(P):
                theta_new[p] = theta[p] + step * direction[p]
            f_new = block_loss_grad(theta_new, X, R, offset, w, rows, n_units, n_outputs, act,
                                    loss, alpha, sw_sum, chunk_grads, chunk_losses, g_new)
            if f_new <= f + ARMIJO_C1 * step * gd:
                accepted = True
                break
            # Minimiser of the quadratic through f, gd and f_new, kept in [0.1, 0.5] * step.
            denom = 2.0 * (f_new - f - gd * step)
            if denom > 0.0 and np.isfinite(f_new):
                trial = -gd * step * step / denom
                step = min(max(trial, 0.1 * step), 0.5 * step)
            else:
                step *= 0.1
        if not accepted:
            break
        it += 1
        sy = 0.0
        yy = 0.0
        for p in range(P):
            sp = theta_new[p] - theta[p]
            yp = g_new[p] - g[p]
            sy += sp * yp
            yy += yp * yp
        if sy > 1e-10 * yy and sy > 0.0:
            newest = (newest + 1) % history
            for p in range(P):
                S[newest, p] = theta_new[p] - theta[p]
                Y[newest, p] = g_new[p] - g[p]
            rho_hist[newest] = 1.0 / sy
            if n_hist < history:
                n_hist += 1
        decrease = f - f_new
        scale = max(abs(f), abs(f_new), 1.0)
        for p in range(P):
            theta[p] = theta_new[p]
            g[p] = g_new[p]
        f = f_new
        if decrease <= FTOL * scale:
            break
    for p in range(P):
        theta_out[p] = theta[p]
    return it, f
