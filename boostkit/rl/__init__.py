"""Gradient-boosted trees as actor-critic function approximators (GBRL): PPO, A2C, AWR.

Examples
--------
>>> from boostkit.rl import BoostedTrees
>>> BoostedTrees(3).n_trees_
0
"""

from boostkit._optional import import_optional

import_optional("gymnasium", "rl", "boostkit.rl")  # the install hint before any other import

from boostkit.rl import envs  # noqa: F401  (registers boostkit/ObjectGrid-v0)
from boostkit.rl.algorithms import A2C, AWR, PPO, evaluate_policy
from boostkit.rl.boosted_trees import BoostedTrees, LinearSchedule
from boostkit.rl.export import export_policy
from boostkit.rl.policy import ActorCriticTrees

__all__ = ["BoostedTrees", "LinearSchedule", "ActorCriticTrees", "PPO", "A2C", "AWR",
           "evaluate_policy", "export_policy"]
