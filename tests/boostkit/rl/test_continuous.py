"""Box-action exploration: the state-dependent noise, its parameters, PPO's Box defaults."""

import numpy as np
import pytest

from boostkit.rl import PPO
from boostkit.rl.distributions import StateDependentNoise


def _naive_noise(batches, n_actions, sample_freq, rollout_starts, seed):
    """Per row and feature, from the whole history of features: the reference."""
    rng = np.random.default_rng(seed)
    history, out, weights, age = [], [], None, 0
    for t, X in enumerate(batches):
        if t in rollout_starts and sample_freq == -1:
            weights = None
        history.append(X)
        seen = np.vstack(history)
        mean, sd = seen.mean(axis=0), seen.std(axis=0)
        n, d = X.shape
        if weights is None or (sample_freq >= 1 and age >= sample_freq):
            weights = rng.standard_normal((n, d + 1, n_actions))
            age = 0
        age += 1
        e = np.zeros((n, n_actions))
        for i in range(n):
            u = [1.0] + [(X[i, j] - mean[j]) / sd[j] if sd[j] > 1e-8 else 0.0 for j in range(d)]
            u = np.array(u) / np.sqrt(np.sum(np.square(u)))
            for a in range(n_actions):
                e[i, a] = sum(u[j] * weights[i, j, a] for j in range(d + 1))
        out.append(e)
    return np.array(out)


@pytest.mark.parametrize("sample_freq", [-1, 1, 3])
def test_state_dependent_noise_matches_naive(sample_freq):
    data = np.random.default_rng(1)
    # 4 sub-envs, 3 features; the last one constant (standardised to 0)
    batches = [np.column_stack([data.normal(2.0, 5.0, (4, 2)), np.full(4, 7.0)])
               for _ in range(12)]
    rollout_starts = {0, 5, 9}
    noise, rng, got = StateDependentNoise(sample_freq), np.random.default_rng(0), []
    for t, X in enumerate(batches):
        if t in rollout_starts:
            noise.new_rollout()
        got.append(noise.sample(X, 2, rng))
    want = _naive_noise(batches, 2, sample_freq, rollout_starts, seed=0)
    np.testing.assert_allclose(np.array(got), want, rtol=1e-9, atol=1e-12)


def test_state_dependent_noise_is_standard_normal_and_a_function_of_the_state():
    rng = np.random.default_rng(0)
    noise = StateDependentNoise(sample_freq=1)          # new weights every step
    X = rng.normal(size=(2000, 3)) * [1.0, 100.0, 0.01]
    draws = np.array([noise.sample(X[:1], 1, rng)[0, 0] for _ in range(4000)])
    assert abs(draws.mean()) < 0.06 and abs(draws.std() - 1.0) < 0.05
    kept = StateDependentNoise(sample_freq=-1)
    kept.sample(X, 1, rng)                               # statistics from 2000 states
    kept.sample(X[:50], 1, rng)                          # 50 sub-envs: new weights
    w = kept.weights.copy()
    kept.sample(X[:50], 1, rng)
    np.testing.assert_array_equal(kept.weights, w)      # kept within the rollout
    # with the weights kept, the noise is a smooth function of the state ...
    e = np.einsum("nd,nda->na", kept.directions(X[:50]), w)
    near = np.einsum("nd,nda->na", kept.directions(X[:50] * (1 + 1e-6)), w)
    np.testing.assert_allclose(near, e, atol=1e-4)
    assert np.std(e) > 0.3                               # ... that varies across states
    # and the standardised features have unit norm with the constant, whatever the scales
    np.testing.assert_allclose(np.linalg.norm(kept.directions(X), axis=1), 1.0)


def test_ppo_sde_keeps_weights_per_rollout_and_log_prob_is_the_gaussian():
    agent = PPO("Pendulum-v1", n_envs=2, n_steps=8, use_sde=True, sde_sample_freq=-1, seed=0)
    agent.learn(32)                        # two rollouts of 2 x 8 steps
    noise = agent._sde_noise
    assert noise.count == 32 and noise.weights.shape == (2, 4, 1)
    w = noise.weights.copy()
    X = agent.policy.features(agent._last_obs)
    pi_out, _ = agent.policy.forward(X)
    a1 = agent._explore(pi_out, X)
    np.testing.assert_allclose(noise.weights, w)       # kept within the rollout
    mean, log_std = agent.policy.split_policy(pi_out)
    e = (a1 - mean) / np.exp(log_std)
    # action = mean + std * u(x) @ W (u from the statistics that now include X)
    np.testing.assert_allclose(e, np.einsum("nd,nda->na", noise.directions(X), w))
    agent.learn(16, reset_num_timesteps=False)   # one more rollout
    assert not np.allclose(noise.weights, w)           # new rollout, new weights
    every = PPO("Pendulum-v1", n_envs=2, n_steps=8, use_sde=True, sde_sample_freq=2, seed=0)
    every.learn(4)
    assert every._sde_noise.age == 2


def test_box_exploration_parameters_are_validated():
    for kw, msg in ((dict(use_sde=1), "use_sde must be True or False"),
                    (dict(sde_sample_freq=0), "sde_sample_freq must be -1"),
                    (dict(sde_sample_freq=2.0), "sde_sample_freq must be -1"),
                    (dict(use_sde=True, noise_correlation=0.5), "two exploration noises"),
                    (dict(log_std_lr=-0.1), "log_std_lr must be a non-negative float"),
                    (dict(log_std_lr=float("nan")), "log_std_lr")):
        with pytest.raises(ValueError, match=msg):
            PPO("Pendulum-v1", **kw)
    # asking for the AR(1) noise turns the default state-dependent noise off
    agent = PPO("Pendulum-v1", noise_correlation=0.9, seed=0)
    assert (agent.use_sde, agent.noise_correlation) == (False, 0.9)


def test_box_defaults_and_log_std_lr():
    row = PPO._DEFAULTS["continuous"]
    agent = PPO("Pendulum-v1", seed=0)
    assert (agent.use_sde, agent.sde_sample_freq, agent.noise_correlation) == (
        row["use_sde"], row["sde_sample_freq"], row["noise_correlation"])
    assert agent.policy.log_std_lr == row["log_std_lr"]
    assert PPO("Pendulum-v1", log_std_lr=0.05, seed=0).policy.log_std_lr == 0.05
    disc = PPO("CartPole-v1", seed=0)      # Discrete actions: no Box noise, policy_lr as before
    assert disc.use_sde is False and disc.policy.log_std_lr == disc.policy.trees.learning_rate.policy_lr


def test_free_log_std_moves_by_log_std_lr():
    # the free log-std's step is log_std_lr times its mean gradient: 10x the rate, 10x the move
    moves = []
    for lr in (0.001, 0.01):
        agent = PPO("Pendulum-v1", n_envs=2, n_steps=32, n_epochs=1, batch_size=64,
                    log_std_lr=lr, lr_schedule="constant", seed=0).learn(64)
        moves.append(float(agent.policy.log_std[0]))
    assert moves[0] != 0.0
    np.testing.assert_allclose(moves[1], 10 * moves[0], rtol=1e-6)
