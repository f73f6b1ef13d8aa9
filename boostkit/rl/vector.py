"""Environments as users have them, stepped as one gymnasium vector environment.

:func:`make_vec_env` accepts an env id, an environment instance (copied for ``n_envs > 1``,
wrappers included), a factory (a callable returning a new environment) or a ready
:class:`gymnasium.vector.VectorEnv` in any autoreset mode. :class:`VectorRunner` steps such a
vector env and reports which entries of each step are real transitions:

* ``SAME_STEP``: every step is real; a finished episode's last observation is in
  ``info["final_obs"]`` and the returned observation already starts the next episode.
* ``NEXT_STEP`` (gymnasium's default): the step that finishes an episode returns its last
  observation; the NEXT step of that sub-env ignores its action and only resets it. That reset
  step is not a transition and is reported invalid, so no transition is learned across it.
* ``DISABLED``: the runner resets finished sub-envs itself (``reset_mask``).

Examples
--------
>>> import gymnasium as gym, numpy as np
>>> env = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
>>> runner = VectorRunner(env)
>>> obs = runner.reset(seed=0)
>>> steps = [runner.step(np.zeros(2, dtype=np.int64)) for _ in range(12)]
>>> [s.done.astype(int).tolist() for s in steps][8:]    # pushing left ends both episodes
[[0, 0], [0, 1], [1, 0], [0, 0]]
>>> [s.valid.astype(int).tolist() for s in steps][8:]   # each followed by a reset step
[[1, 1], [1, 1], [1, 0], [0, 1]]
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

__all__ = ["make_vec_env", "VectorRunner", "StepResult"]


def make_vec_env(env, n_envs=1):
    """A gymnasium vector env of ``n_envs`` copies of ``env``, and its env id if known.

    Parameters
    ----------
    env : str, gymnasium.Env, callable, gymnasium.vector.VectorEnv or SB3 VecEnv
        An env id (made in same-step autoreset mode); an environment instance (the instance
        itself is the first sub-env, the others are deep copies, so user wrappers and
        unregistered envs work); a factory called once per sub-env; or a vector env, used as it
        is (any autoreset mode; ``n_envs`` is then ignored). A Stable-Baselines3 ``VecEnv``
        (``DummyVecEnv``, ``SubprocVecEnv``, ...) is used through :class:`SB3VecEnvAdapter`.
    n_envs : int, default=1

    Returns
    -------
    (VectorEnv, str or None)

    Examples
    --------
    >>> import gymnasium as gym
    >>> from gymnasium.wrappers import TimeLimit
    >>> vec, env_id = make_vec_env(TimeLimit(gym.make("CartPole-v1"), 50), n_envs=3)
    >>> vec.num_envs, env_id
    (3, None)
    """
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode, VectorEnv

    same_step = {"autoreset_mode": AutoresetMode.SAME_STEP}
    if isinstance(env, str):
        try:
            return gym.make_vec(env, num_envs=n_envs, vectorization_mode="sync",
                                vector_kwargs=same_step), env
        except gym.error.Error as exc:
            raise ValueError(f"env {env!r} could not be made: {exc}") from exc
    if isinstance(env, VectorEnv):
        return env, None
    if _is_sb3_vec_env(env):
        return SB3VecEnvAdapter(env), None
    if isinstance(env, gym.Env):
        copies = [env]
        for _ in range(n_envs - 1):
            try:
                copies.append(copy.deepcopy(env))
            except Exception as exc:  # noqa: BLE001 (any failure to copy means the same)
                raise ValueError(
                    f"n_envs={n_envs} needs copies of the environment instance {env!r}, and it "
                    f"cannot be deep-copied ({type(exc).__name__}: {exc}); pass a factory "
                    "(a callable returning a new environment) or an env id instead") from exc
        return gym.vector.SyncVectorEnv([(lambda e=e: e) for e in copies], **same_step), None
    if callable(env):
        def checked():
            made = env()
            if not isinstance(made, gym.Env):
                raise ValueError(f"the env factory {env!r} must return a gymnasium.Env; got "
                                 f"{type(made).__name__}")
            return made

        return gym.vector.SyncVectorEnv([checked] * n_envs, **same_step), None
    raise ValueError("env must be a gymnasium env id, a gymnasium.Env, a factory returning one, "
                     f"or a gymnasium.vector.VectorEnv; got {env!r}")


def _is_sb3_vec_env(env):
    return all(hasattr(env, a) for a in ("step_async", "step_wait", "num_envs", "env_method"))


class SB3VecEnvAdapter:
    """A Stable-Baselines3 ``VecEnv`` seen as a gymnasium vector env in same-step autoreset
    mode (SB3 resets finished sub-envs itself and keeps the last observation in
    ``infos[i]["terminal_observation"]``; ``"TimeLimit.truncated"`` marks a truncation).
    Made by :func:`make_vec_env`; tested in ``tests/boostkit/rl/test_sb3_compat.py``.
    """

    def __init__(self, venv):
        from gymnasium.vector import AutoresetMode

        self.venv = venv
        self.num_envs = venv.num_envs
        self.single_observation_space = venv.observation_space
        self.single_action_space = venv.action_space
        self.metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}
        self.autoreset_mode = AutoresetMode.SAME_STEP

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.venv.seed(seed)
        return self.venv.reset(), {}

    def step(self, actions):
        obs, rewards, dones, infos = self.venv.step(actions)
        dones = np.asarray(dones, dtype=bool)
        truncated = np.array([bool(d and info.get("TimeLimit.truncated", False))
                              for d, info in zip(dones, infos)])
        terminated = dones & ~truncated
        final = np.empty(self.num_envs, dtype=object)
        has_final = np.zeros(self.num_envs, dtype=bool)
        for i in np.flatnonzero(dones):
            if "terminal_observation" in infos[i]:
                final[i] = infos[i]["terminal_observation"]
                has_final[i] = True
        return obs, rewards, terminated, truncated, {"final_obs": final, "_final_obs": has_final}

    def close(self):
        self.venv.close()

    def __repr__(self):
        return f"SB3VecEnvAdapter({self.venv!r})"


def autoreset_mode(env):
    """The autoreset mode of a gymnasium vector env (NEXT_STEP when it does not say)."""
    from gymnasium.vector import AutoresetMode

    mode = getattr(env, "autoreset_mode", None) or env.metadata.get("autoreset_mode")
    if mode is None:
        return AutoresetMode.NEXT_STEP
    return AutoresetMode(mode) if not isinstance(mode, AutoresetMode) else mode


def index_obs(obs, i):
    """Observation of sub-env ``i`` of a batched (possibly Dict / Tuple) observation."""
    if isinstance(obs, dict):
        return {k: index_obs(v, i) for k, v in obs.items()}
    if isinstance(obs, tuple):
        return tuple(index_obs(v, i) for v in obs)
    return obs[i]


@dataclass
class StepResult:
    """One vector step, seen as transitions.

    Attributes
    ----------
    obs : batched observation to act on next
    reward, terminated, truncated : ndarray of shape (n_envs,)
        Zero / False on invalid entries.
    valid : ndarray of bool
        The entry is a real transition (False on a NEXT_STEP reset step).
    final_obs : dict of int -> observation
        Last observation of every episode that ended at this step (its sub-env index as key).
    """

    obs: object
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    valid: np.ndarray
    final_obs: dict

    @property
    def done(self):
        return self.terminated | self.truncated


class VectorRunner:
    """Steps a gymnasium vector env in any autoreset mode (see the module docstring)."""

    def __init__(self, env):
        self.env = env
        self.mode = autoreset_mode(env)
        self.num_envs = env.num_envs
        self._resetting = np.zeros(self.num_envs, dtype=bool)

    def reset(self, seed=None):
        """Reset every sub-env (sub-env ``i`` gets ``seed + i``); returns the observations."""
        obs, _ = self.env.reset(seed=seed)
        self._resetting[:] = False
        return obs

    def step(self, actions):
        """Step every sub-env with its action; returns a :class:`StepResult`."""
        from gymnasium.vector import AutoresetMode

        obs, reward, terminated, truncated, info = self.env.step(actions)
        reward = np.asarray(reward, dtype=np.float64).copy()
        terminated = np.asarray(terminated, dtype=bool).copy()
        truncated = np.asarray(truncated, dtype=bool).copy()
        valid = np.ones(self.num_envs, dtype=bool)
        final_obs = {}
        done = terminated | truncated
        if self.mode == AutoresetMode.NEXT_STEP:
            valid = ~self._resetting
            reward[~valid] = 0.0
            terminated &= valid
            truncated &= valid
            done = terminated | truncated
            final_obs = {int(i): index_obs(obs, i) for i in np.flatnonzero(done)}
            self._resetting = done.copy()
        elif self.mode == AutoresetMode.SAME_STEP:
            if done.any():
                has = info.get("_final_obs", done)
                final_obs = {int(i): info["final_obs"][i] for i in np.flatnonzero(done & has)}
        else:  # DISABLED: reset finished sub-envs here
            if done.any():
                final_obs = {int(i): index_obs(obs, i) for i in np.flatnonzero(done)}
                obs, _ = self.env.reset(options={"reset_mask": done})
        return StepResult(obs, reward, terminated, truncated, valid, final_obs)
