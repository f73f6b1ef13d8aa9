"""Tour, part 1: one tree-ensemble model read from every GBDT library.

Fits LightGBM, XGBoost, CatBoost and scikit-learn models on a data set bundled with
scikit-learn, reads each with ``boostkit.trees.from_model`` and checks that the parsed ensemble
reproduces the library's own raw scores and leaf assignments.
"""

import time

import lightgbm as lgb
import numpy as np
import xgboost as xgb
from catboost import CatBoostClassifier
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

from boostkit.trees import from_model


def main():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.copy()
    X.iloc[::17, 3] = np.nan  # a few missing values, routed by each library's own rule
    print(f"breast cancer: {X.shape[0]} rows x {X.shape[1]} named columns, "
          f"{int(X.isna().sum().sum())} missing values\n")

    model = lgb.LGBMClassifier(n_estimators=100, num_leaves=15, verbose=-1, n_jobs=1).fit(X, y)
    ensemble = from_model(model, X_check=X)  # raises ModelParseError on any mismatch
    print(ensemble.summary())
    ours = ensemble.predict_raw(X)[:, 0]
    theirs = model.predict(X, raw_score=True)
    leaves = ensemble.apply(X)
    print(f"  parity: max |raw score difference| = {np.abs(ours - theirs).max():.2e}; "
          f"leaf ids equal to LightGBM's pred_leaf: "
          f"{bool((leaves[:, :, 0] == model.predict(X, pred_leaf=True)).all())}\n")

    others = [
        xgb.XGBClassifier(n_estimators=100, max_depth=4, n_jobs=1),
        CatBoostClassifier(iterations=100, depth=4, verbose=0, thread_count=1,
                           allow_writing_files=False),
        HistGradientBoostingClassifier(max_iter=100),
        RandomForestClassifier(n_estimators=50, random_state=0),
    ]
    print("every library, parity-checked on the training rows:")
    for model in others:
        model.fit(X, y)
        start = time.perf_counter()
        ens = from_model(model, X_check=X)
        print(f"  {ens.source:45s} {ens.n_rounds:4d} rounds x {ens.n_outputs} outputs, "
              f"up to {ens.max_leaves:3d} leaves, bias {ens.bias.round(4)}: parity OK "
              f"({time.perf_counter() - start:.2f} s)")


if __name__ == "__main__":
    main()
