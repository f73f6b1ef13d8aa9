"""LeafInfluence, LeafInfluenceSP and LeafRefit: speed against the naive NumPy versions.

Same data and model as ``influence_boostin.py`` (LightGBM binary, 100 trees x 31 leaves, 20
features), 100 test points, numba compile excluded by a warm-up call on a tiny model:
  - n_train = 2,000: each method's fit + local influence (goal for LeafInfluence: <= 3 s), and
    the authors' LeafInfluence (tree_influence, when installed; benchmark-only, see
    influence_vs_authors.py) on the same model and data, measured once (several minutes;
    ``--no-authors`` skips it);
  - n_train = 500 (and 2,000 for LeafInfluence): ours against the naive NumPy versions the
    tests check exactness against (``tests/boostkit/influence/test_leaf_influence.py``, fed by
    LightGBM's own leaves);
  - ``--large``: LeafInfluence at n_train = 20,000 (goal: under 5 minutes).

Usage::

    python benchmarks/influence_methods.py            # n_train 2,000 and 500 (about a minute)
    python benchmarks/influence_methods.py --large    # also n_train = 20,000
    python benchmarks/influence_methods.py --write    # also update benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from influence_boostin import best_of, fit_lightgbm, make_data  # noqa: E402
from _results import write_section  # noqa: E402  (benchmarks/ is the script folder)

from influence_vs_authors import load_peer, quiet  # noqa: E402
# issue 4: <= 3 s at n_train = 2,000, i.e. >= 100x the authors' package (measured here)
GOALS = {"leaf_influence_2000": 3.0, "leaf_influence_20000": 300.0, "versus_authors": 100.0}
SECTION = "influence_methods"


def _methods():
    from boostkit.influence import LeafInfluence, LeafInfluenceSP, LeafRefit

    return [("LeafInfluence (reference)", lambda: LeafInfluence()),
            ("LeafInfluence (exact)", lambda: LeafInfluence(mode="exact")),
            ("LeafInfluenceSP", lambda: LeafInfluenceSP()),
            ("LeafRefit", lambda: LeafRefit())]


def warm_up():
    X, y, X_test, y_test = make_data(300, 5)
    small = fit_lightgbm(X, y, 3)
    for _, make in _methods():
        explainer = make().fit(small, X, y)
        explainer.local_influence(X_test, y_test)
        explainer.local_influence(X_test, y_test, top_k=2)
        explainer.self_influence()


def time_method(make, model, X, y, X_test, y_test, repeat):
    """Best of ``repeat``: (fit + local, local of that run, fit + self influence, influence)."""
    best = (float("inf"), None, None)
    for _ in range(repeat):
        start = time.perf_counter()
        explainer = make().fit(model, X, y)
        middle = time.perf_counter()
        out = explainer.local_influence(X_test, y_test)
        stop = time.perf_counter()
        if stop - start < best[0]:
            best = (stop - start, stop - middle, out)
    t_self, _ = best_of(lambda: make().fit(model, X, y).self_influence(), repeat)
    return best[0], best[1], t_self, best[2]


def speed(n=2000, repeat=3):
    X, y, X_test, y_test = make_data(n, 100)
    model = fit_lightgbm(X, y, 100)
    rows = []
    for name, make in _methods():
        # LeafRefit (about a minute and a half per run here) once, the others best of `repeat`
        runs = 1 if name == "LeafRefit" else repeat
        total, local, t_self, _ = time_method(make, model, X, y, X_test, y_test, runs)
        rows.append((f"{name}: fit + local, n_train = {n:,}", total, local, t_self))
    return rows


def against_naive(n=500, names=None):
    from tests.boostkit.influence.test_leaf_influence import (Problem, naive_leaf_influence,
                                                              naive_refit)

    X, y, X_test, y_test = make_data(n, 100)
    model = fit_lightgbm(X, y, 100)
    naive_versions = {
        "LeafInfluence (reference)": lambda p: naive_leaf_influence(p, "reference")[0][:, :, 0],
        "LeafInfluence (exact)": lambda p: naive_leaf_influence(p, "exact")[0][:, :, 0],
        "LeafInfluenceSP": lambda p: naive_leaf_influence(p, "reference",
                                                          single_point=True)[0][:, :, 0],
        "LeafRefit": lambda p: naive_refit(p)[0],
    }
    rows = []
    for name, make in _methods():
        if names is not None and name not in names:
            continue
        total, _, _, ours = time_method(make, model, X, y, X_test, y_test, 3)
        start = time.perf_counter()
        # the naive version reads LightGBM's own leaf ids and values (timed with it)
        problem = Problem.of("lightgbm", "logistic", model, X, y, X_test, y_test)
        reference = naive_versions[name](problem)
        t_naive = time.perf_counter() - start
        error = float(np.abs(ours - reference).max() / np.abs(reference).max())
        rows.append((f"{name}: fit + local, n_train = {n:,}", total, t_naive, error))
    return rows


def large(n=20_000):
    from boostkit.influence import LeafInfluence

    X, y, X_test, y_test = make_data(n, 100)
    model = fit_lightgbm(X, y, 100)
    total, local, _, _ = time_method(lambda: LeafInfluence(), model, X, y, X_test, y_test, 1)
    return [(f"LeafInfluence (reference): fit + local, n_train = {n:,}", total, local)]


def authors_leaf_influence(n=2000):
    """Seconds of the authors' LeafInfluence fit + local at n_train = n, or None."""
    E = load_peer()
    if E is None:
        return None
    X, y, X_test, y_test = make_data(n, 100)
    model = fit_lightgbm(X, y, 100)
    start = time.perf_counter()
    quiet(lambda: E.LeafInfluence().fit(model, X, y).get_local_influence(X_test, y_test))
    return time.perf_counter() - start


def report(speed_rows, naive_rows, large_rows, t_authors=None):
    lines = ["| measurement (100 test points) | fit + local (s) | of which local (s) | "
             "self influence alone, fit incl. (s) |", "|---|---:|---:|---:|"]
    for name, total, local, t_self in speed_rows:
        lines.append(f"| {name} | {total:.3f} | {local:.3f} | {t_self:.3f} |")
    for name, total, local in large_rows:
        lines.append(f"| {name} | {total:.1f} | {local:.1f} | |")
    lines += ["", "| against naive NumPy | ours (s) | NumPy (s) | ours / NumPy | max rel. "
              "difference |", "|---|---:|---:|---:|---:|"]
    for name, ours, peer, error in naive_rows:
        lines.append(f"| {name} | {ours:.3f} | {peer:.2f} | {ours / peer:.4f} "
                     f"({peer / ours:.0f}x faster) | {error:.1e} |")
    ref = next(r for r in speed_rows if r[0].startswith("LeafInfluence (reference)"))
    verdict = "met" if ref[1] <= GOALS["leaf_influence_2000"] else "missed"
    lines += ["", f"Goal LeafInfluence fit + local at n_train = 2,000 <= "
              f"{GOALS['leaf_influence_2000']:.0f} s: **{verdict}** ({ref[1]:.2f} s)."]
    if t_authors is None:
        lines.append("Goal >= 100x the authors' package: not measured (not installed, or "
                     "--no-authors).")
    else:
        ratio = t_authors / ref[1]
        verdict = "met" if ratio >= GOALS["versus_authors"] else "missed"
        lines.append(f"Goal >= {GOALS['versus_authors']:.0f}x the authors' package: "
                     f"**{verdict}** (their LeafInfluence, measured once in this run on the same "
                     f"model and data: {t_authors:.0f} s, {ratio:.0f}x ours).")
    if large_rows:
        big = large_rows[0][1]
        verdict = "met" if big <= GOALS["leaf_influence_20000"] else "missed"
        lines.append(f"Goal n_train = 20,000 under 5 minutes: **{verdict}** ({big:.0f} s).")
    return "\n".join(lines)


def write_results(text, command):
    write_section(SECTION, f"## influence_methods: LeafInfluence, LeafInfluenceSP, LeafRefit\n\n"
                  f"Command: `{command}` (from the repository root; it imports the tests' "
                  f"NumPy references). Numba compile time excluded by a warm-up call; best of 3 "
                  f"(1 for LeafRefit at n_train = 2,000 and for n_train = 20,000).\n\n{text}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also n_train = 20,000")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--no-authors", action="store_true",
                        help="skip the authors' LeafInfluence (several minutes)")
    args = parser.parse_args()
    warm_up()
    speed_rows = speed()
    naive_rows = against_naive(500)
    # the vectorised NumPy derivative (every perturbed row at once) also runs at 2,000 rows
    naive_rows += against_naive(2000, ("LeafInfluence (reference)", "LeafInfluence (exact)"))
    large_rows = large() if args.large else []
    t_authors = None if args.no_authors else authors_leaf_influence()
    text = report(speed_rows, naive_rows, large_rows, t_authors)
    print(text)
    if args.write:
        command = "python benchmarks/influence_methods.py" + (" --large" if args.large else "")
        write_results(text, command)


if __name__ == "__main__":
    main()
