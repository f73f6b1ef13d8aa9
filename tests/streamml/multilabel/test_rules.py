"""MLHAT's per-label decision rules: naive Bayes from the leaf statistics, the nearest
neighbours window, and the prequential choice between them (parity with naive twins written
from the formulas, and real learning)."""

import itertools
import math

import numpy as np
import pytest
from river import datasets

from streamml.multilabel import MLHAT, mlhat
from streamml.multilabel import _kernels, _rules
from streamml.multilabel._rules import (HAMMING_BUDGET, NEVER, JointChoice, NeighbourWindow,
                                        RuleSelector, YoungLabelGate)
from streamml.multilabel._spaces import SparseVector


def _naive_gaussian_nb(x, X, Y, var_floor):
    """Per-label P(label | x): class priors (+0.5 smoothing) and per-feature Gaussians of the
    instances with and without the label (unbiased variances plus the floor), features with
    fewer than 2 values on a side or missing in ``x`` left out."""
    out = []
    for j in range(Y.shape[1]):
        pos, neg = Y[:, j] > 0, Y[:, j] == 0
        z = math.log((pos.sum() + 0.5) / (neg.sum() + 0.5))
        for f in range(X.shape[1]):
            if np.isnan(x[f]):
                continue
            col = X[:, f]
            a, b = col[pos & ~np.isnan(col)], col[neg & ~np.isnan(col)]
            if len(a) < 2 or len(b) < 2:
                continue
            floor = var_floor * np.nanvar(col, ddof=1) + 1e-9
            va, vb = a.var(ddof=1) + floor, b.var(ddof=1) + floor
            z += (-0.5 * math.log(2 * math.pi * va) - (x[f] - a.mean()) ** 2 / (2 * va)
                  + 0.5 * math.log(2 * math.pi * vb) + (x[f] - b.mean()) ** 2 / (2 * vb))
        out.append(1.0 / (1.0 + math.exp(-min(max(z, -30.0), 30.0))))
    return np.array(out)


def test_gaussian_nb_from_leaf_statistics_matches_a_naive_gaussian_nb():
    rng = np.random.default_rng(0)
    n, n_features, n_labels = 300, 5, 3
    Y = (rng.random((n, n_labels)) < [0.3, 0.5, 0.1]).astype(float)
    X = rng.normal(size=(n, n_features)) + Y @ rng.normal(size=(n_labels, n_features))
    X[rng.random(X.shape) < 0.1] = np.nan
    count, mean, m2 = (np.zeros((n_labels + 1, n_features)) for _ in range(3))
    for x, y in zip(X, Y):
        rows = np.concatenate([[0], 1 + np.flatnonzero(y)]).astype(np.int64)
        _kernels.gaussian_update(count, mean, m2, rows, x, 1.0)
    for x in rng.normal(size=(5, n_features)):
        x[1] = np.nan
        got = np.empty(n_labels)
        _kernels.gaussian_nb_proba(x, count, mean, m2, Y.sum(axis=0), float(n), 0.01, got)
        assert np.allclose(got, _naive_gaussian_nb(x, X, Y, 0.01), rtol=1e-7, atol=1e-9)


def test_multinomial_nb_from_presence_counts_matches_a_naive_multinomial_nb():
    rng = np.random.default_rng(1)
    n, n_words, n_labels = 200, 30, 4
    present_in = rng.random((n, n_words)) < 0.15
    Y = rng.random((n, n_labels)) < 0.3
    present = present_in.sum(axis=0).astype(float)
    together = (present_in.T.astype(float) @ Y.astype(float)).astype(np.float32)
    words = present_in.sum(axis=1)
    mass_pos = (words[:, None] * Y).sum(axis=0).astype(float)
    cols = np.array([2, 7, 11, 29], dtype=np.int64)
    got = np.empty(n_labels)
    _kernels.multinomial_nb_proba(cols, np.ones(4), present, together, mass_pos,
                                  float(words.sum()), Y.sum(axis=0).astype(float), float(n),
                                  1.0, got)
    for j in range(n_labels):
        pos, neg = Y[:, j], ~Y[:, j]
        theta_pos = (present_in[pos].sum(axis=0) + 1.0) / (present_in[pos].sum() + n_words)
        theta_neg = (present_in[neg].sum(axis=0) + 1.0) / (present_in[neg].sum() + n_words)
        z = math.log((pos.sum() + 0.5) / (neg.sum() + 0.5))
        z += np.log(theta_pos[cols]).sum() - np.log(theta_neg[cols]).sum()
        assert got[j] == pytest.approx(1.0 / (1.0 + math.exp(-z)), rel=1e-6)


def test_distance_kernels_match_numpy():
    rng = np.random.default_rng(2)
    rows = rng.normal(size=(6, 4)).astype(np.float32)
    rows[1, 2] = np.nan  # missing in a row
    query = rng.normal(size=5)  # one feature more than the rows hold (missing there)
    query[0] = np.nan  # missing in the query
    mean = rng.normal(size=6)
    fmin = np.array([-2.0, -1.0, 0.5, -3.0, -1.0, 0.0])
    fmax = np.array([2.0, 3.0, 0.5, 1.0, 4.0, np.inf])  # feature 2: no range, 5: unknown
    got = np.full(6, -1.0)
    _kernels.dense_sq_distances(query, np.ascontiguousarray(rows.T), 5, mean, fmin, fmax, got)
    width = 6
    q = np.append(query, np.full(width - len(query), np.nan))
    r = np.hstack([rows[:5].astype(np.float64), np.full((5, width - 4), np.nan)])
    q = np.where(np.isnan(q), mean, q)
    r = np.where(np.isnan(r), mean[None], r)
    span = fmax - fmin
    used = (span > 0) & np.isfinite(span)
    expected = (((r - q)[:, used] / span[used]) ** 2).sum(axis=1)
    assert np.allclose(got[:5], expected, rtol=1e-6)
    assert got[5] == -1.0  # beyond n_rows: untouched
    dense = np.zeros((4, 12))
    dense[rng.random(dense.shape) < 0.3] = 1.5
    dense[2] = 0.0  # an empty row
    q = np.zeros(12)
    q[[0, 3, 8]] = [1.0, 2.0, 0.5]
    # Rows 0-3 stored one after the other and indexed by column; then row 1 replaced by a new
    # one stored after them: the index's entries of the old row must be left out, and the
    # rows added since the index (row 1 and, by its serial, row 3) read whole.
    rows = [np.flatnonzero(d) for d in dense]
    entry_cols = np.concatenate(rows).astype(np.int64)
    entry_values = np.concatenate([d[c] for d, c in zip(dense, rows)]).astype(np.float32)
    row_nnz = np.array([len(c) for c in rows])
    row_start = np.r_[0, np.cumsum(row_nnz)[:-1]]
    index_start = np.zeros(13, dtype=np.int64)
    index_rows = np.zeros(len(entry_cols), dtype=np.int64)
    index_values = np.zeros(len(entry_cols), dtype=np.float32)
    _kernels.sparse_column_index(entry_cols, entry_values, row_start, row_nnz, 4, index_start,
                                 index_rows, index_values)
    for c in range(12):  # the index: every stored entry of each column, once
        got = sorted(zip(index_rows[index_start[c]:index_start[c + 1]].tolist(),
                         index_values[index_start[c]:index_start[c + 1]].tolist()))
        assert got == [(r, 1.5) for r in range(4) if dense[r, c]]
    new_row = np.zeros(12)
    new_row[[3, 5, 8]] = [0.5, 1.0, 2.0]
    dense[1] = new_row
    entry_cols = np.r_[entry_cols, [3, 5, 8]]
    entry_values = np.r_[entry_values, np.float32([0.5, 1.0, 2.0])]
    row_start[1], row_nnz[1] = len(entry_cols) - 3, 3
    row_serial = np.array([0, 4, 2, 3])
    norms = (dense ** 2).sum(axis=1)
    scratch = np.zeros(12)
    out = np.zeros(4)
    cols = np.flatnonzero(q)
    _kernels.sparse_sq_distances(cols, q[cols], index_start, index_rows, index_values,
                                 row_serial, 3, entry_cols, entry_values, row_start, row_nnz,
                                 norms, 4, scratch, out)
    assert np.allclose(out, ((dense - q) ** 2).sum(axis=1))
    assert not scratch.any()


def _row_by_row_dense(query, rows, n_rows, mean, fmin, fmax):
    """The dense distance one row at a time, features in order (the kernel's per-row sums)."""
    n_features = max(len(query), rows.shape[1])
    out = []
    for r in range(n_rows):
        d = 0.0
        for f in range(n_features):
            span = fmax[f] - fmin[f]
            if not (0.0 < span < np.inf):
                continue
            q = query[f] if f < len(query) else np.nan
            q = mean[f] if q != q else float(q)
            v = float(rows[r, f]) if f < rows.shape[1] else np.nan
            v = mean[f] if v != v else v
            diff = (q - v) * (1.0 / span)
            d += diff * diff
        out.append(d)
    return out


def _row_by_row_sparse(cols, values, rows):
    """The sparse distance one row at a time: |q|^2 + |row|^2 - 2 q.row, each sum in the
    row's (ascending) order, float32 products for the row's norm as the window stores it."""
    scratch = dict(zip(cols.tolist(), values.tolist()))
    q_norm = 0.0
    for v in values:
        q_norm += v * v
    out = []
    for row_cols, row_values in rows:
        r_norm = 0.0
        dot = 0.0
        for c, v in zip(row_cols.tolist(), row_values):
            r_norm += float(v * v)
            dot += scratch.get(c, 0.0) * float(v)
        out.append(q_norm + r_norm - 2.0 * dot)
    return out


@pytest.mark.parametrize("size", [1, 7])
@pytest.mark.parametrize("sparse", [False, True])
def test_neighbour_window_distances_equal_a_row_by_row_pass_at_every_step(sparse, size):
    # The window's layouts (dense: by feature; sparse: posting lists over a moving, compacted
    # store) must give exactly the distances of the plain row-by-row pass: the neighbours and
    # so MLHAT's predictions must not depend on them. New features, missing values, empty
    # rows, rows longer than any before and many turns of the window included.
    rng = np.random.default_rng(11)
    window = NeighbourWindow(size, 2, sparse, n_labels=1)
    stored = []
    n_features = 5
    for i in range(150):
        if i % 30 == 29:
            n_features += 3
        nnz = int(rng.integers(0, n_features + 1)) if i % 17 else n_features
        x = np.zeros(n_features)
        x[rng.choice(n_features, nnz, replace=False)] = rng.normal(size=nnz)
        if not sparse and i % 5 == 0:
            x[rng.integers(n_features)] = np.nan
        query = np.where(rng.random(n_features) < 0.5, rng.normal(size=n_features), 0.0)
        if window.n:
            window.proba(query, _vector(query, sparse))
            got = window._dist[: window.n]
            if sparse:
                xs = _vector(query, sparse)
                expected = _row_by_row_sparse(xs.cols, xs.values, stored)
            else:
                rows = np.full((size, n_features), np.nan, dtype=np.float32)
                for r, row in enumerate(stored):
                    rows[r, : len(row)] = row
                expected = _row_by_row_dense(query, rows, window.n, window.mean,
                                             window.fmin, window.fmax)
            assert got.tolist() == expected
        v = _vector(x, sparse)
        window.add(x.copy(), v, np.zeros(1))
        if sparse:
            row = (v.cols.copy(), v.values.astype(np.float32))
        else:
            row = x.astype(np.float32)
            # Rows stored before a feature appeared miss it (NaN: the running mean).
            stored = [np.pad(s, (0, n_features - len(s)), constant_values=np.nan)
                      for s in stored]
        if len(stored) < size:
            stored.append(row)
        else:
            stored[(i % size)] = row
    if sparse:
        assert window.hi - window.lo == sum(len(c) for c, _ in stored)


@pytest.mark.parametrize("sparse", [False, True])
def test_neighbour_window_matches_brute_force_knn_over_the_last_instances(sparse):
    rng = np.random.default_rng(3)
    size, k, n_features = 20, 3, 8
    window = NeighbourWindow(size, k, sparse, n_labels=2)
    X, Y = [], []
    for i in range(50):
        x = np.where(rng.random(n_features) < 0.4, rng.normal(size=n_features), 0.0)
        y = (rng.random(2) < 0.4).astype(float)
        if i == 30:
            window.add_labels(1)  # a third label appears mid-stream
        if i >= 30:
            y = np.append(y, float(rng.random() < 0.5))
        X.append(x)
        Y.append(np.pad(y, (0, 3 - len(y))))
        v = _vector(x, sparse)
        window.add(x.copy(), v, y)
    query = rng.normal(size=n_features)
    recent = np.array(X[-size:])
    # Dense rows: every feature divided by its range over ALL instances added.
    span = np.ptp(np.array(X), axis=0) if not sparse else np.ones(n_features)
    nearest = np.argsort((((recent - query) / span) ** 2).sum(axis=1))[:k]
    expected = np.array(Y[-size:])[nearest].mean(axis=0)
    assert np.allclose(window.proba(query, _vector(query, sparse)), expected)
    window.select_labels([2, 0])
    assert np.allclose(window.proba(query, _vector(query, sparse)), expected[[2, 0]])


def _vector(x, sparse):
    if not sparse:
        return x.copy()
    cols = np.flatnonzero(x).astype(np.int64)
    return SparseVector(cols, x[cols], len(x))


def _fed_selector(rule_decisions, truth, **kwargs):
    selector = RuleSelector(rule_decisions.shape[1], truth.shape[1], **kwargs)
    for decisions, y in zip(rule_decisions, truth):
        selector.record(decisions, y)
    return selector


def test_selector_picks_per_label_the_rule_of_best_f1_that_errs_no_more_than_the_default():
    rng = np.random.default_rng(4)
    n = 2000
    truth = (rng.random((n, 3)) < 0.2).astype(float)
    noisy = lambda rate: np.where(rng.random(truth.shape) < rate, 1 - truth, truth)
    # Rule 0 (default): 10% flips. Rule 1: 2% flips on label 0 only, worse elsewhere.
    # Rule 2: predicts every label always (recall 1, many errors).
    rule0, rule1 = noisy(0.1), noisy(0.3)
    rule1[:, 0] = noisy(0.02)[:, 0]
    rule2 = np.ones_like(truth)
    selector = _fed_selector(np.stack([rule0, rule1, rule2], axis=1), truth)
    assert selector.choice.tolist() == [1, 0, 0]
    decided = selector.decide(np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    assert decided.tolist() == [1.0, 1.0, 1.0]  # label 0 from rule 1, the others from rule 0


def test_selector_keeps_the_hamming_loss_below_the_empty_prediction():
    rng = np.random.default_rng(5)
    n = 3000
    truth = (rng.random((n, 4)) < 0.05).astype(float)
    # The default rule is nearly random on rare labels: more errors than predicting nothing.
    rule0 = (rng.random(truth.shape) < 0.1).astype(float)
    rule0[:, 0] = truth[:, 0]  # except on label 0, where it is exact
    selector = RuleSelector(1, 4)
    errors = empty = 0.0
    for decisions, y in zip(rule0[:, None, :], truth):
        decided = selector.decide(decisions)
        errors += (decided != y).sum()
        empty += y.sum()
        selector.record(decisions, y)
    assert errors < empty
    assert selector.choice[0] == 0
    assert (selector.choice[1:] == NEVER).all()


def test_rule_record_returns_the_errors_of_the_answer_given():
    rng = np.random.default_rng(0)
    for _ in range(20):
        decisions = (rng.random((4, 12)) < 0.3).astype(float)
        labels = (rng.random(12) < 0.3).astype(float)
        choice = rng.integers(-1, 4, 12)
        answer = np.where(choice < 0, 0.0, decisions[np.maximum(choice, 0), np.arange(12)])
        counts = [np.zeros((4, 12)) for _ in range(4)]
        wrong = _kernels.rule_record(decisions, labels, choice, counts[0], counts[1], counts[2],
                                     np.zeros(12), counts[3])
        assert wrong == (answer != labels).sum()


@pytest.mark.parametrize("budget", [_rules.HAMMING_BUDGET, 0.5, 1.2])
def test_budget_fraction_shrinks_while_the_answers_err_more_than_their_bound(budget):
    # The answers' bound is ANSWER_BUDGET at the default budget, in proportion otherwise.
    selector = RuleSelector(2, 3, hamming_budget=budget)
    bound = _rules.ANSWER_BUDGET / _rules.HAMMING_BUDGET * budget
    selector.positives[:] = [10.0, 20.0, 30.0]
    selector.answer_errors = 0.999 * bound * 60.0
    assert selector.budget_fraction() == budget
    selector.answer_errors = 1.1 * bound * 60.0
    assert selector.budget_fraction() == pytest.approx(budget / 1.1)
    selector.positives[:] = _rules.ANSWER_MIN_POSITIVES / 4  # too few positives yet
    assert selector.budget_fraction() == budget
    unbounded = RuleSelector(2, 3, hamming_budget=np.inf)
    unbounded.positives[:] = 30.0
    unbounded.answer_errors = 1e6
    assert unbounded.budget_fraction() == np.inf


def _lucky_rules_answer_errors(seed, n=4000, n_labels=30, n_rules=5, rate=0.05):
    """Errors of the selector's answers per positive (after the first 1,000 instances) where
    on half the labels every rule errs 1.15 times as often as never predicting the label: the
    rule whose counts look best there was lucky, and errs more afterwards than they said."""
    rng = np.random.default_rng(seed)
    ratio = np.full((n_rules, n_labels), 1.15)
    ratio[0, : n_labels // 2] = 0.9
    flip = ratio * rate  # a rule's errors on a label: about flip / rate of its positives
    selector = RuleSelector(n_rules, n_labels)
    errors = positives = 0.0
    for i in range(n):
        y = (rng.random(n_labels) < rate).astype(float)
        decisions = np.abs(y[None] - (rng.random((n_rules, n_labels)) < flip))
        if i >= 1000:
            errors += (selector.decide(decisions) != y).sum()
            positives += y.sum()
        selector.record(decisions, y)
    return errors / positives


def test_answer_budget_lowers_the_errors_of_rules_chosen_on_lucky_counts(monkeypatch):
    bounded = [_lucky_rules_answer_errors(seed) for seed in range(2)]
    monkeypatch.setattr(_rules, "ANSWER_BUDGET", np.inf)
    counts_only = [_lucky_rules_answer_errors(seed) for seed in range(2)]
    # The choices' counts alone let the answers err more than never predicting (1.027 and
    # 1.008 here); bounded by the answers' own errors: 1.006 and 1.002.
    assert max(counts_only) > 1.0
    for b, c in zip(bounded, counts_only):
        assert b < c


def _prototype_stream(n, seed, n_features=20, n_prototypes=60, n_labels=8):
    """Near-duplicates of a few binary prototypes, each with its own arbitrary label set (a
    label is present for an unstructured set of prototypes: no linear rule holds)."""
    rng = np.random.default_rng(seed)
    protos = rng.random((n_prototypes, n_features)) < 0.5
    labelsets = rng.random((n_prototypes, n_labels)) < 0.3
    for _ in range(n):
        p = rng.integers(n_prototypes)
        x = protos[p] ^ (rng.random(n_features) < 0.03)
        yield ({f"f{i}": float(v) for i, v in enumerate(x)},
               {f"l{j}": bool(v) for j, v in enumerate(labelsets[p])})


def test_neighbour_rule_is_chosen_where_label_sets_repeat_and_wins_subset_accuracy():
    data = list(_prototype_stream(1200, 0))

    def subset_accuracy(model):
        hits = 0
        for x, y in data:
            p = model.predict_one(x)
            hits += all(p.get(k, False) == v for k, v in y.items())
            model.learn_one(x, y)
        return hits / len(data)

    with_rules = MLHAT(seed=0)
    # Without the rules nor the label-set naive Bayes (which, rescoring the tree's label set
    # on dense input, also wins repeating label sets).
    without = MLHAT(naive_bayes=False, label_set_evidence=0, n_neighbours=0, seed=0)
    acc, acc0 = subset_accuracy(with_rules), subset_accuracy(without)
    assert acc > acc0 + 0.2
    assert (with_rules._selector.choice == 3).any()  # the neighbours' rule holds labels


def test_rules_survive_label_restriction_and_labels_appearing_mid_stream():
    data = list(_prototype_stream(400, 1))
    model = MLHAT(seed=0)
    for i, (x, y) in enumerate(data):
        if i >= 200:
            y = {**y, "late": i % 3 == 0}
        model.predict_one(x)
        model.learn_one(x, y)
    assert len(model._selector.choice) == len(model.labels) == 9
    twin = model._restricted_copy([8, 0])
    x = data[0][0]
    xv, xs = twin._vectors(x)
    assert twin._decide_arrays(xv, xs).shape == (2,)
    full = model._rule_decisions(*model._vectors(x))[0]
    assert np.array_equal(twin._rule_decisions(xv, xs)[0][:, 1], full[:, 0])


def test_bad_rule_parameters_are_refused():
    with pytest.raises(ValueError, match="n_neighbours"):
        MLHAT(n_neighbours=-1)
    with pytest.raises(ValueError, match="neighbour_window"):
        MLHAT(neighbour_window=0)
    with pytest.raises(ValueError, match="naive_bayes"):
        MLHAT(naive_bayes="yes")


def _naive_choose(tp, fp, fn, exact, positives, choice, margin, min_positives, budget_fraction,
                  micro_trade=False, young_rule=0, fallback_only_from=-1, scored_never=True):
    """NumPy twin of ``_kernels.rule_choose``, written from its docstring."""
    errors = fp + fn
    f1 = 2.0 * tp / np.maximum(2.0 * tp + errors, 1e-12)
    cols = np.arange(f1.shape[1])
    bonus = np.zeros_like(f1)
    bonus[np.maximum(choice, 0), cols] = margin
    # micro-F1 of the current choices ("never": every positive missed)
    current = np.maximum(choice, 0)
    cur_tp = np.where(choice < 0, 0.0, tp[current, cols]).sum()
    cur_errors = np.where(choice < 0, positives, errors[current, cols]).sum()
    micro = 2 * cur_tp / max(2 * cur_tp + cur_errors, 1e-12)
    kappa = micro / (2 - micro)
    gains = tp - tp[0][None]
    misses = 2 * tp[0] < positives  # rule 0 finds fewer than half of the label's positives
    trade = micro_trade & misses[None] & (gains > 1e-9) & (gains >= kappa * (fp - fp[0][None]))
    trade[young_rule] &= young_rule == 0  # the young labels' rule never trades errors
    allowed = ((errors <= errors[0][None] + 1e-9) | trade) & (exact >= exact[0][None] - 1e-9)
    if fallback_only_from >= 0:
        allowed[fallback_only_from:] = False
    mature = np.where(allowed, f1 + bonus, -1.0).argmax(axis=0)
    budget = budget_fraction * positives.sum()
    if errors[0].sum() > budget:
        hit = (tp > 0) & (errors <= budget_fraction * positives[None])
        young = np.where(hit[young_rule], young_rule, np.where(hit[0], 0, NEVER))
    else:
        young = np.full_like(choice, young_rule)
    choice = np.where(positives >= min_positives, mature, young)
    never = choice == NEVER
    picked = np.maximum(choice, 0)
    chosen_errors = np.where(never, positives, errors[picked, cols])
    total = chosen_errors.sum()
    if total > budget:
        # Over budget: per scored label the option (rule or never) of best F1 - lam * errors,
        # lam the least rate that fits the budget. Twin by enumeration: the options change
        # only where two of a label's options tie, so try just above every such rate.
        options_f1 = np.vstack([f1, np.zeros(len(positives))])  # last row: never
        options_err = np.vstack([errors, positives[None]])
        scored = positives >= min_positives
        within = (errors <= budget_fraction * positives[None]) & (errors < chosen_errors[None])
        young_best = np.where(within, f1, -1.0)
        young_pick = young_best.argmax(axis=0)
        better = ~scored & (young_best.max(axis=0) >= 0.0)
        choice = np.where(better, young_pick, choice)
        young_errors = np.where(choice < 0, positives,
                                errors[np.maximum(choice, 0), cols])[~scored].sum()

        def pick(lam):
            value = options_f1 - lam * options_err
            if not scored_never:
                value[-1] = -np.inf  # "never" is no option of the scored labels
            best = value.max(axis=0)
            tied = value >= best[None] - 1e-12
            picked = np.where(tied, options_err, np.inf).argmin(axis=0)  # ties: fewer errors
            return np.where(picked == len(options_f1) - 1, NEVER, picked)

        def errors_at(lam):
            c = pick(lam)
            return np.where(c == NEVER, positives, errors[np.maximum(c, 0), cols])[scored].sum()

        rates = [0.0]
        for j in range(len(positives)):
            for a in range(len(options_f1)):
                for b in range(len(options_f1)):
                    de = options_err[a, j] - options_err[b, j]
                    if de > 1e-12:
                        rates.append((options_f1[a, j] - options_f1[b, j]) / de)
        fitting = [lam for lam in sorted(r for r in rates if r >= 0.0)
                   if errors_at(lam + 1e-9) + young_errors <= budget]
        lam = fitting[0] + 1e-9 if fitting else 1e6
        choice = np.where(scored, pick(lam), choice)
    return choice


@pytest.mark.parametrize("scored_never", [True, False])
@pytest.mark.parametrize("fallback_only_from", [-1, 2, 3])
@pytest.mark.parametrize("young_rule", [0, 3])
@pytest.mark.parametrize("micro_trade", [False, True])
@pytest.mark.parametrize("seed", range(10))
def test_rule_choice_kernel_matches_its_numpy_twin(seed, micro_trade, young_rule,
                                                   fallback_only_from, scored_never):
    rng = np.random.default_rng(seed)
    n_rules, n_labels = 4, 15
    positives = rng.uniform(0, 20, n_labels)
    tp = rng.uniform(0, 1, (n_rules, n_labels)) * positives
    fn = positives - tp
    fp = rng.uniform(0, 1 + seed, (n_rules, n_labels)) * positives  # some seeds over budget
    exact = rng.uniform(0, 30, (n_rules, n_labels))
    choice = rng.integers(-1, n_rules, n_labels)
    expected = _naive_choose(tp, fp, fn, exact, positives, choice.copy(), 0.01, 5.0, 0.95,
                             micro_trade, young_rule, fallback_only_from, scored_never)
    got = choice.copy()
    _kernels.rule_choose(tp, fp, fn, exact, positives, 0.01, 5.0, 0.95, micro_trade, young_rule,
                         got, fallback_only_from, scored_never)
    assert got.tolist() == expected.tolist()
    if not scored_never:
        assert (got[positives >= 5.0] >= 0).all()


def test_fallback_only_rule_is_taken_only_when_the_budget_makes_labels_fall_back():
    # Rule 1 has the better F1 on label 0 (0.8 against rule 0's 0.6, 10 errors against 40),
    # not on label 1 (0.57, 30 errors).
    tp = np.array([[30.0, 30.0], [40.0, 20.0]])
    fn = 50.0 - tp
    fp = np.array([[20.0, 20.0], [0.0, 0.0]])
    exact = np.full((2, 2), 50.0)
    positives = np.array([50.0, 50.0])
    free, only = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64)
    _kernels.rule_choose(tp, fp, fn, exact, positives, 0.0, 5.0, 0.95, False, 0, free)
    _kernels.rule_choose(tp, fp, fn, exact, positives, 0.0, 5.0, 0.95, False, 0, only, 1)
    assert free.tolist() == [1, 0]
    assert only.tolist() == [0, 0]  # within budget (80 errors <= 95): not a candidate
    # Rule 0 errs 80 on label 0 (120 > 95 in all): label 0 falls back to rule 1 (70 errors
    # saved at a gain of F1), enough to be back within the budget; label 1 keeps rule 0.
    fp[0, 0] = 60.0
    _kernels.rule_choose(tp, fp, fn, exact, positives, 0.0, 5.0, 0.95, False, 0, only, 1)
    assert only.tolist() == [1, 0]


def test_micro_trade_buys_true_positives_at_no_micro_loss():
    # Label 0 frequent (micro-F1 of the current choices 162 / 211 = 0.77, kappa = 0.62); on
    # label 1 rule 0 finds 1 of 10 positives, rule 1 finds 6 with 6 false positives: one error
    # more (10 vs 9), but 5 true positives gained for 6 false positives (5 >= 0.62 * 6).
    tp = np.array([[80.0, 1.0], [80.0, 6.0]])
    fp = np.array([[20.0, 0.0], [20.0, 6.0]])
    fn = np.array([[20.0, 9.0], [20.0, 4.0]])
    exact = np.full((2, 2), 50.0)
    positives = np.array([100.0, 10.0])
    without, with_trade = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64)
    _kernels.rule_choose(tp, fp, fn, exact, positives, 0.0, 5.0, 0.95, False, 0, without)
    _kernels.rule_choose(tp, fp, fn, exact, positives, 0.0, 5.0, 0.95, True, 0, with_trade)
    assert without.tolist() == [0, 0]  # rule 1 errs more on label 1
    assert with_trade.tolist() == [0, 1]
    # The same trade with 12 false positives lowers micro-F1 (5 < kappa * 12): refused.
    fp[1, 1] = 12.0
    _kernels.rule_choose(tp, fp, fn, exact, positives, 0.0, 5.0, 0.95, True, 0, with_trade)
    assert with_trade.tolist() == [0, 0]
    # ... and so is a trade that loses exact label-set matches,
    fp[1, 1] = 6.0
    exact[1, 1] = 40.0
    _kernels.rule_choose(tp, fp, fn, exact, positives, 0.0, 5.0, 0.95, True, 0, with_trade)
    assert with_trade.tolist() == [0, 0]
    # ... or one on a label rule 0 already finds half of (5 of 10).
    exact[1, 1] = 50.0
    tp[:, 1] += [4.0, 0.0]
    fn[:, 1] -= [4.0, 0.0]
    _kernels.rule_choose(tp, fp, fn, exact, positives, 0.0, 5.0, 0.95, True, 0, with_trade)
    assert with_trade.tolist() == [0, 0]


def test_over_budget_errors_go_where_they_buy_the_most_f1():
    # Label 0 (100 positives): rule 0 F1 120/210 = 0.571 with 90 errors, rule 1 F1 0.5625 with
    # 70. Labels 1 and 2 (10 positives each): 16 errors each (F1 0.5 and 0.2), more than
    # leaving them out. Rule 0 everywhere makes 122 errors, over the budget 0.95 x 120 = 114.
    # Label 0's cheaper rule saves 20 errors for 0.009 of F1, which keeps labels 1 and 2
    # predicted (102 errors, summed F1 1.26); dropping them both instead (110 errors) would
    # keep only 0.571.
    tp = np.array([[60.0, 8.0, 2.0], [45.0, 8.0, 2.0]])
    fp = np.array([[50.0, 14.0, 8.0], [15.0, 14.0, 8.0]])
    fn = np.array([[40.0, 2.0, 8.0], [55.0, 2.0, 8.0]])
    exact = np.zeros((2, 3))
    positives = np.array([100.0, 10.0, 10.0])
    choice = np.zeros(3, dtype=np.int64)
    _kernels.rule_choose(tp, fp, fn, exact, positives, 0.0, 5.0, 0.95, False, 0, choice)
    assert choice.tolist() == [1, 0, 0]
    # With a budget that only "never" on label 1 or 2 as well can meet (0.82 x 120 = 98.4), label 2
    # (F1 0.2 for 6 errors more than leaving it out) goes before label 1 (0.5 for 6).
    _kernels.rule_choose(tp, fp, fn, exact, positives, 0.0, 5.0, 0.82, False, 0, choice)
    assert choice.tolist() == [1, 0, NEVER]
    errors = np.where(choice < 0, positives, (fp + fn)[np.maximum(choice, 0), np.arange(3)])
    assert errors.sum() <= 0.82 * positives.sum()


@pytest.mark.parametrize("seed", range(3))
def test_rule_record_kernel_matches_its_numpy_twin(seed):
    rng = np.random.default_rng(seed)
    n_rules, n_labels = 3, 6
    tp, fp, fn, exact = (np.zeros((n_rules, n_labels)) for _ in range(4))
    positives = np.zeros(n_labels)
    want = {k: np.zeros((n_rules, n_labels)) for k in ("tp", "fp", "fn", "exact")}
    for _ in range(200):
        truth = (rng.random(n_labels) < 0.3).astype(float)
        # Rules right on 90% of the labels, so whole label sets are often right.
        decisions = np.where(rng.random((n_rules, n_labels)) < 0.1, 1 - truth, truth)
        choice = rng.integers(-1, n_rules, n_labels)
        _kernels.rule_record(decisions, truth, choice, tp, fp, fn, positives, exact)
        hit, t = decisions > 0.5, truth[None] > 0.5
        want["tp"] += hit & t
        want["fp"] += hit & ~t
        want["fn"] += ~hit & t
        answer = np.where(choice < 0, 0.0, decisions[np.maximum(choice, 0), np.arange(n_labels)])
        wrong = (answer > 0.5) != (truth > 0.5)
        for j in range(n_labels):
            if not np.delete(wrong, j).any():
                want["exact"][:, j] += hit[:, j] == t[0, j]
    for name, got in (("tp", tp), ("fp", fp), ("fn", fn), ("exact", exact)):
        np.testing.assert_array_equal(got, want[name], err_msg=name)
    assert exact.sum() > 0


def test_a_rule_that_breaks_exact_label_set_matches_does_not_replace_the_trees():
    # Two labels that always come together. Rule 0 (a joint decoding) predicts the pair or
    # nothing, right 85% of the time on both; rule 1 decides label 0 alone, right 88% of the
    # time, but its errors fall where rule 0 gets the whole label set right: better F1 and
    # fewer errors on label 0, fewer exact matches.
    rng = np.random.default_rng(8)
    n = 3000
    pair = rng.random(n) < 0.4
    truth = np.column_stack([pair, pair]).astype(float)
    joint_right = rng.random(n) < 0.85
    rule0 = np.where(joint_right[:, None], truth, 1 - truth)
    rule1 = rule0.copy()
    flip = joint_right & (rng.random(n) < 0.05)
    rule1[flip, 0] = 1 - truth[flip, 0]
    rule1[~joint_right, 0] = np.where(rng.random((~joint_right).sum()) < 0.4,
                                      truth[~joint_right, 0], 1 - truth[~joint_right, 0])
    decisions = np.stack([rule0, rule1], axis=1)
    selector = _fed_selector(decisions, truth)
    f1 = 2 * selector.tp / (2 * selector.tp + selector.fp + selector.fn)
    errors = selector.fp + selector.fn
    assert f1[1, 0] > f1[0, 0] + 0.01 and errors[1, 0] < errors[0, 0]  # rule 1 looks better
    assert selector.exact[1, 0] < selector.exact[0, 0]
    assert selector.choice.tolist() == [0, 0]


def test_joint_choice_answers_with_the_neighbours_label_set_only_where_it_is_better():
    rng = np.random.default_rng(6)
    truth = (rng.random((600, 5)) < 0.3).astype(float)
    good = truth.copy()
    good[rng.random(600) < 0.1, 0] = 1.0  # a few errors, whole label sets mostly right
    per_label = np.where(rng.random(truth.shape) < 0.1, 1 - truth, truth)  # 10% flips
    joint = JointChoice()
    for a, b, y in zip(per_label, good, truth):
        joint.record(a, b, y)
    assert joint.use_neighbour
    worse = JointChoice()
    for a, b, y in zip(per_label, np.zeros_like(truth), truth):  # never predicts a label
        worse.record(a, b, y)
    assert not worse.use_neighbour


def test_genbase_like_streams_use_the_nearest_label_set():
    data = list(_prototype_stream(800, 2, n_prototypes=30))
    model = MLHAT(seed=0)
    hits = 0
    for x, y in data:
        p = model.predict_one(x)
        hits += all(p.get(k, False) == v for k, v in y.items())
        model.learn_one(x, y)
    assert model._joint.use_neighbour
    assert hits / len(data) > 0.8


def test_neighbour_distance_weighs_a_rare_binary_feature_like_any_other():
    # Feature 0 is present in 1 of 50 instances; features 1-3 in about half. Standardized, a
    # mismatch on feature 0 would cost about 1 / 0.02 = 50 squared units against about 4 for
    # each common one; divided by the range, every mismatch costs 1.
    window = NeighbourWindow(size=50, k=1, sparse=False, n_labels=2)
    common = np.array([1.0, 0.0, 1.0])
    for i in range(48):  # 3 and 2 mismatches from the query below
        x = np.zeros(4) if i % 2 else np.array([0.0, 1.0, 1.0, 1.0])
        window.add(x, None, np.zeros(2))
    window.add(np.concatenate([[1.0], 1.0 - common]), None, np.array([1.0, 0.0]))  # 3 off
    window.add(np.concatenate([[0.0], common]), None, np.array([0.0, 1.0]))  # rare one off
    query = np.concatenate([[1.0], common])
    window.proba(query, None)
    assert window.nearest_labels.tolist() == [0.0, 1.0]
    # A missing value reads as the feature's running mean (here: between both rows' values).
    missing = query.copy()
    missing[0] = np.nan
    window.proba(missing, None)
    assert window.nearest_labels.tolist() == [0.0, 1.0]


def test_joint_choice_switches_on_significant_evidence_only():
    truth = np.array([1.0, 0.0, 1.0])
    wrong = np.array([1.0, 1.0, 1.0])
    joint = JointChoice()
    for i in range(12):
        joint.record(wrong, truth, truth)  # the neighbour's label set always right
        # (decayed) min_weight instances first, then about 10 wins to 0 losses: > 2 sqrt(10)
        assert joint.use_neighbour == (i >= 10)
    # Wins and losses alternating: the difference never exceeds z * sqrt(disagreements).
    noisy = JointChoice()
    for i in range(400):
        if i % 2:
            noisy.record(wrong, truth, truth)
        else:
            noisy.record(truth, wrong, truth)
        assert not noisy.use_neighbour
    # Right more often but with more label errors: not used.
    costly = JointChoice()
    all_wrong = 1.0 - truth
    for i in range(200):
        if i % 3:
            costly.record(wrong, truth, truth)
        else:
            costly.record(truth, all_wrong, truth)
    assert costly.exact[1] > costly.exact[0] and costly.errors[1] > costly.errors[0]
    assert not costly.use_neighbour


def test_repeating_label_sets_switch_to_the_nearest_label_set_early():
    # 20 prototypes: the nearest instance's label set is right almost always after a few
    # dozen instances; the sign test takes it once that is significant (the earlier fixed
    # minimum of 50 instances and 2% margin switched at instance 59, subset accuracy 0.85).
    data = list(_prototype_stream(300, 0, n_prototypes=20))
    model = MLHAT(seed=0)
    first, hits = None, 0
    for i, (x, y) in enumerate(data):
        p = model.predict_one(x)
        hits += all(p.get(k, False) == v for k, v in y.items())
        model.learn_one(x, y)
        if first is None and model._joint.use_neighbour:
            first = i
    assert first is not None and first < 40
    assert hits / len(data) > 0.88
def _naive_cosine_labels(xs, rows, labels):
    """The label set of the stored sparse row of highest cosine similarity to ``xs`` (the
    first such row; no label where no row shares a word) and that similarity."""
    query = dict(zip(xs.cols.tolist(), xs.values.tolist()))
    best, out = 0.0, np.zeros(labels.shape[1])
    for r, (cols, values) in enumerate(rows):
        dot = sum(query.get(c, 0.0) * float(v) for c, v in zip(cols.tolist(), values))
        norm = math.sqrt(sum(v * v for v in query.values())
                         * sum(float(v) ** 2 for v in values))
        cosine = dot / norm if norm > 0 else 0.0
        if cosine > best + 1e-9:
            best, out = cosine, labels[r].astype(np.float64)
    return out, best


class _RowByRowWindow(NeighbourWindow):
    """The window with the plain distances: each stored row read whole, one at a time."""

    def add(self, xv, xs, y):
        if not hasattr(self, "plain"):
            self.plain = []
        slot = self.next
        super().add(xv, xs, y)
        if self.sparse:
            row = (xs.cols.copy(), xs.values.astype(np.float32))
        else:
            row = xv.astype(np.float32)
            # Rows stored before a feature appeared miss it (NaN: the running mean).
            self.plain = [np.pad(r, (0, len(row) - len(r)), constant_values=np.nan)
                          for r in self.plain]
        if slot < len(self.plain):
            self.plain[slot] = row
        else:
            self.plain.append(row)

    def proba(self, xv, xs):
        if self.n == 0:
            return super().proba(xv, xs)
        if self.sparse:
            dist = _row_by_row_sparse(xs.cols, xs.values, self.plain)
        else:
            width = max(len(r) for r in self.plain)
            rows = np.full((self.n, width), np.nan, dtype=np.float32)
            for r, row in enumerate(self.plain):
                rows[r, : len(row)] = row
            self._fit_features(max(len(xv), width))
            dist = _row_by_row_dense(xv, rows, self.n, self.mean, self.fmin, self.fmax)
        self._dist[: self.n] = dist
        if self.sparse:
            self.cosine_labels, self.cosine = _naive_cosine_labels(xs, self.plain, self.labels)
        k = min(self.k, self.n)
        proba = np.empty(self.labels.shape[1])
        nearest = np.empty(self.labels.shape[1])
        if _kernels.neighbour_vote(self._dist, self.n, k, self.labels, proba, nearest):
            self.nearest_labels = nearest
            return proba
        chosen = np.argpartition(dist, k - 1)[:k] if k < self.n else np.arange(self.n)
        self.nearest_labels = self.labels[int(np.argmin(dist))].astype(np.float64)
        return self.labels[chosen].mean(axis=0, dtype=np.float64)


def _wide_sparse_stream(n, seed, n_words=400, n_labels=6):
    """Sparse word dicts (new words keep appearing); label j present with one of its words."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        words = rng.choice(min(n_words, 40 + 2 * i), size=int(rng.integers(1, 12)),
                           replace=False)
        x = {f"w{w}": float(1 + w % 3) for w in words}
        yield x, {f"l{j}": bool(set(words.tolist()) & {j, j + 7}) for j in range(n_labels)}


@pytest.mark.parametrize("stream", ["yeast", "sparse words"])
def test_mlhat_predicts_the_same_with_a_row_by_row_neighbour_window(stream, monkeypatch):
    # The window's storage (dense: by feature; sparse: a moving store and a column index) is
    # a speed-up only: MLHAT with the plain window gives the same predictions at every
    # instance, over several turns of the window.
    if stream == "yeast":
        data = list(itertools.islice(datasets.Yeast(), 250))
    else:
        data = list(_wide_sparse_stream(400, seed=5))

    def predictions():
        model = MLHAT(seed=3, neighbour_window=70, sparse=stream != "yeast")
        out = []
        for x, y in data:
            out.append(tuple(sorted(k for k, v in model.predict_one(x).items() if v)))
            model.learn_one(x, y)
        return out, model

    fast, model = predictions()
    assert model._window.sparse == (stream != "yeast")
    monkeypatch.setattr(mlhat, "NeighbourWindow", _RowByRowWindow)
    plain, twin = predictions()
    assert isinstance(twin._window, _RowByRowWindow)
    assert plain == fast
    assert sum(map(len, fast)) > 0


def _rare_label_stream(n, seed, n_words=300, n_rare=5, every=50):
    """Sparse word dicts: three frequent topics (label present with two of its words), and
    ``n_rare`` rare labels, each on one document in ``every`` (at its own offset); the
    documents of a rare label are near-duplicates (6 of its 8 distinctive words) among the
    usual noise words."""
    rng = np.random.default_rng(seed)
    topics = {f"t{j}": [f"topic{j}_{k}" for k in range(4)] for j in range(3)}
    for i in range(n):
        words = {f"w{w}" for w in rng.choice(n_words, size=6, replace=False)}
        y = {}
        for label, keys in topics.items():
            y[label] = bool(rng.random() < 0.3)
            if y[label]:
                words.update(rng.choice(keys, size=2, replace=False).tolist())
        for r in range(n_rare):
            y[f"rare{r}"] = i % every == r * every // n_rare + every // n_rare - 1
            if y[f"rare{r}"]:
                words.update(rng.choice([f"rare{r}_{k}" for k in range(8)], size=6,
                                        replace=False).tolist())
        yield {w: 1.0 for w in words}, y


def _rare_decisions(model, data, n_rare=5):
    """The model's decisions on the rare labels at each instance (before learning it)."""
    out = []
    for x, y in data:
        p = model.predict_one(x)
        out.append([p.get(f"rare{r}", False) for r in range(n_rare)])
        model.learn_one(x, y)
    return np.array(out)


def test_young_labels_follow_the_most_similar_instance_on_sparse_input(monkeypatch):
    # A rare label's 2nd-5th documents look like its 1st: the most similar stored instance
    # carries it, while the leaf models (one positive against hundreds of negatives) give it
    # a probability far below any threshold. The tree alone (the rule young labels followed
    # before) misses its 2nd occurrence always, and many later ones.
    streams = [list(_rare_label_stream(300, seed=seed)) for seed in range(3)]
    truth = np.concatenate([[[y[f"rare{r}"] for r in range(5)] for _, y in data]
                            for data in streams])
    occurrence = np.concatenate([np.cumsum(t, axis=0) * t for t in np.split(truth, 3)])
    young = np.concatenate([_rare_decisions(MLHAT(sparse=True, seed=0), data)
                            for data in streams])
    monkeypatch.setattr(MLHAT, "_young_nearest", property(lambda self: False))
    before = np.concatenate([_rare_decisions(MLHAT(sparse=True, seed=0), data)
                             for data in streams])
    # 2nd occurrences (15): the tree never, the most similar instance once the gate has
    # opened (on the evidence of the first young labels' additions): 10 here.
    assert before[occurrence == 2].sum() == 0
    assert young[occurrence == 2].sum() >= 8
    # 2nd to 5th occurrences (60 positives): the tree finds 30, with the young labels' rule 49.
    later = (occurrence >= 2) & (occurrence <= 5)
    assert young[later].sum() >= before[later].sum() + 10
    assert (young & ~truth).sum() <= 15  # of 4,500 rare-label decisions: 9 here


def test_young_label_rule_copies_the_tree_on_dense_input():
    model = MLHAT(seed=0)
    for x, y in itertools.islice(datasets.Yeast(), 300):
        decisions = model._rule_decisions(*model._vectors(x))[0] if model._root else None
        if decisions is not None:
            assert np.array_equal(decisions[mlhat.RULE_TREE_OR_NEAREST],
                                  decisions[mlhat.RULE_TREE])
        model.predict_one(x)
        model.learn_one(x, y)
    assert model._young_gate is None
    assert model._selector.young_rule == mlhat.RULE_TREE
    assert not (model._selector.choice == mlhat.RULE_TREE_OR_NEAREST).any()


def _naive_gate_threshold(hits, misses, micro_f1, micro_weight, n_bins):
    """Lowest bin edge above which ``hits - micro_weight * kappa * misses`` is largest
    (``inf`` when no such sum is positive), by enumeration."""
    kappa = micro_weight * micro_f1 / (2 - micro_f1)
    best, threshold = 0.0, np.inf
    for b in range(n_bins):
        gain = sum(hits[b:]) - kappa * sum(misses[b:])
        if gain > best + 1e-12:
            best, threshold = gain, b / n_bins
    return threshold


class _Counts:
    """A rule selector's current counts, as :meth:`RuleSelector.current_counts` gives them,
    and its Hamming budget."""

    hamming_budget = HAMMING_BUDGET

    def __init__(self, *counts):
        self.counts = counts

    def current_counts(self):
        return self.counts


def test_selector_current_counts_sum_the_chosen_rules_counts():
    selector = RuleSelector(2, 3)
    selector.tp[:] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    selector.fp[:] = 1.0
    selector.fn[:] = 2.0
    selector.positives[:] = [7.0, 8.0, 9.0]
    selector.choice[:] = [0, 1, NEVER]
    # label 0: rule 0 (tp 1, 3 errors); label 1: rule 1 (tp 5, 3 errors); label 2: never
    # (its 9 positives missed)
    assert selector.current_counts() == (6.0, 15.0, 24.0)


@pytest.mark.parametrize("seed", range(3))
def test_young_additions_kernel_matches_its_numpy_twin(seed):
    rng = np.random.default_rng(seed)
    n = 40
    nearest = (rng.random(n) < 0.5).astype(float)
    tree = (rng.random(n) < 0.3).astype(float)
    positives = rng.uniform(0, 10, n)
    tree_tp = rng.uniform(0, 1, n) * (rng.random(n) < 0.5)
    out = np.full(n, 7.0)
    count = _kernels.young_additions(nearest, tree, positives, tree_tp, 5.0, out)
    expected = (nearest == 1) & (tree == 0) & (positives < 5.0) & (tree_tp < 0.5)
    assert out.tolist() == expected.astype(float).tolist()
    assert count == expected.sum() > 0


@pytest.mark.parametrize("seed", range(4))
def test_most_similar_row_kernel_matches_numpy_cosines(seed):
    rng = np.random.default_rng(seed)
    rows = rng.random((30, 12)) * (rng.random((30, 12)) < 0.3)
    rows[3] = 0.0  # an empty row has no similarity
    query = rng.random(12) * (rng.random(12) < 0.4)
    sq_dist = ((rows - query) ** 2).sum(axis=1)
    row_norms = (rows ** 2).sum(axis=1)
    r, cosine = _kernels.most_similar_row(sq_dist, row_norms, 30, float(query @ query))
    norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(query)
    expected = np.where(norms > 0, rows @ query / np.where(norms > 0, norms, 1.0), 0.0)
    if expected.max() > 0:
        assert r == int(np.argmax(expected))
        assert cosine == pytest.approx(expected.max(), rel=1e-9)
    else:
        assert (r, cosine) == (-1, 0.0)
    # A query sharing no feature with any row: no row.
    assert _kernels.most_similar_row(row_norms + 1.0, row_norms, 30, 1.0) == (-1, 0.0)


@pytest.mark.parametrize("seed", range(4))
def test_young_label_gate_threshold_matches_a_naive_enumeration(seed):
    rng = np.random.default_rng(seed)
    gate = YoungLabelGate(n_bins=10, every=1, half_life=1e12)
    hits, misses = np.zeros(10), np.zeros(10)
    for _ in range(200):
        cosine = rng.random()
        added = (rng.random(6) < 0.4).astype(float)
        y = (rng.random(6) < 0.15 + 0.6 * cosine).astype(float)  # more similar, more right
        b = min(int(cosine * 10), 9)
        hits[b] += added @ y
        misses[b] += added.sum() - added @ y
        # counts: 70 true positives, 60 errors, 100 positives -> micro-F1 0.7
        gate.add(added, y, cosine, _Counts(70.0, 60.0, 100.0))
    assert np.allclose(gate.hits, hits, rtol=1e-9) and np.allclose(gate.misses, misses)
    assert gate.threshold == _naive_gate_threshold(hits, misses, 0.7, 0.5, 10)
    # Over the Hamming budget (errors above 0.95 of the positives) the gate is closed.
    gate.add(np.zeros(6), np.zeros(6), 0.5, _Counts(70.0, 96.0, 100.0))
    assert gate.threshold == np.inf and not gate.open(0.99)


def test_young_label_gate_counts_a_negative_similarity_in_the_lowest_bin():
    # Sparse features with negative values can make the most similar row's cosine negative;
    # its outcome belongs to the lowest bin, not (by negative indexing) to a high one.
    gate = YoungLabelGate(n_bins=10, every=1, half_life=1e12)
    gate.add(np.array([1.0, 1.0]), np.array([0.0, 1.0]), -0.45, _Counts(5.0, 1.0, 6.0))
    assert gate.hits[0] == pytest.approx(1.0) and gate.misses[0] == pytest.approx(1.0)
    assert gate.hits[1:].sum() == 0.0 and gate.misses[1:].sum() == 0.0
    assert not gate.open(-0.45)


@pytest.mark.parametrize("predict_first", [True, False])
def test_dense_window_means_are_the_feature_space_means(predict_first):
    # The dense window keeps its own running means (an IHOMER cluster's window sees only the
    # instances routed to it). In MLHAT it is given every instance learnt, so after each
    # learn_one its means are bit for bit the feature space's, and inside learn_one the
    # window reads the means of the instances before, as standardization does, whether or
    # not predict_one came first.
    model = MLHAT(seed=0)
    for i, (x, y) in enumerate(itertools.islice(datasets.Yeast(), 150)):
        if predict_first:
            model.predict_one(x)
        model.learn_one(x, y)
        window_mean = model._window.mean
        assert np.array_equal(window_mean, model._features._mean[0][: len(window_mean)])
        assert len(window_mean) == len(model._features)


def test_dense_window_reads_a_feature_new_since_a_row_was_stored_as_missing():
    # One convention for a missing value: a row stored before a feature appeared reads it as
    # the feature's running mean, exactly as a row that had it missing (NaN) does.
    window = NeighbourWindow(10, 1, False, n_labels=1)
    window.add(np.array([1.0]), None, np.zeros(1))  # stored before feature 1 existed
    window.add(np.array([3.0, 5.0]), None, np.zeros(1))
    window.add(np.array([1.0, np.nan]), None, np.zeros(1))  # feature 1 missing
    window.add(np.array([2.0, 9.0]), None, np.zeros(1))
    for query in ([1.0, 4.0], [0.0, 9.0], [2.0, np.nan]):
        window.proba(np.array(query), None)
        dist = window._dist[: window.n]
        assert dist[0] == dist[2]
        mean, span = 7.0, 4.0  # feature 1: mean of 5 and 9, range 9 - 5
        q = mean if np.isnan(query[1]) else query[1]
        assert dist[0] == pytest.approx(((query[0] - 1.0) / 2.0) ** 2 + ((q - mean) / span) ** 2)


def test_budget_rule_reads_the_tree_at_the_budget_thresholds():
    model = MLHAT(seed=0)
    predicted = 0
    for x, y in itertools.islice(datasets.Yeast(), 400):
        if model._root is not None:
            decisions, tree_proba = model._rule_decisions(*model._vectors(x))[:2]
            expected = tree_proba >= model._thresholds.fallback
            assert np.array_equal(decisions[mlhat.RULE_BUDGET] > 0.5, expected)
            predicted += expected.sum()
        model.predict_one(x)
        model.learn_one(x, y)
    assert predicted > 0  # the budget thresholds moved from "never" (1.5) on yeast
    assert model._selector.fallback_only_from == mlhat.RULE_BUDGET


def test_blend_rule_reads_tree_and_most_similar_instance_at_its_thresholds(monkeypatch):
    # Sparse input: the blend of the tree's probability and the labels of the most similar
    # stored row (cosine found row by row here) at the blend's own learned thresholds.
    monkeypatch.setattr(mlhat, "NeighbourWindow", _RowByRowWindow)
    model = MLHAT(seed=0, neighbour_window=60, sparse=True)
    weight = mlhat.NEAREST_BLEND
    blended_hits = 0
    for x, y in _wide_sparse_stream(300, seed=2):
        if model._root is not None:
            xv, xs = model._vectors(x)
            decisions, tree_proba = model._rule_decisions(xv, xs)[:2]
            labels, cosine = _naive_cosine_labels(xs, model._window.plain, model._window.labels)
            blend = (tree_proba + weight * cosine * labels) / (1.0 + weight)
            expected = blend >= model._blend_thresholds.thresholds
            assert np.array_equal(decisions[mlhat.RULE_BLEND] > 0.5, expected)
            blended_hits += int(expected.sum())
        model.predict_one(x)
        model.learn_one(x, y)
    assert blended_hits > 0
    assert model._blend_thresholds.n == 300  # every instance recorded


def test_blend_rule_copies_the_tree_on_dense_input():
    model = MLHAT(seed=0)
    for x, y in itertools.islice(datasets.Yeast(), 200):
        if model._root is not None:
            decisions = model._rule_decisions(*model._vectors(x))[0]
            assert np.array_equal(decisions[mlhat.RULE_BLEND], decisions[mlhat.RULE_TREE])
        model.predict_one(x)
        model.learn_one(x, y)
    assert model._blend_thresholds is None
