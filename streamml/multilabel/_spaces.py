"""Feature and label bookkeeping shared by the multi-label learners.

Turns river's dictionaries into contiguous float vectors that grow as new features or labels
appear, validates the input, and keeps running feature statistics for standardization.
"""

import math
import numbers

import numpy as np

from . import _kernels

_ROW0 = np.zeros(1, dtype=np.int64)


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

    def vectorize(self, x, grow):
        """Raw vector (NaN = missing) of ``x``; unknown features are added when ``grow``."""
        if not isinstance(x, dict):
            raise TypeError(f"x must be a dict of features, got {type(x).__name__}")
        keys = tuple(x)
        if keys == self._last_keys:
            try:
                values = np.fromiter(x.values(), dtype=np.float64, count=len(keys))
            except (TypeError, ValueError):
                values = None
            if values is not None:
                out = np.full(self.n, np.nan)
                out[self._last_cols] = values
                return out
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
            elif isinstance(value, (numbers.Real, np.bool_)):
                col = self._column(key, grow)
                v = float(value)
                if math.isinf(v):
                    raise ValueError(f"feature {key!r} is infinite; use finite values or None")
            else:
                raise TypeError(
                    f"feature {key!r} has unsupported type {type(value).__name__}; "
                    "accepted: numbers, bools, str (one-hot encoded) or None (missing)"
                )
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
        positives = []
        new = []
        for label, value in y.items():
            truth = _as_bool(label, value)
            idx = self.index.get(label)
            if idx is None:
                idx = len(self.names)
                self.index[label] = idx
                self.names.append(label)
                new.append(label)
            if truth:
                positives.append(idx)
        return positives, new
