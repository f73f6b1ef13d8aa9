"""PPO / A2C / AWR on boosted trees: analytic gradients, learning, seeding, save/load, export."""

import gymnasium as gym
import numpy as np
import pytest

from boostkit.rl import A2C, AWR, PPO, ActorCriticTrees, evaluate_policy, export_policy
from boostkit.rl.distributions import Categorical, DiagGaussian, MultiCategorical
from boostkit.rl.export import load_exported


def _num_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        g[idx] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


def test_categorical_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 4))
    a = rng.integers(0, 4, 5)
    num = _num_grad(lambda zz: Categorical.log_prob(zz, a).sum(), z)
    np.testing.assert_allclose(Categorical.grad_log_prob(z, a), num, atol=1e-6)
    num_h = _num_grad(lambda zz: Categorical.entropy(zz).sum(), z)
    np.testing.assert_allclose(Categorical.grad_entropy(z), num_h, atol=1e-6)
    # log-softmax against its definition
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(Categorical.log_prob(z, a), np.log(p[np.arange(5), a]))


def test_multi_categorical_is_independent_softmaxes_with_exact_gradients():
    rng = np.random.default_rng(3)
    sizes = [2, 3, 4]
    dist = MultiCategorical(sizes)
    z = rng.normal(size=(6, 9))
    a = np.column_stack([rng.integers(0, k, 6) for k in sizes])
    # naive: the joint probability is the product of the blocks' softmax probabilities
    blocks = np.split(z, np.cumsum(sizes)[:-1], axis=1)
    probs = [np.exp(b) / np.exp(b).sum(1, keepdims=True) for b in blocks]
    joint = np.prod([p[np.arange(6), a[:, j]] for j, p in enumerate(probs)], axis=0)
    np.testing.assert_allclose(dist.log_prob(z, a), np.log(joint))
    np.testing.assert_allclose(dist.entropy(z),
                               sum(-(p * np.log(p)).sum(1) for p in probs))
    np.testing.assert_allclose(dist.grad_log_prob(z, a),
                               _num_grad(lambda zz: dist.log_prob(zz, a).sum(), z), atol=1e-6)
    np.testing.assert_allclose(dist.grad_entropy(z),
                               _num_grad(lambda zz: dist.entropy(zz).sum(), z), atol=1e-6)
    np.testing.assert_array_equal(dist.mode(z), np.column_stack([b.argmax(1) for b in blocks]))
    # sampling: each block's empirical frequencies follow its own softmax
    many = np.repeat(z[:1], 20_000, axis=0)
    draws = dist.sample(many, np.random.default_rng(0))
    for j, p in enumerate(probs):
        freq = np.bincount(draws[:, j], minlength=sizes[j]) / draws.shape[0]
        np.testing.assert_allclose(freq, p[0], atol=0.015)


def test_gaussian_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    mu, ls, a = rng.normal(size=(6, 2)), rng.normal(size=(6, 2)) * 0.3, rng.normal(size=(6, 2))
    g_mu, g_ls = DiagGaussian.grad_log_prob(mu, ls, a)
    np.testing.assert_allclose(g_mu, _num_grad(lambda m: DiagGaussian.log_prob(m, ls, a).sum(),
                                               mu), atol=1e-6)
    np.testing.assert_allclose(g_ls, _num_grad(lambda s: DiagGaussian.log_prob(mu, s, a).sum(),
                                               ls), atol=1e-6)
    ref = -0.5 * ((a - mu) / np.exp(ls)) ** 2 - ls - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(DiagGaussian.log_prob(mu, ls, a), ref.sum(1))


def _ppo_loss(agent, pi_out, a, adv, old_logp):
    pol = agent.policy
    ratio = np.exp(pol.log_prob(pi_out, a) - old_logp)
    eps = agent.clip_range
    return -np.minimum(ratio * adv, np.clip(ratio, 1 - eps, 1 + eps) * adv).sum() \
        - agent.ent_coef * pol.entropy(pi_out).sum()


def test_ppo_gradient_is_the_clipped_surrogate_gradient():
    agent = PPO("CartPole-v1", n_envs=2, n_steps=8, ent_coef=0.01, seed=0)
    rng = np.random.default_rng(2)
    pi_out = rng.normal(size=(40, 2))
    a = rng.integers(0, 2, 40)
    adv = rng.normal(size=40)
    old_logp = agent.policy.log_prob(pi_out, a) + rng.normal(size=40) * 0.3  # some clipped
    ratio = np.exp(agent.policy.log_prob(pi_out, a) - old_logp)
    clipped = ((adv >= 0) & (ratio > 1.2)) | ((adv < 0) & (ratio < 0.8))
    assert 0 < clipped.sum() < 40
    w = np.where(clipped, 0.0, adv * ratio)
    grad, _ = agent._policy_terms(pi_out, a, w)
    num = _num_grad(lambda z: _ppo_loss(agent, z, a, adv, old_logp), pi_out)
    np.testing.assert_allclose(grad, num, atol=1e-5)


def _returns(agent):
    return [h["ep_return_mean"] for h in agent.history_]


@pytest.mark.parametrize("shared", [True, False])
def test_ppo_learns_cartpole_shared_and_separate(shared):
    agent = PPO("CartPole-v1", shared_tree=shared, seed=0).learn(24_576)
    rollouts, minibatches = 24_576 // (8 * 128), 8 * 128 // agent.batch_size
    assert agent.policy.n_trees == rollouts * minibatches * agent.n_epochs
    assert (agent.policy.value_trees is None) == shared
    r = _returns(agent)
    assert r[0] < 40  # near-random start
    assert np.mean(r[-3:]) > 2.5 * r[0]
    mean, _ = evaluate_policy(agent, "CartPole-v1", n_episodes=5, seed=0)
    assert mean > 100


def test_a2c_learns_cartpole():
    agent = A2C("CartPole-v1", seed=0).learn(20_000)
    r = _returns(agent)
    assert np.nanmean(r[-10:]) > 2 * np.nanmean(r[:10])


def test_awr_learns_cartpole():
    agent = AWR("CartPole-v1", seed=0).learn(20_480)
    r = _returns(agent)
    assert np.mean(r[-3:]) > 2 * r[0]


def test_continuous_actions_pendulum_free_and_head_log_std():
    for mode in ("free", "head"):
        agent = PPO("Pendulum-v1", n_envs=2, n_steps=64, log_std=mode, seed=0).learn(512)
        act, state = agent.predict(np.zeros(3), deterministic=True)
        assert act.shape == (1,) and state is None
        if mode == "free":
            assert agent.policy.log_std.shape == (1,)
            assert not np.allclose(agent.policy.log_std, 0.0)  # trained by its gradient
        else:
            assert agent.policy.trees.n_outputs == 3  # mean, log-std, value


def test_defaults_by_action_space_kind():
    # Box actions take PPO's "continuous" row, Discrete the "discrete" row; a value given
    # explicitly always wins.
    cont, disc = PPO._DEFAULTS["continuous"], PPO._DEFAULTS["discrete"]
    assert cont != disc
    for env_id, row in (("Pendulum-v1", cont), ("CartPole-v1", disc)):
        agent = PPO(env_id, seed=0)
        got = dict(n_envs=agent.env.num_envs, n_steps=agent.n_steps, gamma=agent.gamma,
                   n_epochs=agent.n_epochs, batch_size=agent.batch_size,
                   lr_schedule=agent.lr_schedule, noise_correlation=agent.noise_correlation)
        assert got == {k: row[k] for k in got}
    agent = PPO("Pendulum-v1", n_envs=3, gamma=0.9, n_epochs=1, seed=0)
    assert (agent.env.num_envs, agent.gamma, agent.n_epochs) == (3, 0.9, 1)

    class TwoEnvsWhenContinuous(PPO):
        _DEFAULTS = dict(PPO._DEFAULTS, continuous=dict(cont, n_envs=2))

    # the env is made before the action space is known, then re-made with the row's n_envs
    assert TwoEnvsWhenContinuous("Pendulum-v1", seed=0).env.num_envs == 2
    assert TwoEnvsWhenContinuous("CartPole-v1", seed=0).env.num_envs == disc["n_envs"]
    # a ready vector env keeps its own number of sub-envs
    vec = gym.make_vec("Pendulum-v1", num_envs=3, vectorization_mode="sync")
    assert TwoEnvsWhenContinuous(vec, seed=0).env.num_envs == 3


def test_correlated_exploration_noise_is_ar1_with_unit_variance():
    agent = PPO("Pendulum-v1", n_envs=4, noise_correlation=0.9, seed=0)
    mean = np.zeros((4, 1))
    pi_out = mean   # free log-std 0: the noise is the action itself
    draws = np.array([agent._explore(pi_out)[:, 0] for _ in range(20_000)])
    assert abs(draws.std() - 1.0) < 0.05                     # same marginal N(0, 1)
    lag1 = np.mean([np.corrcoef(draws[:-1, i], draws[1:, i])[0, 1] for i in range(4)])
    assert abs(lag1 - 0.9) < 0.02
    independent = PPO("Pendulum-v1", n_envs=4, noise_correlation=0.0, use_sde=False, seed=0)
    draws = np.array([independent._explore(pi_out)[:, 0] for _ in range(5_000)])
    assert abs(np.corrcoef(draws[:-1, 0], draws[1:, 0])[0, 1]) < 0.05
    with pytest.raises(ValueError, match="noise_correlation"):
        PPO("Pendulum-v1", noise_correlation=1.0)


def test_seeded_runs_are_reproducible():
    runs = [PPO("CartPole-v1", n_envs=2, n_steps=64, seed=3).learn(1024) for _ in range(2)]
    obs = np.random.default_rng(0).normal(size=(20, 4))
    np.testing.assert_array_equal(runs[0].policy.forward(obs)[0], runs[1].policy.forward(obs)[0])
    assert _returns(runs[0]) == _returns(runs[1])


def test_save_load_and_export(tmp_path):
    agent = PPO("CartPole-v1", n_envs=2, n_steps=64, batch_size=64, n_epochs=1,
                seed=0).learn(1024)
    obs = np.random.default_rng(0).normal(size=(50, 4))
    path = agent.save(tmp_path / "agent.pkl")
    back = PPO.load(path)
    np.testing.assert_array_equal(back.predict(obs, deterministic=True)[0],
                                  agent.predict(obs, deterministic=True)[0])
    back.learn(128)  # continues training on a re-made env
    assert back.policy.n_trees == agent.policy.n_trees + 2
    with pytest.raises(ValueError, match="not a A2C"):
        A2C.load(path)
    src = export_policy(agent, tmp_path / "policy.py")
    assert "boostkit" not in src.split('"""', 2)[2]  # the module imports only NumPy
    mod = load_exported((tmp_path / "policy.py").read_text())
    np.testing.assert_array_equal(mod.predict(obs), agent.predict(obs, deterministic=True)[0])
    np.testing.assert_allclose(mod.policy_outputs(obs), agent.policy.forward(obs)[0], atol=1e-9)
    assert mod.predict(obs[0]) == agent.predict(obs[0], deterministic=True)[0]


def test_export_greedy_and_one_hot_categorical():
    agent = PPO("boostkit/ObjectGrid-v0", n_envs=2, n_steps=64, grow_policy="greedy",
                one_hot=True, seed=0).learn(512)
    env = gym.make("boostkit/ObjectGrid-v0")
    obs = np.stack([env.reset(seed=s)[0] for s in range(30)])
    mod = load_exported(export_policy(agent))
    np.testing.assert_allclose(mod.policy_outputs(obs), agent.policy.forward(
        agent.policy.features(obs))[0], atol=1e-9)


def test_categorical_splits_equal_one_hot_and_learn_gridworld():
    kw = dict(n_envs=8, n_steps=128, batch_size=256, n_epochs=2, policy_lr=0.1, value_lr=0.05,
              gamma=0.95, gae_lambda=0.9, seed=0)
    hot = PPO("boostkit/ObjectGrid-v0", one_hot=True, **kw).learn(3072)
    cat = PPO("boostkit/ObjectGrid-v0", **kw).learn(3072)
    assert cat.policy.n_features == 10 and hot.policy.n_features == 8 * 8 + 6
    # "equals c" on a code is the same partition as "one-hot column c <= 0.5": same trees
    assert _returns(cat) == _returns(hot)
    obs = np.stack([gym.make("boostkit/ObjectGrid-v0").reset(seed=s)[0] for s in range(20)])
    np.testing.assert_allclose(cat.policy.forward(cat.policy.features(obs))[0],
                               hot.policy.forward(hot.policy.features(obs))[0], atol=1e-9)
    cat.learn(11_264)
    assert _returns(cat)[-1] > _returns(cat)[0] + 0.4  # from ~-0.5 (lava) towards +1 (goal)


@pytest.mark.parametrize("bad, match", [
    (dict(env="CartPole-v1", n_envs=0), "n_envs"),
    (dict(env="CartPole-v1", gamma=1.5), "gamma"),
    (dict(env="CartPole-v1", batch_size=0), "batch_size"),
    (dict(env="CartPole-v1", policy_lr=-1.0), "policy_lr"),
    (dict(env="CartPole-v1", log_std="both"), "log_std"),
    (dict(env="CartPole-v1", grow_policy="depthwise"), "grow_policy"),
    (dict(env="NoSuchEnv-v9"), "could not be made"),
    (dict(env=42), "env must be"),
])
def test_bad_arguments(bad, match):
    env = bad.pop("env")
    with pytest.raises(ValueError, match=match):
        PPO(env, **bad)


def test_unsupported_spaces():
    with pytest.raises(ValueError, match="observation space Text"):
        ActorCriticTrees(gym.spaces.Dict({"a": gym.spaces.Text(4)}), gym.spaces.Discrete(2))
    with pytest.raises(ValueError, match="action space"):
        ActorCriticTrees(gym.spaces.Box(-1, 1, (2,)),
                         gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Discrete(3))))


def test_verbose_progress_and_callback_stop(capsys):
    calls = []

    def stop_after_two(agent):
        calls.append(agent.num_timesteps)
        return len(calls) < 2

    agent = PPO("CartPole-v1", n_envs=2, n_steps=32, batch_size=32, seed=0, verbose=2)
    agent.learn(10_000, callback=stop_after_two)
    assert calls == [64, 128] and agent.num_timesteps == 128
    err = capsys.readouterr().err
    assert "PPO" in err and "trees" in err
    h = agent.history_[-1]
    assert set(h) >= {"timesteps", "trees", "ep_return_mean", "steps_per_s"}
