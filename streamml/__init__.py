"""streamml: online multi-label learning for river (iHOMER, MLHAT)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
