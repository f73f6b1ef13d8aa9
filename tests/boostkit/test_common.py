"""scikit-learn's common estimator checks for every public boostkit estimator.

Add an estimator instance to ``ESTIMATORS``; list any check it is expected to fail in
``EXPECTED_FAILED_CHECKS[EstimatorClassName]`` as ``{check_name: reason}``. An expected failure
without a reason is a defect.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

ESTIMATORS = []

EXPECTED_FAILED_CHECKS = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


if ESTIMATORS:

    @parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
    def test_sklearn_common_checks(estimator, check):
        check(estimator)
