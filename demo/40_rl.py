"""Tour of boostkit.rl: boosted trees as a PPO actor-critic on CartPole-v1 (about a minute).

Prints the learning curve as it trains (mean return of the last 100 episodes), then the
deterministic return, the tree count, and checks the exported NumPy-only policy agrees.
"""

import os
import time

import numpy as np

from boostkit.rl import PPO, evaluate_policy, export_policy
from boostkit.rl.export import load_exported

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
os.makedirs(OUT, exist_ok=True)


def main(total=61_440):
    print("PPO on CartPole-v1 with boosted trees (oblivious depth 4, one shared tree per "
          "minibatch of 64, policy lr 0.06, value lr 0.03; the authors' settings with the "
          "learning rates doubled)")
    agent = PPO("CartPole-v1", n_envs=8, n_steps=128, batch_size=64, n_epochs=1, gamma=0.98,
                gae_lambda=0.8, policy_lr=0.06, value_lr=0.03, seed=0)
    t0 = time.perf_counter()

    def show(a):
        h = a.history_[-1]
        if len(a.history_) % 6 == 0:
            bar = "#" * int(h["ep_return_mean"] / 10)
            print(f"  steps {h['timesteps']:>6d}  trees {h['trees']:>4d}  "
                  f"return {h['ep_return_mean']:6.1f} {bar}")

    agent.learn(total, callback=show)
    wall = time.perf_counter() - t0
    mean, std = evaluate_policy(agent, "CartPole-v1", n_episodes=10, seed=100)
    print(f"trained {total} steps in {wall:.1f} s; deterministic return over 10 episodes: "
          f"{mean:.1f} +- {std:.1f} (random policy: about 22)")
    path = os.path.join(OUT, "cartpole_policy.py")
    mod = load_exported(export_policy(agent, path))
    obs = np.random.default_rng(0).normal(scale=0.1, size=(100, 4))
    same = np.array_equal(mod.predict(obs), agent.predict(obs, deterministic=True)[0])
    print(f"exported a NumPy-only policy to {os.path.relpath(path)}; agrees with the agent on "
          f"100 observations: {same}")


if __name__ == "__main__":
    main()
