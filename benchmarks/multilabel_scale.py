"""Throughput and memory of MLHAT on wide, sparse multi-label streams.

Two streams, each predicted then learned instance by instance (prequential):

- bibtex in full (7,395 instances, 1,836 words, 159 labels), read with
  ``MulanStream(..., sparse=True)`` (only the words present);
- a generated stream of 1,000 labels and 10,000 sparse features:
  ``streamml.datasets.SparseTopicStream`` with 200 topics of co-occurring labels, giving only
  the labels present.

Reported per window of instances: instances per second of the predict+learn loop (numba
compile time excluded by a warm-up call) and the model's size at the window's end, as river's
``_raw_memory_usage`` and as the bytes of the numpy arrays the model holds, so that flat
memory and steady throughput show as flat columns.

    python benchmarks/multilabel_scale.py                 # both streams, writes RESULTS.md
    python benchmarks/multilabel_scale.py --n-generated 5000
"""

import argparse
import pathlib
import sys
import time

import numpy as np

from streamml.datasets import MulanStream, SparseTopicStream
from streamml.multilabel import MLHAT
from streamml.multilabel import _kernels

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

DATA = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "multilabel"


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


def run(model, stream, n, window):
    rows = []
    tp = fp = fn = 0
    start = time.perf_counter()
    t0 = start
    for i, (x, y) in enumerate(stream, 1):
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
                         model._raw_memory_usage / 2**20, array_megabytes(model)))
            t0 = time.perf_counter()  # the memory measurement is not timed
    total = sum(window / r[1] for r in rows[:-1]) + (n - window * (len(rows) - 1)) / rows[-1][1]
    micro = 2 * tp / max(2 * tp + fp + fn, 1)
    return rows, n / total, micro


def table(name, rows, overall, micro, model):
    lines = [f"**{name}**: {overall:.0f} instances/s overall, micro-F1 {micro:.3f}, "
             f"{model.n_leaves} leaves, {len(model.labels)} labels", "",
             "| instances | instances/s in window | model MB (river) | numpy arrays MB |",
             "|---|---|---|---|"]
    lines += [f"| {i:,} | {ips:.0f} | {mb:.1f} | {arrays:.1f} |" for i, ips, mb, arrays in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-generated", type=int, default=20000)
    parser.add_argument("--window", type=int, default=2000)
    parser.add_argument("--data", type=pathlib.Path, default=DATA,
                        help="folder of the Mulan data sets (holding bibtex/bibtex.arff)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    _kernels.warm_up()
    sections = []
    bibtex = args.data / "bibtex" / "bibtex.arff"
    if bibtex.exists():
        stream = MulanStream(bibtex, sparse=True)
        model = MLHAT(seed=1)
        rows, overall, micro = run(model, stream, stream.n_samples, args.window)
        sections.append(table("bibtex (7,395 x 1,836 words, 159 labels)", rows, overall, micro,
                              model))
    else:
        sections.append(f"bibtex not found at {bibtex}: skipped.")
    model = MLHAT(seed=1)
    stream = SparseTopicStream(n_features=10_000, n_labels=1_000, n_groups=200,
                               n_samples=args.n_generated, only_present=True, seed=0)
    rows, overall, micro = run(model, stream, args.n_generated, args.window)
    sections.append(table(f"generated ({args.n_generated:,} instances, 1,000 labels, 10,000 "
                          "sparse features)", rows, overall, micro, model))
    text = "\n\n".join(sections)
    print(text)
    if not args.no_write:
        command = "python benchmarks/multilabel_scale.py " + " ".join(argv or sys.argv[1:])
        write_section("multilabel_scale", "## MLHAT on wide, sparse streams\n\n"
                      f"`{command.strip()}` (2-core machine shared with other jobs)\n\n" + text)


if __name__ == "__main__":
    main()
