"""Which training rows made this prediction, and which look wrong: influence for tree ensembles.

:class:`BoostIn` traces every training row through the boosting rounds of a fitted
gradient-boosted model; :class:`TREX` explains any tree ensemble (forests included) through a
kernel surrogate on its leaves. Both share one API: ``fit(model, X, y)``,
``local_influence(X_test, y_test, top_k=None)`` and ``self_influence()``.
"""

from ._base import TopInfluence
from .boostin import BoostIn
from .trex import TREX
from .leaf_influence import LeafInfluence, LeafInfluenceSP, LeafRefit
from .report import AuditReport, audit
from .retraining import LOO, SubSample
from .baselines import InputSim, LeafSim, Loss, Random, Target, TreeSim
from . import evaluate

__all__ = ["evaluate", "BoostIn", "TREX", "TopInfluence", "LeafInfluence", "LeafInfluenceSP", "LeafRefit", "audit", "AuditReport", "LOO", "SubSample", "Random", "Target", "InputSim", "LeafSim", "TreeSim", "Loss"]
