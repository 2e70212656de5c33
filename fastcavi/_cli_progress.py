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
    (:func:`fastcavi._cachedir.kernel_cache_dirs`; nothing of Numba is imported)."""
    from ._cachedir import kernel_cache_dirs

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


def cached_kernels(kernel="_sweep_statistics"):
    """(cache directory, number of fastcavi kernel index files there) when it holds a compiled
    ``kernel`` newer than its source, else (None, 0)."""
    d = cache_dir()
    package = os.path.dirname(os.path.abspath(__file__))
    try:
        stamp = os.stat(os.path.join(package, "_kernels.py")).st_mtime
        names = os.listdir(d) if d is not None else []
    except OSError:
        return None, 0
    tag = f".py{sys.version_info[0]}{sys.version_info[1]}.nbi"
    fresh = [n for n in names if n.startswith(f"_kernels.{kernel}-") and n.endswith(tag)
             and os.stat(os.path.join(d, n)).st_mtime >= stamp]
    if not fresh:
        return None, 0
    return d, sum(1 for n in names if n.endswith(tag) and n.startswith(("_kernels.",
                                                                         "_fastexp.")))


def _compiled_in_this_process(kernel):
    """Whether ``kernel`` already runs in this process (loaded or compiled: nothing to wait
    for). Only looks when fastcavi's kernels are imported already; never imports them."""
    kernels = sys.modules.get("fastcavi._kernels")
    dispatcher = getattr(kernels, kernel, None)
    return bool(getattr(dispatcher, "signatures", None))


def compile_notice(stream, kernel="_sweep_statistics", quiet=False):
    """Say so before a first run compiles the kernels (it would look hung otherwise)."""
    if quiet or _compiled_in_this_process(kernel) or cached_kernels(kernel)[0] is not None:
        return
    stream.write(f"compiling kernels, once, about {COMPILE_SECONDS} s (later runs load them "
                 "from the cache)\n")
    stream.flush()


# -- progress --------------------------------------------------------------------------------

class Progress:
    """The callback ``cb(sweep_index, elbo)`` for ``GaussianMixtureCAVI._fit``: draws a bar on
    a terminal (redrawn with \\r), or prints a line every ``every`` sweeps when the stream is
    not a terminal; records every run's ELBO trace and the time between sweeps.

    The bar is the share of the ``n_init`` runs done, the current run counting by
    :meth:`run_fraction`; it is full when the last run ends.
    """

    def __init__(self, stream, max_iter, n_init, n_points, quiet=False, every=5, tol=0.0):
        self.stream = stream
        self.max_iter = max_iter
        self.n_init = n_init
        self.n_points = n_points
        self.tol = tol
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

    def run_fraction(self, trace):
        """How far a run is, in [0, 1): the ELBO change per point between the last two sweeps
        against ``tol``, on a log scale from the first change, or the sweeps against
        ``max_iter`` when that is further."""
        by_sweeps = len(trace) / self.max_iter
        if self.tol <= 0 or len(trace) < 2:
            return min(by_sweeps, 0.99)
        first = abs(trace[1] - trace[0]) / self.n_points
        change = abs(trace[-1] - trace[-2]) / self.n_points
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
        text = (f"run {len(self.traces)}/{self.n_init}  sweep {it + 1:>3}  "
                f"ELBO {elbo:.10g} ({elbo / self.n_points:.6f} per point)")
        trace = self.traces[-1]
        if len(trace) >= 2:
            change = abs(trace[-1] - trace[-2]) / self.n_points
            text += f"  change {change:.1e}/point (tol {self.tol:g})"
        if it > 0 and self.sweep_times:
            text += f"  {fmt_time(self.sweep_times[-1])}/sweep"
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
        self.stream.write(f"{bar}run {len(self.traces)}/{self.n_init}: {len(trace)} sweeps, "
                          f"final ELBO {trace[-1]:.10g}\n")
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


def fit_with_progress(est, X, quiet):
    """est._fit(X) with the compile notice and the progress bar on stderr."""
    compile_notice(sys.stderr, quiet=quiet)
    progress = Progress(sys.stderr, est.max_iter, est.n_init, X.shape[0], quiet=quiet,
                        tol=est.tol)
    start = time.perf_counter()
    try:
        est._fit(X, callback=progress)
    finally:
        progress.close()
    return progress, time.perf_counter() - start
