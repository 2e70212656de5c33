"""What the ``fastcavi`` command shows while it works: a notice before the kernels compile, and
a progress bar that reaches its end.

The number of sweeps a run needs cannot be known in advance, so the bar does not count
sweeps against ``max_iter`` (it would stop at 5-10%). It counts restarts, and within a run it
measures how far the ELBO's change per sweep has come down towards ``tol`` on a log scale
(or the sweeps against ``max_iter``, when that is further along): full when the run ends.
"""

from __future__ import annotations

import math
import os
import sys
import time

# Time to compile the kernels once, on a cold cache. Measured: `fastcavi demo -n 20000
# --no-plot` took 12.0 s with an empty NUMBA_CACHE_DIR and 1.9 s with it filled, on 2 shared
# cores of an AMD EPYC (Zen 4), Python 3.11, Numba 0.68: about 10 s of compiling. Faster
# machines take less; a float32 fit compiles further versions of the same kernels.
COMPILE_SECONDS = 10


def fmt_time(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def summary(rows):
    """Print (key, value) rows as an aligned table on stdout."""
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key + ':':<{width + 1}} {value}")


# -- the kernel cache ------------------------------------------------------------------------

def cache_dirs():
    """Where Numba keeps this installation's compiled kernels, in the order it looks
    (:func:`fastcavi.kernels.cachedir.kernel_cache_dirs`; nothing of Numba is imported)."""
    from ..kernels.cachedir import kernel_cache_dirs

    return kernel_cache_dirs()


def _writable(directory):
    """Whether directory is writable, or could be created (its nearest existing ancestor is
    writable): the test Numba applies before it uses a cache location."""
    while not os.path.isdir(directory):
        parent = os.path.dirname(directory)
        if parent == directory:
            return False
        directory = parent
    return os.access(directory, os.W_OK)


def cache_dir():
    """The directory Numba caches fastcavi's kernels in: the first usable of cache_dirs()."""
    return next((d for d in cache_dirs() if _writable(d)), None)


def _kernel_dir():
    from ..kernels.cachedir import KERNEL_DIR

    return KERNEL_DIR


def cached_kernels(kernel="_sweep_statistics", module="fixed"):
    """(cache directory, number of fastcavi kernel index files there) when it holds a compiled
    ``module.kernel`` that Numba would load for today's source (with ``kernel=None``: any
    kernel of ``module``), else (None, 0)."""
    from ..kernels.cachedir import index_is_fresh

    d = cache_dir()
    try:
        names = os.listdir(d) if d is not None else []
    except OSError:
        return None, 0
    source = os.path.join(_kernel_dir(), f"{module}.py")
    tag = f".py{sys.version_info[0]}{sys.version_info[1]}.nbi"
    start = f"{module}.{kernel}-" if kernel is not None else f"{module}."
    if not any(n.startswith(start) and n.endswith(tag)
               and index_is_fresh(os.path.join(d, n), source) for n in names):
        return None, 0
    return d, sum(1 for n in names if n.endswith(tag))  # the folder is the kernels' own


def _compiled_in_this_process(kernel, module="fixed"):
    """Whether ``module.kernel`` already runs in this process (loaded or compiled: nothing to
    wait for). Only looks when that module is imported already; never imports it."""
    kernels = sys.modules.get(f"fastcavi.kernels.{module}")
    dispatcher = getattr(kernels, kernel, None)
    return bool(getattr(dispatcher, "signatures", None))


# The kernel a fit or a prediction runs first, as (module, function), by model:
# GaussianMixtureCAVI, then BayesianGaussianMixture by covariance_type. A covariance type not
# listed here (one implemented later) gets the notice unless every kernel module is cached.
CAVI_KERNELS = {"fit": ("fixed", "_sweep_statistics"), "predict": ("fixed", "_predict")}
FAMILY_KERNELS = {
    "spherical": {"fit": ("fixed", "_sweep_statistics"), "predict": ("fixed", "_predict")},
    "diag": {"fit": ("diag", "_sweep_statistics_diag"),
             "predict": ("diag", "_predict_diag")},
    "full": {"fit": ("full", "_sweep_statistics_full"),
             "predict": ("full", "_predict_full")},
    "tied": {"fit": ("tied", "_sweep_statistics_tied"),
             "predict": ("tied", "_predict_tied")},
}


def kernel_of(est, stage):
    """(module, function) that ``est`` runs first for ``stage`` ('fit' or 'predict'), or None
    when it is not known here."""
    covariance_type = getattr(est, "covariance_type", None)
    if covariance_type is None:
        return CAVI_KERNELS[stage]
    return FAMILY_KERNELS.get(covariance_type, {}).get(stage)


def _all_modules_cached():
    """Whether every module of :mod:`fastcavi.kernels` that defines kernels has a compiled
    kernel in the cache that Numba would load."""
    from ..kernels import KERNEL_MODULES

    return all(cached_kernels(None, m)[0] is not None for m in KERNEL_MODULES)


def needs_compile(kernel="_sweep_statistics", module="fixed"):
    """Whether running ``module.kernel`` first compiles it (neither loaded in this process nor
    cached); ``kernel=None`` when that is not known: then unless every kernel module is
    cached."""
    if kernel is None:
        return not _all_modules_cached()
    return not (_compiled_in_this_process(kernel, module)
                or cached_kernels(kernel, module)[0] is not None)


def compile_notice(stream, kernel="_sweep_statistics", quiet=False, module="fixed"):
    """Say so before a first run compiles the kernels (it would look hung otherwise).

    ``kernel`` (of ``module``) is the kernel the work runs first; ``kernel=None`` when that is
    not known: then the notice is given unless every kernel module is cached."""
    if quiet or not needs_compile(kernel, module):
        return
    stream.write(f"compiling kernels, once, about {COMPILE_SECONDS} s (later runs load them "
                 "from the cache)\n")
    stream.flush()


# -- progress --------------------------------------------------------------------------------

class Progress:
    """The callback ``cb(sweep_index, elbo)`` for ``GaussianMixtureCAVI._fit`` (and
    ``BayesianGaussianMixture._fit``): draws a bar on a terminal (redrawn with \\r), or prints a
    line every ``every`` sweeps when the stream is not a terminal; records every run's ELBO
    trace and the time between sweeps.

    The bar is the share of the ``n_init`` runs done, the current run counting by
    :meth:`run_fraction`; it is full when the last run ends. ``tol`` is per point, or with
    ``tol_per_point=False`` a total over the data (as BayesianGaussianMixture's); ``unit``
    names a step ("sweep", or "iteration" as scikit-learn says), ``quantity`` what the
    callback is given, a total over the data ("ELBO", or "log-likelihood").
    """

    def __init__(self, stream, max_iter, n_init, n_points, quiet=False, every=5, tol=0.0,
                 tol_per_point=True, unit="sweep", quantity="ELBO"):
        self.stream = stream
        self.quantity = quantity
        self.max_iter = max_iter
        self.n_init = n_init
        self.n_points = n_points
        self.tol = tol
        self.tol_per_point = tol_per_point
        self.unit = unit
        self.quiet = quiet
        self.every = every
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.traces = []
        self.sweep_times = []
        self._last_time = None
        self._shown = -1
        self._width = 0
        self._fraction = 0.0

    def __call__(self, it, elbo):
        now = time.perf_counter()
        if it == 0:
            self._end_run()
            self.traces.append([])
            self._fraction = 0.0
        elif self._last_time is not None:
            self.sweep_times.append(now - self._last_time)
        self._last_time = now
        self.traces[-1].append(float(elbo))
        self._fraction = max(self._fraction, self.run_fraction(self.traces[-1]))
        if self.quiet:
            return
        if self.tty:
            self._draw(it, elbo)
        elif it == 0 or (it + 1) % self.every == 0:
            self._line(it, elbo)

    def _change(self, a, b):
        """The ELBO change between two sweeps, on the scale of ``tol``."""
        return abs(b - a) / (self.n_points if self.tol_per_point else 1.0)

    def run_fraction(self, trace):
        """How far a run is, in [0, 1): the ELBO change (per point, or in total) between the
        last two sweeps against ``tol``, on a log scale from the first change, or the sweeps
        against ``max_iter`` when that is further."""
        by_sweeps = len(trace) / self.max_iter
        if self.tol <= 0 or len(trace) < 2:
            return min(by_sweeps, 0.99)
        first = self._change(trace[0], trace[1])
        change = self._change(trace[-2], trace[-1])
        if first <= self.tol or change <= self.tol:
            by_tol = 1.0
        elif change >= first:
            by_tol = 0.0
        else:
            by_tol = math.log(first / change) / math.log(first / self.tol)
        return min(max(by_sweeps, by_tol), 0.99)

    def fraction(self):
        return min(1.0, (max(0, len(self.traces) - 1) + self._fraction) / self.n_init)

    def _status(self, it, elbo):
        text = (f"run {len(self.traces)}/{self.n_init}  {self.unit} {it + 1:>3}  "
                f"{self.quantity} {elbo:.10g} ({elbo / self.n_points:.6f} per point)")
        trace = self.traces[-1]
        if len(trace) >= 2:
            change = self._change(trace[-2], trace[-1])
            per = "/point" if self.tol_per_point else ""
            text += f"  change {change:.1e}{per} (tol {self.tol:g})"
        if it > 0 and self.sweep_times:
            text += f"  {fmt_time(self.sweep_times[-1])}/{self.unit}"
        return text

    def _draw(self, it, elbo):
        width = 20
        filled = min(width, int(width * self.fraction()))
        text = f"\r[{'#' * filled}{'.' * (width - filled)}] {self._status(it, elbo)}"
        pad = max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write(text + " " * pad)
        self.stream.flush()
        self._shown = it

    def _line(self, it, elbo):
        self.stream.write(self._status(it, elbo) + "\n")
        self.stream.flush()
        self._shown = it

    def _end_run(self):
        if not self.traces or self.quiet:
            return
        trace = self.traces[-1]
        self._fraction = 1.0
        if self.tty:
            self.stream.write(f"\r{' ' * self._width}\r")
            self._width = 0
        elif self._shown != len(trace) - 1:
            self._line(len(trace) - 1, trace[-1])
        done = len(self.traces) / self.n_init
        bar = f"[{'#' * round(20 * done)}{'.' * (20 - round(20 * done))}] " if self.tty else ""
        self.stream.write(f"{bar}run {len(self.traces)}/{self.n_init}: {len(trace)} "
                          f"{self.unit}s, final {self.quantity} {trace[-1]:.10g}\n")
        self.stream.flush()

    def close(self):
        self._end_run()
        self._shown = -1

    def time_per_sweep(self, total_seconds):
        """Median time between consecutive sweeps, or the total over the sweeps run."""
        import numpy as np

        if self.sweep_times:
            return float(np.median(self.sweep_times))
        sweeps = sum(len(t) for t in self.traces)
        return total_seconds / max(1, sweeps)


def _maximum_likelihood(est):
    """Whether ``est`` is GaussianMixture (EM): its bound is the mean log-likelihood per point,
    and it predicts in NumPy."""
    from .._validation import model_name

    return model_name(est) == "GaussianMixture"


def bound_name(est):
    """What ``est``'s fit maximises, in words: the ELBO of the variational mixtures, or the
    log-likelihood of GaussianMixture (maximum likelihood)."""
    return "log-likelihood" if _maximum_likelihood(est) else "ELBO"


def notice_for(est, stage, quiet=False):
    """The compile notice on stderr before ``est`` first fits ('fit') or predicts
    ('predict'); none before GaussianMixture predicts (in NumPy, nothing compiled)."""
    if stage == "predict" and _maximum_likelihood(est):
        return
    module, kernel = kernel_of(est, stage) or ("fixed", None)
    compile_notice(sys.stderr, kernel, quiet=quiet, module=module)


# A start line before the first run when K x N x p is at least this (a k-means++ start then
# takes seconds, before the first sweep shows the bar).
START_NOTICE_WORK = 1e9


def _warm_up(est, X):
    """Compile the kernels ``est``'s fit runs by fitting a one-component copy to a few rows
    of X (same dtype and layout: the same compiled versions); the seconds it took, or None
    when that copy could not be fitted (the real fit then compiles, as without it)."""
    import warnings

    rows = X[:min(X.shape[0], max(16, 2 * X.shape[1]))]
    changes = dict(n_components=1, n_init=1, max_iter=2, verbose=0)
    if not hasattr(est, "covariance_type"):
        changes.update(means_init=None, mean_vars_init=None)
    copy = est._fresh_copy(**changes)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            copy.fit(rows)
    except Exception:  # advice only: the fit itself reports what is wrong
        return None
    return time.perf_counter() - start


def fit_with_progress(est, X, quiet):
    """est._fit(X) with the compile notice and the progress bar on stderr.
    BayesianGaussianMixture (it has a ``covariance_type``) counts iterations, and its ``tol``
    is a total over the data: shown per point, as the command line's --tol. GaussianMixture
    counts iterations too; its bound and tol are per point (the mean log-likelihood): the
    bound is passed on as the total, as the others'. On a cold kernel
    cache the kernels are compiled first, timed apart (``progress.compile_seconds``), so that
    the fit's time is the fit's."""
    notice_for(est, "fit", quiet)
    module, kernel = kernel_of(est, "fit") or ("fixed", None)
    compile_seconds = _warm_up(est, X) if needs_compile(kernel, module) else None
    family = hasattr(est, "covariance_type")
    quantity = bound_name(est)
    mean = _maximum_likelihood(est)  # GaussianMixture's bound and tol: per point
    n = X.shape[0]
    progress = Progress(sys.stderr, est.max_iter, est.n_init, n, quiet=quiet,
                        tol=est.tol / n if family and not mean else est.tol,
                        unit="iteration" if family else "sweep", quantity=quantity)
    progress.compile_seconds = compile_seconds
    if not quiet and est.n_components * n * X.shape[1] >= START_NOTICE_WORK:
        start_with = getattr(est, "init_params", "k-means++")
        sys.stderr.write(f"run 1/{est.n_init}: choosing {est.n_components:,} starting centres "
                         f"({start_with}) among {n:,} points; the progress shows from the "
                         f"first {progress.unit}\n")
        sys.stderr.flush()
    start = time.perf_counter()
    try:
        est._fit(X, callback=(lambda it, bound: progress(it, bound * n)) if mean else progress)
    finally:
        progress.close()
    return progress, time.perf_counter() - start
