"""End to end: the DEFAULTS of PPO, A2C and AWR solve CartPole-v1 within 200k steps.

Solved = mean return >= 475 over 20 deterministic episodes (reset seeds 1000..1019, not the
training seeds). PPO is checked on seeds 0-4 (the seeds of issue 15, where the former defaults
solved none) and AWR on seeds 0-2. A2C's defaults solve 4 of seeds 0-4 (the fifth reaches 445),
so for A2C the test asserts learning (>= 400) on seeds 0-2, not solving. The numbers behind
the defaults, on more seeds, are in docs/rl.md ("Defaults, and why they learn on every seed").
"""

import pytest

from boostkit.rl import A2C, AWR, PPO, evaluate_policy

CASES = ([(PPO, s) for s in range(5)] + [(A2C, s) for s in (0, 1, 2)]
         + [(AWR, s) for s in (0, 1, 2)])


@pytest.mark.slow
@pytest.mark.parametrize("cls, seed", CASES, ids=[f"{c.__name__}-seed{s}" for c, s in CASES])
def test_defaults_solve_cartpole_within_200k_steps(cls, seed):
    agent = cls("CartPole-v1", seed=seed).learn(200_000)
    assert agent.num_timesteps <= 200_000 + agent.n_envs * agent.n_steps
    result = evaluate_policy(agent, "CartPole-v1", n_episodes=20, seed=1000)
    bar = 400 if cls is A2C else 475
    assert result[0] >= bar, (cls.__name__, seed, result, agent.history_[-1])
