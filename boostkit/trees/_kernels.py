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


# Node kinds: the two plain numerical cases take a short, branch-free path; the rest the
# general one. Leaves are routed as plain nodes whose two children are the leaf itself, so a
# group of rows can be stepped in lockstep until none of them moves.
KIND_NAN_LEFT = 0   # numerical, NaN goes left (and every leaf)
KIND_NAN_RIGHT = 1  # numerical, NaN goes right
KIND_OTHER = 2      # numerical with another missing mode, or categorical


def routing_arrays(feature, left, right, missing_left, missing_mode, cat_index):
    """(route_feature, children, kind): the node arrays as the kernels walk them."""
    is_leaf = feature < 0
    nodes = np.arange(feature.shape[0])
    kind = np.full(feature.shape[0], KIND_OTHER, dtype=np.int8)
    plain = (cat_index < 0) & (missing_mode == 0)
    kind[plain & missing_left] = KIND_NAN_LEFT
    kind[plain & ~missing_left] = KIND_NAN_RIGHT
    kind[is_leaf] = KIND_NAN_LEFT
    children = np.stack([np.where(is_leaf, nodes, left), np.where(is_leaf, nodes, right)], axis=1)
    route_feature = np.where(is_leaf, 0, feature)
    return (np.ascontiguousarray(route_feature, dtype=np.int32),
            np.ascontiguousarray(children, dtype=np.int32), kind)


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


_GROUP = 8  # rows stepped in lockstep: their independent walks overlap in the CPU


@njit(cache=True, inline="always")
def _route_block(X, start, stop, root, route_feature, threshold, children, kind, missing_left,
                 missing_mode, cat_index, cat_bitsets, nodes):
    """Leaf node of rows start..stop-1 in the tree at ``root``, written to ``nodes``."""
    for g in range(start, stop, _GROUP):
        m = min(_GROUP, stop - g)
        for i in range(m):
            nodes[g - start + i] = root
        moved = True
        while moved:
            moved = False
            for i in range(m):
                node = nodes[g - start + i]
                x = X[g + i, route_feature[node]]
                k = kind[node]
                if k == KIND_OTHER:
                    nxt = _general_step(x, node, threshold, children, missing_left,
                                        missing_mode, cat_index, cat_bitsets)
                else:
                    # "not (x <= t)" is True for NaN: NaN goes right unless sent left.
                    go_right = np.int64(not (x <= threshold[node])) & ~(
                        np.int64(k == KIND_NAN_LEFT) & np.int64(x != x))
                    nxt = children[node, go_right]
                moved |= nxt != node
                nodes[g - start + i] = nxt


_BLOCK = 64  # rows routed through one tree before moving to the next: the tree stays in cache


@njit(cache=True, parallel=True)
def apply_kernel(X, tree_roots, route_feature, threshold, children, kind, missing_left,
                 missing_mode, cat_index, cat_bitsets, leaf_index, out):
    """Leaf id (within its tree) of every row in every tree: ``out[row, tree]``."""
    n_rows = X.shape[0]
    n_blocks = (n_rows + _BLOCK - 1) // _BLOCK
    for b in prange(n_blocks):
        start = b * _BLOCK
        stop = min(start + _BLOCK, n_rows)
        nodes = np.empty(_BLOCK, dtype=np.int64)
        for j in range(tree_roots.shape[0]):
            _route_block(X, start, stop, tree_roots[j], route_feature, threshold, children,
                         kind, missing_left, missing_mode, cat_index, cat_bitsets, nodes)
            for row in range(start, stop):
                out[row, j] = leaf_index[nodes[row - start]]


@njit(cache=True, parallel=True)
def predict_kernel(X, tree_roots, tree_output, route_feature, threshold, children, kind,
                   missing_left, missing_mode, cat_index, cat_bitsets, value, out):
    """Add every tree's leaf value to ``out[row, tree_output[tree]]``."""
    n_rows = X.shape[0]
    n_blocks = (n_rows + _BLOCK - 1) // _BLOCK
    for b in prange(n_blocks):
        start = b * _BLOCK
        stop = min(start + _BLOCK, n_rows)
        nodes = np.empty(_BLOCK, dtype=np.int64)
        for j in range(tree_roots.shape[0]):
            _route_block(X, start, stop, tree_roots[j], route_feature, threshold, children,
                         kind, missing_left, missing_mode, cat_index, cat_bitsets, nodes)
            k = tree_output[j]
            for row in range(start, stop):
                out[row, k] += value[nodes[row - start]]
