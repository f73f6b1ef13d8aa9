"""The frontier maths of benchmarks/multilabel_frontier.py against brute force on tiny data."""

import itertools
import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
import multilabel_frontier as frontier  # noqa: E402


def _tiny(seed, n=7, n_labels=3):
    rng = np.random.default_rng(seed)
    y = rng.random((n, n_labels)) < 0.4
    # Coarse scores: ties inside a label and across labels.
    s = np.round(np.clip(0.35 * y + rng.random((n, n_labels)) * 0.7, 0, 1), 1)
    return y, s


def _naive_point(y, pred):
    tp = (y & pred).sum(0)
    fp = (~y & pred).sum(0)
    fn = (y & ~pred).sum(0)
    f1 = [2 * a / (2 * a + b + c) if 2 * a + b + c else 0.0 for a, b, c in zip(tp, fp, fn)]
    t = 2 * tp.sum() + fp.sum() + fn.sum()
    return int(fp.sum() + fn.sum()), (2 * tp.sum() / t if t else 0.0), float(np.mean(f1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_oracle_matches_every_combination_of_label_thresholds(seed):
    y, s = _tiny(seed)
    per_label = [np.append(np.unique(s[:, j]), np.inf) for j in range(y.shape[1])]
    combos = [_naive_point(y, s >= np.array(ts)) for ts in itertools.product(*per_label)]
    budget = y.size
    macro, micro = frontier.oracle_curves(y, s, budget)
    for b in range(budget + 1):
        fits = [c for c in combos if c[0] <= b]
        assert macro[b] == pytest.approx(max((c[2] for c in fits), default=-np.inf))
        assert micro[b] == pytest.approx(max((c[1] for c in fits), default=-np.inf))
    # Predicting nothing always fits the empty prediction's budget.
    assert np.isfinite(macro[int(y.sum())])


@pytest.mark.parametrize("seed", [3, 4])
def test_global_curve_matches_each_threshold(seed):
    y, s = _tiny(seed, n=9, n_labels=4)
    thresholds, hamming, micro, macro = frontier.global_curve(y, s)
    assert set(thresholds) == set(np.unique(s)) | {np.inf}
    for t, h, mi, ma in zip(thresholds, hamming, micro, macro):
        errors, naive_micro, naive_macro = _naive_point(y, s >= t)
        assert h == pytest.approx(errors / y.size)
        assert (mi, ma) == pytest.approx((naive_micro, naive_macro))


def test_frontier_reports_the_actual_point_and_bounds_it():
    y, s = _tiny(5, n=30, n_labels=5)
    decisions = s >= 0.5
    f = frontier.frontier(y, s, decisions)
    errors, micro, macro = _naive_point(y, decisions)
    assert f["actual"] == pytest.approx((errors / y.size, micro, macro))
    # A threshold of 0.5 on every label is one of the oracle's and the global sweep's choices.
    for kind in ("global", "oracle"):
        best_micro, best_macro = f["at_own"][kind]
        assert best_micro >= micro - 1e-12 and best_macro >= macro - 1e-12
    assert f["at_own"]["oracle"][1] >= f["at_own"]["global"][1] - 1e-12


def test_label_powerset_marginals_and_argmax_decoding():
    from river import datasets, tree

    from multilabel import TwoWayLabelPowerset

    ours, reference = (TwoWayLabelPowerset(tree.HoeffdingTreeClassifier()) for _ in range(2))
    for x, y in datasets.Yeast().take(60):
        proba, decided = frontier.label_powerset_answer(ours, x)
        reference.predict_one(x)
        assert decided == reference.last_argmax
        enc = ours.model.predict_proba_one(x)
        for label, p in proba.items():
            naive = sum(q for code, q in enc.items() if dict(ours._r_label_map[code])[label])
            assert p[True] == pytest.approx(naive)
        ours.learn_one(x, y)
        reference.learn_one(x, y)


def test_our_naive_bayes_scores_are_read_after_each_prediction():
    from river import datasets

    from streamml.multilabel import MLHAT

    model = MLHAT(seed=0)
    for i, (x, y) in enumerate(datasets.Yeast().take(40)):
        model.predict_one(x)
        nb = frontier.naive_bayes_scores(model)
        if i:  # read where the benchmark reads it: the layout of MLHAT's private cache
            assert nb is not None and nb.shape == (len(model.labels),)
        model.learn_one(x, y)
