"""boostkit: influence audits, boosted neural networks and boosted-tree RL for scikit-learn."""

__version__ = "0.1.0"

__all__ = ["__version__"]
