"""streamml: online multi-label learning for river (iHOMER, MLHAT)."""

__version__ = "0.1.0"

import os as _os

from ._numba_cache import ensure_writable_cache as _ensure_writable_cache

_ensure_writable_cache(_os.path.dirname(__file__))  # before any kernel is decorated

__all__ = ["__version__"]
