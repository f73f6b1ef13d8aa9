"""Export a trained tree policy as a standalone Python module that needs only NumPy.

The module embeds the tree arrays (base64 ``.npz``) and evaluates every tree at once with
vectorised NumPy indexing, so deployment needs neither boostkit nor numba.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np

__all__ = ["export_policy", "load_exported"]

_TEMPLATE = '''"""Tree policy exported by boostkit.rl.export_policy: needs only NumPy.

    import exported_module
    action = exported_module.predict(observation)          # one observation
    actions = exported_module.predict(observations)        # a batch
"""
import base64
import io

import numpy as np

KIND = {kind!r}
# categorical actions: choices and smallest action per entry, shape of one action
ACTION_SIZES = {action_sizes!r}
ACTION_STARTS = {action_starts!r}
ACTION_SHAPE = {action_shape!r}
ACTION_DTYPE = {action_dtype!r}
# per observation part: (keys from the observation, shape of one, one-hot sizes, starts)
LAYOUT = {layout!r}
_A = dict(np.load(io.BytesIO(base64.b64decode({data!r}))))


def _part(obs, path):
    for key in path:
        obs = obs[key]
    return obs


def _features(obs):
    single = np.shape(_part(obs, LAYOUT[0][0])) == tuple(LAYOUT[0][1])
    columns = []
    for path, shape, sizes, starts in LAYOUT:
        x = np.asarray(_part(obs, path), dtype=np.float64)
        x = x.reshape(1 if single else x.shape[0], -1)
        if sizes is not None:
            offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            onehot = np.zeros((x.shape[0], int(np.sum(sizes))))
            codes = (x - np.asarray(starts)).astype(np.int64)
            onehot[np.arange(x.shape[0])[:, None], offsets + codes] = 1.0
            x = onehot
        columns.append(x)
    return np.hstack(columns), single


def policy_outputs(obs):
    """Policy outputs (logits or Gaussian means) of a batch of observations."""
    X, _ = _features(obs)
    n, T = X.shape[0], _A["feature"].shape[0]
    out = np.tile(_A["bias"], (n, 1))
    if T == 0:
        return out
    if _A["oblivious"]:
        idx = np.zeros((n, T), dtype=np.int64)
        for lv in range(_A["feature"].shape[1]):
            x = X[:, _A["feature"][:, lv]]
            thr = _A["threshold"][:, lv]
            right = np.where(_A["is_cat"][:, lv], x != thr, x > thr)
            idx = 2 * idx + right
    else:
        node = np.where(_A["n_nodes"] > 0, 0, -1)[None, :].repeat(n, axis=0)
        cols = np.arange(T)[None, :]
        while np.any(node >= 0):
            g = np.maximum(node, 0)
            x = np.take_along_axis(X, _A["feature"][cols, g], axis=1)
            thr = _A["threshold"][cols, g]
            go_left = np.where(_A["is_cat"][cols, g], x == thr, x <= thr)
            nxt = np.where(go_left, _A["left"][cols, g], _A["right"][cols, g])
            node = np.where(node >= 0, nxt, node)
        idx = -node - 1
    out += _A["leaf_values"][np.arange(T)[None, :], idx].sum(axis=1)
    return out


def predict(obs):
    """Deterministic action(s): argmax of the logits of each action entry (plus the space's
    start), or the Gaussian mean clipped to the bounds."""
    _, single = _features(obs)
    pi = policy_outputs(obs)
    if KIND != "continuous":
        ends = np.cumsum(ACTION_SIZES)
        act = np.column_stack([np.argmax(pi[:, e - k:e], axis=1) + s
                               for k, e, s in zip(ACTION_SIZES, ends, ACTION_STARTS)])
        act = act.reshape((act.shape[0],) + tuple(ACTION_SHAPE)).astype(ACTION_DTYPE)
    else:
        act = np.clip(pi[:, :_A["n_actions"]], _A["low"], _A["high"]).astype(ACTION_DTYPE)
    return act[0] if single else act
'''


def _padded_arrays(trees, n_policy):
    """Per-tree padded arrays (T, max nodes) for vectorised evaluation."""
    a = trees.to_arrays()
    oblivious = str(a["grow_policy"]) == "oblivious"
    T = a["n_nodes"].shape[0]
    n_nodes = a["n_nodes"].astype(np.int64)
    M = max(int(n_nodes.max(initial=0)), 1)
    n_leaves = np.diff(np.append(a["leaf_start"], a["leaf_values"].shape[0]))
    Lmax = max(int(n_leaves.max(initial=1)), 1)
    feature = np.zeros((T, M), np.int64)
    threshold = np.full((T, M), np.inf)
    is_cat = np.zeros((T, M), bool)
    left = np.full((T, M), -1, np.int64)
    right = np.full((T, M), -1, np.int64)
    leaves = np.zeros((T, Lmax, n_policy))
    for t in range(T):
        s, k = a["node_start"][t], n_nodes[t]
        # oblivious: pad missing levels FIRST (always-left levels keep the leaf index)
        off = M - k if oblivious else 0
        feature[t, off:off + k] = a["feature"][s:s + k]
        threshold[t, off:off + k] = a["threshold"][s:s + k]
        is_cat[t, off:off + k] = a["is_cat"][s:s + k]
        if not oblivious:
            left[t, :k] = a["left"][s:s + k]
            right[t, :k] = a["right"][s:s + k]
        ls = a["leaf_start"][t]
        leaves[t, :n_leaves[t]] = a["leaf_values"][ls:ls + n_leaves[t], :n_policy]
    if oblivious:
        # a padded level has threshold +inf: numerical x > inf is False (left) for finite x
        is_cat[np.isinf(threshold)] = False
    return dict(feature=feature, threshold=threshold, is_cat=is_cat, left=left, right=right,
                leaf_values=leaves, n_nodes=n_nodes, oblivious=np.array(oblivious),
                bias=a["bias"][:n_policy])


def export_policy(agent, path=None):
    """Source of a standalone NumPy module computing the agent's deterministic policy.

    Parameters
    ----------
    agent : PPO, A2C, AWR or ActorCriticTrees
    path : str or Path, optional
        Where to write the module (``.py``).

    Returns
    -------
    str
        The module source.

    Examples
    --------
    >>> import numpy as np
    >>> from boostkit.rl import PPO
    >>> from boostkit.rl.export import export_policy, load_exported
    >>> agent = PPO("CartPole-v1", n_envs=2, n_steps=32, batch_size=32, seed=0).learn(128)
    >>> mod = load_exported(export_policy(agent))
    >>> obs = np.random.default_rng(0).normal(size=(5, 4))
    >>> bool(np.all(mod.predict(obs) == agent.predict(obs, deterministic=True)[0]))
    True
    """
    pol = getattr(agent, "policy", agent)
    n_act = pol.n_actions   # logits, or the Gaussian mean (a log-std head is not needed)
    arrays = _padded_arrays(pol.trees, n_act)
    arrays["n_actions"] = np.array(n_act)
    if pol.kind == "continuous":
        arrays["low"] = np.asarray(pol.action_space.low, float)
        arrays["high"] = np.asarray(pol.action_space.high, float)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    codec = pol.action_codec
    categorical = codec.sizes is not None
    source = _TEMPLATE.format(kind=pol.kind,
                              action_sizes=codec.sizes.tolist() if categorical else None,
                              action_starts=codec.starts.tolist() if categorical else None,
                              action_shape=tuple(pol.action_space.shape),
                              action_dtype=str(np.dtype(pol.action_space.dtype)),
                              layout=pol.obs_encoder.layout(), data=data)
    if path is not None:
        Path(path).write_text(source)
    return source


def load_exported(source):
    """Execute an exported module's source and return it as a module object (for testing)."""
    import types

    mod = types.ModuleType("exported_policy")
    exec(compile(source, "<exported_policy>", "exec"), mod.__dict__)
    return mod
