"""Vector envs in every autoreset mode, env instances, factories, wrappers, unregistered envs."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from boostkit.rl import PPO, evaluate_policy
from boostkit.rl.callbacks import CallbackList
from boostkit.rl.vector import make_vec_env


class Counter(gym.Env):
    """Observation = steps taken in the episode; reward 1 per step; ends after ``length`` steps
    (terminated, or truncated). Unregistered."""

    observation_space = spaces.Box(0, 100, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, length=5, truncate=False):
        self.length, self.truncate = length, truncate

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        end = self.t >= self.length
        obs = np.array([self.t], np.float32)
        return obs, 1.0, end and not self.truncate, end and self.truncate, {}


def _vec(mode, truncate, n=2):
    return gym.vector.SyncVectorEnv([lambda: Counter(truncate=truncate)] * n,
                                    autoreset_mode=mode)


@pytest.mark.parametrize("truncate", [False, True])
@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP,
                                  AutoresetMode.DISABLED])
def test_rollout_has_no_transition_across_an_autoreset(mode, truncate):
    gamma, lam, c = 0.9, 0.8, 0.5
    n_steps = 12 if mode == AutoresetMode.NEXT_STEP else 10  # two whole episodes per env
    agent = PPO(_vec(mode, truncate), n_steps=n_steps, gamma=gamma, gae_lambda=lam, seed=0)
    bias = agent.policy.trees.bias_.copy()
    bias[-1] = c  # V = c everywhere: bootstraps and value baselines become visible
    agent.policy.trees.set_bias(bias)
    agent._reset()
    no_callback = CallbackList([])
    no_callback.init_callback(agent)
    batch, finished = agent._collect(no_callback, 100)
    assert agent.num_timesteps == 2 * 2 * 5 == batch["X"].shape[0]
    assert finished == [(5.0, 5)] * 4
    t = batch["X"][:, 0].astype(int)
    # the final observation (t = 5) is never acted upon: it is not the start of a transition
    assert sorted(t.tolist()) == sorted(list(range(5)) * 4)
    # GAE by hand: delta = 1 + gamma c - c, except a terminal step (1 - c)
    delta = np.full(5, 1 + gamma * c - c)
    if not truncate:
        delta[-1] = 1 - c
    expected = [sum((gamma * lam) ** k * delta[s + k] for k in range(5 - s)) for s in range(5)]
    np.testing.assert_allclose(batch["advantages"], np.array(expected)[t], atol=1e-12)
    np.testing.assert_allclose(batch["returns"], batch["advantages"] + c, atol=1e-12)


def test_learning_on_gymnasium_default_vector_env():
    vec = gym.make_vec("CartPole-v1", num_envs=4, vectorization_mode="sync")  # NEXT_STEP
    agent = PPO(vec, n_steps=64, seed=0).learn(4096)
    assert agent.num_timesteps >= 4096
    assert agent.history_[-1]["ep_return_mean"] > 1.5 * agent.history_[0]["ep_return_mean"]
    returns, lengths = evaluate_policy(agent, vec, n_eval_episodes=5, seed=0,
                                       return_episode_rewards=True)
    assert len(returns) == 5 and returns == [float(n) for n in lengths]


class Penalise(gym.Wrapper):
    """A user wrapper: reward shifted by -1."""

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        return obs, r - 1.0, term, trunc, info


@pytest.mark.parametrize("n_envs", [1, 3])
def test_instances_with_wrappers_and_factories(n_envs):
    made = []

    def factory():
        made.append(Penalise(Counter()))
        return made[-1]

    for env in (Penalise(Counter()), factory):
        agent = PPO(env, n_envs=n_envs, n_steps=10, batch_size=10, seed=0).learn(10 * n_envs)
        assert agent.n_envs == n_envs
        # every episode: 5 steps of reward 1 - 1 = 0: the wrapper is kept in every copy
        assert agent.history_[-1]["ep_return_mean"] == 0.0
        assert agent.history_[-1]["episodes"] == 2 * n_envs
    assert len(made) == n_envs


def test_copies_of_an_unseeded_instance_differ():
    env = gym.make("CartPole-v1")
    vec, _ = make_vec_env(env, n_envs=3)
    agent = PPO(vec, n_steps=4, seed=None)
    agent._reset()
    first = agent.policy.features(agent._last_obs)
    assert len({tuple(row) for row in first}) == 3


def test_a_factory_must_return_an_env():
    with pytest.raises(ValueError, match="must return a gymnasium.Env"):
        PPO(lambda: 3, n_envs=2)


class NoCopy(Counter):
    def __deepcopy__(self, memo):
        raise TypeError("holds a socket")


def test_an_instance_that_cannot_be_copied_says_so():
    with pytest.raises(ValueError, match="pass a factory"):
        PPO(NoCopy(), n_envs=2)
