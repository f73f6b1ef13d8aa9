"""The per-instance fast paths of MLHAT change its speed, never its answers.

Each fast path has a general path beside it: the array pass over repeated keys of
``FeatureSpace.vectorize_sparse``, the reuse of the prediction's scaled vector by
``learn_one``, the fused nearest-neighbour vote. A model with every fast path switched off must
give the same predictions, instance by instance.
"""

import itertools

import numpy as np
import pytest
from river import datasets

from streamml.multilabel import IHOMER, MLHAT, _kernels, mlhat
import decimal
import math

from streamml.multilabel._spaces import FeatureSpace


def _wide_dense_dicts(n, seed, n_words=300, n_labels=8):
    """A text stream given as dense dicts (every word, zeros included); every fifth instance
    repeats an earlier one, so that nearest neighbours tie. Label j is present when one of its
    two words is."""
    rng = np.random.default_rng(seed)
    keys = [f"w{i}" for i in range(n_words)]
    label_words = rng.choice(n_words, size=(n_labels, 2), replace=False)
    rows = []
    for i in range(n):
        if rows and i % 5 == 0:
            words = rows[int(rng.integers(len(rows)))]
        else:
            words = rng.choice(n_words, size=8, replace=False)
        rows.append(words)
        x = dict.fromkeys(keys, 0.0)
        for w in words:
            x[keys[w]] = 1.0 + (w % 3)
        y = {f"l{j}": bool(set(label_words[j].tolist()) & set(words.tolist()))
             for j in range(n_labels)}
        yield x, y


def _predictions(make, stream):
    model = make()
    out = []
    for x, y in stream:
        out.append(tuple(sorted(k for k, v in model.predict_one(x).items() if v)))
        model.learn_one(x, y)
    return out


@pytest.fixture
def general_paths_only(monkeypatch):
    """Switch every fast path off (each falls back to its general path)."""
    def switch_off():
        monkeypatch.setattr(FeatureSpace, "_sparse_same_keys", lambda self, x, keys, grow: None)
        monkeypatch.setattr(FeatureSpace, "_dense_same_keys", lambda self, x, keys, grow: None)
        monkeypatch.setattr(mlhat, "_same_scaled", lambda predicted, xv: None)
        # The neighbour kernels compute the distances only and leave the vote to numpy.
        monkeypatch.setattr(_kernels, "dense_neighbours",
                            lambda *args: _kernels.dense_sq_distances(*args[:6], args[8]))
        monkeypatch.setattr(_kernels, "sparse_neighbours",
                            lambda *args: _kernels.sparse_sq_distances(*args[:14], args[16]))
    return switch_off


@pytest.mark.parametrize("make", [lambda: MLHAT(seed=1), lambda: IHOMER(seed=1)],
                         ids=["MLHAT", "IHOMER"])
def test_wide_dense_dicts_give_the_same_predictions_without_the_fast_paths(
        make, general_paths_only):
    stream = list(_wide_dense_dicts(260, seed=4))
    fast = _predictions(make, stream)
    general_paths_only()
    assert _predictions(make, stream) == fast
    assert sum(map(len, fast)) > 0  # it predicts labels, not only the empty set


def test_dense_stream_gives_the_same_predictions_without_the_fast_paths(general_paths_only):
    stream = list(itertools.islice(datasets.Yeast(), 300))
    fast = _predictions(lambda: MLHAT(seed=2), stream)
    general_paths_only()
    assert _predictions(lambda: MLHAT(seed=2), stream) == fast


def _general(method, x, grow):
    """``FeatureSpace`` ``method``'s answer on ``x`` by the general path (a fresh space that has
    seen the same instance once before, so that columns are numbered alike)."""
    space = FeatureSpace()
    space._sparse_same_keys = lambda x, keys, grow: None
    space._dense_same_keys = lambda x, keys, grow: None
    return space, getattr(space, method)


@pytest.mark.parametrize("method", ["vectorize", "vectorize_sparse"])
def test_a_dict_changed_between_predict_and_learn_is_vectorized_again(method):
    """The vector kept from the prediction is reused only for the very dict, unchanged: a
    value changed in place (a number, a string, an unsupported object, an infinity) is
    encoded, or refused, as the general path does."""
    keys = [f"w{i}" for i in range(300)]  # wide enough for the kept conversion
    base = dict.fromkeys(keys, 0.0)
    base.update(w1=1.0, w4=2.5)
    changes = [("w4", 7.0), ("w2", 3), ("w3", True), ("w5", "red"), ("w6", None),
               ("w1", math.nan)]
    for key, value in changes:
        fast = FeatureSpace()
        general, general_call = _general(method, None, True)
        for space_call in (getattr(fast, method), general_call):
            space_call(dict(base), True)
            space_call(dict(base), True)  # the keys repeat: the fast paths apply from now on
        x = dict(base)
        a = getattr(fast, method)(x, False)  # prediction
        assert fast._repeat is not None  # its conversion is kept for the learn_one
        x[key] = value
        b = getattr(fast, method)(x, True)  # learn_one of the changed dict
        want = general_call(dict(x), True)
        if method == "vectorize":
            assert np.array_equal(b, want, equal_nan=True), key
        else:
            assert np.array_equal(b.cols, want.cols) and np.array_equal(b.values, want.values)
        assert fast.names == general.names
        del a
    for bad, error in [(decimal.Decimal("2.5"), TypeError), (complex(2.5, 0), TypeError),
                       (b"1", TypeError), (math.inf, ValueError)]:
        fast = FeatureSpace()
        getattr(fast, method)(dict(base), True)
        getattr(fast, method)(dict(base), True)
        x = dict(base)
        getattr(fast, method)(x, False)
        x["w4"] = bad  # equal to the value it replaces (Decimal) or not: refused all the same
        n_before = len(fast)
        with pytest.raises(error, match="w4"):
            getattr(fast, method)(x, True)
        assert len(fast) == n_before


def test_a_numeric_string_on_repeated_dense_keys_is_one_hot_as_on_first_sight():
    """Dense fast path: a string that reads as a number stays a string (a one-hot column),
    as the general path makes it; it was parsed as the number before."""
    fast = FeatureSpace()
    x = {"a": 1.0, "b": 2.0}
    fast.vectorize(x, True)
    fast.vectorize(x, True)
    out = fast.vectorize({"a": 1.0, "b": "2.5"}, True)
    assert ("b", "2.5") in fast.names
    assert out[fast.index[("b", "2.5")]] == 1.0 and np.isnan(out[fast.index["b"]])
