"""Time one EM iteration of ``GaussianMixture`` against scikit-learn's, measured in one run.

    python -m fastcavi.bench.gm                        # N = 1e6, p = 2, K = 10, all types
    python -m fastcavi.bench.gm --n 3e5 --p 16 --k 16
    python -m fastcavi.bench.gm --n 1e6 --p 64 --k 64 --types full
    python -m fastcavi.bench.gm --quick                # a small smoke run
    python -m fastcavi.bench.gm --types spherical --paired 7   # ratios measured in turn

Both start from the same parameters (equal weights, K data points as means, identity
precisions, given as ``weights_init``, ``means_init`` and ``precisions_init``). fastcavi's
iteration is timed directly: the one pass over the data (E-step and sums) and the M-step, as
``fit`` runs it. scikit-learn's ``GaussianMixture`` has no way to time one iteration alone, so
it is fitted with ``warm_start=True`` and ``tol=0`` (after one untimed fit, every ``fit``
continues from the current parameters and runs exactly ``max_iter`` iterations, plus its
fixed checks and final E-step): its time per iteration is the difference between fits of
``max_iter=3`` and ``max_iter=1``, over 2. Medians over ``--repeats`` calls.

For the 'full' type the report adds the floor: the two matrix products of every row with K
p x p matrices that any full-covariance E-step and M-step must do (the Mahalanobis
distances, and the scatter matrices), 4 N K p^2 flops, at the rate this machine's BLAS reaches
on a square 1536 x 1536 product in the same run (compute-bound, unlike ``X_b @ A`` over row
blocks, whose (B, K p) output is written to memory); and fastcavi's time over it. At small p
an iteration is bound by reading X, not by arithmetic, and the floor says little there.
``--threads n`` holds fastcavi, BLAS and scikit-learn to n threads.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings

import numpy as np

from .._threads import thread_limit
from .._validation import as_kernel_array
from ..data.sources import ArraySource
from ..inference.algorithms import make_sweep
from ..models.covariance import COVARIANCES
from ..models.em import em_model
from ..models.names import COVARIANCE_TYPES
from . import cavi as bench

FLOOR = "floor: 4 N K p^2 flops at BLAS's rate"


def start(X, n_components, covariance_type, seed=0):
    """(weights, means, precisions): equal weights, K rows of X, identity precisions."""
    rng = np.random.default_rng(seed)
    k, p = n_components, X.shape[1]
    means = np.asarray(X[rng.choice(len(X), k, replace=False)], dtype=np.float64)
    precisions = {"full": np.array([np.eye(p)] * k), "tied": np.eye(p),
                  "diag": np.ones((k, p)), "spherical": np.ones(k)}[covariance_type]
    return np.full(k, 1.0 / k), means, precisions


def fastcavi_iteration(Xk, n_components, covariance_type, initial):
    """A function running one of ``GaussianMixture``'s iterations (pass and M-step) from the
    start ``initial``, as its fit does."""
    from ..estimators.gaussian_mixture import GaussianMixture

    weights, means, precisions = initial
    gm = GaussianMixture(n_components, covariance_type=covariance_type, weights_init=weights,
                         means_init=means, precisions_init=precisions, max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter=0 does not converge
        params = gm.fit(Xk[:max(n_components, 2)])._params_  # the start; no data used
    visit, update = em_model(covariance_type, 1e-6, Xk.dtype)
    sweep = make_sweep("batch", ArraySource(Xk), visit, update,
                       COVARIANCES[covariance_type].stats_shape)
    return lambda: sweep(params)


def sklearn_gm_per_iter(X, n_components, covariance_type, initial, repeats, short=1, long=3):
    """scikit-learn's ``GaussianMixture``, seconds per iteration (see the module docstring)."""
    from sklearn.mixture import GaussianMixture

    weights, means, precisions = initial
    gm = GaussianMixture(n_components, covariance_type=covariance_type, weights_init=weights,
                         means_init=means, precisions_init=precisions, warm_start=True,
                         tol=0.0, max_iter=1, init_params="random_from_data", random_state=0)
    return bench.warm_start_per_iter(gm, X, repeats, short, long)


def matmul_floor(X, n_components, repeats):
    """Seconds for the 4 N K p^2 flops of a full-covariance iteration's two products per row
    with K p x p matrices, at the rate of a square BLAS product (the median of ``repeats``).
    Returns (seconds, number of timed products)."""
    n, p = X.shape
    side = 1536
    a = np.random.default_rng(1).standard_normal((side, side))
    seconds, timed = bench.measure(lambda: a @ a, max(repeats, 3))
    rate = 2.0 * side ** 3 / seconds
    return 4.0 * n * n_components * p * p / rate, timed


def _blas_limit(n_threads):
    if n_threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n_threads, user_api="blas")


def run(n_samples, n_features, n_components, repeats=5, n_threads=None, log=print,
        types=COVARIANCE_TYPES):
    X = bench.make_problem(n_samples, n_features, n_components)[0]
    rows = []

    def add(name, result):
        seconds, n = result
        rows.append(dict(name=name, seconds=seconds, calls=n))
        log(f"  measured {name}: {'n/a' if seconds is None else f'{seconds * 1e3:.3f} ms'}")

    # fastcavi's rows first: OpenBLAS's threads spin for a while after scikit-learn's products
    # and the floor's, and on 16 cores took the cores from the next row (tied: 46 ms measured
    # right after them, 3.9 ms before them)
    starts = {ctype: start(X, n_components, ctype) for ctype in types}
    for ctype, initial in starts.items():
        with thread_limit(n_threads):
            for dt in ("float64", "float32"):
                one = fastcavi_iteration(as_kernel_array(X.astype(dt, copy=False)),
                                         n_components, ctype, initial)
                add(f"fastcavi {ctype} {dt}, per iter", bench.measure(one, repeats))
    for ctype, initial in starts.items():
        with _blas_limit(n_threads):
            add(f"sklearn GaussianMixture {ctype}, per iter",
                sklearn_gm_per_iter(X, n_components, ctype, initial, repeats))
            if ctype == "full":
                add(FLOOR, matmul_floor(X, n_components, repeats))
    return rows


def paired_ratios(n_samples, n_features, n_components, ctype, rounds, n_threads=None):
    """scikit-learn's time per iteration over fastcavi's float64 one, ``rounds`` times, each
    round measuring the two in turn (fastcavi's median of 5 iterations, then scikit-learn's
    difference of one pair of fits), so that both see the shared machine in the same state.
    Returns the ratios (a round whose scikit-learn time came out not positive is dropped)."""
    X = bench.make_problem(n_samples, n_features, n_components)[0]
    initial = start(X, n_components, ctype)
    one = fastcavi_iteration(as_kernel_array(X), n_components, ctype, initial)
    ratios = []
    for _ in range(rounds):
        with thread_limit(n_threads):
            ours, _ = bench.measure(one, 5)
        with _blas_limit(n_threads):
            theirs, _ = sklearn_gm_per_iter(X, n_components, ctype, initial, 1)
        if theirs is not None and theirs > 0:
            ratios.append(theirs / ours)
    return ratios


def report(rows, shape, types=COVARIANCE_TYPES):
    by, lines = bench.timing_lines(rows, shape, f"fastcavi {types[0]} float64, per iter")
    def ratio(a, b, form):
        # scikit-learn's time by difference is None when noise made it not positive
        return "n/a" if a is None or b is None else format(a / b, form) + "x"

    for ctype in types:
        ours = by[f"fastcavi {ctype} float64, per iter"]
        theirs = by[f"sklearn GaussianMixture {ctype}, per iter"]
        f32 = by[f"fastcavi {ctype} float32, per iter"]
        line = (f"{ctype}: {ratio(theirs, ours, '.1f')} faster than scikit-learn; float32 "
                f"{ratio(ours, f32, '.2f')} faster than float64")
        if ctype == "full":
            line += f"; {ratio(ours, by[FLOOR], '.2f')} the matmul floor"
        lines.append(line)
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m fastcavi.bench.gm",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=float, default=None, help="points (default 1e6; 2000 quick)")
    ap.add_argument("--p", type=int, default=2)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=None, help="default 5; 1 with --quick")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--types", nargs="+", default=list(COVARIANCE_TYPES),
                    choices=COVARIANCE_TYPES,
                    help="covariance types to time (ratios are to the first one's float64)")
    ap.add_argument("--quick", action="store_true",
                    help="a fast smoke run: N = 2000 and one timed call per row")
    ap.add_argument("--paired", type=int, default=0, metavar="ROUNDS",
                    help="also the ratio to scikit-learn measured in ROUNDS alternating "
                         "rounds per type (median and range; for a noisy machine)")
    args = ap.parse_args(argv)
    n = args.n if args.n is not None else 2000 if args.quick else 1e6
    repeats = args.repeats if args.repeats is not None else 1 if args.quick else 5
    if n < 1 or args.p < 1 or args.k < 1 or repeats < 1:
        ap.error("--n, --p, --k and --repeats must be positive")
    if args.k > n:
        ap.error("--k must not exceed --n")
    shape = (int(n), args.p, args.k)
    quiet = (lambda *a, **k: None) if args.quick else (
        lambda msg: print(msg, file=sys.stderr, flush=True))
    rows = run(*shape, repeats=repeats, n_threads=args.threads, log=quiet,
               types=tuple(args.types))
    print(report(rows, shape, tuple(args.types)))
    for ctype in args.types if args.paired > 0 else ():
        ratios = paired_ratios(*shape, ctype, args.paired, args.threads)
        if not ratios:  # scikit-learn's time by difference was never positive (noise)
            print(f"{ctype}, paired: n/a (no round gave scikit-learn a positive time)")
            continue
        print(f"{ctype}, paired: {np.median(ratios):.1f}x faster than scikit-learn, the "
              f"median of {len(ratios)} rounds (range {min(ratios):.1f}-{max(ratios):.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
