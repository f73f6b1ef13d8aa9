"""Gradient-boosted neural networks against scikit-learn MLPs and the authors' ``gbnn`` package.

Side by side on the same 5x2 cross-validation folds (standard scaler fitted on each training
half; regression targets standardised for every model, as our regressor does internally):

* ours: ``GBNNClassifier`` / ``GBNNRegressor`` with default parameters (100 steps x 1 unit);
* scikit-learn ``MLPClassifier`` / ``MLPRegressor`` with 100 hidden units (the same total), adam
  and lbfgs, default settings otherwise; they run in this process;
* ``gbnn`` 0.0.2 (``GNEGNEClassifier`` / ``GNEGNERegressor``, 100 steps x 1 unit, defaults
  otherwise). It needs scikit-learn <= 1.5, so it runs in its own virtual environment
  ``benchmarks/.venv-gbnn`` (created on first use) in a subprocess on the same folds, saved to a
  temporary ``.npz``.

Every process is limited to one BLAS / numba thread (the machine is shared; this keeps the
comparison fair and the timings stable). numba compile time is excluded by a warm-up fit.
Accuracy / R^2 of ours against the best MLP is tested with the 5x2cv paired F-test
(Alpaydin 1999).

Run: ``.venv/bin/python benchmarks/gbnn.py [--reps 5] [--no-peer] [--update-results]``
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
    make_friedman1,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import KFold, StratifiedKFold  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from boostkit import GBNNClassifier, GBNNRegressor  # noqa: E402

HERE = Path(__file__).resolve().parent
from _results import write_section  # noqa: E402  (benchmarks/ is the script folder)
PEER_VENV = HERE / ".venv-gbnn"
PEER_SCRIPT = HERE / "gbnn_peer" / "peer.py"
UNITS = 100
STEPS, UNITS_PER_STEP = 100, 1
CURVE_UNITS = (1, 2, 5, 10, 20, 50, 100)


def datasets():
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast cancer", "classification", X, y
    X, y = load_diabetes(return_X_y=True)
    yield "diabetes", "regression", X, y
    X, y = make_regression(n_samples=2000, n_features=20, noise=10.0, random_state=0)
    yield "make_regression", "regression", X, y
    X, y = make_friedman1(n_samples=2000, noise=1.0, random_state=0)
    yield "Friedman #1", "regression", X, y


def folds(task, X, y, reps):
    """The 5x2cv folds: (rep, fold, seed, train index, test index)."""
    for rep in range(reps):
        splitter = (StratifiedKFold if task == "classification" else KFold)(
            n_splits=2, shuffle=True, random_state=rep)
        for fold, (train, test) in enumerate(splitter.split(X, y)):
            yield rep, fold, 1000 * rep + fold, train, test


def models(task, seed):
    if task == "classification":
        return {
            "GBNN (ours)": GBNNClassifier(max_iter=STEPS, units_per_step=UNITS_PER_STEP,
                                          random_state=seed),
            "MLP adam": MLPClassifier(hidden_layer_sizes=(UNITS,), random_state=seed),
            "MLP lbfgs": MLPClassifier(hidden_layer_sizes=(UNITS,), solver="lbfgs",
                                       random_state=seed),
        }
    return {
        "GBNN (ours)": GBNNRegressor(max_iter=STEPS, units_per_step=UNITS_PER_STEP,
                                     random_state=seed),
        "MLP adam": MLPRegressor(hidden_layer_sizes=(UNITS,), random_state=seed),
        "MLP lbfgs": MLPRegressor(hidden_layer_sizes=(UNITS,), solver="lbfgs",
                                  random_state=seed),
    }


def score(task, y_true, y_pred):
    if task == "classification":
        return float(np.mean(y_true == y_pred))
    return float(1 - ((y_true - y_pred) ** 2).sum() / ((y_true - y_true.mean()) ** 2).sum())


def predict_time(fn, X, repeats=30):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(X)
        times.append(time.perf_counter() - start)
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
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)],
                   check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["scikit-learn<=1.5", "pandas"], check=True)
    # gbnn 0.0.2 declares the deprecated "sklearn" package as a dependency: skip its deps.
    subprocess.run(pip + ["--no-deps", "gbnn==0.0.2"], check=True)
    return python


def run_peer(task, fold_data, python):
    with tempfile.TemporaryDirectory() as tmp:
        folds_path = Path(tmp) / "folds.npz"
        results_path = Path(tmp) / "results.npz"
        arrays = {"n_folds": len(fold_data), "task": task, "total_nn": STEPS * UNITS_PER_STEP,
                  "num_nn_step": UNITS_PER_STEP}
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
    X = rng.normal(size=(50, 4))
    GBNNRegressor(max_iter=2).fit(X, X[:, 0]).predict(X)
    GBNNClassifier(max_iter=2).fit(X, X[:, 0] > 0).predict(X)


def run(reps, with_peer):
    warm_up()
    python = ensure_peer_venv() if with_peer else None
    report = []
    for name, task, X, y in datasets():
        scores, fits, predicts, curves = {}, {}, {}, []
        peer_folds = []
        for rep, fold, seed, train, test in folds(task, X, y, reps):
            scaler = StandardScaler().fit(X[train])
            X_train, X_test = scaler.transform(X[train]), scaler.transform(X[test])
            y_train, y_test = y[train], y[test]
            if task == "regression":
                y_mean, y_std = y_train.mean(), y_train.std()
                y_train_fit = (y_train - y_mean) / y_std
            else:
                y_train_fit = y_train
            peer_folds.append((seed, X_train, y_train_fit, X_test,
                               (y_test - y_mean) / y_std if task == "regression" else y_test))
            for label, model in models(task, seed).items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    start = time.perf_counter()
                    model.fit(X_train, y_train_fit)
                    fit_time = time.perf_counter() - start
                pred = model.predict(X_test)
                if task == "regression":
                    pred = pred * y_std + y_mean
                scores.setdefault(label, np.zeros((reps, 2)))[rep, fold] = score(task, y_test, pred)
                fits.setdefault(label, []).append(fit_time)
                predicts.setdefault(label, []).append(predict_time(model.predict, X_test))
                if label == "GBNN (ours)":
                    mlp = model.to_mlp()
                    predicts.setdefault("GBNN to_mlp()", []).append(
                        predict_time(mlp.predict, X_test))
                    if task == "classification":
                        staged = list(model.staged_predict(X_test))
                        curves.append([score(task, y_test, staged[u - 1]) for u in CURVE_UNITS])
        if with_peer:
            peer_scores, peer_fit, peer_pred = run_peer(task, peer_folds, python)
            # Peer regression scores are R^2 on standardised targets: R^2 is scale-free.
            scores["gbnn 0.0.2 (authors)"] = peer_scores.reshape(reps, 2)
            fits["gbnn 0.0.2 (authors)"] = list(peer_fit)
            predicts["gbnn 0.0.2 (authors)"] = list(peer_pred)
        report.append((name, task, scores, fits, predicts, curves))
        print_dataset(name, task, scores, fits, predicts, curves)
    return report


def best_mlp(scores):
    return max(("MLP adam", "MLP lbfgs"), key=lambda label: scores[label].mean())


def dataset_lines(name, task, scores, fits, predicts, curves):
    metric = "accuracy" if task == "classification" else "R^2"
    best = best_mlp(scores)
    ours_fit = np.median(fits["GBNN (ours)"])
    lines = [f"### {name} ({metric}; best MLP: {best})", "",
             f"| model | {metric} mean ± sd | 5x2cv F-test p vs ours | fit s (median) | "
             "fit ratio ours/model | predict ms (median) |",
             "|---|---|---|---|---|---|"]
    for label in scores:
        s = scores[label]
        p = "" if label == "GBNN (ours)" else f"{f_test_5x2cv(scores['GBNN (ours)'], s)[1]:.3f}"
        fit = np.median(fits[label])
        lines.append(f"| {label} | {s.mean():.4f} ± {s.std():.4f} | {p} | {fit:.3f} | "
                     f"{ours_fit / fit:.2f} | {1e3 * np.median(predicts[label]):.2f} |")
    lines.append(f"| GBNN to_mlp() | (same predictions) | | | | "
                 f"{1e3 * np.median(predicts['GBNN to_mlp()']):.2f} |")
    lines.append("")
    if curves:
        curve = np.mean(curves, axis=0)
        lines.append("Staged test accuracy of ours vs hidden units (mean over folds): " + ", ".join(
            f"{u}: {acc:.4f}" for u, acc in zip(CURVE_UNITS, curve)))
        lines.append("")
    return lines


def print_dataset(*args):
    print("\n".join(dataset_lines(*args)), flush=True)


def summary_lines(report):
    lines = ["| data set | ours − best MLP | F-test p | fit ours / adam | fit ours / lbfgs | "
             "fit speed-up vs gbnn | predict to_mlp() / MLP |", "|---|---|---|---|---|---|---|"]
    for name, task, scores, fits, predicts, _ in report:
        best = best_mlp(scores)
        diff = scores["GBNN (ours)"].mean() - scores[best].mean()
        p = f_test_5x2cv(scores["GBNN (ours)"], scores[best])[1]
        ours = np.median(fits["GBNN (ours)"])
        peer = ("" if "gbnn 0.0.2 (authors)" not in fits else
                f"{np.median(fits['gbnn 0.0.2 (authors)']) / ours:.1f}x")
        pred = np.median(predicts["GBNN to_mlp()"]) / np.median(predicts[best])
        lines.append(f"| {name} | {diff:+.4f} | {p:.3f} | "
                     f"{ours / np.median(fits['MLP adam']):.2f} | "
                     f"{ours / np.median(fits['MLP lbfgs']):.2f} | {peer} | {pred:.2f} |")
    return lines


SETUP = """Setup. 5x2 cross-validation (5 repetitions of a shuffled 2-fold split, stratified for breast
cancer), a `StandardScaler` fitted on each training half; regression targets standardised on the
training half for every model (our regressor does it anyway; R^2 is scale-free). Models, all with
100 hidden units in the end:
ours = `GBNNClassifier` / `GBNNRegressor` with default parameters (100 steps x 1 relu unit);
`MLPClassifier` / `MLPRegressor(hidden_layer_sizes=(100,))` with adam and with lbfgs, defaults
otherwise; the authors' `gbnn` 0.0.2 (`GNEGNEClassifier` / `GNEGNERegressor`, `total_nn=100,
num_nn_step=1`, its defaults otherwise: eta=1, subsample=0.5, 200 lbfgs iterations per block,
logistic units). Ours and the MLPs run in the benchmark's process. `gbnn` needs
scikit-learn <= 1.5 (its classifier crashes on >= 1.6) and declares the deprecated `sklearn`
package, so the script creates `benchmarks/.venv-gbnn` (git-ignored) with `python -m venv`,
`pip install 'scikit-learn<=1.5' pandas` and `pip install --no-deps gbnn==0.0.2`, saves the same
folds to a temporary `.npz` and runs `benchmarks/gbnn_peer/peer.py` there in a subprocess, which
times fit and predict inside that process. Every process runs with one BLAS / numba thread
(shared 2-core machine); numba compile time is excluded by a warm-up fit. Times are medians over
the 10 folds; predict times are the median of 30 calls on the test half. "F-test p" is
Alpaydin's combined 5x2cv F-test of ours against the model in that row (against the better MLP
in the summary); p < 0.05 is a significant difference."""


def update_results(text):
    write_section("gbnn", text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions of 2-fold CV (5)")
    parser.add_argument("--no-peer", action="store_true", help="skip the authors' gbnn")
    parser.add_argument("--update-results", action="store_true",
                        help="write the tables into benchmarks/RESULTS.md (gbnn section)")
    args = parser.parse_args()
    with threadpool_limits(1):
        report = run(args.reps, not args.no_peer)
    lines = summary_lines(report)
    print("\n".join(lines))
    if args.update_results:
        # The goals analysis in RESULTS.md is written by hand after a run.
        body = ["## gbnn: gradient-boosted neural networks against scikit-learn MLPs and the "
                "authors' `gbnn`", "",
                f"Command: `.venv/bin/python benchmarks/gbnn.py --reps {args.reps} "
                "--update-results`", "", SETUP, "", "Summary (ratios ours / peer: below 1 is "
                "faster):", "", *lines, ""]
        for name, task, scores, fits, predicts, curves in report:
            body += dataset_lines(name, task, scores, fits, predicts, curves)
        update_results("\n".join(body))


if __name__ == "__main__":
    main()
