"""MLHAT's tree decoding with naive-Bayes evidence (a product of experts at the leaf): its
kernels against naive NumPy twins, the leaf's two decodings, the prequential choice between
them, and what it buys on a stream the leaf models cannot see but naive Bayes can."""

import numpy as np
import pytest

from streamml.multilabel import MLHAT, _kernels, mlhat
from streamml.multilabel._rules import DecodingChoice
from streamml.multilabel._tree import ChainModel, Leaf


def _logit(p):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


@pytest.mark.parametrize("seed", range(3))
def test_evidence_shift_kernel_matches_its_numpy_twin(seed):
    rng = np.random.default_rng(seed)
    n_labels = 9
    proba = rng.uniform(0, 1, n_labels)
    proba[0], proba[1] = 0.0, 1.0  # clipped ends
    nb = rng.uniform(0, 1, n_labels)
    nb[2] = 1.0
    positives = rng.uniform(0, 50, n_labels)
    n, weight = 60.0, 0.3
    prior = (positives + 0.5) / (n + 1)
    expected_evidence = weight * (_logit(nb) - _logit(prior))
    expected_shifted = 1 / (1 + np.exp(-np.clip(_logit(proba) + expected_evidence, -30, 30)))
    evidence, shifted = np.empty(n_labels), np.empty(n_labels)
    _kernels.evidence_shift(proba, nb, positives, n, weight, evidence, shifted)
    np.testing.assert_allclose(evidence, expected_evidence, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(shifted, expected_shifted, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_evidence_decodings_kernel_matches_its_numpy_twin(seed):
    rng = np.random.default_rng(seed)
    rows = (rng.random((7, 5)) < 0.4).astype(float)
    rows[3] = rows[5]  # equal rows: the first one wins ties
    score = rng.normal(0, 1, 7)
    score[5] = score[3]
    evidence = rng.normal(0, 1, 5)
    plain_scores = np.concatenate([score[:1], score[2:]])
    k = int(np.argmax(plain_scores))
    expected_plain = 0 if k == 0 else k + 1
    expected_shifted = int(np.argmax(score + rows @ evidence))
    assert _kernels.evidence_decodings(score, rows, evidence) == (expected_plain,
                                                                  expected_shifted)


@pytest.mark.parametrize("seed", range(3))
def test_decoding_record_kernel_matches_its_numpy_twin(seed):
    rng = np.random.default_rng(seed)
    errors, wins = np.zeros(2), np.zeros(2)
    expected_errors, expected_wins = np.zeros(2), np.zeros(2)
    for _ in range(50):
        y = (rng.random(4) < 0.4).astype(float)
        a = np.where(rng.random(4) < 0.15, 1 - y, y)
        b = np.where(rng.random(4) < 0.15, 1 - y, y)
        _kernels.decoding_record(a, b, y, errors, wins)
        wrong_a, wrong_b = np.sum(a != y), np.sum(b != y)
        expected_errors += [wrong_a, wrong_b]
        expected_wins += [wrong_a == 0 and wrong_b > 0, wrong_b == 0 and wrong_a > 0]
    assert errors.tolist() == expected_errors.tolist()
    assert wins.tolist() == expected_wins.tolist()


def _trained_leaf(seed=0, n=120, n_labels=4, n_features=5):
    rng = np.random.default_rng(seed)
    model = ChainModel(1, n_labels, n_features, True)
    leaf = Leaf(0, n_labels, n_features, model, 0.002)
    ones = np.ones(1)
    for _ in range(n):
        x = rng.normal(0, 1, n_features)
        y = (x[:n_labels] + rng.normal(0, 1, n_labels) > 0.5).astype(float)
        leaf.observe(x, x, y, np.flatnonzero(y), 1.0, ones, 0.4, 0.0, 0.999)
        leaf.refresh_candidates(16)
    return leaf, rng


def test_leaf_decodings_without_evidence_equal_decide_and_strong_evidence_rules():
    leaf, rng = _trained_leaf()
    for _ in range(20):
        x = rng.normal(0, 1, 5)
        proba = leaf.proba(x)
        plain = leaf.decide(x)
        a, b = leaf.decide_with_evidence(x, proba=proba)
        assert a.tolist() == b.tolist() == plain.tolist()
        # Any evidence leaves the first answer as decide's.
        evidence = rng.normal(0, 1, 4)
        shifted = 1 / (1 + np.exp(-(_logit(proba) + evidence)))
        a, _ = leaf.decide_with_evidence(x, proba=proba, evidence=evidence, shifted=shifted)
        assert a.tolist() == plain.tolist()
        # Overwhelming evidence decides every label by its sign.
        strong = np.where(rng.random(4) < 0.5, -50.0, 50.0)
        shifted = 1 / (1 + np.exp(-np.clip(_logit(proba) + strong, -30, 30)))
        _, b = leaf.decide_with_evidence(x, proba=proba, evidence=strong, shifted=shifted)
        assert b.tolist() == (strong > 0).astype(float).tolist()


def test_decoding_choice_takes_the_evidence_only_while_it_errs_less_and_loses_no_label_sets():
    truth = np.array([1.0, 0.0, 1.0, 0.0])
    one_off = np.array([1.0, 1.0, 1.0, 0.0])
    two_off = np.array([1.0, 1.0, 1.0, 1.0])
    choice = DecodingChoice()
    assert not choice.use_evidence  # nothing counted yet: the plain decoding
    # Equal errors: the evidence is not taken.
    for _ in range(5):
        choice.record(one_off, one_off, truth)
        assert not choice.use_evidence
    # Fewer label errors, the same whole label sets (none right): taken.
    choice.record(two_off, one_off, truth)
    assert choice.use_evidence
    # The plain decoding right 3 times where the evidence was not (3 > 0.5 sqrt(3)), though the
    # evidence still errs less over all: dropped.
    for _ in range(8):
        choice.record(two_off, one_off, truth)
    for _ in range(3):
        choice.record(truth, one_off, truth)
    assert choice.errors[1] < choice.errors[0]
    assert not choice.use_evidence
    # Losses and wins alternating, the evidence erring less elsewhere: it stays.
    even = DecodingChoice()
    for i in range(400):
        if i % 4 == 0:
            even.record(one_off, truth, truth)
        elif i % 4 == 1:
            even.record(truth, one_off, truth)
        else:
            even.record(two_off, one_off, truth)
        if i >= 3:
            assert even.use_evidence
    # More whole label sets right with the evidence but more label errors: not taken.
    costly = DecodingChoice()
    for i in range(300):
        if i % 3:
            costly.record(one_off, truth, truth)
        else:
            costly.record(truth, 1.0 - truth, truth)
    assert costly.plain_wins[1] > costly.plain_wins[0]
    assert costly.errors[1] > costly.errors[0]
    assert not costly.use_evidence


def _variance_stream(n, seed, n_labels=4, n_features=12):
    """Each label triples the spread of its own features, not their mean: the leaves'
    logistic models cannot see it, Gaussian naive Bayes can."""
    rng = np.random.default_rng(seed)
    owner = np.arange(n_features) % n_labels
    for _ in range(n):
        y = rng.random(n_labels) < 0.3
        x = rng.normal(0, 1, n_features) * np.where(y[owner], 3.0, 1.0)
        yield ({f"f{i}": float(v) for i, v in enumerate(x)},
               {f"l{j}": bool(b) for j, b in enumerate(y)})


@pytest.mark.parametrize("seed", range(2))
def test_evidence_decoding_wins_label_sets_the_leaf_model_cannot_see(seed,
                                                                     decoding_rows_scores):
    model = MLHAT(grace_period=10**6, seed=0)  # one leaf: the decoding alone differs
    errors, exact = decoding_rows_scores(model, _variance_stream(1200, seed),
                                         (mlhat.ROW_TREE_PLAIN, mlhat.ROW_TREE_EVIDENCE))
    assert errors[1] < 0.9 * errors[0]
    assert exact[1] > 1.2 * exact[0]
    assert model._decoding.use_evidence
    # With the evidence off, the tree answers its plain decoding.
    off = MLHAT(grace_period=10**6, naive_bayes_evidence=0, seed=0)
    for x, y in _variance_stream(400, seed):
        off.predict_one(x)
        decisions = off._last_rules[3][0] if off._last_rules else None
        if decisions is not None:
            assert (decisions[mlhat.ROW_TREE_PLAIN] == decisions[mlhat.ROW_TREE_EVIDENCE]).all()
        off.learn_one(x, y)


def test_sparse_leaves_get_no_evidence():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    data = []
    for _ in range(300):
        y = {f"l{j}": bool(rng.random() < 0.3) for j in range(3)}
        x = {w: 1.0 for w in rng.choice(words, 8, replace=False)}
        x.update({f"topic{j}": 1.0 for j, v in enumerate(y.values()) if v})
        data.append((x, y))
    answers = []
    for weight in (0.0, 0.05):
        model = MLHAT(sparse=True, naive_bayes_evidence=weight, seed=0)
        out = []
        for x, y in data:
            out.append(model.predict_one(x))
            model.learn_one(x, y)
        answers.append(out)
    assert answers[0] == answers[1]


@pytest.mark.parametrize("value", [-0.1, True, "0.05", float("inf")])
def test_bad_evidence_weight_is_refused(value):
    with pytest.raises(ValueError, match="naive_bayes_evidence"):
        MLHAT(naive_bayes_evidence=value)
