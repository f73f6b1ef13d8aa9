"""numba kernels that grow ONE tree on per-row gradient vectors with histograms.

Everything a tree step needs runs in a single compiled call (:func:`grow_tree`), so the Python
overhead per tree is a few microseconds even for 64-row batches:

1. candidate thresholds per feature from the batch (quantile or uniform), rows mapped to bins;
2. per node, a histogram of (count, sum of scoring gradients) per (feature, bin), built in one pass
   over the node's rows -- split search then scans bins instead of rows;
3. greedy growth (best split per node) or oblivious growth (one split per level, scored summed over
   the level's nodes);
4. leaf values = mean raw gradient of the leaf's rows (an empty oblivious leaf inherits its
   parent's mean).

Split scores (``S`` = sum of scoring gradients, ``n`` = count, per child):
``L2``: ``|S_L|^2 / n_L + |S_R|^2 / n_R`` (= n_L |mu_L|^2 + n_R |mu_R|^2) on per-column standardised
gradients. ``cosine``: the cosine similarity between the gradients and the split's piecewise-mean
fit, ``sum_i g_i . v_i / (|G| |V|)``; with v = child means the numerator equals ``|V|^2`` so the
score of a node is ``sqrt(n_L |mu_L|^2 + n_R |mu_R|^2)`` on raw gradients (as in the authors'
library, not divided by ``|G|``). A greedy node ranks splits like the unstandardised L2 score;
an oblivious level sums the node scores, so for cosine it sums square roots.

Tree encoding (returned arrays). Greedy: internal nodes ``0..n_nodes-1`` in creation order with
``feature``, ``threshold``, ``is_cat``, ``left``, ``right``; a child ``c >= 0`` is an internal node,
``c < 0`` is leaf ``-c - 1``. Oblivious: entry ``l`` of ``feature``/``threshold``/``is_cat`` is the
split of level ``l``; the leaf of a row is the binary number of its right turns, most significant
first. A row goes left when ``x <= threshold`` (numerical) or ``x == threshold`` (categorical).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

SCORE_L2 = 0
SCORE_COSINE = 1


@njit(cache=True)
def _quantile_edges(sorted_col, n_bins, edges):
    """Cut points between distinct values, about n / n_bins rows per bin; returns the count."""
    n = sorted_col.shape[0]
    n_distinct = 1
    for i in range(1, n):
        if sorted_col[i] != sorted_col[i - 1]:
            n_distinct += 1
    n_edges = 0
    if n_distinct <= n_bins:
        for i in range(1, n):
            if sorted_col[i] != sorted_col[i - 1]:
                edges[n_edges] = 0.5 * (sorted_col[i - 1] + sorted_col[i])
                n_edges += 1
        return n_edges
    target = n / n_bins
    in_bin = 0
    for i in range(1, n):
        in_bin += 1
        if sorted_col[i] != sorted_col[i - 1] and in_bin >= target and n_edges < n_bins - 1:
            edges[n_edges] = 0.5 * (sorted_col[i - 1] + sorted_col[i])
            n_edges += 1
            in_bin = 0
    return n_edges


@njit(cache=True)
def _uniform_edges(sorted_col, n_bins, edges):
    lo = sorted_col[0]
    hi = sorted_col[sorted_col.shape[0] - 1]
    if hi <= lo:
        return 0
    width = (hi - lo) / n_bins
    for j in range(n_bins - 1):
        edges[j] = lo + width * (j + 1)
    return n_bins - 1


@njit(cache=True)
def _category_values(sorted_col, n_bins, values):
    """Distinct categories (at most n_bins - 1; later ones share the 'other' bin)."""
    n = sorted_col.shape[0]
    n_values = 1
    values[0] = sorted_col[0]
    for i in range(1, n):
        if sorted_col[i] != sorted_col[i - 1] and n_values < n_bins - 1:
            values[n_values] = sorted_col[i]
            n_values += 1
    return n_values


@njit(cache=True)
def _count_le(edges, n_edges, x):
    """Number of edges strictly below x (binary search): the bin of x."""
    lo = 0
    hi = n_edges
    while lo < hi:
        mid = (lo + hi) >> 1
        if edges[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def bin_batch(X, is_cat, n_bins, uniform, cuts, n_cuts, binned):
    """Candidate thresholds of every feature from the batch and the bin of every row.

    ``cuts[f, :n_cuts[f]]`` are the numerical thresholds (bin ``b`` holds ``cuts[b-1] < x <=
    cuts[b]``) or, for a categorical feature, its category values (bin ``b`` holds ``x ==
    cuts[b]``; bin ``n_cuts[f]`` holds any other category). ``binned`` is feature-major (d, n).
    """
    n, d = X.shape
    for f in range(d):
        col = X[:, f].copy()
        sorted_col = np.sort(col)
        if is_cat[f]:
            m = _category_values(sorted_col, n_bins, cuts[f])
            n_cuts[f] = m
            for i in range(n):
                b = _count_le(cuts[f], m, col[i])
                if b < m and cuts[f, b] == col[i]:
                    binned[f, i] = b
                else:
                    binned[f, i] = m
        else:
            if uniform:
                m = _uniform_edges(sorted_col, n_bins, cuts[f])
            else:
                m = _quantile_edges(sorted_col, n_bins, cuts[f])
            n_cuts[f] = m
            for i in range(n):
                binned[f, i] = _count_le(cuts[f], m, col[i])


@njit(cache=True)
def _node_histogram(binned, Gs, rows, start, end, n_bins_used, hist):
    """hist[f, b, 0] = count, hist[f, b, 1 + k] = sum of scoring gradient k, over the node's rows."""
    d = binned.shape[0]
    n_out = Gs.shape[1]
    for f in range(d):
        for b in range(n_bins_used):
            for c in range(n_out + 1):
                hist[f, b, c] = 0.0
        for p in range(start, end):
            i = rows[p]
            b = binned[f, i]
            hist[f, b, 0] += 1.0
            for k in range(n_out):
                hist[f, b, 1 + k] += Gs[i, k]


@njit(cache=True)
def _split_scores(hist, n_cuts, is_cat, min_samples_leaf, scores, valid):
    """Per (feature, cut) score of one node: |S_L|^2/n_L + |S_R|^2/n_R; valid if it splits.

    ``valid[f, b]`` is 1 when both children are non-empty and satisfy ``min_samples_leaf``,
    2 when the split leaves one child empty (allowed for oblivious levels), 0 when a non-empty
    child is smaller than ``min_samples_leaf``.
    """
    d = hist.shape[0]
    n_out = hist.shape[2] - 1
    left = np.empty(n_out)
    total = np.zeros(n_out)
    for f in range(d):
        m = n_cuts[f]
        n_total = 0.0
        for k in range(n_out):
            total[k] = 0.0
        n_bins_f = m + 1
        for b in range(n_bins_f):
            n_total += hist[f, b, 0]
            for k in range(n_out):
                total[k] += hist[f, b, 1 + k]
        n_left = 0.0
        for k in range(n_out):
            left[k] = 0.0
        for b in range(m):
            if is_cat[f]:
                n_left = hist[f, b, 0]
                for k in range(n_out):
                    left[k] = hist[f, b, 1 + k]
            else:
                n_left += hist[f, b, 0]
                for k in range(n_out):
                    left[k] += hist[f, b, 1 + k]
            n_right = n_total - n_left
            s = 0.0
            if n_left > 0.0:
                sl = 0.0
                for k in range(n_out):
                    sl += left[k] * left[k]
                s += sl / n_left
            if n_right > 0.0:
                sr = 0.0
                for k in range(n_out):
                    r = total[k] - left[k]
                    sr += r * r
                s += sr / n_right
            scores[f, b] = s
            if n_left > 0.0 and n_right > 0.0:
                if n_left >= min_samples_leaf and n_right >= min_samples_leaf:
                    valid[f, b] = 1
                else:
                    valid[f, b] = 0
            elif n_total == 0.0:
                valid[f, b] = 2
            elif n_left > 0.0 and n_left >= min_samples_leaf:
                valid[f, b] = 2
            elif n_right > 0.0 and n_right >= min_samples_leaf:
                valid[f, b] = 2
            else:
                valid[f, b] = 0


@njit(cache=True)
def _partition(binned, rows, start, end, feature, cut, is_cat, scratch):
    """Stable in-place partition of rows[start:end] into (left, right); returns the split point."""
    n_left = 0
    n_right = 0
    for p in range(start, end):
        i = rows[p]
        b = binned[feature, i]
        go_left = (b == cut) if is_cat else (b <= cut)
        if go_left:
            rows[start + n_left] = i
            n_left += 1
        else:
            scratch[n_right] = i
            n_right += 1
    for q in range(n_right):
        rows[start + n_left + q] = scratch[q]
    return start + n_left


@njit(cache=True)
def _mean_rows(G, rows, start, end, out):
    n_out = G.shape[1]
    for k in range(n_out):
        out[k] = 0.0
    for p in range(start, end):
        i = rows[p]
        for k in range(n_out):
            out[k] += G[i, k]
    cnt = end - start
    if cnt > 0:
        for k in range(n_out):
            out[k] /= cnt


@njit(cache=True)
def grow_tree(X, G, Gs, is_cat, n_bins, uniform, max_depth, oblivious, min_samples_leaf,
              score_kind):
    """Grow one tree on gradients ``G`` (n, k) with split search on scoring gradients ``Gs``.

    Returns ``(feature, threshold, is_cat, left, right, n_nodes, leaf_values, n_leaves,
    leaf_of_row)``; see the module docstring for the encoding. ``leaf_of_row[i]`` is the leaf of
    training row ``i`` (lets callers update cached predictions without a traversal).
    """
    n, d = X.shape
    n_out = G.shape[1]
    cuts = np.empty((d, n_bins))
    n_cuts = np.zeros(d, dtype=np.int64)
    binned = np.empty((d, n), dtype=np.uint8)
    bin_batch(X, is_cat, n_bins, uniform, cuts, n_cuts, binned)
    n_bins_used = np.int64(1)  # not a literal: one compiled helper, not two
    for f in range(d):
        if n_cuts[f] + 1 > n_bins_used:
            n_bins_used = n_cuts[f] + 1

    max_nodes = (1 << max_depth) - 1 if max_depth > 0 else 0
    max_leaves = 1 << max_depth
    feature = np.zeros(max(max_nodes, 1), dtype=np.int32)
    threshold = np.zeros(max(max_nodes, 1))
    node_is_cat = np.zeros(max(max_nodes, 1), dtype=np.uint8)
    left = np.zeros(max(max_nodes, 1), dtype=np.int32)
    right = np.zeros(max(max_nodes, 1), dtype=np.int32)
    leaf_values = np.zeros((max_leaves, n_out))
    leaf_of_row = np.zeros(n, dtype=np.int32)

    rows = np.arange(n).astype(np.int32)
    scratch = np.empty(n, dtype=np.int32)
    hist = np.empty((d, n_bins_used, n_out + 1))
    scores = np.zeros((d, n_bins_used))
    valid = np.zeros((d, n_bins_used), dtype=np.int8)

    if oblivious:
        # Current level: node j holds rows[starts[j]:starts[j + 1]]; values[j] its mean.
        starts = np.zeros(max_leaves + 1, dtype=np.int64)
        starts[1] = n
        n_level = 1
        values = np.zeros((max_leaves, n_out))
        _mean_rows(G, rows, np.int64(0), n, values[0])
        level_scores = np.zeros((d, n_bins_used))
        level_valid = np.zeros((d, n_bins_used), dtype=np.int8)
        depth = 0
        while depth < max_depth:
            for f in range(d):
                for b in range(n_bins_used):
                    level_scores[f, b] = 0.0
                    level_valid[f, b] = 2
            for j in range(n_level):
                _node_histogram(binned, Gs, rows, starts[j], starts[j + 1], n_bins_used, hist)
                _split_scores(hist, n_cuts, is_cat, min_samples_leaf, scores, valid)
                for f in range(d):
                    for b in range(n_cuts[f]):
                        if score_kind == SCORE_COSINE:
                            level_scores[f, b] += np.sqrt(scores[f, b])
                        else:
                            level_scores[f, b] += scores[f, b]
                        if valid[f, b] == 0:
                            level_valid[f, b] = 0
                        elif valid[f, b] == 1 and level_valid[f, b] == 2:
                            level_valid[f, b] = 1
            best_f = np.int64(-1)
            best_b = np.int64(-1)
            best = -np.inf
            for f in range(d):
                for b in range(n_cuts[f]):
                    if level_valid[f, b] == 1 and level_scores[f, b] > best:
                        best = level_scores[f, b]
                        best_f = f
                        best_b = b
            if best_f < 0:
                break
            cat = is_cat[best_f]
            feature[depth] = best_f
            threshold[depth] = cuts[best_f, best_b]
            node_is_cat[depth] = 1 if cat else 0
            new_starts = np.zeros(max_leaves + 1, dtype=np.int64)
            new_values = np.zeros((max_leaves, n_out))
            for j in range(n_level):
                s0 = starts[j]
                s1 = starts[j + 1]
                mid = _partition(binned, rows, s0, s1, best_f, best_b, cat, scratch)
                new_starts[2 * j] = s0
                new_starts[2 * j + 1] = mid
                new_starts[2 * j + 2] = s1
                for c in range(2):
                    a = s0 if c == 0 else mid
                    z = mid if c == 0 else s1
                    if z > a:
                        _mean_rows(G, rows, a, z, new_values[2 * j + c])
                    else:
                        for k in range(n_out):
                            new_values[2 * j + c, k] = values[j, k]
            n_level *= 2
            starts = new_starts
            values = new_values
            depth += 1
        for j in range(n_level):
            for k in range(n_out):
                leaf_values[j, k] = values[j, k]
            for p in range(starts[j], starts[j + 1]):
                leaf_of_row[rows[p]] = j
        return (feature, threshold, node_is_cat, left, right, depth, leaf_values, n_level,
                leaf_of_row)

    # Greedy: FIFO of pending nodes (start, end, depth, parent, side).
    q_start = np.empty(2 * max_leaves, dtype=np.int64)
    q_end = np.empty(2 * max_leaves, dtype=np.int64)
    q_depth = np.empty(2 * max_leaves, dtype=np.int64)
    q_parent = np.empty(2 * max_leaves, dtype=np.int64)
    q_side = np.empty(2 * max_leaves, dtype=np.int64)
    head = 0
    tail = 1
    q_start[0] = 0
    q_end[0] = n
    q_depth[0] = 0
    q_parent[0] = -1
    q_side[0] = 0
    n_nodes = 0
    n_leaves = 0
    while head < tail:
        s0 = q_start[head]
        s1 = q_end[head]
        dep = q_depth[head]
        parent = q_parent[head]
        side = q_side[head]
        head += 1
        best_f = np.int64(-1)
        best_b = np.int64(-1)
        if dep < max_depth and s1 - s0 >= 2:
            _node_histogram(binned, Gs, rows, s0, s1, n_bins_used, hist)
            _split_scores(hist, n_cuts, is_cat, min_samples_leaf, scores, valid)
            best = -np.inf
            for f in range(d):
                for b in range(n_cuts[f]):
                    if valid[f, b] == 1 and scores[f, b] > best:
                        best = scores[f, b]
                        best_f = f
                        best_b = b
        if best_f >= 0:
            node = n_nodes
            n_nodes += 1
            cat = is_cat[best_f]
            feature[node] = best_f
            threshold[node] = cuts[best_f, best_b]
            node_is_cat[node] = 1 if cat else 0
            child_ref = node
            mid = _partition(binned, rows, s0, s1, best_f, best_b, cat, scratch)
            q_start[tail] = s0
            q_end[tail] = mid
            q_depth[tail] = dep + 1
            q_parent[tail] = node
            q_side[tail] = 0
            tail += 1
            q_start[tail] = mid
            q_end[tail] = s1
            q_depth[tail] = dep + 1
            q_parent[tail] = node
            q_side[tail] = 1
            tail += 1
        else:
            leaf = n_leaves
            n_leaves += 1
            _mean_rows(G, rows, s0, s1, leaf_values[leaf])
            for p in range(s0, s1):
                leaf_of_row[rows[p]] = leaf
            child_ref = -leaf - 1
        if parent >= 0:
            if side == 0:
                left[parent] = child_ref
            else:
                right[parent] = child_ref
    return (feature, threshold, node_is_cat, left, right, n_nodes, leaf_values, n_leaves,
            leaf_of_row)


@njit(cache=True)
def _predict_greedy_rows(XT, feature, threshold, is_cat, left, right, node_start, leaf_start,
                         n_nodes, leaf_values, t0, t1, r0, r1, out):
    # Tree-major: one tree's nodes stay in cache while its rows stream past.
    n_out = leaf_values.shape[1]
    node = np.empty(r1 - r0, dtype=np.int64)
    for t in range(t0, t1):
        base = node_start[t]
        lbase = leaf_start[t]
        if n_nodes[t] == 0:
            for i in range(r0, r1):
                for k in range(n_out):
                    out[i, k] += leaf_values[lbase, k]
            continue
        # Level-synchronous: every row advances one level per pass (leaves are < 0 and stay).
        for i in range(r0, r1):
            node[i - r0] = 0
        active = r1 - r0
        while active > 0:
            active = 0
            for j in range(r1 - r0):
                c = node[j]
                if c >= 0:
                    g = base + c
                    x = XT[feature[g], r0 + j]
                    if is_cat[g]:
                        c = left[g] if x == threshold[g] else right[g]
                    else:
                        c = left[g] if x <= threshold[g] else right[g]
                    node[j] = c
                    active += c >= 0
        for j in range(r1 - r0):
            row = lbase - node[j] - 1
            for k in range(n_out):
                out[r0 + j, k] += leaf_values[row, k]


@njit(cache=True)
def _predict_oblivious_rows(XT, feature, threshold, is_cat, node_start, leaf_start, depth,
                            leaf_values, t0, t1, r0, r1, out):
    # Tree-major and level-major: each level is one branch-free, vectorisable pass over rows.
    n_out = leaf_values.shape[1]
    m = r1 - r0
    idx = np.empty(m, dtype=np.int64)
    for t in range(t0, t1):
        base = node_start[t]
        for j in range(m):
            idx[j] = leaf_start[t]
        for lv in range(depth[t]):
            g = base + lv
            f = feature[g]
            thr = threshold[g]
            if is_cat[g]:
                for j in range(m):
                    idx[j] = 2 * idx[j] - leaf_start[t] + (XT[f, r0 + j] != thr)
            else:
                for j in range(m):
                    idx[j] = 2 * idx[j] - leaf_start[t] + (XT[f, r0 + j] > thr)
        for j in range(m):
            row = idx[j]
            for k in range(n_out):
                out[r0 + j, k] += leaf_values[row, k]


_ROW_CHUNK = 256


@njit(cache=True, parallel=True)
def predict_greedy(XT, feature, threshold, is_cat, left, right, node_start, leaf_start,
                   n_nodes, leaf_values, t0, t1, out):
    """out[i] += sum over trees t0..t1-1 of the leaf value row i reaches (greedy encoding).

    ``XT`` is the batch transposed, (n_features, n_rows), C-contiguous.

    Rows are processed in parallel chunks; ``n_nodes[t] == 0`` marks a single-leaf tree.
    """
    n = XT.shape[1]
    n_chunks = (n + _ROW_CHUNK - 1) // _ROW_CHUNK
    for c in prange(n_chunks):
        r0 = c * _ROW_CHUNK
        r1 = min(n, r0 + _ROW_CHUNK)
        _predict_greedy_rows(XT, feature, threshold, is_cat, left, right, node_start,
                             leaf_start, n_nodes, leaf_values, t0, t1, r0, r1, out)


@njit(cache=True, parallel=True)
def predict_oblivious(XT, feature, threshold, is_cat, node_start, leaf_start, depth,
                      leaf_values, t0, t1, out):
    """out[i] += sum over trees t0..t1-1 of the leaf value row i reaches (oblivious encoding)."""
    n = XT.shape[1]
    n_chunks = (n + _ROW_CHUNK - 1) // _ROW_CHUNK
    for c in prange(n_chunks):
        r0 = c * _ROW_CHUNK
        r1 = min(n, r0 + _ROW_CHUNK)
        _predict_oblivious_rows(XT, feature, threshold, is_cat, node_start, leaf_start, depth,
                                leaf_values, t0, t1, r0, r1, out)


@njit(cache=True)
def predict_greedy_serial(XT, feature, threshold, is_cat, left, right, node_start, leaf_start,
                          n_nodes, leaf_values, t0, t1, out):
    """Single-threaded :func:`predict_greedy` (small batches: no thread start-up cost)."""
    _predict_greedy_rows(XT, feature, threshold, is_cat, left, right, node_start, leaf_start,
                         n_nodes, leaf_values, t0, t1, np.int64(0), XT.shape[1], out)


@njit(cache=True)
def predict_oblivious_serial(XT, feature, threshold, is_cat, node_start, leaf_start, depth,
                             leaf_values, t0, t1, out):
    """Single-threaded :func:`predict_oblivious`."""
    _predict_oblivious_rows(XT, feature, threshold, is_cat, node_start, leaf_start, depth,
                            leaf_values, t0, t1, np.int64(0), XT.shape[1], out)
