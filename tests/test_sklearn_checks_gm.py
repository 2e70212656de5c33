"""scikit-learn's own estimator checks for fastcavi.GaussianMixture."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastcavi import GaussianMixture

EXPECTED_FAILED = {
    "check_sample_weight_equivalence_on_dense_data": (
        "The default start ('kmeans') runs scikit-learn's KMeans, whose own random start "
        "differs between repeated rows and integer weights. From the same start the fit is "
        "exactly weight-equivalent: tests/test_gm.py::"
        "test_integer_weights_are_repeated_rows_and_zero_weights_dropped_rows."
    ),
}


@pytest.mark.slow
@parametrize_with_checks([GaussianMixture(n_components=2, random_state=0),
                          GaussianMixture(n_components=2, covariance_type="diag",
                                          random_state=0)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_gaussian_mixture_is_a_scikit_learn_estimator(estimator, check):
    check(estimator)


def test_exported_from_the_package():
    import fastcavi
    from fastcavi.estimators.gaussian_mixture import GaussianMixture as Direct

    assert fastcavi.GaussianMixture is Direct and "GaussianMixture" in fastcavi.__all__
