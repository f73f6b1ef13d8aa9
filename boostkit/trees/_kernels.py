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


@njit(cache=True, inline="always")
def _leaf_node(X, row, node, feature, threshold, left, right, missing_left, missing_mode,
               cat_index, cat_bitsets):
    n_bits = cat_bitsets.shape[1] * 32
    while feature[node] >= 0:
        x = X[row, feature[node]]
        c = cat_index[node]
        if c >= 0:
            if np.isnan(x):
                go_left = missing_left[node]
            else:
                code = int(x)  # truncates toward zero, as the libraries do
                if code < 0 or code >= n_bits:
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
        node = left[node] if go_left else right[node]
    return node


@njit(cache=True, parallel=True)
def apply_kernel(X, tree_roots, feature, threshold, left, right, missing_left, missing_mode,
                 cat_index, cat_bitsets, leaf_index, out):
    """Leaf id (within its tree) of every row in every tree: ``out[row, tree]``."""
    n_rows = X.shape[0]
    n_trees = tree_roots.shape[0]
    for row in prange(n_rows):
        for j in range(n_trees):
            node = _leaf_node(X, row, tree_roots[j], feature, threshold, left, right,
                              missing_left, missing_mode, cat_index, cat_bitsets)
            out[row, j] = leaf_index[node]


@njit(cache=True, parallel=True)
def predict_kernel(X, tree_roots, tree_output, feature, threshold, left, right, missing_left,
                   missing_mode, cat_index, cat_bitsets, value, out):
    """Add every tree's leaf value to ``out[row, tree_output[tree]]``."""
    n_rows = X.shape[0]
    n_trees = tree_roots.shape[0]
    for row in prange(n_rows):
        for j in range(n_trees):
            node = _leaf_node(X, row, tree_roots[j], feature, threshold, left, right,
                              missing_left, missing_mode, cat_index, cat_bitsets)
            out[row, tree_output[j]] += value[node]
