"""Spaces as users have them: every action the env receives is valid; Dict / Tuple observations."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from boostkit.rl import A2C, PPO, evaluate_policy
from boostkit.rl.export import export_policy, load_exported
from boostkit.rl.spaces import ActionCodec, ObservationEncoder


class StrictEnv(gym.Env):
    """Refuses any action outside its action space and records what it received."""

    def __init__(self, action_space, observation_space=None, horizon=8):
        self.action_space = action_space
        self.observation_space = observation_space or spaces.Box(-1, 1, (3,), np.float32)
        self.horizon = horizon
        self.received = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise AssertionError(f"invalid action {action!r} for {self.action_space}")
        self.received.append(action)
        self.t += 1
        return self.observation_space.sample(), 0.0, False, self.t >= self.horizon, {}


ACTION_SPACES = [
    spaces.Discrete(3),
    spaces.Discrete(3, start=-1),
    spaces.Discrete(2, start=5),
    spaces.Box(-1.0, 1.0, (1,), np.float32),
    spaces.Box(np.array([0.0, -3.0], np.float32), np.array([0.5, -2.0], np.float32)),
    spaces.Box(-2.0, 2.0, (2,), np.float64),
    spaces.MultiDiscrete([2, 3]),
    spaces.MultiDiscrete([3, 2], start=[-1, 5]),
    spaces.MultiDiscrete([[2, 2], [3, 2]], start=[[0, 1], [-2, 0]]),
    spaces.MultiBinary(3),
    spaces.MultiBinary([2, 2]),
]


def _choices_per_entry(space):
    """Every action each entry of a categorical space can take, in the flattened order."""
    if isinstance(space, spaces.Discrete):
        return [set(range(space.start, space.start + space.n))]
    if isinstance(space, spaces.MultiBinary):
        return [{0, 1}] * int(np.prod(space.shape))
    starts = np.broadcast_to(space.start, space.shape).ravel()
    return [set(range(s, s + n)) for s, n in zip(starts, space.nvec.ravel())]


@pytest.mark.parametrize("space", ACTION_SPACES, ids=repr)
def test_env_receives_only_valid_actions(space):
    env = StrictEnv(space)
    agent = PPO("MlpPolicy", env, n_envs=1, n_steps=32, batch_size=32, seed=0).learn(96)
    assert len(env.received) == 96
    if not isinstance(space, spaces.Box):
        # every entry takes all its choices, and they are start .. start + n - 1
        received = np.array([np.ravel(a) for a in env.received])
        assert received.dtype == space.dtype
        for j, choices in enumerate(_choices_per_entry(space)):
            assert set(received[:, j].tolist()) == choices
    obs = np.stack([env.observation_space.sample() for _ in range(20)])
    for deterministic in (True, False):
        actions, _ = agent.predict(obs, deterministic=deterministic)
        assert all(space.contains(a) for a in actions)
        single, _ = agent.predict(obs[0], deterministic=deterministic)
        assert space.contains(single)
    evaluate_policy(agent, env, n_eval_episodes=2)  # StrictEnv raises on an invalid action
    mod = load_exported(export_policy(agent))
    np.testing.assert_array_equal(mod.predict(obs), agent.predict(obs, deterministic=True)[0])


def test_unsupported_action_space_is_named():
    with pytest.raises(ValueError, match=r"action space Box\(.*\(2, 2\).*use Discrete, "
                                         "MultiDiscrete, MultiBinary or a 1-D Box"):
        PPO(StrictEnv(spaces.Box(-1, 1, (2, 2))))


def test_encoder_flattens_nested_dict_and_tuple_keeping_categorical_parts():
    space = spaces.Dict({
        "pos": spaces.Box(-1, 1, (2, 2)),
        "door": spaces.Discrete(3, start=1),
        "inv": spaces.Tuple((spaces.MultiDiscrete([2, 4]), spaces.MultiBinary(2))),
    })
    enc = ObservationEncoder(space)
    assert enc.feature_names == ["door", "inv[0][0]", "inv[0][1]", "inv[1][0]", "inv[1][1]",
                                 "pos[0]", "pos[1]", "pos[2]", "pos[3]"]
    assert enc.categorical.tolist() == [True, True, True, False, False] + [False] * 4
    space.seed(0)
    batch = [space.sample() for _ in range(5)]
    X = enc.transform(batch[0])
    naive = np.concatenate([[batch[0]["door"]], batch[0]["inv"][0], batch[0]["inv"][1],
                            batch[0]["pos"].ravel()])
    np.testing.assert_array_equal(X, naive[None])
    stacked = {"pos": np.stack([b["pos"] for b in batch]),
               "door": np.array([b["door"] for b in batch]),
               "inv": (np.stack([b["inv"][0] for b in batch]),
                       np.stack([b["inv"][1] for b in batch]))}
    np.testing.assert_array_equal(enc.transform(stacked),
                                  np.vstack([enc.transform(b) for b in batch]))
    hot = ObservationEncoder(space, one_hot=True)
    assert hot.n_features == 3 + (2 + 4) + 2 + 4 and not hot.categorical.any()
    row = hot.transform(batch[0])[0]
    assert row[batch[0]["door"] - 1] == 1 and row[:3].sum() == 1
    assert row[3 + batch[0]["inv"][0][0]] == 1 and row[5 + batch[0]["inv"][0][1]] == 1


def test_observation_shape_errors_name_the_shapes():
    agent = PPO("CartPole-v1", n_envs=2, n_steps=16, seed=0)
    with pytest.raises(ValueError, match=r"shape \(7,\).*expected shape \(4,\).*\(n, 4\)"):
        agent.predict(np.zeros(7))
    with pytest.raises(ValueError, match=r"shape \(3, 7\)"):
        agent.predict(np.zeros((3, 7)))
    enc = ObservationEncoder(spaces.Dict({"a": spaces.Box(-1, 1, (2,)),
                                          "b": spaces.Box(-1, 1, (3,))}))
    with pytest.raises(ValueError, match="part 'b' has shape"):
        enc.transform({"a": np.zeros(2), "b": np.zeros(4)})


class ColourBandit(gym.Env):
    """One-step episodes: reward 1 when the action is right for the colour. Colours 1 and 3 want
    action 1 (not a threshold on the code: a categorical split finds it), plus a noise Box."""

    observation_space = spaces.Dict({"colour": spaces.Discrete(5),
                                     "noise": spaces.Box(-1, 1, (2,), np.float32)})
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.obs = self.observation_space.sample()
        return self.obs, {}

    def step(self, action):
        want = int(self.obs["colour"] in (1, 3))
        return self.obs, float(action == want), True, False, {}


def test_dict_observations_learn_with_categorical_splits():
    env = ColourBandit()
    env.observation_space.seed(0)
    agent = PPO(env, n_envs=4, n_steps=64, batch_size=64, n_epochs=2, policy_lr=0.1, seed=0)
    assert agent.policy.obs_encoder.categorical.tolist() == [True, False, False]
    agent.learn(3072)
    trees = agent.policy.trees.to_arrays()
    assert trees["is_cat"].any()  # the colour is split by "equals"
    returns, _ = evaluate_policy(agent, env, n_eval_episodes=100, seed=0,
                                 return_episode_rewards=True)
    assert np.mean(returns) > 0.95


def test_tuple_observations_with_a2c_and_export():
    space = spaces.Tuple((spaces.Discrete(3, start=2), spaces.Box(-1, 1, (2,), np.float32)))
    env = StrictEnv(spaces.Discrete(2), observation_space=space)
    agent = A2C(lambda: StrictEnv(spaces.Discrete(2), observation_space=space), n_envs=2,
                n_steps=8, seed=0).learn(64)
    space.seed(1)
    obs = [space.sample() for _ in range(10)]
    mod = load_exported(export_policy(agent))
    for o in obs:
        assert mod.predict(o) == agent.predict(o, deterministic=True)[0]
    batch = (np.array([o[0] for o in obs]), np.stack([o[1] for o in obs]))
    np.testing.assert_array_equal(mod.predict(batch), agent.predict(batch, deterministic=True)[0])
    evaluate_policy(agent, env, n_eval_episodes=1)


def test_action_codec_round_trip_of_indices():
    codec = ActionCodec(spaces.Discrete(4, start=-2))
    np.testing.assert_array_equal(codec.to_env(np.arange(4)), [-2, -1, 0, 1])


class ColourCombination(gym.Env):
    """One-step episodes: a colour (Discrete(4)) asks for one action per entry of a
    MultiDiscrete([2, 3], start=[0, -1]) or MultiBinary(2) action; the reward is the share of
    entries that are right (a random policy gets 0.42 / 0.5)."""

    def __init__(self, action_space):
        self.action_space = action_space
        self.observation_space = spaces.Dict({"colour": spaces.Discrete(4),
                                              "noise": spaces.Box(-1, 1, (2,), np.float32)})

    def want(self, colour):
        if isinstance(self.action_space, spaces.MultiBinary):
            return np.array([colour & 1, colour >> 1], dtype=np.int8)
        return np.array([colour % 2, colour % 3 - 1])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(int(self.np_random.integers(2 ** 31)))
        self.obs = self.observation_space.sample()
        return self.obs, {}

    def step(self, action):
        assert self.action_space.contains(action), action
        right = np.mean(np.asarray(action) == self.want(self.obs["colour"]))
        return self.obs, float(right), True, False, {}


@pytest.mark.parametrize("space", [spaces.MultiDiscrete([2, 3], start=[0, -1]),
                                   spaces.MultiBinary(2)], ids=repr)
@pytest.mark.parametrize("cls", [PPO, A2C])
def test_multi_discrete_and_multi_binary_actions_are_learned(cls, space):
    kw = (dict(n_steps=64, n_epochs=2, policy_lr=0.1) if cls is PPO
          else dict(n_steps=16, policy_lr=0.3))
    agent = cls(lambda: ColourCombination(space), n_envs=4, seed=0, **kw).learn(4096)
    returns, _ = evaluate_policy(agent, ColourCombination(space), n_eval_episodes=100, seed=0,
                                 return_episode_rewards=True)
    assert np.mean(returns) > 0.95, np.mean(returns)
