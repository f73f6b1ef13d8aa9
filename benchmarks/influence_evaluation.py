"""Does the paper's evaluation reproduce? Removal, set removal and noise detection on bundled data.

Brophy et al. (2023) find on 22 data sets that (1) BoostIn's removal curve beats Random and
matches or beats LeafInfluence, (2) BoostIn's self influence finds more flipped labels than
Random and Loss, (3) LOO finds the single most influential row but not the most influential set.
This script checks the three findings with ``boostkit.influence.evaluate`` on data available
offline, LightGBM 100 trees x 15 leaves (learning rate 0.1, other settings LightGBM's defaults):

- diabetes (regression, scikit-learn's load_diabetes): 442 rows (not the paper's "diabetes",
  which is the UCI Diabetes 130-US hospitals readmission task, binary, ~100,000 rows);
- breast_cancer (binary, load_breast_cancer): 569 rows;
- synthetic3 (3 classes, make_classification, 600 rows, 10 features, 3% label noise).

Each is split at random (seed 0) into ``--n-test`` test points (100, as in the paper) and the
rest for training.

- Remove (per test point): delete the top 0-2% most helpful rows for each test point, refit,
  record the test loss increase; mean +- 95% CI (t) over test points. 0.25% is one row here.
- Remove (set): the test points are cut into 5 disjoint sets; rank by influence summed over a
  set, remove the top 0-10%, refit, record the set's mean loss increase; CI over the 5 sets.
- Relabel / poison (set): as the set removal, relabeling (poison: and mean-imputing) the rows.
- Targeted edit (classification): relabel the top 1, 2, 4, ..., 32 rows for each of the first
  ``--n-edit`` test points until its prediction flips; fewer rows = better.
- Noise detection (classification): flip 40% of the training labels, fit the model and every
  explainer on the noisy data, rank by self influence; fraction of flipped rows found in the
  top 1-30%; CI over ``--seeds`` seeds. LOO is left out here (n_train refits per seed).

Every explainer is fitted once per data set; the removal measures get its influence matrix
through a small wrapper (so the per-point and set versions share one LOO fit).

``--diagnose`` reruns only the per-test-point removal of BoostIn against LeafInfluence on
diabetes with one change at a time (test split seed, both methods in ``exact`` mode, 20 or 200
trees, Friedman #1 of the same size instead of diabetes) and writes its own RESULTS section.

Usage::

    python benchmarks/influence_evaluation.py            # default run (~10-20 min, 2 cores)
    python benchmarks/influence_evaluation.py --quick    # smoke run (~1-2 min)
    python benchmarks/influence_evaluation.py --write    # also update benchmarks/RESULTS.md
    python benchmarks/influence_evaluation.py --diagnose # BoostIn vs LeafInfluence, diabetes
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _results import write_section  # noqa: E402  (benchmarks/ is the script folder)

FRACTIONS = (0.0, 0.0025, 0.005, 0.01, 0.015, 0.02)
SET_FRACTIONS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1)
CHECK_FRACTIONS = (0.01, 0.05, 0.1, 0.2, 0.3)
EDIT_COUNTS = (1, 2, 4, 8, 16, 32)
N_SETS = 5
REMOVAL_METHODS = ("BoostIn", "LeafInfluence", "TREX", "LOO", "Random")
NOISE_METHODS = ("BoostIn", "LeafInfluence", "TREX", "Loss", "Random")
COLORS = {"BoostIn": "tab:blue", "LeafInfluence": "tab:orange", "TREX": "tab:green",
          "LOO": "tab:red", "Random": "tab:gray", "Loss": "tab:purple"}


# ----------------------------------------------------------------------------- set-up
class Precomputed(BaseEstimator):
    """An explainer whose influence was computed beforehand (one fit serves every measure)."""

    def __init__(self, local=None):
        self.local = local

    def fit(self, model, X, y, sample_weight=None):
        return self

    def local_influence(self, X_test, y_test, *, top_k=None):
        return self.local


def make_explainer(name, quick):
    from boostkit.influence import TREX, BoostIn
    from boostkit.influence.baselines import Loss, Random
    from boostkit.influence.leaf_influence import LeafInfluence
    from boostkit.influence.retraining import LOO

    return {"BoostIn": lambda: BoostIn(), "LeafInfluence": lambda: LeafInfluence(),
            "TREX": lambda: TREX(), "LOO": lambda: LOO(n_jobs=-1),
            "Random": lambda: Random(random_state=0), "Loss": lambda: Loss()}[name]()


def datasets(n_test, quick):
    from sklearn.datasets import load_breast_cancer, load_diabetes, make_classification

    X, y = make_classification(n_samples=600, n_features=10, n_informative=6, n_redundant=2,
                               n_classes=3, n_clusters_per_class=2, flip_y=0.03,
                               random_state=0)
    out = [("diabetes", "regression", *load_diabetes(return_X_y=True)),
           ("breast_cancer", "binary", *load_breast_cancer(return_X_y=True)),
           ("synthetic3", "multiclass", X, y)]
    rng = np.random.default_rng(0)
    for name, task, X, y in out:
        order = rng.permutation(len(y))
        if quick:
            order = order[:150 + n_test]
        test, train = order[:n_test], order[n_test:]
        yield name, task, X[train], y[train], X[test], y[test]


def make_model(task, quick):
    import lightgbm as lgb

    cls = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
    return cls(n_estimators=20 if quick else 100, num_leaves=15, learning_rate=0.1,
               verbose=-1, n_jobs=1)


def ci(values):
    """Mean and half-width of the 95% t confidence interval."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return float(values.mean()) if len(values) else np.nan, np.nan
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half)


# ----------------------------------------------------------------------------- runs
def influence_matrices(names, model, X, y, X_test, y_test, n_edit, quick, notes):
    """Fit every explainer once: influence on y_test, and on the model's predicted labels of
    the first ``n_edit`` test points (what targeted_edit ranks by)."""
    matrices, predicted, seconds = {}, {}, {}
    labels = model.predict(X_test[:n_edit]) if n_edit else None
    for name in names:
        start = time.perf_counter()
        try:
            explainer = make_explainer(name, quick).fit(model, X, y)
            matrices[name] = np.asarray(explainer.local_influence(X_test, y_test))
        except Exception as err:  # a method that fails is reported, not hidden
            notes.append(f"{name} failed on this data set: {type(err).__name__}: "
                         f"{str(err)[:200]}")
            continue
        seconds[name] = time.perf_counter() - start
        if n_edit:
            predicted[name] = np.asarray(explainer.local_influence(X_test[:n_edit], labels))
    return matrices, predicted, seconds


def run_dataset(name, task, X, y, X_test, y_test, args, n_jobs):
    from boostkit.influence.evaluate import (noise_detection, poison, relabel, remove,
                                             targeted_edit)

    notes = []
    model = make_model(task, args.quick).fit(X, y)
    n_edit = 0 if task == "regression" else min(args.n_edit, len(y_test))
    matrices, predicted, seconds = influence_matrices(REMOVAL_METHODS, model, X, y, X_test,
                                                      y_test, n_edit, args.quick, notes)
    explainers = {m: Precomputed(matrices[m]) for m in REMOVAL_METHODS if m in matrices}
    start = time.perf_counter()
    each = remove(model, X, y, X_test, y_test, explainers, fractions=FRACTIONS, n_jobs=n_jobs,
                  verbose=args.verbose)
    seconds["remove (refits)"] = time.perf_counter() - start

    set_tables = {}
    for measure in (remove, relabel, poison):
        start = time.perf_counter()
        parts = []
        for k, part in enumerate(np.array_split(np.arange(len(y_test)), N_SETS)):
            subset = {m: Precomputed(matrices[m][:, part]) for m in explainers}
            table = measure(model, X, y, X_test[part], y_test[part], subset,
                            fractions=SET_FRACTIONS, target="set", n_jobs=n_jobs,
                            verbose=args.verbose)
            parts.append(table.assign(set_index=k))
        set_tables[measure.__name__] = pd.concat(parts, ignore_index=True)
        seconds[f"{measure.__name__} set (refits)"] = time.perf_counter() - start
    sets = set_tables["remove"]

    edits = None
    if n_edit:
        start = time.perf_counter()
        edits = targeted_edit(model, X, y, X_test[:n_edit],
                              {m: Precomputed(predicted[m]) for m in predicted},
                              counts=EDIT_COUNTS, n_jobs=n_jobs, verbose=args.verbose)
        seconds["targeted edit (refits)"] = time.perf_counter() - start

    noise = None
    if task != "regression":
        start = time.perf_counter()
        parts = []
        for seed in range(args.seeds):
            for method in NOISE_METHODS:
                try:
                    parts.append(noise_detection(make_model(task, args.quick), X, y,
                                                 {method: make_explainer(method, args.quick)},
                                                 check_fractions=CHECK_FRACTIONS,
                                                 random_state=seed))
                except Exception as err:
                    notes.append(f"noise detection with {method} failed: "
                                 f"{type(err).__name__}: {str(err)[:200]}")
        noise = pd.concat(parts, ignore_index=True) if parts else None
        seconds["noise detection"] = time.perf_counter() - start
    for frame in [each, *set_tables.values(), noise, edits]:
        if frame is not None:
            frame["dataset"] = name
    return dict(name=name, task=task, n_train=len(y), n_test=len(y_test), each=each,
                sets=sets, set_tables=set_tables, edits=edits, noise=noise, seconds=seconds,
                notes=notes)


# ----------------------------------------------------------------------------- findings
def paired(table, a, b, key, amounts):
    """Per-unit mean over the amounts of loss_change(a) - loss_change(b): mean, CI half."""
    part = table[table.n_changed.gt(0) & table.fraction.isin(amounts)]
    wide = part.pivot_table(index=key, columns="method", values="loss_change", aggfunc="mean")
    if a not in wide or b not in wide:
        return np.nan, np.nan
    return ci((wide[a] - wide[b]).to_numpy())


def paired_at(part, a, b, key):
    """Mean and CI half-width of loss_change(a) - loss_change(b), paired by ``key``."""
    wide = part.pivot_table(index=key, columns="method", values="loss_change", aggfunc="mean")
    return ci((wide[a] - wide[b]).to_numpy())


def verdict(mean, half, better="beats"):
    if not np.isfinite(mean):
        return "n/a"
    if not np.isfinite(half):
        return f"{better}" if mean > 0 else "worse"
    if mean - half > 0:
        return better
    if mean + half < 0:
        return "worse"
    return "matches (CI includes 0)"


def findings(results):
    lines = []
    for r in results:
        each, sets, nonzero = r["each"], r["sets"], [f for f in FRACTIONS if f > 0]
        d = r["name"]
        m, h = paired(each, "BoostIn", "Random", "test_index", nonzero)
        lines.append(f"- {d}: BoostIn vs Random, removal (mean loss change over 0.25-2%, paired "
                     f"over test points): {m:+.4g} +- {h:.2g} -> **{verdict(m, h)}**")
        m, h = paired(each, "BoostIn", "LeafInfluence", "test_index", nonzero)
        lines.append(f"- {d}: BoostIn vs LeafInfluence, removal: {m:+.4g} +- {h:.2g} -> "
                     f"**{verdict(m, h)}**")
        one = each[each.n_changed == 1].groupby("method").loss_change.mean()
        last = each[each.fraction == FRACTIONS[-1]]
        top = last.groupby("method").loss_change.mean()
        if "LOO" in one and len(one) > 1:
            rival = one.drop("LOO").idxmax()
            m1, h1 = paired_at(each[each.n_changed == 1], "LOO", rival, "test_index")
            best = top.drop("LOO").idxmax()
            m2, h2 = paired_at(last, "LOO", best, "test_index")
            lines.append(
                f"- {d}: LOO at 1 row: rank {int(one.rank(ascending=False)['LOO'])} of "
                f"{len(one)}, LOO minus the best other ({rival}) {m1:+.4g} +- {h1:.2g} -> "
                f"**{verdict(m1, h1, 'best')}**; at {FRACTIONS[-1]:.0%} "
                f"({int(last.n_changed.iloc[0])} rows): rank "
                f"{int(top.rank(ascending=False)['LOO'])}, LOO minus {best} {m2:+.4g} +- "
                f"{h2:.2g} -> **{verdict(m2, h2, 'best')}**")
            big = sets[sets.fraction == SET_FRACTIONS[-1]]
            means = big.groupby("method").loss_change.mean()
            best = means.drop("LOO").idxmax()
            m3, h3 = paired_at(big, "LOO", best, "set_index")
            lines.append(f"- {d}: LOO, set removal of {SET_FRACTIONS[-1]:.0%}: rank "
                         f"{int(means.rank(ascending=False)['LOO'])} of {len(means)}, LOO "
                         f"minus {best} {m3:+.4g} +- {h3:.2g} -> "
                         f"**{verdict(m3, h3, 'best')}**")
        noise = r["noise"]
        if noise is not None:
            for other in ("Random", "Loss"):
                wide = noise.pivot_table(index="seed", columns="method",
                                         values="fraction_found", aggfunc="mean")
                if "BoostIn" in wide and other in wide:
                    m, h = ci((wide["BoostIn"] - wide[other]).to_numpy())
                    lines.append(f"- {d}: BoostIn vs {other}, noise detection (fraction of "
                                 f"flipped rows found, mean over top 1-30%, paired over seeds): "
                                 f"{m:+.3f} +- {h:.2g} -> **{verdict(m, h)}**")
    return lines


# ----------------------------------------------------------------------------- report
def curve_table(frame, key, amounts, value="loss_change", unit="fraction"):
    rows = []
    for method, part in frame.groupby("method", sort=False):
        cells = []
        for amount in amounts:
            values = part.loc[part[unit] == amount].groupby(key)[value].mean()
            mean, half = ci(values.to_numpy())
            cells.append(f"{mean:.4g} +- {half:.2g}" if np.isfinite(half) else f"{mean:.4g}")
        rows.append(f"| {method} | " + " | ".join(cells) + " |")
    return rows


def report(results, args, elapsed):
    lines = [f"LightGBM {20 if args.quick else 100} trees x 15 leaves; mean +- 95% CI. Loss: "
             f"squared error (diabetes), log loss (classification). Total wall time "
             f"{elapsed / 60:.1f} min on {os.cpu_count()} cores (shared machine).", ""]
    for r in results:
        lines.append(f"### {r['name']} ({r['task']}, n_train = {r['n_train']}, "
                     f"{r['n_test']} test points)")
        lines.append("")
        counts = r["each"].drop_duplicates("fraction").set_index("fraction").n_changed
        lines.append("Remove, per test point: test loss increase (CI over test points)")
        lines.append("")
        lines.append("| method | " + " | ".join(f"{f:.2%} ({counts[f]})" for f in FRACTIONS[1:])
                     + " |")
        lines.append("|---" * len(FRACTIONS) + "|")
        lines += curve_table(r["each"], "test_index", FRACTIONS[1:])
        lines.append("")
        counts = r["sets"].drop_duplicates("fraction").set_index("fraction").n_changed
        lines.append(f"Remove, set version: mean loss increase over a set of "
                     f"{r['n_test'] // N_SETS} test points (CI over {N_SETS} sets)")
        lines.append("")
        lines.append("| method | " + " | ".join(f"{f:.1%} ({counts[f]})"
                                                for f in SET_FRACTIONS[1:]) + " |")
        lines.append("|---" * len(SET_FRACTIONS) + "|")
        lines += curve_table(r["sets"], "set_index", SET_FRACTIONS[1:])
        lines.append("")
        for measure in ("relabel", "poison"):
            lines.append(f"{measure.capitalize()}, set version: mean loss increase over the "
                         f"set (CI over {N_SETS} sets)")
            lines.append("")
            lines.append("| method | " + " | ".join(f"{f:.1%} ({counts[f]})"
                                                    for f in SET_FRACTIONS[1:]) + " |")
            lines.append("|---" * len(SET_FRACTIONS) + "|")
            lines += curve_table(r["set_tables"][measure], "set_index", SET_FRACTIONS[1:])
            lines.append("")
        if r["edits"] is not None:
            edits = r["edits"]
            n_edit = edits.test_index.nunique()
            lines.append(f"Targeted edit: rows relabeled (top of each ranking, tried "
                         f"{', '.join(map(str, EDIT_COUNTS))}) until the prediction of each "
                         f"of the first {n_edit} test points flips")
            lines.append("")
            lines.append(f"| method | flipped within {EDIT_COUNTS[-1]} rows | median rows "
                         f"needed (> {EDIT_COUNTS[-1]} if not flipped) |")
            lines.append("|---|---|---|")
            for method, part in edits.groupby("method", sort=False):
                needed = part.n_changed.astype("float64").fillna(np.inf).to_numpy()
                median = np.median(needed)
                shown = f"> {EDIT_COUNTS[-1]}" if not np.isfinite(median) else f"{median:g}"
                lines.append(f"| {method} | {int(part.flipped.sum())} / {len(part)} | "
                             f"{shown} |")
            lines.append("")
        if r["noise"] is not None:
            lines.append(f"Noise detection: fraction of the flipped rows (40%) found in the top "
                         f"k% by self influence (CI over {args.seeds} seeds; random ranking = "
                         f"k)")
            lines.append("")
            lines.append("| method | " + " | ".join(f"top {f:.0%}" for f in CHECK_FRACTIONS)
                         + " |")
            lines.append("|---" * (len(CHECK_FRACTIONS) + 1) + "|")
            lines += curve_table(r["noise"], "seed", CHECK_FRACTIONS, value="fraction_found",
                                 unit="check_fraction")
            lines.append("")
        times = ", ".join(f"{k} {v:.1f} s" for k, v in r["seconds"].items())
        lines.append(f"Times: {times}.")
        lines += [f"Note: {n}" for n in r["notes"]]
        lines.append("")
    lines.append("### Findings")
    lines.append("")
    lines += findings(results)
    return "\n".join(lines)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, len(results), figsize=(5 * len(results), 12), squeeze=False)
    for j, r in enumerate(results):
        for i, (frame, key, amounts, title) in enumerate([
                (r["each"], "test_index", FRACTIONS, "remove (per test point)"),
                (r["sets"], "set_index", SET_FRACTIONS, "remove (set)")]):
            ax = axes[i, j]
            for method, part in frame.groupby("method", sort=False):
                stats_ = [ci(part.loc[part.fraction == f].groupby(key).loss_change.mean())
                          for f in amounts]
                mean = np.array([s[0] for s in stats_])
                half = np.nan_to_num(np.array([s[1] for s in stats_]))
                x = 100 * np.asarray(amounts)
                ax.plot(x, mean, marker="o", ms=3, label=method, color=COLORS.get(method))
                ax.fill_between(x, mean - half, mean + half, alpha=0.15,
                                color=COLORS.get(method))
            ax.set_title(f"{r['name']}: {title}")
            ax.set_xlabel("training rows removed (%)")
            ax.set_ylabel("test loss increase")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        ax = axes[2, j]
        if r["noise"] is None:
            ax.axis("off")
            ax.text(0.5, 0.5, f"{r['name']}: no label noise\n(regression)", ha="center",
                    va="center")
            continue
        for method, part in r["noise"].groupby("method", sort=False):
            stats_ = [ci(part.loc[part.check_fraction == f].fraction_found)
                      for f in CHECK_FRACTIONS]
            mean = np.array([s[0] for s in stats_])
            half = np.nan_to_num(np.array([s[1] for s in stats_]))
            x = 100 * np.asarray(CHECK_FRACTIONS)
            ax.plot(x, mean, marker="o", ms=3, label=method, color=COLORS.get(method))
            ax.fill_between(x, mean - half, mean + half, alpha=0.15, color=COLORS.get(method))
        ax.plot(100 * np.asarray(CHECK_FRACTIONS), CHECK_FRACTIONS, ls="--", color="k",
                lw=0.8, label="random (expected)")
        ax.set_title(f"{r['name']}: noise detection (40% flipped)")
        ax.set_xlabel("training rows checked (%)")
        ax.set_ylabel("fraction of flipped rows found")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ----------------------------------------------------------------------------- diagnosis
# BoostIn vs LeafInfluence on diabetes: the same per-test-point removal under one change at a
# time (split, modes, model size, a second regression set of the same size).
DIAGNOSE_VARIANTS = (
    # (label, data, split seed, LightGBM settings, BoostIn mode, LeafInfluence mode)
    ("as in the main run", "diabetes", 0, {}, "reference", "reference"),
    ("split seed 1", "diabetes", 1, {}, "reference", "reference"),
    ("split seed 2", "diabetes", 2, {}, "reference", "reference"),
    ("both `exact`", "diabetes", 0, {}, "exact", "exact"),
    ("20 trees", "diabetes", 0, {"n_estimators": 20}, "reference", "reference"),
    ("200 trees (the authors' LightGBM setting for their small regression sets)", "diabetes",
     0, {"n_estimators": 200}, "reference", "reference"),
    ("Friedman #1 (442 rows, noise 1), split seed 0", "friedman1", 0, {}, "reference",
     "reference"),
)


def _regression_data(name):
    from sklearn.datasets import load_diabetes, make_friedman1

    if name == "diabetes":
        return load_diabetes(return_X_y=True)
    return make_friedman1(n_samples=442, n_features=10, noise=1.0, random_state=0)


def diagnose_variant(data, seed, settings, boostin_mode, leaf_mode, n_test, n_jobs):
    """Per-test-point removal of BoostIn and LeafInfluence rankings on one regression split."""
    import lightgbm as lgb
    from scipy.stats import spearmanr

    from boostkit.influence import BoostIn
    from boostkit.influence.evaluate import remove
    from boostkit.influence.leaf_influence import LeafInfluence

    X, y = _regression_data(data)
    order = np.random.default_rng(seed).permutation(len(y))  # seed 0: the main run's split
    test, train = order[:n_test], order[n_test:]
    X_train, y_train, X_test, y_test = X[train], y[train], X[test], y[test]
    params = dict(n_estimators=100, num_leaves=15, learning_rate=0.1, verbose=-1, n_jobs=1)
    model = lgb.LGBMRegressor(**{**params, **settings}).fit(X_train, y_train)
    boostin = BoostIn(mode=boostin_mode).fit(model, X_train, y_train)
    leaf = LeafInfluence(mode=leaf_mode).fit(model, X_train, y_train)
    matrices = {"BoostIn": boostin.local_influence(X_test, y_test),
                "LeafInfluence": leaf.local_influence(X_test, y_test)}
    rho = [spearmanr(matrices["BoostIn"][:, j], matrices["LeafInfluence"][:, j])[0]
           for j in range(len(y_test))]
    table = remove(model, X_train, y_train, X_test, y_test,
                   {m: Precomputed(v) for m, v in matrices.items()}, fractions=FRACTIONS,
                   n_jobs=n_jobs)
    return table, float(np.median(rho))


def diagnose(args, n_jobs):
    lines = [f"Per-test-point removal ({args.n_test} test points, LightGBM 15 leaves, learning "
             f"rate 0.1, 100 trees unless said), one change at a time. Difference = BoostIn "
             f"minus LeafInfluence test-loss increase, mean over the removal amounts 0.25-2% "
             f"(paired over test points, 95% CI); positive = BoostIn better. Per amount: mean "
             f"loss increase BoostIn / LeafInfluence. rho = median over test points of the "
             f"Spearman correlation of the two influence columns.", "",
             "| variant | BoostIn - LeafInfluence | verdict | per amount (rows): BoostIn / "
             "LeafInfluence | test points where BoostIn's 2% removal is larger | rho |",
             "|---|---|---|---|---|---|"]
    nonzero = [f for f in FRACTIONS if f > 0]
    for label, data, seed, settings, b_mode, l_mode in DIAGNOSE_VARIANTS:
        start = time.perf_counter()
        table, rho = diagnose_variant(data, seed, settings, b_mode, l_mode, args.n_test, n_jobs)
        m, h = paired(table, "BoostIn", "LeafInfluence", "test_index", nonzero)
        cells = []
        for f in nonzero:
            part = table[table.fraction == f]
            means = part.groupby("method").loss_change.mean()
            cells.append(f"{means['BoostIn']:.4g} / {means['LeafInfluence']:.4g} "
                         f"({int(part.n_changed.iloc[0])})")
        last = table[table.fraction == nonzero[-1]].pivot_table(
            index="test_index", columns="method", values="loss_change")
        wins = int((last["BoostIn"] > last["LeafInfluence"]).sum())
        lines.append(f"| {label} | {m:+.4g} +- {h:.2g} | {verdict(m, h, 'better')} | "
                     f"{'; '.join(cells)} | {wins} / {len(last)} | {rho:.2f} |")
        print(lines[-1], f"[{time.perf_counter() - start:.0f} s]", file=sys.stderr, flush=True)
    return "\n".join(lines)


def write_results(text, command):
    write_section("influence_evaluation", f"## influence_evaluation: the paper's removal and "
                  f"noise-detection findings\n\nCommand: `{command}`\n\n"
                  f"![plot](influence_evaluation.png)\n\n{text}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (~1-2 min)")
    parser.add_argument("--n-test", type=int, default=None,
                        help="test points per data set (default 100 as in the paper; 10 "
                             "with --quick)")
    parser.add_argument("--n-edit", type=int, default=None,
                        help="test points of the targeted edit (default 20; 4 with --quick)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="noise-detection seeds (default 5; 2 with --quick)")
    parser.add_argument("--plot", default=str(ROOT / "benchmarks" / "influence_evaluation.png"),
                        help="where to save the plot")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--diagnose", action="store_true",
                        help="only BoostIn vs LeafInfluence on diabetes under single changes "
                             "(split, modes, trees, a second regression set); ~15 min")
    args = parser.parse_args(argv)
    args.n_test = args.n_test or (10 if args.quick else 100)
    args.seeds = args.seeds or (2 if args.quick else 5)
    args.n_edit = args.n_edit or (4 if args.quick else 20)
    warnings.filterwarnings("ignore", message=".*does not have valid feature names.*")
    n_jobs = min(2, os.cpu_count() or 1)
    if args.diagnose:
        text = diagnose(args, n_jobs)
        print(text)
        if args.write:
            write_section("influence_evaluation_diagnosis", "## influence_evaluation "
                          "--diagnose: BoostIn vs LeafInfluence on diabetes\n\nCommand: "
                          "`python benchmarks/influence_evaluation.py --diagnose`\n\n" + text)
        return
    start = time.perf_counter()
    results = []
    for name, task, X, y, X_test, y_test in datasets(args.n_test, args.quick):
        t0 = time.perf_counter()
        results.append(run_dataset(name, task, X, y, X_test, y_test, args, n_jobs))
        print(f"[{name}: {time.perf_counter() - t0:.0f} s]", file=sys.stderr, flush=True)
    text = report(results, args, time.perf_counter() - start)
    print(text)
    plot(results, args.plot)
    print(f"\nplot: {args.plot}")
    if args.write:
        command = "python benchmarks/influence_evaluation.py" + (" --quick" if args.quick
                                                                   else "")
        defaults = (10, 2, 4) if args.quick else (100, 5, 20)
        if (args.n_test, args.seeds, args.n_edit) != defaults:
            command += f" --n-test {args.n_test} --seeds {args.seeds} --n-edit {args.n_edit}"
        write_results(text, command)


if __name__ == "__main__":
    main()
