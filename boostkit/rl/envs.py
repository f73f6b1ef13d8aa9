"""A small gridworld whose observations are categorical: the named objects around the agent.

``boostkit/ObjectGrid-v0`` (registered with gymnasium on import): a ``size`` x ``size`` grid
with a goal, lava and harmless decoy objects, re-drawn every episode. The agent sees the object
codes of its 8 neighbouring cells (outside the grid: "wall") and the direction of the goal per
axis (0 = before, 1 = same, 2 = after); actions move up / down / left / right. Reward +1 on the
goal, -1 on lava (both end the episode), 0 otherwise; 50 steps at most.

Object codes are names, not quantities: lava is code 5 between harmless codes, so a threshold on
the code cannot isolate it while an "equals" split can.

Examples
--------
>>> import gymnasium as gym
>>> import boostkit.rl.envs
>>> env = gym.make("boostkit/ObjectGrid-v0")
>>> obs, _ = env.reset(seed=0)
>>> obs.shape, env.observation_space.nvec.tolist()[:3]
((10,), [8, 8, 8])
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

__all__ = ["ObjectGridWorld", "OBJECTS"]

OBJECTS = ("empty", "ball", "wall", "box", "key", "lava", "flower", "goal")
_EMPTY, _WALL, _LAVA, _GOAL = 0, 2, 5, 7
_DECOYS = (1, 3, 4, 6)
_MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])
_NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


class ObjectGridWorld(gym.Env):
    """Gridworld with categorical observations (see the module docstring).

    Parameters
    ----------
    size : int, default=6
    lava_fraction, decoy_fraction : float
        Share of cells holding lava / harmless objects.
    max_steps : int, default=50
    """

    metadata = {"render_modes": []}

    def __init__(self, size=6, lava_fraction=0.15, decoy_fraction=0.25, max_steps=50):
        self.size = size
        self.lava_fraction = lava_fraction
        self.decoy_fraction = decoy_fraction
        self.max_steps = max_steps
        self.observation_space = gym.spaces.MultiDiscrete([len(OBJECTS)] * 8 + [3, 3])
        self.action_space = gym.spaces.Discrete(4)

    def _obs(self):
        r, c = self.pos
        codes = []
        for dr, dc in _NEIGHBOURS:
            rr, cc = r + dr, c + dc
            inside = 0 <= rr < self.size and 0 <= cc < self.size
            codes.append(self.grid[rr, cc] if inside else _WALL)
        gr, gc = self.goal
        codes += [int(np.sign(gr - r)) + 1, int(np.sign(gc - c)) + 1]
        return np.array(codes, dtype=np.int64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        rng = self.np_random
        n = self.size
        u = rng.random((n, n))
        grid = np.full((n, n), _EMPTY, dtype=np.int64)
        grid[u < self.lava_fraction] = _LAVA
        decoy = (u >= self.lava_fraction) & (u < self.lava_fraction + self.decoy_fraction)
        grid[decoy] = rng.choice(_DECOYS, size=int(decoy.sum()))
        cells = rng.permutation(n * n)[:2]
        self.pos = np.array(divmod(int(cells[0]), n))
        self.goal = np.array(divmod(int(cells[1]), n))
        grid[tuple(self.pos)] = _EMPTY
        grid[tuple(self.goal)] = _GOAL
        self.grid = grid
        self.steps = 0
        return self._obs(), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be in Discrete(4); got {action!r}")
        self.steps += 1
        new = self.pos + _MOVES[int(action)]
        if np.all((new >= 0) & (new < self.size)):
            self.pos = new
        cell = self.grid[tuple(self.pos)]
        reward, terminated = 0.0, False
        if cell == _GOAL:
            reward, terminated = 1.0, True
        elif cell == _LAVA:
            reward, terminated = -1.0, True
        truncated = not terminated and self.steps >= self.max_steps
        return self._obs(), reward, terminated, truncated, {}


if "boostkit/ObjectGrid-v0" not in gym.registry:
    gym.register(id="boostkit/ObjectGrid-v0", entry_point=ObjectGridWorld, max_episode_steps=None)
