"""Online multi-label learning for river: MLHAT, online label clustering and iHOMER."""

from .clustering import LabelClusterer
from .ihomer import IHOMER
from .mlhat import MLHAT

__all__ = ["IHOMER", "LabelClusterer", "MLHAT"]
