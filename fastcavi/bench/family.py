"""Time one iteration of ``BayesianGaussianMixture`` against its peers, measured in one run.

    python -m fastcavi.bench.family                      # N = 1e6, p = 2, K = 10
    python -m fastcavi.bench.family --n 3e5 --p 16 --k 16
    python -m fastcavi.bench.family --types full tied    # any of the four covariance types

Rows (medians; ratios to fastcavi's float64 iteration of the first type asked for):
fastcavi's iteration (the pass over the data, the M-step and the exact ELBO) for each
covariance type asked for (spherical and diag by default), float64 and float32; the
fixed-variance model's sweep at the same shape (the floor a learned model should stay near);
the floors of :mod:`fastcavi.bench.shapes` (each type's pass written as dense products, at the
BLAS rate measured in the same run) and KMeans' own (2 N p K: its distances), so that the
ratio to a KMeans iteration can be read against what each must compute;
scikit-learn's ``BayesianGaussianMixture`` per iteration with the same
``covariance_type`` (by the difference of warm-started fits, see
:func:`fastcavi.bench.cavi.sklearn_bgm_per_iter`); and a ``KMeans`` lloyd iteration (about one pass
over X at memory speed). BLAS is held to one thread for scikit-learn's fits only when
``--threads 1``.
"""

from __future__ import annotations

import sys

import numba
import numpy as np

from .._threads import thread_limit
from .._validation import as_kernel_array
from ..data.defaults import moments
from ..data.sources import ArraySource
from ..models.covariance import weighted_covariance
from ..models.family import FamilyPrior
from ..models.family_fit import family_sweep, start_from_resp
from . import cavi as bench


def family_problem(X, n_components, covariance_type, seed=0):
    """scikit-learn's default prior and a start from random responsibilities."""
    m = moments(ArraySource(X))
    mean, var = m.mean, m.variances(ddof=1)
    psi0 = {"diag": var, "spherical": float(var.mean())}.get(covariance_type)
    if psi0 is None:  # full, tied
        psi0 = weighted_covariance(ArraySource(X), mean, m.total)
    prior = FamilyPrior(covariance_type, "dirichlet_process", 1.0 / n_components, 1.0, mean,
                        float(X.shape[1]), psi0, 1e-6)
    rng = np.random.default_rng(seed)
    resp = rng.dirichlet(np.ones(n_components), size=min(len(X), 20_000))
    params = start_from_resp(ArraySource(X[:len(resp)]), resp, prior)
    return prior, params


def run(n_samples, n_features, n_components, repeats=5, n_threads=None, log=print,
        types=("spherical", "diag")):
    X, means, mean_vars, hyper = bench.make_problem(n_samples, n_features, n_components)
    rows = []

    def add(name, result):
        seconds, n = result
        rows.append(dict(name=name, seconds=seconds, calls=n))
        log(f"  measured {name}: {'n/a' if seconds is None else f'{seconds * 1e3:.3f} ms'}")

    with thread_limit(n_threads):
        for dt in ("float64", "float32"):
            Xk = as_kernel_array(X.astype(dt, copy=False))
            for ctype in types:
                prior, params = family_problem(Xk, n_components, ctype)
                sweep = family_sweep(ArraySource(Xk), prior)
                sweep(params)  # compile or load the kernels, untimed
                add(f"fastcavi {ctype} {dt}, per iter",
                    bench.measure(lambda s=sweep, q=params: s(q), repeats))
        Xk = as_kernel_array(X)
        add("fastcavi fixed-variance sweep float64",
            bench.measure(lambda: bench.fast_sweep(Xk, means, mean_vars, hyper), repeats))
        rate = bench.blas_rate(repeats)
        add("floor N K exps", (bench.exp_floors(n_samples * n_components, repeats,
                                                numba.get_num_threads())[0][0], 0))
        for ctype in types + ("kmeans",):
            add(f"floor {ctype} float64",
                (bench.floor_flops(ctype, n_samples, n_features, n_components) / rate, 0))
    for ctype in types:
        add(f"sklearn BayesianGaussianMixture {ctype}, per iter",
            bench.sklearn_bgm_per_iter(X, n_components, repeats, covariance_type=ctype))
    add("sklearn KMeans lloyd, per iter", bench.sklearn_kmeans_per_iter(X, means, repeats))
    return rows


def _ratio(a, b, form):
    """a / b as text; "n/a" where a time by difference was not positive (noise: None)."""
    return "n/a" if a is None or b is None else format(a / b, form) + "x"


def report(rows, shape, types=("spherical", "diag")):
    by, lines = bench.timing_lines(rows, shape, f"fastcavi {types[0]} float64, per iter")
    for ctype in types:
        ours, theirs = by[f"fastcavi {ctype} float64, per iter"], \
            by[f"sklearn BayesianGaussianMixture {ctype}, per iter"]
        f32 = by[f"fastcavi {ctype} float32, per iter"]
        floor = by["fastcavi fixed-variance sweep float64"]
        km = by["sklearn KMeans lloyd, per iter"]
        lines.append(f"{ctype}: {_ratio(theirs, ours, '.1f')} faster than scikit-learn; "
                     f"{_ratio(ours, floor, '.2f')} the fixed-variance sweep; "
                     f"{_ratio(ours, km, '.2f')} a KMeans iteration; "
                     f"float32 {_ratio(ours, f32, '.2f')} faster")
        # what a KMeans iteration is against: the E-step's products outnumber its distances
        mine, theirs_floor = by[f"floor {ctype} float64"], by["floor kmeans float64"]
        exps = by["floor N K exps"]
        lines.append(f"  {_ratio(ours, mine, '.2f')} its products at the BLAS rate, "
                     f"{_ratio(ours, mine + exps, '.2f')} those and its N K exps (which KMeans "
                     f"does not do); the products are {_ratio(mine, theirs_floor, '.0f')} "
                     f"KMeans' distances, and KMeans runs at {_ratio(km, theirs_floor, '.2f')} "
                     "its own")
    return "\n".join(lines)


def main(argv=None):
    ap = bench.shape_parser("python -m fastcavi.bench.family", __doc__, 2, 10, 5,
                            ("spherical", "diag"),
                            types_help="covariance types to time (ratios are to the first "
                                       "one's float64)")
    args, shape = bench.parse_shape(ap, argv)
    rows = run(*shape, repeats=args.repeats, n_threads=args.threads, types=tuple(args.types))
    print(report(rows, shape, tuple(args.types)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
