"""Feature and label bookkeeping shared by the multi-label learners.

Turns river's dictionaries into contiguous float vectors that grow as new features or labels
appear, validates the input, and keeps running feature statistics for standardization.
"""

import math
import numbers

import numpy as np

from . import _kernels

_ROW0 = np.zeros(1, dtype=np.int64)

# Keys from which the learn_one after a predict_one of the same dict reuses the prediction's
# conversion of its values (FeatureSpace._repeat_of): on fewer, checking that the dict is
# unchanged costs what converting it again does (measured on emotions' 72 keys: +2 us per call
# with the check; medical's 1,449 keys: -30 us).
REPEAT_MIN_KEYS = 256

# Largest scaled value of a sparse feature: a word in 1 instance of 4 or rarer scales to 2
# (measured on medical, enron, bibtex: 2 beats 4 and 8, which let rare noise words dominate).
SPARSE_CLIP = 2.0


def auto_representation(instances, n_features):
    """``sparse="auto"``'s choice from the first instances: "sparse" when their non-zero values
    (strings count as non-zero, missing values as zero) average at most a quarter of the
    ``n_features`` seen, and at least 64 features were seen; else "dense".

    MLHAT applies it to the instances it buffers (``_choose_representation``), IHOMER to the
    ones it buffers itself instead of running a probe MLHAT beside it.
    """
    non_zero = np.mean([
        sum(1 for v in x.values() if isinstance(v, str) or (v is not None and v == v and v != 0))
        for x in instances
    ])
    return "dense" if n_features < 64 or non_zero > 0.25 * n_features else "sparse"


class SparseVector:
    """Non-zero entries of an instance: sorted column indices ``cols`` and their ``values``.

    ``n`` is the number of features known when it was made; every other entry is 0.
    """

    __slots__ = ("cols", "values", "n")

    def __init__(self, cols, values, n):
        self.cols = cols
        self.values = values
        self.n = n

    def __len__(self):
        return self.n

    def get(self, col):
        """Value at column ``col`` (0 when absent)."""
        k = int(np.searchsorted(self.cols, col))
        if k < len(self.cols) and self.cols[k] == col:
            return float(self.values[k])
        return 0.0


class FeatureSpace:
    """Maps feature names to columns; strings become one-hot columns ``(name, value)``.

    Missing values (absent keys, ``None``, NaN) are NaN in the raw vector and 0 in the
    standardized one (i.e. imputed with the running mean).
    """

    def __init__(self, clip=8.0):
        self.clip = clip
        self.index = {}
        self.names = []
        self.n = 0
        self._count = np.zeros((1, 0))
        self._mean = np.zeros((1, 0))
        self._m2 = np.zeros((1, 0))
        self._onehot = {}
        self._last_keys = None
        self._last_cols = None
        # vectorize_sparse: the keys of the last instance, and, once the same keys came twice
        # in a row (dense dicts of a wide stream), the column of each key (-1: none yet).
        self._sparse_last_keys = None
        self._sparse_keys = None
        self._sparse_key_cols = None
        self._sumsq = np.zeros(0)
        self._n_rows = 0
        # The last instance vectorized for prediction, (kind, id, keys, values, the values as
        # float64), for the learn_one of the same instance that follows (see _repeat_of); a
        # call that may add features drops it.
        self._repeat = None

    def __len__(self):
        return self.n

    def _column(self, key, grow):
        col = self.index.get(key)
        if col is None and grow:
            col = self.n
            self.index[key] = col
            self.names.append(key)
            self.n += 1
            if isinstance(key, tuple):
                self._onehot.setdefault(key[0], []).append(col)
        return col

    def _checked_items(self, x):
        """``x``'s (key, value) pairs, every value validated before any state changes.

        A refused instance leaves the space (and the model using it) exactly as it was.
        """
        if not isinstance(x, dict):
            raise TypeError(f"x must be a dict of features, got {type(x).__name__}")
        for key, value in x.items():
            kind = type(value)
            if kind is int or kind is bool or kind is str or value is None:
                continue
            if kind is float:  # the common case, without the slow abstract-class checks
                if value - value != 0.0 and value == value:  # inf (not NaN)
                    raise ValueError(
                        f"feature {key!r} is infinite ({value!r}); use finite values, or None / "
                        "NaN for a missing value"
                    )
                continue
            if isinstance(value, str):
                continue
            if isinstance(value, (numbers.Real, np.bool_)):
                if math.isinf(float(value)):
                    raise ValueError(
                        f"feature {key!r} is infinite ({value!r}); use finite values, or None / "
                        "NaN for a missing value"
                    )
                continue
            raise TypeError(
                f"feature {key!r} has unsupported type {type(value).__name__}; "
                "accepted: numbers, bools, str (one-hot encoded) or None (missing)"
            )

    def _repeat_of(self, kind, x, keys, listed, grow):
        """The float64 values the last call for prediction made of this very dict ``x`` (same
        keys, equal values ``listed``) by the ``kind`` path, else None; keeps them for the
        next call unless this one may add features (``grow``: the learn_one that follows a
        predict_one of the same instance takes them).

        NaN values compare equal here only when they are the same object (the same dict,
        untouched). A value put in place of an equal number that the
        array paths would not take as a number (a ``Decimal``, a ``complex``) fails the sum's
        type check and leaves ``x`` to the general path, which refuses it.
        """
        repeat = self._repeat
        if grow:
            self._repeat = None
        if (repeat is None or len(listed) < REPEAT_MIN_KEYS or repeat[0] != kind
                or repeat[1] != id(x) or repeat[2] != keys or repeat[3] != listed):
            return None
        try:
            total = sum(listed)
        except (TypeError, ArithmeticError):
            return None
        return repeat[4] if isinstance(total, numbers.Real) else None

    def _keep_repeat(self, kind, x, keys, listed, grow, values):
        if not grow and len(listed) >= REPEAT_MIN_KEYS:
            self._repeat = (kind, id(x), keys, listed, values)

    def vectorize(self, x, grow):
        """Raw vector (NaN = missing) of ``x``; unknown features are added when ``grow``."""
        if not isinstance(x, dict):
            raise TypeError(f"x must be a dict of features, got {type(x).__name__}")
        keys = tuple(x)
        if keys == self._last_keys:
            out = self._dense_same_keys(x, keys, grow)
            if out is not None:
                return out
        self._checked_items(x)
        cols = []
        values = []
        simple = True
        for key, value in x.items():
            if value is None:
                simple = False
                continue
            if isinstance(value, str):
                simple = False
                col = self._column((key, value), grow)
                v = 1.0
            else:
                col = self._column(key, grow)
                v = float(value)
            if col is None:
                continue
            cols.append(col)
            values.append(v)
        if grow and self._count.shape[1] < self.n:
            self._grow()
        out = np.full(self.n, np.nan)
        cols_arr = np.asarray(cols, dtype=np.int64)
        out[cols_arr] = values
        # A string value switches its other one-hot columns off (known value, not missing).
        for key, value in x.items():
            if isinstance(value, str):
                for other in self._onehot.get(key, ()):
                    if np.isnan(out[other]):
                        out[other] = 0.0
        if simple and len(cols) == len(keys):
            self._last_keys = keys
            self._last_cols = cols_arr
        return out

    def _dense_same_keys(self, x, keys, grow):
        """:meth:`vectorize` of an ``x`` whose keys are those of the last instance the general
        path encoded without a string or missing value: one array pass over the values.
        ``None`` when a value is not a plain number (the general path then validates and
        encodes ``x``: a string is one-hot, ``None`` missing, other objects refused)."""
        listed = list(x.values())
        values = self._repeat_of("dense", x, keys, listed, grow)
        if values is None:
            values = _plain_numbers(listed)
            if values is None:
                return None
        out = np.empty(self.n)
        if _kernels.scatter_values(values, self._last_cols, out):
            self._checked_items(x)  # raises, naming the feature
        self._keep_repeat("dense", x, keys, listed, grow, values)
        return out

    def prediction_vectors(self, x, sparse):
        """(raw, scaled) vectors of ``x`` for prediction, sparse or dense (no feature is
        added)."""
        if sparse:
            xv = self.vectorize_sparse(x, grow=False)
            return xv, self.scale(xv)
        xv = self.vectorize(x, grow=False)
        return xv, self.standardize(xv)

    def vectorize_sparse(self, x, grow):
        """Non-zero entries of ``x`` as a :class:`SparseVector` (absent, None, NaN and 0 = 0).

        Cost grows with the keys of ``x``, not with the features seen so far. Strings are
        one-hot columns ``(name, value)`` set to 1.
        """
        if not isinstance(x, dict):
            raise TypeError(f"x must be a dict of features, got {type(x).__name__}")
        keys = tuple(x)
        if keys == self._sparse_keys or keys == self._sparse_last_keys:
            row = self._sparse_same_keys(x, keys, grow)
            if row is not None:
                return row
        self._sparse_last_keys = keys
        x = {key: value for key, value in x.items() if value != 0}  # explicit zeros: cheap skip
        self._checked_items(x)
        cols = []
        values = []
        for key, value in x.items():
            if value is None:
                continue
            if isinstance(value, str):
                col = self._column((key, value), grow)
                v = 1.0
            else:
                v = float(value)
                if v == 0.0 or v != v:
                    continue
                col = self._column(key, grow)
            if col is not None:
                cols.append(col)
                values.append(v)
        cols_arr = np.asarray(cols, dtype=np.int64)
        values_arr = np.asarray(values, dtype=np.float64)
        if len(cols_arr) > 1:
            order = np.argsort(cols_arr, kind="stable")
            cols_arr, values_arr = cols_arr[order], values_arr[order]
        return SparseVector(cols_arr, values_arr, self.n)

    def _sparse_same_keys(self, x, keys, grow):
        """:meth:`vectorize_sparse` of an ``x`` whose keys came before, all numbers: one
        array pass over the values instead of a Python pass over the keys (a wide stream given
        as dense dicts, zeros included). ``None`` when a value is not a plain number (the
        general path then validates and encodes ``x``)."""
        listed = list(x.values())
        values = self._repeat_of("sparse", x, keys, listed, grow)
        if values is None:
            values = _plain_numbers(listed)
            if values is None:  # strings, None, objects: the general path
                return None
        if keys != self._sparse_keys:
            index = self.index
            self._sparse_key_cols = np.array([index.get(key, -1) for key in keys],
                                             dtype=np.int64)
            self._sparse_keys = keys
        key_cols = self._sparse_key_cols
        cols = np.empty(len(values), dtype=np.int64)
        vals = np.empty(len(values))
        n, unknown = _kernels.nonzero_entries(values, key_cols, cols, vals)
        if n < 0:
            return None  # an infinite value: the general path names the feature
        if unknown:
            # Non-zero values of keys without a column yet (in this key order): a column added
            # in the order of x when ``grow`` (as the general path does) or made elsewhere
            # since the key order was indexed; the others are left out.
            at = np.flatnonzero((values != 0.0) & (values == values) & (key_cols < 0))
            found = False
            for k in at.tolist():
                col = self._column(keys[k], grow)
                if col is not None:
                    key_cols[k] = col
                    found = True
            if found:
                n, unknown = _kernels.nonzero_entries(values, key_cols, cols, vals)
        self._keep_repeat("sparse", x, keys, listed, grow, values)
        return SparseVector(cols[:n].copy(), vals[:n].copy(), self.n)

    def learn_scale(self, row):
        """Update the running sum of squares of each feature (sparse scaling)."""
        if len(self._sumsq) < self.n:
            extra = max(self.n - len(self._sumsq), len(self._sumsq) // 2)
            self._sumsq = np.concatenate([self._sumsq, np.zeros(extra)])
        _kernels.sparse_sum_squares(row.cols, row.values, self._sumsq)
        self._n_rows += 1

    def scale(self, row):
        """``row`` divided by each feature's running root mean square, zeros counted (keeps
        zeros zero), clipped to ``[-SPARSE_CLIP, SPARSE_CLIP]`` (measured against scaling by
        the largest absolute value: macro-F1 up 0.01-0.02 on medical, enron and bibtex).

        A binary word present in a fraction ``p`` of the instances becomes ``1 / sqrt(p)``:
        rare words weigh more, like an inverse document frequency.
        """
        out = np.empty(len(row.values))
        _kernels.sparse_scale(row.cols, row.values, self._sumsq, self._n_rows, SPARSE_CLIP, out)
        return SparseVector(row.cols, out, row.n)

    def _grow(self):
        extra = self.n - self._count.shape[1]
        pad = np.zeros((1, extra))
        self._count = np.concatenate([self._count, pad], axis=1)
        self._mean = np.concatenate([self._mean, pad], axis=1)
        self._m2 = np.concatenate([self._m2, pad], axis=1)

    def learn(self, raw):
        """Update the running mean / variance with a raw vector (NaN = missing)."""
        _kernels.gaussian_update(self._count, self._mean, self._m2, _ROW0, raw, 1.0)

    def standardize(self, raw):
        """Standardized copy of ``raw`` (missing and constant features give 0)."""
        out = np.empty(len(raw))
        _kernels.standardize(raw, self._count, self._mean, self._m2, self.clip, out)
        return out


def _plain_numbers(listed):
    """The values ``listed`` as float64 when each is a plain number (a bool, int or float,
    Python's or numpy's: what ``np.array`` makes a numeric array of), else None (strings,
    ``None`` and other objects are left to the general paths, which encode or refuse them)."""
    values = np.array(listed)
    if values.dtype.kind not in "fiub":
        return None
    return values.astype(np.float64, copy=False)


def _as_bool(label, value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise ValueError(
        f"label {label!r} has value {value!r} ({type(value).__name__}); "
        "accepted values: True/False (or the integers 0/1)"
    )


class LabelSpace:
    """Maps label names to indices in order of first appearance and validates ``y``."""

    def __init__(self):
        self.index = {}
        self.names = []

    def __len__(self):
        return len(self.names)

    def encode(self, y):
        """Validate ``y`` and return (indices of the positive labels, names of new labels)."""
        if not isinstance(y, dict):
            raise TypeError(
                f"y must be a dict {{label: bool}}, got {type(y).__name__}; for an empty label "
                "set pass {} or every label with False"
            )
        index = self.index
        positives = []
        new = []
        for label, truth in y.items():
            if type(truth) is not bool:
                _as_bool(label, truth)  # raises before any label is added
            idx = index.get(label)
            if idx is None:
                idx = len(self.names) + len(new)
                new.append(label)
            if truth:
                positives.append(idx)
        for label in new:
            index[label] = len(self.names)
            self.names.append(label)
        return positives, new


class LabelDecisions(dict):
    """``predict_one``'s answer: every label seen so far; a label never seen reads as False.

    river's multi-output metrics look up every label of the truth in the prediction, so a
    label that first appears in the truth of the instance being predicted must not raise.
    """

    def __missing__(self, label):
        return False


class LabelProbabilities(dict):
    """``predict_proba_one``'s answer; a label never seen reads as ``{False: 1.0, True: 0.0}``."""

    def __missing__(self, label):
        return {False: 1.0, True: 0.0}
