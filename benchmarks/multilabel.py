"""Prequential multi-label benchmark: iHOMER and MLHAT against river and the authors' MLHAT.

Every instance is first predicted, then learned (test-then-train), and every instance counts.
Seed 0 streams the file order; seed k > 0 a random permutation (the same for every model), so
the spread over seeds is the order noise of every model, deterministic ones included (ours also
get the seed). Metrics: subset accuracy, Hamming loss, micro-F1, macro-F1 (labels never
positive nor predicted count as F1 = 0, river's convention), example-F1, instances per second
of the whole predict+learn loop (numba kernels loaded by a warm-up call first), and peak model
size (river's ``_raw_memory_usage`` sampled 10 times along the stream).

Peers: river CC(LogReg), BR(HT), label powerset (as shipped and argmax-decoded), and the
authors' MLHAT (github aestebant/mlhat, imported as ``multioutput.MLHAT`` when installed as a
peer, else reported as not run). Every model runs every set in full, but on bibtex, where the
slow peers run a prefix (``AUTHORS_CAP``, ``RIVER_TREE_CAP``, ``RIVER_CC_CAP``) and our IHOMER
is reported on the same prefix beside them.

    python benchmarks/multilabel.py --datasets yeast emotions --seeds 0 1 2
    python benchmarks/multilabel.py --models peers --cache /tmp/ml.jsonl   # run peers only
    python benchmarks/multilabel.py --models ours --cache /tmp/ml.jsonl --write  # + tables
    python benchmarks/multilabel.py --report-only --cache /tmp/ml.jsonl --write  # tables only

Throughput and memory on wide streams (bibtex in full, 1,000 labels x 10,000 words):
``benchmarks/multilabel_scale.py``; label-dependency drift: ``benchmarks/multilabel_drift.py``.

``--cache`` keeps each (data set, model, seed) result in a JSON-lines file, so the slow peers
run once (in the background) and the tables gather every row; runs made at different times on
a shared machine make throughput ratios noisier, which the section says.
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np
from river import datasets, linear_model, multioutput, preprocessing, tree

from streamml.datasets import DriftingMultiLabel, MulanStream
from streamml.multilabel import IHOMER, MLHAT
from streamml.multilabel import _kernels

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

_ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = next((p for p in (_ROOT.parent / "shared", _ROOT.parent.parent / "shared")
             if (p / "data" / "multilabel").exists()), _ROOT.parent / "shared") / "data" / "multilabel"

# Published numbers (spec, Neves et al. 2025): subset acc, micro-F1, macro-F1, Hamming loss.
PUBLISHED = {
    "flags": {"iHOMER": (0.069, 0.642, 0.527, 0.334), "MLHAT": (0.062, 0.586, 0.501, 0.387)},
    "emotions": {"iHOMER": (0.160, 0.463, 0.445, 0.312), "MLHAT": (0.136, 0.445, 0.430, 0.339)},
    "birds": {"iHOMER": (0.495, 0.109, 0.056, 0.066), "MLHAT": (0.388, 0.133, 0.092, 0.084)},
    "yeast": {"iHOMER": (0.142, 0.608, 0.364, 0.221), "MLHAT": (0.131, 0.598, 0.372, 0.227)},
}


class TwoWayLabelPowerset(multioutput.MultiClassEncoder):
    """river's label powerset, predicting both as shipped and as the most probable label set.

    river 0.26's ``MultiClassEncoder`` returns, per label, the probability of its most probable
    label set as P(value of that set), so ``predict_one`` flips every label whenever that
    probability is below 0.5. ``predict_one`` here returns river's answer and keeps the plain
    argmax decoding of the SAME model in ``last_argmax`` (one model, two read-outs).
    """

    def predict_one(self, x, **kwargs):
        enc = self.model.predict_proba_one(x)
        if not enc:
            self.last_argmax = {}
            return {}
        code = max(enc, key=enc.get)
        self.last_argmax = {label: bool(v) for label, v in self._r_label_map[code]}
        shipped = super().predict_proba_one(x)
        return {label: max(p, key=p.get) for label, p in shipped.items()}


def load(name):
    """The stream as a list, the same data for every model: string (nominal) features one-hot
    encoded with every value of the feature given, 1.0 or 0.0 (river's CC scaler and the
    authors' MLHAT take numbers only; leaving the other values out would make them missing);
    identifier attributes left out."""
    if name == "yeast":
        return list(datasets.Yeast())
    if name == "birds":
        stream = MulanStream([DATA / "birds" / "birds-train.arff",
                              DATA / "birds" / "birds-test.arff"])
    else:
        stream = MulanStream(DATA / name / f"{name}.arff")
    data = list(stream)
    values = {}
    for x, _ in data:
        for k, v in x.items():
            if isinstance(v, str):
                values.setdefault(k, set()).add(v)
    if not values:
        return data
    # A nominal attribute with a value per instance or so is an identifier (genbase's
    # "protein"), not a feature: left out.
    levels = {k: sorted(vs) for k, vs in values.items() if len(vs) <= len(data) // 2}
    out = []
    for x, y in data:
        row = {}
        for k, v in x.items():
            if isinstance(v, str):
                for level in levels.get(k, ()):
                    row[f"{k}={level}"] = 1.0 if level == v else 0.0
            else:
                row[k] = v
        out.append((row, y))
    return out


class EmptyPrediction:
    """The baseline that never predicts a label (its Hamming loss is the label density): the
    issue asks every model's Hamming loss to stay below it. Not a peer in the goal lines."""

    _raw_memory_usage = 0

    def predict_one(self, x):
        return {}

    def learn_one(self, x, y):
        pass


EMPTY = "empty prediction (baseline)"


def river_models():
    return {
        "river CC(LogReg)": lambda: preprocessing.StandardScaler() | multioutput.ClassifierChain(
            linear_model.LogisticRegression()
        ),
        "river BR(HT)": lambda: multioutput.PerOutputClassifier(tree.HoeffdingTreeClassifier()),
        "river LP(HT) as shipped": lambda: TwoWayLabelPowerset(tree.HoeffdingTreeClassifier()),
    }


def prequential(model, data, labels, memory_every=None):
    """Predict-then-learn over ``data``; returns (Y_true, Y_pred, seconds, peak bytes).

    For a ``TwoWayLabelPowerset`` the argmax read-out is kept in ``prequential.argmax``.
    """
    n = len(data)
    y_true = np.zeros((n, len(labels)), dtype=bool)
    y_pred = np.zeros((n, len(labels)), dtype=bool)
    y_argmax = np.zeros((n, len(labels)), dtype=bool)
    index = {label: j for j, label in enumerate(labels)}
    every = memory_every or max(n // 10, 1)
    peak = 0
    elapsed = 0.0
    for i, (x, y) in enumerate(data):
        start = time.perf_counter()
        pred = model.predict_one(x)
        model.learn_one(x, y)
        elapsed += time.perf_counter() - start
        for label, v in y.items():
            y_true[i, index[label]] = v
        for label, v in pred.items():
            if v and label in index:
                y_pred[i, index[label]] = True
        for label, v in getattr(model, "last_argmax", {}).items():
            if v and label in index:
                y_argmax[i, index[label]] = True
        if (i + 1) % every == 0:
            peak = max(peak, model._raw_memory_usage)
    prequential.argmax = y_argmax
    return y_true, y_pred, elapsed, peak


def scores(y_true, y_pred):
    tp = (y_true & y_pred).sum(axis=0).astype(float)
    fp = (~y_true & y_pred).sum(axis=0).astype(float)
    fn = (y_true & ~y_pred).sum(axis=0).astype(float)
    subset = float((y_true == y_pred).all(axis=1).mean())
    hamming = float((y_true != y_pred).mean())
    micro = 2 * tp.sum() / max(2 * tp.sum() + fp.sum() + fn.sum(), 1e-12)
    denom = 2 * tp + fp + fn
    macro = float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 0.0)))
    inter = (y_true & y_pred).sum(axis=1)
    sizes = y_true.sum(axis=1) + y_pred.sum(axis=1)
    example = float(np.mean(np.where(sizes > 0, 2 * inter / np.maximum(sizes, 1), 1.0)))
    return {"subset": subset, "hamming": hamming, "micro": float(micro), "macro": macro,
            "example": example}


METRICS = ("subset", "hamming", "micro", "macro", "example")


DATASETS = ("yeast", "emotions", "flags", "birds", "cal500", "genbase", "foodtruck", "medical",
            "enron", "bibtex")
# Peers too slow for a whole stream run on its first N instances: on bibtex (7,395 x 1,836
# words, 159 labels) the authors' MLHAT and river's Hoeffding-tree models do about one instance
# per second; river's CC runs the first 2,000, the prefix the issue measured it on. Every other
# set runs in full for every model (the authors' MLHAT: 4-10 instances per second on the wide
# ones). IHOMER also runs on each such prefix, beside them.
AUTHORS_CAP = {"bibtex": 300}
RIVER_TREE_CAP = {"bibtex": 300}
RIVER_CC_CAP = {"bibtex": 2000}
# Rows shown in the tables but not peers of the goal lines: the issue asks for "a correctly
# decoded label powerset", and river's LP as shipped flips every label whenever its most
# probable label set has probability below 0.5 (Hamming 0.65-0.96 on most sets).
NOT_GOAL_PEERS = {"river LP(HT) as shipped"}


def _cap(dataset, model_name):
    if model_name == "authors' MLHAT":
        return AUTHORS_CAP.get(dataset)
    if model_name == "river CC(LogReg)":
        return RIVER_CC_CAP.get(dataset)
    if model_name.startswith("river"):
        return RIVER_TREE_CAP.get(dataset)
    return None


def authors_mlhat():
    """The authors' MLHAT class when installed as a peer, else None."""
    try:
        import multioutput as peer  # the top-level package of github aestebant/mlhat's src/
    except ImportError:
        return None
    return getattr(peer, "MLHAT", None)


def ordered(data, seed):
    if seed == 0:
        return data
    order = np.random.default_rng(seed).permutation(len(data))
    return [data[i] for i in order]


def model_factories(which, hamming_budgets=()):
    """name -> (make(seed), seeded) for the models of ``which`` ('ours', 'peers' or 'all');
    with ours, one MLHAT per other ``hamming_budget`` too."""
    out = {}
    if which in ("ours", "all"):
        out["IHOMER (ours)"] = (lambda seed: IHOMER(seed=seed), True)
        out["MLHAT (ours)"] = (lambda seed: MLHAT(seed=seed), True)
        for budget in hamming_budgets:
            out[f"MLHAT hamming_budget={budget:g} (ours)"] = (
                lambda seed, budget=budget: MLHAT(seed=seed, hamming_budget=budget), True)
        out[EMPTY] = (lambda seed: EmptyPrediction(), False)
    if which in ("peers", "all"):
        for name, make in river_models().items():
            out[name] = (lambda seed, make=make: make(), False)
        peer = authors_mlhat()
        if peer is not None:
            out["authors' MLHAT"] = (lambda seed: peer(), False)
    return out


def run_one(name, data, labels, model_name, make, seed):
    """One prequential run; returns a dict of rows (LP gives two read-outs of one run)."""
    yt, yp, sec, mem = prequential(make(seed), data, labels)
    out = {model_name: {**scores(yt, yp), "ips": len(data) / sec, "mem": mem, "n": len(data)}}
    if model_name.startswith("river LP"):
        out["river LP(HT) argmax-decoded"] = {**scores(yt, prequential.argmax),
                                              "ips": len(data) / sec, "mem": mem,
                                              "n": len(data)}
    return out


def run_dataset(name, seeds, which, cache=None, verbose=True, hamming_budgets=()):
    """Run the models of ``which`` on ``name`` for every seed, appending rows to ``cache``."""
    full = load(name)
    labels = list(full[0][1])
    factories = model_factories(which, hamming_budgets)
    for seed in seeds:
        data = ordered(full, seed)
        for model_name, (make, _) in factories.items():
            cap = _cap(name, model_name)
            if cap:
                parts = [data[:cap]]
            elif model_name in ("IHOMER (ours)", EMPTY):  # also on the slow peers' prefixes
                caps = {c for c in (AUTHORS_CAP.get(name), RIVER_TREE_CAP.get(name),
                                    RIVER_CC_CAP.get(name)) if c}
                parts = [data] + [data[:c] for c in sorted(caps)]
            else:
                parts = [data]
            for part in parts:
                run_name = model_name
                rows = run_one(name, part, labels, run_name, make, seed)
                for row_name, row in rows.items():
                    record = {"dataset": name, "model": row_name, "seed": seed,
                              "n_labels": len(labels), "n_total": len(full), **row}
                    if verbose:
                        print(f"  {name:9s} seed {seed} {row_name:28s} n={row['n']}",
                              _fmt({k: (v, 0) for k, v in row.items()}), flush=True)
                    if cache is not None:
                        with open(cache, "a") as f:
                            f.write(json.dumps(record) + "\n")


def gather(cache):
    """{dataset: {(model, n): {metric: (mean, sd)}}} from the cache (last run of each key wins)."""
    latest = {}
    for line in pathlib.Path(cache).read_text().splitlines():
        r = json.loads(line)
        latest[r["dataset"], r["model"], r["n"], r["seed"]] = r
    grouped = {}
    for (dataset, model, n, _), r in latest.items():
        grouped.setdefault(dataset, {}).setdefault((model, n), []).append(r)
    out = {}
    for dataset, rows in grouped.items():
        out[dataset] = {}
        for key, runs in rows.items():
            row = {k: (float(np.mean([r[k] for r in runs])), float(np.std([r[k] for r in runs])))
                   for k in (*METRICS, "ips", "mem")}
            row["seeds"] = sorted(r["seed"] for r in runs)
            row["runs"] = {r["seed"]: r for r in runs}
            row["n_total"] = runs[0]["n_total"]
            row["n_labels"] = runs[0]["n_labels"]
            out[dataset][key] = row
    return out


def _fmt(row):
    return " ".join(f"{k}={row[k][0]:.3f}" for k in METRICS) + (
        f" ips={row['ips'][0]:.0f} mem={row['mem'][0] / 1e6:.2f}MB"
    )


def _cell(mean, sd):
    return f"{mean:.3f} ± {sd:.3f}" if sd >= 5e-4 else f"{mean:.3f}"


def markdown(results):
    lines = []
    order = [d for d in DATASETS if d in results] + [d for d in results if d not in DATASETS]
    for name in order:
        rows = results[name]
        any_row = next(iter(rows.values()))
        n_total, n_labels = any_row["n_total"], any_row["n_labels"]
        lines.append(f"\n**{name}** ({n_total} instances, {n_labels} labels; mean ± sd over "
                     "seeds = stream orders)\n")
        lines.append("| model | instances | seeds | subset acc ↑ | Hamming ↓ | micro-F1 ↑ "
                     "| macro-F1 ↑ | example-F1 ↑ | inst/s | peak mem |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for (model_name, n), row in sorted(rows.items(), key=lambda kv: (-kv[0][1], kv[0][0])):
            cells = [_cell(*row[k]) for k in METRICS]
            part = "all" if n == n_total else f"first {n}"
            lines.append(f"| {model_name} | {part} | {len(row['seeds'])} | " + " | ".join(cells)
                         + f" | {row['ips'][0]:.0f} | {row['mem'][0] / 1e6:.2f} MB |")
        for pub, (sub, mic, mac, ham) in PUBLISHED.get(name, {}).items():
            lines.append(f"| published {pub} | all | – | {sub:.3f} | {ham:.3f} | {mic:.3f} "
                         f"| {mac:.3f} | – | – | – |")
        lines.append("")
        lines.append(goals(name, rows, n_total))
    return "\n".join(lines)


def goals(name, rows, n_total):
    """IHOMER against the best peer on each stream length the peers ran on, and against MLHAT,
    from the table's numbers."""
    ours = rows.get(("IHOMER (ours)", n_total))
    if ours is None:
        return "(IHOMER not run)"
    lines = []
    def is_peer(model):
        return not model.endswith("(ours)") and model != EMPTY and model not in NOT_GOAL_PEERS

    for n in sorted({n for (m, n) in rows if is_peer(m)}, reverse=True):
        mine = rows.get(("IHOMER (ours)", n))
        peers = {m: r for (m, k), r in rows.items() if k == n and is_peer(m)}
        if mine is None or not peers:
            continue
        # Compare on the orders (seeds) every peer ran on, not ours' mean over more orders.
        common = set(mine["seeds"]).intersection(*(set(r["seeds"]) for r in peers.values()))
        used = sorted(common) if common else mine["seeds"]
        if common and common != set(mine["seeds"]):
            picked = [mine["runs"][k] for k in sorted(common)]
            mine = {k: (float(np.mean([r[k] for r in picked])),
                        float(np.std([r[k] for r in picked]))) for k in (*METRICS, "ips")}
        parts = []
        for metric, better in (("micro", max), ("macro", max), ("subset", max),
                               ("hamming", min)):
            best_name, best = better(peers.items(), key=lambda kv: kv[1][metric][0])
            noise = max(best[metric][1], mine[metric][1])
            diff = mine[metric][0] - best[metric][0]
            if better is min:
                diff = -diff
            verdict = "✓" if diff >= 0 else ("≈ (within sd)" if -diff <= noise else "✗")
            parts.append(f"{metric} {mine[metric][0]:.3f} vs {best[metric][0]:.3f} "
                         f"({best_name}) {verdict}")
        empty = rows.get((EMPTY, n))
        if empty is not None and all(k in empty["runs"] for k in used):
            h = float(np.mean([empty["runs"][k]["hamming"] for k in used]))
            verdict = "✓" if mine["hamming"][0] <= h else "✗"
            parts.append(f"hamming vs empty prediction {mine['hamming'][0]:.4f} vs {h:.4f} "
                         f"{verdict}")
        for m in ("river CC(LogReg)", "authors' MLHAT"):
            if m in peers:
                parts.append(f"speed {mine['ips'][0] / peers[m]['ips'][0]:.1f}× {m}")
        part = "whole stream" if n == n_total else f"first {n}"
        if common and len(common) < len(rows[("IHOMER (ours)", n)]["seeds"]):
            part += f", orders {sorted(common)}"
        lines.append(f"IHOMER vs best peer ({part}): " + "; ".join(parts) + ".")
    empty = rows.get((EMPTY, n_total))
    if empty is not None:
        verdict = "✓" if ours["hamming"][0] <= empty["hamming"][0] else "✗"
        lines.append(f"IHOMER's Hamming loss (whole stream, every order) vs the empty "
                     f"prediction's: {ours['hamming'][0]:.4f} vs {empty['hamming'][0]:.4f} "
                     f"{verdict}.")
    mlhat = rows.get(("MLHAT (ours)", n_total))
    if mlhat is not None:
        lines.append(
            f"IHOMER vs our MLHAT: subset {ours['subset'][0] - mlhat['subset'][0]:+.3f}, "
            f"micro-F1 {ours['micro'][0] - mlhat['micro'][0]:+.3f}, speed "
            f"{ours['ips'][0] / mlhat['ips'][0]:.2f}×."
        )
    return "\n\n".join(lines)


def memory_run(n_samples, every=25_000):
    """iHOMER on a long DriftingMultiLabel stream (a drift every 100,000): size over time."""
    stream = DriftingMultiLabel(n_features=20, n_labels=12, n_groups=3,
                                drift_at=tuple(range(100_000, n_samples, 100_000)),
                                n_samples=n_samples, seed=3)
    model = IHOMER(seed=0)
    start = time.time()
    for i, (x, y) in enumerate(stream, 1):
        model.predict_one(x)
        model.learn_one(x, y)
        if i % every == 0:
            print(i, round(time.time() - start), "s", model._raw_memory_usage, "B",
                  len(model.clusters), "clusters", sum(m.n_leaves for m in model._learners),
                  "leaves", len(model.restructures), "restructures", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--models", choices=("ours", "peers", "all"), default="all")
    parser.add_argument("--cache", default=None,
                        help="JSON-lines file collecting every run (default: a temporary file)")
    parser.add_argument("--write", action="store_true",
                        help="write the tables gathered from the cache to RESULTS.md")
    parser.add_argument("--no-tables", action="store_true",
                        help="run no set at all (only --memory)")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: gather the tables from --cache (with --write: write)")
    parser.add_argument("--hamming-budget", nargs="+", type=float, default=[],
                        help="with ours: also run MLHAT at these hamming_budget values "
                             "(rows 'MLHAT hamming_budget=B (ours)', not in the goal lines)")
    parser.add_argument("--memory", type=int, default=0,
                        help="also stream this many drifting instances through iHOMER, "
                             "printing its size every 25,000")
    args = parser.parse_args(argv)
    _kernels.warm_up()
    if not args.no_tables:
        cache = args.cache
        if cache is None:
            import tempfile

            cache = tempfile.mkstemp(suffix=".jsonl")[1]
        missing = [d for d in args.datasets if d != "yeast" and not (DATA / d).exists()]
        if missing:
            print(f"skipping {missing}: {DATA} not found", file=sys.stderr)
        for name in args.datasets:
            if name not in missing and not args.report_only:
                run_dataset(name, args.seeds, args.models, cache,
                            hamming_budgets=args.hamming_budget)
        if authors_mlhat() is None and args.models != "ours" and not args.report_only:
            print("authors' MLHAT not installed as a peer (import multioutput.MLHAT failed): "
                  "not run", file=sys.stderr)
        text = markdown(gather(cache))
        print(text)
        if args.write:
            write_section("multilabel", HEADER + text)
    if args.memory:
        memory_run(args.memory)


HEADER = """## multilabel: iHOMER and MLHAT (`streamml`) against river and the authors' MLHAT

Commands (2-core machine; the peers ran in separate background processes, niced, beside other
jobs, ours afterwards at lower load: compare inst/s across rows loosely, and see section
`multilabel_speed` for ours and river CC side by side in one process):

    python benchmarks/multilabel.py --models peers --seeds 0 1 2 --cache ml.jsonl
    python benchmarks/multilabel.py --models ours --seeds 0 1 2 --hamming-budget 1.3 2 --cache ml.jsonl
    python benchmarks/multilabel.py --report-only --cache ml.jsonl --write

Prequential (predict, then learn), EVERY instance counted. Seed 0 is the file order (birds:
train then test), seeds 1, 2 random orders, identical for every model; every model ran every
order. Every model runs every set in full but bibtex, where river's CC runs the first 2,000
instances and the authors' MLHAT (github aestebant/mlhat, installed as a peer, never committed)
and river's Hoeffding-tree models the first 300; IHOMER's row on each such prefix is beside
them. The goal lines compare IHOMER with the best peer per metric on the orders both ran;
river's LP as shipped is in the tables but not a goal peer (it flips every label when its most
probable label set has probability below 0.5). "empty prediction" is the baseline that never
predicts a label: every model's Hamming loss should stay below it. Rows "MLHAT
hamming_budget=B (ours)": MLHAT letting its chosen rules make up to B times the errors of
predicting no label (the default, 0.95, keeps its Hamming loss below the empty prediction's;
above 1 it buys F1 of rare labels with Hamming loss); not in the goal lines. Throughput after
a numba warm-up.
"""

if __name__ == "__main__":
    main()
