"""Run the authors' ``gbnn`` package on folds saved by ``benchmarks/gbnn.py``.

This script runs in its own virtual environment (``benchmarks/.venv-gbnn``: scikit-learn 1.5,
pandas, ``gbnn`` installed with ``--no-deps``) because ``gbnn`` 0.0.2 needs scikit-learn <= 1.5.
It only imports numpy, scikit-learn and gbnn.

Usage: python peer.py FOLDS.npz RESULTS.npz
"""

import sys
import time

import numpy as np


def main(folds_path, results_path):
    from gbnn import GNEGNEClassifier, GNEGNERegressor

    data = np.load(folds_path, allow_pickle=False)
    n_folds = int(data["n_folds"])
    task = str(data["task"])
    params = dict(total_nn=int(data["total_nn"]), num_nn_step=int(data["num_nn_step"]))
    scores, fit_times, predict_times = [], [], []
    for k in range(n_folds):
        X_train, y_train = data[f"X_train_{k}"], data[f"y_train_{k}"]
        X_test, y_test = data[f"X_test_{k}"], data[f"y_test_{k}"]
        seed = int(data[f"seed_{k}"])
        # gbnn draws its subsamples from numpy's global RNG (it ignores random_state for
        # them); seeding the global RNG is the only way to make its runs repeatable.
        np.random.seed(seed)
        if task == "classification":
            model = GNEGNEClassifier(random_state=seed, **params)
        else:
            model = GNEGNERegressor(random_state=seed, **params)
        start = time.process_time()
        model.fit(X_train, y_train)
        fit_times.append(time.process_time() - start)
        start = time.process_time()
        pred = model.predict(X_test)
        predict_times.append(time.process_time() - start)
        if task == "classification":
            scores.append(float(np.mean(pred == y_test)))
        else:
            pred = np.asarray(pred, dtype=float).ravel()
            ss_res = ((y_test - pred) ** 2).sum()
            ss_tot = ((y_test - y_test.mean()) ** 2).sum()
            scores.append(float(1 - ss_res / ss_tot))
    np.savez(results_path, scores=np.array(scores), fit_times=np.array(fit_times),
             predict_times=np.array(predict_times))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(0)
    main(sys.argv[1], sys.argv[2])
