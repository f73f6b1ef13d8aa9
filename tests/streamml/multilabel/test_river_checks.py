"""river's estimator checks, run on the bundled Yeast stream (river's default, Music, downloads)."""

import itertools

import pytest
from river import checks, datasets

from streamml.multilabel import IHOMER, MLHAT


def _bundled_stream_checks(model):
    """river.checks.yield_checks with the multi-label dataset swapped for Yeast (offline)."""
    original = checks._yield_datasets

    class _Yeast:
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return itertools.islice(iter(datasets.Yeast()), self.n)

    def offline_datasets(model, scale=1):
        yield _Yeast(50 * scale)

    checks._yield_datasets = offline_datasets
    try:
        return list(checks.yield_checks(model))
    finally:
        checks._yield_datasets = original


def _cases():
    for cls in (MLHAT, IHOMER):
        for params in cls._unit_test_params():
            model = cls(**params)
            for check in _bundled_stream_checks(model):
                yield pytest.param(model, check, id=f"{cls.__name__}({params})-{check.__name__}")


@pytest.mark.parametrize(("model", "check"), list(_cases()))
def test_river_check(model, check):
    if check.__name__ in model._unit_test_skips():
        pytest.skip("skipped by the model")
    check(model.clone())


def test_checks_use_the_bundled_stream():
    # The stream river would use (datasets.Music) needs a download; ours is packaged with river.
    path = datasets.Yeast().path
    assert str(path).endswith("yeast.csv.gz") and path.exists()
    names = [c.__name__ for c in _bundled_stream_checks(MLHAT())]
    assert "check_pickling" in names and "check_bounded_memory_growth" in names
