"""Classic-control suite: boostkit.rl PPO vs Stable-Baselines3 PPO (rl-zoo settings) vs gbrl.

Every (agent, environment, seed) run is a fresh child process with one thread (numba, torch
and OpenMP), so no peer library is loaded while ours is timed. A run trains for the same number
of environment steps for every agent, then plays 20 deterministic episodes (reset seeds
1000..1019) and stores one JSON file in ``--runs`` (default ``benchmarks/out/rl_suite``):
final return, wall time of ``learn`` (evaluation excluded), and the learning curve (mean
training return of the last 100 episodes). ``--report`` reads those files, prints a table of
mean +- 95% CI (Student t over seeds) per environment and agent, plots the learning curves to
``benchmarks/rl_suite.png`` and writes the ``rl_suite`` section of RESULTS.md.

Agents
------
* ``ours``: :class:`boostkit.rl.PPO` with its defaults, which depend only on the action-space
  type (Discrete / Box, see ``PPO._DEFAULTS``), never on the environment;
* ``sb3``: Stable-Baselines3 PPO, MLP policy, the tuned hyperparameters of rl-baselines3-zoo
  ``hyperparams/ppo.yml`` for that environment (VecNormalize where the zoo normalises);
* ``gbrl``: the authors' ``gbrl`` trees (``gbrl.models.actor_critic.ActorCritic``, shared
  oblivious depth-4 tree, cosine score) driven by our PPO rollout / GAE loop with the authors'
  published PPO settings (CartPole; Acrobot); discrete-action environments only.

Usage::

    python benchmarks/rl_suite.py --agents ours --seeds 0-4               # runs (all envs)
    nice -n 10 python benchmarks/rl_suite.py --agents sb3 --envs CartPole-v1,Acrobot-v1
    python benchmarks/rl_suite.py --report                                 # table + plot

``--steps ENV=N,...`` overrides the step budget of an environment (all agents alike).
Needs ``gymnasium``; ``stable-baselines3`` / ``gbrl`` (with ``torch==2.13.0``) for the peers:
a peer that is not installed is reported as not run.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# benchmarks/gbrl.py is named like the peer package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != HERE]

# Steps per environment, the same for every agent: rl-zoo's budget where it is small, less for
# Acrobot / MountainCar (the zoo's 1M steps of SB3 at ~1k steps/s do not fit a shared machine).
STEPS = {"CartPole-v1": 200_000, "Acrobot-v1": 200_000, "MountainCar-v0": 200_000,
         "Pendulum-v1": 100_000, "MountainCarContinuous-v0": 20_000}

# rl-baselines3-zoo hyperparams/ppo.yml (MlpPolicy); "lin_x" = linear decay from x to 0.
ZOO = {
    "CartPole-v1": dict(n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98,
                        n_epochs=20, ent_coef=0.0, learning_rate="lin_0.001",
                        clip_range="lin_0.2"),
    "Acrobot-v1": dict(normalize=dict(norm_obs=True, norm_reward=False), n_envs=16,
                       n_steps=256, gae_lambda=0.94, gamma=0.99, n_epochs=4, ent_coef=0.0),
    "MountainCar-v0": dict(normalize=dict(norm_obs=True, norm_reward=False), n_envs=16,
                           n_steps=16, gae_lambda=0.98, gamma=0.99, n_epochs=4, ent_coef=0.0),
    "Pendulum-v1": dict(n_envs=4, n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10,
                        ent_coef=0.0, learning_rate=1e-3, clip_range=0.2, use_sde=True,
                        sde_sample_freq=4),
    "MountainCarContinuous-v0": dict(normalize=dict(), n_envs=1, batch_size=256, n_steps=8,
                                     gamma=0.9999, learning_rate=7.77e-05, ent_coef=0.00429,
                                     clip_range=0.1, n_epochs=10, gae_lambda=0.9,
                                     max_grad_norm=5, vf_coef=0.19, use_sde=True,
                                     policy_kwargs=dict(log_std_init=-3.29, ortho_init=False)),
}

# The authors' published GBRL PPO settings (spec: /work/shared/specs/gbrl.md).
GBRL = {
    "CartPole-v1": dict(n_envs=8, n_steps=128, batch_size=64, n_epochs=1, gamma=0.98,
                        gae_lambda=0.8, policy_lr=0.029, value_lr=0.015),
    "Acrobot-v1": dict(n_envs=16, n_steps=128, batch_size=512, n_epochs=20, gamma=0.99,
                       gae_lambda=0.95, policy_lr=0.16, value_lr=0.034),
}

EVAL_EPISODES = 20
EVAL_SEED = 1000


def _evaluate(env_id, act):
    """Mean return of EVAL_EPISODES deterministic episodes; ``act(obs) -> action``."""
    import gymnasium as gym

    env = gym.make(env_id)
    returns = []
    for ep in range(EVAL_EPISODES):
        obs, _ = env.reset(seed=EVAL_SEED + ep)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(act(obs))
            total += float(r)
            done = term or trunc
        returns.append(total)
    env.close()
    return returns


def _our_action(agent):
    def act(obs):
        out = agent.predict(obs, deterministic=True)
        return out[0] if isinstance(out, tuple) else out   # SB3-style (action, state)
    return act


# ------------------------------------------------------------------------------ agents
def run_ours(env_id, seed, steps):
    from boostkit.rl import PPO

    agent = PPO(env_id, seed=seed)
    t = time.perf_counter()
    agent.learn(steps)
    wall = time.perf_counter() - t
    curve = [(h["timesteps"], h["ep_return_mean"]) for h in agent.history_]
    return wall, curve, _evaluate(env_id, _our_action(agent)), {"trees": agent.policy.n_trees}


def _zoo_schedule(v):
    if isinstance(v, str) and v.startswith("lin_"):
        x = float(v[4:])
        return lambda progress_remaining: progress_remaining * x
    return v


def run_sb3(env_id, seed, steps):
    import torch
    from stable_baselines3 import PPO as SB3PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    hp = dict(ZOO[env_id])
    norm = hp.pop("normalize", None)
    venv = make_vec_env(env_id, n_envs=hp.pop("n_envs"), seed=seed)
    if norm is not None:
        venv = VecNormalize(venv, **norm)
    for k in ("learning_rate", "clip_range"):
        if k in hp:
            hp[k] = _zoo_schedule(hp[k])
    model = SB3PPO("MlpPolicy", venv, seed=seed, verbose=0, device="cpu", **hp)
    curve = []

    class Curve(BaseCallback):
        def _on_step(self):
            return True

        def _on_rollout_end(self):
            buf = self.model.ep_info_buffer
            curve.append((self.num_timesteps,
                          float(np.mean([e["r"] for e in buf])) if buf else float("nan")))

    t = time.perf_counter()
    model.learn(steps, callback=Curve())
    wall = time.perf_counter() - t
    if norm is not None:
        venv.training = False

    def act(obs):
        o = venv.normalize_obs(obs[None]) if norm is not None else obs[None]
        return model.predict(o, deterministic=True)[0][0]

    return wall, curve, _evaluate(env_id, act), {}


def run_gbrl(env_id, seed, steps):
    import gymnasium as gym
    import torch
    from gbrl.models.actor_critic import ActorCritic

    from boostkit.rl import PPO

    torch.set_num_threads(1)
    if env_id not in GBRL:
        raise ValueError(f"no published gbrl settings for {env_id}")
    hp = GBRL[env_id]
    agent = PPO(env_id, seed=seed, max_depth=4, n_bins=250, **hp)
    pol = agent.policy
    d = pol.n_features
    k = gym.make(env_id).action_space.n
    ac = ActorCritic(tree_struct=dict(max_depth=4, grow_policy="oblivious", n_bins=250,
                                      min_data_in_leaf=0, par_th=2),
                     input_dim=d, output_dim=k + 1,
                     policy_optimizer=dict(algo="SGD", lr=hp["policy_lr"], start_idx=0,
                                           stop_idx=k),
                     value_optimizer=dict(algo="SGD", lr=hp["value_lr"], start_idx=k,
                                          stop_idx=k + 1),
                     shared_tree_struct=True,
                     params=dict(split_score_func="cosine", generator_type="Quantile"),
                     device="cpu")

    def forward(X, use_cache=True):
        out = ac(np.asarray(X, np.float32), requires_grad=False, tensor=False)
        if isinstance(out, tuple):
            return np.asarray(out[0], float), np.asarray(out[1], float).reshape(-1)
        out = np.asarray(out, float)
        return out[:, :-1], out[:, -1]

    def update(X, policy_grad, value_grad, log_std_grad=None):
        ac.step(np.asarray(X, np.float32), policy_grad.astype(np.float32),
                np.asarray(value_grad, np.float32).reshape(-1, 1))

    pol.forward = forward
    pol.update = update
    t = time.perf_counter()
    agent.learn(steps)
    wall = time.perf_counter() - t
    curve = [(h["timesteps"], h["ep_return_mean"]) for h in agent.history_]
    return wall, curve, _evaluate(env_id, _our_action(agent)), {
        "trees": int(np.max(ac.get_num_trees()))}


AGENTS = {"ours": run_ours, "sb3": run_sb3, "gbrl": run_gbrl}
LABELS = {"ours": "boostkit PPO (defaults)", "sb3": "SB3 PPO (rl-zoo)",
          "gbrl": "gbrl (authors' settings)"}


def child(agent, env_id, seed, steps, path):
    import boostkit.rl.envs  # noqa: F401  (registers boostkit envs)

    cpu0 = time.process_time()
    wall, curve, returns, extra = AGENTS[agent](env_id, seed, steps)
    extra["cpu_s"] = time.process_time() - cpu0   # learning + evaluation, this process
    rec = dict(agent=agent, env=env_id, seed=seed, steps=steps, wall_s=wall,
               eval_mean=float(np.mean(returns)), eval_returns=returns, curve=curve,
               loaded=sorted(m for m in ("torch", "gbrl", "stable_baselines3")
                             if m in sys.modules), **extra)
    with open(path, "w") as fh:
        json.dump(rec, fh)
    print(f"{agent:5s} {env_id:26s} seed {seed}: return {rec['eval_mean']:8.1f}  "
          f"learn {wall:7.1f} s", flush=True)


def _run_all(a):
    os.makedirs(a.runs, exist_ok=True)
    env_threads = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
                       MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    for env_id in a.envs:
        for agent in a.agents:
            for seed in a.seeds:
                path = os.path.join(a.runs, f"{agent}__{env_id}__{seed}.json")
                busy = path + ".running"   # another invocation is on it
                if (os.path.exists(path) and not a.force) or os.path.exists(busy):
                    continue
                open(busy, "w").close()
                cmd = [sys.executable, __file__, "--child", agent, env_id, str(seed),
                       str(a.steps[env_id]), path]
                try:
                    res = subprocess.run(cmd, env=env_threads)
                finally:
                    os.remove(busy)
                if res.returncode != 0:
                    print(f"{agent} {env_id} seed {seed}: FAILED (exit {res.returncode})",
                          flush=True)


# ------------------------------------------------------------------------------ report
def _ci95(x):
    from scipy import stats

    x = np.asarray(x, float)
    if x.size < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))


def report(a):
    recs = []
    for path in sorted(glob.glob(os.path.join(a.runs, "*.json"))):
        with open(path) as fh:
            recs.append(json.load(fh))
    envs = [e for e in STEPS if any(r["env"] == e for r in recs)]
    lines = ["| environment | steps | agent | seeds | return (20 det. episodes) | "
             "wall s (learn) | CPU s (learn + eval) | peer loaded |",
             "|---|---|---|---|---|---|---|---|"]
    for env_id in envs:
        for agent in AGENTS:
            rs = [r for r in recs if r["env"] == env_id and r["agent"] == agent]
            if not rs:
                continue
            ret = [r["eval_mean"] for r in rs]
            wall = [r["wall_s"] for r in rs]
            steps = sorted({r["steps"] for r in rs})
            loaded = sorted({m for r in rs for m in r.get("loaded", [])}) or ["none"]
            cpu = [r["cpu_s"] for r in rs if "cpu_s" in r]
            cpu_text = (f"{np.mean(cpu):.1f} ({len(cpu)} runs)" if cpu else "not recorded")
            lines.append(
                f"| {env_id} | {', '.join(f'{s:,}' for s in steps)} | {LABELS[agent]} | "
                f"{','.join(str(r['seed']) for r in sorted(rs, key=lambda r: r['seed']))} | "
                f"{np.mean(ret):.1f} +- {_ci95(ret):.1f} (min {np.min(ret):.1f}) | "
                f"{np.mean(wall):.1f} +- {_ci95(wall):.1f} | {cpu_text} | {', '.join(loaded)} |")
    table = "\n".join(lines)
    print(table)
    plot = os.path.join(HERE, "rl_suite.png")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        print("matplotlib missing (pip install matplotlib): no plot")
        plot = None
    if plot and envs:
        fig, axes = plt.subplots(1, len(envs), figsize=(3.6 * len(envs), 3.2), squeeze=False)
        for ax, env_id in zip(axes[0], envs):
            for agent, colour in zip(AGENTS, ("C0", "C1", "C2")):
                rs = [r for r in recs if r["env"] == env_id and r["agent"] == agent]
                if not rs:
                    continue
                grid = np.linspace(0, max(r["steps"] for r in rs), 50)
                ys = []
                for r in rs:
                    c = np.array([p for p in r["curve"] if p[1] == p[1]], float)
                    if len(c):
                        ys.append(np.interp(grid, c[:, 0], c[:, 1], left=np.nan))
                if not ys:
                    continue
                ys = np.array(ys)
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean = np.nanmean(ys, axis=0)
                    lo, hi = np.nanmin(ys, axis=0), np.nanmax(ys, axis=0)
                ax.plot(grid, mean, color=colour, label=LABELS[agent])
                ax.fill_between(grid, lo, hi, color=colour, alpha=0.15)
            ax.set_title(env_id, fontsize=9)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:.0f}k"))
            ax.set_xlabel("environment steps", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[0][0].set_ylabel("training return (last 100 ep.)", fontsize=8)
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(plot, dpi=90)
        print(f"learning curves: {os.path.relpath(plot, ROOT)}")
    if a.write:
        sys.path.insert(0, HERE)
        from _results import write_section

        cmd = a.command or "python benchmarks/rl_suite.py --report --write"
        text = (f"## RL classic-control suite (`{cmd}`)\n\n"
                "Each run in a fresh process, one thread, 20 deterministic evaluation "
                "episodes; mean +- 95% CI over seeds (min over seeds in brackets); wall time of "
                "learning only. Same steps for every agent. Curves: benchmarks/rl_suite.png "
                "(mean over seeds, band = min..max).\n\n" + table + "\n"
                + (f"\n{a.note}\n" if a.note else ""))
        write_section("rl_suite", text)


def _seeds(text):
    out = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            out += list(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", default="ours,sb3,gbrl")
    p.add_argument("--envs", default=",".join(STEPS))
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--steps", default="", help="ENV=N,... overrides of the step budgets")
    p.add_argument("--runs", default=os.path.join(HERE, "out", "rl_suite"))
    p.add_argument("--force", action="store_true", help="rerun runs that have a result file")
    p.add_argument("--report", action="store_true")
    p.add_argument("--write", action="store_true", help="with --report: write RESULTS.md")
    p.add_argument("--command", default="", help="with --write: the command line to record")
    p.add_argument("--note", default="", help="with --write: a line added under the table")
    p.add_argument("--child", nargs=5, metavar=("AGENT", "ENV", "SEED", "STEPS", "OUT"))
    a = p.parse_args()
    if a.child:
        agent, env_id, seed, steps, out = a.child
        child(agent, env_id, int(seed), int(steps), out)
        return
    if a.report:
        report(a)
        return
    a.agents = [x for x in a.agents.split(",") if x]
    for x in a.agents:
        if x not in AGENTS:
            p.error(f"--agents: unknown agent {x!r}; choose from {sorted(AGENTS)}")
    a.envs = [x for x in a.envs.split(",") if x]
    a.seeds = _seeds(a.seeds)
    a.steps = dict(STEPS, **{k: int(float(v)) for k, v in
                             (kv.split("=") for kv in a.steps.split(",") if kv)})
    _run_all(a)


if __name__ == "__main__":
    main()
