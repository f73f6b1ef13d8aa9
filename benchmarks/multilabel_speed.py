"""Throughput of MLHAT and IHOMER against river CC(logreg), side by side in one process.

The issue's speed goal, on every multi-label set in shared/: our models at least as fast as
river's classifier chain of logistic regressions (standardized features), and at least 10x
the authors' MLHAT (github aestebant/mlhat, measured when it is installed as a peer, in one
pass over the first ``--authors-cap`` instances, ``--authors-wide-cap`` on the wide sets where
it takes seconds per instance, our models timed on the same prefix; else said not run).

Every model runs the same prequential loop (``predict_one`` then ``learn_one``, every
instance) on the same data, in file order, from a fresh model per pass. Before any timing,
every model makes one pass over the first ``--warm-up`` instances (numba kernels loaded,
first-call costs paid). The passes of the models are interleaved (ours, river CC, ours, ...)
``--repeats`` times and each model keeps its fastest pass, so that load from other jobs on a
shared machine hits every model alike and the ratios stay readable. river CC is slow on the
wide sets (a few instances per second on bibtex), so there it runs on the first
``--river-cap`` instances, and our models are timed on the same prefix for the ratio (and on
the whole stream beside it).

    python benchmarks/multilabel_speed.py                      # every set, prints the table
    python benchmarks/multilabel_speed.py --datasets flags yeast --repeats 5
    python benchmarks/multilabel_speed.py --write              # + benchmarks/RESULTS.md
"""

import argparse
import os
import pathlib
import sys
import time

from streamml.multilabel import IHOMER, MLHAT, _kernels

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _results import command_line, write_section  # noqa: E402
from multilabel import DATASETS, authors_mlhat, load, river_models  # noqa: E402

RIVER_CC = "river CC(LogReg)"
AUTHORS = "authors' MLHAT"
# river CC's throughput below which it runs on a prefix only (wide sets: tens of seconds per
# hundred instances).
WIDE_FEATURES = 500
# Instances per model and ``--repeats`` below which the short streams get more passes.
MIN_INSTANCES = 1000


def ours():
    return {"MLHAT": lambda: MLHAT(seed=0), "IHOMER": lambda: IHOMER(seed=0)}


def one_pass(make, data):
    """Seconds of one predict-then-learn pass of a fresh model over ``data``."""
    model = make()
    start = time.perf_counter()
    for x, y in data:
        model.predict_one(x)
        model.learn_one(x, y)
    return time.perf_counter() - start


def measure(makers, data, repeats, more_on_short=True):
    """Instances per second of each model's fastest of ``repeats`` interleaved passes (more
    on short streams: at least ``MIN_INSTANCES`` instances per model, at most 4x the passes,
    so that a pass of a few milliseconds preempted by another job does not decide)."""
    best = {name: float("inf") for name in makers}
    passes = repeats
    if more_on_short:
        passes = min(4 * repeats, max(repeats, -(-repeats * MIN_INSTANCES // len(data))))
    for _ in range(passes):
        for name, make in makers.items():
            best[name] = min(best[name], one_pass(make, data))
    return {name: len(data) / sec for name, sec in best.items()}


def run_dataset(name, args):
    data = load(name)
    n_features = len({k for x, _ in data[:200] for k in x})
    models = ours()
    peers = {RIVER_CC: river_models()[RIVER_CC]}
    for make in (*models.values(), *peers.values()):
        one_pass(make, data[: args.warm_up])
    wide = n_features > WIDE_FEATURES
    prefix = data[: args.river_cap] if wide else data
    row = {"n": len(data), "n_prefix": len(prefix), "features": n_features,
           "labels": len(data[0][1])}
    row["prefix"] = measure({**models, **peers}, prefix, args.repeats)
    row["full"] = (measure(models, data, max(1, args.repeats // 2)) if wide
                   else {k: v for k, v in row["prefix"].items() if k in models})
    peer = authors_mlhat()
    cap = args.authors_wide_cap if wide else args.authors_cap
    if peer is not None and cap > 0:
        head = data[:cap]
        one_pass(peer, head[:5])
        passes = 1 if wide else args.repeats  # seconds per instance on the wide sets
        row["authors"] = measure({AUTHORS: peer, **models}, head, passes, more_on_short=False)
        row["authors_n"] = len(head)
    return row


def _ratio(r):
    return f"{r:.2f}×" if r < 10 else f"{r:,.0f}×"


def table(results, authors_ran):
    lines = [
        "| data (instances, features, labels) | MLHAT /s | IHOMER /s | river CC /s "
        "| MLHAT / CC | IHOMER / CC | " + ("MLHAT / authors' | IHOMER / authors' |"
                                         if authors_ran else ""),
        "|---|---|---|---|---|---|" + ("---|---|" if authors_ran else ""),
    ]
    for name, r in results.items():
        p = r["prefix"]
        cc = p[RIVER_CC]
        cells = [f"{name} ({r['n']:,}, {r['features']:,}, {r['labels']})"]
        for m in ("MLHAT", "IHOMER"):
            full = f"{r['full'][m]:,.0f}"
            if r["n_prefix"] < r["n"]:
                full += f" ({p[m]:,.0f} on the first {r['n_prefix']})"
            cells.append(full)
        cells.append(f"{cc:,.0f}" + (f" (first {r['n_prefix']})" if r["n_prefix"] < r["n"]
                                     else ""))
        cells += [_ratio(p[m] / cc) for m in ("MLHAT", "IHOMER")]
        if authors_ran:
            a = r.get("authors")
            cells += ([f"{a[m] / a[AUTHORS]:,.0f}× ({a[AUTHORS]:,.1f}/s, first "
                       f"{r['authors_n']})" if m == "MLHAT" else f"{a[m] / a[AUTHORS]:,.0f}×"
                       for m in ("MLHAT", "IHOMER")] if a else ["-", "-"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--repeats", type=int, default=5,
                        help="interleaved passes per model; each keeps its fastest")
    parser.add_argument("--warm-up", type=int, default=100,
                        help="instances of the untimed first pass of every model")
    parser.add_argument("--river-cap", type=int, default=200,
                        help="instances river CC runs on the wide sets (> 500 features)")
    parser.add_argument("--authors-cap", type=int, default=200,
                        help="instances the authors' MLHAT runs on, when installed (0: skip)")
    parser.add_argument("--authors-wide-cap", type=int, default=20,
                        help="the same on the wide sets (about 2 s per instance there)")
    parser.add_argument("--write", action="store_true",
                        help="write the table to benchmarks/RESULTS.md (section multilabel_speed)")
    args = parser.parse_args(argv)
    _kernels.warm_up()
    results = {}
    for name in args.datasets:
        results[name] = run_dataset(name, args)
        r = results[name]
        print(name, {k: round(v) for k, v in r["prefix"].items()}, flush=True)
    authors_ran = any("authors" in r for r in results.values())
    text = table(results, authors_ran)
    slowest = min(min(r["prefix"]["MLHAT"], r["prefix"]["IHOMER"]) / r["prefix"][RIVER_CC]
                  for r in results.values())
    summary = (f"Slowest of ours against river CC: {slowest:.2f}× "
               f"({'meets' if slowest >= 1 else 'misses'} the goal of at least 1×).")
    if authors_ran:
        least = min(r["authors"][m] / r["authors"][AUTHORS] for r in results.values()
                    if "authors" in r for m in ("MLHAT", "IHOMER"))
        summary += (f" Slowest of ours against the authors' MLHAT (fastest of {args.repeats} "
                    f"passes on the first {args.authors_cap} instances; one pass on the first "
                    f"{args.authors_wide_cap} of the sets with more than {WIDE_FEATURES} "
                    f"features): {least:,.0f}× "
                    f"({'meets' if least >= 10 else 'misses'} the goal of at least 10×).")
    else:
        summary += (" The authors' MLHAT is not installed here (a peer: "
                    "github aestebant/mlhat's src/ on the path): not run.")
    print(text + "\n\n" + summary)
    if args.write:
        command = command_line(__file__, argv)
        write_section(
            "multilabel_speed",
            "## Multi-label throughput: ours against river CC(LogReg), side by side\n\n"
            f"`{command}`"
            + (" (the authors' MLHAT: github aestebant/mlhat's `src/` on `PYTHONPATH`)"
               if authors_ran else "")
            + f" (2-core machine shared with other jobs; load average "
            f"{os.getloadavg()[0]:.0f} at the end). Instances per second of the prequential "
            f"loop, default parameters, file order, fastest of {args.repeats} interleaved "
            f"passes per model (up to 4x more on streams under {MIN_INSTANCES:,} instances) "
            f"after an untimed pass over the first {args.warm_up} instances; "
            f"river CC on the first {args.river_cap} instances of the sets with more than "
            f"{WIDE_FEATURES} features (ours timed on that prefix too, for the ratio; "
            "ours on the whole of those streams in one pass, not paired with a peer, so "
            "that column swings with the load).\n\n"
            + text + "\n\n" + summary,
        )


if __name__ == "__main__":
    main()
