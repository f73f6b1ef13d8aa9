"""The learning mechanics behind the defaults: split-search weights and the lr schedule."""

import numpy as np
import pytest

from boostkit.rl import PPO, BoostedTrees
from boostkit.rl.policy import ActorCriticTrees


def _two_signal_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    # output 0: large gradient explained by feature 0; output 1: small, by feature 1
    G = np.column_stack([10.0 * np.sign(X[:, 0]), 0.1 * np.sign(X[:, 1])])
    return X, G


def test_score_weights_choose_the_split_but_not_the_leaf_values():
    X, G = _two_signal_data()
    plain = BoostedTrees(2, max_depth=1, learning_rate=1.0).step(X, G)
    weighted = BoostedTrees(2, max_depth=1, learning_rate=1.0).step(X, G,
                                                                   score_weights=[1e-3, 1.0])
    assert plain.to_arrays()["feature"][0] == 0
    assert weighted.to_arrays()["feature"][0] == 1
    # leaves hold the UNweighted mean gradient of their rows (naive recomputation)
    left = X[:, 1] <= weighted.to_arrays()["threshold"][0]
    expected = np.where(left[:, None], -G[left].mean(axis=0), -G[~left].mean(axis=0))
    np.testing.assert_allclose(weighted.predict(X), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bad", [[1.0], [1.0, 0.0], [1.0, np.nan]])
def test_score_weights_errors(bad):
    X, G = _two_signal_data()
    with pytest.raises(ValueError, match="score_weights"):
        BoostedTrees(2).step(X, G, score_weights=bad)


def test_balance_heads_lets_the_policy_gradient_pick_the_split():
    import gymnasium as gym

    X, G = _two_signal_data()
    policy_grad = np.column_stack([G[:, 1], -G[:, 1]])      # small, explained by feature 1
    value_grad = G[:, 0]                                     # 100x larger, by feature 0
    kw = dict(max_depth=1, policy_lr=1.0, value_lr=1.0)
    space = gym.spaces.Box(-5, 5, (2,))
    for balance, feature in ((False, 0), (True, 1)):
        ac = ActorCriticTrees(space, gym.spaces.Discrete(2), balance_heads=balance, **kw)
        ac.update(X, policy_grad, value_grad)
        assert ac.trees.to_arrays()["feature"][0] == feature


def test_linear_lr_schedule_scales_the_last_rollout_down():
    agent = PPO("CartPole-v1", n_envs=2, n_steps=16, batch_size=32, lr_schedule="linear", seed=0)
    agent.learn(32 * 4)
    # four rollouts of 32 steps: the last one trains with 1 - 96 / 128 of the rates
    assert agent.policy.trees.lr_scale == pytest.approx(0.25)
    policy_lr = PPO._DEFAULTS["discrete"]["policy_lr"]
    assert agent.policy.trees.current_learning_rate()[0] == pytest.approx(0.25 * policy_lr)
    constant = PPO("CartPole-v1", n_envs=2, n_steps=16, batch_size=32, seed=0).learn(128)
    assert constant.policy.trees.lr_scale == 1.0


def test_lr_schedule_error():
    with pytest.raises(ValueError, match="lr_schedule"):
        PPO("CartPole-v1", lr_schedule="cosine")


def test_discrete_defaults_fit_each_tree_on_16_rows_a_leaf_several_times():
    # docs/rl.md, "Discrete actions beyond CartPole": 4 rows a leaf (64-row minibatches) made
    # each tree's step mostly noise; the Discrete defaults fit 16 rows a leaf, 4 epochs.
    agent = PPO("CartPole-v1", seed=0)
    leaves = 2 ** agent.policy.trees.max_depth
    assert agent.batch_size >= 16 * leaves and agent.n_epochs >= 4
    rows = agent.n_envs * agent.n_steps
    agent.learn(rows)
    assert agent.policy.n_trees == agent.n_epochs * -(-rows // agent.batch_size)
