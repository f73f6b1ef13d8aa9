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
not penalised). The parameters live in one flat vector ``theta = [A.T.ravel(), c, V.ravel(),
b]`` (the hidden weights unit by unit: ``A.T`` is a C-contiguous (J, d) view for the BLAS
products).

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


# exp(x) for x <= 0 (the shifted softmax scores), written so that LLVM vectorises it: the
# libm exp numba calls is scalar and cost ~15x numpy's SIMD exp, which made the K
# exponentials per row the largest part of a many-class gradient pass. Cody-Waite reduction
# x = m ln2 + r, |r| <= ln2 / 2, a degree-13 Taylor polynomial for exp(r) (truncation below
# 5e-18 relative), and 2^m from its IEEE bits. Arguments below EXP_MIN give exp(EXP_MIN)
# (about 3e-308) instead of a subnormal or 0: a class probability that small changes nothing.
EXP_MIN = -708.0
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10


@njit(cache=True, fastmath={"contract"})
def _exp_nonpositive(values, bits):
    """values[:] = exp(values) for values <= 0 (NaN stays NaN); ``bits`` is int64 scratch."""
    n = values.shape[0]
    for i in range(n):
        x = values[i]
        # NaN takes the exponent of EXP_MIN (a defined integer) and stays NaN through r.
        clamped = x if x >= EXP_MIN else EXP_MIN
        m = np.floor(clamped * _LOG2E + 0.5)
        x = clamped if x == x else x
        r = (x - m * _LN2_HI) - m * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        values[i] = p
        # m is in [-1022, 0].
        bits[i] = (np.int64(m) + 1023) << 52
    scale = bits.view(np.float64)
    for i in range(n):
        values[i] *= scale[i]


# Re-association lets LLVM vectorise the row loops; it changes rounding only (no finite-math
# assumptions, so NaN/inf keep their meaning).
@njit(cache=True, fastmath={"reassoc", "contract"})
def _chunk_loss_grad(theta, X, X_chunks_t, R, offset, w, start, stop, n_units, n_outputs, act,
                     loss, work, grad):
    """Unnormalised sum_i w_i l(F_i + g(x_i), R_i) over rows start:stop; writes its gradient.

    The rows are processed together: the products with the weights are BLAS matrix products
    (``np.dot``), the activations, losses and output errors loops over the chunk's matrices.
    ``X_chunks_t`` holds each chunk of ``X`` transposed (:func:`transposed_chunks`): OpenBLAS
    multiplies (m, d) by (d, J) for a handful of units J 3x faster from that layout. ``work``
    holds scratch vectors of at least CHUNK_ROWS * max(J, K) entries each (see
    :func:`chunk_work`); ``grad`` is overwritten.
    """
    d = X.shape[1]
    J = n_units
    K = n_outputs
    m = stop - start
    off_c = d * J
    off_v = off_c + J
    off_b = off_v + J * K
    A = theta[:off_c].reshape(J, d)
    c = theta[off_c:off_v]
    V = theta[off_v:off_b].reshape(J, K)
    b = theta[off_b:]
    Xc = X[start:stop]
    Z = work[0][:m * J].reshape(m, J)
    H = work[1][:m * J].reshape(m, J)
    O = work[2][:m * K].reshape(m, K)
    bits = work[3]
    np.dot(X_chunks_t[start * d:stop * d].reshape(d, m).T, A.T, Z)
    for i in range(m):
        for j in range(J):
            z = Z[i, j] + c[j]
            Z[i, j] = z
            H[i, j] = _activate(z, act)
    np.dot(H, V, O)
    # O becomes E = d loss / d output, times the row weight.
    total = 0.0
    if loss == 0:
        for i in range(m):
            wi = w[start + i]
            for k in range(K):
                ek = O[i, k] + b[k] - R[start + i, k]
                total += 0.5 * wi * ek * ek
                O[i, k] = wi * ek
    elif loss == 1:
        for i in range(m):
            wi = w[start + i]
            z = O[i, 0] + b[0] + offset[start + i, 0]
            y = R[start + i, 0]
            if z > 0.0:
                ez = np.exp(-z)
                total += wi * (z + np.log1p(ez) - y * z)
                p = 1.0 / (1.0 + ez)
            else:
                ez = np.exp(z)
                total += wi * (np.log1p(ez) - y * z)
                p = ez / (1.0 + ez)
            O[i, 0] = wi * (p - y)
    else:
        # Shift each row by its largest score; the shifted scores go to P and exp(P) into P.
        P = work[4][:m * K].reshape(m, K)
        for i in range(m):
            top = -np.inf
            for k in range(K):
                o = O[i, k] + b[k] + offset[start + i, k]
                O[i, k] = o
                top = max(top, o)
            for k in range(K):
                O[i, k] -= top
                P[i, k] = O[i, k]
        _exp_nonpositive(work[4][:m * K], bits[:m * K])
        for i in range(m):
            wi = w[start + i]
            norm = 0.0
            r_sum = 0.0
            for k in range(K):
                norm += P[i, k]
                r_sum += R[start + i, k]
            log_norm = np.log(norm)
            scale = r_sum / norm
            for k in range(K):
                rk = R[start + i, k]
                total += wi * rk * (log_norm - O[i, k])
                O[i, k] = wi * (P[i, k] * scale - rk)
    gV = grad[off_v:off_b].reshape(J, K)
    np.dot(H.T, O, gV)
    for k in range(K):
        grad[off_b + k] = 0.0
    for i in range(m):
        for k in range(K):
            grad[off_b + k] += O[i, k]
    # Back through the output weights into the hidden units: dZ = (E V^T) * act'(Z), into H.
    B = work[5][:m * J].reshape(m, J)
    # A contiguous copy of V^T: OpenBLAS multiplies by it 2x faster than by the view.
    np.dot(O, np.ascontiguousarray(V.T), B)
    for j in range(J):
        grad[off_c + j] = 0.0
    for i in range(m):
        for j in range(J):
            dz = B[i, j] * _activation_derivative(H[i, j], Z[i, j], act)
            H[i, j] = dz
            grad[off_c + j] += dz
    np.dot(H.T, Xc, grad[:off_c].reshape(J, d))
    return total


@njit(cache=True)
def transposed_chunks(X):
    """Each CHUNK_ROWS-row chunk of ``X`` (n, d) transposed to (d, m), chunks one after another."""
    n, d = X.shape
    out = np.empty(n * d)
    for start in range(0, n, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n)
        out[start * d:stop * d].reshape(d, stop - start)[:, :] = X[start:stop].T
    return out


@njit(cache=True)
def chunk_work(n_rows, n_units, n_outputs):
    """Scratch vectors of :func:`_chunk_loss_grad` for chunks of up to ``n_rows`` rows."""
    size = n_rows * max(n_units, n_outputs)
    return (np.empty(size), np.empty(size), np.empty(size), np.empty(size, dtype=np.int64),
            np.empty(size), np.empty(size))


@njit(cache=True, parallel=True)
def _parallel_chunks(theta, X, X_chunks_t, R, offset, w, n_units, n_outputs, act, loss,
                     chunk_grads, chunk_losses):
    n_chunks = chunk_losses.shape[0]
    n_rows = X.shape[0]
    for c in prange(n_chunks):
        start = c * CHUNK_ROWS
        stop = min(start + CHUNK_ROWS, n_rows)
        work = chunk_work(stop - start, n_units, n_outputs)
        chunk_losses[c] = _chunk_loss_grad(theta, X, X_chunks_t, R, offset, w, start, stop,
                                           n_units, n_outputs, act, loss, work, chunk_grads[c])


@njit(cache=True)
def block_loss_grad(theta, X, X_chunks_t, R, offset, w, n_units, n_outputs, act, loss, alpha,
                    sw_sum, work, chunk_grads, chunk_losses, grad):
    """Objective value of a block at ``theta`` over all rows of ``X``; writes its gradient.

    ``X``, ``R``, ``offset`` and ``w`` hold the rows the block is fitted on (gathered once
    per block; ``X_chunks_t`` is :func:`transposed_chunks` of ``X``). Rows go in chunks of
    CHUNK_ROWS whose gradients are summed in chunk order, in parallel from
    PARALLEL_MIN_CHUNKS chunks on (then ``work`` is unused), so the result is the same either
    way. ``chunk_grads`` (n_chunks, P) and ``chunk_losses`` (n_chunks,) are scratch.
    """
    n_chunks = chunk_losses.shape[0]
    n_rows = X.shape[0]
    if n_chunks >= PARALLEL_MIN_CHUNKS:
        _parallel_chunks(theta, X, X_chunks_t, R, offset, w, n_units, n_outputs, act, loss,
                         chunk_grads, chunk_losses)
    else:
        for c in range(n_chunks):
            start = c * CHUNK_ROWS
            stop = min(start + CHUNK_ROWS, n_rows)
            chunk_losses[c] = _chunk_loss_grad(theta, X, X_chunks_t, R, offset, w, start, stop,
                                               n_units, n_outputs, act, loss, work,
                                               chunk_grads[c])
    total = 0.0
    grad[:] = 0.0
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
    # The block's rows, gathered once: every gradient pass then reads contiguous memory.
    Xs = X[rows]
    Xs_t = transposed_chunks(Xs)
    Rs = R[rows]
    offsets = offset[rows]
    ws = w[rows]
    n_rows = rows.shape[0]
    sw_sum = 0.0
    for i in range(n_rows):
        sw_sum += ws[i]
    n_chunks = max(1, (n_rows + CHUNK_ROWS - 1) // CHUNK_ROWS)
    chunk_grads = np.empty((n_chunks, P))
    chunk_losses = np.empty(n_chunks)
    work = chunk_work(min(n_rows, CHUNK_ROWS), n_units, n_outputs)

    theta = theta0.copy()
    g = np.empty(P)
    f = block_loss_grad(theta, Xs, Xs_t, Rs, offsets, ws, n_units, n_outputs, act, loss, alpha,
                        sw_sum, work, chunk_grads, chunk_losses, g)
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
            f_new = block_loss_grad(theta_new, Xs, Xs_t, Rs, offsets, ws, n_units, n_outputs,
                                    act, loss, alpha, sw_sum, work, chunk_grads, chunk_losses,
                                    g_new)
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


# --------------------------------------------------------------------------- softmax scores
# The boosting step's own softmax passes (the derivatives at the current scores, the log-loss
# of a candidate step), over all training rows once per step; scipy's softmax spends most of
# its time in row reductions over few classes. The formulas are those of
# boostkit.losses.Softmax (hessian factor 1), which the tests compare them with.
@njit(cache=True, fastmath={"reassoc", "contract"})
def _shifted_exp_rows(raw, shifted, bits):
    """shifted = raw - row max, exp(shifted) returned in a new array; row sums of the exps."""
    n, K = raw.shape
    for i in range(n):
        top = raw[i, 0]
        for k in range(1, K):
            top = max(top, raw[i, k])
        for k in range(K):
            shifted[i, k] = raw[i, k] - top
    e = shifted.copy()
    _exp_nonpositive(e.reshape(n * K), bits)
    norm = np.empty(n)
    for i in range(n):
        s = 0.0
        for k in range(K):
            s += e[i, k]
        norm[i] = s
    return e, norm


@njit(cache=True, fastmath={"reassoc", "contract"})
def softmax_derivatives(raw, targets, gradient, hessian):
    """Softmax cross-entropy at ``raw`` (n, K): writes p - targets and p (1 - p)."""
    n, K = raw.shape
    shifted = np.empty((n, K))
    e, norm = _shifted_exp_rows(raw, shifted, np.empty(n * K, dtype=np.int64))
    for i in range(n):
        inv = 1.0 / norm[i]
        for k in range(K):
            p = e[i, k] * inv
            gradient[i, k] = p - targets[i, k]
            hessian[i, k] = p * (1.0 - p)


@njit(cache=True, fastmath={"reassoc", "contract"})
def softmax_mean_loss(raw, targets, w):
    """sum_i w_i sum_k targets_ik (logsumexp(raw_i) - raw_ik) / sum_i w_i."""
    n, K = raw.shape
    shifted = np.empty((n, K))
    _, norm = _shifted_exp_rows(raw, shifted, np.empty(n * K, dtype=np.int64))
    total = 0.0
    w_sum = 0.0
    for i in range(n):
        log_norm = np.log(norm[i])
        row = 0.0
        for k in range(K):
            row += targets[i, k] * (log_norm - shifted[i, k])
        total += w[i] * row
        w_sum += w[i]
    return total / w_sum
