"""Compile and cache every numba kernel of boostkit and streamml at once.

numba compiles a kernel on its first call and caches the machine code on disk (see
``boostkit/_numba_cache.py`` for where). Without a warm-up, each public first call (a first
``BoostIn().fit``, ``GBNNClassifier().fit``, ``PPO.learn``, ``MLHAT.learn_one``, ...) pays the
compile time of the kernels it reaches, several seconds each. :func:`warmup` runs every public
path once on a few rows of synthetic data, so that all of them find their kernels in the cache.
``boostkit warmup`` (or ``python -m boostkit warmup``) is the command-line form.

Examples
--------
>>> from boostkit.warmup import STEPS
>>> "influence: BoostIn and TREX" in STEPS
True
"""

from __future__ import annotations

import importlib.util
import time
import warnings

import numpy as np
from tqdm.auto import tqdm

__all__ = ["warmup", "STEPS"]


def _data(n=80, n_features=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    X[::17, 1] = np.nan  # missing values: the libraries' missing-value routing
    return X, rng


def _lightgbm_models(n=80, n_estimators=4):
    import lightgbm as lgb

    X, rng = _data(n)
    labels = {
        "logistic": (X[:, 0] > 0).astype(int),
        "softmax": np.digitize(X[:, 0], [-0.5, 0.5]),
        "squared_error": np.nan_to_num(X[:, 0]) + rng.normal(scale=0.1, size=len(X)),
    }
    models = {}
    for objective, y in labels.items():
        cls = lgb.LGBMRegressor if objective == "squared_error" else lgb.LGBMClassifier
        model = cls(n_estimators=n_estimators, num_leaves=4, min_child_samples=5, verbose=-1,
                    n_jobs=1).fit(X, y)
        models[objective] = (model, X, y)
    return models


def _trees():
    import xgboost as xgb
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    from .trees import from_model

    fitted = [model for model, _, _ in _lightgbm_models().values()]
    X, _ = _data()
    y = (X[:, 0] > 0).astype(int)
    fitted.append(xgb.XGBClassifier(n_estimators=3, max_depth=2, n_jobs=1).fit(X, y))
    codes = np.column_stack([X[:, :3], np.arange(len(X)) % 4])  # a categorical column
    hist = HistGradientBoostingClassifier(max_iter=3, categorical_features=[3])
    fitted.append(hist.fit(codes, y))
    fitted.append(RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y))
    for model in fitted:
        data = codes if model is hist else X
        ensemble = from_model(model, X_check=data[:20])
        ensemble.apply(data)
        ensemble.predict_raw(data)


def _influence_fast():
    from .influence import TREX, BoostIn

    for objective, (model, X, y) in _lightgbm_models().items():
        for explainer in (BoostIn(), BoostIn(mode="exact"), TREX()):
            explainer.fit(model, X, y)
            explainer.local_influence(X[:5], y[:5])
            explainer.local_influence(X[:5], y[:5], top_k=3)
            explainer.self_influence()
            if objective == "softmax" and not isinstance(explainer, TREX):
                explainer.local_influence(X[:5], y[:5], per_output=True)


def _influence_slow():
    from .influence import LeafInfluence, LeafInfluenceSP, LeafRefit

    cases = list(_lightgbm_models(n=40, n_estimators=3).values())
    if importlib.util.find_spec("catboost") is not None:
        import catboost

        X, y = cases[1][1], cases[1][2]  # CatBoost MultiClass: the full K x K Newton path
        model = catboost.CatBoostClassifier(iterations=3, depth=2, leaf_estimation_iterations=1,
                                            thread_count=1, verbose=False,
                                            allow_writing_files=False).fit(X, y)
        cases.append((model, X, y))
    for model, X, y in cases:
        for explainer in (LeafInfluence(), LeafInfluenceSP(), LeafRefit()):
            explainer.fit(model, X, y)
            explainer.local_influence(X[:3], y[:3])
            explainer.local_influence(X[:3], y[:3], top_k=2)
            explainer.self_influence()


def _baselines():
    from .influence import InputSim, LeafSim, Loss, Random, Target, TreeSim

    for model, X, y in _lightgbm_models().values():
        for explainer in (Random(), Target(), InputSim(), LeafSim(), TreeSim()):
            explainer.fit(model, X, y)
            explainer.local_influence(X[:5], y[:5])
            explainer.local_influence(X[:5], y[:5], top_k=3)
        Loss().fit(model, X, y).self_influence()
        LeafSim().fit(model, X, y).self_influence()


def _gbnn():
    from .neural import GBNNClassifier, GBNNRegressor

    X, rng = _data(n=60)
    X = np.nan_to_num(X)
    GBNNRegressor(max_iter=2, random_state=0).fit(X, X[:, 0] + rng.normal(size=len(X)))
    GBNNClassifier(max_iter=2, random_state=0).fit(X, X[:, 0] > 0)
    GBNNClassifier(max_iter=2, random_state=0).fit(X, np.digitize(X[:, 0], [-0.5, 0.5]))


def _rl():
    from .rl import PPO, BoostedTrees

    X, rng = _data(n=256)
    X = np.nan_to_num(X)
    grads = rng.normal(size=(len(X), 2))
    categories = np.column_stack([X[:, :3], rng.integers(0, 5, size=len(X))])
    for grow_policy in ("oblivious", "greedy"):
        for features in (None, [3]):
            trees = BoostedTrees(2, max_depth=3, grow_policy=grow_policy,
                                 categorical_features=features, seed=0)
            trees.step(categories, grads)
            trees.predict(categories[:8])  # the serial kernel (few rows)
            trees.predict(np.tile(categories, (800, 1)))  # the parallel one (many rows)
    PPO("CartPole-v1", n_envs=2, n_steps=32, batch_size=32, seed=0).learn(64)
    PPO("Pendulum-v1", n_envs=2, n_steps=32, batch_size=32, seed=0).learn(64)


def _streamml():
    if importlib.util.find_spec("streamml") is None:
        return
    from streamml.datasets import Emotions, SparseTopicStream
    from streamml.multilabel import IHOMER, MLHAT

    dense = [row for _, row in zip(range(60), Emotions())]
    # wide sparse words: the sparse leaf models, presence splits and learned thresholds
    words = list(SparseTopicStream(n_features=200, n_labels=12, n_groups=3, n_samples=120,
                                   only_present=True, seed=0))
    for model, rows in ((MLHAT(grace_period=20, seed=0), dense),
                        (IHOMER(n_min=20, seed=0), dense),
                        (MLHAT(grace_period=20, sparse=True, calibrated=True, seed=0), words)):
        for x, y in rows:
            model.predict_one(x)
            model.predict_proba_one(x)
            model.learn_one(x, y)


# name -> what it runs; in the order the progress bar shows them
STEPS = {
    "trees: from_model, apply, predict_raw": _trees,
    "influence: BoostIn and TREX": _influence_fast,
    "influence: LeafInfluence, LeafInfluenceSP, LeafRefit": _influence_slow,
    "influence: baselines": _baselines,
    "neural: GBNNRegressor, GBNNClassifier": _gbnn,
    "rl: BoostedTrees, PPO": _rl,
    "streamml: MLHAT, IHOMER": _streamml,
}


def warmup(verbose=1):
    """Compile (or load from the cache) every numba kernel of boostkit and streamml.

    Runs each public path once on a few rows of synthetic data (the bundled *emotions* stream
    for streamml); the compiled code lands in numba's cache, where every later process finds
    it. Needs the optional parts that are installed (gymnasium for ``boostkit.rl``); steps
    whose dependencies are missing are skipped and reported.

    Parameters
    ----------
    verbose : int, default=1
        1 shows a progress bar over the steps and a line per skipped step.

    Returns
    -------
    dict
        Step name -> seconds it took, or the reason it was skipped (a str).
    """
    results = {}
    steps = tqdm(STEPS.items(), desc="boostkit warmup", total=len(STEPS), disable=not verbose,
                 unit="step")
    for name, run in steps:
        steps.set_postfix_str(name)
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run()
        except ImportError as error:  # an optional part is not installed
            results[name] = f"skipped: {error}"
            if verbose:
                tqdm.write(f"{name}: skipped ({error})")
            continue
        results[name] = time.perf_counter() - start
    return results
