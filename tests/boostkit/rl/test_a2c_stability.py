"""What makes A2C's defaults stable: normalize_advantage="running" (advantages divided by a
running RMS over rollouts instead of each batch's own standard deviation) and
lr_schedule="linear_tail" (learning rates decayed to 0 over the second half of learn())."""

import numpy as np
import pytest

from boostkit.rl import A2C, AWR, PPO
from boostkit.rl.algorithms import lr_scale


class _RecordingA2C(A2C):
    """A2C that keeps the advantages of every rollout it trains on."""

    def _train(self, batch):
        self.seen = getattr(self, "seen", []) + [batch["advantages"].copy()]
        super()._train(batch)


def test_running_scale_is_the_exponential_average_of_rollout_mean_squares():
    agent = _RecordingA2C("CartPole-v1", n_envs=2, n_steps=8, seed=0).learn(400)
    assert agent.normalize_advantage == "running"
    assert len(agent.seen) == 25
    # naive reference: start at the first rollout's mean square, then decay 0.99 per rollout
    ms = np.mean(agent.seen[0] ** 2)
    for adv in agent.seen[1:]:
        ms = 0.99 * ms + 0.01 * np.mean(adv ** 2)
    assert agent._adv_mean_square == pytest.approx(ms, rel=1e-12)
    last = agent.seen[-1]
    np.testing.assert_allclose(agent._normalized(last), (last - last.mean()) / np.sqrt(ms),
                               rtol=1e-6)


def test_running_scale_keeps_small_advantages_small_where_per_batch_inflates_them():
    rng = np.random.default_rng(0)
    big, small = 10.0 * rng.normal(size=64), 0.1 * rng.normal(size=64)
    running = A2C("CartPole-v1", n_envs=2, n_steps=8, seed=0)
    per_batch = A2C("CartPole-v1", n_envs=2, n_steps=8, normalize_advantage=True, seed=0)
    for adv in (big, small):
        running._track_advantage_scale(adv)
        per_batch._track_advantage_scale(adv)   # no effect on per-batch standardisation
    assert per_batch._adv_mean_square is None
    assert np.std(per_batch._normalized(small)) == pytest.approx(1.0, rel=1e-6)
    # the small rollout is ~100x below the running scale, so its steps stay ~100x smaller
    assert np.std(running._normalized(small)) < 0.02
    assert np.std(running._normalized(big)) == pytest.approx(
        np.std(big) / np.sqrt(0.99 * np.mean(big ** 2) + 0.01 * np.mean(small ** 2)))


def test_normalize_advantage_values():
    assert PPO("CartPole-v1", n_envs=2, n_steps=8).normalize_advantage is True
    assert AWR("CartPole-v1", n_envs=2, n_steps=8).normalize_advantage is True
    agent = AWR("CartPole-v1", n_envs=2, n_steps=8, batch_size=8, normalize_advantage="running",
                seed=0).learn(64)
    assert agent._adv_mean_square > 0
    with pytest.raises(ValueError, match="normalize_advantage must be True, False or 'running'"):
        A2C("CartPole-v1", normalize_advantage="yes")


def _scales_per_rollout(agent, steps):
    seen = []
    agent.learn(steps, callback=lambda a: seen.append(a.policy.trees.lr_scale))
    return seen


def test_linear_tail_keeps_rates_then_decays_over_the_second_half():
    agent = A2C("CartPole-v1", n_envs=2, n_steps=8, seed=0)
    assert agent.lr_schedule == "linear_tail"
    # 10 rollouts of 16 steps: rollout k starts with 1 - 16k/160 of the steps to go
    expected = [min(1.0, (1 - 16 * k / 160) / 0.5) for k in range(10)]
    assert _scales_per_rollout(agent, 160) == pytest.approx(expected)
    assert expected[4:] == pytest.approx([1.0, 1.0, 0.8, 0.6, 0.4, 0.2])
    # the tree of the last rollout got 0.2 of the rates
    np.testing.assert_allclose(agent.policy.trees.current_learning_rate(), [0.04, 0.04, 0.014])


def test_lr_schedule_callable_and_errors():
    agent = A2C("CartPole-v1", n_envs=2, n_steps=8, lr_schedule=lambda r: r ** 2, seed=0)
    assert _scales_per_rollout(agent, 64) == pytest.approx([1.0, 0.75 ** 2, 0.5 ** 2, 0.25 ** 2])
    assert PPO("CartPole-v1", n_envs=2, n_steps=8).lr_schedule == "constant"
    assert lr_scale("linear", 0.3) == 0.3 and lr_scale("constant", 0.3) == 1.0
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        A2C("CartPole-v1", lr_schedule="cosine")
    with pytest.raises(ValueError, match="lr_schedule gave -1.0"):
        A2C("CartPole-v1", n_envs=2, n_steps=8, lr_schedule=lambda r: -1.0).learn(16)
