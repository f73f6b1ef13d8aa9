"""Influence audit: which training rows made this prediction, and which look wrong?

A LightGBM model on scikit-learn's breast-cancer data (bundled, no download):
1. BoostIn names the training rows most responsible for a misclassified test point;
2. self influence finds deliberately flipped training labels;
3. TREX explains a random forest (BoostIn refuses forests) and reports its surrogate's fidelity.
Writes demo/out/influence_audit.png.
"""

from pathlib import Path

import lightgbm as lgb
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

from boostkit.exceptions import UnsupportedModelError
from boostkit.influence import TREX, BoostIn

OUT = Path(__file__).resolve().parent / "out"


def main():
    data = load_breast_cancer(as_frame=True)
    X, y = data.data, data.target.map({0: "malignant", 1: "benign"})
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=1,
                                                        stratify=y)
    model = lgb.LGBMClassifier(n_estimators=100, num_leaves=15, learning_rate=0.1,
                               verbose=-1, n_jobs=1).fit(X_train, y_train)
    predicted = model.predict(X_test)
    wrong = np.flatnonzero(predicted != y_test.to_numpy())
    print(f"LightGBM: {len(X_train)} training rows, test accuracy "
          f"{1 - len(wrong) / len(X_test):.3f}, {len(wrong)} test points misclassified")

    # 1. who is responsible for a mistake?
    explainer = BoostIn().fit(model, X_train, y_train)
    e = int(wrong[0])
    row = X_test.iloc[[e]]
    top = explainer.local_influence(row, y_test.iloc[[e]], top_k=5)
    print(f"\nTest point {X_test.index[e]}: truly {y_test.iloc[e]}, predicted {predicted[e]}")
    print("  most harmful training rows (they pushed the prediction the wrong way):")
    for i, value in zip(top.harmful_indices[:, 0], top.harmful_values[:, 0]):
        print(f"    row {X_train.index[i]:>3}  label {y_train.iloc[i]:<9}  influence {value:+.4f}")
    print("  most helpful training rows:")
    for i, value in zip(top.helpful_indices[:, 0], top.helpful_values[:, 0]):
        print(f"    row {X_train.index[i]:>3}  label {y_train.iloc[i]:<9}  influence {value:+.4f}")
    full = explainer.local_influence(row, y_test.iloc[[e]])[:, 0]

    # 2. which training labels look wrong? flip 10% and rank rows by self influence
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(y_train), size=len(y_train) // 10, replace=False)
    noisy = y_train.copy()
    noisy.iloc[flipped] = np.where(noisy.iloc[flipped] == "benign", "malignant", "benign")
    noisy_model = lgb.LGBMClassifier(n_estimators=100, num_leaves=15, verbose=-1, n_jobs=1).fit(
        X_train, noisy)
    scores = BoostIn().fit(noisy_model, X_train, noisy).self_influence()
    ranking = np.argsort(-scores)  # largest first: rows the model bent the most to fit
    is_flipped = np.isin(ranking, flipped)
    found = np.cumsum(is_flipped) / len(flipped)
    checked = np.arange(1, len(ranking) + 1) / len(ranking)
    at = len(ranking) // 10
    print(f"\nNoisy labels: {len(flipped)} of {len(y_train)} training labels flipped; checking "
          f"the 10% rows with the highest self influence finds {found[at - 1]:.0%} of them "
          f"(random checking: 10%)")

    # 3. forests: TREX (BoostIn needs boosting rounds)
    forest = RandomForestClassifier(n_estimators=50, max_depth=6, random_state=0).fit(
        X_train, y_train)
    try:
        BoostIn().fit(forest, X_train, y_train)
    except UnsupportedModelError as err:
        print(f"\nBoostIn on a random forest: {str(err)[:90]}...")
    trex = TREX(kernel="leaf").fit(forest, X_train, y_train)
    forest_top = trex.local_influence(row, y_test.iloc[[e]], top_k=3)
    print(f"TREX surrogate fidelity to the forest: Pearson {trex.fidelity_['pearson']:.3f}, "
          f"Spearman {trex.fidelity_['spearman']:.3f}; most harmful rows for the same test "
          f"point: {[int(X_train.index[i]) for i in forest_top.harmful_indices[:, 0]]}")

    _plot(full, y_train, X_train, X_test, e, top, found, checked, flipped)


def _plot(full, y_train, X_train, X_test, e, top, found, checked, flipped):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    order = np.argsort(full)
    picks = np.concatenate([order[:10], order[-10:]])
    colors = ["tab:red" if y_train.iloc[i] == "malignant" else "tab:blue" for i in picks]
    axes[0].barh(range(len(picks)), full[picks], color=colors)
    axes[0].set_yticks(range(len(picks)), [str(X_train.index[i]) for i in picks], fontsize=7)
    axes[0].axvline(0, color="black", lw=0.8)
    axes[0].set_xlabel("BoostIn influence on the test loss (+ helpful, - harmful)")
    axes[0].set_title(f"Misclassified test point {X_test.index[e]}: 10 most harmful and\n"
                      f"10 most helpful training rows (red malignant, blue benign)", fontsize=9)
    a, b = "worst radius", "worst concave points"
    axes[1].scatter(X_train[a], X_train[b], s=6, c=["tab:red" if v == "malignant" else
                                                    "tab:blue" for v in y_train], alpha=0.25)
    harmful = top.harmful_indices[:, 0]
    axes[1].scatter(X_train[a].iloc[harmful], X_train[b].iloc[harmful], s=60,
                    facecolors="none", edgecolors="black", label="most harmful rows")
    axes[1].scatter(X_test[a].iloc[e], X_test[b].iloc[e], marker="*", s=250, c="gold",
                    edgecolors="black", label="misclassified test point")
    axes[1].set_xlabel(a)
    axes[1].set_ylabel(b)
    axes[1].legend(fontsize=8)
    axes[1].set_title("Where they are", fontsize=9)
    axes[2].plot(checked, found, label="highest self influence first")
    axes[2].plot([0, 1], [0, 1], "--", color="gray", label="random order")
    axes[2].set_xlabel("fraction of training rows checked")
    axes[2].set_ylabel("fraction of flipped labels found")
    axes[2].set_title(f"Finding {len(flipped)} flipped labels with self influence", fontsize=9)
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    path = OUT / "influence_audit.png"
    fig.savefig(path, dpi=110)
    print(f"\nPlot: {path}")


if __name__ == "__main__":
    main()
