"""numba kernels for influence: leaf-matched products between training rows and test points.

Both BoostIn and TREX sum, over trees ``j``, a training-row quantity times a test-point quantity
when the two share a leaf:

    out[i, e] = sum_j row_value[i, j] * test_table[j, leaf(i, j), e]

where ``test_table[j, l, e]`` holds test point ``e``'s quantity in its own leaf ``l`` and zero in
every other leaf of tree ``j``. Per training row, the inner loop runs over a contiguous block of
test points, so it vectorises and never scatters into memory; trees are summed in ascending
order, the same order as the formulas. Work is ``n_train * n_trees * n_test`` multiply-adds on
cache-resident tiles (callers pass test points in chunks).

Every kernel takes plain arrays, writes only into the outputs it is given, never raises for user
errors (inputs are validated in Python first) and runs in parallel over training rows.
"""

import numpy as np
from numba import njit, prange

from ..losses import SOFTMAX, SQUARED_ERROR, score_derivatives


# Training rows per tile: one tree's test table and the tile's rows stay in cache while the
# tree is applied to them.
_ROW_TILE = 64


@njit(cache=True, inline="always")
def _add_tile(train_leaf_ids, row_values, test_table, start, stop, target, offset):
    """``target[i - offset, e] += sum_j row_values[i, j] * test_table[j, leaf(i, j), e]`` for
    the rows ``start .. stop - 1``.

    Four trees at a time: one load and store of ``target[i - offset, e]`` per four trees
    instead of per tree, which is what bounds this loop (1.7x faster); the adds still run tree
    by tree in ascending order, so the result is the same to the bit.
    """
    n_trees = train_leaf_ids.shape[1]
    n_test = test_table.shape[2]
    j = 0
    while j + 4 <= n_trees:
        table0, table1 = test_table[j], test_table[j + 1]
        table2, table3 = test_table[j + 2], test_table[j + 3]
        for i in range(start, stop):
            column0, value0 = table0[train_leaf_ids[i, j]], row_values[i, j]
            column1, value1 = table1[train_leaf_ids[i, j + 1]], row_values[i, j + 1]
            column2, value2 = table2[train_leaf_ids[i, j + 2]], row_values[i, j + 2]
            column3, value3 = table3[train_leaf_ids[i, j + 3]], row_values[i, j + 3]
            row = target[i - offset]
            for e in range(n_test):
                total = row[e]
                total += value0 * column0[e]
                total += value1 * column1[e]
                total += value2 * column2[e]
                total += value3 * column3[e]
                row[e] = total
        j += 4
    for j in range(j, n_trees):
        tree_table = test_table[j]
        for i in range(start, stop):
            value = row_values[i, j]
            column = tree_table[train_leaf_ids[i, j]]
            row = target[i - offset]
            for e in range(n_test):
                row[e] += value * column[e]


@njit(cache=True, parallel=True)
def leaf_products(train_leaf_ids, row_values, test_table, n_outputs, out):
    """``out[i, k, e] = sum_j row_values[i, j] * test_table[j, train_leaf_ids[i, j], e]``.

    ``k = j % n_outputs`` when ``out`` has more than one output slot (per-output influence),
    else 0 (summed over outputs).
    """
    n_rows, n_trees = train_leaf_ids.shape
    n_test = test_table.shape[2]
    per_output = out.shape[1] > 1
    n_tiles = (n_rows + _ROW_TILE - 1) // _ROW_TILE
    summed = out.reshape((n_rows, out.shape[1] * n_test))  # the (n_rows, n_test) slot if one
    for tile in prange(n_tiles):
        start = tile * _ROW_TILE
        stop = min(n_rows, start + _ROW_TILE)
        if not per_output:
            _add_tile(train_leaf_ids, row_values, test_table, start, stop, summed, 0)
            continue
        for j in range(n_trees):
            k = j % n_outputs
            tree_table = test_table[j]
            for i in range(start, stop):
                value = row_values[i, j]
                column = tree_table[train_leaf_ids[i, j]]
                target = out[i, k]
                for e in range(n_test):
                    target[e] += value * column[e]


@njit(cache=True, parallel=True)
def leaf_weight_products(train_leaf_ids, leaf_weights, test_table, out):
    """``out[i, e] = sum_j leaf_weights[j, leaf(i, j)] * test_table[j, leaf(i, j), e]``.

    With ``test_table`` holding the test points' own leaf weights, this is the tree kernel
    ``k(x_i, x_e)`` of TREX.
    """
    n_rows, n_trees = train_leaf_ids.shape
    n_test = test_table.shape[2]
    for i in prange(n_rows):
        target = out[i]
        for j in range(n_trees):
            leaf = train_leaf_ids[i, j]
            value = leaf_weights[j, leaf]
            column = test_table[j, leaf]
            for e in range(n_test):
                target[e] += value * column[e]


@njit(cache=True, parallel=True)
def ordered_products(left, right, out):
    """``out[e, k] = sum_i left[e, i] * right[i, k]``, summed in ascending ``i``.

    The matrix product without BLAS: BLAS picks its summation order from the operands' shapes
    and the CPU, so a test point's value would change with the chunk it arrives in. Here every
    output element is one sequential sum, the same whatever the number of rows of ``left``.
    """
    n_rows, n_inner = left.shape
    n_out = right.shape[1]
    for e in prange(n_rows):
        target = out[e]
        for k in range(n_out):
            target[k] = 0.0
        for i in range(n_inner):
            value = left[e, i]
            for k in range(n_out):
                target[k] += value * right[i, k]


@njit(cache=True, inline="always")
def _worse(a_value, a_index, b_value, b_index):
    # "a ranks below b": smaller value, or the same value at a larger row index (the order of a
    # stable sort on -value).
    return a_value < b_value or (a_value == b_value and a_index > b_index)


@njit(cache=True)
def _heap_push(heap_values, heap_index, size, k, value, index):
    """Offer (value, index) to a min-heap (worst at the root) of at most k best entries.

    Returns the new size. O(log k), and O(1) for the common case of a value that does not
    enter.
    """
    if size < k:
        pos = size
        while pos > 0:
            parent = (pos - 1) >> 1
            if _worse(value, index, heap_values[parent], heap_index[parent]):
                heap_values[pos] = heap_values[parent]
                heap_index[pos] = heap_index[parent]
                pos = parent
            else:
                break
        heap_values[pos] = value
        heap_index[pos] = index
        return size + 1
    if not _worse(heap_values[0], heap_index[0], value, index):
        return size
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= k:
            break
        if child + 1 < k and _worse(heap_values[child + 1], heap_index[child + 1],
                                    heap_values[child], heap_index[child]):
            child += 1
        if _worse(heap_values[child], heap_index[child], value, index):
            heap_values[pos] = heap_values[child]
            heap_index[pos] = heap_index[child]
            pos = child
        else:
            break
    heap_values[pos] = value
    heap_index[pos] = index
    return size


@njit(cache=True)
def _sort_best_first(values, index, size):
    """Insertion sort of a heap's entries, best first (k is small)."""
    for a in range(1, size):
        v = values[a]
        idx = index[a]
        b = a - 1
        while b >= 0 and _worse(values[b], index[b], v, idx):
            values[b + 1] = values[b]
            index[b + 1] = index[b]
            b -= 1
        values[b + 1] = v
        index[b + 1] = idx


@njit(cache=True, parallel=True)
def leaf_products_top_k(train_leaf_ids, row_values, test_table, k, n_blocks, helpful_index,
                        helpful_values, harmful_index, harmful_values):
    """Top-k of :func:`leaf_products` (summed over outputs) per test point.

    ``n_blocks`` parallel blocks of training rows each keep k-heaps per test point; the blocks'
    heaps are merged at the end. Memory is ``n_blocks * n_test * k``, never n_train x n_test.
    Writes ``(k, n_test)`` outputs; ties go to the smaller row index.
    """
    n_rows = train_leaf_ids.shape[0]
    n_test = test_table.shape[2]
    per_block = (n_rows + n_blocks - 1) // n_blocks
    best_values = np.empty((n_blocks, n_test, k))
    best_index = np.empty((n_blocks, n_test, k), dtype=np.int64)
    worst_values = np.empty((n_blocks, n_test, k))
    worst_index = np.empty((n_blocks, n_test, k), dtype=np.int64)
    sizes = np.zeros((n_blocks, 2), dtype=np.int64)
    for b in prange(n_blocks):
        sums = np.empty((_ROW_TILE, n_test))
        n_best = np.int64(0)  # not a literal: the helpers compile once, not twice
        block_stop = min(n_rows, (b + 1) * per_block)
        for start in range(b * per_block, block_stop, _ROW_TILE):
            stop = min(block_stop, start + _ROW_TILE)
            sums[:] = 0.0
            _add_tile(train_leaf_ids, row_values, test_table, start, stop, sums, start)
            for i in range(start, stop):
                for e in range(n_test):
                    _heap_push(best_values[b, e], best_index[b, e], n_best, k,
                               sums[i - start, e], i)
                    _heap_push(worst_values[b, e], worst_index[b, e], n_best, k,
                               -sums[i - start, e], i)
                # every test point's heaps saw the same rows, so they all have one size
                n_best = min(n_best + 1, k)
        sizes[b, 0] = n_best
        sizes[b, 1] = n_best
    for e in prange(n_test):
        heap_values = np.empty(k)
        heap_index = np.empty(k, dtype=np.int64)
        size = np.int64(0)
        for b in range(n_blocks):
            for a in range(sizes[b, 0]):
                size = _heap_push(heap_values, heap_index, size, k, best_values[b, e, a],
                                  best_index[b, e, a])
        _sort_best_first(heap_values, heap_index, size)
        for a in range(k):
            helpful_index[a, e] = heap_index[a]
            helpful_values[a, e] = heap_values[a]
        size = np.int64(0)
        for b in range(n_blocks):
            for a in range(sizes[b, 1]):
                size = _heap_push(heap_values, heap_index, size, k, worst_values[b, e, a],
                                  worst_index[b, e, a])
        _sort_best_first(heap_values, heap_index, size)
        for a in range(k):
            harmful_index[a, e] = heap_index[a]
            harmful_values[a, e] = -heap_values[a]


@njit(cache=True, parallel=True)
def top_k_rows(values, k, helpful_index, helpful_values, harmful_index, harmful_values):
    """Top-k largest and smallest entries of each row of ``values`` (n_test, n_train), written
    to the columns of the (k, n_test) outputs; ties go to the smaller column index."""
    n_rows, n_cols = values.shape
    for e in prange(n_rows):
        heap_values = np.empty(k)
        heap_index = np.empty(k, dtype=np.int64)
        size = np.int64(0)
        for i in range(n_cols):
            size = _heap_push(heap_values, heap_index, size, k, values[e, i], i)
        _sort_best_first(heap_values, heap_index, size)
        for a in range(k):
            helpful_index[a, e] = heap_index[a]
            helpful_values[a, e] = heap_values[a]
        size = np.int64(0)
        for i in range(n_cols):
            size = _heap_push(heap_values, heap_index, size, k, -values[e, i], i)
        _sort_best_first(heap_values, heap_index, size)
        for a in range(k):
            harmful_index[a, e] = heap_index[a]
            harmful_values[a, e] = -heap_values[a]




@njit(cache=True, inline="always")
def _row_scores(leaf_ids, i, leaf_table, bias, score, own_value):
    """``score[t, k]``: row ``i``'s raw score before round ``t`` (bias plus the leaf values of
    the earlier rounds, summed in round order); ``own_value[t, k]`` its leaf value in round t."""
    n_rounds, n_outputs = score.shape
    for k in range(n_outputs):
        total = bias[k]
        for t in range(n_rounds):
            j = t * n_outputs + k
            value = leaf_table[j, leaf_ids[i, j]]
            own_value[t, k] = value
            score[t, k] = total
            total += value


@njit(cache=True, parallel=True)
def round_derivatives(leaf_ids, leaf_table, bias, targets, objective, hessian_factor,
                      own_value, gradient, hessian):
    """Walk every row through the rounds: loss derivatives at the raw score before each tree.

    For row ``i`` and tree ``j = t * C + k``: ``own_value[i, j]`` is the tree's leaf value for
    the row, and ``gradient`` / ``hessian`` hold dL/dF_k and d2L/dF_k^2 at
    ``F_{t-1} = bias + sum_{s < t} leaf values`` (summed in round order). The formulas are
    those of :mod:`boostkit.losses` (squared error, logistic, softmax with the library's
    hessian factor); ``hessian`` may be a (0, 0) array to skip it.
    """
    n_rows, n_trees = leaf_ids.shape
    n_outputs = bias.shape[0]
    n_rounds = n_trees // n_outputs
    with_hessian = hessian.shape[0] > 0
    for i in prange(n_rows):
        score = np.empty((n_rounds, n_outputs))
        own = np.empty((n_rounds, n_outputs))
        g = np.empty((n_rounds, n_outputs))
        h = np.empty((n_rounds, n_outputs))
        _row_scores(leaf_ids, i, leaf_table, bias, score, own)
        score_derivatives(score, targets[i], objective, hessian_factor, g, h)
        for t in range(n_rounds):
            for k in range(n_outputs):
                j = t * n_outputs + k
                own_value[i, j] = own[t, k]
                gradient[i, j] = g[t, k]
                if with_hessian:
                    hessian[i, j] = h[t, k]


@njit(cache=True, parallel=True)
def leaf_hessian_sums(leaf_ids, leaf_table, bias, targets, sample_weight, objective,
                      hessian_factor, n_blocks, out, gradients):
    """``out[j, l] = sum_{rows i in leaf l of tree j} w_i h_ij``, h at the score before tree j.

    ``gradients[i, j]`` receives the unweighted ``g_ij`` on the way, so that
    :func:`boostin_rows` needs no second walk through the rounds. A row's scores before every
    round come first, then their derivatives in one call (vectorised over the rounds: twice as
    fast as round by round). Rows are split into ``n_blocks`` fixed blocks summed separately,
    then added in block order, so the result does not depend on the number of threads.
    """
    n_rows, n_trees = leaf_ids.shape
    n_outputs = bias.shape[0]
    n_rounds = n_trees // n_outputs
    partial = np.zeros((n_blocks, n_trees, out.shape[1]))
    per_block = (n_rows + n_blocks - 1) // n_blocks
    for b in prange(n_blocks):
        score = np.empty((n_rounds, n_outputs))
        own = np.empty((n_rounds, n_outputs))
        h = np.empty((n_rounds, n_outputs))
        flat_h = h.ravel()
        block_sums = partial[b]
        for i in range(b * per_block, min(n_rows, (b + 1) * per_block)):
            _row_scores(leaf_ids, i, leaf_table, bias, score, own)
            score_derivatives(score, targets[i], objective, hessian_factor,
                              gradients[i].reshape((n_rounds, n_outputs)), h)
            w = sample_weight[i]
            for j in range(n_trees):  # tree j = t * C + k is flat entry j of (t, k)
                block_sums[j, leaf_ids[i, j]] += w * flat_h[j]
    # explicit loops: an array expression here would become one more parallel region per block
    for j in range(n_trees):
        for leaf in range(out.shape[1]):
            total = 0.0
            for b in range(n_blocks):
                total += partial[b, j, leaf]
            out[j, leaf] = total


@njit(cache=True, parallel=True)
def boostin_rows(leaf_ids, leaf_table, targets, sample_weight, hessian_sums, learning_rate, l2,
                 exact, objective, hessian_factor, derivatives, self_influence):
    """BoostIn's leaf derivatives and self influence from the gradients of every round.

    On entry ``derivatives[i, j]`` holds ``g_ij`` (as :func:`leaf_hessian_sums` leaves it); on
    exit it holds ``D_ij = eta * (w g + v w h) / (H + l2)`` (0 where ``H + l2 == 0``; ``v / eta``
    instead of ``v`` with ``exact``). The hessian follows from the gradient without a second
    walk: ``p = g + y`` for the logistic and softmax losses (``h = c p (1 - p)``), ``h = 1`` for
    squared error. ``self_influence[i, k] = sum_t D[i, t, k] * g[i, t, k]`` (unweighted ``g``).
    """
    n_rows, n_trees = leaf_ids.shape
    n_outputs = self_influence.shape[1]
    n_rounds = n_trees // n_outputs
    # h = scale * p (1 - p) with p = g + y; squared error: h = 1 (scale 0, offset 1)
    scale = 0.0 if objective == SQUARED_ERROR else (
        hessian_factor if objective == SOFTMAX else 1.0)
    offset = 1.0 if objective == SQUARED_ERROR else 0.0
    value_scale = 1.0 / learning_rate if exact else 1.0
    for i in prange(n_rows):
        w = sample_weight[i]
        for k in range(n_outputs):
            y = targets[i, k]
            total = 0.0
            for t in range(n_rounds):
                j = t * n_outputs + k
                g = derivatives[i, j]
                p = g + y
                h = p * (1.0 - p) * scale + offset
                leaf = leaf_ids[i, j]
                denominator = hessian_sums[j, leaf] + l2
                d = 0.0
                if denominator != 0.0:
                    used = leaf_table[j, leaf] * value_scale
                    d = learning_rate * (w * g + used * (w * h)) / denominator
                derivatives[i, j] = d
                total += d * g
            self_influence[i, k] = total
