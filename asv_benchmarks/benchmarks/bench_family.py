"""asv benchmarks of BayesianGaussianMixture: one iteration (the pass over the data, the M-step
and the exact ELBO) and a fixed-length fit, every covariance type, float64 and float32."""

import numpy as np

from fastcavi import BayesianGaussianMixture

from . import rows

try:
    from fastcavi.bench.family import family_problem
    from fastcavi.data.sources import ArraySource
    from fastcavi.estimators.functions import as_kernel_array
    from fastcavi.models.family_fit import family_sweep
except ImportError:  # commits before the package was laid out in folders
    from fastcavi._family_fit import family_sweep
    from fastcavi._fit import as_kernel_array
    from fastcavi._sources import ArraySource

    from fastcavi.bench_family import family_problem


def _data(n_samples, n_features, n_components, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (n_components, n_features))
    return centres[rng.integers(n_components, size=n_samples)] + rng.normal(
        size=(n_samples, n_features))


class FamilyIteration:
    params = (["spherical", "diag", "full", "tied"], ["float64", "float32"])
    param_names = ["covariance_type", "dtype"]
    timeout = 300
    shape = (200_000, 2, 10)

    def setup(self, covariance_type, dtype):
        X = as_kernel_array(_data(rows(self.shape[0]), *self.shape[1:]).astype(dtype))
        prior, self.start = family_problem(X, self.shape[2], covariance_type)
        self.sweep = family_sweep(ArraySource(X), prior)
        self.sweep(self.start)  # compile or load the kernels outside the timing

    def time_iteration(self, covariance_type, dtype):
        self.sweep(self.start)


class FamilyFit:
    params = ["spherical", "diag", "full", "tied"]
    param_names = ["covariance_type"]
    timeout = 300

    def setup(self, covariance_type):
        self.X = _data(rows(100_000), 2, 5)
        self.kw = dict(n_components=5, covariance_type=covariance_type, random_state=0,
                       init_params="random", tol=0, max_iter=10)
        BayesianGaussianMixture(**dict(self.kw, max_iter=1)).fit(self.X[:1000])

    def time_fit(self, covariance_type):
        BayesianGaussianMixture(**self.kw).fit(self.X)

    def peakmem_fit(self, covariance_type):
        BayesianGaussianMixture(**self.kw).fit(self.X)

    def track_elbo_per_point(self, covariance_type):
        gm = BayesianGaussianMixture(**self.kw).fit(self.X)
        return -gm.lower_bound_ / len(self.X)

    track_elbo_per_point.unit = "nats per point (-ELBO / N)"


class FamilyIterationLargeShape(FamilyIteration):
    """One iteration at a large shape (N = 1e5, p = 64, K = 64), where the pass is dense
    products (spherical, diag and tied by BLAS there); ``python -m fastcavi.bench.shapes`` sets
    each against its floor at N = 1e6."""

    timeout = 600
    shape = (100_000, 64, 64)
