"""End to end: PPO's defaults for Box actions learn Pendulum-v1 and MountainCarContinuous-v0.

Greedy (policy mean) return over 20 episodes, reset seeds 1000..1019, after the step budgets of
benchmarks/rl_suite.py. The former defaults (1 epoch, constant rates, independent noise) gave
-434 on Pendulum seed 0 and -7 / -26 on MountainCarContinuous seeds 0 / 1; the current ones
-238 and 21 / 90 (docs/rl.md, "Continuous actions"). The bars sit between the two.
"""

import pytest

from boostkit.rl import PPO, evaluate_policy

CASES = [("Pendulum-v1", 0, 100_000, -400.0),
         ("MountainCarContinuous-v0", 0, 20_000, 0.0),
         ("MountainCarContinuous-v0", 1, 20_000, 0.0)]


@pytest.mark.slow
@pytest.mark.parametrize("env_id, seed, steps, bar", CASES,
                         ids=[f"{e}-seed{s}" for e, s, _, _ in CASES])
def test_box_defaults_learn(env_id, seed, steps, bar):
    agent = PPO(env_id, seed=seed).learn(steps)
    mean, _ = evaluate_policy(agent, env_id, n_episodes=20, seed=1000)
    assert mean > bar, (env_id, seed, mean, agent.history_[-1])
