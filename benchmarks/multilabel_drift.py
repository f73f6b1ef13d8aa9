"""Label-dependency drift: prequential subset accuracy of MLHAT and IHOMER around the drifts.

``streamml.datasets.DriftingMultiLabel``: 12 labels in 3 groups of co-occurring labels over 20
numeric features; the groups are redrawn at instants 10,000 and 20,000 (30,000 instances).
Models, each predicted then learned instance by instance (numba kernels loaded by a warm-up
call first):

- MLHAT alone;
- IHOMER with its defaults (12 labels fit one cluster: it is its MLHAT, plus the clusterer);
- IHOMER partitioned (``max_cluster_size=4``, the generator's group size), whose label
  clusterer must find the groups again after each drift (the restructures are marked).

Writes the plot (default ``benchmarks/multilabel_drift.png``) and, with ``--write``, the
recovery numbers to RESULTS.md (section ``multilabel_drift``).

    python benchmarks/multilabel_drift.py --write
"""

import argparse
import os
import pathlib
import sys

import numpy as np

from streamml.datasets import DriftingMultiLabel
from streamml.multilabel import IHOMER, MLHAT
from streamml.multilabel import _kernels

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _results import command_line, write_section  # noqa: E402
from multilabel import prequential  # noqa: E402

LABELS = [f"l{i}" for i in range(12)]

HERE = pathlib.Path(__file__).resolve().parent

MODELS = {
    "MLHAT": lambda: MLHAT(seed=1),
    "IHOMER (defaults: one cluster)": lambda: IHOMER(seed=1),
    "IHOMER max_cluster_size=4": lambda: IHOMER(max_cluster_size=4, seed=1),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=30_000)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--plot", type=pathlib.Path, default=HERE / "multilabel_drift.png")
    parser.add_argument("--write", action="store_true",
                        help="write the recovery table to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    n = args.n_samples
    drift_at = (n // 3, 2 * n // 3)
    stream = DriftingMultiLabel(n_features=20, n_labels=len(LABELS), n_groups=3, drift_at=drift_at,
                                n_samples=n, seed=7)
    data = list(stream)
    _kernels.warm_up()

    curves, rows, restructures = {}, [], []
    for name, make in MODELS.items():
        model = make()
        y_true, y_pred, seconds, _ = prequential(model, data, LABELS)
        correct = (y_true == y_pred).all(axis=1).astype(float)  # label set exactly right
        curves[name] = np.convolve(correct, np.ones(args.window) / args.window, mode="valid")
        after = [(correct[t:t + 1000].mean(), correct[t:t + 3000].mean()) for t in drift_at]
        before = [correct[t - 1000:t].mean() for t in drift_at]
        rows.append((name, correct.mean(), before, after, n / seconds))
        if "max_cluster_size" in name:
            restructures = list(model.restructures)
            final_clusters = sorted(map(sorted, model.clusters))
        print(f"{name}: subset accuracy {correct.mean():.3f}, {n / seconds:.0f}/s", flush=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    # MLHAT and IHOMER's defaults give the same curve: MLHAT drawn wide beneath it.
    styles = {"MLHAT": dict(lw=3, alpha=0.5)}
    for name, curve in curves.items():
        ax.plot(np.arange(args.window, n + 1), curve, label=name,
                **styles.get(name, dict(lw=1)))
    for t in drift_at:
        ax.axvline(t, color="black", ls="--", lw=1)
    for t, _, _ in restructures:
        ax.axvline(t, color="tab:green", ls=":", lw=1)
    ax.set_xlabel("instance")
    ax.set_ylabel(f"subset accuracy (moving window {args.window})")
    ax.set_title("Label-dependency drift (dashed); partitioned IHOMER's restructures (dotted)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)

    truth = sorted(sorted(g) for g in stream.groups_at(n - 1))
    lines = ["| model | subset acc (all) | last 1,000 before drift 1 / 2 | first 1,000 after "
             "drift 1 / 2 | first 3,000 after drift 1 / 2 | inst/s |", "|---|---|---|---|---|---|"]
    for name, mean, before, after, ips in rows:
        lines.append(f"| {name} | {mean:.3f} | {before[0]:.3f} / {before[1]:.3f} | "
                     f"{after[0][0]:.3f} / {after[1][0]:.3f} | {after[0][1]:.3f} / "
                     f"{after[1][1]:.3f} | {ips:.0f} |")
    text = "\n".join(lines) + (
        f"\n\nPartitioned IHOMER: restructures (instance, clusters, kind) {restructures}; final "
        f"clusters {final_clusters} (generator's groups after the last drift: {truth}).\n"
    )
    print(text)
    if args.write:
        command = command_line(__file__, argv)
        write_section("multilabel_drift", "## multilabel_drift: label-dependency drift\n\n"
                      f"`{command}` (2-core machine shared with other jobs; load "
                      f"average {os.getloadavg()[0]:.0f}); plot: "
                      f"`benchmarks/{args.plot.name}`\n\n" + text)


if __name__ == "__main__":
    main()
