"""The audit report, from the command line: find injected label errors.

1. Flip 10% of the training labels of scikit-learn's breast-cancer data (bundled, seeded).
2. Train LightGBM on the noisy labels; save the model (LightGBM's own text format) and the
   data as CSV in demo/out/, as a user would have them.
3. Run `boostkit audit --model ... --data ... --target ... --test ...` (through
   boostkit.cli.main, the same entry point as the console script and `python -m boostkit`).
4. Count how many of the flagged rows are injected errors, against what random flagging finds.
Writes demo/out/audit_report.html (open it in a browser) and demo/out/audit_flagged.csv.
"""

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from boostkit.cli import main as boostkit_cli

OUT = Path(__file__).resolve().parent / "out"
NOISE = 0.10


def main():
    OUT.mkdir(exist_ok=True)
    data = load_breast_cancer(as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.3, random_state=0, stratify=data.target)
    X_train, X_test = X_train.reset_index(drop=True), X_test.reset_index(drop=True)
    y_train, y_test = y_train.reset_index(drop=True), y_test.reset_index(drop=True)

    rng = np.random.default_rng(0)
    flipped = rng.choice(len(y_train), size=int(NOISE * len(y_train)), replace=False)
    noisy = y_train.copy()
    noisy.iloc[flipped] = 1 - noisy.iloc[flipped]
    print(f"breast cancer: {len(X_train)} training rows, {len(flipped)} labels flipped "
          f"({NOISE:.0%}); {len(X_test)} clean test rows")

    model = lgb.LGBMClassifier(n_estimators=100, num_leaves=15, learning_rate=0.1,
                               verbose=-1, n_jobs=1).fit(X_train, noisy)
    print(f"LightGBM on the noisy labels: test accuracy "
          f"{(model.predict(X_test) == y_test).mean():.3f}")
    model_path, train_csv, test_csv = OUT / "audit_model.txt", OUT / "audit_train.csv", \
        OUT / "audit_test.csv"
    model.booster_.save_model(str(model_path))
    X_train.assign(diagnosis=noisy).to_csv(train_csv, index=False)
    X_test.assign(diagnosis=y_test).to_csv(test_csv, index=False)

    top_k = len(flipped)  # flag as many rows as were flipped
    flagged_csv = OUT / "audit_flagged.csv"
    argv = ["audit", "--model", str(model_path), "--data", str(train_csv), "--target",
            "diagnosis", "--test", str(test_csv), "--top-k", str(top_k), "--out",
            str(OUT / "audit_report.html"), "--suspects-csv", str(flagged_csv), "--quiet"]
    print("\n$ boostkit " + " ".join(a if "/" not in a else Path(a).name for a in argv) + "\n")
    status = boostkit_cli(argv)
    if status != 0:
        raise SystemExit(status)

    flagged = pd.read_csv(flagged_csv)["position"].to_numpy()
    found = int(np.isin(flagged, flipped).sum())
    expected_random = top_k * len(flipped) / len(X_train)
    print(f"\nInjected errors among the {top_k} flagged rows: {found} of {len(flipped)} "
          f"({found / len(flipped):.0%}); random flagging finds {expected_random:.1f} on "
          f"average ({len(flipped) / len(X_train):.0%})")
    for k in (10, 20):
        print(f"  in the top {k}: {int(np.isin(flagged[:k], flipped).sum())} injected errors "
              f"(random: {k * len(flipped) / len(X_train):.1f})")
    print(f"Report: {OUT / 'audit_report.html'}")


if __name__ == "__main__":
    main()
