"""asv benchmarks of the CAVI sweep and the fit.

asv runs every benchmark (every parameter combination) in a fresh process, so each ``setup``
compiles the kernels on tiny data first (or loads them from Numba's cache): compilation never
lands in a timing. The timer is wall-clock (``timeit.default_timer``): process time would add
up the threads. Data and starting means are deterministic, so ``track_*`` values change only
when the numbers the code computes change -- any change there is a regression to explain.

The two (p, K) shapes are those of the performance targets (docs/performance.md): (2, 10)
and (64, 64); the other two
combinations of the grid are skipped (NotImplementedError in ``setup``), to keep the suite
small enough for a 2-core machine.

Only API that older commits also have is used (``block_statistics``, ``update_and_elbo``
and ``Hyper`` of ``fastcavi.models.fixed``, which older commits name ``fastcavi._cavi``, and
``GaussianMixtureCAVI``), so that any commit can be
installed and recorded with the same suite.
"""

import timeit

import numba
import numpy as np

from fastcavi import GaussianMixtureCAVI

from . import rows

try:
    from fastcavi.models.fixed import Hyper, block_statistics, update_and_elbo
except ImportError:  # commits before the package was laid out in folders
    from fastcavi._cavi import Hyper, block_statistics, update_and_elbo

SHAPES = {(2, 10), (64, 64)}  # (n_features, n_components) pairs that are benchmarked
DTYPES = {"float64": np.float64, "float32": np.float32}


def make_problem(n_samples, n_features, n_components, dtype="float64", seed=0):
    """K unit-variance clusters, K data points as starting means, and the hyperparameters
    (alpha the data mean, sigma2 its variance, lambda2 = 1); all deterministic."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 4.0, (n_components, n_features))
    labels = rng.integers(n_components, size=n_samples)
    X = rng.standard_normal((n_samples, n_features))
    X += centres[labels]
    means = X[rng.choice(n_samples, n_components, replace=False)].copy()
    hyper = Hyper(X.mean(axis=0), float(X.var(axis=0).mean()), 1.0)
    mean_vars = np.full(n_components, 1.0 / (1.0 / hyper.prior_var
                                             + (n_samples / n_components) / hyper.likelihood_var))
    X = np.ascontiguousarray(X, dtype=DTYPES[dtype])
    X.flags.writeable = False  # as fastcavi passes data to its kernels: one Numba type
    return X, means, mean_vars, hyper


def check_case(n_features, n_components, n_threads=1):
    if (n_features, n_components) not in SHAPES:
        raise NotImplementedError("shape not benchmarked")
    if n_threads > numba.config.NUMBA_NUM_THREADS:
        raise NotImplementedError(f"only {numba.config.NUMBA_NUM_THREADS} Numba threads")


def fit_kwargs(X, means, hyper, explicit_hyper):
    kw = dict(n_components=means.shape[0], means_init=means, random_state=0)
    if explicit_hyper:
        kw.update(prior_mean=hyper.prior_mean, prior_var=hyper.prior_var,
                  likelihood_var=hyper.likelihood_var)
    return kw


class Sweep:
    """One CAVI sweep: the statistics pass over the data plus the O(K p) update and exact ELBO,
    exactly as a fit runs it."""

    timer = timeit.default_timer
    param_names = ["n_samples", "n_features", "n_components", "dtype", "n_threads"]
    params = [[10_000, 1_000_000], [2, 64], [10, 64], ["float64", "float32"], [1, 2]]

    def setup(self, n_samples, n_features, n_components, dtype, n_threads):
        check_case(n_features, n_components, n_threads)
        numba.set_num_threads(n_threads)
        tiny = make_problem(64, n_features, n_components, dtype)
        self._sweep(*tiny)  # compile (or load from the cache) outside the timing
        self.problem = make_problem(rows(n_samples), n_features, n_components, dtype)

    @staticmethod
    def _sweep(X, means, mean_vars, hyper):
        km = np.ascontiguousarray(means, dtype=X.dtype)
        stats = block_statistics(X, km, mean_vars, hyper.likelihood_var)
        return update_and_elbo(stats, km.astype(np.float64), hyper)

    def time_sweep(self, n_samples, n_features, n_components, dtype, n_threads):
        self._sweep(*self.problem)


class Fit:
    """``GaussianMixtureCAVI.fit`` with a fixed number of sweeps (tol=0, max_iter=10) from given
    means, the hyperparameters left to their data-driven defaults (as a user would fit), with
    every Numba thread. N = 200,000 keeps a run of the suite short; the sweep at N = 1e6 is
    ``Sweep``."""

    timer = timeit.default_timer
    param_names = ["n_samples", "n_features", "n_components", "dtype"]
    params = [[200_000], [2, 64], [10, 64], ["float64", "float32"]]
    timeout = 300
    warmup_time = 0.0  # the kernels are compiled in setup; a warm-up would be one more fit

    def setup(self, n_samples, n_features, n_components, dtype):
        check_case(n_features, n_components)
        X, means, _, hyper = make_problem(64, n_features, n_components, dtype)
        GaussianMixtureCAVI(**fit_kwargs(X, means, hyper, False), tol=0, max_iter=2).fit(X)
        self.X, means, _, hyper = make_problem(rows(n_samples), n_features, n_components,
                                               dtype)
        self.kwargs = dict(fit_kwargs(self.X, means, hyper, False), tol=0, max_iter=10)

    def time_fit(self, n_samples, n_features, n_components, dtype):
        GaussianMixtureCAVI(**self.kwargs).fit(self.X)

    def peakmem_fit(self, n_samples, n_features, n_components, dtype):
        # Peak RSS of the process, the data included (N p itemsize bytes): a fit that forms
        # an N x K array or copies X shows up here.
        GaussianMixtureCAVI(**self.kwargs).fit(self.X)


class Convergence:
    """What a fit to convergence computes (N = 20,000, default tol, explicit hyperparameters,
    fixed start): these numbers should only change on purpose."""

    param_names = ["n_features", "n_components", "dtype"]
    params = [[2, 64], [10, 64], ["float64", "float32"]]
    timeout = 300

    def setup_cache(self):
        # One fit per case serves both track_ benchmarks.
        out = {}
        for p, k in sorted(SHAPES):
            for dtype in DTYPES:
                X, means, _, hyper = make_problem(20_000, p, k, dtype)
                gm = GaussianMixtureCAVI(**fit_kwargs(X, means, hyper, True), tol=1e-4,
                                         max_iter=500).fit(X)
                out[p, k, dtype] = (-gm.lower_bound_ / X.shape[0], gm.n_iter_)
        return out

    def setup(self, cache, n_features, n_components, dtype):
        check_case(n_features, n_components)

    def track_elbo(self, cache, n_features, n_components, dtype):
        """Negative ELBO per point at convergence (so that smaller is better, as asv reads
        every number)."""
        return float(cache[n_features, n_components, dtype][0])

    track_elbo.unit = "nats per point (-ELBO / N)"

    def track_n_iter(self, cache, n_features, n_components, dtype):
        """Sweeps to convergence (tol=1e-4 per point)."""
        return int(cache[n_features, n_components, dtype][1])

    track_n_iter.unit = "sweeps"


class ColdStart:
    """A fresh interpreter: ``import fastcavi`` plus the first fit of 1,000 points, with the
    kernels already in Numba's on-disk cache (what a user's script pays before any work)."""

    timeout = 300
    repeat = (1, 5, 60.0)

    def setup(self):
        # Compile (and cache) the kernels that the timed fit needs.
        exec(self._setup_code + self._fit_code, {})

    _setup_code = (
        "import numpy as np\n"
        "X = np.random.default_rng(0).standard_normal((1000, 2))\n"
        "X[:500] += 6.0\n"
    )
    _fit_code = (
        "from fastcavi import GaussianMixtureCAVI\n"
        "GaussianMixtureCAVI(n_components=3, random_state=0, tol=0, max_iter=10).fit(X)\n"
    )

    def timeraw_cold_start(self):
        # (timed statement, untimed setup); NumPy's import and the data are in the setup.
        return self._fit_code, self._setup_code

    # The command line's fit of a 1,000-point CSV file (it imports no scikit-learn); the
    # process's own start and end are not in asv's timing (the command ends its process
    # without the interpreter's teardown, which this cannot show).
    _csv_code = (
        "import os, tempfile\n"
        "import numpy as np\n"
        "csv = os.path.join(tempfile.gettempdir(), 'fastcavi-asv-cold-start.csv')\n"
        "X = np.random.default_rng(0).standard_normal((1000, 2))\n"
        "X[:500] += 6.0\n"
        "np.savetxt(csv, X, delimiter=',', header='a,b', comments='')\n"
    )
    # Its summary goes to a buffer: asv reads the timed process's output as the time.
    _command_code = (
        "import contextlib, io\n"
        "from fastcavi.cli.command import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    status = main(['fit', csv, '-k', '3', '--random-state', '0', '-q', '-o', "
        "csv + '.npz'])\n"
        "assert status == 0\n"
    )

    def timeraw_command_fit(self):
        """``fastcavi fit points.csv -k 3 -o model.npz`` in a fresh interpreter."""
        exec(self._csv_code + self._command_code, {})  # compiles and caches its kernels
        return self._command_code, self._csv_code

    def timeraw_import(self):
        """``import fastcavi`` alone: the public names load on first use, so this stays cheap
        (no Numba, scikit-learn or pandas)."""
        return "import fastcavi", ""
