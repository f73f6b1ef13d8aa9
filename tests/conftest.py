"""Test-suite wide settings: offline, headless, deterministic."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
# Keep BLAS from oversubscribing the 2 cores that numba and joblib also use.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
