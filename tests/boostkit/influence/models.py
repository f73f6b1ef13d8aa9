"""Small fitted models of every library and objective for the influence tests (cached)."""

import functools

import numpy as np

LIBRARIES = ("lightgbm", "xgboost", "catboost", "hist_gradient_boosting", "gradient_boosting")
OBJECTIVES = ("squared_error", "logistic", "softmax")
N_TRAIN, N_TEST = 240, 30


@functools.lru_cache(maxsize=None)
def make_data(objective, missing=True, seed=0):
    """X_train, y_train, X_test, y_test, sample_weight."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    X = rng.normal(size=(n, 5))
    X[:, 3] = np.round(X[:, 3], 1)
    signal = 2 * X[:, 0] - X[:, 1] ** 2 + np.sin(3 * X[:, 2])
    if missing:
        X[rng.random(X.shape) < 0.1] = np.nan
    if objective == "squared_error":
        y = signal + 0.3 * rng.normal(size=n)
    elif objective == "logistic":
        y = (signal + 0.7 * rng.normal(size=n) > 0).astype(int)
    else:
        y = np.digitize(signal + 0.7 * rng.normal(size=n), np.quantile(signal, [0.33, 0.66]))
    w = rng.uniform(0.5, 2.0, size=N_TRAIN)
    return X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:], w


def n_outputs(objective):
    return 3 if objective == "softmax" else 1


@functools.lru_cache(maxsize=None)
def make_model(library, objective, weighted=True):
    """A fitted model; missing values wherever the library takes them."""
    missing = library != "gradient_boosting"
    X, y, _, _, w = make_data(objective, missing)
    weights = w if weighted else None
    classifier = objective != "squared_error"
    if library == "lightgbm":
        import lightgbm as lgb

        cls = lgb.LGBMClassifier if classifier else lgb.LGBMRegressor
        model = cls(n_estimators=8, num_leaves=6, learning_rate=0.3, reg_lambda=0.5,
                    min_child_samples=5, verbose=-1)
    elif library == "xgboost":
        import xgboost as xgb

        cls = xgb.XGBClassifier if classifier else xgb.XGBRegressor
        model = cls(n_estimators=8, max_depth=3, learning_rate=0.3, reg_lambda=1.5,
                    tree_method="hist", n_jobs=1)
    elif library == "catboost":
        import catboost as cb

        cls = cb.CatBoostClassifier if classifier else cb.CatBoostRegressor
        model = cls(iterations=8, depth=3, learning_rate=0.3, l2_leaf_reg=2.0,
                    leaf_estimation_iterations=1, leaf_estimation_method="Newton",
                    boosting_type="Plain", random_seed=0, verbose=False, thread_count=1,
                    allow_writing_files=False)
    elif library == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier as HC
        from sklearn.ensemble import HistGradientBoostingRegressor as HR

        cls = HC if classifier else HR
        model = cls(max_iter=8, max_leaf_nodes=6, learning_rate=0.3, l2_regularization=0.5,
                    early_stopping=False, random_state=0)
    elif library == "gradient_boosting":
        from sklearn.ensemble import GradientBoostingClassifier as GC
        from sklearn.ensemble import GradientBoostingRegressor as GR

        cls = GC if classifier else GR
        model = cls(n_estimators=8, max_depth=2, learning_rate=0.3, random_state=0)
    else:
        raise ValueError(library)
    return model.fit(X, y, sample_weight=weights), X, y, weights


def reader_available(library):
    import importlib

    name = {"hist_gradient_boosting": "sklearn", "gradient_boosting": "sklearn"}.get(library,
                                                                                   library)
    try:
        importlib.import_module(f"boostkit.trees.parsers.{name}")
    except ImportError:
        return False
    return True
