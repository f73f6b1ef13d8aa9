"""Throughput and memory of MLHAT and IHOMER on wide, sparse multi-label streams.

Two streams, each predicted then learned instance by instance (prequential):

- bibtex in full (7,395 instances, 1,836 words, 159 labels), read with
  ``MulanStream(..., sparse=True)`` (only the words present);
- a generated stream of 1,000 labels and 10,000 sparse features:
  ``streamml.datasets.SparseTopicStream`` with 200 topics of co-occurring labels, giving only
  the labels present.

Models: MLHAT, IHOMER with its defaults (the labels fit one cluster, so it is its MLHAT plus
the label clusterer's bookkeeping) and IHOMER partitioned (``max_cluster_size=64``: a HOMER
tree of clusters of at most 64 labels whose internal nodes route each instance), so that the
cost of an instance can be read against the number of clusters.

Reported per window of instances: instances per second of the predict+learn loop (numba
compile time excluded by a warm-up call), the model's size at the window's end, as river's
``_raw_memory_usage`` and as the bytes of the numpy arrays the model holds, and IHOMER's
clusters, so that flat memory and steady throughput show as flat columns; for the HOMER tree
also its routing recall (the share of the clusters holding a true label that prediction
visits) and the clusters visited per instance, measured outside the timed loop.

    python benchmarks/multilabel_scale.py --write         # both streams, writes RESULTS.md
    python benchmarks/multilabel_scale.py --n-generated 5000
"""

import argparse
import os
import pathlib
import sys
import time

import numpy as np

from streamml.datasets import MulanStream, SparseTopicStream
from streamml.multilabel import IHOMER, MLHAT
from streamml.multilabel import _kernels

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _results import command_line, write_section  # noqa: E402

_ROOT = pathlib.Path(__file__).resolve().parents[1]
# shared/ beside the repository, or beside its worktree folder.
DATA = next((p / "data" / "multilabel" for p in (_ROOT.parent / "shared",
                                                   _ROOT.parent.parent / "shared")
             if (p / "data" / "multilabel").exists()), _ROOT.parent / "shared" / "data" / "multilabel")


def array_megabytes(obj, seen=None):
    """Bytes (in MB) of the numpy arrays reachable through ``obj``'s attributes and lists."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0.0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes / 2**20
    if isinstance(obj, dict):
        return sum(array_megabytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(array_megabytes(v, seen) for v in obj)
    if hasattr(obj, "__dict__"):
        return array_megabytes(vars(obj), seen)
    return 0.0


def routed_leaves(model, x):
    """The clusters (leaves of IHOMER's tree) that ``predict_one(x)`` visits."""
    xv, xs = model._vectors(x)
    out = []

    def walk(node):
        if node.is_leaf:
            out.append(node)
            return
        meta = None if node.learner._root is None else node.learner._proba_arrays(xv, xs)
        for c in model._routed(node, meta):
            walk(node.children[c])

    walk(model._tree)
    return out


def run(model, stream, n, window):
    """Prequential loop; returns (rows per window, instances/s, micro-F1, routing).

    For a HOMER tree, routing = (share of the clusters holding a true label that prediction
    visits, clusters visited per instance), measured outside the timed loop."""
    rows = []
    tp = fp = fn = 0
    needed = reached = visited = routed_instances = 0
    start = time.perf_counter()
    t0 = start
    for i, (x, y) in enumerate(stream, 1):
        tree = getattr(model, "_tree", None)
        if tree is not None and model.hierarchical and not tree.is_leaf:
            pause = time.perf_counter()
            leaves = {id(leaf) for leaf in routed_leaves(model, x)}
            index = model._clusterer._labels.index
            holding = {id(model._leaf_of[index[k]]) for k, v in y.items() if v and k in index}
            needed += len(holding)
            reached += len(holding & leaves)
            visited += len(leaves)
            routed_instances += 1
            t0 += time.perf_counter() - pause  # not timed
        pred = model.predict_one(x)
        predicted = {k for k, v in pred.items() if v}
        truth = {k for k, v in y.items() if v}
        tp += len(predicted & truth)
        fp += len(predicted - truth)
        fn += len(truth - predicted)
        model.learn_one(x, y)
        if i % window == 0 or i == n:
            now = time.perf_counter()
            rows.append((i, window / (now - t0) if i % window == 0 else (i % window) / (now - t0),
                         model._raw_memory_usage / 2**20, array_megabytes(model),
                         len(getattr(model, "clusters", [()]))))
            t0 = time.perf_counter()  # the memory measurement is not timed
    total = sum(window / r[1] for r in rows[:-1]) + (n - window * (len(rows) - 1)) / rows[-1][1]
    micro = 2 * tp / max(2 * tp + fp + fn, 1)
    routing = (reached / needed, visited / routed_instances) if needed else None
    return rows, n / total, micro, routing


def describe(model):
    if isinstance(model, IHOMER):
        sizes = [len(c) for c in model.clusters]
        return (f"{len(sizes)} clusters (largest {max(sizes)} labels), "
                f"{model.n_internal_nodes} meta-label nodes, "
                f"{sum(m.n_leaves for m in model._learners)} tree leaves")
    return f"{model.n_leaves} tree leaves"


def table(name, results):
    lines = [f"**{name}**", ""]
    for model_name, (model, rows, overall, micro, routing) in results.items():
        route = "" if routing is None else (
            f"; routing recall {routing[0]:.2f} (clusters holding a true label that prediction "
            f"visits), {routing[1]:.1f} clusters visited per instance")
        lines.append(f"- {model_name}: {overall:.0f} instances/s overall, micro-F1 {micro:.3f}, "
                     f"{describe(model)}, {len(model.labels)} labels{route}")
    lines += ["", "| instances | " + " | ".join(
        f"{m}: inst/s, MB (river / arrays), clusters" for m in results) + " |",
        "|---|" + "---|" * len(results)]
    n_rows = min(len(r[1]) for r in results.values())
    for k in range(n_rows):
        cells = []
        for model, rows, _, _, _ in results.values():
            i, ips, mb, arrays, clusters = rows[k]
            cells.append(f"{ips:.0f}/s, {mb:.1f} / {arrays:.1f} MB, {clusters}")
        lines.append(f"| {rows[k][0]:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


MODELS = {
    "MLHAT": lambda: MLHAT(seed=1),
    "IHOMER": lambda: IHOMER(seed=1),
    "IHOMER max_cluster_size=64": lambda: IHOMER(max_cluster_size=64, seed=1),
}


def run_models(make_stream, n, window):
    out = {}
    for name, make in MODELS.items():
        model = make()
        rows, overall, micro, routing = run(model, make_stream(), n, window)
        out[name] = (model, rows, overall, micro, routing)
        print(f"{name}: {overall:.0f}/s, micro-F1 {micro:.3f}, {describe(model)}", flush=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-generated", type=int, default=20000)
    parser.add_argument("--window", type=int, default=2000)
    parser.add_argument("--data", type=pathlib.Path, default=DATA,
                        help="folder of the Mulan data sets (holding bibtex/bibtex.arff)")
    parser.add_argument("--write", action="store_true",
                        help="write the tables to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    _kernels.warm_up()
    sections = []
    bibtex = args.data / "bibtex" / "bibtex.arff"
    if bibtex.exists():
        n = MulanStream(bibtex, sparse=True).n_samples
        results = run_models(lambda: MulanStream(bibtex, sparse=True), n, args.window)
        sections.append(table("bibtex (7,395 x 1,836 words, 159 labels)", results))
    else:
        sections.append(f"bibtex not found at {bibtex}: skipped.")

    def generated():
        return SparseTopicStream(n_features=10_000, n_labels=1_000, n_groups=200,
                                 n_samples=args.n_generated, only_present=True, seed=0)

    results = run_models(generated, args.n_generated, args.window)
    sections.append(table(f"generated ({args.n_generated:,} instances, 1,000 labels, 10,000 "
                          "sparse features)", results))
    text = "\n\n".join(sections)
    print(text)
    if args.write:
        command = command_line(__file__, argv)
        write_section("multilabel_scale", "## MLHAT and IHOMER on wide, sparse streams\n\n"
                      f"`{command}` (2-core machine shared with other jobs; load "
                      f"average {os.getloadavg()[0]:.0f} at the end; the models of a stream ran "
                      "one after the other)\n\n" + text)


if __name__ == "__main__":
    main()
