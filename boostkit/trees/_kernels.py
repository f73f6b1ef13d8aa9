"""numba kernels: route rows through the flat node arrays of a :class:`TreeEnsemble`.

Tree traversal lives here and nowhere else. Every kernel takes plain arrays, never raises for user
errors (the ensemble validates its input first), never writes into its inputs and runs in
parallel over rows.

Routing rule at an internal node (``feature >= 0``), for the value ``x = X[row, feature]``:

- numerical node (``cat_index < 0``):
  ``missing_mode == 0``: NaN goes to the default side (``missing_left``);
  ``missing_mode == 1``: NaN is read as 0.0, then compared;
  ``missing_mode == 2``: NaN and zero (``|x| <= 1e-35``) go to the default side;
  otherwise ``x <= threshold`` goes left.
- categorical node (``cat_index >= 0``): NaN goes to the default side; code ``int(x)`` goes left
  when its bit is set in ``cat_bitsets[cat_index]``, right when not; negative codes and codes
  beyond the bitset go to the default side, or (``missing_mode == 3``, XGBoost) right like any
  code not in the set.
"""

import numpy as np
from numba import njit, prange

_ZERO_THRESHOLD = 1e-35


# Node kinds: the common numerical cases take a short, branch-free path; the rest the general
# one. NaN-as-zero is LightGBM's missing type None, what it uses for every feature that had no
# missing value in training, so it is the most common kind of all.
KIND_NAN_LEFT = 0   # numerical, NaN goes left
KIND_NAN_RIGHT = 1  # numerical, NaN goes right
KIND_OTHER = 2      # numerical with missing mode 2, or categorical
KIND_NAN_ZERO = 3   # numerical, NaN is read as 0.0 (missing mode 1)


def routing_arrays(feature, left, right, missing_left, missing_mode, cat_index):
    """(split_feature, children, kind): the node arrays in the form the kernels walk them.

    Leaves point to themselves (both children) and read column 0 through ``split_feature``, so
    a row that has reached its leaf can keep stepping, harmlessly, while the other rows of its
    group are still on their way down (see :func:`_walk_group`).
    """
    is_leaf = feature < 0
    kind = np.full(left.shape[0], KIND_OTHER, dtype=np.int8)
    numerical = cat_index < 0
    plain = numerical & (missing_mode == 0)
    kind[plain & missing_left] = KIND_NAN_LEFT
    kind[plain & ~missing_left] = KIND_NAN_RIGHT
    kind[numerical & (missing_mode == 1)] = KIND_NAN_ZERO
    kind[is_leaf] = KIND_NAN_RIGHT
    children = np.ascontiguousarray(np.stack([left, right], axis=1), dtype=np.int32)
    leaves = np.flatnonzero(is_leaf).astype(np.int32)
    children[leaves, 0] = leaves
    children[leaves, 1] = leaves
    split_feature = np.where(is_leaf, 0, feature).astype(np.int32)
    return split_feature, children, kind


@njit(cache=True, inline="always")
def _general_step(x, node, threshold, children, missing_left, missing_mode, cat_index,
                  cat_bitsets):
    """Next node from a categorical node or a numerical one with a special missing mode."""
    c = cat_index[node]
    if c >= 0:
        if np.isnan(x):
            go_left = missing_left[node]
        else:
            code = int(x)  # truncates toward zero, as the libraries do
            if code < 0 or code >= cat_bitsets.shape[1] * 32:
                go_left = missing_left[node] if missing_mode[node] != 3 else False
            else:
                go_left = (cat_bitsets[c, code >> 5] >> (code & 31)) & 1 == 1
    else:
        mode = missing_mode[node]
        if np.isnan(x):
            if mode == 1:
                go_left = 0.0 <= threshold[node]
            else:
                go_left = missing_left[node]
        elif mode == 2 and abs(x) <= _ZERO_THRESHOLD:
            go_left = missing_left[node]
        else:
            go_left = x <= threshold[node]
    return children[node, 0 if go_left else 1]


@njit(cache=True, inline="always")
def _step(x, node, threshold, children, kind, missing_left, missing_mode, cat_index,
          cat_bitsets, general):
    """One step down from ``node`` for the value ``x`` of its split feature.

    ``general`` is False when no node is of ``KIND_OTHER``: the compiler then drops that path
    from the loops (it costs 40% even when never taken).
    """
    k = kind[node]
    if general and k == KIND_OTHER:
        return _general_step(x, node, threshold, children, missing_left, missing_mode,
                             cat_index, cat_bitsets)
    if k == KIND_NAN_ZERO and x != x:  # rare, so a predictable branch
        x = 0.0
    # "not (x <= t)" is True for NaN: NaN goes right unless the node sends it left.
    # Integer arithmetic instead of branches: the direction is unpredictable.
    go_right = np.int64(not (x <= threshold[node])) & ~(
        np.int64(k == KIND_NAN_LEFT) & np.int64(x != x))
    return children[node, go_right]


# Rows routed through one tree side by side. A single row's walk is a chain of dependent loads
# ending in an unpredictable loop exit; four independent chains in one loop keep the core busy
# (10k rows x 100 LightGBM trees: 18 ms -> 10 ms), at the price of every row of the group
# taking as many steps as the deepest one. Eight or more lose again to the extra steps.
_GROUP = 4


@njit(cache=True, inline="always")
def _walk_group(X, start, stop, root, nodes, feature, split_feature, threshold, children, kind,
                missing_left, missing_mode, cat_index, cat_bitsets, general):
    """Leaf nodes of rows ``start .. stop - 1`` (at most ``_GROUP``) into ``nodes[:stop-start]``.

    Missing slots of a short group repeat the last row. Leaves loop onto themselves, so rows
    already at their leaf stay there while the others go on.
    """
    last = stop - 1
    for r in range(_GROUP):
        nodes[r] = root
    busy = feature[root] >= 0
    while busy:
        busy = False
        for r in range(_GROUP):
            row = min(start + r, last)
            node = nodes[r]
            node = _step(X[row, split_feature[node]], node, threshold, children, kind,
                         missing_left, missing_mode, cat_index, cat_bitsets, general)
            nodes[r] = node
            busy |= feature[node] >= 0


_BLOCK = 64  # rows routed through one tree before moving to the next: the tree stays in cache


@njit(cache=True, parallel=True)
def apply_kernel(X, tree_roots, feature, split_feature, threshold, children, kind, missing_left,
                 missing_mode, cat_index, cat_bitsets, general, leaf_index, out):
    """Leaf id (within its tree) of every row in every tree: ``out[row, tree]``."""
    n_rows = X.shape[0]
    for b in prange((n_rows + _BLOCK - 1) // _BLOCK):
        nodes = np.empty(_GROUP, dtype=np.int64)
        block_stop = min((b + 1) * _BLOCK, n_rows)
        for j in range(tree_roots.shape[0]):
            root = tree_roots[j]
            for start in range(b * _BLOCK, block_stop, _GROUP):
                stop = min(start + _GROUP, block_stop)
                _walk_group(X, start, stop, root, nodes, feature, split_feature, threshold,
                            children, kind, missing_left, missing_mode, cat_index, cat_bitsets,
                            general)
                for r in range(stop - start):
                    out[start + r, j] = leaf_index[nodes[r]]


@njit(cache=True, parallel=True)
def predict_kernel(X, tree_roots, tree_output, feature, split_feature, threshold, children, kind,
                   missing_left, missing_mode, cat_index, cat_bitsets, general, value, out):
    """Add every tree's leaf value to ``out[row, tree_output[tree]]``."""
    n_rows = X.shape[0]
    for b in prange((n_rows + _BLOCK - 1) // _BLOCK):
        nodes = np.empty(_GROUP, dtype=np.int64)
        block_stop = min((b + 1) * _BLOCK, n_rows)
        for j in range(tree_roots.shape[0]):
            root = tree_roots[j]
            k = tree_output[j]
            for start in range(b * _BLOCK, block_stop, _GROUP):
                stop = min(start + _GROUP, block_stop)
                _walk_group(X, start, stop, root, nodes, feature, split_feature, threshold,
                            children, kind, missing_left, missing_mode, cat_index, cat_bitsets,
                            general)
                for r in range(stop - start):
                    out[start + r, k] += value[nodes[r]]
