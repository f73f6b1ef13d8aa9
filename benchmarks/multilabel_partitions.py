"""Flat vs hierarchical: IHOMER's label partitions against one MLHAT, with routing recall.

For each data set and stream order (seed 0: file order; seed k > 0: a random permutation, as in
``benchmarks/multilabel.py``), prequentially, every instance counted:

- MLHAT alone (what IHOMER's defaults are while the labels fit ``max_cluster_size``);
- the flat partition: ``IHOMER(max_cluster_size=cap, hierarchical=False)``;
- the HOMER tree: ``IHOMER(max_cluster_size=cap)``, with its routing recall (the share of the
  clusters holding a true label that the prediction visits, measured outside the timed loop)
  and the clusters it visits per instance;
- the same tree with oracle routing: the prediction goes to exactly the clusters holding a true
  label (learning is unchanged). Not a model: the most any router could give the tree.

Caps: 32 labels on sets of more than 32 labels, 16 on those of 20-32, 4 on the smaller ones.
Prints one markdown table (mean over the seeds of subset accuracy / Hamming loss / micro-F1 /
macro-F1); docs/multilabel.md quotes it.

    python benchmarks/multilabel_partitions.py --seeds 0 1 2
    python benchmarks/multilabel_partitions.py --datasets medical bibtex --seeds 0 --cache p.jsonl
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np

from streamml.multilabel import IHOMER, MLHAT
from streamml.multilabel import _kernels

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from multilabel import DATASETS, load, ordered, scores  # noqa: E402
from multilabel_scale import routed_leaves  # noqa: E402


class OracleRoutedIHOMER(IHOMER):
    """IHOMER whose prediction visits exactly the clusters holding a label of ``truth``."""

    truth = ()

    def _routed(self, node, meta_proba):
        if not self._predicting:
            return super()._routed(node, meta_proba)
        return [c for c, child in enumerate(node.children)
                if any(a in child.position for a in self.truth)]

    def predict_one(self, x, **kwargs):
        self._predicting = True
        try:
            return super().predict_one(x, **kwargs)
        finally:
            self._predicting = False

    _predicting = False


def cap_for(n_labels):
    return 32 if n_labels > 32 else 16 if n_labels >= 20 else 4


def run(model, data, labels):
    index = {label: j for j, label in enumerate(labels)}
    y_true = np.zeros((len(data), len(labels)), dtype=bool)
    y_pred = np.zeros_like(y_true)
    needed = reached = visited = routed = 0
    seconds = 0.0
    oracle = isinstance(model, OracleRoutedIHOMER)
    for i, (x, y) in enumerate(data):
        tree = getattr(model, "_tree", None)
        if tree is not None and model.hierarchical and not tree.is_leaf and not oracle:
            known = model._clusterer._labels.index
            holding = {id(model._leaf_of[known[k]]) for k, v in y.items() if v and k in known}
            leaves = {id(leaf) for leaf in routed_leaves(model, x)}
            needed += len(holding)
            reached += len(holding & leaves)
            visited += len(leaves)
            routed += 1
        if oracle:
            known = model._clusterer._labels.index
            model.truth = [known[k] for k, v in y.items() if v and k in known]
        start = time.perf_counter()
        pred = model.predict_one(x)
        model.learn_one(x, y)
        seconds += time.perf_counter() - start
        for k, v in y.items():
            if v:
                y_true[i, index[k]] = True
        for k, v in pred.items():
            if v and k in index:
                y_pred[i, index[k]] = True
    out = scores(y_true, y_pred)
    out["ips"] = len(data) / seconds
    if needed:
        out["recall"], out["visited"] = reached / needed, visited / routed
    if isinstance(model, IHOMER):
        out["clusters"] = len(model.clusters)
    return out


def variants(cap, seed):
    return {
        "MLHAT": lambda: MLHAT(seed=seed),
        "flat": lambda: IHOMER(max_cluster_size=cap, hierarchical=False, seed=seed),
        "tree": lambda: IHOMER(max_cluster_size=cap, seed=seed),
        "tree, oracle routing": lambda: OracleRoutedIHOMER(max_cluster_size=cap, seed=seed),
    }


def table(rows):
    lines = ["| set (labels) | cap | " + " | ".join(
        f"{v}" for v in variants(2, 0)) + " | routing recall, clusters visited / clusters |",
        "|---|---|" + "---|" * 5]
    by = {}
    for r in rows:
        by.setdefault((r["dataset"], r["n_labels"], r["cap"]), {}).setdefault(
            r["variant"], []).append(r)
    for (name, n_labels, cap), cells in by.items():
        out = []
        for v in variants(2, 0):
            rs = cells.get(v, [])
            if not rs:
                out.append("-")
                continue
            m = {k: np.mean([r[k] for r in rs]) for k in ("subset", "hamming", "micro", "macro")}
            out.append(f"{m['subset']:.3f} / {m['hamming']:.4f} / {m['micro']:.3f} / "
                       f"{m['macro']:.3f}")
        tree = [r for r in cells.get("tree", []) if "recall" in r]
        route = "one cluster" if not tree else (
            f"{np.mean([r['recall'] for r in tree]):.2f}, "
            f"{np.mean([r['visited'] for r in tree]):.1f} / "
            f"{np.mean([r['clusters'] for r in tree]):.0f}")
        lines.append(f"| {name} ({n_labels}) | {cap} | " + " | ".join(out) + f" | {route} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--cache", default=None, help="JSON-lines file of the runs (appended)")
    parser.add_argument("--variants", nargs="+", default=list(variants(2, 0)),
                        help="a subset of the models (default: all four)")
    args = parser.parse_args(argv)
    _kernels.warm_up()
    rows = []
    for name in args.datasets:
        data = load(name)
        labels = sorted({k for _, y in data for k in y})
        cap = cap_for(len(labels))
        for seed in args.seeds:
            stream = ordered(data, seed)
            for variant, make in variants(cap, seed).items():
                if variant not in args.variants:
                    continue
                row = run(make(), stream, labels)
                row.update(dataset=name, n_labels=len(labels), cap=cap, variant=variant,
                           seed=seed)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.cache:
                    with open(args.cache, "a") as f:
                        f.write(json.dumps(row) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
