"""normalize_advantage="running" (A2C's default): advantages divided by a running RMS over
rollouts instead of each batch's own standard deviation."""

import numpy as np
import pytest

from boostkit.rl import A2C, AWR, PPO


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
