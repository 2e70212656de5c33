"""Large shapes against the floor: one ``BayesianGaussianMixture`` iteration of each covariance
type against the time its dense products take at this machine's BLAS rate.

    python -m fastcavi.bench.shapes                          # N = 1e6, p = 64, K = 64
    python -m fastcavi.bench.shapes --p 128 --k 1024 --types spherical --repeats 1
    python -m fastcavi.bench.shapes --sklearn                # and scikit-learn per iteration

The floor of a type is the multiply-adds of its pass written as dense products (counted
below, 2 flops each), at the rate of a square BLAS product measured in the same process with
the same threads:

=========== ============================================================================
full        4 N K p^2: per component, the rows through its p x p factor and the scatter
tied        4 N p^2 + 4 N p K: the rows through the shared factor and the scatter, and the
            distances to and sums about the K whitened means
diag        8 N p K: [x^2 | x] times the (2p, K) precisions and means, and back
spherical   4 N p K: x times the K means, and back
=========== ============================================================================

A ratio near 1 means the pass runs at the BLAS rate. The second floor adds what no product
does: the N K exps of the responsibilities, at the rate of the kernels' exp over values in L1
(:func:`fastcavi.bench.cavi.exp_floors`), measured in the same process. The M-step and the ELBO
come on top of both. The BLAS paths of spherical and diag do their products per block of B rows
(``core.gram_block_rows``), (K x q)(q x B) and (K x B)(B x q) with q = p and 2 p: skinny
products, whose inner or outer dimension is p, not a square's 1536. So the third floor,
"shapes", is the first at the rate of those two products as the kernels call them (Numba's
``np.dot``, one thread each), the ratio of the two rates measured on one thread in the same
process, plus the exps. scikit-learn's iteration (``--sklearn``) takes minutes at the default
shape.
"""

from __future__ import annotations

import sys

import numba
import numpy as np

from .._threads import single_threaded_blas, thread_limit
from .._validation import as_kernel_array
from ..data.sources import ArraySource
from ..models.family_fit import family_sweep
from ..models.names import COVARIANCE_TYPES
from . import cavi as bench
from .cavi import blas_rate, exp_floors, floor_flops
from .family import family_problem

#: The types whose BLAS path does two skinny products per block: q, the products' width.
BLOCK_WIDTH = {"spherical": 1, "diag": 2}


@numba.njit
def _square(a, out):
    np.dot(a, a, out)


@numba.njit
def _block(w, f, e, logits, sums, reps):
    """``reps`` times a block's two products as the kernels do them (Numba's np.dot, the BLAS
    they call): logits <- w f^T, (K x q)(q x B), and sums <- e f, (K x B)(B x q); f is the
    block's (B, q) rows."""
    for _ in range(reps):
        np.dot(w, f.T, logits)
        np.dot(e, f, sums)


def block_rate_ratio(n_features, n_components, dtype, repeats, widths):
    """How many times slower, on one thread, the two products per block of a spherical or diag
    BLAS pass run (``q`` = width times p: (K x q)(q x B) and (K x B)(B x q)) than a square
    product of side 1536: {width: ratio} for each of ``widths``."""
    from ..kernels.core import gram_block_rows

    rng = np.random.default_rng(2)
    side, b, k = 1536, int(gram_block_rows(n_components)), n_components
    sq = rng.standard_normal((side, side)).astype(dtype)
    square = bench.measure(lambda: _square(sq, np.empty_like(sq)),
                           max(repeats, 3))[0] / (2.0 * side ** 3)
    ratios = {}
    for width in widths:
        q = width * n_features
        w, f = rng.standard_normal((k, q)).astype(dtype), rng.standard_normal((b, q)).astype(dtype)
        e = rng.standard_normal((k, b)).astype(dtype)
        logits, sums = np.empty((k, b), dtype), np.empty((k, q), dtype)
        reps = max(1, int(2e8 / (4.0 * k * q * b)))
        pair = bench.measure(lambda: _block(w, f, e, logits, sums, reps),
                             max(repeats, 3))[0] / (4.0 * k * q * b * reps)
        ratios[width] = pair / square
    return ratios


def run(n_samples, n_features, n_components, types=COVARIANCE_TYPES, repeats=3,
        n_threads=None, sklearn=False, log=print):
    """Rows: for each type, fastcavi's float64 and float32 iteration, the floor in each dtype
    and (``sklearn``) scikit-learn's iteration; seconds."""
    X = bench.make_problem(n_samples, n_features, n_components)[0]
    rows = []

    def add(name, seconds):
        rows.append(dict(name=name, seconds=seconds))
        log(f"  measured {name}: {'n/a' if seconds is None else f'{seconds * 1e3:.1f} ms'}")

    shape = (n_samples, n_features, n_components)
    with thread_limit(n_threads):
        rates = {dt: blas_rate(repeats, np.dtype(dt)) for dt in ("float64", "float32")}
        widths = {BLOCK_WIDTH[ctype] for ctype in types if ctype in BLOCK_WIDTH}
        with single_threaded_blas():  # (only for the types asked for: each is seconds)
            slower = {dt: block_rate_ratio(n_features, n_components, np.dtype(dt), repeats,
                                           widths) if widths else {}
                      for dt in ("float64", "float32")}
        add("exps", exp_floors(n_samples * n_components, repeats,
                               numba.get_num_threads())[0][0])
        for dt in ("float64", "float32"):
            Xk = as_kernel_array(X.astype(dt, copy=False))
            for ctype in types:
                prior, params = family_problem(Xk, n_components, ctype)
                sweep = family_sweep(ArraySource(Xk), prior)
                add(f"fastcavi {ctype} {dt}", bench.measure(lambda s=sweep, q=params: s(q),
                                                            repeats)[0])
                add(f"floor {ctype} {dt}", floor_flops(ctype, *shape) / rates[dt])
                if ctype in BLOCK_WIDTH:
                    add(f"shapes {ctype} {dt}", rows[-1]["seconds"]
                        * slower[dt][BLOCK_WIDTH[ctype]])
    if sklearn:
        for ctype in types:
            add(f"sklearn {ctype}", bench.sklearn_bgm_per_iter(X, n_components, 1,
                                                                covariance_type=ctype)[0])
    return rows


def report(rows, shape, types=COVARIANCE_TYPES):
    by = {r["name"]: r["seconds"] for r in rows}
    n, p, k = shape
    exps = by["exps"]
    lines = [f"Per iteration, N = {n:,}, p = {p}, K = {k}: seconds, over the floor (the "
             f"products at the BLAS rate), and over it plus the N K exps ({exps:.3f} s)",
             f"{'':10s}{'float64':>12s}{'floor':>10s}{'ratio':>8s}{'+exps':>8s}{'float32':>12s}"
             f"{'floor':>10s}{'ratio':>8s}{'+exps':>8s}{'scikit-learn':>14s}{'speed-up':>10s}"]
    for ctype in types:
        cells = ""
        for dt in ("float64", "float32"):
            ours, floor = by[f"fastcavi {ctype} {dt}"], by[f"floor {ctype} {dt}"]
            # a space before each ratio: at a tiny shape a ratio can be wider than its column
            cells += (f"{ours:>12.3f}{floor:>10.3f} {ours / floor:>6.2f}x"
                      f" {ours / (floor + exps):>6.2f}x")
        if f"sklearn {ctype}" in by:
            theirs = by[f"sklearn {ctype}"]  # None: noise made the difference not positive
            cells += ("           n/a       n/a" if theirs is None else
                      f"{theirs:>14.2f} {theirs / by[f'fastcavi {ctype} float64']:>8.1f}x")
        lines.append(f"{ctype:10s}{cells}")
    for ctype in types:
        if f"shapes {ctype} float64" not in by:
            continue
        cells = []
        for dt in ("float64", "float32"):
            shaped = by[f"shapes {ctype} {dt}"]
            cells.append(f"{dt} {shaped:.3f} s ({shaped / by[f'floor {ctype} {dt}']:.2f}x the "
                         f"square rate's), fastcavi "
                         f"{by[f'fastcavi {ctype} {dt}'] / (shaped + exps):.2f}x it with the exps")
        lines.append(f"{ctype} at its products' own rate (a block's two skinny products, one "
                     "thread): " + "; ".join(cells))
    return "\n".join(lines)


def main(argv=None):
    ap = bench.shape_parser("python -m fastcavi.bench.shapes", __doc__, 64, 64, 3,
                            COVARIANCE_TYPES)
    ap.add_argument("--sklearn", action="store_true",
                    help="also time scikit-learn's iteration (minutes at the default shape)")
    args, shape = bench.parse_shape(ap, argv)
    rows = run(*shape, types=tuple(args.types), repeats=args.repeats, n_threads=args.threads,
               sklearn=args.sklearn)
    print(report(rows, shape, tuple(args.types)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
