"""boostkit: influence audits, boosted neural networks and boosted-tree RL for scikit-learn."""

__version__ = "0.1.0"

import os as _os  # noqa: E402

from ._numba_cache import ensure_writable_cache as _ensure_writable_cache  # noqa: E402

_ensure_writable_cache(_os.path.dirname(__file__))  # before any kernel is decorated

from .influence import TREX, BoostIn  # noqa: E402
from .neural import GBNNClassifier, GBNNRegressor  # noqa: E402

__all__ = ["__version__", "GBNNRegressor", "GBNNClassifier", "BoostIn", "TREX"]
