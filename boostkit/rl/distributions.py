"""Action distributions with analytic gradients with respect to the model outputs.

A softmax (categorical) head maps K logits to action probabilities; a Gaussian head maps a mean
per action dimension (plus a log standard deviation, free or predicted) to a diagonal Gaussian.
Every function works on a batch; no autograd framework is involved.

===========  ==========================================  ==================================
head         d log pi(a) / d output                       d entropy / d output
===========  ==========================================  ==================================
softmax      onehot(a) - p                                -p (log p + H)
Gaussian     mean: (a - mu) / sigma^2;                    mean: 0; log-std: 1
             log-std: ((a - mu) / sigma)^2 - 1
===========  ==========================================  ==================================

Examples
--------
>>> import numpy as np
>>> logits = np.array([[0.0, 0.0]])
>>> Categorical.grad_log_prob(logits, np.array([0]))
array([[ 0.5, -0.5]])
"""

from __future__ import annotations

import numpy as np


def log_softmax(z, axis=1):
    """Row-wise log-softmax (plain NumPy: scipy's is slow on small batches)."""
    m = z.max(axis=axis, keepdims=True)
    s = z - m
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))

__all__ = ["Categorical", "MultiCategorical", "DiagGaussian", "StateDependentNoise"]

_LOG_2PI = float(np.log(2.0 * np.pi))


class Categorical:
    """Softmax over logits of shape (n, K).

    Examples
    --------
    >>> import numpy as np
    >>> float(Categorical.entropy(np.zeros((1, 4)))[0]) == float(np.log(4))
    True
    """

    @staticmethod
    def log_prob(logits, actions):
        """log pi(a) for each row."""
        logp = log_softmax(logits, axis=1)
        return logp[np.arange(logits.shape[0]), actions]

    @staticmethod
    def entropy(logits):
        """Entropy H of each row."""
        logp = log_softmax(logits, axis=1)
        return -np.sum(np.exp(logp) * logp, axis=1)

    @staticmethod
    def grad_log_prob(logits, actions):
        """d log pi(a) / d logits = onehot(a) - p."""
        g = -np.exp(log_softmax(logits, axis=1))
        g[np.arange(logits.shape[0]), actions] += 1.0
        return g

    @staticmethod
    def grad_entropy(logits):
        """d H / d logits = -p (log p + H)."""
        logp = log_softmax(logits, axis=1)
        p = np.exp(logp)
        H = -np.sum(p * logp, axis=1, keepdims=True)
        return -p * (logp + H)

    @staticmethod
    def sample(logits, rng):
        """One action per row (inverse-CDF sampling with the given generator)."""
        p = np.exp(log_softmax(logits, axis=1))
        c = np.cumsum(p, axis=1)
        u = rng.random((logits.shape[0], 1)) * c[:, -1:]
        return np.minimum((c < u).sum(axis=1), logits.shape[1] - 1)

    @staticmethod
    def mode(logits):
        """Most likely action of each row."""
        return np.argmax(logits, axis=1)


class MultiCategorical:
    """Independent softmaxes over consecutive blocks of logits (MultiDiscrete / MultiBinary).

    Block ``j`` has ``sizes[j]`` logits; an action is one index per block, shape (n, blocks).
    log pi(a) and the entropy are sums over the blocks; each gradient is the block's
    :class:`Categorical` gradient in the block's columns.

    Parameters
    ----------
    sizes : sequence of int
        Choices per action dimension.

    Examples
    --------
    >>> import numpy as np
    >>> dist = MultiCategorical([2, 3])
    >>> logits = np.zeros((1, 5))
    >>> float(dist.log_prob(logits, np.array([[1, 2]]))[0]) == float(np.log(1 / 6))
    True
    >>> dist.grad_log_prob(logits, np.array([[1, 2]])).round(3)
    array([[-0.5  ,  0.5  , -0.333, -0.333,  0.667]])
    """

    def __init__(self, sizes):
        self.sizes = np.asarray(sizes, dtype=np.int64).ravel()
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])

    def _blocks(self):
        return [slice(int(a), int(b)) for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    def log_prob(self, logits, actions):
        """Sum over the blocks of log pi_j(a_j), for each row."""
        return sum(Categorical.log_prob(logits[:, b], actions[:, j])
                   for j, b in enumerate(self._blocks()))

    def entropy(self, logits):
        """Sum of the blocks' entropies, for each row."""
        return sum(Categorical.entropy(logits[:, b]) for b in self._blocks())

    def grad_log_prob(self, logits, actions):
        """Each block's ``onehot(a_j) - p_j`` in its columns."""
        g = np.empty_like(logits, dtype=np.float64)
        for j, b in enumerate(self._blocks()):
            g[:, b] = Categorical.grad_log_prob(logits[:, b], actions[:, j])
        return g

    def grad_entropy(self, logits):
        """Each block's ``-p_j (log p_j + H_j)`` in its columns."""
        g = np.empty_like(logits, dtype=np.float64)
        for b in self._blocks():
            g[:, b] = Categorical.grad_entropy(logits[:, b])
        return g

    def sample(self, logits, rng):
        """One index per block and row, shape (n, blocks)."""
        return np.column_stack([Categorical.sample(logits[:, b], rng) for b in self._blocks()])

    def mode(self, logits):
        """Most likely index of each block, shape (n, blocks)."""
        return np.column_stack([Categorical.mode(logits[:, b]) for b in self._blocks()])


class DiagGaussian:
    """Diagonal Gaussian with mean (n, m) and log standard deviation (n, m) or (m,).

    Examples
    --------
    >>> import numpy as np
    >>> mu, log_std = np.zeros((1, 1)), np.zeros(1)
    >>> round(float(DiagGaussian.log_prob(mu, log_std, np.zeros((1, 1)))[0]), 4)
    -0.9189
    """

    @staticmethod
    def log_prob(mean, log_std, actions):
        """log pi(a) for each row."""
        z = (actions - mean) * np.exp(-log_std)
        return np.sum(-0.5 * z * z - log_std - 0.5 * _LOG_2PI, axis=1)

    @staticmethod
    def entropy(mean, log_std):
        """Entropy of each row."""
        log_std = np.broadcast_to(log_std, mean.shape)
        return np.sum(log_std + 0.5 * (_LOG_2PI + 1.0), axis=1)

    @staticmethod
    def grad_log_prob(mean, log_std, actions):
        """(d log pi / d mean, d log pi / d log_std), each of shape (n, m)."""
        inv_var = np.exp(-2.0 * log_std)
        diff = actions - mean
        return diff * inv_var, diff * diff * inv_var - 1.0

    @staticmethod
    def sample(mean, log_std, rng):
        """One action per row."""
        return mean + np.exp(log_std) * rng.standard_normal(mean.shape)

    @staticmethod
    def mode(mean, log_std=None):
        """The mean."""
        return mean


class StateDependentNoise:
    """Exploration noise of Box actions that depends on the state (a gSDE-like process).

    Each sub-env ``i`` holds random weights ``W_i`` of shape (n_features + 1, n_actions),
    drawn N(0, 1) and kept for ``sample_freq`` steps (or for a whole rollout). The noise of
    an observation ``x`` is ``e = u(x) @ W_i`` with ``u(x) = [1, s(x)] / ||[1, s(x)]||``,
    where ``s(x)`` standardises the features by their running mean and standard deviation
    (a constant feature gives 0). ``u(x)`` has unit norm, so for a given state every ``e_j``
    is N(0, 1): the action ``mean + std * e`` has the same Gaussian as with independent
    noise and log-probabilities are unchanged. But while ``W_i`` is kept, the noise is a
    smooth function of the state (a perturbed policy, e.g. "push with the velocity"), not a
    push that averages out over steps.

    Parameters
    ----------
    sample_freq : int
        Steps between new weights; -1 (or 0) keeps them for the rollout (see
        :meth:`new_rollout`).

    Examples
    --------
    >>> import numpy as np
    >>> noise = StateDependentNoise(sample_freq=-1)
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(3, 2))           # 3 sub-envs, 2 features
    >>> e = noise.sample(X, 1, rng)           # (3 sub-envs, 1 action dimension)
    >>> e.shape, bool(np.allclose(noise.sample(X, 1, rng), noise.sample(X, 1, rng)))
    ((3, 1), True)
    >>> noise.new_rollout()                   # sample_freq=-1: new weights, new noise
    >>> bool(np.allclose(noise.sample(X, 1, rng), e))
    False
    """

    def __init__(self, sample_freq=-1):
        self.sample_freq = int(sample_freq)
        self.count = 0
        self.feature_mean = None
        self.feature_m2 = None
        self.weights = None
        self.age = 0

    def new_rollout(self):
        """Forget the weights (and draw new ones at the next step) when kept per rollout;
        also call after the environments are reset."""
        if self.sample_freq < 1:
            self.weights = None

    def reset(self):
        """Forget the weights whatever ``sample_freq`` is (the environments were reset)."""
        self.weights = None

    def _update_stats(self, X):
        n_new = X.shape[0]
        if self.feature_mean is None:
            self.feature_mean = np.zeros(X.shape[1])
            self.feature_m2 = np.zeros(X.shape[1])
        new_mean = X.mean(axis=0)
        new_m2 = ((X - new_mean) ** 2).sum(axis=0)
        total = self.count + n_new
        delta = new_mean - self.feature_mean
        self.feature_mean = self.feature_mean + delta * n_new / total
        self.feature_m2 = self.feature_m2 + new_m2 + delta ** 2 * self.count * n_new / total
        self.count = total

    def directions(self, X):
        """``u(x)`` of each row: ``[1, standardised x]`` scaled to unit norm."""
        sd = np.sqrt(self.feature_m2 / self.count)
        s = np.where(sd > 1e-8, (X - self.feature_mean) / np.maximum(sd, 1e-8), 0.0)
        u = np.hstack([np.ones((X.shape[0], 1)), s])
        return u / np.linalg.norm(u, axis=1, keepdims=True)

    def sample(self, X, n_actions, rng):
        """Noise (n, n_actions) for the feature rows ``X`` of one step, row ``i`` being
        sub-env ``i``; first adds ``X`` to the running feature statistics."""
        self._update_stats(X)
        u = self.directions(X)
        k = self.sample_freq
        if (self.weights is None or self.weights.shape[:2] != u.shape
                or self.weights.shape[2] != n_actions or (k >= 1 and self.age >= k)):
            self.weights = rng.standard_normal(u.shape + (n_actions,))
            self.age = 0
        self.age += 1
        return np.einsum("nd,nda->na", u, self.weights)
