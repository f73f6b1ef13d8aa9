"""Stable-Baselines3 conventions: predict, learn, callbacks, logger, pickling; SB3's own tools
(tests marked by ``pytest.importorskip`` run only where SB3 / tensorboard are installed)."""

import csv
import pickle

import gymnasium as gym
import numpy as np
import pytest

from boostkit.rl import A2C, AWR, PPO, evaluate_policy
from boostkit.rl.callbacks import BaseCallback
from boostkit.rl.logger import Logger, configure_logger


def _small(cls=PPO, **kw):
    args = dict(n_envs=2, n_steps=16, seed=0)
    if cls is not A2C:
        args["batch_size"] = 32
    if cls is PPO:
        args["n_epochs"] = 1   # one tree per 32-row minibatch: the counts below
    return cls("MlpPolicy", "CartPole-v1", **dict(args, **kw))


def test_policy_string_first_or_env_only():
    a = PPO("MlpPolicy", "CartPole-v1", n_envs=2, n_steps=16, seed=0).learn(32)
    b = PPO("CartPole-v1", n_envs=2, n_steps=16, seed=0).learn(32)
    c = PPO(env="CartPole-v1", n_envs=2, n_steps=16, seed=0).learn(32)
    obs = np.random.default_rng(0).normal(size=(10, 4))
    for other in (b, c):
        np.testing.assert_array_equal(a.policy.forward(obs)[0], other.policy.forward(obs)[0])
    with pytest.raises(ValueError, match="env is required"):
        PPO("MlpPolicy")
    with pytest.raises(ValueError, match="policy must be one of"):
        PPO("TreePolicy", "CartPole-v1")


def test_predict_returns_action_and_state():
    agent = _small().learn(64)
    obs = np.random.default_rng(1).normal(size=(6, 4))
    actions, state = agent.predict(obs, state="s", episode_start=np.ones(6, bool),
                                   deterministic=True)
    assert actions.shape == (6,) and state == "s"
    pi, _ = agent.policy.forward(obs)
    np.testing.assert_array_equal(actions, pi.argmax(axis=1))
    one, _ = agent.predict(obs[0], deterministic=True)
    assert np.ndim(one) == 0 and one == actions[0]
    # deterministic=False (SB3's default) samples: over many rows it differs from the mode
    many = np.repeat(obs[:1], 500, axis=0)
    sampled, _ = agent.predict(many)
    p = np.exp(pi[0] - pi[0].max()) / np.exp(pi[0] - pi[0].max()).sum()
    assert abs(np.mean(sampled == 1) - p[1]) < 0.1


class Recorder(BaseCallback):
    def __init__(self, stop_at=None):
        super().__init__()
        self.events = []
        self.stop_at = stop_at

    def _on_training_start(self):
        self.events.append(("start", self.num_timesteps))

    def _on_rollout_start(self):
        self.events.append(("rollout_start", self.model.num_timesteps))

    def _on_step(self):
        assert {"new_obs", "rewards", "dones", "infos", "actions"} <= set(self.locals)
        return self.stop_at is None or self.num_timesteps < self.stop_at

    def _on_rollout_end(self):
        self.events.append(("rollout_end", self.model.num_timesteps, self.model.policy.n_trees))
        for info in self.model.ep_info_buffer:  # SB3's episode buffer, updated every step
            assert info["r"] == info["l"]  # CartPole: reward 1 per step

    def _on_training_end(self):
        self.events.append(("end", self.model.num_timesteps))


def test_callback_hooks_in_sb3_order():
    agent = _small()
    rec = Recorder()
    agent.learn(64, callback=rec)
    assert rec.model is agent and rec.training_env is agent.get_env()
    assert len(agent.ep_info_buffer) == sum(h["episodes"] for h in agent.history_) > 0
    assert rec.n_calls == 64 // 2  # one on_step per vector step
    # rollout_end comes before that rollout's trees are grown (as SB3, before train())
    assert rec.events == [("start", 0), ("rollout_start", 0), ("rollout_end", 32, 0),
                          ("rollout_start", 32), ("rollout_end", 64, 1), ("end", 64)]


def test_on_step_false_stops_and_lists_and_callables_mix():
    agent = _small()
    rec, calls = Recorder(stop_at=40), []
    agent.learn(1_000, callback=[rec, lambda a: calls.append(a.num_timesteps)])
    # stopped at 40 steps, inside the second rollout (not trained on), as SB3
    assert agent.num_timesteps == 40 and calls == [32] and agent.policy.n_trees == 1
    assert rec.events[-1] == ("end", 40)
    with pytest.raises(ValueError, match="callback must be"):
        agent.learn(32, callback=3)


def test_learn_keywords_and_reset_num_timesteps(capsys):
    agent = _small()
    agent.learn(64, log_interval=2, reset_num_timesteps=True, progress_bar=False)
    assert agent.num_timesteps == 64 and capsys.readouterr().err == ""
    agent.learn(32, reset_num_timesteps=False, progress_bar=True)
    assert "32/32" in capsys.readouterr().err
    assert agent.num_timesteps == 96 and agent.history_[-1]["timesteps"] == 96
    agent.learn(32)
    assert agent.num_timesteps == 32


@pytest.mark.parametrize("cls", [PPO, A2C, AWR])
def test_logger_writes_csv_with_returns_losses_and_trees(tmp_path, cls):
    agent = _small(cls)
    agent.set_logger(configure_logger(tmp_path, ["csv"]))
    agent.learn(128)
    with open(tmp_path / "progress.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(agent.history_) == 4
    for key in ("rollout/ep_rew_mean", "train/policy_loss", "train/value_loss",
                "train/entropy", "train/n_trees", "time/total_timesteps"):
        assert key in rows[0], key
    assert [int(r["train/n_trees"]) for r in rows] == [h["trees"] for h in agent.history_]
    assert [int(r["time/total_timesteps"]) for r in rows] == [32, 64, 96, 128]
    entropy = float(rows[0]["train/entropy"])
    assert 0 < entropy <= np.log(2) + 1e-9  # two actions
    if cls is PPO:
        assert "train/clip_fraction" in rows[0]


def test_logger_columns_grow_and_bad_formats(tmp_path, capsys):
    log = Logger(tmp_path, ["csv", "stdout"])
    log.record("a", 1.0)
    log.dump(1)
    log.record("b", 2.5)
    log.dump(2)
    assert (tmp_path / "progress.csv").read_text().splitlines() == [
        "a,time/step,b", "1.0,1,", ",2,2.5"]
    assert "| b" in capsys.readouterr().out
    log = Logger()
    log.record_mean("a", 1.0)
    log.record_mean("a", 3.0)
    log.dump(5)
    assert log.last_dump == {"a": 2.0, "time/step": 5}
    with pytest.raises(ValueError, match="formats must be among"):
        Logger("x", ["json"])
    with pytest.raises(ValueError, match="give a folder"):
        Logger(None, ["csv"])


def test_pickle_and_save_load_round_trip(tmp_path):
    agent = _small().learn(64)
    obs = np.random.default_rng(2).normal(size=(20, 4))
    back = pickle.loads(pickle.dumps(agent))
    np.testing.assert_array_equal(back.predict(obs, deterministic=True)[0],
                                  agent.predict(obs, deterministic=True)[0])
    assert back.get_env() is None
    with pytest.raises(ValueError, match="without an environment"):
        back.learn(32)
    back.set_env("CartPole-v1")
    back.learn(32)
    assert back.policy.n_trees == agent.policy.n_trees + 1
    path = agent.save(tmp_path / "a.pkl")
    loaded = PPO.load(path, env=lambda: gym.make("CartPole-v1"))
    np.testing.assert_array_equal(loaded.policy.forward(obs)[0], agent.policy.forward(obs)[0])
    with pytest.raises(ValueError, match="observation / action spaces"):
        loaded.set_env("Pendulum-v1")


def _pendulum_separate_trees():
    return A2C("MlpPolicy", "Pendulum-v1", n_envs=2, n_steps=16, shared_tree=False, seed=0)


@pytest.mark.parametrize("make", [_small, _pendulum_separate_trees,
                                  lambda: _small(AWR, shared_tree=False)],
                         ids=["PPO", "A2C-Box-separate-trees", "AWR-separate-trees"])
def test_save_load_zip_as_sb3_round_trips_predictions(tmp_path, make):
    import json
    import zipfile

    agent = make().learn(64)
    cls = type(agent)
    obs = np.stack([agent.observation_space.sample() for _ in range(20)])
    written = agent.save(tmp_path / "models" / "agent")    # SB3: ".zip" appended, folder made
    assert written == tmp_path / "models" / "agent.zip" and zipfile.is_zipfile(written)
    with zipfile.ZipFile(written) as zf:
        data = json.loads(zf.read("data.json"))
        with zf.open("policy.npz") as fh:
            arrays = dict(np.load(fh))
    assert data["class"] == cls.__name__ and data["num_timesteps"] == agent.num_timesteps
    assert data["n_trees"] == agent.policy.n_trees and data["env_id"] == agent.env_id
    heads = {"trees": agent.policy.trees, "value_trees": agent.policy.value_trees}
    for name, trees in heads.items():
        assert (trees is None) == (f"{name}/bias" not in arrays)
        for key, value in (trees.to_arrays().items() if trees is not None else ()):
            np.testing.assert_array_equal(arrays[f"{name}/{key}"], value)
    if agent.policy.log_std is not None:
        np.testing.assert_array_equal(arrays["log_std"], agent.policy.log_std)
    # a twin trained the same way predicts with the RNG state the agent was saved with
    expected = {d: make().learn(64).predict(obs, deterministic=d)[0] for d in (True, False)}
    # the ways SB3 users load: with or without ".zip", str or Path, an env or none
    loaded = [cls.load(tmp_path / "models" / "agent"), cls.load(str(written)),
              cls.load(written, env=agent.env_id, device="cpu")]
    for back in loaded:
        for deterministic in (True, False):   # the RNG state is saved: same samples
            np.testing.assert_array_equal(back.predict(obs, deterministic=deterministic)[0],
                                          expected[deterministic])
        out, value = back.policy.forward(back.policy.features(obs))
        ref_out, ref_value = agent.policy.forward(agent.policy.features(obs))
        np.testing.assert_array_equal(out, ref_out)
        np.testing.assert_array_equal(value, ref_value)
        assert back.num_timesteps == agent.num_timesteps and back.get_env() is not None
    loaded[0].learn(32, reset_num_timesteps=False)     # continues on the re-made env
    assert loaded[0].num_timesteps == agent.num_timesteps + 32


def test_save_load_file_objects_kwargs_and_errors(tmp_path):
    import io

    agent = _small().learn(64)
    obs = np.random.default_rng(3).normal(size=(10, 4))
    buf = io.BytesIO()
    agent.save(buf)
    buf.seek(0)
    back = PPO.load(buf, ent_coef=0.05, n_envs=3, verbose=0)   # SB3: kwargs set attributes
    np.testing.assert_array_equal(back.predict(obs, deterministic=True)[0],
                                  agent.predict(obs, deterministic=True)[0])
    assert back.ent_coef == 0.05 and back.get_env().num_envs == 3
    path = agent.save(tmp_path / "agent.zip")
    with pytest.raises(ValueError, match=r"unknown keyword\(s\) \['learning_rate'\].*"
                                         r"'ent_coef'"):
        PPO.load(path, learning_rate=0.1)
    with pytest.raises(ValueError, match="holds a PPO, not a A2C; use PPO.load"):
        A2C.load(path)
    with pytest.raises(FileNotFoundError, match="nor .*missing.zip"):
        PPO.load(tmp_path / "missing")
    legacy = tmp_path / "old.pkl"            # the plain pickle earlier versions wrote
    with open(legacy, "wb") as fh:
        pickle.dump({"class": "PPO", "agent": agent}, fh)
    np.testing.assert_array_equal(PPO.load(legacy).predict(obs, deterministic=True)[0],
                                  agent.predict(obs, deterministic=True)[0])


def test_our_evaluate_policy_on_vector_env_and_sb3_names():
    agent = _small().learn(64)
    single = [evaluate_policy(agent, "CartPole-v1", n_eval_episodes=1, seed=s,
                              return_episode_rewards=True)[0][0] for s in range(3)]
    vec = gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="sync")
    returns, _ = evaluate_policy(agent, vec, n_eval_episodes=3, seed=0,
                                 return_episode_rewards=True)
    # sub-env i is reset with seed i: the same episodes as the single env with seed i
    assert sorted(returns) == sorted(single)
    assert evaluate_policy(agent, "CartPole-v1", n_episodes=2, seed=0) == evaluate_policy(
        agent, "CartPole-v1", n_eval_episodes=2, seed=0)
    with pytest.raises(ValueError, match="not both"):
        evaluate_policy(agent, "CartPole-v1", n_eval_episodes=3, n_episodes=2)


# ---------------------------------------------------------------- with SB3 installed
def test_sb3_evaluate_policy_matches_ours():
    sb3_eval = pytest.importorskip("stable_baselines3.common.evaluation").evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    agent = _small().learn(256)
    for seed in range(3):
        venv = DummyVecEnv([lambda: Monitor(gym.make("CartPole-v1"))])
        venv.seed(seed)
        theirs, _ = sb3_eval(agent, venv, n_eval_episodes=1, deterministic=True,
                             return_episode_rewards=True)
        ours, _ = evaluate_policy(agent, "CartPole-v1", 1, seed=seed,
                                  return_episode_rewards=True)
        assert theirs == ours
    mean, std = sb3_eval(agent, Monitor(gym.make("CartPole-v1")), n_eval_episodes=2)
    assert mean > 0


@pytest.mark.filterwarnings("ignore:Training and eval env are not of the same type")
def test_sb3_callbacks_and_logger_run_on_our_agent(tmp_path):
    callbacks = pytest.importorskip("stable_baselines3.common.callbacks")
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.monitor import Monitor

    agent = _small()
    agent.set_logger(configure(str(tmp_path / "log"), ["csv"]))
    evaluation = callbacks.EvalCallback(Monitor(gym.make("CartPole-v1")), n_eval_episodes=2,
                                        eval_freq=16, best_model_save_path=str(tmp_path),
                                        log_path=str(tmp_path),
                                        verbose=0, warn=False)
    checkpoint = callbacks.CheckpointCallback(save_freq=32, save_path=str(tmp_path / "ck"))
    agent.learn(128, callback=callbacks.CallbackList([evaluation, checkpoint]))
    assert evaluation.n_calls == 64 and len(evaluation.evaluations_results) == 4
    assert evaluation.evaluations_timesteps == [32, 64, 96, 128]
    assert (tmp_path / "best_model.zip").exists()  # SB3's model.save(".../best_model")
    best = PPO.load(tmp_path / "best_model")          # and SB3's way to load it
    assert best.policy.n_trees <= agent.policy.n_trees
    saved = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert saved == ["rl_model_128_steps.zip", "rl_model_64_steps.zip"]  # every 32 calls
    back = PPO.load(tmp_path / "ck" / "rl_model_128_steps.zip")
    # saved at the rollout's last step, before its trees were grown (as SB3)
    assert back.policy.n_trees == agent.policy.n_trees - 1 and back.num_timesteps == 128
    with open(tmp_path / "log" / "progress.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert "eval/mean_reward" in rows[0] and "train/n_trees" in rows[0]
    stop = callbacks.StopTrainingOnMaxEpisodes(max_episodes=3)
    agent.learn(10_000, callback=stop)
    assert agent.num_timesteps < 10_000


def test_tensorboard_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("torch")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    agent = PPO("MlpPolicy", "CartPole-v1", n_envs=2, n_steps=16, batch_size=32, n_epochs=1,
                seed=0, tensorboard_log=tmp_path)
    agent.learn(64, tb_log_name="run")
    agent.learn(32, tb_log_name="run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_1", "run_2"]
    events = EventAccumulator(str(tmp_path / "run_1"))
    events.Reload()
    trees = events.Scalars("train/n_trees")
    assert [e.step for e in trees] == [32, 64] and [e.value for e in trees] == [1.0, 2.0]
    assert {"rollout/ep_rew_mean", "train/value_loss", "train/policy_loss"} <= set(
        events.Tags()["scalars"])


def test_training_and_evaluating_on_an_sb3_vec_env():
    env_util = pytest.importorskip("stable_baselines3.common.env_util")
    venv = env_util.make_vec_env("CartPole-v1", n_envs=2)  # DummyVecEnv with Monitor
    agent = PPO("MlpPolicy", venv, n_steps=16, batch_size=32, seed=0).learn(256)
    assert agent.n_envs == 2 and agent.num_timesteps == 256
    reference = PPO("MlpPolicy", "CartPole-v1", n_envs=2, n_steps=16, batch_size=32,
                    seed=0).learn(256)
    # SB3 seeds sub-env i with seed + i, as gymnasium does: the same run as on the env id
    obs = np.random.default_rng(4).normal(size=(20, 4))
    np.testing.assert_array_equal(agent.policy.forward(obs)[0],
                                  reference.policy.forward(obs)[0])
    assert [h["ep_return_mean"] for h in agent.history_] == [
        h["ep_return_mean"] for h in reference.history_]
    returns, _ = evaluate_policy(agent, env_util.make_vec_env("CartPole-v1", n_envs=2), 4,
                                 return_episode_rewards=True)
    assert len(returns) == 4
