"""scikit-learn's own tests of ``GaussianMixture``, run against fastcavi's.

The tests ship inside scikit-learn's wheel (``sklearn/mixture/tests/``). The module is loaded
afresh from the installed scikit-learn with its estimator replaced by fastcavi's, and every
test in it runs here; a test that cannot pass is marked with the reason.
"""

import importlib.util

import numpy as np
import pytest

from fastcavi.estimators.gaussian_mixture import GaussianMixture

_spec = importlib.util.find_spec("sklearn.mixture.tests.test_gaussian_mixture")
if _spec is None or _spec.origin is None:  # a scikit-learn installed without its tests
    pytest.skip("scikit-learn's mixture tests are not installed", allow_module_level=True)
_file_spec = importlib.util.spec_from_file_location("sklearn_gm_suite", _spec.origin)
_suite = importlib.util.module_from_spec(_file_spec)
_file_spec.loader.exec_module(_suite)
_suite.GaussianMixture = GaussianMixture


# scikit-learn's own conftest.py provides these two fixtures; its defaults.
@pytest.fixture(params=[np.float32, np.float64])
def global_dtype(request):
    return request.param


@pytest.fixture
def global_random_seed():
    return 42


CANNOT_PASS = {
    "test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters": (
        "counts the calls of scikit-learn's private _estimate_gaussian_parameters, which "
        "fastcavi's M-step (from the one-pass sums) never calls"),
    "test_score": (
        "float32 X only: score_samples is computed and returned in float64 (scikit-learn's is "
        "float32); the values agree"),
}
# scikit-learn's own GaussianMixture emits a ConvergenceWarning in these (from the fit, and from
# KMeans on duplicated points), which this suite's warnings-as-errors would turn into a
# failure of scikit-learn's class too; scikit-learn's test configuration lets it pass.
SKLEARN_WARNS = {"test_gaussian_mixture_setting_best_params", "test_regularisation"}
# Not collected at all: scikit-learn's array API tests (fastcavi takes NumPy, memory-mapped and
# Dask arrays, not the array API's namespaces), whose parametrisation is also a generator,
# which this suite's pytest refuses.
NOT_APPLICABLE = {"test_gaussian_mixture_array_api_compliance",
                  "test_gaussian_mixture_raises_where_array_api_not_implemented"}

for _name in dir(_suite):
    if _name.startswith("test_") and _name not in NOT_APPLICABLE:
        _test = getattr(_suite, _name)
        if _name in SKLEARN_WARNS:
            _test = pytest.mark.filterwarnings(
                "ignore::sklearn.exceptions.ConvergenceWarning")(_test)
        if _name in CANNOT_PASS:
            _test = pytest.mark.xfail(reason=CANNOT_PASS[_name], strict=False)(_test)
        globals()[_name] = pytest.mark.slow(_test)


def test_the_suite_runs_against_fastcavi():
    assert _suite.GaussianMixture is GaussianMixture
    assert sum(name.startswith("test_") for name in dir(_suite)) >= 30
