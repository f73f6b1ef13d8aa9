"""Cold and warm first calls: what a new user waits for before the first result.

Every public first call runs in a fresh Python process, twice: COLD with an empty numba cache
(``NUMBA_CACHE_DIR`` pointed at a new folder: numba compiles every kernel the call reaches) and
WARM with the cache the cold run left (numba only loads the compiled code). Only the call itself
is timed (imports and data preparation are not), and each call gets its own cache folder, so a
cold time includes every kernel the call needs, as on a fresh install. ``boostkit warmup`` then
makes every first call a warm one; its own time is measured too.

Usage: ``python benchmarks/first_call.py [--repeat N]`` (best of N per row; writes the
``first_call`` section of benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

# name -> (setup, the timed first call); each runs in its own process
CALLS = {
    "trees: from_model + apply (LightGBM)": ("""
        import lightgbm as lgb
        from sklearn.datasets import load_breast_cancer
        from boostkit.trees import from_model
        X, y = load_breast_cancer(return_X_y=True)
        model = lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1).fit(X, y)
    """, "from_model(model, X_check=X[:50]).apply(X)"),
    "BoostIn fit (LightGBM)": ("""
        import lightgbm as lgb
        from sklearn.datasets import load_breast_cancer
        from boostkit.influence import BoostIn
        X, y = load_breast_cancer(return_X_y=True)
        model = lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1).fit(X, y)
    """, "BoostIn().fit(model, X, y)"),
    "BoostIn fit + local_influence": ("""
        import lightgbm as lgb
        from sklearn.datasets import load_breast_cancer
        from boostkit.influence import BoostIn
        X, y = load_breast_cancer(return_X_y=True)
        model = lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1).fit(X, y)
    """, "BoostIn().fit(model, X, y).local_influence(X[:10], y[:10])"),
    "TREX fit (LightGBM)": ("""
        import lightgbm as lgb
        from sklearn.datasets import load_breast_cancer
        from boostkit.influence import TREX
        X, y = load_breast_cancer(return_X_y=True)
        model = lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1).fit(X, y)
    """, "TREX().fit(model, X, y)"),
    "GBNNClassifier fit": ("""
        from sklearn.datasets import load_breast_cancer
        from sklearn.preprocessing import StandardScaler
        from boostkit import GBNNClassifier
        X, y = load_breast_cancer(return_X_y=True)
        X = StandardScaler().fit_transform(X)
    """, "GBNNClassifier(max_iter=5, random_state=0).fit(X, y)"),
    "GBNNRegressor fit": ("""
        from sklearn.datasets import load_diabetes
        from boostkit import GBNNRegressor
        X, y = load_diabetes(return_X_y=True)
    """, "GBNNRegressor(max_iter=5, random_state=0).fit(X, y)"),
    "rl: BoostedTrees.step": ("""
        import numpy as np
        from boostkit.rl import BoostedTrees
        rng = np.random.default_rng(0)
        X, G = rng.normal(size=(512, 4)), rng.normal(size=(512, 2))
        trees = BoostedTrees(2)
    """, "trees.step(X, G)"),
    "rl: PPO first learn (CartPole, 1 rollout)": ("""
        from boostkit.rl import PPO
        agent = PPO("CartPole-v1", n_envs=4, n_steps=64, batch_size=64, seed=0)
    """, "agent.learn(256)"),
    "streamml: MLHAT learn_one + predict_one": ("""
        from streamml.datasets import Emotions
        from streamml.multilabel import MLHAT
        rows = list(Emotions())[:50]
        model = MLHAT(seed=0)
    """, "[(model.learn_one(x, y), model.predict_one(x)) for x, y in rows]"),
    "streamml: IHOMER learn_one + predict_one": ("""
        from streamml.datasets import Emotions
        from streamml.multilabel import IHOMER
        rows = list(Emotions())[:50]
        model = IHOMER(seed=0)
    """, "[(model.learn_one(x, y), model.predict_one(x)) for x, y in rows]"),
}

_PROGRAM = """
import time
{setup}
start, cpu = time.perf_counter(), time.process_time()
{call}
print("SECONDS", time.perf_counter() - start, time.process_time() - cpu)
"""


def _run_python(code, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return result


def first_call_seconds(setup, call, cache_dir):
    """(wall, CPU) seconds of the call; CPU time (all threads) is what the load does not
    stretch, wall time what the user waits."""
    code = _PROGRAM.format(setup=textwrap.dedent(setup), call=call)
    out = _run_python(code, cache_dir).stdout
    wall, cpu = out.split("SECONDS")[-1].split()
    return float(wall), float(cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="best of N (default 1)")
    args = parser.parse_args()
    rows = []
    for name, (setup, call) in CALLS.items():
        cold, warm = [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as cache:
                cold.append(first_call_seconds(setup, call, cache))
                warm.append(first_call_seconds(setup, call, cache))
        cold, warm = min(cold), min(warm)  # by wall time
        rows.append((name, cold, warm))
        print(f"{name:45s} cold {cold[0]:6.2f} s (CPU {cold[1]:6.2f} s)   warm {warm[0]:5.2f} s",
              flush=True)
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        _run_python("from boostkit.warmup import warmup; warmup(verbose=0)", cache)
        warmup_seconds = time.perf_counter() - start
        after = [first_call_seconds(setup, call, cache) for setup, call in CALLS.values()]
    print(f"boostkit warmup (every kernel, empty cache): {warmup_seconds:.1f} s")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = ["## first_call: cold and warm first calls (numba compile cost)", "",
             f"`python benchmarks/first_call.py --repeat {args.repeat}` (best of "
             f"{args.repeat}); {os.cpu_count()} cores, load average {load:.1f} at the end (a "
             f"shared machine: wall times grow with the load, CPU times much less). Each call "
             f"runs in a fresh process; only the call is timed. Cold: empty `NUMBA_CACHE_DIR` "
             f"(numba compiles every kernel the call reaches). Warm: the cache the cold run "
             f"left. After warmup: a cache filled by `boostkit warmup`, which took "
             f"{warmup_seconds:.0f} s wall (imports included).", "",
             "| first call | cold wall (s) | cold CPU (s) | warm wall (s) | after `boostkit "
             "warmup` (s) |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {cold[0]:.2f} | {cold[1]:.2f} | {warm[0]:.2f} | {late[0]:.2f} |"
              for (name, cold, warm), late in zip(rows, after)]
    write_section("first_call", "\n".join(lines))


if __name__ == "__main__":
    main()
