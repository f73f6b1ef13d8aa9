"""On-policy actor-critic algorithms on boosted trees: PPO, A2C and AWR.

Each update computes the gradient of the algorithm's loss with respect to the model OUTPUTS
(logits or Gaussian parameters, and the value) analytically, and fits one tree to it.

Per row, with advantage ``A``, ratio ``r = pi(a) / pi_old(a)``, return ``R``, value ``V``:

* PPO:  ``-min(r A, clip(r, 1 - eps, 1 + eps) A) - ent_coef H + 0.5 vf_coef (V - R)^2``;
  gradient ``-A r dlogpi`` where the clip is inactive, else 0.
* A2C:  ``-A log pi(a) - ent_coef H + 0.5 vf_coef (V - R)^2``.
* AWR:  ``-min(exp(A / beta), max_weight) log pi(a) - ent_coef H + 0.5 vf_coef (V - R)^2``.

Rollouts run on a gymnasium vector environment in same-step autoreset mode; advantages are
GAE(lambda); a truncated episode bootstraps from the value of its final observation.
"""

from __future__ import annotations

import numbers
import pickle
import time
from pathlib import Path

import numpy as np

from boostkit.rl.policy import ActorCriticTrees

__all__ = ["PPO", "A2C", "AWR", "evaluate_policy"]


def _make_vec_env(env, n_envs):
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode, VectorEnv

    kwargs = {"autoreset_mode": AutoresetMode.SAME_STEP}
    if isinstance(env, str):
        try:
            return gym.make_vec(env, num_envs=n_envs, vectorization_mode="sync",
                                vector_kwargs=kwargs), env
        except gym.error.Error as exc:
            raise ValueError(f"env {env!r} could not be made: {exc}") from exc
    if isinstance(env, VectorEnv):
        mode = getattr(env, "autoreset_mode", env.metadata.get("autoreset_mode"))
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError("a vector env must use autoreset_mode=AutoresetMode.SAME_STEP "
                             f"(got {mode}); or pass an env id / gymnasium.Env instead")
        return env, None
    if isinstance(env, gym.Env):
        if n_envs == 1:
            return gym.vector.SyncVectorEnv([lambda: env], **kwargs), None
        if env.spec is None:
            raise ValueError("n_envs > 1 needs an env id or an env with a spec to copy; "
                             f"got {env!r}")
        spec = env.spec
        return gym.vector.SyncVectorEnv([lambda: gym.make(spec) for _ in range(n_envs)],
                                        **kwargs), spec.id
    raise ValueError(f"env must be a gymnasium env id, gymnasium.Env or VectorEnv; got {env!r}")


def _positive_int(name, v):
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name} must be a positive int; got {v!r}")


def _unit_interval(name, v):
    if not isinstance(v, numbers.Real) or not 0 <= v <= 1:
        raise ValueError(f"{name} must be a float in [0, 1]; got {v!r}")


class _OnPolicyAgent:
    """Rollouts, GAE, logging, save/load; subclasses define ``_train(batch)``."""

    _defaults = {}

    def __init__(self, env, *, n_envs, n_steps, gamma, gae_lambda, policy_lr, value_lr,
                 ent_coef, vf_coef, normalize_advantage, shared_tree, max_depth, n_bins,
                 grow_policy, split_score, grad_clip, log_std, log_std_init, one_hot,
                 max_trees, seed, verbose, tree_kwargs, balance_heads=True):
        _positive_int("n_envs", n_envs)
        _positive_int("n_steps", n_steps)
        _unit_interval("gamma", gamma)
        _unit_interval("gae_lambda", gae_lambda)
        for name, v in (("ent_coef", ent_coef), ("vf_coef", vf_coef)):
            if not isinstance(v, numbers.Real) or v < 0:
                raise ValueError(f"{name} must be a non-negative float; got {v!r}")
        self.n_envs = n_envs
        self.n_steps = n_steps
        self.gamma = float(gamma)
        self.gae_lambda = float(gae_lambda)
        self.ent_coef = float(ent_coef)
        self.vf_coef = float(vf_coef)
        self.normalize_advantage = bool(normalize_advantage)
        self.seed = seed
        self.verbose = verbose
        self.rng = np.random.default_rng(seed)
        self.env, self.env_id = _make_vec_env(env, n_envs)
        if isinstance(env, str):
            self.env_id = env
        self.n_envs = self.env.num_envs
        self.policy = ActorCriticTrees(
            self.env.single_observation_space, self.env.single_action_space,
            shared_tree=shared_tree, policy_lr=policy_lr, value_lr=value_lr, log_std=log_std,
            log_std_init=log_std_init, one_hot=one_hot, max_depth=max_depth, n_bins=n_bins,
            grow_policy=grow_policy, split_score=split_score, grad_clip=grad_clip,
            max_trees=max_trees, seed=seed, balance_heads=balance_heads, **(tree_kwargs or {}))
        self.num_timesteps = 0
        self.history_ = []
        self._obs = None
        self._ep_return = np.zeros(self.n_envs)
        self._ep_len = np.zeros(self.n_envs, dtype=np.int64)
        self._recent_returns = []

    # ------------------------------------------------------------------ rollouts
    def _reset(self):
        obs, _ = self.env.reset(seed=self.seed)
        self._obs = obs
        self._ep_return[:] = 0.0
        self._ep_len[:] = 0

    def _collect(self):
        pol = self.policy
        n, m = self.n_steps, self.n_envs
        d = pol.n_features
        obs_buf = np.empty((n, m, d))
        act_shape = (n, m) if pol.kind == "discrete" else (n, m, pol.n_actions)
        actions = np.empty(act_shape, dtype=np.int64 if pol.kind == "discrete" else np.float64)
        logp = np.empty((n, m))
        values = np.empty((n, m))
        rewards = np.empty((n, m))
        dones = np.empty((n, m), dtype=bool)
        finished = []
        low = high = None
        if pol.kind == "continuous":
            low, high = self.env.single_action_space.low, self.env.single_action_space.high
        for t in range(n):
            X = pol.features(self._obs)
            pi_out, v = pol.forward(X, use_cache=False)
            a = pol.act(pi_out, self.rng)
            obs_buf[t] = X
            actions[t] = a
            logp[t] = pol.log_prob(pi_out, a)
            values[t] = v
            env_a = np.clip(a, low, high) if low is not None else a
            obs, r, term, trunc, info = self.env.step(env_a)
            r = np.asarray(r, dtype=np.float64).copy()
            self._ep_return += r
            self._ep_len += 1
            done = np.logical_or(term, trunc)
            if np.any(trunc & ~term) and "final_obs" in info:
                idx = np.flatnonzero(trunc & ~term & info.get("_final_obs", done))
                if idx.size:
                    final = np.stack([info["final_obs"][i] for i in idx])
                    _, v_final = pol.forward(pol.features(final), use_cache=False)
                    r[idx] += self.gamma * v_final
            for i in np.flatnonzero(done):
                finished.append((float(self._ep_return[i]), int(self._ep_len[i])))
                self._ep_return[i] = 0.0
                self._ep_len[i] = 0
            rewards[t] = r
            dones[t] = done
            self._obs = obs
        _, last_v = pol.forward(pol.features(self._obs), use_cache=False)
        adv = np.zeros((n, m))
        gae = np.zeros(m)
        for t in range(n - 1, -1, -1):
            next_v = last_v if t == n - 1 else values[t + 1]
            nonterminal = 1.0 - dones[t]
            delta = rewards[t] + self.gamma * next_v * nonterminal - values[t]
            gae = delta + self.gamma * self.gae_lambda * nonterminal * gae
            adv[t] = gae
        self.num_timesteps += n * m
        batch = {
            "X": obs_buf.reshape(n * m, d),
            "actions": actions.reshape((n * m,) + actions.shape[2:]),
            "logp": logp.reshape(-1), "values": values.reshape(-1),
            "advantages": adv.reshape(-1), "returns": (adv + values).reshape(-1),
        }
        return batch, finished

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

    def _normalized(self, adv):
        if self.normalize_advantage and adv.shape[0] > 1:
            return (adv - adv.mean()) / (adv.std() + 1e-8)
        return adv

    # ------------------------------------------------------------------ public API
    def learn(self, total_timesteps, callback=None):
        """Train for ``total_timesteps`` environment steps (summed over the vector envs).

        Parameters
        ----------
        total_timesteps : int
        callback : callable, optional
            Called as ``callback(agent)`` after every iteration; returning False stops.

        Returns
        -------
        self
        """
        _positive_int("total_timesteps", total_timesteps)
        if self._obs is None:
            self._reset()
        bar = None
        if self.verbose:
            from tqdm.auto import tqdm

            bar = tqdm(total=total_timesteps, desc=type(self).__name__, unit="step")
        start_steps = self.num_timesteps
        t_start = time.perf_counter()
        try:
            while self.num_timesteps - start_steps < total_timesteps:
                batch, finished = self._collect()
                self._recent_returns.extend(r for r, _ in finished)
                self._recent_returns = self._recent_returns[-100:]
                self._train(batch)
                elapsed = time.perf_counter() - t_start
                done_steps = self.num_timesteps - start_steps
                rec = {
                    "timesteps": self.num_timesteps,
                    "trees": self.policy.n_trees,
                    "ep_return_mean": (float(np.mean(self._recent_returns))
                                       if self._recent_returns else float("nan")),
                    "episodes": len(finished),
                    "steps_per_s": done_steps / max(elapsed, 1e-9),
                    "time_s": elapsed,
                }
                self.history_.append(rec)
                if bar is not None:
                    bar.update(min(self.n_steps * self.n_envs, bar.total - bar.n))
                    bar.set_postfix(ret=f"{rec['ep_return_mean']:.1f}", trees=rec["trees"],
                                    sps=f"{rec['steps_per_s']:.0f}")
                    if self.verbose >= 2:
                        bar.write(f"steps {rec['timesteps']:>8d}  return {rec['ep_return_mean']:8.2f}"
                                  f"  trees {rec['trees']:>6d}  steps/s {rec['steps_per_s']:7.0f}")
                if callback is not None and callback(self) is False:
                    break
        finally:
            if bar is not None:
                bar.close()
        return self

    def predict(self, obs, deterministic=True):
        """Actions for one observation or a batch (leading axis = batch if it matches).

        Returns
        -------
        ndarray: one action per observation (a scalar-shaped action for a single observation).
        """
        space = self.env.single_observation_space
        obs = np.asarray(obs)
        single = obs.shape == tuple(space.shape)
        batch = obs[None] if single else obs
        acts = self.policy.predict_actions(batch, self.rng, deterministic)
        return acts[0] if single else acts

    def save(self, path):
        """Pickle the agent (trees, heads, history, RNG; not the environment) to ``path``."""
        state = self.__dict__.copy()
        state["env"] = None
        state["_obs"] = None
        state["_spaces"] = (self.env.single_observation_space, self.env.single_action_space)
        with open(Path(path), "wb") as fh:
            pickle.dump({"class": type(self).__name__, "state": state}, fh)
        return path

    @classmethod
    def load(cls, path, env=None):
        """Load an agent saved with :meth:`save`; ``env`` (id, Env or VectorEnv) to continue.

        Without ``env`` the saved env id is re-made when there is one.
        """
        with open(Path(path), "rb") as fh:
            payload = pickle.load(fh)
        if payload.get("class") != cls.__name__:
            raise ValueError(f"{path} holds a {payload.get('class')}, not a {cls.__name__}")
        agent = cls.__new__(cls)
        state = payload["state"]
        spaces = state.pop("_spaces")
        agent.__dict__.update(state)
        target = env if env is not None else agent.env_id
        if target is not None:
            agent.env, _ = _make_vec_env(target, agent.n_envs)
        else:
            agent.env = _SpacesOnly(*spaces, agent.n_envs)
        return agent


class _SpacesOnly:
    """Stand-in for an environment when only predicting."""

    def __init__(self, observation_space, action_space, num_envs):
        self.single_observation_space = observation_space
        self.single_action_space = action_space
        self.num_envs = num_envs


_COMMON_DOC = """
    env : str, gymnasium.Env or gymnasium.vector.VectorEnv
        An environment id (made as a sync vector env of ``n_envs`` copies), an environment
        (copied from its spec) or a vector env in same-step autoreset mode.
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
    normalize_advantage : bool
        Standardise advantages per minibatch.
    shared_tree : bool
        One tree per update for policy and value, or separate trees.
    max_depth, n_bins, grow_policy, split_score, grad_clip, max_trees :
        Tree parameters, see :class:`boostkit.rl.BoostedTrees`.
    log_std, log_std_init :
        Gaussian policies: free log-std or a tree head, and its initial value.
    balance_heads : bool
        Shared tree: weight the value gradient to the policy gradient's RMS in the split
        search, so the value error does not choose every split (see :class:`ActorCriticTrees`).
    one_hot : bool
        One-hot encode categorical (Discrete / MultiDiscrete) observations instead of using
        "equals" splits on them.
    seed : int, optional
        Seeds environments (``reset(seed=...)``) and action sampling: runs are reproducible.
    verbose : int
        0 silent, 1 progress bar, 2 also a log line per iteration.
    tree_kwargs : dict, optional
        Further :class:`BoostedTrees` parameters (``candidates``, ``min_samples_leaf``).

    Attributes
    ----------
    policy : ActorCriticTrees
    num_timesteps : int
    history_ : list of dict
        Per iteration: timesteps, trees, ep_return_mean (last 100 episodes), steps_per_s.
"""


class PPO(_OnPolicyAgent):
    __doc__ = """Proximal policy optimisation with boosted-tree policy and value (GBRL).

    Every minibatch of every epoch grows ONE tree (shared by policy and value by default).

    Parameters
    ----------
    batch_size : int
        Minibatch size (one tree each).
    n_epochs : int
        Passes over each rollout.
    clip_range : float
        PPO ratio clip.
""" + _COMMON_DOC + """
    Examples
    --------
    >>> from boostkit.rl import PPO, evaluate_policy
    >>> agent = PPO("CartPole-v1", n_envs=4, n_steps=32, seed=0).learn(256)
    >>> agent.policy.n_trees
    4
    >>> agent.predict(agent.env.reset(seed=0)[0]).shape
    (4,)
"""

    def __init__(self, env, *, n_envs=8, n_steps=128, batch_size=64, n_epochs=1, gamma=0.98,
                 gae_lambda=0.8, policy_lr=0.029, value_lr=0.015, clip_range=0.2,
                 ent_coef=0.0, vf_coef=1.0, normalize_advantage=True, shared_tree=True,
                 max_depth=4, n_bins=250, grow_policy="oblivious", split_score="cosine",
                 grad_clip=None, log_std="free", log_std_init=0.0, one_hot=False,
                 max_trees=None, balance_heads=True, seed=None, verbose=0, tree_kwargs=None):
        _positive_int("batch_size", batch_size)
        _positive_int("n_epochs", n_epochs)
        if not isinstance(clip_range, numbers.Real) or clip_range <= 0:
            raise ValueError(f"clip_range must be a positive float; got {clip_range!r}")
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.clip_range = float(clip_range)
        super().__init__(env, n_envs=n_envs, n_steps=n_steps, gamma=gamma,
                         gae_lambda=gae_lambda, policy_lr=policy_lr, value_lr=value_lr,
                         ent_coef=ent_coef, vf_coef=vf_coef,
                         normalize_advantage=normalize_advantage, shared_tree=shared_tree,
                         max_depth=max_depth, n_bins=n_bins, grow_policy=grow_policy,
                         split_score=split_score, grad_clip=grad_clip, log_std=log_std,
                         log_std_init=log_std_init, one_hot=one_hot, max_trees=max_trees,
                         balance_heads=balance_heads, seed=seed, verbose=verbose,
                         tree_kwargs=tree_kwargs)

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


class A2C(_OnPolicyAgent):
    __doc__ = """Advantage actor-critic with boosted trees: one tree per rollout.
""" + _COMMON_DOC + """
    Examples
    --------
    >>> from boostkit.rl import A2C
    >>> A2C("CartPole-v1", seed=0).learn(256).policy.n_trees
    2
"""

    def __init__(self, env, *, n_envs=16, n_steps=8, gamma=0.99, gae_lambda=1.0,
                 policy_lr=0.135, value_lr=0.047, ent_coef=0.0, vf_coef=1.0,
                 normalize_advantage=True, shared_tree=True, max_depth=4, n_bins=250,
                 grow_policy="oblivious", split_score="cosine", grad_clip=None, log_std="free",
                 log_std_init=0.0, one_hot=False, max_trees=None, balance_heads=True, seed=None,
                 verbose=0, tree_kwargs=None):
        super().__init__(env, n_envs=n_envs, n_steps=n_steps, gamma=gamma,
                         gae_lambda=gae_lambda, policy_lr=policy_lr, value_lr=value_lr,
                         ent_coef=ent_coef, vf_coef=vf_coef,
                         normalize_advantage=normalize_advantage, shared_tree=shared_tree,
                         max_depth=max_depth, n_bins=n_bins, grow_policy=grow_policy,
                         split_score=split_score, grad_clip=grad_clip, log_std=log_std,
                         log_std_init=log_std_init, one_hot=one_hot, max_trees=max_trees,
                         balance_heads=balance_heads, seed=seed, verbose=verbose,
                         tree_kwargs=tree_kwargs)

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

    def __init__(self, env, *, n_envs=8, n_steps=128, batch_size=256, n_epochs=2, beta=1.0,
                 max_weight=20.0, gamma=0.98, gae_lambda=0.9, policy_lr=0.05, value_lr=0.03,
                 ent_coef=0.0, vf_coef=1.0, normalize_advantage=True, shared_tree=True,
                 max_depth=4, n_bins=250, grow_policy="oblivious", split_score="cosine",
                 grad_clip=None, log_std="free", log_std_init=0.0, one_hot=False,
                 max_trees=None, balance_heads=True, seed=None, verbose=0, tree_kwargs=None):
        _positive_int("batch_size", batch_size)
        _positive_int("n_epochs", n_epochs)
        for name, v in (("beta", beta), ("max_weight", max_weight)):
            if not isinstance(v, numbers.Real) or v <= 0:
                raise ValueError(f"{name} must be a positive float; got {v!r}")
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.beta = float(beta)
        self.max_weight = float(max_weight)
        super().__init__(env, n_envs=n_envs, n_steps=n_steps, gamma=gamma,
                         gae_lambda=gae_lambda, policy_lr=policy_lr, value_lr=value_lr,
                         ent_coef=ent_coef, vf_coef=vf_coef,
                         normalize_advantage=normalize_advantage, shared_tree=shared_tree,
                         max_depth=max_depth, n_bins=n_bins, grow_policy=grow_policy,
                         split_score=split_score, grad_clip=grad_clip, log_std=log_std,
                         log_std_init=log_std_init, one_hot=one_hot, max_trees=max_trees,
                         balance_heads=balance_heads, seed=seed, verbose=verbose,
                         tree_kwargs=tree_kwargs)

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


def evaluate_policy(agent, env, n_episodes=20, deterministic=True, seed=None):
    """Mean and standard deviation of the episode return over ``n_episodes`` episodes.

    Parameters
    ----------
    agent : PPO, A2C, AWR or any object with ``predict(obs, deterministic)``
    env : str or gymnasium.Env
        Environment id or a single (non-vector) environment.
    n_episodes : int
    deterministic : bool
        Greedy actions (mode of the policy) or sampled ones.
    seed : int, optional
        Seed of the first reset (episode ``i`` uses ``seed + i``).

    Returns
    -------
    (mean, std) : tuple of float

    Examples
    --------
    >>> from boostkit.rl import PPO, evaluate_policy
    >>> agent = PPO("CartPole-v1", n_envs=2, n_steps=16, seed=0)
    >>> mean, std = evaluate_policy(agent, "CartPole-v1", n_episodes=2, seed=0)
    >>> mean > 0
    True
    """
    import gymnasium as gym

    _positive_int("n_episodes", n_episodes)
    own = isinstance(env, str)
    if own:
        env = gym.make(env)
    returns = []
    try:
        for ep in range(n_episodes):
            obs, _ = env.reset(seed=None if seed is None else seed + ep)
            total, done = 0.0, False
            while not done:
                action = agent.predict(obs, deterministic=deterministic)
                obs, r, term, trunc, _ = env.step(action)
                total += float(r)
                done = term or trunc
            returns.append(total)
    finally:
        if own:
            env.close()
    return float(np.mean(returns)), float(np.std(returns))
