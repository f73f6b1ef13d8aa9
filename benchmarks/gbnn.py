"""Gradient-boosted neural networks against scikit-learn MLPs, HistGradientBoosting and ``gbnn``.

Side by side on the same 5x2 cross-validation folds (standard scaler fitted on each training
half; regression targets standardised on the training half for every model, as our regressor
does internally):

* ours: ``GBNNClassifier`` / ``GBNNRegressor`` with default parameters (early stopping picks the
  number of units, at most 200 steps);
* scikit-learn ``MLPClassifier`` / ``MLPRegressor`` with 100 hidden units, adam and lbfgs,
  default settings otherwise;
* scikit-learn ``HistGradientBoostingClassifier`` / ``Regressor`` with default settings
  (``MultiOutputRegressor`` around it for several targets: it fits one target);
* optionally (``--peer``) the authors' ``gbnn`` 0.0.2 on the binary and single-target sets. It
  needs scikit-learn <= 1.5, so it runs in its own virtual environment ``benchmarks/.venv-gbnn``
  (created on first use) in a subprocess on the same folds, saved to a temporary ``.npz``.

Many-class sets are split into those the defaults were chosen on and held-out ones that were
only run once the defaults were fixed. A second part draws the accuracy of ours against units
(staged predictions of one long fit, and the size early stopping picked) next to MLPs of the
same sizes, and plots the validation curve early stopping reads (``--plot``).

Every process is limited to one BLAS / numba thread (the machine is shared; this keeps the
comparison fair and the timings stable), and times are the process's CPU time, which other
jobs on the machine do not inflate. numba compile time is excluded by a warm-up fit.
Accuracy / R^2 of ours against the better MLP (and HistGradientBoosting) is tested with
Alpaydin's combined 5x2cv F-test.

Run: ``.venv/bin/python benchmarks/gbnn.py [--reps 5] [--peer] [--plot PNG] [--update-results]``
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
    make_classification,
    make_friedman1,
    make_regression,
)
from sklearn.ensemble import (  # noqa: E402
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split  # noqa: E402
from sklearn.multioutput import MultiOutputRegressor  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from boostkit import GBNNClassifier, GBNNRegressor  # noqa: E402

HERE = Path(__file__).resolve().parent
from _results import write_section  # noqa: E402  (benchmarks/ is the script folder)
PEER_VENV = HERE / ".venv-gbnn"
PEER_SCRIPT = HERE / "gbnn_peer" / "peer.py"
MLP_UNITS = 100
OURS, ADAM, LBFGS, HGB = "GBNN (ours)", "MLP adam", "MLP lbfgs", "HistGradientBoosting"
PEER = "gbnn 0.0.2 (authors)"
PEER_STEPS = 100
# Multiples of 4, the units per step for 10 classes, so every size is a stage of ours.
CURVE_UNITS = (4, 8, 20, 40, 100, 200)


def multi_output_friedman(n_samples, random_state):
    """Three non-linear targets of the same ten uniform inputs (Friedman #1 and two more)."""
    rng = np.random.default_rng(random_state)
    X = rng.uniform(size=(n_samples, 10))
    y1 = (10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3]
          + 5 * X[:, 4])
    y2 = 8 * np.cos(2 * np.pi * X[:, 5]) * X[:, 6] + 6 * np.abs(X[:, 0] - X[:, 7])
    y3 = 5 * np.exp(X[:, 8] * X[:, 2]) - 10 * X[:, 9] * X[:, 4]
    Y = np.column_stack([y1, y2, y3]) + rng.normal(size=(n_samples, 3))
    return X, Y


def datasets():
    """(name, task, role, X, y); role: binary / tuned / held out / regression."""
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast cancer (2 classes)", "classification", "binary", X, y
    X, y = load_digits(return_X_y=True)
    yield "digits (10 classes, 1,797 rows)", "classification", "tuned on", X, y
    X, y = make_classification(n_samples=2000, n_features=20, n_informative=12, n_redundant=4,
                               n_classes=10, n_clusters_per_class=1, class_sep=1.0,
                               random_state=2)
    yield "make_classification 10 classes", "classification", "tuned on", X, y
    X, y = make_classification(n_samples=2000, n_features=30, n_informative=20, n_redundant=5,
                               n_classes=15, n_clusters_per_class=2, class_sep=1.5,
                               random_state=1)
    yield "make_classification 15 classes", "classification", "tuned on", X, y
    X, y = make_classification(n_samples=3000, n_features=16, n_informative=14, n_redundant=2,
                               n_classes=26, n_clusters_per_class=1, class_sep=2.0,
                               random_state=3)
    yield "make_classification 26 classes", "classification", "held out", X, y
    X, y = make_classification(n_samples=2400, n_features=40, n_informative=10, n_redundant=10,
                               n_classes=20, n_clusters_per_class=1, class_sep=1.5,
                               flip_y=0.02, random_state=4)
    yield "make_classification 20 classes", "classification", "held out", X, y
    X, y = load_wine(return_X_y=True)
    yield "wine (3 classes, 178 rows)", "classification", "held out", X, y
    X, y = load_diabetes(return_X_y=True)
    yield "diabetes", "regression", "regression", X, y
    X, y = make_regression(n_samples=2000, n_features=20, noise=10.0, random_state=0)
    yield "make_regression (n=2000)", "regression", "regression", X, y
    X, y = make_friedman1(n_samples=2000, noise=1.0, random_state=0)
    yield "Friedman #1 (n=2000)", "regression", "regression", X, y
    X, y = multi_output_friedman(2000, random_state=5)
    yield "3-target Friedman-like (n=2000)", "regression", "multi-output", X, y


def folds(task, X, y, reps):
    """The 5x2cv folds: (rep, fold, seed, train index, test index)."""
    for rep in range(reps):
        splitter = (StratifiedKFold if task == "classification" else KFold)(
            n_splits=2, shuffle=True, random_state=rep)
        for fold, (train, test) in enumerate(splitter.split(X, y)):
            yield rep, fold, 1000 * rep + fold, train, test


def models(task, seed, n_targets):
    if task == "classification":
        return {
            OURS: GBNNClassifier(random_state=seed),
            ADAM: MLPClassifier(hidden_layer_sizes=(MLP_UNITS,), random_state=seed),
            LBFGS: MLPClassifier(hidden_layer_sizes=(MLP_UNITS,), solver="lbfgs",
                                 random_state=seed),
            HGB: HistGradientBoostingClassifier(random_state=seed),
        }
    hgb = HistGradientBoostingRegressor(random_state=seed)
    return {
        OURS: GBNNRegressor(random_state=seed),
        ADAM: MLPRegressor(hidden_layer_sizes=(MLP_UNITS,), random_state=seed),
        LBFGS: MLPRegressor(hidden_layer_sizes=(MLP_UNITS,), solver="lbfgs", random_state=seed),
        HGB: hgb if n_targets == 1 else MultiOutputRegressor(hgb),
    }


def score(task, y_true, y_pred):
    """Accuracy, or R^2 averaged over targets (scikit-learn's uniform average)."""
    if task == "classification":
        return float(np.mean(y_true == y_pred))
    y_true, y_pred = y_true.reshape(len(y_true), -1), y_pred.reshape(len(y_true), -1)
    r2 = 1 - ((y_true - y_pred) ** 2).sum(axis=0) / ((y_true - y_true.mean(axis=0)) ** 2).sum(
        axis=0)
    return float(r2.mean())


def predict_time(fn, X, repeats=10):
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn(X)
        times.append(time.process_time() - start)
    return float(np.median(times))


def f_test_5x2cv(a, b):
    """Alpaydin's combined 5x2cv F-test on per-fold scores of shape (reps, 2)."""
    p = np.asarray(a) - np.asarray(b)
    variance = ((p - p.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    if variance.sum() == 0:
        return np.nan, 1.0
    statistic = (p ** 2).sum() / (2 * variance.sum())
    return float(statistic), float(stats.f.sf(statistic, 2 * p.shape[0], p.shape[0]))


def ensure_peer_venv():
    python = PEER_VENV / "bin" / "python"
    if python.exists():
        return python
    print(f"creating {PEER_VENV} for the authors' gbnn (scikit-learn <= 1.5) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["scikit-learn<=1.5", "pandas"], check=True)
    # gbnn 0.0.2 declares the deprecated "sklearn" package as a dependency: skip its deps.
    subprocess.run(pip + ["--no-deps", "gbnn==0.0.2"], check=True)
    return python


def run_peer(task, fold_data, python):
    with tempfile.TemporaryDirectory() as tmp:
        folds_path = Path(tmp) / "folds.npz"
        results_path = Path(tmp) / "results.npz"
        arrays = {"n_folds": len(fold_data), "task": task, "total_nn": PEER_STEPS,
                  "num_nn_step": 1}
        for k, (seed, X_train, y_train, X_test, y_test) in enumerate(fold_data):
            arrays.update({f"X_train_{k}": X_train, f"y_train_{k}": y_train,
                           f"X_test_{k}": X_test, f"y_test_{k}": y_test, f"seed_{k}": seed})
        np.savez(folds_path, **arrays)
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                   PYTHONWARNINGS="ignore")
        subprocess.run([str(python), str(PEER_SCRIPT), str(folds_path), str(results_path)],
                       check=True, env=env)
        result = np.load(results_path)
        return result["scores"], result["fit_times"], result["predict_times"]


def warm_up():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    GBNNRegressor(max_iter=2).fit(X, X[:, :2]).predict(X)
    GBNNClassifier(max_iter=2).fit(X, X[:, 0] > 0).predict(X)
    GBNNClassifier(max_iter=2).fit(X, np.arange(60) % 3).predict(X)


def run(reps, python):
    warm_up()
    report = []
    for name, task, role, X, y in datasets():
        scores, fits, predicts, units = {}, {}, {}, []
        peer_folds = []
        n_targets = 1 if y.ndim == 1 else y.shape[1]
        for rep, fold, seed, train, test in folds(task, X, y, reps):
            scaler = StandardScaler().fit(X[train])
            X_train, X_test = scaler.transform(X[train]), scaler.transform(X[test])
            y_train, y_test = y[train], y[test]
            if task == "regression":
                y_mean, y_std = y_train.mean(axis=0), y_train.std(axis=0)
                y_train_fit = (y_train - y_mean) / y_std
            else:
                y_train_fit = y_train
            if python is not None and n_targets == 1 and role in ("binary", "regression"):
                peer_folds.append((seed, X_train, y_train_fit, X_test,
                                   (y_test - y_mean) / y_std if task == "regression" else y_test))
            for label, model in models(task, seed, n_targets).items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    start = time.process_time()
                    model.fit(X_train, y_train_fit)
                    fit_time = time.process_time() - start
                pred = model.predict(X_test)
                if task == "regression":
                    pred = pred * y_std + y_mean
                scores.setdefault(label, np.zeros((reps, 2)))[rep, fold] = score(task, y_test, pred)
                fits.setdefault(label, []).append(fit_time)
                predicts.setdefault(label, []).append(predict_time(model.predict, X_test))
                if label == OURS:
                    units.append(model.n_units_)
        if peer_folds:
            peer_scores, peer_fit, peer_pred = run_peer(task, peer_folds, python)
            # Peer regression scores are R^2 on standardised targets: R^2 is scale-free.
            scores[PEER] = peer_scores.reshape(reps, 2)
            fits[PEER] = list(peer_fit)
            predicts[PEER] = list(peer_pred)
        entry = (name, task, role, scores, fits, predicts, units)
        report.append(entry)
        print("\n".join(dataset_lines(*entry)), flush=True)
    return report


def best_mlp(scores):
    return max((ADAM, LBFGS), key=lambda label: scores[label].mean())


def dataset_lines(name, task, role, scores, fits, predicts, units):
    metric = "accuracy" if task == "classification" else "R^2"
    ours_fit = np.median(fits[OURS])
    lines = [f"### {name} ({metric}; {role}; better MLP: {best_mlp(scores)})", "",
             f"| model | {metric} mean ± sd | 5x2cv F-test p vs ours | fit s (median) | "
             "fit ratio ours/model | predict ms (median) |",
             "|---|---|---|---|---|---|"]
    for label in scores:
        s = scores[label]
        p = "" if label == OURS else f"{f_test_5x2cv(scores[OURS], s)[1]:.3f}"
        fit = np.median(fits[label])
        lines.append(f"| {label} | {s.mean():.4f} ± {s.std():.4f} | {p} | {fit:.3f} | "
                     f"{ours_fit / fit:.2f} | {1e3 * np.median(predicts[label]):.2f} |")
    lines += ["", f"Units early stopping picked for ours: median {np.median(units):.0f} "
              f"(range {min(units)}-{max(units)}); the MLPs have {MLP_UNITS}.", ""]
    return lines


def summary_lines(report):
    lines = ["| data set | role | ours | better MLP | ours − MLP | p | HGB | ours − HGB | p | "
             "units (median) | fit ours / faster MLP | fit ours / HGB | goals |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, task, role, scores, fits, predicts, units in report:
        best = best_mlp(scores)
        ours = scores[OURS].mean()
        diff = ours - scores[best].mean()
        p = f_test_5x2cv(scores[OURS], scores[best])[1]
        diff_hgb = ours - scores[HGB].mean()
        p_hgb = f_test_5x2cv(scores[OURS], scores[HGB])[1]
        fit = np.median(fits[OURS])
        faster = min(np.median(fits[ADAM]), np.median(fits[LBFGS]))
        no_loss = diff >= 0 or p >= 0.05
        fast = fit / faster <= 3
        goals = ("met" if no_loss and fast else
                 "accuracy met, fit time missed" if no_loss else
                 "fit time met, accuracy missed" if fast else "missed")
        lines.append(
            f"| {name} | {role} | {ours:.4f} | {scores[best].mean():.4f} ({best[4:]}) | "
            f"{diff:+.4f} | {p:.3f} | {scores[HGB].mean():.4f} | {diff_hgb:+.4f} | "
            f"{p_hgb:.3f} | {np.median(units):.0f} | {fit / faster:.2f} | "
            f"{fit / np.median(fits[HGB]):.2f} | {goals} |")
    return lines


# --------------------------------------------------------------------------- units curves
def curve_sets():
    X, y = load_digits(return_X_y=True)
    yield "digits", X, y
    X, y = make_classification(n_samples=2000, n_features=20, n_informative=12, n_redundant=4,
                               n_classes=10, n_clusters_per_class=1, class_sep=1.0,
                               random_state=2)
    yield "make_classification 10 classes", X, y


def units_curves(reps):
    """Accuracy vs units: ours staged (one fit without early stopping), ours with early stopping,
    and MLPs of each size, on the 2-fold splits of ``reps`` repetitions."""
    results = {}
    for name, X, y in curve_sets():
        ours, adam, lbfgs, picked, validation = [], [], [], [], None
        for rep, fold, seed, train, test in folds("classification", X, y, reps):
            scaler = StandardScaler().fit(X[train])
            X_train, X_test = scaler.transform(X[train]), scaler.transform(X[test])
            y_train, y_test = y[train], y[test]
            # Same 10 % held out as early stopping holds out, so the curve is the one it reads.
            long = GBNNClassifier(max_iter=max(CURVE_UNITS) // 4, early_stopping=False,
                                  random_state=seed)
            fit_rows, val_rows = train_test_split(np.arange(len(y_train)), test_size=0.1,
                                                  stratify=y_train, random_state=seed)
            long.fit(X_train[fit_rows], y_train[fit_rows])
            J = long.units_per_step_
            staged = list(long.staged_predict(X_test))
            ours.append([score("classification", y_test, staged[u // J - 1])
                         for u in CURVE_UNITS])
            if validation is None:
                validation = [
                    -np.mean(np.log(np.clip(p[np.arange(len(val_rows)), y_train[val_rows]],
                                            1e-15, None)))
                    for p in long.staged_predict_proba(X_train[val_rows])]
                val_units = J * np.arange(1, len(validation) + 1)
            es = GBNNClassifier(random_state=seed).fit(X_train, y_train)
            picked.append((es.n_units_, es.score(X_test, y_test)))
            row_adam, row_lbfgs = [], []
            for u in CURVE_UNITS:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    row_adam.append(MLPClassifier(hidden_layer_sizes=(u,), random_state=seed)
                                    .fit(X_train, y_train).score(X_test, y_test))
                    row_lbfgs.append(MLPClassifier(hidden_layer_sizes=(u,), solver="lbfgs",
                                                   random_state=seed)
                                     .fit(X_train, y_train).score(X_test, y_test))
            adam.append(row_adam)
            lbfgs.append(row_lbfgs)
        results[name] = dict(ours=np.mean(ours, axis=0), adam=np.mean(adam, axis=0),
                             lbfgs=np.mean(lbfgs, axis=0), picked=np.array(picked),
                             validation=(val_units, np.array(validation)))
    return results


def curve_lines(curves, reps):
    lines = [f"Accuracy against hidden units ({reps}x2 folds, mean test accuracy). Ours: "
             "staged predictions of one 50-step fit (4 units per step for 10 classes) on 90 % "
             "of the training half without early stopping; the last column is the default "
             "(early stopping on) fitted on the whole training half. MLPs: "
             "`hidden_layer_sizes=(units,)`, adam and lbfgs.", "",
             "| data set | model | " + " | ".join(str(u) for u in CURVE_UNITS)
             + " | early stopping: units, accuracy |",
             "|---|---|" + "---|" * len(CURVE_UNITS) + "---|"]
    for name, res in curves.items():
        picked = res["picked"]
        for label in ("ours", "adam", "lbfgs"):
            cells = " | ".join(f"{a:.4f}" for a in res[label])
            extra = (f"median {np.median(picked[:, 0]):.0f} units, {picked[:, 1].mean():.4f}"
                     if label == "ours" else "")
            lines.append(f"| {name} | {label} | {cells} | {extra} |")
    return lines


def plot_curves(curves, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    res = curves["digits"]
    units, loss = res["validation"]
    best = int(np.argmin(loss))
    axes[0].plot(units, loss, color="C0")
    axes[0].axvline(units[best], color="C3", linestyle="--",
                    label=f"lowest validation loss: {units[best]} units")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("hidden units")
    axes[0].set_ylabel("validation log-loss")
    axes[0].set_title("digits: the curve early stopping reads (one fold)")
    axes[0].legend()
    for label, style in (("ours", "o-"), ("adam", "s--"), ("lbfgs", "^--")):
        axes[1].plot(CURVE_UNITS, res[label], style,
                     label={"ours": "GBNN (staged)", "adam": "MLP adam",
                            "lbfgs": "MLP lbfgs"}[label])
    picked = res["picked"]
    axes[1].plot(np.median(picked[:, 0]), picked[:, 1].mean(), "r*", markersize=14,
                 label="GBNN default (early stopping)")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("hidden units")
    axes[1].set_ylabel("test accuracy")
    axes[1].set_title("digits: accuracy against network size")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"wrote {path}")


SETUP = """Setup. 5x2 cross-validation (5 repetitions of a shuffled 2-fold split, stratified for
classification), a `StandardScaler` fitted on each training half; regression targets
standardised on the training half for every model (our regressor does it anyway; R^2 is
scale-free, averaged over targets for several). Models:
ours = `GBNNClassifier` / `GBNNRegressor` with default parameters (early stopping on 10 % of the
training half picks the number of units; at most 200 steps of `units_per_step="auto"` relu
units: 1 per step for one output, ceil(sqrt(K)) for K classes or targets);
`MLPClassifier` / `MLPRegressor(hidden_layer_sizes=(100,))` with adam and with lbfgs, defaults
otherwise; `HistGradientBoostingClassifier` / `Regressor` with defaults (wrapped in
`MultiOutputRegressor` for 3 targets). Many-class sets marked "tuned on" are those the new
defaults were chosen on; "held out" sets were added and run only after that. Every process runs
with one BLAS / numba / OpenMP thread; numba compile time is excluded by a warm-up fit. Times
are CPU seconds of the process (`time.process_time`; with one thread per model that is its
compute time; on the shared machine wall-clock times were 3-4x longer, at random), medians over
the 10 folds, predict times the median of 10 calls on the test half.
"p" is Alpaydin's combined 5x2cv F-test of ours against the model named (p < 0.05: a
significant difference). Goals: no significant loss to the better MLP, and fit time at most 3x
that of the faster MLP."""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions of 2-fold CV (5)")
    parser.add_argument("--curve-reps", type=int, default=1,
                        help="repetitions of 2-fold CV for the accuracy-vs-units part (1)")
    parser.add_argument("--peer", action="store_true",
                        help="also run the authors' gbnn (own venv, binary / regression sets)")
    parser.add_argument("--plot", help="write the validation / units plot to this PNG")
    parser.add_argument("--update-results", action="store_true",
                        help="write the tables into benchmarks/RESULTS.md (gbnn section)")
    args = parser.parse_args()
    python = ensure_peer_venv() if args.peer else None
    load = os.getloadavg()
    start = time.perf_counter()
    with threadpool_limits(1):
        report = run(args.reps, python)
        lines = summary_lines(report)
        print("\n".join(lines), flush=True)
        curves = units_curves(args.curve_reps)
    curve_text = curve_lines(curves, args.curve_reps)
    print("\n".join(curve_text))
    if args.plot:
        plot_curves(curves, args.plot)
    minutes = (time.perf_counter() - start) / 60
    load_note = (f"Load average when the run started: {load[0]:.1f} / {load[1]:.1f} / "
                 f"{load[2]:.1f} on 2 cores shared with other jobs; the run took "
                 f"{minutes:.0f} minutes. Timings are noisy: compare ratios within a row.")
    print(load_note)
    if args.update_results:
        command = (f".venv/bin/python benchmarks/gbnn.py --reps {args.reps}"
                   + (" --peer" if args.peer else "")
                   + (f" --plot {args.plot}" if args.plot else "") + " --update-results")
        body = ["## gbnn: gradient-boosted neural networks against scikit-learn MLPs, "
                "HistGradientBoosting and the authors' `gbnn`", "",
                f"Command: `nice -n 10 {command}`", "", SETUP, "", load_note, "",
                "Summary (ours − model: positive is ours better; fit ratios below 1: ours "
                "faster):", "", *lines, "",
                "Goals analysis: see the paragraph after the tables.", "",
                *curve_text, ""]
        for entry in report:
            body += dataset_lines(*entry)
        write_section("gbnn", "\n".join(body))


if __name__ == "__main__":
    main()
