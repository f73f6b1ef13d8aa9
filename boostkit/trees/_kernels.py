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
# general one.
KIND_NAN_LEFT = 0   # numerical, NaN goes left
KIND_NAN_RIGHT = 1  # numerical, NaN goes right
KIND_OTHER = 2      # numerical with another missing mode, or categorical


def routing_arrays(left, right, missing_left, missing_mode, cat_index):
    """(children, kind): the node arrays in the form the kernels walk them."""
    kind = np.full(left.shape[0], KIND_OTHER, dtype=np.int8)
    plain = (cat_index < 0) & (missing_mode == 0)
    kind[plain & missing_left] = KIND_NAN_LEFT
    kind[plain & ~missing_left] = KIND_NAN_RIGHT
    children = np.ascontiguousarray(np.stack([left, right], axis=1), dtype=np.int32)
    return children, kind


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
def _leaf_node(X, row, node, feature, threshold, children, kind, missing_left, missing_mode,
               cat_index, cat_bitsets):
    """Leaf node reached by ``X[row]`` from ``node``."""
    while True:
        f = feature[node]
        if f < 0:
            return node
        x = X[row, f]
        k = kind[node]
        if k == KIND_OTHER:
            node = _general_step(x, node, threshold, children, missing_left, missing_mode,
                                 cat_index, cat_bitsets)
        else:
            # "not (x <= t)" is True for NaN: NaN goes right unless the node sends it left.
            # Integer arithmetic instead of branches: the direction is unpredictable.
            go_right = np.int64(not (x <= threshold[node])) & ~(
                np.int64(k == KIND_NAN_LEFT) & np.int64(x != x))
            node = children[node, go_right]


_BLOCK = 64  # rows routed through one tree before moving to the next: the tree stays in cache


@njit(cache=True, parallel=True)
def apply_kernel(X, tree_roots, feature, threshold, children, kind, missing_left, missing_mode,
                 cat_index, cat_bitsets, leaf_index, out):
    """Leaf id (within its tree) of every row in every tree: ``out[row, tree]``."""
    n_rows = X.shape[0]
    for b in prange((n_rows + _BLOCK - 1) // _BLOCK):
        for j in range(tree_roots.shape[0]):
            root = tree_roots[j]
            for row in range(b * _BLOCK, min((b + 1) * _BLOCK, n_rows)):
                node = _leaf_node(X, row, root, feature, threshold, children, kind,
                                  missing_left, missing_mode, cat_index, cat_bitsets)
                out[row, j] = leaf_index[node]


@njit(cache=True, parallel=True)
def predict_kernel(X, tree_roots, tree_output, feature, threshold, children, kind, missing_left,
                   missing_mode, cat_index, cat_bitsets, value, out):
    """Add every tree's leaf value to ``out[row, tree_output[tree]]``."""
    n_rows = X.shape[0]
    for b in prange((n_rows + _BLOCK - 1) // _BLOCK):
        for j in range(tree_roots.shape[0]):
            root = tree_roots[j]
            k = tree_output[j]
            for row in range(b * _BLOCK, min((b + 1) * _BLOCK, n_rows)):
                node = _leaf_node(X, row, root, feature, threshold, children, kind,
                                  missing_left, missing_mode, cat_index, cat_bitsets)
                out[row, k] += value[node]
