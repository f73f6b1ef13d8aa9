"""Actor-critic heads on boosted trees: softmax or Gaussian policy plus a value output.

Policy and value either SHARE one tree per update (same splits, fitted on the policy and value
gradients side by side, separate learning rates per head: GBRL's key trick) or grow separate
trees. A Gaussian policy's log standard deviation is a free parameter (trained by plain gradient
descent) or another head of the trees.
"""

from __future__ import annotations

import numbers

import numpy as np

from boostkit.rl.boosted_trees import BoostedTrees
from boostkit.rl.distributions import Categorical, DiagGaussian, MultiCategorical
from boostkit.rl.spaces import ActionCodec, ObservationEncoder

__all__ = ["ActorCriticTrees", "HeadRates", "space_layout"]


def space_layout(observation_space, action_space):
    """Check the spaces and describe them: (n_features, categorical mask, action kind, n_act).

    See :mod:`boostkit.rl.spaces` for the supported spaces.

    Examples
    --------
    >>> import gymnasium as gym
    >>> space_layout(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2))[::2]
    (4, 'discrete')
    >>> space_layout(gym.spaces.Text(5), gym.spaces.Discrete(2))
    Traceback (most recent call last):
    ...
    ValueError: observation space Text(1, 5, charset=...) is not supported; use Box, Discrete, MultiDiscrete, MultiBinary, or a Dict / Tuple of them
    """
    enc = ObservationEncoder(observation_space)
    codec = ActionCodec(action_space)
    return enc.n_features, enc.categorical, codec.kind, codec.n_actions


class HeadRates:
    """Per-output learning rates of a shared tree: policy outputs, then the value output.

    Each rate is a float or a callable of the tree index (e.g. a schedule).

    Examples
    --------
    >>> HeadRates(0.1, 0.01, 2)(0)
    array([0.1 , 0.1 , 0.01])
    """

    def __init__(self, policy_lr, value_lr, n_policy, n_value=1):
        self.policy_lr = policy_lr
        self.value_lr = value_lr
        self.n_policy = n_policy
        self.n_value = n_value

    def __call__(self, tree_index):
        p = self.policy_lr(tree_index) if callable(self.policy_lr) else self.policy_lr
        v = self.value_lr(tree_index) if callable(self.value_lr) else self.value_lr
        return np.concatenate([np.broadcast_to(np.asarray(p, float), (self.n_policy,)),
                               np.broadcast_to(np.asarray(v, float), (self.n_value,))])


def _check_lr(name, lr):
    if callable(lr):
        return
    if not isinstance(lr, numbers.Real) or not np.isfinite(lr) or lr < 0:
        raise ValueError(f"{name} must be a non-negative float or a callable; got {lr!r}")


class ActorCriticTrees:
    """Policy and value function as boosted trees.

    Parameters
    ----------
    observation_space, action_space : gymnasium spaces
        See :func:`space_layout` for what is supported.
    shared_tree : bool, default=True
        One tree per update for policy and value (separate learning rates) or separate trees.
    policy_lr, value_lr : float or callable, default=0.029, 0.015
        Learning rates of the policy and value heads (callables: schedules of the tree index).
    log_std : {"free", "head"}, default="free"
        Gaussian policies only: log-std as a free parameter or predicted by the trees.
    log_std_init : float, default=0.0
    log_std_lr : float, optional
        Step size of the free log-std (default: ``policy_lr`` if a float, else 0.01).
    one_hot : bool, default=False
        Encode categorical observations one-hot (numerical splits) instead of "equals" splits.
    balance_heads : bool, default=True
        Shared tree only: in the split search, weight the value gradient so that its RMS equals
        the policy gradients' RMS (leaf values are unchanged). Without it the value error, often
        ten times larger than the policy gradient, picks the splits of the shared tree.
    **tree_params
        Passed to :class:`BoostedTrees` (max_depth, n_bins, grow_policy, split_score,
        candidates, grad_clip, max_trees, min_samples_leaf, seed).

    Examples
    --------
    >>> import gymnasium as gym, numpy as np
    >>> ac = ActorCriticTrees(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2))
    >>> pi, v = ac.forward(np.zeros((5, 3)))
    >>> pi.shape, v.shape
    ((5, 2), (5,))
    """

    def __init__(self, observation_space, action_space, *, shared_tree=True, policy_lr=0.029,
                 value_lr=0.015, log_std="free", log_std_init=0.0, log_std_lr=None,
                 one_hot=False, balance_heads=True, **tree_params):
        _check_lr("policy_lr", policy_lr)
        _check_lr("value_lr", value_lr)
        if log_std not in ("free", "head"):
            raise ValueError(f"log_std must be 'free' or 'head'; got {log_std!r}")
        self.observation_space = observation_space
        self.action_space = action_space
        self.obs_encoder = ObservationEncoder(observation_space, one_hot=one_hot)
        self.action_codec = ActionCodec(action_space)
        kind, n_act = self.action_codec.kind, self.action_codec.n_actions
        self.kind = kind
        self.n_actions = n_act
        self.action_shape = self.action_codec.action_shape
        # softmax heads: one (Discrete) or one per action entry (MultiDiscrete, MultiBinary)
        self._categorical = (Categorical if kind == "discrete" else
                             MultiCategorical(self.action_codec.sizes)
                             if kind == "multi_discrete" else None)
        self.shared_tree = bool(shared_tree)
        self.log_std_mode = log_std
        self.one_hot = bool(one_hot)
        self.balance_heads = bool(balance_heads)
        d, cat = self.obs_encoder.n_features, self.obs_encoder.categorical
        self.n_features = d
        n_pi = n_act if kind != "continuous" or log_std == "free" else 2 * n_act
        self.n_policy_outputs = n_pi
        tree_params.setdefault("categorical_features", cat if cat.any() else None)
        if self.shared_tree:
            self.trees = BoostedTrees(n_pi + 1, learning_rate=HeadRates(policy_lr, value_lr, n_pi),
                                      **tree_params)
            self.value_trees = None
        else:
            self.trees = BoostedTrees(n_pi, learning_rate=policy_lr, **tree_params)
            self.value_trees = BoostedTrees(1, learning_rate=value_lr, **tree_params)
        if kind == "continuous" and log_std == "head":
            bias = self.trees.bias_.copy()
            bias[n_act:2 * n_act] = log_std_init
            self.trees.set_bias(bias)
        self.log_std = np.full(n_act, float(log_std_init)) if kind == "continuous" else None
        if log_std_lr is None:
            log_std_lr = policy_lr if isinstance(policy_lr, numbers.Real) else 0.01
        self.log_std_lr = float(log_std_lr)

    # ------------------------------------------------------------------ features
    def features(self, obs):
        """Observation batch (or one observation) as the (n, n_features) float matrix the
        trees see; errors name the shapes that do not match the observation space."""
        return self.obs_encoder.transform(obs)

    @property
    def feature_names(self):
        """Name of every feature column (see :class:`boostkit.rl.spaces.ObservationEncoder`)."""
        return self.obs_encoder.feature_names

    @property
    def n_trees(self):
        """Trees in the policy ensemble (the shared one if shared)."""
        return self.trees.n_trees_

    # ------------------------------------------------------------------ forward / update
    def forward(self, X, *, use_cache=True):
        """(policy outputs (n, n_policy_outputs), values (n,)) for features ``X``."""
        out = self.trees.predict(X, use_cache=use_cache)
        if self.shared_tree:
            return out[:, :-1], out[:, -1]
        return out, self.value_trees.predict(X, use_cache=use_cache)[:, 0]

    def split_policy(self, pi_out):
        """Distribution parameters: logits, or (mean, log_std)."""
        if self._categorical is not None:
            return pi_out
        m = self.n_actions
        if self.log_std_mode == "head":
            return pi_out[:, :m], pi_out[:, m:2 * m]
        return pi_out, self.log_std

    def log_prob(self, pi_out, actions):
        """log pi(a | x) of each row."""
        if self._categorical is not None:
            return self._categorical.log_prob(pi_out, actions)
        mean, log_std = self.split_policy(pi_out)
        return DiagGaussian.log_prob(mean, log_std, actions)

    def entropy(self, pi_out):
        """Policy entropy of each row."""
        if self._categorical is not None:
            return self._categorical.entropy(pi_out)
        mean, log_std = self.split_policy(pi_out)
        return DiagGaussian.entropy(mean, log_std)

    def grad_log_prob(self, pi_out, actions):
        """d log pi(a) / d policy outputs (n, n_policy_outputs), and d / d free log-std."""
        if self._categorical is not None:
            return self._categorical.grad_log_prob(pi_out, actions), None
        mean, log_std = self.split_policy(pi_out)
        g_mean, g_log_std = DiagGaussian.grad_log_prob(mean, log_std, actions)
        if self.log_std_mode == "head":
            return np.hstack([g_mean, g_log_std]), None
        return g_mean, g_log_std

    def grad_entropy(self, pi_out):
        """d entropy / d policy outputs, and d / d free log-std."""
        if self._categorical is not None:
            return self._categorical.grad_entropy(pi_out), None
        n, m = pi_out.shape[0], self.n_actions
        if self.log_std_mode == "head":
            return np.hstack([np.zeros((n, m)), np.ones((n, m))]), None
        return np.zeros((n, m)), np.ones((n, m))

    def act(self, pi_out, rng, deterministic=False):
        """Actions for a batch of policy outputs (sampled, or the mode)."""
        if self._categorical is not None:
            dist = self._categorical
            return dist.mode(pi_out) if deterministic else dist.sample(pi_out, rng)
        mean, log_std = self.split_policy(pi_out)
        return mean.copy() if deterministic else DiagGaussian.sample(mean, log_std, rng)

    def set_lr_scale(self, scale):
        """Multiply every learning rate (tree heads, free log-std) by ``scale`` from now on."""
        self.lr_scale = float(scale)
        self.trees.lr_scale = self.lr_scale
        if self.value_trees is not None:
            self.value_trees.lr_scale = self.lr_scale

    def update(self, X, policy_grad, value_grad, log_std_grad=None):
        """One boosting step: policy_grad (n, n_policy_outputs), value_grad (n,) of the loss."""
        value_grad = np.asarray(value_grad, dtype=np.float64).reshape(-1, 1)
        if self.shared_tree:
            weights = None
            if self.balance_heads:
                rms_pi = np.sqrt(np.mean(policy_grad ** 2))
                rms_v = np.sqrt(np.mean(value_grad ** 2))
                if rms_pi > 0 and rms_v > 0:
                    weights = np.ones(policy_grad.shape[1] + 1)
                    weights[-1] = rms_pi / rms_v
            self.trees.step(X, np.hstack([policy_grad, value_grad]), score_weights=weights)
        else:
            self.trees.step(X, policy_grad)
            self.value_trees.step(X, value_grad)
        if log_std_grad is not None and self.log_std is not None:
            self.log_std = self.log_std - (self.log_std_lr * getattr(self, "lr_scale", 1.0)
                                           * log_std_grad.mean(axis=0))

    def predict_actions(self, obs, rng=None, deterministic=True):
        """Environment actions for a batch of raw observations (Discrete: shifted by the
        space's ``start``; Box: clipped to the bounds)."""
        X = self.features(obs)
        pi_out, _ = self.forward(X, use_cache=False)
        act = self.act(pi_out, rng if rng is not None else np.random.default_rng(),
                       deterministic)
        return self.action_codec.to_env(act)
