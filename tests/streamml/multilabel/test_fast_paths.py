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
