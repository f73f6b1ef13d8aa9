"""numba kernels of the fixed-structure methods: LeafInfluence, LeafInfluenceSP and LeafRefit.

The model they differentiate keeps every training row in its leaf of every tree; each leaf value
is one Newton step on the scores before its round,

    v[j, l] = -eta * sum_{r in l} w_r g_r / (sum_{r in l} w_r h_r + lambda),

with tree ``j = t * C + k`` (round ``t``, output ``k``) and ``g, h`` at ``F_{t-1}``.

Layout: per-tree arrays are stored tree-major, ``(n_trees, n_train)``, so the sweep over the
training rows of one tree reads contiguous memory. Score derivatives of the training rows are
``(C, n_train)`` per perturbed row and live only inside one thread's iteration: memory is
O(n_train * C + n_trees * max_leaves) per thread, never n_train x n_train.

Every kernel takes plain arrays, writes only into the outputs it is given, never raises for user
errors (inputs are checked in Python first) and runs in parallel over the perturbed rows.
"""

import numpy as np
from numba import njit, prange

from ..losses import LOGISTIC, SOFTMAX, SQUARED_ERROR, score_derivatives


# ------------------------------------------------------------------------- LeafInfluence
# Perturbed rows propagated together: one sweep over a tree's per-row arrays serves all of
# them (at 20,000 rows those arrays stream from memory, so a sweep per row was bandwidth-bound).
_BLOCK = 16


@njit(cache=True)
def _propagate(block, leaf_ids_t, addend, multiplier, prob, scale, n_outputs, d_score,
               numerator, d_leaf, shift):
    """Derivatives of every leaf value and every training score when a row of ``block`` is
    up-weighted (``_BLOCK`` rows at once, last axis).

    ``d_leaf[j, l, b]`` receives d v[j, l] / d eps_b and ``d_score[k, r, b]`` ends as
    d F_T,k(x_r) / d eps_b. Per tree: numerator_l = sum_{r in l} multiplier[j, r] * dF_r
    (+ ``addend[j, i_b]`` in row i_b's leaf), d v_l = scale[j, l] * numerator_l. With ``prob`` of
    shape (T, n, C) the outputs couple: the score change enters as
    ``dF_k - sum_c p_c dF_c`` (the softmax Jacobian, its ``p_k`` inside ``multiplier``).
    """
    n_trees, n_rows = leaf_ids_t.shape
    n_rounds = n_trees // n_outputs
    n_leaves = scale.shape[1]
    coupled = prob.shape[0] > 0
    d_score[:] = 0.0
    for t in range(n_rounds):
        moved = t > 0  # before the first round no score has changed yet
        if coupled and moved:
            for r in range(n_rows):
                for b in range(_BLOCK):
                    shift[r, b] = 0.0
                for c in range(n_outputs):
                    p = prob[t, r, c]
                    for b in range(_BLOCK):
                        shift[r, b] += p * d_score[c, r, b]
        for k in range(n_outputs):
            j = t * n_outputs + k
            leaves = leaf_ids_t[j]
            weights = multiplier[j]
            numerator[:] = 0.0
            if moved:
                scores = d_score[k]
                for r in range(n_rows):
                    target = numerator[leaves[r]]
                    m = weights[r]
                    if coupled:
                        for b in range(_BLOCK):
                            target[b] += m * (scores[r, b] - shift[r, b])
                    else:
                        for b in range(_BLOCK):
                            target[b] += m * scores[r, b]
            for b in range(_BLOCK):
                i = block[b]
                numerator[leaves[i], b] += addend[j, i]
            for leaf in range(n_leaves):
                s = scale[j, leaf]
                for b in range(_BLOCK):
                    d_leaf[j, leaf, b] = s * numerator[leaf, b]
        for k in range(n_outputs):
            j = t * n_outputs + k
            leaves = leaf_ids_t[j]
            changes = d_leaf[j]
            scores = d_score[k]
            for r in range(n_rows):
                change = changes[leaves[r]]
                for b in range(_BLOCK):
                    scores[r, b] += change[b]


@njit(cache=True, parallel=True)
def leaf_influence_rows(rows, leaf_ids_t, addend, multiplier, prob, scale, train_gradient,
                        test_leaf_ids, test_gradient, local_out, self_out):
    """LeafInfluence of training rows ``rows`` on test points and on themselves.

    ``local_out[a, k, e] = -test_gradient[e, k] * d F_T,k(x_e) / d eps_i`` for ``i = rows[a]``
    (summed over ``k`` when ``local_out`` has one output slot); ``self_out[a, k]`` the same for
    training row ``i`` itself with ``train_gradient`` (its loss gradient at ``F_T``).
    ``test_leaf_ids`` is (n_test, n_trees); with zero test points only self influence is made.
    """
    n_trees, n_rows = leaf_ids_t.shape
    n_outputs = train_gradient.shape[1]
    n_leaves = scale.shape[1]
    n_test = test_leaf_ids.shape[0]
    n_wanted = rows.shape[0]
    per_output = local_out.shape[1] > 1
    self_per_output = self_out.shape[1] > 1
    n_blocks = (n_wanted + _BLOCK - 1) // _BLOCK
    for block_index in prange(n_blocks):
        first = block_index * _BLOCK
        block = np.empty(_BLOCK, dtype=np.int64)
        for b in range(_BLOCK):
            # a short last block repeats its last row; the copies are not written out
            block[b] = rows[min(first + b, n_wanted - 1)]
        d_score = np.empty((n_outputs, n_rows, _BLOCK))
        numerator = np.empty((n_leaves, _BLOCK))
        d_leaf = np.empty((n_trees, n_leaves, _BLOCK))
        shift = np.empty((n_rows, _BLOCK))
        _propagate(block, leaf_ids_t, addend, multiplier, prob, scale, n_outputs, d_score,
                   numerator, d_leaf, shift)
        change = np.empty(n_outputs)
        for b in range(min(_BLOCK, n_wanted - first)):
            a = first + b
            i = block[b]
            for k in range(self_out.shape[1]):
                self_out[a, k] = 0.0
            for k in range(n_outputs):
                self_out[a, k if self_per_output else 0] -= (train_gradient[i, k]
                                                             * d_score[k, i, b])
            for e in range(n_test):
                change[:] = 0.0
                for j in range(n_trees):
                    change[j % n_outputs] += d_leaf[j, test_leaf_ids[e, j], b]
                if per_output:
                    for k in range(n_outputs):
                        local_out[a, k, e] = -test_gradient[e, k] * change[k]
                else:
                    total = 0.0
                    for k in range(n_outputs):
                        total -= test_gradient[e, k] * change[k]
                    local_out[a, 0, e] = total


@njit(cache=True, parallel=True)
def single_point_rows(leaf_ids, addend, multiplier, prob, scale, n_outputs, train_gradient,
                      d_leaf, self_out):
    """LeafInfluenceSP: only the perturbed row's own score derivative is propagated.

    ``d_leaf[i, j]`` receives d v[j, leaf(i, j)] / d eps_i (the only leaf of tree ``j`` that
    moves); ``self_out[i, k] = -train_gradient[i, k] * d F_T,k(x_i) / d eps_i`` (one column:
    summed over outputs). ``leaf_ids`` is (n, n_trees); the per-tree arrays are tree-major.
    """
    n_rows, n_trees = leaf_ids.shape
    n_rounds = n_trees // n_outputs
    coupled = prob.shape[0] > 0
    per_output = self_out.shape[1] > 1
    for i in prange(n_rows):
        d_score = np.zeros(n_outputs)
        change = np.empty(n_outputs)
        for t in range(n_rounds):
            shift = 0.0
            if coupled:
                for c in range(n_outputs):
                    shift += prob[t, i, c] * d_score[c]
            for k in range(n_outputs):
                j = t * n_outputs + k
                own = d_score[k] - shift if coupled else d_score[k]
                d = scale[j, leaf_ids[i, j]] * (addend[j, i] + multiplier[j, i] * own)
                d_leaf[i, j] = d
                change[k] = d
            for k in range(n_outputs):
                d_score[k] += change[k]
        for k in range(self_out.shape[1]):
            self_out[i, k] = 0.0
        for k in range(n_outputs):
            self_out[i, k if per_output else 0] -= train_gradient[i, k] * d_score[k]


# ------------------------------------------------------------------------- LeafRefit
@njit(cache=True, inline="always")
def _score_derivatives(score, targets, objective, hessian_factor, gradient, hessian):
    """``gradient[k, r]``, ``hessian[k, r]`` of every row at raw scores ``score`` (C, n)."""
    n_outputs, n_rows = score.shape
    raw = np.empty((1, n_outputs))
    target = np.empty(n_outputs)
    g = np.empty((1, n_outputs))
    h = np.empty((1, n_outputs))
    for r in range(n_rows):
        for k in range(n_outputs):
            raw[0, k] = score[k, r]
            target[k] = targets[r, k]
        score_derivatives(raw, target, objective, hessian_factor, g, h)
        for k in range(n_outputs):
            gradient[k, r] = g[0, k]
            hessian[k, r] = h[0, k]


# One compiled copy per objective: with the objective a compile-time constant the loss code
# folds to its own branch; a runtime code keeps every branch and costs ~8x per row.
@njit(cache=True)
def _squared_error_derivatives(score, targets, hessian_factor, gradient, hessian):
    _score_derivatives(score, targets, SQUARED_ERROR, hessian_factor, gradient, hessian)


@njit(cache=True)
def _logistic_derivatives(score, targets, hessian_factor, gradient, hessian):
    _score_derivatives(score, targets, LOGISTIC, hessian_factor, gradient, hessian)


@njit(cache=True)
def _softmax_derivatives(score, targets, hessian_factor, gradient, hessian):
    _score_derivatives(score, targets, SOFTMAX, hessian_factor, gradient, hessian)


@njit(cache=True)
def refit_leaf_values(leaf_ids_t, bias, targets, sample_weight, removed, objective,
                      hessian_factor, learning_rate, l2, score, sums, out):
    """Re-run the Newton recursion over every round with row ``removed`` at weight 0.

    ``removed = -1`` keeps every row. ``out[j, l]`` receives the new leaf values (0 where
    ``H + lambda == 0``: an empty leaf); ``score`` (C, n) ends as the refit raw scores of the
    training rows. ``sums`` is (2, C, max_leaves) scratch; ``leaf_ids_t`` is tree-major.
    """
    n_trees, n_rows = leaf_ids_t.shape
    n_outputs = bias.shape[0]
    n_rounds = n_trees // n_outputs
    n_leaves = out.shape[1]
    gradient = np.empty((n_outputs, n_rows))
    hessian = np.empty((n_outputs, n_rows))
    for k in range(n_outputs):
        for r in range(n_rows):
            score[k, r] = bias[k]
    for t in range(n_rounds):
        if objective == LOGISTIC:
            _logistic_derivatives(score, targets, hessian_factor, gradient, hessian)
        elif objective == SOFTMAX:
            _softmax_derivatives(score, targets, hessian_factor, gradient, hessian)
        else:
            _squared_error_derivatives(score, targets, hessian_factor, gradient, hessian)
        for k in range(n_outputs):
            j = t * n_outputs + k
            leaves = leaf_ids_t[j]
            g = gradient[k]
            h = hessian[k]
            for leaf in range(n_leaves):
                sums[0, k, leaf] = 0.0
                sums[1, k, leaf] = 0.0
            for r in range(n_rows):
                w = sample_weight[r]
                if r == removed:
                    w = 0.0
                sums[0, k, leaves[r]] += w * g[r]
                sums[1, k, leaves[r]] += w * h[r]
            for leaf in range(n_leaves):
                denominator = sums[1, k, leaf] + l2
                value = 0.0
                if denominator != 0.0:
                    value = -learning_rate * sums[0, k, leaf] / denominator
                out[j, leaf] = value
            values = out[j]
            scores = score[k]
            for r in range(n_rows):
                scores[r] += values[leaves[r]]


@njit(cache=True, parallel=True)
def refit_rows(rows, leaf_ids_t, bias, targets, sample_weight, objective, hessian_factor,
               learning_rate, l2, n_leaves, test_leaf_ids, test_raw, self_raw):
    """LeafRefit raw scores: for ``i = rows[a]`` (``-1``: no row removed) refit every leaf
    without row ``i``; ``test_raw[a, e]`` receives test point ``e``'s new raw score and
    ``self_raw[a]`` row ``i``'s own (the bias-only row for ``i = -1``: unused).
    """
    n_trees, n_rows = leaf_ids_t.shape
    n_outputs = bias.shape[0]
    n_test = test_leaf_ids.shape[0]
    for a in prange(rows.shape[0]):
        i = rows[a]
        score = np.empty((n_outputs, n_rows))
        sums = np.empty((2, n_outputs, n_leaves))
        values = np.empty((n_trees, n_leaves))
        refit_leaf_values(leaf_ids_t, bias, targets, sample_weight, i, objective,
                          hessian_factor, learning_rate, l2, score, sums, values)
        for k in range(n_outputs):
            self_raw[a, k] = score[k, max(i, 0)]
        for e in range(n_test):
            for k in range(n_outputs):
                test_raw[a, e, k] = bias[k]
            for j in range(n_trees):
                test_raw[a, e, j % n_outputs] += values[j, test_leaf_ids[e, j]]


# ------------------------------------------------------------------------- full Newton leaves
# CatBoost MultiClass: the C trees of a round share one structure and each leaf solves the full
# Newton system (sum_r w_r J_r + lambda I) theta = -sum_r w_r g_r with the softmax Jacobian
# J = diag(p) - p p^T, instead of one diagonal step per output.
@njit(cache=True)
def _solve(matrix, rhs, out):
    """``out = matrix^-1 rhs`` by Gaussian elimination with partial pivoting (C x C, small);
    0 where the matrix is singular (an empty leaf without regularisation)."""
    n = rhs.shape[0]
    a = matrix.copy()
    x = rhs.copy()
    for col in range(n):
        pivot = col
        for row in range(col + 1, n):
            if abs(a[row, col]) > abs(a[pivot, col]):
                pivot = row
        if a[pivot, col] == 0.0:
            out[:] = 0.0
            return
        if pivot != col:
            for c in range(n):
                a[col, c], a[pivot, c] = a[pivot, c], a[col, c]
            x[col], x[pivot] = x[pivot], x[col]
        for row in range(col + 1, n):
            factor = a[row, col] / a[col, col]
            for c in range(col, n):
                a[row, c] -= factor * a[col, c]
            x[row] -= factor * x[col]
    for row in range(n - 1, -1, -1):
        total = x[row]
        for c in range(row + 1, n):
            total -= a[row, c] * out[c]
        out[row] = total / a[row, row]


@njit(cache=True)
def refit_full_newton(leaf_ids_t, bias, targets, sample_weight, removed, learning_rate, l2,
                      score, out):
    """:func:`refit_leaf_values` for full-Newton softmax leaves (one structure per round, the
    leaf ids of the round's first tree)."""
    n_trees, n_rows = leaf_ids_t.shape
    n_outputs = bias.shape[0]
    n_rounds = n_trees // n_outputs
    n_leaves = out.shape[1]
    gradient = np.empty((n_outputs, n_rows))
    hessian = np.empty((n_outputs, n_rows))
    g_sums = np.empty((n_leaves, n_outputs))
    h_sums = np.empty((n_leaves, n_outputs, n_outputs))
    p = np.empty(n_outputs)
    theta = np.empty(n_outputs)
    matrix = np.empty((n_outputs, n_outputs))
    for k in range(n_outputs):
        for r in range(n_rows):
            score[k, r] = bias[k]
    for t in range(n_rounds):
        _softmax_derivatives(score, targets, 1.0, gradient, hessian)
        leaves = leaf_ids_t[t * n_outputs]
        g_sums[:] = 0.0
        h_sums[:] = 0.0
        for r in range(n_rows):
            w = sample_weight[r]
            if r == removed:
                w = 0.0
            leaf = leaves[r]
            for a in range(n_outputs):
                p[a] = gradient[a, r] + targets[r, a]  # g = p - y
            for a in range(n_outputs):
                g_sums[leaf, a] += w * gradient[a, r]
                for b in range(n_outputs):
                    jacobian = (p[a] if a == b else 0.0) - p[a] * p[b]
                    h_sums[leaf, a, b] += w * jacobian
        for leaf in range(n_leaves):
            for a in range(n_outputs):
                for b in range(n_outputs):
                    matrix[a, b] = h_sums[leaf, a, b] + (l2 if a == b else 0.0)
            _solve(matrix, g_sums[leaf], theta)
            for k in range(n_outputs):
                out[t * n_outputs + k, leaf] = -learning_rate * theta[k]
        for k in range(n_outputs):
            values = out[t * n_outputs + k]
            for r in range(n_rows):
                score[k, r] += values[leaves[r]]


@njit(cache=True, parallel=True)
def refit_full_newton_rows(rows, leaf_ids_t, bias, targets, sample_weight, learning_rate, l2,
                           n_leaves, test_leaf_ids, test_raw, self_raw):
    """:func:`refit_rows` for full-Newton softmax leaves."""
    n_trees, n_rows = leaf_ids_t.shape
    n_outputs = bias.shape[0]
    n_test = test_leaf_ids.shape[0]
    for a in prange(rows.shape[0]):
        i = rows[a]
        score = np.empty((n_outputs, n_rows))
        values = np.empty((n_trees, n_leaves))
        refit_full_newton(leaf_ids_t, bias, targets, sample_weight, i, learning_rate, l2,
                          score, values)
        for k in range(n_outputs):
            self_raw[a, k] = score[k, max(i, 0)]
        for e in range(n_test):
            for k in range(n_outputs):
                test_raw[a, e, k] = bias[k]
            for j in range(n_trees):
                test_raw[a, e, j % n_outputs] += values[j, test_leaf_ids[e, j]]


@njit(cache=True, inline="always")
def _full_newton_change(p, theta, u, w, exact, out):
    """``out += w (J u + dJ[u] theta)``: the change of a row's (g + J theta) terms when its
    scores move by ``u`` (``dJ[u] theta = dp o theta - dp (p . theta) - p (dp . theta)``,
    ``dp = J u``); without ``exact`` only ``w J u``."""
    n_outputs = p.shape[0]
    shift = 0.0
    for c in range(n_outputs):
        shift += p[c] * u[c]
    p_theta = 0.0
    dp_theta = 0.0
    for c in range(n_outputs):
        dp = p[c] * (u[c] - shift)
        p_theta += p[c] * theta[c]
        dp_theta += dp * theta[c]
    for c in range(n_outputs):
        dp = p[c] * (u[c] - shift)
        change = dp
        if exact:
            change += dp * theta[c] - dp * p_theta - p[c] * dp_theta
        out[c] += w * change


@njit(cache=True, parallel=True)
def full_newton_influence_rows(rows, leaf_ids_t, addend, prob, theta_t, sample_weight, exact,
                               inverse, single_point, train_gradient, test_leaf_ids,
                               test_gradient, local_out, self_out, own_leaf_out):
    """LeafInfluence (``single_point``: LeafInfluenceSP) for full-Newton softmax leaves.

    Per round and leaf: ``d theta = inverse[t, leaf] @ (sum_{r in leaf} w_r (J_r dF_r
    + dJ_r[dF_r] theta) + addend_i)``, ``inverse`` already holding ``-(H + lambda I)^-1`` and
    ``addend[t * C + k, i] = w_i (g_i + J_i theta_i)_k`` (``g_i`` alone in reference mode);
    ``d v = eta d theta`` is folded into ``inverse``. Outputs as in
    :func:`leaf_influence_rows`; ``own_leaf_out[a, j]`` (unless it is (0, 0)) receives the
    derivative of row ``i``'s own leaf in tree ``j``.
    """
    n_trees, n_rows = leaf_ids_t.shape
    n_outputs = train_gradient.shape[1]
    n_rounds = n_trees // n_outputs
    n_leaves = inverse.shape[1]
    n_test = test_leaf_ids.shape[0]
    per_output = local_out.shape[1] > 1
    self_per_output = self_out.shape[1] > 1
    for a in prange(rows.shape[0]):
        i = rows[a]
        d_score = np.zeros((n_rows, n_outputs))
        numerator = np.empty((n_leaves, n_outputs))
        d_leaf = np.empty((n_trees, n_leaves))
        u = np.empty(n_outputs)
        th = np.empty(n_outputs)
        for t in range(n_rounds):
            leaves = leaf_ids_t[t * n_outputs]
            numerator[:] = 0.0
            if t > 0:
                for r in range(n_rows):
                    if single_point and r != i:
                        continue
                    for c in range(n_outputs):
                        u[c] = d_score[r, c]
                        th[c] = theta_t[t * n_outputs + c, r]
                    _full_newton_change(prob[t, r], th, u, sample_weight[r], exact,
                                        numerator[leaves[r]])
            for c in range(n_outputs):
                numerator[leaves[i], c] += addend[t * n_outputs + c, i]
            for leaf in range(n_leaves):
                for k in range(n_outputs):
                    total = 0.0
                    for c in range(n_outputs):
                        total += inverse[t, leaf, k, c] * numerator[leaf, c]
                    d_leaf[t * n_outputs + k, leaf] = total
            for r in range(n_rows):
                if single_point and r != i:
                    continue
                for k in range(n_outputs):
                    d_score[r, k] += d_leaf[t * n_outputs + k, leaves[r]]
        if own_leaf_out.shape[0] > 0:
            for j in range(n_trees):
                own_leaf_out[a, j] = d_leaf[j, leaf_ids_t[j, i]]
        for k in range(self_out.shape[1]):
            self_out[a, k] = 0.0
        for k in range(n_outputs):
            self_out[a, k if self_per_output else 0] -= train_gradient[i, k] * d_score[i, k]
        change = np.empty(n_outputs)
        for e in range(n_test):
            change[:] = 0.0
            for j in range(n_trees):
                leaf = test_leaf_ids[e, j]
                if single_point and leaf != leaf_ids_t[j, i]:
                    continue  # only row i's own leaf moves
                change[j % n_outputs] += d_leaf[j, leaf]
            if per_output:
                for k in range(n_outputs):
                    local_out[a, k, e] = -test_gradient[e, k] * change[k]
            else:
                total = 0.0
                for k in range(n_outputs):
                    total -= test_gradient[e, k] * change[k]
                local_out[a, 0, e] = total
