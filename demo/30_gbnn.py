"""Tour: a gradient-boosted neural network on breast cancer, its accuracy-vs-units curve, and
the exported scikit-learn MLP.

Writes demo/out/gbnn_units.png.
"""

import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from boostkit import GBNNClassifier

OUT = Path(__file__).resolve().parent / "out"


def main():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                        random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    GBNNClassifier(max_iter=2).fit(X_train[:50], y_train[:50])  # numba compile, not timed
    start = time.perf_counter()
    # Early stopping off: the demo draws the whole 100-unit staged curve.
    model = GBNNClassifier(max_iter=100, units_per_step=1, early_stopping=False,
                           random_state=0).fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    print(f"GBNNClassifier: {model.n_iter_} boosting steps -> {model.n_units_} hidden units "
          f"in {fit_time:.2f} s; test accuracy {model.score(X_test, y_test):.4f}")

    start = time.perf_counter()
    with warnings.catch_warnings(), threadpool_limits(1):
        # One BLAS thread: on a busy 2-core machine more threads only fight each other.
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp_ref = MLPClassifier(hidden_layer_sizes=(100,), random_state=0).fit(X_train, y_train)
    print(f"MLPClassifier(100 units, adam): {time.perf_counter() - start:.2f} s; "
          f"test accuracy {mlp_ref.score(X_test, y_test):.4f}")

    curve = np.array(list(model.staged_score(X_test, y_test)))
    units = np.arange(1, model.n_iter_ + 1) * model.units_per_step
    print("accuracy with the first k units:",
          ", ".join(f"k={k}: {curve[k - 1]:.4f}" for k in (1, 2, 5, 10, 20, 50, 100)))

    mlp = model.to_mlp()
    agree = np.mean(mlp.predict(X_test) == model.predict(X_test))
    gap = np.abs(mlp.predict_proba(X_test) - model.predict_proba(X_test)).max()
    print(f"to_mlp(): {type(mlp).__name__} with hidden_layer_sizes={mlp.hidden_layer_sizes}; "
          f"label agreement {agree:.0%}, max |proba difference| {gap:.1e}")
    small = model.to_mlp(n_units=10)
    print(f"to_mlp(n_units=10): test accuracy {small.score(X_test, y_test):.4f} "
          f"(= staged curve at k=10: {curve[9]:.4f})")

    try:
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    OUT.mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(units, curve, label="GBNN, first k units")
    ax.axhline(mlp_ref.score(X_test, y_test), color="gray", linestyle="--",
               label="MLP, 100 units (adam)")
    ax.set_xscale("log")
    ax.set_xlabel("hidden units used at prediction time")
    ax.set_ylabel("test accuracy")
    ax.set_title("Breast cancer: accuracy vs units")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = OUT / "gbnn_units.png"
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
