"""`TreeEnsemble.apply` against LightGBM's and XGBoost's own leaf prediction (`pred_leaf`).

1,000,000 rows x 500 trees x 63 leaves (20 features), in one process run, 1 and 2 threads.
The models are trained on a 50,000-row sample (training time is not what is measured); numba
compile time is excluded by a warm-up call. Peak memory is the RSS growth during the call,
next to the size of the output array itself.

    python benchmarks/trees_apply.py [--rows 1000000] [--trees 500]
"""

import argparse
import gc

import lightgbm as lgb
import numba
import numpy as np
import xgboost as xgb

from _measure import measure
from boostkit.trees import from_model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trees", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    n_features = 20
    X = rng.normal(size=(args.rows, n_features))
    X[rng.random(X.shape) < 0.02] = np.nan
    coef = rng.normal(size=n_features)
    y = np.nan_to_num(X[:50_000]) @ coef + np.sin(np.nan_to_num(X[:50_000, 0]) * 3)

    lgb_model = lgb.LGBMRegressor(n_estimators=args.trees, num_leaves=63, min_child_samples=5,
                                  learning_rate=0.05, subsample=0.8, subsample_freq=1,
                                  verbose=-1).fit(X[:50_000], y)
    xgb_model = xgb.XGBRegressor(n_estimators=args.trees, max_leaves=63, max_depth=0,
                                 grow_policy="lossguide", learning_rate=0.05,
                                 subsample=0.8).fit(X[:50_000], y)
    out_mb = args.rows * args.trees * 4 / 2**20
    print(f"apply: {args.rows:,} rows x {args.trees} trees x <=63 leaves, {n_features} features; "
          f"output int32 = {out_mb:,.0f} MB")
    rows = []
    for name, model in (("LightGBM", lgb_model), ("XGBoost", xgb_model)):
        ens = from_model(model, X_check=X[:2_000])
        ens.apply(X[:100])  # warm-up: compile (or load cached) kernels
        booster = model.booster_ if name == "LightGBM" else model.get_booster()
        for threads in (1, 2):
            numba.set_num_threads(threads)
            if name == "LightGBM":
                peer = lambda: booster.predict(X, pred_leaf=True, num_threads=threads)  # noqa
            else:
                booster.set_param({"nthread": threads})
                peer = lambda: booster.inplace_predict(X, predict_type="leaf")  # noqa
            t_ours, m_ours, ours = measure(lambda: ens.apply(X), args.repeat)
            del ours
            gc.collect()
            t_peer, m_peer, theirs = measure(peer, args.repeat)
            del theirs
            gc.collect()
            rows.append((name, threads, t_ours, t_peer, m_ours / 2**20, m_peer / 2**20))
            print(f"{name:8s} threads={threads}: ours {t_ours:6.2f} s, peer {t_peer:6.2f} s, "
                  f"ratio {t_ours / t_peer:5.2f}; peak memory ours {m_ours / 2**20:7.0f} MB, "
                  f"peer {m_peer / 2**20:7.0f} MB", flush=True)
    print()
    print("| peer | threads | ours (s) | peer (s) | ratio ours/peer | ours peak MB | peer peak MB |")
    print("|---|---|---|---|---|---|---|")
    for name, threads, t_o, t_p, m_o, m_p in rows:
        print(f"| {name} | {threads} | {t_o:.2f} | {t_p:.2f} | {t_o / t_p:.2f} | {m_o:.0f} | "
              f"{m_p:.0f} |")
    print(f"\noutput array alone: {out_mb:.0f} MB")


if __name__ == "__main__":
    main()
