"""End to end: PPO's defaults for Box actions learn Pendulum-v1 and MountainCarContinuous-v0.

Greedy (policy mean) return over 20 episodes, reset seeds 1000..1019, after the step budgets of
benchmarks/rl_suite.py. The previous Box defaults (AR(1) noise, log-std step 0.029) gave
-238, -365, -462 on Pendulum seeds 0-2 and 21, 90, 53 on MountainCarContinuous; the current
ones -162, -167, -182 and 92, 93, 92 (docs/rl.md, "Continuous actions"). Stable-Baselines3's
PPO with rl-zoo's settings: -193 and 69 on average over seeds 0-4. The bars sit between the
previous defaults and the current ones, on every seed.
"""

import pytest

from boostkit.rl import PPO, evaluate_policy

CASES = ([("Pendulum-v1", s, 100_000, -250.0) for s in (0, 1, 2)]
         + [("MountainCarContinuous-v0", s, 20_000, 60.0) for s in (0, 1, 2)])


@pytest.mark.slow
@pytest.mark.parametrize("env_id, seed, steps, bar", CASES,
                         ids=[f"{e}-seed{s}" for e, s, _, _ in CASES])
def test_box_defaults_learn(env_id, seed, steps, bar):
    agent = PPO(env_id, seed=seed).learn(steps)
    mean, _ = evaluate_policy(agent, env_id, n_episodes=20, seed=1000)
    assert mean > bar, (env_id, seed, mean, agent.history_[-1])
