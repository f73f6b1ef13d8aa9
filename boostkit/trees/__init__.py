"""One tree-ensemble model read from LightGBM, XGBoost, CatBoost and scikit-learn."""

from ..exceptions import ModelParseError, UnsupportedModelError
from .ensemble import TreeEnsemble
from .grower import GrownTree, grow_tree
from .parsers import check_parity, from_model

__all__ = ["TreeEnsemble", "from_model", "check_parity", "UnsupportedModelError",
           "ModelParseError", "GrownTree", "grow_tree"]
