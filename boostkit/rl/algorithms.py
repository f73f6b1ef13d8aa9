"""On-policy actor-critic algorithms on boosted trees: PPO, A2C and AWR.

Each update computes the gradient of the algorithm's loss with respect to the model OUTPUTS
(logits or Gaussian parameters, and the value) analytically, and fits one tree to it.

Per row, with advantage ``A``, ratio ``r = pi(a) / pi_old(a)``, return ``R``, value ``V``:

* PPO:  ``-min(r A, clip(r, 1 - eps, 1 + eps) A) - ent_coef H + 0.5 vf_coef (V - R)^2``;
  gradient ``-A r dlogpi`` where the clip is inactive, else 0.
* A2C:  ``-A log pi(a) - ent_coef H + 0.5 vf_coef (V - R)^2``.
* AWR:  ``-min(exp(A / beta), max_weight) log pi(a) - ent_coef H + 0.5 vf_coef (V - R)^2``.

Rollouts run on a gymnasium vector environment in any autoreset mode (the reset steps of
NEXT_STEP mode are not transitions and are left out); advantages are GAE(lambda); a truncated
episode bootstraps from the value of its final observation.
"""

from __future__ import annotations

import collections
import io
import json
import numbers
import pickle
import time
import zipfile
from pathlib import Path

import numpy as np

from boostkit.rl.callbacks import as_callback, function_callbacks
from boostkit.rl.distributions import StateDependentNoise
from boostkit.rl.logger import Logger
from boostkit.rl.policy import ActorCriticTrees
from boostkit.rl.spaces import ActionCodec
from boostkit.rl.vector import SB3VecEnvAdapter, VectorRunner, _is_sb3_vec_env, make_vec_env

__all__ = ["PPO", "A2C", "AWR", "evaluate_policy"]


def _positive_int(name, v):
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name} must be a positive int; got {v!r}")


def _unit_interval(name, v):
    if not isinstance(v, numbers.Real) or not 0 <= v <= 1:
        raise ValueError(f"{name} must be a float in [0, 1]; got {v!r}")


_TREE_POLICY_NAMES = ("MlpPolicy", "MultiInputPolicy")


def _policy_and_env(policy, env):
    """Accept ``Agent(env)`` and SB3's ``Agent("MlpPolicy", env)``."""
    if env is None:
        if isinstance(policy, str) and policy in _TREE_POLICY_NAMES + ("CnnPolicy",):
            raise ValueError(f"env is required: {policy!r} is a policy name; pass the "
                             "environment second, e.g. PPO('MlpPolicy', 'CartPole-v1')")
        if policy is None:
            raise ValueError("env is required (an env id, gymnasium.Env, factory or VectorEnv)")
        return policy
    if not (policy is None or isinstance(policy, str) and policy in _TREE_POLICY_NAMES):
        raise ValueError(f"policy must be one of {_TREE_POLICY_NAMES} (SB3's names; the policy "
                         f"is boosted trees either way); got {policy!r}")
    return env


def _is_vector(env):
    from gymnasium.vector import VectorEnv

    return isinstance(env, VectorEnv) or _is_sb3_vec_env(env)


def _close_made(vec, env):
    """Close a vector env made from ``env``, unless its first sub-env is the user's instance."""
    import gymnasium as gym

    if not isinstance(env, gym.Env):
        vec.close()


def _linear_tail(remaining):
    return min(1.0, remaining / 0.5)


# Learning-rate scale as a function of the share of learn(total_timesteps) still to go.
_LR_SCHEDULES = {"constant": lambda remaining: 1.0,
                 "linear": lambda remaining: remaining,
                 "linear_tail": _linear_tail}


def lr_scale(schedule, remaining):
    """Scale of every learning rate when ``remaining`` (1 at the start of ``learn``, towards 0
    at its end) of the steps are still to go: "constant" 1, "linear" ``remaining`` (rl-zoo's
    ``lin_``), "linear_tail" 1 for the first half, then linear to 0; a callable is called
    with ``remaining`` (Stable-Baselines3's convention for schedules).

    Examples
    --------
    >>> [lr_scale("linear_tail", r) for r in (1.0, 0.5, 0.25, 0.125, 0.0)]
    [1.0, 1.0, 0.5, 0.25, 0.0]
    >>> lr_scale(lambda r: r ** 2, 0.5)
    0.25
    """
    scale = schedule(remaining) if callable(schedule) else _LR_SCHEDULES[schedule](remaining)
    scale = float(scale)
    if not np.isfinite(scale) or scale < 0:
        raise ValueError(f"lr_schedule gave {scale!r} at progress remaining {remaining}; it "
                         "must return a finite scale >= 0")
    return scale


class _OnPolicyAgent:
    """Rollouts, GAE, callbacks, logging, save/load; subclasses define ``_train(batch)``."""

    # Values of the parameters a subclass leaves at None, by action-space kind ("discrete":
    # Discrete and other non-Box spaces, "continuous": Box); see :meth:`_resolve`.
    _DEFAULTS = {"discrete": {}, "continuous": {}}

    def __init__(self, policy, env, *, n_envs, n_steps, gamma, gae_lambda, policy_lr,
                 value_lr, ent_coef, vf_coef, normalize_advantage, shared_tree, max_depth,
                 n_bins, grow_policy, split_score, grad_clip, log_std, log_std_init, one_hot,
                 max_trees, seed, verbose, tree_kwargs, tensorboard_log=None,
                 balance_heads=True, lr_schedule="constant", noise_correlation=0.0,
                 use_sde=False, sde_sample_freq=-1, log_std_lr=None):
        env = _policy_and_env(policy, env)
        self.env, self.env_id, self.action_kind = self._make_env(env, n_envs)
        if use_sde is None and noise_correlation is not None and noise_correlation != 0:
            use_sde = False   # asking for the AR(1) noise turns the default SDE noise off
        (n_envs, n_steps, gamma, gae_lambda, policy_lr, value_lr, ent_coef, log_std_init,
         lr_schedule, noise_correlation, use_sde, sde_sample_freq,
         log_std_lr) = self._resolve(
            n_envs=n_envs, n_steps=n_steps, gamma=gamma, gae_lambda=gae_lambda,
            policy_lr=policy_lr, value_lr=value_lr, ent_coef=ent_coef,
            log_std_init=log_std_init, lr_schedule=lr_schedule,
            noise_correlation=noise_correlation, use_sde=use_sde,
            sde_sample_freq=sde_sample_freq, log_std_lr=log_std_lr)
        if not isinstance(noise_correlation, numbers.Real) or not 0 <= noise_correlation < 1:
            raise ValueError("noise_correlation must be a float in [0, 1); got "
                             f"{noise_correlation!r}")
        if not isinstance(use_sde, (bool, np.bool_)):
            raise ValueError(f"use_sde must be True or False; got {use_sde!r}")
        if (not isinstance(sde_sample_freq, numbers.Integral) or isinstance(sde_sample_freq, bool)
                or not (sde_sample_freq == -1 or sde_sample_freq >= 1)):
            raise ValueError("sde_sample_freq must be -1 (new noise weights every rollout) or a "
                             f"positive int (every that many steps); got {sde_sample_freq!r}")
        if use_sde and noise_correlation > 0:
            raise ValueError(f"use_sde=True and noise_correlation={noise_correlation!r} are two "
                             "exploration noises; pass use_sde=False for the AR(1) noise, or "
                             "noise_correlation=0.0 for the state-dependent one")
        if log_std_lr is not None and (not isinstance(log_std_lr, numbers.Real)
                                       or not np.isfinite(log_std_lr) or log_std_lr < 0):
            raise ValueError(f"log_std_lr must be a non-negative float or None (policy_lr); "
                             f"got {log_std_lr!r}")
        self.use_sde = bool(use_sde)
        self.sde_sample_freq = int(sde_sample_freq)
        self._sde_noise = None
        self.noise_correlation = float(noise_correlation)
        self._noise = None
        _positive_int("n_envs", n_envs)
        _positive_int("n_steps", n_steps)
        _unit_interval("gamma", gamma)
        _unit_interval("gae_lambda", gae_lambda)
        for name, v in (("ent_coef", ent_coef), ("vf_coef", vf_coef)):
            if not isinstance(v, numbers.Real) or v < 0:
                raise ValueError(f"{name} must be a non-negative float; got {v!r}")
        if self.env.num_envs != n_envs and not _is_vector(env):
            _close_made(self.env, env)   # re-made with this action-space kind's n_envs
            self.env, self.env_id = make_vec_env(env, n_envs)
        self.n_steps = n_steps
        self.gamma = float(gamma)
        self.gae_lambda = float(gae_lambda)
        self.ent_coef = float(ent_coef)
        self.vf_coef = float(vf_coef)
        if normalize_advantage not in (True, False, "running"):
            raise ValueError("normalize_advantage must be True, False or 'running'; got "
                             f"{normalize_advantage!r}")
        self.normalize_advantage = (normalize_advantage if normalize_advantage == "running"
                                    else bool(normalize_advantage))
        self._adv_mean_square = None   # running mean square of the advantages ("running")
        self.seed = seed
        self.verbose = verbose
        self.tensorboard_log = tensorboard_log
        self.rng = np.random.default_rng(seed)
        self.n_envs = self.env.num_envs
        self.policy = ActorCriticTrees(
            self.env.single_observation_space, self.env.single_action_space,
            shared_tree=shared_tree, policy_lr=policy_lr, value_lr=value_lr, log_std=log_std,
            log_std_init=log_std_init, one_hot=one_hot, max_depth=max_depth, n_bins=n_bins,
            grow_policy=grow_policy, split_score=split_score, grad_clip=grad_clip,
            max_trees=max_trees, seed=seed, balance_heads=balance_heads,
            **({} if log_std_lr is None else {"log_std_lr": log_std_lr}), **(tree_kwargs or {}))
        if not (callable(lr_schedule) or isinstance(lr_schedule, str)
                and lr_schedule in _LR_SCHEDULES):
            raise ValueError(f"lr_schedule must be one of {sorted(_LR_SCHEDULES)} or a callable "
                             f"of the progress remaining; got {lr_schedule!r}")
        self.lr_schedule = lr_schedule
        self.num_timesteps = 0
        self.history_ = []
        self.logger = Logger()
        self._custom_logger = False
        self._runner = None
        self._last_obs = None
        self._env_seeded = False
        self._ep_return = np.zeros(self.n_envs)
        self._ep_len = np.zeros(self.n_envs, dtype=np.int64)
        self._recent_episodes = collections.deque(maxlen=100)

    def _make_env(self, env, n_envs):
        """The vector env (with ``n_envs`` copies, or the discrete default when None: a kind
        with another default re-makes it), its id and the action-space kind."""
        if n_envs is None:
            n_envs = self._DEFAULTS["discrete"].get("n_envs")
        _positive_int("n_envs", n_envs)
        vec, env_id = make_vec_env(env, n_envs)
        codec_kind = ActionCodec(vec.single_action_space).kind
        return vec, env_id, "continuous" if codec_kind == "continuous" else "discrete"

    def _resolve(self, **params):
        """The given values, with every None replaced by ``_DEFAULTS[action_kind]`` (None
        stays None, and fails validation, where the class has no default for it)."""
        table = self._DEFAULTS[self.action_kind]
        return tuple(table.get(k) if v is None else v for k, v in params.items())

    # ------------------------------------------------------------------ SB3 accessors
    @property
    def observation_space(self):
        """The (single) observation space."""
        return self.policy.observation_space

    @property
    def action_space(self):
        """The (single) action space."""
        return self.policy.action_space

    @property
    def ep_info_buffer(self):
        """The last 100 episodes as SB3 keeps them: ``{"r": return, "l": length}`` each."""
        return collections.deque(({"r": r, "l": n} for r, n in self._recent_episodes),
                                 maxlen=100)

    def get_env(self):
        """The vector environment the agent trains on (None after loading without one)."""
        return None if isinstance(self.env, _SpacesOnly) else self.env

    def get_vec_normalize_env(self):
        """None: observations are not normalised (trees split on raw values). For SB3 callers."""
        return None

    def set_env(self, env):
        """Train on another environment with the same spaces (id, Env, factory, VectorEnv)."""
        vec, env_id = make_vec_env(env, self.n_envs)
        if (vec.single_observation_space != self.observation_space
                or vec.single_action_space != self.action_space):
            raise ValueError("env has observation / action spaces "
                             f"{vec.single_observation_space} / {vec.single_action_space}; the "
                             f"agent was made for {self.observation_space} / {self.action_space}")
        self.env, self.env_id = vec, env_id
        self.n_envs = vec.num_envs
        self._runner = None
        self._last_obs = None
        self._env_seeded = False
        self._ep_return = np.zeros(self.n_envs)
        self._ep_len = np.zeros(self.n_envs, dtype=np.int64)

    def set_logger(self, logger):
        """Log to ``logger`` (ours, see :func:`boostkit.rl.logger.configure_logger`, or SB3's)."""
        self.logger = logger
        self._custom_logger = True

    # ------------------------------------------------------------------ rollouts
    def _reset(self):
        if self._runner is None:
            if isinstance(self.env, _SpacesOnly):
                raise ValueError("this agent was loaded without an environment; pass env= to "
                                 "load() or call set_env() before learn()")
            self._runner = VectorRunner(self.env)
        seed = None
        if not self._env_seeded:
            # sub-env i gets seed + i; without a seed, copies of one instance still differ
            seed = self.seed if self.seed is not None else int(self.rng.integers(2 ** 31))
            self._env_seeded = True
        self._last_obs = self._runner.reset(seed=seed)
        self._noise = None
        if self._sde_noise is not None:
            self._sde_noise.reset()
        self._ep_return[:] = 0.0
        self._ep_len[:] = 0

    def _explore(self, pi_out, X=None):
        """Sampled actions of a rollout step (``X``: its feature rows, one per sub-env).

        Box actions draw ``mean + std * e`` with ``e`` N(0, 1) at every step, so log pi is
        that Gaussian's whatever the noise process: independent by default; with
        ``noise_correlation`` rho > 0 an AR(1) process per sub-env, ``e_t = rho e_(t-1) +
        sqrt(1 - rho^2) z_t`` (a push persists for about ``1 / (1 - rho)`` steps); with
        ``use_sde`` a function of the state whose random weights are kept for a rollout or
        ``sde_sample_freq`` steps (:class:`boostkit.rl.distributions.StateDependentNoise`).
        """
        pol = self.policy
        rho = self.noise_correlation
        if pol.kind == "continuous" and self.use_sde:
            if self._sde_noise is None or self._sde_noise.sample_freq != self.sde_sample_freq:
                self._sde_noise = StateDependentNoise(self.sde_sample_freq)
            mean, log_std = pol.split_policy(pi_out)
            return mean + np.exp(log_std) * self._sde_noise.sample(X, mean.shape[1], self.rng)
        if pol.kind != "continuous" or rho == 0.0:
            return pol.act(pi_out, self.rng)
        mean, log_std = pol.split_policy(pi_out)
        z = self.rng.standard_normal(mean.shape)
        if self._noise is None or self._noise.shape != z.shape:
            self._noise = z
        else:
            self._noise = rho * self._noise + np.sqrt(1.0 - rho * rho) * z
        return mean + np.exp(log_std) * self._noise

    def _collect(self, callback, total_timesteps):
        """One rollout of ``n_steps`` vector steps; None when a callback stopped training."""
        pol = self.policy
        n, m = self.n_steps, self.n_envs
        d = pol.n_features
        obs_buf = np.empty((n, m, d))
        actions = np.empty((n, m) + pol.action_shape,
                           dtype=np.float64 if pol.kind == "continuous" else np.int64)
        logp = np.empty((n, m))
        values = np.empty((n, m))
        rewards = np.empty((n, m))
        dones = np.empty((n, m), dtype=bool)
        valid = np.empty((n, m), dtype=bool)
        finished = []
        if self._sde_noise is not None:
            self._sde_noise.new_rollout()
        for t in range(n):
            X = pol.features(self._last_obs)
            pi_out, v = pol.forward(X, use_cache=False)
            a = self._explore(pi_out, X)
            obs_buf[t] = X
            actions[t] = a
            logp[t] = pol.log_prob(pi_out, a)
            values[t] = v
            env_actions = pol.action_codec.to_env(a)
            step = self._runner.step(env_actions)
            r = step.reward.copy()
            real = step.valid
            self._ep_return[real] += r[real]
            self._ep_len[real] += 1
            boot = [i for i in step.final_obs if step.truncated[i] and not step.terminated[i]]
            if boot:
                # a truncated episode's value goes on: bootstrap from its final observation
                final = np.vstack([pol.features(step.final_obs[i]) for i in boot])
                _, v_final = pol.forward(final, use_cache=False)
                r[boot] += self.gamma * v_final
            done = step.done
            infos = [{} for _ in range(m)]
            for i in np.flatnonzero(done):
                finished.append((float(self._ep_return[i]), int(self._ep_len[i])))
                self._recent_episodes.append(finished[-1])
                infos[i]["episode"] = {"r": finished[-1][0], "l": finished[-1][1]}
                infos[i]["terminal_observation"] = step.final_obs.get(int(i))
                infos[i]["TimeLimit.truncated"] = bool(step.truncated[i] and not step.terminated[i])
                self._ep_return[i] = 0.0
                self._ep_len[i] = 0
            rewards[t] = r
            dones[t] = done
            valid[t] = real
            self._last_obs = step.obs
            self.num_timesteps += int(real.sum())
            callback.update_locals({"new_obs": step.obs, "rewards": step.reward, "dones": done,
                                    "infos": infos, "actions": env_actions,
                                    "total_timesteps": total_timesteps})
            if callback.on_step() is False:
                return None
        _, last_v = pol.forward(pol.features(self._last_obs), use_cache=False)
        adv = self._advantages(rewards, values, dones, last_v)
        keep = valid.reshape(-1)
        batch = {
            "X": obs_buf.reshape(n * m, d)[keep],
            "actions": actions.reshape((n * m,) + actions.shape[2:])[keep],
            "logp": logp.reshape(-1)[keep], "values": values.reshape(-1)[keep],
            "advantages": adv.reshape(-1)[keep], "returns": (adv + values).reshape(-1)[keep],
        }
        return batch, finished

    def _advantages(self, rewards, values, dones, last_v):
        """GAE(lambda) of a rollout (n_steps, n_envs); an ended episode does not look ahead,
        so the invalid reset step that follows it in NEXT_STEP mode never enters."""
        n, m = rewards.shape
        adv = np.zeros((n, m))
        gae = np.zeros(m)
        for t in range(n - 1, -1, -1):
            next_v = last_v if t == n - 1 else values[t + 1]
            nonterminal = 1.0 - dones[t]
            delta = rewards[t] + self.gamma * next_v * nonterminal - values[t]
            gae = delta + self.gamma * self.gae_lambda * nonterminal * gae
            adv[t] = gae
        return adv

    # ------------------------------------------------------------------ gradients
    def _policy_terms(self, pi_out, actions, weights):
        """Gradient of ``-weights * log pi(a) - ent_coef * H`` w.r.t. the policy outputs."""
        g, g_ls = self.policy.grad_log_prob(pi_out, actions)
        grad = -weights[:, None] * g
        ls = None if g_ls is None else -weights[:, None] * g_ls
        if self.ent_coef > 0:
            h, h_ls = self.policy.grad_entropy(pi_out)
            grad -= self.ent_coef * h
            if ls is not None:
                ls -= self.ent_coef * h_ls
        return grad, ls

    # Weight of the past in the running advantage scale, per rollout (memory ~100 rollouts).
    _ADV_SCALE_DECAY = 0.99

    def _track_advantage_scale(self, adv):
        """normalize_advantage="running": fold a rollout's advantages into the running mean
        square (an exponential average over rollouts, started at the first rollout's)."""
        if self.normalize_advantage != "running" or adv.shape[0] == 0:
            return
        ms = float(np.mean(adv ** 2))
        d = self._ADV_SCALE_DECAY
        self._adv_mean_square = (ms if self._adv_mean_square is None
                                 else d * self._adv_mean_square + (1.0 - d) * ms)

    def _normalized(self, adv):
        """Advantages as the policy loss uses them. True: standardised per batch (mean 0,
        std 1 whatever the batch holds). "running": centred per batch, divided by the running
        RMS of the rollouts' advantages, so a rollout holding only small TD errors moves the
        policy little instead of as far as one holding a failure."""
        if self.normalize_advantage == "running" and self._adv_mean_square is not None:
            centred = adv - adv.mean() if adv.shape[0] > 1 else adv
            return centred / (np.sqrt(self._adv_mean_square) + 1e-8)
        if self.normalize_advantage and adv.shape[0] > 1:
            return (adv - adv.mean()) / (adv.std() + 1e-8)
        return adv

    # ------------------------------------------------------------------ logging
    def _loss_terms(self, batch):
        """Loss terms on the rollout after the update (logged when the logger writes)."""
        pol = self.policy
        pi_out, v = pol.forward(batch["X"], use_cache=True)
        terms = {"train/value_loss": float(np.mean((v - batch["returns"]) ** 2)),
                 "train/entropy": float(np.mean(pol.entropy(pi_out)))}
        terms.update(self._policy_loss(batch, pi_out))
        return terms

    def _policy_loss(self, batch, pi_out):
        adv = self._normalized(batch["advantages"])
        return {"train/policy_loss":
                float(-np.mean(adv * self.policy.log_prob(pi_out, batch["actions"])))}

    def _start_logger(self, tb_log_name):
        if self._custom_logger or self.tensorboard_log is None:
            return
        root = Path(self.tensorboard_log)
        name = tb_log_name or type(self).__name__
        run = 1
        while (root / f"{name}_{run}").exists():
            run += 1
        self.logger = Logger(root / f"{name}_{run}", ["tensorboard", "csv"])

    def _log_iteration(self, batch, finished, start_steps, t_start, iteration, log_interval):
        elapsed = time.perf_counter() - t_start
        rets = [r for r, _ in self._recent_episodes]
        lens = [n for _, n in self._recent_episodes]
        rec = {
            "timesteps": self.num_timesteps,
            "trees": self.policy.n_trees,
            "ep_return_mean": float(np.mean(rets)) if rets else float("nan"),
            "episodes": len(finished),
            "steps_per_s": (self.num_timesteps - start_steps) / max(elapsed, 1e-9),
            "time_s": elapsed,
        }
        self.history_.append(rec)
        log = self.logger
        if rets:  # as SB3: nothing before the first episode ends
            log.record("rollout/ep_rew_mean", rec["ep_return_mean"])
            log.record("rollout/ep_len_mean", float(np.mean(lens)))
        log.record("time/total_timesteps", self.num_timesteps)
        log.record("time/fps", rec["steps_per_s"])
        log.record("time/iterations", iteration)
        log.record("train/n_trees", rec["trees"])
        if getattr(log, "writes", True) and batch["X"].shape[0]:
            for key, value in self._loss_terms(batch).items():
                log.record(key, value)
        if iteration % log_interval == 0:
            log.dump(step=self.num_timesteps)
        return rec

    # ------------------------------------------------------------------ public API
    def learn(self, total_timesteps, callback=None, log_interval=1, tb_log_name=None,
              reset_num_timesteps=True, progress_bar=False):
        """Train for ``total_timesteps`` environment steps (summed over the vector envs).

        Parameters
        ----------
        total_timesteps : int
            Environment transitions to collect (a NEXT_STEP vector env's reset steps, which
            are not transitions, do not count).
        callback : BaseCallback, list, or callable, optional
            A :class:`boostkit.rl.callbacks.BaseCallback` (or Stable-Baselines3's), a list of
            them, or ``f(agent)`` called after every iteration; False from either stops.
        log_interval : int, default=1
            Dump the logger every ``log_interval`` iterations (rollout + trees).
        tb_log_name : str, optional
            Run name under ``tensorboard_log`` (default: the class name); runs are numbered.
        reset_num_timesteps : bool, default=True
            Start counting (and the environments) afresh, as SB3; False continues the previous
            call's count and episodes.
        progress_bar : bool, default=False
            Show a tqdm bar (also shown with ``verbose >= 1``).

        Returns
        -------
        self
        """
        _positive_int("total_timesteps", total_timesteps)
        _positive_int("log_interval", log_interval)
        if reset_num_timesteps:
            self.num_timesteps = 0
            self._last_obs = None
            self._recent_episodes.clear()
        if self._last_obs is None:
            self._reset()
        self._start_logger(tb_log_name)
        cb = as_callback(callback)
        cb.init_callback(self)
        after_iteration = function_callbacks(cb)
        bar = None
        if self.verbose or progress_bar:
            from tqdm.auto import tqdm

            bar = tqdm(total=total_timesteps, desc=type(self).__name__, unit="step")
        start_steps = self.num_timesteps
        target = start_steps + total_timesteps
        t_start = time.perf_counter()
        iteration = 0
        cb.on_training_start(locals(), globals())
        try:
            while self.num_timesteps < target:
                cb.on_rollout_start()
                collected = self._collect(cb, total_timesteps)
                if collected is None:
                    break
                batch, finished = collected
                cb.on_rollout_end()
                if batch["X"].shape[0]:
                    if self.lr_schedule != "constant":
                        done = self.num_timesteps - batch["X"].shape[0] - start_steps
                        remaining = max(0.0, 1.0 - done / total_timesteps)
                        self.policy.set_lr_scale(lr_scale(self.lr_schedule, remaining))
                    self._track_advantage_scale(batch["advantages"])
                    self._train(batch)
                iteration += 1
                rec = self._log_iteration(batch, finished, start_steps, t_start, iteration,
                                          log_interval)
                if bar is not None:
                    bar.update(min(self.num_timesteps - start_steps, bar.total) - bar.n)
                    bar.set_postfix(ret=f"{rec['ep_return_mean']:.1f}", trees=rec["trees"],
                                    sps=f"{rec['steps_per_s']:.0f}")
                    if self.verbose >= 2:
                        bar.write(f"steps {rec['timesteps']:>8d}  return {rec['ep_return_mean']:8.2f}"
                                  f"  trees {rec['trees']:>6d}  steps/s {rec['steps_per_s']:7.0f}")
                if not all([f.after_iteration() for f in after_iteration]):
                    break
        finally:
            if bar is not None:
                bar.close()
        cb.on_training_end()
        return self

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        """Actions for one observation or a batch, as Stable-Baselines3's ``predict``.

        Parameters
        ----------
        observation : array-like, dict or tuple
            One observation of the observation space, or a batch (leading axis).
        state, episode_start :
            Accepted for SB3 callers (tree policies are not recurrent); ``state`` is returned.
        deterministic : bool, default=False
            The policy's mode (argmax / mean) instead of a sample.

        Returns
        -------
        (action, state)
            Environment actions (Discrete: with the space's ``start``; Box: clipped to the
            bounds); one action for one observation.
        """
        single = self.policy.obs_encoder.is_single(observation)
        acts = self.policy.predict_actions(observation, self.rng, deterministic)
        return (acts[0] if single else acts), state

    def __getstate__(self):
        state = self.__dict__.copy()
        state["env"] = _SpacesOnly(self.observation_space, self.action_space, self.n_envs)
        state["_runner"] = None
        state["_last_obs"] = None
        state["_env_seeded"] = False
        state["logger"] = Logger()
        state["_custom_logger"] = False
        return state

    def save(self, path):
        """Save the agent to a zip file, with Stable-Baselines3's conventions.

        Parameters
        ----------
        path : str, path-like or binary file object
            Where to write. As in SB3, ".zip" is appended to a path without a suffix, and
            missing parent folders are made.

        Returns
        -------
        pathlib.Path or the file object
            What was written to.

        Notes
        -----
        The zip is boostkit's own (SB3 cannot load it, nor boostkit SB3's): ``data.json``
        (class, versions, parameters, spaces, ``num_timesteps``: readable without boostkit),
        ``policy.npz`` (every tree head as NumPy arrays, see
        :meth:`BoostedTrees.to_arrays`, and the free log-std) and ``agent.pkl`` (the pickled
        agent without its environment: trees, RNG state, history), which :meth:`load` reads.
        Load only files you trust: unpickling runs code.
        """
        target = path
        if not hasattr(path, "write"):
            target = Path(path)
            if target.suffix == "":
                target = target.with_name(target.name + ".zip")
            target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("data.json", json.dumps(self._save_description(), indent=2))
            zf.writestr("policy.npz", self._policy_arrays())
            zf.writestr("agent.pkl", pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))
        return target

    def _save_description(self):
        from boostkit import __version__

        def plain(obj):
            return {k: v for k, v in vars(obj).items() if not k.startswith("_")
                    and isinstance(v, (bool, int, float, str, type(None)))}

        pol = self.policy
        return {"format": "boostkit.rl agent", "format_version": _SAVE_FORMAT_VERSION,
                "class": type(self).__name__, "boostkit_version": __version__,
                "num_timesteps": int(self.num_timesteps), "n_trees": int(pol.n_trees),
                "env_id": self.env_id if isinstance(self.env_id, str) else None,
                "observation_space": repr(self.observation_space),
                "action_space": repr(self.action_space),
                "parameters": plain(self), "policy": plain(pol), "trees": plain(pol.trees)}

    def _policy_arrays(self):
        pol = self.policy
        arrays = {f"trees/{k}": v for k, v in pol.trees.to_arrays().items()}
        if pol.value_trees is not None:
            arrays.update({f"value_trees/{k}": v
                           for k, v in pol.value_trees.to_arrays().items()})
        if pol.log_std is not None:
            arrays["log_std"] = pol.log_std
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def load(cls, path, env=None, device="auto", custom_objects=None, print_system_info=False,
             force_reset=True, **kwargs):
        """Load an agent written by :meth:`save`, with Stable-Baselines3's conventions.

        Parameters
        ----------
        path : str, path-like or binary file object
            As in SB3, ``path + ".zip"`` is tried when ``path`` does not exist. Files written
            by earlier boostkit versions (a plain pickle) load too.
        env : str, gymnasium.Env, callable, VectorEnv or SB3 VecEnv, optional
            Environment to continue training on (same spaces). Without it, the env id the
            agent was trained on is re-made when there is one; otherwise set one with
            :meth:`set_env` before :meth:`learn`.
        device, custom_objects, print_system_info, force_reset :
            SB3's options, accepted so SB3 code runs; they do not apply to tree agents.
        **kwargs
            Attributes to change on the loaded agent, as SB3 does, e.g. ``ent_coef=0.01``,
            ``verbose=1`` or ``n_envs=4`` (with an env id).

        Returns
        -------
        agent
        """
        payload = cls._read_saved(path)
        if payload.get("class") != cls.__name__:
            raise ValueError(f"{path} holds a {payload.get('class')}, not a {cls.__name__}; "
                             f"use {payload.get('class')}.load")
        agent = payload["agent"]
        settable = sorted(k for k, v in vars(agent).items() if not k.startswith("_")
                          and isinstance(v, (bool, numbers.Real, str, type(None))))
        unknown = sorted(set(kwargs) - set(settable))
        if unknown:
            raise ValueError(f"load() got unknown keyword(s) {unknown}; it sets attributes "
                             f"of the loaded {cls.__name__}: {settable}")
        for name, value in kwargs.items():
            setattr(agent, name, value)
        target = env if env is not None else agent.env_id
        if target is not None:
            agent.set_env(target)
        return agent

    @staticmethod
    def _read_saved(path):
        source = path
        if not hasattr(path, "read"):
            source = Path(path)
            if not source.exists() and Path(f"{source}.zip").exists():
                source = Path(f"{source}.zip")
            if not source.exists():
                raise FileNotFoundError(f"no saved agent at {path} (nor {path}.zip)")
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as zf:
                names = zf.namelist()
                if "agent.pkl" not in names:
                    raise ValueError(f"{path} is a zip file but not a saved boostkit agent "
                                     f"(it holds {names[:5]}; SB3's own zips cannot be "
                                     "loaded into tree agents)")
                description = json.loads(zf.read("data.json"))
                if description.get("format_version", 0) > _SAVE_FORMAT_VERSION:
                    raise ValueError(f"{path} was written by a newer boostkit "
                                     f"({description.get('boostkit_version')}); upgrade")
                return {"class": description["class"],
                        "agent": pickle.loads(zf.read("agent.pkl"))}
        if hasattr(source, "seek"):
            source.seek(0)
            return pickle.load(source)
        with open(source, "rb") as fh:   # the plain pickle of boostkit <= 0.1
            return pickle.load(fh)


_SAVE_FORMAT_VERSION = 1


class _SpacesOnly:
    """Stand-in for an environment when only predicting."""

    def __init__(self, observation_space, action_space, num_envs):
        self.single_observation_space = observation_space
        self.single_action_space = action_space
        self.num_envs = num_envs


_COMMON_DOC = """
    policy : {"MlpPolicy", "MultiInputPolicy"} or env, optional
        Stable-Baselines3's first argument (the policy is boosted trees either way); or the
        environment itself, as in ``PPO("CartPole-v1")``.
    env : str, gymnasium.Env, callable, gymnasium.vector.VectorEnv or SB3 VecEnv
        An environment id (made as a sync vector env of ``n_envs`` copies), an environment
        instance (deep-copied for ``n_envs > 1``: wrappers and unregistered envs work), a
        factory returning a new environment, a vector env in any autoreset mode, or a
        Stable-Baselines3 ``VecEnv`` (``n_envs`` is then the vector env's). See
        :mod:`boostkit.rl.spaces` for the observation and action spaces supported.
    n_envs : int
        Parallel environments.
    n_steps : int
        Steps per environment per rollout.
    gamma, gae_lambda : float
        Discount and GAE lambda.
    policy_lr, value_lr : float or callable
        Learning rates of the policy and value heads (callables of the tree index).
    ent_coef, vf_coef : float
        Entropy bonus and value-loss weight.
    normalize_advantage : bool or "running"
        True: standardise advantages per minibatch. "running": centre them per minibatch and
        divide by the running RMS of the rollouts' advantages (exponential average, about the
        last 100 rollouts), so the step follows the size of the advantages (A2C's default).
    shared_tree : bool
        One tree per update for policy and value, or separate trees.
    max_depth, n_bins, grow_policy, split_score, grad_clip, max_trees :
        Tree parameters, see :class:`boostkit.rl.BoostedTrees`.
    log_std, log_std_init :
        Gaussian policies: free log-std or a tree head, and its initial value.
    lr_schedule : {"constant", "linear", "linear_tail"} or callable
        Scale of every learning rate over ``learn(total_timesteps)``: "linear" by the share of
        the steps still to go (1 on the first rollout, towards 0 on the last), as rl-zoo's
        ``lin_`` schedules; "linear_tail" 1 for the first half of the steps, then linear to 0
        (A2C's default); a callable gets that share (1 -> 0) and returns the scale, as
        Stable-Baselines3's schedules.
    balance_heads : bool
        Shared tree: weight the value gradient to the policy gradient's RMS in the split
        search, so the value error does not choose every split (see :class:`ActorCriticTrees`).
    noise_correlation : float in [0, 1)
        Box actions: correlation rho of the exploration noise between consecutive steps of a
        sub-env (AR(1), N(0, 1) at every step, so log-probabilities are those of the same
        Gaussian). 0 is independent noise; near 1 a push lasts about ``1 / (1 - rho)`` steps,
        which finds sparse goals that independent noise averages away. PPO's Box default is
        0 (it explores with ``use_sde`` instead, which learns both Pendulum and
        MountainCarContinuous; see docs/rl.md, "Continuous actions").
    one_hot : bool
        One-hot encode categorical (Discrete / MultiDiscrete) observations instead of using
        "equals" splits on them.
    seed : int, optional
        Seeds environments (``reset(seed=...)``) and action sampling: runs are reproducible.
    verbose : int
        0 silent, 1 progress bar, 2 also a log line per iteration.
    tree_kwargs : dict, optional
        Further :class:`BoostedTrees` parameters (``candidates``, ``min_samples_leaf``).
    tensorboard_log : str or path-like, optional
        Folder for TensorBoard scalars and ``progress.csv`` (a numbered run per ``learn``); or
        call :meth:`set_logger`.

    Attributes
    ----------
    policy : ActorCriticTrees
    num_timesteps : int
    history_ : list of dict
        Per iteration: timesteps, trees, ep_return_mean (last 100 episodes), steps_per_s.
    logger : boostkit.rl.logger.Logger
        See :mod:`boostkit.rl.logger` for the keys recorded.
"""


class PPO(_OnPolicyAgent):
    __doc__ = """Proximal policy optimisation with boosted-tree policy and value (GBRL).

    Every minibatch of every epoch grows ONE tree (shared by policy and value by default).

    Parameters left at None take a default that depends on the action space (``PPO._DEFAULTS``;
    docs/rl.md, "Continuous actions", says why):

    ==================  ===================  ====================================
    parameter           Discrete (and other)  Box (continuous)
    ==================  ===================  ====================================
    n_envs x n_steps    8 x 128               8 x 128
    batch_size          256                   64
    n_epochs            4                     4
    gamma, gae_lambda   0.99, 0.95            0.99, 0.95
    policy_lr, value_lr 0.058, 0.03           0.029, 0.015
    lr_schedule         "constant"            "linear"
    noise_correlation   0 (unused)            0
    use_sde             False (unused)        True (state-dependent noise)
    sde_sample_freq     -1 (unused)           -1 (new weights each rollout)
    log_std_lr          policy_lr (unused)    0.001
    ==================  ===================  ====================================

    Parameters
    ----------
    batch_size : int
        Minibatch size (one tree each).
    n_epochs : int
        Passes over each rollout.
    clip_range : float
        PPO ratio clip.
    use_sde : bool
        Box actions: explore with state-dependent noise (as Stable-Baselines3's gSDE, on the
        observation features instead of a network's latent ones). Each sub-env holds random
        weights ``W``; the noise of a state ``x`` is ``u(x) @ W`` with ``u(x)`` the running-
        standardised features plus a constant, scaled to unit norm, so every step is still
        N(mean, std^2) and log-probabilities are unchanged
        (:class:`boostkit.rl.distributions.StateDependentNoise`). While ``W`` is kept the
        noise is a perturbed policy ("push with the velocity"), not pushes that average out.
        Passing ``noise_correlation > 0`` turns it off (the two are exclusive).
    sde_sample_freq : int
        With ``use_sde``: new weights every that many steps, or -1 for every rollout.
    log_std_lr : float, optional
        Step size of the free log-std (Box actions with ``log_std="free"``); None uses
        ``policy_lr``. The lr schedule scales it too. docs/rl.md, "Continuous actions", says
        why the Box default is about 30x smaller than ``policy_lr``.
""" + _COMMON_DOC + """
    Examples
    --------
    >>> from boostkit.rl import PPO, evaluate_policy
    >>> agent = PPO("CartPole-v1", n_envs=4, n_steps=32, seed=0).learn(256)
    >>> agent.policy.n_trees    # 2 rollouts of 128 rows: one minibatch each, 4 epochs
    8
    >>> actions, _ = agent.predict(agent.env.reset(seed=0)[0], deterministic=True)
    >>> actions.shape
    (4,)
"""

    # The parameters left at None (docs/rl.md, "Defaults by action space" explains each).
    _DEFAULTS = {
        "discrete": dict(n_envs=8, n_steps=128, batch_size=256, n_epochs=4, gamma=0.99,
                         gae_lambda=0.95, policy_lr=0.058, value_lr=0.03, ent_coef=0.0,
                         log_std_init=0.0, lr_schedule="constant", noise_correlation=0.0,
                         use_sde=False, sde_sample_freq=-1),
        "continuous": dict(n_envs=8, n_steps=128, batch_size=64, n_epochs=4, gamma=0.99,
                           gae_lambda=0.95, policy_lr=0.029, value_lr=0.015, ent_coef=0.0,
                           log_std_init=0.0, lr_schedule="linear", noise_correlation=0.0,
                           use_sde=True, sde_sample_freq=-1, log_std_lr=0.001),
    }

    def __init__(self, policy=None, env=None, *, n_envs=None, n_steps=None, batch_size=None,
                 n_epochs=None, gamma=None, gae_lambda=None, policy_lr=None, value_lr=None,
                 clip_range=0.2, ent_coef=None, vf_coef=1.0, normalize_advantage=True,
                 shared_tree=True, max_depth=4, n_bins=250, grow_policy="oblivious",
                 split_score="cosine", grad_clip=None, log_std="free", log_std_init=None,
                 one_hot=False, max_trees=None, seed=None, verbose=0, tree_kwargs=None,
                 tensorboard_log=None, balance_heads=True, lr_schedule=None,
                 noise_correlation=None, use_sde=None, sde_sample_freq=None,
                 log_std_lr=None):
        if not isinstance(clip_range, numbers.Real) or clip_range <= 0:
            raise ValueError(f"clip_range must be a positive float; got {clip_range!r}")
        self.clip_range = float(clip_range)
        super().__init__(policy, env, n_envs=n_envs, n_steps=n_steps, gamma=gamma,
                         gae_lambda=gae_lambda, policy_lr=policy_lr, value_lr=value_lr,
                         ent_coef=ent_coef, vf_coef=vf_coef,
                         normalize_advantage=normalize_advantage, shared_tree=shared_tree,
                         max_depth=max_depth, n_bins=n_bins, grow_policy=grow_policy,
                         split_score=split_score, grad_clip=grad_clip, log_std=log_std,
                         log_std_init=log_std_init, one_hot=one_hot, max_trees=max_trees,
                         seed=seed, verbose=verbose, tree_kwargs=tree_kwargs,
                         tensorboard_log=tensorboard_log,
                         balance_heads=balance_heads, lr_schedule=lr_schedule,
                         noise_correlation=noise_correlation, use_sde=use_sde,
                         sde_sample_freq=sde_sample_freq, log_std_lr=log_std_lr)
        self.batch_size, self.n_epochs = self._resolve(batch_size=batch_size, n_epochs=n_epochs)
        _positive_int("batch_size", self.batch_size)
        _positive_int("n_epochs", self.n_epochs)

    def _train(self, batch):
        pol = self.policy
        X = batch["X"]
        N = X.shape[0]
        eps = self.clip_range
        for _ in range(self.n_epochs):
            perm = self.rng.permutation(N)
            for s in range(0, N, self.batch_size):
                idx = np.sort(perm[s:s + self.batch_size])
                pi_all, v_all = pol.forward(X, use_cache=True)
                pi_out, v = pi_all[idx], v_all[idx]
                a = batch["actions"][idx]
                adv = self._normalized(batch["advantages"][idx])
                ratio = np.exp(pol.log_prob(pi_out, a) - batch["logp"][idx])
                clipped = ((adv >= 0) & (ratio > 1 + eps)) | ((adv < 0) & (ratio < 1 - eps))
                w = np.where(clipped, 0.0, adv * ratio)
                g_pi, g_ls = self._policy_terms(pi_out, a, w)
                g_v = self.vf_coef * (v - batch["returns"][idx])
                pol.update(X[idx], g_pi, g_v, g_ls)

    def _policy_loss(self, batch, pi_out):
        adv = self._normalized(batch["advantages"])
        log_ratio = self.policy.log_prob(pi_out, batch["actions"]) - batch["logp"]
        ratio = np.exp(log_ratio)
        eps = self.clip_range
        surrogate = np.minimum(ratio * adv, np.clip(ratio, 1 - eps, 1 + eps) * adv)
        return {"train/policy_loss": float(-np.mean(surrogate)),
                "train/approx_kl": float(np.mean((ratio - 1) - log_ratio)),
                "train/clip_fraction": float(np.mean(np.abs(ratio - 1) > eps))}


class A2C(_OnPolicyAgent):
    __doc__ = """Advantage actor-critic with boosted trees: one tree per rollout.

    Defaults (8 envs x 8 steps, lr 0.2 / 0.07) take 7x PPO's step per row, so two things keep
    them stable (docs/rl.md, "Defaults, and why they learn on every seed"):
    ``normalize_advantage="running"`` sizes each step by the advantages against their running
    RMS (a rollout of small TD errors moves the policy little), and
    ``lr_schedule="linear_tail"`` decays the rates to 0 over the second half of ``learn``, so
    the final policy is not one noisy iterate. CartPole-v1, 200k steps: seeds 0-9 solved.
""" + _COMMON_DOC + """
    Examples
    --------
    >>> from boostkit.rl import A2C
    >>> A2C("CartPole-v1", seed=0).learn(256).policy.n_trees
    4
"""

    def __init__(self, policy=None, env=None, *, n_envs=8, n_steps=8, gamma=0.99, gae_lambda=0.95,
                 policy_lr=0.2, value_lr=0.07, ent_coef=0.0, vf_coef=1.0,
                 normalize_advantage="running", shared_tree=True, max_depth=4, n_bins=250,
                 grow_policy="oblivious", split_score="cosine", grad_clip=None, log_std="free",
                 log_std_init=0.0, one_hot=False, max_trees=None, seed=None, verbose=0,
                 tree_kwargs=None, tensorboard_log=None, balance_heads=True,
                 lr_schedule="linear_tail"):
        super().__init__(policy, env, n_envs=n_envs, n_steps=n_steps, gamma=gamma,
                         gae_lambda=gae_lambda, policy_lr=policy_lr, value_lr=value_lr,
                         ent_coef=ent_coef, vf_coef=vf_coef,
                         normalize_advantage=normalize_advantage, shared_tree=shared_tree,
                         max_depth=max_depth, n_bins=n_bins, grow_policy=grow_policy,
                         split_score=split_score, grad_clip=grad_clip, log_std=log_std,
                         log_std_init=log_std_init, one_hot=one_hot, max_trees=max_trees,
                         seed=seed, verbose=verbose, tree_kwargs=tree_kwargs,
                         tensorboard_log=tensorboard_log,
                         balance_heads=balance_heads, lr_schedule=lr_schedule)

    def _train(self, batch):
        pol = self.policy
        X = batch["X"]
        pi_out, v = pol.forward(X, use_cache=False)
        adv = self._normalized(batch["advantages"])
        g_pi, g_ls = self._policy_terms(pi_out, batch["actions"], adv)
        g_v = self.vf_coef * (v - batch["returns"])
        pol.update(X, g_pi, g_v, g_ls)


class AWR(_OnPolicyAgent):
    __doc__ = """Advantage-weighted regression with boosted trees (on-policy variant).

    Each rollout is reused for ``n_epochs`` passes of minibatches; the policy regresses on its
    own actions with weights ``min(exp(A / beta), max_weight)``.

    Parameters
    ----------
    batch_size, n_epochs : int
        Minibatch size (one tree each) and passes per rollout.
    beta : float
        Temperature of the advantage weights.
    max_weight : float
        Cap on the weights.
""" + _COMMON_DOC + """
    Examples
    --------
    >>> from boostkit.rl import AWR
    >>> AWR("CartPole-v1", n_envs=4, n_steps=32, batch_size=64, seed=0).learn(128).policy.n_trees
    4
"""

    def __init__(self, policy=None, env=None, *, n_envs=8, n_steps=128, batch_size=256, n_epochs=2, beta=1.0,
                 max_weight=20.0, gamma=0.99, gae_lambda=0.95, policy_lr=0.05, value_lr=0.03,
                 ent_coef=0.0, vf_coef=1.0, normalize_advantage=True, shared_tree=True,
                 max_depth=4, n_bins=250, grow_policy="oblivious", split_score="cosine",
                 grad_clip=None, log_std="free", log_std_init=0.0, one_hot=False,
                 max_trees=None, seed=None, verbose=0, tree_kwargs=None,
                 tensorboard_log=None, balance_heads=True,
                 lr_schedule="linear"):
        _positive_int("batch_size", batch_size)
        _positive_int("n_epochs", n_epochs)
        for name, v in (("beta", beta), ("max_weight", max_weight)):
            if not isinstance(v, numbers.Real) or v <= 0:
                raise ValueError(f"{name} must be a positive float; got {v!r}")
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.beta = float(beta)
        self.max_weight = float(max_weight)
        super().__init__(policy, env, n_envs=n_envs, n_steps=n_steps, gamma=gamma,
                         gae_lambda=gae_lambda, policy_lr=policy_lr, value_lr=value_lr,
                         ent_coef=ent_coef, vf_coef=vf_coef,
                         normalize_advantage=normalize_advantage, shared_tree=shared_tree,
                         max_depth=max_depth, n_bins=n_bins, grow_policy=grow_policy,
                         split_score=split_score, grad_clip=grad_clip, log_std=log_std,
                         log_std_init=log_std_init, one_hot=one_hot, max_trees=max_trees,
                         seed=seed, verbose=verbose, tree_kwargs=tree_kwargs,
                         tensorboard_log=tensorboard_log,
                         balance_heads=balance_heads, lr_schedule=lr_schedule)

    def _train(self, batch):
        pol = self.policy
        X = batch["X"]
        N = X.shape[0]
        for _ in range(self.n_epochs):
            perm = self.rng.permutation(N)
            for s in range(0, N, self.batch_size):
                idx = np.sort(perm[s:s + self.batch_size])
                pi_all, v_all = pol.forward(X, use_cache=True)
                pi_out, v = pi_all[idx], v_all[idx]
                adv = self._normalized(batch["advantages"][idx])
                w = np.minimum(np.exp(np.minimum(adv / self.beta, 50.0)), self.max_weight)
                g_pi, g_ls = self._policy_terms(pi_out, batch["actions"][idx], w)
                g_v = self.vf_coef * (v - batch["returns"][idx])
                pol.update(X[idx], g_pi, g_v, g_ls)

    def _policy_loss(self, batch, pi_out):
        adv = self._normalized(batch["advantages"])
        w = np.minimum(np.exp(np.minimum(adv / self.beta, 50.0)), self.max_weight)
        return {"train/policy_loss":
                float(-np.mean(w * self.policy.log_prob(pi_out, batch["actions"])))}


def _action_of(agent, obs, deterministic):
    out = agent.predict(obs, deterministic=deterministic)
    return out[0] if isinstance(out, tuple) else out


def evaluate_policy(agent, env, n_eval_episodes=None, deterministic=True, seed=None, *,
                    n_episodes=None, return_episode_rewards=False):
    """Mean and standard deviation of the episode return over ``n_eval_episodes`` episodes.

    Parameters
    ----------
    agent : PPO, A2C, AWR or any object with ``predict(obs, deterministic=...)``
        returning an action or SB3's ``(action, state)``.
    env : str, gymnasium.Env, gymnasium.vector.VectorEnv or SB3 VecEnv
        Environment id, a single environment, or a vector env (any autoreset mode; its
        sub-envs share the episodes as in SB3, ``(n_eval_episodes + i) // n_envs`` for
        sub-env ``i``, so short episodes are not over-counted).
    n_eval_episodes : int, default=20
        Episodes (SB3's name; ``n_episodes`` is the same, kept for existing code).
    deterministic : bool, default=True
        Greedy actions (mode of the policy) or sampled ones.
    seed : int, optional
        Seed of the first reset (single env: episode ``i`` uses ``seed + i``; vector env:
        sub-env ``i`` uses ``seed + i``).
    return_episode_rewards : bool, default=False
        Return the lists of episode returns and lengths instead (as SB3).

    Returns
    -------
    (mean, std) : tuple of float, or (returns, lengths) : lists

    Examples
    --------
    >>> import gymnasium as gym
    >>> from boostkit.rl import PPO, evaluate_policy
    >>> agent = PPO("CartPole-v1", n_envs=2, n_steps=16, seed=0)
    >>> mean, std = evaluate_policy(agent, "CartPole-v1", n_eval_episodes=2, seed=0)
    >>> mean > 0
    True
    >>> vec = gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="sync")
    >>> returns, lengths = evaluate_policy(agent, vec, 4, seed=0, return_episode_rewards=True)
    >>> len(returns), returns == [float(n) for n in lengths]
    (4, True)
    """
    import gymnasium as gym
    from gymnasium.vector import VectorEnv

    if n_episodes is not None:
        if n_eval_episodes is not None:
            raise ValueError("pass n_eval_episodes or n_episodes (the same), not both; got "
                             f"{n_eval_episodes} and {n_episodes}")
        n_eval_episodes = n_episodes
    if n_eval_episodes is None:
        n_eval_episodes = 20
    _positive_int("n_eval_episodes", n_eval_episodes)
    if _is_sb3_vec_env(env):
        env = SB3VecEnvAdapter(env)
    if isinstance(env, (VectorEnv, SB3VecEnvAdapter)):
        returns, lengths = _evaluate_vector(agent, env, n_eval_episodes, deterministic, seed)
    else:
        own = isinstance(env, str)
        if own:
            env = gym.make(env)
        elif not isinstance(env, gym.Env):
            raise ValueError("env must be an env id, a gymnasium.Env or a gymnasium VectorEnv; "
                             f"got {env!r}")
        returns, lengths = [], []
        try:
            for ep in range(n_eval_episodes):
                obs, _ = env.reset(seed=None if seed is None else seed + ep)
                total, steps, done = 0.0, 0, False
                while not done:
                    obs, r, term, trunc, _ = env.step(_action_of(agent, obs, deterministic))
                    total += float(r)
                    steps += 1
                    done = term or trunc
                returns.append(total)
                lengths.append(steps)
        finally:
            if own:
                env.close()
    if return_episode_rewards:
        return returns, lengths
    return float(np.mean(returns)), float(np.std(returns))


def _evaluate_vector(agent, env, n_episodes, deterministic, seed):
    runner = VectorRunner(env)
    m = env.num_envs
    targets = np.array([(n_episodes + i) // m for i in range(m)])
    counts = np.zeros(m, dtype=np.int64)
    totals = np.zeros(m)
    steps = np.zeros(m, dtype=np.int64)
    returns, lengths = [], []
    obs = runner.reset(seed=seed)
    while np.any(counts < targets):
        step = runner.step(_action_of(agent, obs, deterministic))
        totals[step.valid] += step.reward[step.valid]
        steps[step.valid] += 1
        for i in np.flatnonzero(step.done):
            if counts[i] < targets[i]:
                returns.append(float(totals[i]))
                lengths.append(int(steps[i]))
                counts[i] += 1
            totals[i] = 0.0
            steps[i] = 0
        obs = step.obs
    return returns, lengths
