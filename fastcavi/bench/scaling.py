"""How one iteration's time falls with the thread count: ``BayesianGaussianMixture``'s
iteration (the pass over the data, the M-step and the exact ELBO) for each covariance type,
and the fixed-variance sweep, at 1, 2, 4, ... threads up to the cores Numba has.

    python -m fastcavi.bench.scaling                         # N = 1e6, p = 16, K = 16
    python -m fastcavi.bench.scaling --n 1e6 --p 2 --k 10

Each row gives the median time per iteration, the speed-up over one thread and the
efficiency (speed-up / threads). The pass splits the rows into at most 64 chunks whatever the
thread count (so results are bit-identical for any thread count), and the M-step and the
ELBO run on one thread: both set how far the speed-up can go. The report ends with the time
of streaming X once at each thread count (a sum over every row, the memory floor of a pass).
"""

from __future__ import annotations

import sys

import numba
import numpy as np

from .._threads import thread_limit
from .._validation import as_kernel_array
from ..data.sources import ArraySource
from ..models.family_fit import family_sweep
from ..models.names import COVARIANCE_TYPES
from . import cavi as bench
from .family import family_problem


@numba.njit(parallel=True, cache=False)
def _stream(X):
    """sum of X by rows in parallel: reads every byte once."""
    total = np.zeros(X.shape[0] // 4096 + 1)
    for c in numba.prange(total.shape[0]):
        s = 0.0
        for i in range(c * 4096, min(X.shape[0], (c + 1) * 4096)):
            for j in range(X.shape[1]):
                s += X[i, j]
        total[c] = s
    return total.sum()


def thread_counts(most=None):
    """1, 2, 4, ... up to ``most`` (Numba's threads by default), ``most`` itself last."""
    most = numba.config.NUMBA_NUM_THREADS if most is None else int(most)
    counts = [1]
    while counts[-1] * 2 < most:
        counts.append(counts[-1] * 2)
    return counts + ([most] if most > 1 else [])


def run(n_samples, n_features, n_components, types=COVARIANCE_TYPES, repeats=5, most=None,
        log=print):
    """{name: {threads: seconds per iteration}} for each type, the fixed-variance sweep and
    the stream of X."""
    X, means, mean_vars, hyper = bench.make_problem(n_samples, n_features, n_components)
    Xk = as_kernel_array(X)
    counts = thread_counts(most)
    work = {}
    for ctype in types:
        prior, params = family_problem(Xk, n_components, ctype)
        sweep = family_sweep(ArraySource(Xk), prior)
        work[f"BayesianGaussianMixture {ctype}"] = lambda s=sweep, q=params: s(q)
    work["fixed-variance sweep"] = lambda: bench.fast_sweep(Xk, means, mean_vars, hyper)
    work["stream X once (memory floor)"] = lambda: _stream(Xk)
    out = {name: {} for name in work}
    for name, fn in work.items():
        fn()  # compile or load, untimed
        for t in counts:
            with thread_limit(t):
                out[name][t] = bench.measure(fn, repeats)[0]
            log(f"  {name}, {t} threads: {out[name][t] * 1e3:.2f} ms")
    return out


def report(result, shape):
    counts = sorted(next(iter(result.values())))
    n, p, k = shape
    lines = [f"Per iteration, N = {n:,}, p = {p}, K = {k}, float64; "
             f"time (speed-up over 1 thread, efficiency)",
             f"{'':34s}" + "".join(f"{t:>22d}" for t in counts)]
    for name, by in result.items():
        cells = "".join(f"{by[t] * 1e3:>9.2f} ms ({by[1] / by[t]:>4.1f}x {by[1] / by[t] / t:>4.0%})"
                        for t in counts)
        lines.append(f"{name:34s}{cells}")
    return "\n".join(lines)


def main(argv=None):
    ap = bench.shape_parser("python -m fastcavi.bench.scaling", __doc__, 16, 16, 5,
                            COVARIANCE_TYPES,
                            threads_help="the most threads (default: the cores Numba has)")
    args, shape = bench.parse_shape(ap, argv)
    print(report(run(*shape, types=tuple(args.types), repeats=args.repeats,
                     most=args.threads), shape))
    return 0


if __name__ == "__main__":
    sys.exit(main())
