"""The evaluation measures: exact bookkeeping against models that record their training data,
an oracle ranking (computed by retraining) beating a random one, known flip counts, noise
detection with an explainer that knows the flipped rows, seeds and errors."""

import subprocess
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.dummy import DummyClassifier

from boostkit.influence import BoostIn
from boostkit.influence.evaluate import (noise_detection, point_losses, poison, relabel,
                                         remove, targeted_edit)

ROOT = Path(__file__).resolve().parents[3]

# Every fit of the recording models in this process, in order (the measures refit clones, so
# the test cannot hold on to the fitted objects; n_jobs=None keeps the fits in this process).
FITS = []


# ---------------------------------------------------------------------------- test doubles
class MeanRegressor(RegressorMixin, BaseEstimator):
    """Predicts the weighted mean training target; records every training set it sees."""

    def fit(self, X, y, sample_weight=None):
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight)
        FITS.append(dict(X=np.array(X, dtype=float), y=np.array(y), w=w))
        self.mean_ = float(np.sum(w * y) / np.sum(w))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


class MajorityClassifier(ClassifierMixin, BaseEstimator):
    """Predicts the (weighted) class frequencies; records its training sets.

    With ``scores_from_features`` the probabilities are instead a softmax of the features
    1..K of each row (so the "highest other class" of a row is known from its features).
    """

    def __init__(self, scores_from_features=False):
        self.scores_from_features = scores_from_features

    def fit(self, X, y, sample_weight=None):
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight)
        FITS.append(dict(X=np.array(X, dtype=float), y=np.array(y), w=w))
        self.classes_ = np.unique(y)
        counts = np.array([w[y == c].sum() for c in self.classes_])
        self.frequencies_ = (counts + 0.5) / (counts.sum() + 0.5 * len(counts))
        return self

    def predict_proba(self, X):
        X = np.asarray(X, dtype=float)
        if self.scores_from_features:
            z = np.exp(X[:, 1:1 + len(self.classes_)])
            return z / z.sum(axis=1, keepdims=True)
        return np.tile(self.frequencies_, (len(X), 1))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class Spy(BaseEstimator):
    """Returns a known influence matrix / self influence; records the labels it is given."""

    def __init__(self, local=None, self_scores=None):
        self.local = local
        self.self_scores = self_scores

    def fit(self, model, X, y, sample_weight=None):
        self.y_fit_ = np.array(y)
        return self

    def local_influence(self, X_test, y_test, *, top_k=None):
        self.y_test_ = np.array(y_test)
        return np.array(self.local, dtype=float)

    def self_influence(self):
        return np.array(self.self_scores, dtype=float)


class Oracle(BaseEstimator):
    """Local influence by leave-one-out retraining: L_e(without i) - L_e(all)."""

    def fit(self, model, X, y, sample_weight=None):
        self.model_, self.X_, self.y_ = model, np.asarray(X), np.asarray(y)
        return self

    def local_influence(self, X_test, y_test, *, top_k=None):
        full = point_losses(clone(self.model_).fit(self.X_, self.y_), X_test, y_test)
        out = np.empty((len(self.y_), len(y_test)))
        for i in range(len(self.y_)):
            keep = np.arange(len(self.y_)) != i
            refit = clone(self.model_).fit(self.X_[keep], self.y_[keep])
            out[i] = point_losses(refit, X_test, y_test) - full
        return out


class RandomScores(BaseEstimator):
    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, model, X, y, sample_weight=None):
        self.n_ = len(y)
        return self

    def local_influence(self, X_test, y_test, *, top_k=None):
        return np.random.default_rng(self.random_state).normal(size=(self.n_, len(y_test)))

    def self_influence(self):
        return np.random.default_rng(self.random_state).normal(size=self.n_)


class KnowsFlips(BaseEstimator):
    """Self influence 1 on every row whose label differs from the clean labels."""

    def __init__(self, clean=None):
        self.clean = clean

    def fit(self, model, X, y, sample_weight=None):
        self.flipped_ = np.asarray(y) != np.asarray(self.clean)
        return self

    def self_influence(self):
        return self.flipped_.astype(float)


class GlobalOnly(Spy):
    def local_influence(self, X_test, y_test, *, top_k=None):
        raise NotImplementedError("GlobalOnly has no local influence")


# ---------------------------------------------------------------------------- data
def regression_data(n=20, n_test=3, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.arange(n), rng.normal(size=(n, 2))])  # column 0: row id
    y = rng.normal(size=n) * 10
    X_test = rng.normal(size=(n_test, 3))
    y_test = rng.normal(size=n_test) * 10
    return X, y, X_test, y_test


def fitted(model, X, y, w=None):
    FITS.clear()
    model = model.fit(X, y, sample_weight=w)
    FITS.clear()
    return model


def top_rows(column, count):
    """Most helpful rows first, ties to the smaller index (written independently)."""
    return sorted(range(len(column)), key=lambda i: (-column[i], i))[:count]


@pytest.fixture(scope="module")
def lgb_regression():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(70, 3))
    y = 3 * X[:, 0] + np.sin(2 * X[:, 1]) + 0.3 * rng.normal(size=70)
    model = lgb.LGBMRegressor(n_estimators=10, num_leaves=4, min_child_samples=5,
                              learning_rate=0.3, verbose=-1, n_jobs=1)
    return model.fit(X[:60], y[:60]), X[:60], y[:60], X[60:], y[60:]


# ---------------------------------------------------------------------------- remove
@pytest.mark.parametrize("weighted", [False, True])
def test_remove_deletes_exactly_the_top_rows(weighted):
    X, y, X_test, y_test = regression_data()
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 2.0, size=len(y)) if weighted else None
    local = rng.normal(size=(len(y), len(y_test)))
    local[4, 0] = local[7, 0] = local[:, 0].max() + 1  # a tie: row 4 goes first
    model = fitted(MeanRegressor(), X, y, w)
    table = remove(model, X, y, X_test, y_test, {"spy": Spy(local)}, counts=[0, 1, 3],
                   sample_weight=w)
    weights = np.ones(len(y)) if w is None else w
    assert len(table) == 3 * len(y_test)
    for row in table.itertuples():
        removed = top_rows(local[:, row.test_index], row.n_changed)
        keep = np.setdiff1d(np.arange(len(y)), removed)
        mean = np.sum(weights[keep] * y[keep]) / np.sum(weights[keep])
        np.testing.assert_allclose(row.loss, (y_test[row.test_index] - mean) ** 2, rtol=1e-12)
        base = (y_test[row.test_index] - np.sum(weights * y) / weights.sum()) ** 2
        np.testing.assert_allclose(row.loss_change, row.loss - base, rtol=1e-9, atol=1e-12)
    assert top_rows(local[:, 0], 2) == [4, 7]
    # one refit per distinct removed set (plus the unmodified one), never more
    seen = {frozenset(set(range(len(y))) - set(fit["X"][:, 0].astype(int))) for fit in FITS}
    expected = {frozenset(top_rows(local[:, e], c)) for e in range(3) for c in (0, 1, 3)}
    assert seen == expected
    assert len(FITS) == len(expected)
    for fit in FITS:
        ids = fit["X"][:, 0].astype(int)
        np.testing.assert_array_equal(fit["y"], y[ids])
        np.testing.assert_array_equal(fit["w"], weights[ids])


def test_remove_set_ranks_by_the_summed_influence():
    X, y, X_test, y_test = regression_data(n_test=4)
    local = np.random.default_rng(2).normal(size=(len(y), 4))
    model = fitted(MeanRegressor(), X, y)
    table = remove(model, X, y, X_test, y_test, {"spy": Spy(local)}, counts=[0, 2, 5],
                   target="set")
    assert table.test_index.isna().all() and table.n_changed.tolist() == [0, 2, 5]
    for row in table.itertuples():
        keep = np.setdiff1d(np.arange(len(y)), top_rows(local.sum(axis=1), row.n_changed))
        expected = np.mean((y_test - y[keep].mean()) ** 2)
        np.testing.assert_allclose(row.loss, expected, rtol=1e-12)
    assert table.loss_change.iloc[0] == 0.0


def test_fraction_zero_is_the_unmodified_refit(lgb_regression):
    model, X, y, X_test, y_test = lgb_regression
    table = remove(model, X, y, X_test, y_test, {"BoostIn": BoostIn()}, fractions=(0, 0.05))
    zero = table[table.n_changed == 0]
    assert (zero.loss_change == 0).all() and len(zero) == len(y_test)
    # LightGBM refits deterministically: the unmodified refit is the model itself
    np.testing.assert_allclose(zero.loss, point_losses(model, X_test, y_test), rtol=1e-12)
    assert (table[table.n_changed > 0].n_changed == 3).all()  # 0.05 * 60 rows


def test_oracle_beats_random_at_the_top_rows(lgb_regression):
    model, X, y, X_test, y_test = lgb_regression
    table = remove(model, X, y, X_test, y_test,
                   {"oracle": Oracle(), "random": RandomScores()}, counts=[1])
    one = table.pivot(index="test_index", columns="method", values="loss_change")
    # removing the oracle's top row is, by construction, the largest single-row increase
    # (for several rows the leave-one-out oracle is no longer the best set: not asserted)
    assert (one.oracle >= one.random - 1e-12).all()
    assert one.oracle.mean() > one.random.mean()
    assert one.oracle.min() > 0


# ---------------------------------------------------------------------------- relabel, poison
@pytest.mark.parametrize("target", ["each", "set"])
def test_relabel_binary_flips_the_top_rows(target):
    rng = np.random.default_rng(6)
    X = np.column_stack([np.arange(30), rng.normal(size=(30, 3))])
    y = np.where(rng.random(30) < 0.5, "no", "yes")
    local = rng.normal(size=(30, 2))
    for column in (local[:, 0], local[:, 1], local.sum(axis=1)):  # a case that can fail:
        top = top_rows(column, 4)  # the top rows mix labels, out of row order
        assert list(y[top]) != list(y[sorted(top)])
    model = fitted(MajorityClassifier(), X, y)
    table = relabel(model, X, y, X[:2], y[:2], {"spy": Spy(local)}, counts=[4], target=target)
    by_rows = {}
    for fit in FITS:
        changed = np.flatnonzero(fit["y"] != y)
        by_rows[frozenset(changed)] = fit
        np.testing.assert_array_equal(fit["X"], X)  # relabel keeps the features
        assert set(fit["y"][changed]) <= {"no", "yes"}
        np.testing.assert_array_equal(fit["y"][changed] == "yes", y[changed] == "no")
    if target == "set":
        assert frozenset(top_rows(local.sum(axis=1), 4)) in by_rows
        assert len(by_rows) == 2 and table.n_changed.tolist() == [4]
    else:
        for e in range(2):
            assert frozenset(top_rows(local[:, e], 4)) in by_rows
        assert table.n_changed.tolist() == [4, 4]
    assert all(len(rows) in (0, 4) for rows in by_rows)


def test_relabel_multiclass_goes_to_the_highest_other_class():
    rng = np.random.default_rng(5)
    n = 25
    X = np.column_stack([np.arange(n), rng.normal(size=(n, 3)) * 3])
    y = rng.integers(0, 3, size=n)
    local = rng.normal(size=(n, 1))
    model = fitted(MajorityClassifier(scores_from_features=True), X, y)
    relabel(model, X, y, X[:1], y[:1], {"spy": Spy(local)}, counts=[6])
    changed_fits = [fit for fit in FITS if (fit["y"] != y).any()]
    assert len(changed_fits) == 1
    new_y = changed_fits[0]["y"]
    rows = top_rows(local[:, 0], 6)
    for i in range(n):
        if i in rows:
            others = [c for c in range(3) if c != y[i]]
            assert new_y[i] == max(others, key=lambda c: X[i, 1 + c])
        else:
            assert new_y[i] == y[i]


@pytest.mark.parametrize("target", ["each", "set"])
def test_relabel_regression_moves_to_the_far_end(target):
    X, y, X_test, y_test = regression_data(n_test=2)
    y_test = np.array([y.max(), y.min()])  # one test target per side of the midpoint
    local = np.random.default_rng(6).normal(size=(len(y), 2))
    model = fitted(MeanRegressor(), X, y)
    table = relabel(model, X, y, X_test, y_test, {"spy": Spy(local)}, counts=[3],
                    target=target)
    for row in table.itertuples():
        if target == "each":
            rows = top_rows(local[:, row.test_index], 3)
            value = y.min() if y_test[row.test_index] >= (y.min() + y.max()) / 2 else y.max()
        else:
            rows = top_rows(local.sum(axis=1), 3)
            value = y.min() if y_test.mean() >= (y.min() + y.max()) / 2 else y.max()
        new = y.copy()
        new[rows] = value
        losses = (y_test - new.mean()) ** 2
        expected = losses[row.test_index] if target == "each" else losses.mean()
        np.testing.assert_allclose(row.loss, expected, rtol=1e-12)


@pytest.mark.parametrize("frame", [False, True])
def test_poison_replaces_features_with_column_means(frame):
    rng = np.random.default_rng(7)
    n = 24
    values = np.column_stack([np.arange(n), rng.normal(size=(n, 2))])
    values[3, 2] = np.nan
    y = rng.integers(0, 2, size=n)
    local = rng.normal(size=(n, 1))
    X = pd.DataFrame(values, columns=["id", "a", "b"]) if frame else values
    model = fitted(MajorityClassifier(), values, y)
    poison(model, X, y, X[:1] if not frame else X.iloc[:1], y[:1], {"spy": Spy(local)},
           counts=[5])
    fit = next(f for f in FITS if (f["y"] != y).any())
    rows = top_rows(local[:, 0], 5)
    means = np.nanmean(values, axis=0)
    for i in range(n):
        if i in rows:
            np.testing.assert_allclose(fit["X"][i], means, rtol=1e-12)
            assert fit["y"][i] == 1 - y[i]
        else:
            np.testing.assert_array_equal(fit["X"][i], values[i])
            assert fit["y"][i] == y[i]


# ---------------------------------------------------------------------------- targeted edit
def test_targeted_edit_finds_the_known_count():
    n = 21
    X = np.column_stack([np.arange(n), np.zeros(n)])
    y = np.array([1] * 13 + [0] * 8)
    model = fitted(MajorityClassifier(), X, y)
    supports = np.where(y == 1, 1.0, -1.0) + 0.01 * np.arange(n)  # the 1-rows rank first
    local = np.tile(supports[:, None], (1, 2))
    spies = {"good": Spy(local), "bad": Spy(-local)}
    table = targeted_edit(model, X, y, X[:2], spies, counts=range(1, 10))
    # relabeling k of the 13 ones: 13 - k ones vs 8 + k zeros flips first at k = 3
    good = table[table.method == "good"]
    assert good.flipped.all() and (good.n_changed == 3).all()
    assert (good.prediction == 1).all() and (good.new_prediction == 0).all()
    bad = table[table.method == "bad"]  # relabeling zeros to ones only strengthens the vote
    assert not bad.flipped.any() and bad.n_changed.isna().all()
    capped = targeted_edit(model, X, y, X[:1], {"good": Spy(local[:, :1])}, counts=[1, 2])
    assert not capped.flipped.iloc[0] and int(capped.cap.iloc[0]) == 2


def test_targeted_edit_ranks_for_the_predicted_label():
    n = 20
    X = np.column_stack([np.arange(n), np.zeros(n)])
    y = np.array([1] * 13 + [0] * 7)
    model = fitted(MajorityClassifier(), X, y)
    # the measure clones the explainer: read the labels back through a subclass hook
    seen = []

    class Recording(Spy):
        def local_influence(self, X_test, y_test, *, top_k=None):
            seen.append(np.array(y_test))
            return super().local_influence(X_test, y_test)

    explainers = {"spy": Recording(np.zeros((n, 3)))}
    targeted_edit(model, X, y, X[:3], explainers, counts=[1])
    np.testing.assert_array_equal(seen[0], [1, 1, 1])


# ---------------------------------------------------------------------------- noise detection
@pytest.mark.parametrize("n_classes", [2, 4])
def test_noise_detection_with_an_explainer_that_knows_the_flips(n_classes):
    rng = np.random.default_rng(8)
    n = 200
    X = rng.normal(size=(n, 2))
    y = rng.integers(0, n_classes, size=n)
    table = noise_detection(DummyClassifier(), X, y, {"knows": KnowsFlips(y)},
                            check_fractions=(0.2, 0.4, 0.6))
    assert (table.n_flipped == 80).all()
    np.testing.assert_allclose(table.fraction_found, [0.5, 1.0, 1.0])
    np.testing.assert_allclose(table.random_expected, [0.2, 0.4, 0.6])
    assert table.n_checked.tolist() == [40, 80, 120]


def test_noise_detection_random_ranking_finds_about_the_fraction():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(400, 2))
    y = rng.integers(0, 2, size=400)
    found = [noise_detection(DummyClassifier(), X, y, {"random": RandomScores()},
                             check_fractions=(0.1, 0.3), random_state=seed)
             .fraction_found.to_numpy() for seed in range(20)]
    np.testing.assert_allclose(np.mean(found, axis=0), [0.1, 0.3], atol=0.03)


def test_boostin_finds_flipped_labels_better_than_random():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    model = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1, n_jobs=1)
    table = noise_detection(model, X, y, {"BoostIn": BoostIn(), "random": RandomScores()},
                            noise_fraction=0.2, check_fractions=(0.2,))
    found = table.set_index("method").fraction_found
    assert found["BoostIn"] > 0.5 > found["random"]


# ---------------------------------------------------------------------------- seeds, parallel
def test_seeds_reproduce_and_differ(lgb_regression):
    model, X, y, X_test, y_test = lgb_regression
    run = lambda seed: remove(model, X, y, X_test[:3], y_test[:3],  # noqa: E731
                              {"random": RandomScores()}, counts=[2], random_state=seed)
    pd.testing.assert_frame_equal(run(1), run(1))
    assert not np.allclose(run(1).loss, run(2).loss)
    X2 = np.random.default_rng(0).normal(size=(100, 2))
    y2 = (X2[:, 0] > 0).astype(int)
    noise = lambda seed: noise_detection(DummyClassifier(), X2, y2,  # noqa: E731
                                         {"random": RandomScores()}, random_state=seed)
    pd.testing.assert_frame_equal(noise(3), noise(3))
    assert not noise(3).fraction_found.equals(noise(4).fraction_found)


def test_parallel_refits_match_sequential(lgb_regression):
    model, X, y, X_test, y_test = lgb_regression
    args = (model, X, y, X_test[:4], y_test[:4], {"BoostIn": BoostIn()})
    sequential = relabel(*args, counts=[0, 2, 4])
    parallel = relabel(*args, counts=[0, 2, 4], n_jobs=2)
    pd.testing.assert_frame_equal(sequential, parallel)


# ---------------------------------------------------------------------------- errors
def test_errors_name_the_argument(lgb_regression):
    model, X, y, X_test, y_test = lgb_regression
    explainers = {"BoostIn": BoostIn()}
    with pytest.raises(TypeError, match="model must be an estimator that sklearn.base.clone "
                                        "can copy.*Booster"):
        remove(model.booster_, X, y, X_test, y_test, explainers)
    with pytest.raises(TypeError, match="explainers must be a non-empty dict"):
        remove(model, X, y, X_test, y_test, [BoostIn()])
    with pytest.raises(TypeError, match=r"explainers\['b'\] is the class BoostIn"):
        remove(model, X, y, X_test, y_test, {"b": BoostIn})
    with pytest.raises(TypeError, match=r"explainers\['l'\].*no self_influence"):
        noise_detection(DummyClassifier(), X, y > 0, {"l": Oracle()})
    with pytest.raises(ValueError, match=r"fractions must lie in \[0, 1\)"):
        remove(model, X, y, X_test, y_test, explainers, fractions=(0.1, 1.5))
    with pytest.raises(ValueError, match="counts must lie in"):
        remove(model, X, y, X_test, y_test, explainers, counts=[59])
    with pytest.raises(ValueError, match="target must be one of"):
        remove(model, X, y, X_test, y_test, explainers, target="all")
    with pytest.raises(ValueError, match="y has 59 rows but X has 60"):
        remove(model, X, y[:-1], X_test, y_test, explainers)
    with pytest.raises(ValueError, match="y_test has 9 rows but X_test has 10"):
        remove(model, X, y, X_test, y_test[:-1], explainers)
    with pytest.raises(ValueError, match="X_test has 2 features, but X has 3"):
        remove(model, X, y, X_test[:, :2], y_test, explainers)
    with pytest.raises(ValueError, match="n_jobs must be"):
        remove(model, X, y, X_test, y_test, explainers, n_jobs=0)
    with pytest.raises(ValueError, match="random_state must be an integer"):
        remove(model, X, y, X_test, y_test, explainers, random_state=None)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        remove(model, X, y, X_test, y_test, explainers, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="model: targeted_edit .* needs a classifier"):
        targeted_edit(model, X, y, X_test, explainers)
    with pytest.raises(ValueError, match="model: noise_detection .* needs a classifier"):
        noise_detection(model, X, y, explainers)
    with pytest.raises(ValueError, match="noise_fraction must be"):
        noise_detection(DummyClassifier(), X, y > 0, {"k": KnowsFlips(y > 0)},
                        noise_fraction=1.2)
    unfitted = lgb.LGBMRegressor()
    with pytest.raises(Exception, match="model: this LGBMRegressor is not fitted"):
        remove(unfitted, X, y, X_test, y_test, explainers)


def test_global_only_explainer_says_why():
    X, y, X_test, y_test = regression_data()
    model = fitted(MeanRegressor(), X, y)
    with pytest.raises(NotImplementedError) as info:
        remove(model, X, y, X_test, y_test, {"loss": GlobalOnly()})
    assert "explainers['loss']" in "".join(info.value.__notes__)


def test_classifier_labels_must_be_known():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    model = lgb.LGBMClassifier(n_estimators=3, verbose=-1, n_jobs=1).fit(X, y)
    with pytest.raises(ValueError, match="y has labels the model never saw: \\[7\\]"):
        remove(model, X, np.where(y == 1, 7, 0), X[:2], y[:2], {"b": BoostIn()})


# ---------------------------------------------------------------------------- benchmark smoke
@pytest.mark.slow
def test_benchmark_quick_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "influence_evaluation.py"), "--quick",
         "--plot", str(tmp_path / "plot.png")],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| BoostIn" in result.stdout
    assert (tmp_path / "plot.png").stat().st_size > 10_000


def test_frames_and_string_labels_with_lightgbm():
    rng = np.random.default_rng(12)
    X = pd.DataFrame(rng.normal(size=(90, 3)), columns=["age", "income", "score"])
    y = np.where(X.age + 0.3 * rng.normal(size=90) > 0, "yes", "no")
    model = lgb.LGBMClassifier(n_estimators=8, num_leaves=4, min_child_samples=5, verbose=-1,
                               n_jobs=1).fit(X.iloc[:80], y[:80])
    args = (model, X.iloc[:80], y[:80], X.iloc[80:], y[80:], {"BoostIn": BoostIn()})
    for measure in (remove, relabel, poison):
        table = measure(*args, counts=[0, 4])
        assert len(table) == 20 and np.isfinite(table.loss).all()
        assert (table[table.n_changed == 0].loss_change == 0).all()
        assert (table[table.n_changed == 4].loss_change != 0).any()
    edits = targeted_edit(model, X.iloc[:80], y[:80], X.iloc[80:83], {"BoostIn": BoostIn()},
                          counts=[5, 40])
    assert set(edits.prediction) <= {"yes", "no"}
    flipped = edits[edits.flipped]
    assert (flipped.new_prediction != flipped.prediction).all()


def test_point_losses_known_values():
    X = np.zeros((8, 1))
    y = np.array(["a"] * 6 + ["b"] * 2)
    prior = DummyClassifier(strategy="prior").fit(X, y)
    np.testing.assert_allclose(point_losses(prior, X[:3], ["a", "b", "c"]),
                               [-np.log(0.75), -np.log(0.25), -np.log(1e-15)], rtol=1e-12)
    mean = MeanRegressor().fit(X, np.arange(8.0))  # predicts 3.5
    np.testing.assert_allclose(point_losses(mean, X[:2], [3.5, 0.5]), [0.0, 9.0])
