"""asv benchmarks of GaussianMixture (maximum-likelihood EM): one iteration (the pass over the
data and the M-step) at the three shapes of ``python -m fastcavi.bench.gm``: N=1e6, p=2, K=10
and N=3e5, p=16, K=16 for every covariance type, and p=64, K=64 for 'full' (at N=1e5)."""

from . import rows

try:
    from fastcavi.bench.cavi import make_problem
    from fastcavi.bench.gm import fastcavi_iteration, start
    from fastcavi.estimators.functions import as_kernel_array
except ImportError:  # commits before GaussianMixture was benchmarked
    make_problem = None


class _GMIteration:
    timeout = 600
    shape = None

    def setup(self, covariance_type, dtype):
        if make_problem is None:
            raise NotImplementedError("no GaussianMixture benchmark in this commit")
        n, p, k = self.shape
        X = make_problem(rows(n), p, k)[0]
        self.iteration = fastcavi_iteration(as_kernel_array(X.astype(dtype)), k,
                                            covariance_type, start(X, k, covariance_type))
        self.iteration()  # compile or load the kernels outside the timing

    def time_iteration(self, covariance_type, dtype):
        self.iteration()


class GMIterationSmallP(_GMIteration):
    params = (["spherical", "diag", "full", "tied"], ["float64", "float32"])
    param_names = ["covariance_type", "dtype"]
    shape = (1_000_000, 2, 10)


class GMIterationMediumP(_GMIteration):
    params = (["spherical", "diag", "full", "tied"], ["float64", "float32"])
    param_names = ["covariance_type", "dtype"]
    shape = (300_000, 16, 16)


class GMIterationLargeP(_GMIteration):
    """p = K = 64 at N = 1e5: an iteration at N = 1e6 takes about 45 s on 2 cores, too long
    for a suite that CI runs once per change; ``python -m fastcavi.bench.gm --n 1e6 --p 64
    --k 64 --types full`` measures the full shape, with scikit-learn and the floor."""

    params = (["full"], ["float64", "float32"])
    param_names = ["covariance_type", "dtype"]
    shape = (100_000, 64, 64)
