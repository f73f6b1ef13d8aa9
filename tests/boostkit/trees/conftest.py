"""Data sets for the parity matrix: plain arrays, missing values, named DataFrames, categoricals."""

import numpy as np
import pandas as pd
import pytest

N_ROWS = 600
VARIANTS = ("plain", "missing", "dataframe", "categorical")
OBJECTIVES = ("squared_error", "logistic", "softmax")


def make_data(variant, objective, seed=0):
    """(X_train, y, X_other): X_other is a fresh sample of the same kind (unseen rows)."""
    rng = np.random.default_rng(seed)

    def sample(n):
        X = rng.normal(size=(n, 5))
        X[:, 3] = np.round(X[:, 3], 1)  # ties at thresholds
        frame = pd.DataFrame(X, columns=["age", "income", "score", "ratio", "noise"])
        if variant in ("missing", "categorical"):
            frame = frame.mask(rng.random(frame.shape) < 0.15)
        if variant == "categorical":
            frame["city"] = pd.Categorical(
                rng.choice(["Lyon", "Oslo", "Pune", "Quito", "Rome"], n),
                categories=["Lyon", "Oslo", "Pune", "Quito", "Rome"])
            frame.loc[rng.random(n) < 0.1, "city"] = np.nan
        return frame

    frame, other = sample(N_ROWS), sample(N_ROWS // 2)
    signal = (2 * frame["age"].fillna(0) - frame["income"].fillna(1) ** 2
              + np.sin(3 * frame["score"].fillna(0)))
    if variant == "categorical":
        signal = signal + frame["city"].map(
            {"Lyon": 2.0, "Oslo": -1.5, "Pune": 0.5, "Quito": -0.5, "Rome": 1.0}
        ).astype(float).fillna(0.0)
    if objective == "squared_error":
        y = signal + 0.3 * rng.normal(size=N_ROWS)
    elif objective == "logistic":
        y = (signal + 0.5 * rng.normal(size=N_ROWS) > 0).astype(int)
    else:
        y = np.digitize(signal + 0.5 * rng.normal(size=N_ROWS),
                        np.quantile(signal, [0.33, 0.66]))
    y = np.asarray(y)
    if variant in ("plain", "missing"):
        return frame.to_numpy(), y, other.to_numpy()
    return frame, y, other


@pytest.fixture(params=VARIANTS)
def variant(request):
    return request.param


@pytest.fixture(params=OBJECTIVES)
def objective(request):
    return request.param
