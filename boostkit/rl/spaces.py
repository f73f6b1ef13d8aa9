"""Gymnasium spaces as the trees see them: observations -> feature matrix, indices -> actions.

Observations are flattened into one float feature row. Box and MultiBinary parts are numerical
features; Discrete and MultiDiscrete parts are categorical features (the trees split them by
"equals value"), or one-hot columns with ``one_hot=True``. Dict and Tuple spaces are flattened
part by part, in the space's own order, recursively.

Actions: a Discrete space (any ``start``) is a softmax over ``n`` choices, index ``i`` meaning
action ``start + i``; a MultiDiscrete space is one such softmax per entry (with its own
``start``), a MultiBinary space one two-way softmax per entry; a 1-D Box is a Gaussian whose
samples are clipped to the bounds before they reach the environment.

Examples
--------
>>> import numpy as np
>>> from gymnasium import spaces
>>> space = spaces.Dict({"pos": spaces.Box(-1, 1, (2,)), "door": spaces.Discrete(3, start=1)})
>>> enc = ObservationEncoder(space)
>>> enc.feature_names, enc.categorical.tolist()
(['door', 'pos[0]', 'pos[1]'], [True, False, False])
>>> enc.transform({"pos": np.array([0.5, -0.5]), "door": 2})
array([[ 2. ,  0.5, -0.5]])
>>> ActionCodec(spaces.Discrete(3, start=-1)).to_env(np.array([0, 1, 2]))
array([-1,  0,  1])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ObservationEncoder", "ActionCodec"]


@dataclass
class _Part:
    """One leaf space of a (possibly nested) observation space."""

    path: tuple          # keys / indices from the root observation to this part
    name: str            # feature-name prefix
    shape: tuple         # shape of ONE observation of this part
    categorical: bool
    sizes: np.ndarray    # categories per feature (categorical parts)
    starts: np.ndarray   # smallest code per feature (categorical parts)

    @property
    def width(self):
        return int(np.prod(self.shape, dtype=np.int64))


def _space_text(space):
    from gymnasium import spaces

    text = repr(space)
    if isinstance(space, spaces.Text):
        text = text.split(", charset=")[0] + ", charset=...)"
    return text


def _parts(space, path=(), name="obs"):
    from gymnasium import spaces

    if isinstance(space, spaces.Box):
        return [_Part(path, name, tuple(space.shape), False, None, None)]
    if isinstance(space, spaces.MultiBinary):
        shape = (int(space.n),) if np.ndim(space.n) == 0 else tuple(space.n)
        return [_Part(path, name, shape, False, None, None)]
    if isinstance(space, spaces.Discrete):
        return [_Part(path, name, (), True, np.array([int(space.n)]),
                      np.array([int(space.start)]))]
    if isinstance(space, spaces.MultiDiscrete):
        sizes = np.asarray(space.nvec, dtype=np.int64)
        starts = np.broadcast_to(np.asarray(getattr(space, "start", 0), dtype=np.int64),
                                 sizes.shape)
        return [_Part(path, name, tuple(sizes.shape), True, sizes.ravel(), starts.ravel())]
    if isinstance(space, spaces.Dict):
        out = []
        for key, sub in space.spaces.items():
            out += _parts(sub, path + (key,), str(key) if not path else f"{name}.{key}")
        return out
    if isinstance(space, spaces.Tuple):
        out = []
        for i, sub in enumerate(space.spaces):
            out += _parts(sub, path + (i,), f"{name}[{i}]" if path else f"obs[{i}]")
        return out
    raise ValueError(f"observation space {_space_text(space)} is not supported; use Box, "
                     "Discrete, MultiDiscrete, MultiBinary, or a Dict / Tuple of them")


def _part_of(obs, path):
    for key in path:
        obs = obs[key]
    return obs


class ObservationEncoder:
    """Flattens observations of a gymnasium space into the float features the trees see.

    Parameters
    ----------
    space : gymnasium.spaces.Space
        Box, Discrete, MultiDiscrete, MultiBinary, or a Dict / Tuple of them (nested allowed).
    one_hot : bool, default=False
        Encode categorical parts as one-hot columns (numerical splits) instead of one
        categorical feature each.

    Attributes
    ----------
    n_features : int
    categorical : ndarray of bool, shape (n_features,)
        Features the trees split by "equals value".
    feature_names : list of str
        ``pos[1]``, ``door`` (a Discrete part), ``door=2`` (its one-hot column), ...

    Examples
    --------
    >>> import numpy as np
    >>> from gymnasium import spaces
    >>> enc = ObservationEncoder(spaces.Box(-1, 1, (4,)))
    >>> enc.transform(np.zeros((7,)))
    Traceback (most recent call last):
    ...
    ValueError: observation of shape (7,) does not match the observation space Box(-1.0, 1.0, (4,), float32): expected shape (4,) for one observation or (n, 4) for a batch
    """

    def __init__(self, space, one_hot=False):
        self.space = space
        self.one_hot = bool(one_hot)
        self.parts = _parts(space)
        names, cat = [], []
        for p in self.parts:
            if p.categorical and self.one_hot:
                for j, (size, start) in enumerate(zip(p.sizes, p.starts)):
                    base = p.name if p.shape == () else f"{p.name}[{j}]"
                    names += [f"{base}={start + c}" for c in range(size)]
                    cat += [False] * int(size)
            elif p.shape == ():
                names.append(p.name)
                cat.append(p.categorical)
            else:
                names += [f"{p.name}[{j}]" for j in range(p.width)]
                cat += [p.categorical] * p.width
        self.feature_names = names
        self.categorical = np.array(cat, dtype=bool)
        self.n_features = len(names)
        # one array part, no one-hot: a reshape (the per-step path of most envs)
        first = self.parts[0]
        self._plain_shape = (first.shape if len(self.parts) == 1
                             and not (first.categorical and self.one_hot) else None)

    def is_single(self, obs):
        """True for one observation, False for a batch; errors name the shapes otherwise."""
        first = self.parts[0]
        shape = np.shape(_part_of(obs, first.path))
        if shape == first.shape:
            return True
        if len(shape) == len(first.shape) + 1 and shape[1:] == first.shape:
            return False
        where = "" if not first.path else f" part {first.name!r}"
        batch = (("n",) + first.shape)
        raise ValueError(f"observation{where} of shape {shape} does not match the observation "
                         f"space {_space_text(self.space)}: expected shape {first.shape} for one "
                         f"observation or {batch} for a batch".replace("'n'", "n"))

    def transform(self, obs):
        """(n, n_features) float features of a batch (or (1, n_features) of one observation)."""
        if self._plain_shape is not None and not isinstance(obs, (dict, tuple)):
            a = np.asarray(obs, dtype=np.float64)
            if a.shape == self._plain_shape:
                return a.reshape(1, self.n_features)
            if a.shape[1:] == self._plain_shape and a.ndim == len(self._plain_shape) + 1:
                return np.ascontiguousarray(a.reshape(a.shape[0], self.n_features))
        single = self.is_single(obs)
        columns = []
        n = None
        for p in self.parts:
            a = np.asarray(_part_of(obs, p.path), dtype=np.float64)
            if single:
                a = a[None]
            if a.shape[1:] != p.shape or (n is not None and a.shape[0] != n):
                expected = p.shape if single else (n if n is not None else "n",) + p.shape
                raise ValueError(f"observation part {p.name!r} has shape "
                                 f"{a.shape[1:] if single else a.shape}; expected {expected}")
            n = a.shape[0]
            a = a.reshape(n, p.width)
            if p.categorical and self.one_hot:
                codes = (a - p.starts).astype(np.int64)
                if np.any(codes < 0) or np.any(codes >= p.sizes):
                    raise ValueError(f"observation part {p.name!r} has codes outside "
                                     f"[start, start + n) of its space")
                block = np.zeros((n, int(p.sizes.sum())))
                offsets = np.concatenate([[0], np.cumsum(p.sizes)[:-1]])
                block[np.arange(n)[:, None], offsets + codes] = 1.0
                a = block
            columns.append(a)
        X = columns[0] if len(columns) == 1 else np.hstack(columns)
        return np.ascontiguousarray(X)

    def layout(self):
        """Plain description of the parts (for export): list of (path, shape, one-hot sizes,
        starts or None)."""
        return [(p.path, p.shape,
                 p.sizes.tolist() if (p.categorical and self.one_hot) else None,
                 p.starts.tolist() if (p.categorical and self.one_hot) else None)
                for p in self.parts]


class ActionCodec:
    """Maps the policy's actions (indices 0..n-1 per categorical dimension, or real vectors) to
    the env's.

    Parameters
    ----------
    space : gymnasium.spaces.Discrete, MultiDiscrete, MultiBinary or 1-D Box

    Attributes
    ----------
    kind : {"discrete", "multi_discrete", "continuous"}
        One softmax (Discrete), one softmax per dimension (MultiDiscrete, and MultiBinary as
        MultiDiscrete with two choices per entry) or a Gaussian (Box).
    n_actions : int
        Policy outputs of the action: logits (``sum(sizes)``) or Box dimensions.
    sizes, starts : ndarray of int
        Choices and smallest action per categorical dimension (flattened); None for Box.
    action_shape : tuple
        Shape of one policy action: ``()`` (Discrete), ``(len(sizes),)`` or ``(n_actions,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from gymnasium import spaces
    >>> ActionCodec(spaces.Box(0, 1, (2,))).to_env(np.array([[-0.5, 0.5]]))
    array([[0. , 0.5]], dtype=float32)
    >>> codec = ActionCodec(spaces.MultiDiscrete([2, 3], start=[1, -1]))
    >>> codec.n_actions, codec.to_env(np.array([[0, 0], [1, 2]]))
    (5, array([[ 1, -1],
           [ 2,  1]]))
    """

    def __init__(self, space):
        from gymnasium import spaces

        self.space = space
        self.low = self.high = None
        if isinstance(space, spaces.Discrete):
            self.kind = "discrete"
            self.sizes, self.starts = np.array([int(space.n)]), np.array([int(space.start)])
            self.action_shape = ()
        elif isinstance(space, (spaces.MultiDiscrete, spaces.MultiBinary)):
            self.kind = "multi_discrete"
            shape = tuple(space.shape)
            if isinstance(space, spaces.MultiBinary):
                self.sizes = np.full(int(np.prod(shape)), 2, dtype=np.int64)
                self.starts = np.zeros_like(self.sizes)
            else:
                self.sizes = np.asarray(space.nvec, dtype=np.int64).ravel()
                self.starts = np.broadcast_to(np.asarray(getattr(space, "start", 0),
                                                         dtype=np.int64), shape).ravel()
            self.action_shape = (self.sizes.shape[0],)
        elif isinstance(space, spaces.Box) and len(space.shape) == 1:
            self.kind = "continuous"
            self.sizes = self.starts = None
            self.action_shape = (int(space.shape[0]),)
            self.low = np.asarray(space.low, dtype=np.float64)
            self.high = np.asarray(space.high, dtype=np.float64)
        else:
            raise ValueError(f"action space {space!r} is not supported; use Discrete, "
                             "MultiDiscrete, MultiBinary or a 1-D Box")
        self.n_actions = (int(self.sizes.sum()) if self.sizes is not None
                          else self.action_shape[0])
        self.start = int(self.starts[0]) if self.kind == "discrete" else 0

    def to_env(self, actions):
        """Policy actions (a batch) -> actions the environment accepts: indices shifted by the
        space's ``start`` and shaped as the space (MultiDiscrete / MultiBinary); Box vectors
        clipped to the bounds; both in the space's dtype (gymnasium's ``contains`` refuses a
        float64 action for a float32 Box)."""
        if self.kind == "discrete":
            return np.asarray(actions, dtype=np.int64) + self.start
        if self.kind == "multi_discrete":
            a = np.asarray(actions, dtype=np.int64) + self.starts
            return a.reshape((a.shape[0],) + tuple(self.space.shape)).astype(self.space.dtype,
                                                                               copy=False)
        return np.clip(actions, self.low, self.high).astype(self.space.dtype, copy=False)
