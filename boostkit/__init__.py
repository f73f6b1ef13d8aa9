"""boostkit: influence audits, boosted neural networks and boosted-tree RL for scikit-learn."""

__version__ = "0.1.0"

from .influence import TREX, BoostIn  # noqa: E402
from .neural import GBNNClassifier, GBNNRegressor  # noqa: E402

__all__ = ["__version__", "GBNNRegressor", "GBNNClassifier", "BoostIn", "TREX"]
