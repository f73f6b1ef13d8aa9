"""GBRL benchmark: boostkit.rl against the authors' `gbrl` package, side by side.

Parts (each run for 1 and for 2 threads, in a child process per thread count so OpenMP and
numba start with that many threads; ours and theirs run in the same child on the same data):

1. time to add ONE tree fitted to per-row gradients, depth 4, 3 outputs, oblivious and greedy,
   at 64 / 512 / 2048 rows x 4 / 32 features;
2. time to predict 1,024 rows through 1,000 and 4,000 trees;
3. (``--e2e``) PPO on CartPole-v1 for 200,000 steps, single thread: ours with the authors'
   settings, with both learning rates doubled and with our defaults (``--seeds``), and the
   peer's trees with the authors' settings in our PPO loop (``--seed``). EVERY run is a fresh
   child process: ours never has torch or gbrl imported beside it (checked), the peer runs on
   its own. Wall and CPU time of ``learn``, trees, deterministic return over 20 episodes,
   learning curves; ``--write`` puts the table in the ``gbrl_e2e`` section of RESULTS.md.

Usage::

    python benchmarks/gbrl.py                 # parts 1 and 2
    python benchmarks/gbrl.py --e2e           # also part 3 (a few minutes)
    python benchmarks/gbrl.py --only-e2e --seeds 0-4 --write   # part 3 only, to RESULTS.md
    python benchmarks/gbrl.py --quick         # fewer repeats
    python benchmarks/gbrl.py --grid 30000    # categorical gridworld: equals / one-hot / ordinal

Requires ``gbrl`` (``pip install torch==2.13.0 gbrl``); without it only our numbers print.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# This script is named like the peer package: keep its folder off the import path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != HERE]


def _timeit(fn, repeats, min_time=0.0):
    fn()  # warm-up (numba compile, allocations)
    times = []
    t_total = time.perf_counter()
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if min_time and time.perf_counter() - t_total > min_time and len(times) >= 3:
            break
    return float(np.median(times))


def _gbrl_model(d, k, policy, n_bins=256):
    from gbrl.models.gbt import GBTModel

    return GBTModel(tree_struct=dict(max_depth=4, grow_policy=policy, n_bins=n_bins,
                                     min_data_in_leaf=0, par_th=2),
                    input_dim=d, output_dim=k,
                    optimizers=dict(algo="SGD", lr=0.1, start_idx=0, stop_idx=k),
                    params=dict(split_score_func="cosine", generator_type="Quantile"),
                    device="cpu")


def child_micro(threads, quick):
    """Runs in a child process with the thread count fixed from the environment."""
    import numba

    from boostkit.rl import BoostedTrees

    try:
        import gbrl  # noqa: F401
        have_gbrl = True
    except Exception as exc:  # pragma: no cover - depends on the machine
        have_gbrl = False
        print(f"# gbrl unavailable: {exc!r}", file=sys.stderr)
    numba.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = []
    k = 3
    for policy in ("oblivious", "greedy"):
        for d in (4, 32):
            for n in (64, 512, 2048):
                X = rng.normal(size=(n, d))
                G = rng.normal(size=(n, k))
                ours = BoostedTrees(k, max_depth=4, grow_policy=policy, n_bins=256)
                reps = 5 if quick else 20
                t_ours = _timeit(lambda: ours.step(X, G), reps, min_time=2.0)
                t_peer = float("nan")
                if have_gbrl:
                    peer = _gbrl_model(d, k, policy)
                    X32, G32 = X.astype(np.float32), G.astype(np.float32)
                    t_peer = _timeit(lambda: peer.step(X32, G32), 3 if quick else 5,
                                     min_time=5.0)
                rows.append(dict(part="add_tree", policy=policy, rows=n, features=d,
                                 threads=threads, ours_ms=1e3 * t_ours, peer_ms=1e3 * t_peer))
                print(json.dumps(rows[-1]), file=sys.stderr)
    # Ensembles for prediction are grown once (1-thread child) and reloaded by the 2-thread
    # child: growing 4,000 trees with gbrl on 2 busy OpenMP threads takes very long.
    import pickle
    import tempfile

    d = 4
    Xtrain = rng.normal(size=(256, d))
    Xp = rng.normal(size=(1024, d))
    store = os.path.join(tempfile.gettempdir(), "boostkit_gbrl_bench")
    os.makedirs(store, exist_ok=True)
    for policy in ("oblivious", "greedy"):
        for n_trees in (1000, 4000):
            ours_path = os.path.join(store, f"ours_{policy}_{n_trees}.pkl")
            peer_path = os.path.join(store, f"peer_{policy}_{n_trees}")
            if threads == 1:
                if n_trees == 1000:
                    ours = BoostedTrees(k, max_depth=4, grow_policy=policy)
                    peer = _gbrl_model(d, k, policy) if have_gbrl else None
                for _ in range(n_trees - ours.n_trees_):
                    G = rng.normal(size=(256, k))
                    ours.step(Xtrain, G)
                    if peer is not None:
                        peer.step(Xtrain.astype(np.float32), G.astype(np.float32))
                with open(ours_path, "wb") as fh:
                    pickle.dump(ours, fh)
                if peer is not None:
                    peer.save_learner(peer_path)
                o, q = ours, peer
            else:
                with open(ours_path, "rb") as fh:
                    o = pickle.load(fh)
                q = None
                if have_gbrl:
                    from gbrl.models.gbt import GBTModel

                    q = GBTModel.load_learner(peer_path + ".gbrl_model", "cpu")
            t_ours = _timeit(lambda: o.predict(Xp, use_cache=False), 5 if quick else 10)
            t_peer = float("nan")
            if q is not None:
                Xp32 = Xp.astype(np.float32)
                t_peer = _timeit(lambda: q(Xp32, requires_grad=False, tensor=False),
                                 3 if quick else 5)
                assert q(Xp32, requires_grad=False, tensor=False).shape == (1024, k)
            rows.append(dict(part="predict", policy=policy, rows=1024, trees=n_trees,
                             threads=threads, ours_ms=1e3 * t_ours, peer_ms=1e3 * t_peer))
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


# ------------------------------------------------------------------------------ end to end
AUTHORS = dict(n_envs=8, n_steps=128, batch_size=64, n_epochs=1, gamma=0.98, gae_lambda=0.8,
               policy_lr=0.029, value_lr=0.015, max_depth=4, clip_range=0.2, ent_coef=0.0)
# The same with both learning rates doubled (what our slow test uses).
TUNED = dict(policy_lr=0.06, value_lr=0.03)


def _gbrl_ppo(total, seed):
    """PPO with the authors' library: our rollout/GAE loop, their trees and tree updates."""
    import torch as th
    from gbrl.models.actor_critic import ActorCritic

    from boostkit.rl.algorithms import PPO

    agent = PPO("CartPole-v1", seed=seed, **AUTHORS)
    ac = ActorCritic(tree_struct=dict(max_depth=4, grow_policy="oblivious", n_bins=250,
                                      min_data_in_leaf=0, par_th=2),
                     input_dim=4, output_dim=3,
                     policy_optimizer=dict(algo="SGD", lr=AUTHORS["policy_lr"], start_idx=0,
                                           stop_idx=2),
                     value_optimizer=dict(algo="SGD", lr=AUTHORS["value_lr"], start_idx=2,
                                          stop_idx=3),
                     shared_tree_struct=True,
                     params=dict(split_score_func="cosine", generator_type="Quantile"),
                     device="cpu")
    pol = agent.policy
    timers = {"predict": 0.0, "fit": 0.0}

    def forward(X, use_cache=True):
        t = time.perf_counter()
        out = ac(X.astype(np.float32), requires_grad=False, tensor=False)
        timers["predict"] += time.perf_counter() - t
        if isinstance(out, tuple):
            return np.asarray(out[0], float), np.asarray(out[1], float).reshape(-1)
        out = np.asarray(out, float)
        return out[:, :-1], out[:, -1]

    def update(X, policy_grad, value_grad, log_std_grad=None):
        t = time.perf_counter()
        ac.step(X.astype(np.float32), policy_grad.astype(np.float32),
                np.asarray(value_grad, np.float32).reshape(-1, 1))
        timers["fit"] += time.perf_counter() - t

    pol.forward = forward
    pol.update = update
    th.set_num_threads(1)
    t, cpu = time.perf_counter(), time.process_time()
    agent.learn(total)
    wall = time.perf_counter() - t
    timers["cpu"] = time.process_time() - cpu
    timers["trees"] = int(np.max(ac.get_num_trees()))
    return agent, wall, timers


# The rows of the end-to-end table: (label, agent settings). Ours runs each in a child process
# that never imports torch or gbrl; the peer runs in its own child.
E2E_OURS = (("boostkit, authors' settings", AUTHORS),
            ("boostkit, authors' settings, lr x2", dict(AUTHORS, **TUNED)),
            ("boostkit, PPO defaults", {}))


def _loaded_peers():
    return sorted(m for m in ("torch", "gbrl", "stable_baselines3") if m in sys.modules)


def child_e2e(total, seed, which):
    """One end-to-end PPO run in this (fresh) process: ``which`` is "peer" or an index of
    E2E_OURS. Learning is timed; evaluation (20 deterministic episodes) is not."""
    from boostkit.rl import PPO, evaluate_policy

    if which == "peer":
        try:
            agent, wall, timers = _gbrl_ppo(total, seed)
        except Exception as exc:  # pragma: no cover - depends on the machine
            return dict(label="gbrl", error=repr(exc))
        out = dict(label="gbrl, authors' settings (our PPO loop)", wall_s=wall,
                   cpu_s=timers["cpu"], timers=timers, trees=timers["trees"])
    else:
        label, settings = E2E_OURS[int(which)]
        agent = PPO("CartPole-v1", seed=seed, **settings)
        t, cpu = time.perf_counter(), time.process_time()
        agent.learn(total)
        out = dict(label=label, wall_s=time.perf_counter() - t,
                   cpu_s=time.process_time() - cpu, trees=agent.policy.n_trees)
    out.update(seed=seed, loaded=_loaded_peers(),
               eval=evaluate_policy(agent, "CartPole-v1", 20, seed=1000),
               curve=[(h["timesteps"], h["ep_return_mean"]) for h in agent.history_])
    print(json.dumps(out)[:200], file=sys.stderr)
    return out


def run_e2e(steps, seeds, peer, peer_seeds, records_path):
    """Every (configuration, seed) in a fresh single-thread child; each child's record is
    appended to ``records_path`` (JSON lines) as soon as it ends, and all are returned."""
    jobs = [(str(i), seed) for seed in seeds for i in range(len(E2E_OURS))]
    jobs += [("peer", seed) for seed in (peer_seeds if peer else ())]
    records = []
    for which, seed in jobs:
        rec = _spawn(["--child", "e2e", "--which", which, "--steps", str(steps),
                      "--seed", str(seed)], 1)
        if which != "peer" and rec["loaded"]:
            raise SystemExit(f"our run had {rec['loaded']} loaded")
        records.append(rec)
        with open(records_path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
    return records


def e2e_report(records, steps, command, plot_path):
    """Markdown of the end-to-end table (per configuration: every seed's return, mean wall)."""
    labels = [label for label, _ in E2E_OURS] + ["gbrl, authors' settings (our PPO loop)"]
    lines = [f"### PPO CartPole-v1, {steps} steps, 1 thread, each run in a fresh process", "",
             "| agent | seeds | deterministic return per seed (20 ep.) | solved (>= 475) | "
             "trees | wall s (mean) | CPU s (mean) |", "|---|---|---|---|---|---|---|"]
    ok = [r for r in records if "error" not in r]
    for label in labels:
        rows = [r for r in ok if r["label"] == label]
        if not rows:
            continue
        rets = [r["eval"][0] for r in rows]
        lines.append(f"| {label} | {', '.join(str(r['seed']) for r in rows)} | "
                     f"{', '.join(f'{x:.1f}' for x in rets)} | "
                     f"{sum(x >= 475 for x in rets)} / {len(rets)} | {rows[0]['trees']} | "
                     f"{np.mean([r['wall_s'] for r in rows]):.1f} | "
                     f"{np.mean([r['cpu_s'] for r in rows]):.1f} |")
    for r in records:
        if "error" in r:
            lines.append(f"| gbrl | failed: {r['error']} | | | | | |")
    ours0 = [r for r in ok if r["label"] == E2E_OURS[0][0] and r["seed"] == 0]
    peer0 = [r for r in ok if r["label"].startswith("gbrl") and r["seed"] == 0]
    if ours0 and peer0:
        lines += ["", f"Same settings, seed 0: wall-time ratio ours / gbrl "
                      f"{ours0[0]['wall_s'] / peer0[0]['wall_s']:.3f} "
                      f"({ours0[0]['wall_s']:.1f} s / {peer0[0]['wall_s']:.1f} s); gbrl spent "
                      f"{peer0[0]['timers']['predict']:.0f} s predicting and "
                      f"{peer0[0]['timers']['fit']:.0f} s fitting trees."]
    lines += ["", f"Command: `{command}`. No peer library was loaded in our runs (each child "
                  "checks `sys.modules` for torch, gbrl and stable_baselines3)."]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        for label in labels:
            rows = [r for r in ok if r["label"] == label and r["seed"] == min(
                x["seed"] for x in ok if x["label"] == label)]
            if rows:
                c = np.array(rows[0]["curve"], float)
                ax.plot(c[:, 0], c[:, 1], label=f"{label} (seed {rows[0]['seed']})")
        ax.set_xlabel("environment steps")
        ax.set_ylabel("mean return (last 100 episodes)")
        ax.set_title("PPO CartPole-v1")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(plot_path, dpi=100)
        lines += ["", f"![PPO CartPole learning curves]({os.path.basename(plot_path)})"]
    except ImportError:
        pass
    return "\n".join(lines)


def grid_comparison(steps, seed):
    """Categorical observations: equals splits vs one-hot vs codes as ordered numbers."""
    from boostkit.rl import PPO, evaluate_policy

    kw = dict(n_envs=8, n_steps=128, batch_size=256, n_epochs=2, policy_lr=0.1, value_lr=0.05,
              gamma=0.95, gae_lambda=0.9, seed=seed)
    rows = []
    for name, extra in (("categorical (equals splits)", {}),
                        ("one-hot encoded", {"one_hot": True}),
                        ("ordinal codes (numeric splits)",
                         {"tree_kwargs": {"categorical_features": None}})):
        t = time.perf_counter()
        agent = PPO("boostkit/ObjectGrid-v0", **kw, **extra).learn(steps)
        wall = time.perf_counter() - t
        mean, std = evaluate_policy(agent, "boostkit/ObjectGrid-v0", n_episodes=200, seed=7)
        rows.append((name, agent.policy.n_features, wall, agent.history_[-1]["ep_return_mean"],
                     mean))
    print(f"\n## Categorical gridworld (boostkit/ObjectGrid-v0), PPO, {steps} steps\n")
    print("| observation encoding | features | wall s | train return (last 100) | "
          "deterministic return (200 ep.) |")
    print("|---|---|---|---|---|")
    for name, d, wall, tr, ev in rows:
        print(f"| {name} | {d} | {wall:.1f} | {tr:.2f} | {ev:.2f} |")


def _spawn(args, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads),
               MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    res = subprocess.run([sys.executable, __file__] + args, env=env, stdout=subprocess.PIPE,
                         text=True)  # the child's progress lines go to our stderr
    if res.returncode != 0:
        raise SystemExit(f"child {args} failed")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _seed_list(text):
    """"0-4" or "0,3,7" -> list of ints."""
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(x) for x in text.split(",")]


def _ratio(a, b):
    return a / b if b == b and b > 0 else float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--e2e", action="store_true", help="also PPO CartPole end to end")
    p.add_argument("--steps", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-peer-e2e", action="store_true")
    p.add_argument("--only-e2e", action="store_true", help="skip parts 1 and 2")
    p.add_argument("--grid", type=int, default=0, metavar="STEPS",
                   help="only the categorical gridworld comparison, STEPS env steps")
    p.add_argument("--seeds", default="0",
                   help="end to end: seeds of our runs, e.g. 0-4 (the peer runs --seed only)")
    p.add_argument("--write", action="store_true",
                   help="end to end: write the gbrl_e2e section of RESULTS.md")
    p.add_argument("--records", default=os.path.join(HERE, "out", "gbrl_e2e.jsonl"),
                   help="end to end: JSON lines file each finished run is appended to")
    p.add_argument("--report-from", metavar="JSONL",
                   help="end to end: no runs, report the records of this file")
    p.add_argument("--note", default="", help="end to end: a note for the RESULTS section")
    p.add_argument("--which", default="0", help=argparse.SUPPRESS)
    p.add_argument("--child", choices=["micro", "e2e"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--plot", default=os.path.join(HERE, "gbrl_cartpole.png"))
    a = p.parse_args()
    if a.grid:
        grid_comparison(a.grid, a.seed)
        return
    if a.child == "micro":
        print(json.dumps(child_micro(a.threads, a.quick)))
        return
    if a.child == "e2e":
        print(json.dumps(child_e2e(a.steps, a.seed, a.which)))
        return

    rows = []
    for threads in (() if a.only_e2e else (1, 2)):
        rows += _spawn(["--child", "micro", "--threads", str(threads)]
                       + (["--quick"] if a.quick else []), threads)
    if not rows:
        _main_e2e(a)
        return
    print("\n## Add one tree (depth 4, 3 outputs): ms per tree\n")
    print("| policy | rows x features | threads | ours | gbrl | gbrl / ours |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r["part"] == "add_tree":
            print(f"| {r['policy']} | {r['rows']} x {r['features']} | {r['threads']} | "
                  f"{r['ours_ms']:.2f} | {r['peer_ms']:.1f} | "
                  f"{_ratio(r['peer_ms'], r['ours_ms']):.1f}x |")
    print("\n## Predict 1,024 rows (4 features, 3 outputs): ms\n")
    print("| policy | trees | threads | ours | gbrl | gbrl / ours |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r["part"] == "predict":
            print(f"| {r['policy']} | {r['trees']} | {r['threads']} | {r['ours_ms']:.2f} | "
                  f"{r['peer_ms']:.1f} | {_ratio(r['peer_ms'], r['ours_ms']):.1f}x |")
    if a.e2e:
        _main_e2e(a)


def _main_e2e(a):
    """Part 3: every run in its own child, the table printed and (``--write``) recorded."""
    os.makedirs(os.path.dirname(os.path.abspath(a.records)), exist_ok=True)
    if a.report_from:   # e.g. a run whose peer part did not finish
        with open(a.report_from) as fh:
            records = [json.loads(line) for line in fh if line.strip()]
    else:
        records = run_e2e(a.steps, _seed_list(a.seeds), not a.no_peer_e2e, [a.seed],
                          a.records)
    args = sys.argv[1:]
    if "--note" in args:   # the note goes in the text, not in the command
        i = args.index("--note")
        args = args[:i] + args[i + 2:]
    command = "python benchmarks/gbrl.py " + " ".join(args)
    if a.report_from:
        command = (f"{command}` on the records of `python benchmarks/gbrl.py --only-e2e "
                   "--seeds 0-4")
    text = e2e_report(records, a.steps, command, a.plot)
    print("\n" + text)
    if a.write:
        sys.path.insert(0, HERE)   # only now: the peer is never imported in this process
        from _results import write_section

        load = os.getloadavg()
        write_section("gbrl_e2e", "## gbrl_e2e: PPO on CartPole-v1 end to end, ours and the "
                      "authors' gbrl, each in its own process\n\n"
                      f"Load average at the end of the run: {load[0]:.1f} / {load[1]:.1f} / "
                      f"{load[2]:.1f} (1 / 5 / 15 min; 2 cores shared with other jobs, so "
                      "wall times are noisy; CPU seconds are the fairer measure).\n\n"
                      + (a.note + "\n\n" if a.note else "") + text)

if __name__ == "__main__":
    main()
