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

__all__ = ["Categorical", "MultiCategorical", "DiagGaussian"]

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
