"""MLHAT's whole-label-set rescoring on dense input: the label-powerset Gaussian naive Bayes
(``LabelSetBayes``) and its kernels against naive NumPy twins, the prequential choice
(``SetDecodingChoice``), and what it buys on a stream where only the label set, not any single
label, changes the features' distribution."""

import numpy as np
import pytest

from streamml.multilabel import IHOMER, MLHAT, _kernels, mlhat
from streamml.multilabel._rules import LabelSetBayes, SetDecodingChoice
from streamml.multilabel._tree import ChainModel


def _naive_posterior(x, groups, total_mean, total_var):
    """Normalized log posterior of each group of rows (a label set's instances): prior the
    groups' frequencies, per feature a Gaussian of the group's mean and variance
    ``(m2 + total_var) / n``; NaN in ``x`` reads as ``total_mean``."""
    x = np.where(np.isnan(x), total_mean, x)
    sizes = np.array([len(g) for g in groups], dtype=float)
    out = []
    for g in groups:
        g = np.asarray(g)
        mean = g.mean(axis=0)
        m2 = ((g - mean) ** 2).sum(axis=0)
        var = (m2 + total_var) / len(g)
        out.append(np.log(len(g) / sizes.sum())
                   - 0.5 * np.sum((x - mean) ** 2 / var + np.log(var)))
    out = np.array(out)
    return out - np.logaddexp.reduce(out)


@pytest.mark.parametrize("seed", range(3))
def test_label_set_kernels_match_their_numpy_twins(seed):
    rng = np.random.default_rng(seed)
    n_features, n_labels, max_sets = 5, 3, 4
    sets = np.zeros((max_sets, n_labels))
    count, log_count = np.zeros(max_sets), np.zeros(max_sets)
    mean = np.zeros((max_sets, n_features))
    m2 = np.zeros((max_sets, n_features))
    inv_var, log_var_sum = np.zeros((max_sets, n_features)), np.zeros(max_sets)
    all_mean, all_m2 = np.zeros(n_features), np.zeros(n_features)
    choices = [np.array(v, dtype=float) for v in ([1, 0, 0], [0, 1, 0], [1, 1, 0])]
    filled, groups, k = [], {}, 0
    for i in range(60):
        x = rng.normal(rng.integers(0, 3), 1.0, n_features)
        if i % 7 == 3:
            x[1] = np.nan  # missing: reads as the running mean of all instances before
        filled.append(np.where(np.isnan(x), all_mean, x))
        y = choices[int(rng.integers(0, 3))]
        groups.setdefault(tuple(y), []).append(filled[-1])
        k = _kernels.label_set_add(x, y, sets, k, count, log_count, mean, m2, all_mean, all_m2,
                                   float(i), i % 10 == 9, inv_var, log_var_sum)
    assert k == 3
    rows = np.array(filled)
    np.testing.assert_allclose(all_mean, rows.mean(axis=0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(all_m2, ((rows - rows.mean(axis=0)) ** 2).sum(axis=0),
                               rtol=1e-10)
    stored = [tuple(row) for row in sets[:k]]
    for s, key in enumerate(stored):
        g = np.array(groups[key])
        assert count[s] == len(g) and log_count[s] == pytest.approx(np.log(len(g)))
        np.testing.assert_allclose(mean[s], g.mean(axis=0), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(m2[s], ((g - g.mean(axis=0)) ** 2).sum(axis=0), rtol=1e-9)
    # Variances: the last instance refreshed every set (i = 59).
    total_var = all_m2 / 59.0 + 1e-9
    var = (m2[:k] + total_var) / count[:k, None]
    np.testing.assert_allclose(inv_var[:k], 1.0 / var, rtol=1e-12)
    np.testing.assert_allclose(log_var_sum[:k], np.log(var).sum(axis=1), rtol=1e-12)
    out_inv, out_log = np.zeros((max_sets, n_features)), np.zeros(max_sets)
    _kernels.label_set_variances(count, m2, all_m2, 60.0, 1, 2, out_inv, out_log)
    np.testing.assert_allclose(out_inv[1], 1.0 / var[1], rtol=1e-12)
    assert (out_inv[[0, 2, 3]] == 0).all()  # rows outside [first, last) untouched
    # Decoding: with a chain that scores every candidate alike, the set of highest posterior
    # wins; the log posteriors are the naive ones up to a constant.
    x = rng.normal(1.0, 1.0, n_features)
    x[2] = np.nan
    expected = _naive_posterior(x, [groups[key] for key in stored], all_mean, total_var)
    chain = ChainModel(1, n_labels, n_features, True)
    log_post, cand, prior, score = np.zeros(max_sets), np.zeros((3, 3)), np.zeros(3), np.zeros(3)
    for own, own_post in ((sets[1].copy(), expected[1]), (np.zeros(3), expected.min())):
        row = own.copy()
        _kernels.label_set_decode(x, x, log_count, mean, all_mean, inv_var, log_var_sum, k, sets,
                                  2, 0.3, chain.coef, chain.intercept, chain.chain, True,
                                  log_post, cand, prior, score, row)
        shift = log_post[:k] - expected
        np.testing.assert_allclose(shift, shift[0], atol=1e-9)
        order = np.argsort(-expected)[:2]
        np.testing.assert_array_equal(cand[:2], sets[order])
        np.testing.assert_array_equal(cand[2], own)
        assert prior[2] - prior[0] == pytest.approx(0.3 * (own_post - expected[order[0]]))
        np.testing.assert_array_equal(row, sets[order[0]])
    # Any chain: the row becomes the candidate of best joint log-probability plus prior.
    chain.intercept[0] = rng.normal(0, 3, n_labels)
    chain.chain[0] = rng.normal(0, 2, (n_labels, n_labels))
    chain.coef[0] = rng.normal(0, 1, (n_labels, n_features))
    xs = rng.normal(0, 1, n_features)
    for own in (np.zeros(3), np.ones(3), sets[2].copy()):
        row = own.copy()
        cand, prior, score = np.zeros((4, 3)), np.zeros(4), np.zeros(4)
        _kernels.label_set_decode(x, xs, log_count, mean, all_mean, inv_var, log_var_sum, k,
                                  sets, 3, 0.3, chain.coef, chain.intercept, chain.chain, True,
                                  log_post, cand, prior, score, row)
        np.testing.assert_array_equal(cand[3], own)
        joint = chain.joint_log_proba(xs, cand)
        np.testing.assert_allclose(score, joint, rtol=1e-12)
        np.testing.assert_array_equal(row, cand[int(np.argmax(joint + prior))])


@pytest.mark.parametrize("seed", range(3))
def test_set_choice_record_kernel_matches_its_numpy_twin(seed):
    rng = np.random.default_rng(seed)
    counts, wins = np.zeros((2, 3, 4)), np.zeros(2)
    expected_counts, expected_wins = np.zeros((2, 3, 4)), np.zeros(2)
    for _ in range(80):
        y = (rng.random(4) < 0.4).astype(float)
        own = np.where(rng.random(4) < 0.2, 1 - y, y)
        other = np.where(rng.random(4) < 0.2, 1 - y, y)
        gain = _kernels.set_choice_record(own, other, y, counts, wins)
        for k, answer in enumerate((own > 0.5, other > 0.5)):
            expected_counts[k, 0] += answer & (y > 0.5)
            expected_counts[k, 1] += answer & (y < 0.5)
            expected_counts[k, 2] += ~answer & (y > 0.5)
        tp, fp, fn = expected_counts[:, 0], expected_counts[:, 1], expected_counts[:, 2]
        denom = 2 * tp + fp + fn
        f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 0.0).sum(axis=1)
        assert gain == pytest.approx(f1[1] - f1[0], abs=1e-12)
        own_match, other_match = (own == y).all(), (other == y).all()
        if own_match != other_match:
            expected_wins[0 if own_match else 1] += 1
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_array_equal(wins, expected_wins)


def test_label_set_bayes_posterior_is_gaussian_naive_bayes_over_label_sets():
    rng = np.random.default_rng(0)
    centres = {(1, 0): 2.0, (0, 1): -2.0, (1, 1): 0.0}
    bayes = LabelSetBayes(2, candidates=3, refresh_every=1)
    groups = {key: [] for key in centres}
    seen = []
    for _ in range(90):
        key = list(centres)[int(rng.integers(0, 3))]
        x = rng.normal(centres[key], 1.0, 3)
        bayes.add(x, np.array(key, dtype=float))
        groups[key].append(x)
        seen.append(x)
    query = np.array([1.8, 2.1, 1.5])
    row = np.array([0.0, 1.0])
    bayes.decode(query, query, row, 0.3, ChainModel(1, 2, 3, True))
    order = [tuple(int(v) for v in r) for r in bayes.sets[:bayes.k]]
    seen = np.array(seen)
    expected = _naive_posterior(query, [groups[key] for key in order], seen.mean(axis=0),
                                seen.var(axis=0, ddof=1) + 1e-9)
    shift = bayes.log_post[:bayes.k] - expected
    np.testing.assert_allclose(shift, shift[0], atol=1e-9)
    assert row.tolist() == [1.0, 0.0]  # a chain indifferent to the labels: the likeliest set
    # A new label is absent from every stored set; features appearing later read as means.
    bayes.add_labels(1)
    row = np.zeros(3)
    bayes.decode(np.array([1.8, 2.1, 1.5, 7.0]), np.zeros(4), row, 0.3,
                 ChainModel(1, 3, 4, True))
    assert row.tolist() == [1.0, 0.0, 0.0]
    assert (bayes.sets[:3, 2] == 0).all()


def test_label_set_bayes_keeps_at_most_max_sets_and_recycles_sets_seen_once():
    bayes = LabelSetBayes(3, max_sets=2)
    x = np.zeros(2)
    bayes.add(x, np.array([1.0, 0.0, 0.0]))
    bayes.add(x, np.array([1.0, 0.0, 0.0]))
    bayes.add(x + 1, np.array([0.0, 1.0, 0.0]))
    assert bayes.k == 2
    # Full: a new set replaces the one seen once, not the one seen twice.
    bayes.add(x + 2, np.array([0.0, 0.0, 1.0]))
    stored = {tuple(row) for row in bayes.sets[:bayes.k]}
    assert stored == {(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)}
    bayes.add(x + 2, np.array([0.0, 0.0, 1.0]))
    # Full of sets seen twice: a new set is not stored, but the overall statistics learn it.
    bayes.add(x + 9, np.array([1.0, 1.0, 1.0]))
    assert {tuple(row) for row in bayes.sets[:bayes.k]} == stored
    assert bayes.n == 6
    assert bayes.all_mean == pytest.approx(np.full(2, (0 + 0 + 1 + 2 + 2 + 9) / 6))


def test_set_decoding_choice_takes_the_rescored_set_only_with_more_f1_and_no_lost_sets():
    truth = np.array([1.0, 0.0, 1.0, 0.0])
    miss_one = np.array([1.0, 0.0, 0.0, 0.0])  # misses the third label
    extra = np.array([1.0, 1.0, 1.0, 0.0])  # finds it, one false positive
    choice = SetDecodingChoice(4)
    for _ in range(9):
        choice.record(miss_one, extra, truth)
    # Higher summed F1, no label set lost, but fewer than 10 instances where exactly one
    # answer matched (none yet): not taken.
    assert not choice.use_sets
    # The rescored set wins label sets: taken once their (decayed) weight reaches 10.
    for _ in range(12):
        choice.record(miss_one, truth, truth)
        assert choice.use_sets == (choice.own_wins.sum() >= 10)
    assert choice.use_sets
    # The tree's own set wins more label sets than it loses: dropped, though the rescored
    # set's summed F1 is still the higher.
    for _ in range(12):
        choice.record(truth, extra, truth)
    tp, fp, fn = choice.counts[:, 0], choice.counts[:, 1], choice.counts[:, 2]
    f1 = (2 * tp / np.maximum(2 * tp + fp + fn, 1e-12)).sum(axis=1)
    assert f1[1] > f1[0]
    assert not choice.use_sets


def _xor_spread_stream(n, seed, n_features=8):
    """Labels a, b independent; the features' spread triples where exactly one of them is
    present: neither label alone changes a feature's distribution (invisible to the leaves'
    logistic models and to per-label naive Bayes), the label set does."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        a, b = rng.random(2) < 0.5
        x = rng.normal(0, 1, n_features) * (3.0 if a != b else 1.0)
        x[0] += 1.5 * a  # some mean signal for a
        yield ({f"f{i}": float(v) for i, v in enumerate(x)}, {"a": bool(a), "b": bool(b)})


@pytest.mark.parametrize("seed", range(2))
def test_rescored_label_sets_win_what_no_single_label_shows(seed, decoding_rows_scores):
    model = MLHAT(grace_period=10**6, seed=0)  # one leaf: the decoding alone differs

    def tree_rule_is_the_used_row(model, decisions):
        used = mlhat.ROW_TREE_SETS if model._set_choice.use_sets else mlhat.ROW_TREE_OWN
        assert (decisions[mlhat.RULE_TREE] == decisions[used]).all()

    errors, exact = decoding_rows_scores(
        model, _xor_spread_stream(1000, seed), (mlhat.ROW_TREE_OWN, mlhat.ROW_TREE_SETS),
        check=tree_rule_is_the_used_row,
    )
    assert errors[1] < 0.95 * errors[0]
    assert exact[1] > 1.4 * exact[0]
    assert model._set_choice.use_sets


def test_no_rescoring_at_weight_zero_or_on_sparse_input():
    data = list(_xor_spread_stream(300, 0))
    off = MLHAT(grace_period=10**6, label_set_evidence=0, seed=0)
    for x, y in data:
        off.predict_one(x)
        if off._last_rules is not None:
            decisions = off._last_rules[3][0]
            assert (decisions[mlhat.ROW_TREE_SETS] == decisions[mlhat.ROW_TREE_OWN]).all()
        off.learn_one(x, y)
    assert off._set_bayes is None
    sparse = MLHAT(sparse=True, seed=0)
    for x, y in data[:50]:
        sparse.predict_one(x)
        sparse.learn_one(x, y)
    assert sparse._set_bayes is None


def test_label_subsets_restart_their_label_sets_and_keep_learning():
    rng = np.random.default_rng(0)
    data = []
    for _ in range(300):
        y = rng.random(3) < 0.4
        x = rng.normal(0, 1, 4) + 2.0 * y[[0, 1, 2, 0]]
        data.append(({f"f{i}": float(v) for i, v in enumerate(x)},
                     {f"l{j}": bool(v) for j, v in enumerate(y)}))
    model = MLHAT(seed=0)
    for x, y in data[:200]:
        model.predict_one(x)
        model.learn_one(x, y)
    assert model._set_bayes.k > 1
    twin = model._restricted_copy([2, 0])  # what IHOMER does when it splits a cluster
    assert twin._set_bayes.k == 0 and twin._set_bayes.sets.shape[1] == 2
    assert twin._set_choice.counts.shape == (2, 3, 2)
    for x, y in data[200:]:
        assert set(twin.predict_one(x)) == {"l2", "l0"}
        twin.learn_one(x, {k: y[k] for k in ("l2", "l0")})
    assert twin._set_bayes.k > 1
    # IHOMER with small clusters: each cluster's label sets are over its own labels.
    ihomer = IHOMER(max_cluster_size=2, seed=0)
    for x, y in data:
        ihomer.predict_one(x)
        ihomer.learn_one(x, y)
    learners = [learner for learner in ihomer._learners if learner is not None]
    assert learners
    for learner in learners:
        n_labels = learner._selector.tp.shape[1]
        assert learner._set_bayes.sets.shape[1] == n_labels
        assert learner._set_choice.counts.shape == (2, 3, n_labels)


@pytest.mark.parametrize("value", [-0.1, True, "0.3", float("nan"), float("inf")])
def test_bad_label_set_weight_is_refused(value):
    with pytest.raises(ValueError, match="label_set_evidence"):
        MLHAT(label_set_evidence=value)
