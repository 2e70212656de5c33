"""Time to a fit: batch, incremental and accelerated passes (and one pass of partial_fit) on a
memory-mapped file.

    python -m fastcavi.bench.algorithms                  # N = 1e7, p = 2 and 16, K = 10
    python -m fastcavi.bench.algorithms --n 1e6 --max-iter 500 --tol 0
    python -m fastcavi.bench.algorithms --quick          # a small smoke run

For each p, N points are drawn from K Gaussians (centres N(0, 6^2), spreads 0.5 to 1.4:
neighbours overlap at p = 2, hardly at p = 16), written once to a temporary ``.npy`` and read
memory-mapped, as a user with a file larger than memory would. For each estimator
(``GaussianMixtureCAVI``, ``BayesianGaussianMixture`` full and diag), from the same start
(``random_from_data``, ``random_state=0``), each algorithm runs until its ELBO changes by less
than ``--tol`` nats per point per iteration (1e-9; 0 runs every iteration) or for
``--max-iter`` iterations, recording the wall time and the exact ELBO after every iteration.
The measure is
the time until the ELBO is within 1e-6 nats per point of the best ELBO the batch run reaches
(the start's time included, the same for all); a run that never gets there (it ended at a
lower local optimum) shows ``>`` its whole time. The ratios are batch's time over each
algorithm's, from the same run. Beside each run: where its ELBO ended, per point, against the
batch run's best (above 0: a better optimum than batch found). The floor: no run has a bound over
all the data before the start and one pass, which batch's first iteration takes, so batch's time
over that is the most any algorithm can gain. Then one pass of
``partial_fit`` in batches of 1e5 rows: points per second against a batch pass's.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np

ALGORITHMS = ("batch", "incremental", "accelerated", "subsample_start")
#: Within this many nats per point of the best ELBO counts as reached.
WITHIN = 1e-6


def make_file(directory, n_samples, n_features, n_components, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (n_components, n_features))
    path = os.path.join(directory, f"points-{n_features}.npy")
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64,
                                    shape=(n_samples, n_features))
    for start in range(0, n_samples, 1_000_000):
        rows = min(1_000_000, n_samples - start)
        z = rng.integers(n_components, size=rows)
        out[start:start + rows] = centres[z] + rng.normal(size=(rows, n_features)) * (
            0.5 + z[:, None] / n_components)
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


def _estimators(n_components, n_samples):
    """Each estimator's maker, ``make(tol=per_point, **params)``: BayesianGaussianMixture's
    tol is a change of the total bound, GaussianMixtureCAVI's a change per point."""
    from .. import BayesianGaussianMixture, GaussianMixtureCAVI

    def bgm(ctype):
        return lambda tol=1e-3 / n_samples, **kw: BayesianGaussianMixture(
            n_components=n_components, covariance_type=ctype, random_state=0,
            init_params="random_from_data", total_samples=n_samples, tol=tol * n_samples,
            **kw)

    return {
        "GaussianMixtureCAVI": lambda **kw: GaussianMixtureCAVI(
            n_components, random_state=0, init_params="random_from_data",
            total_samples=n_samples, **kw),
        "BayesianGaussianMixture full": bgm("full"),
        "BayesianGaussianMixture diag": bgm("diag"),
    }


def _timed_fit(est, X):
    """Fit, recording (seconds since the start, ELBO) after every iteration."""
    trace = []
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est._fit(X, None, callback=lambda it, bound: trace.append(
            (time.perf_counter() - start, bound)))
    return time.perf_counter() - start, trace


def time_to(trace, target):
    """The first time in ``trace`` at which the ELBO reaches ``target``, or None."""
    return next((t for t, b in trace if b >= target), None)


def _fmt(seconds, total):
    return f">{total:.3g} s" if seconds is None else f"{seconds:.3g} s"


def run(n_samples=10_000_000, features=(2, 16), n_components=10, max_iter=1000,
        batch_rows=100_000, log=print, tol=1e-9, algorithms=ALGORITHMS):
    if "batch" not in algorithms:
        raise ValueError("the ratios are against batch: algorithms must include 'batch'")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for p in features:
            X = make_file(tmp, n_samples, p, n_components)
            for name, make in _estimators(n_components, n_samples).items():
                with warnings.catch_warnings():  # compile (or load) the kernels, untimed
                    warnings.simplefilter("ignore")
                    for algorithm in algorithms:
                        make(max_iter=4, algorithm=algorithm).fit(X[:2000])
                runs = {a: _timed_fit(make(max_iter=max_iter, tol=tol, algorithm=a), X)
                        for a in algorithms}
                best = max(b for _, b in runs["batch"][1])
                target = best - WITHIN * n_samples
                reached = {a: time_to(trace, target) for a, (_, trace) in runs.items()}
                stream = make()
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for first in range(0, n_samples, batch_rows):
                        stream.partial_fit(X[first:first + batch_rows])
                t_stream = time.perf_counter() - start
                t_batch, trace_b = runs["batch"]
                sweep = t_batch / len(trace_b)
                # no run reports a bound over all the data before its start and one pass
                first_pass = trace_b[0][0]
                row = dict(name=name, p=p, best_elbo_per_point=best / n_samples,
                           first_pass_s=first_pass,
                           stream_points_per_s=n_samples / t_stream,
                           sweep_points_per_s=n_samples / sweep)
                parts = []
                for a, (total, trace) in runs.items():
                    row[f"{a}_s"], row[f"{a}_total_s"] = reached[a], total
                    row[f"{a}_iterations"] = len(trace)
                    row[f"{a}_end_per_point"] = end = (trace[-1][1] - best) / n_samples
                    ratio = "" if a == "batch" or reached[a] is None else \
                        f"{reached['batch'] / reached[a]:.1f}x, "
                    parts.append(f"{a} {_fmt(reached[a], total)} ({ratio}ends {end:+.1e})")
                rows.append(row)
                log(f"p = {p}, {name}: within {WITHIN:g}/point of batch's best ELBO "
                    f"({best / n_samples:.7f}/point) after: " + ", ".join(parts)
                    + f"; floor: batch's first pass ends at {first_pass:.3g} s (the start and "
                      f"one pass, before which no run has a bound), so at most "
                      + (f"{reached['batch'] / first_pass:.1f}x" if reached["batch"] else "n/a")
                    + f"; partial_fit {n_samples / t_stream:.3g} points/s = "
                      f"{(n_samples / t_stream) / (n_samples / sweep):.2f} of a batch pass's")
            del X
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=None, help="rows (default 1e7)")
    parser.add_argument("--p", type=int, nargs="+", default=[2, 16])
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--max-iter", type=int, default=None,
                        help="iterations of every run (default 1000)")
    parser.add_argument("--tol", type=float, default=1e-9,
                        help="a run stops when its ELBO changes by less than this per point "
                             "(default 1e-9; 0: every iteration)")
    parser.add_argument("--algorithms", nargs="+", choices=ALGORITHMS, default=ALGORITHMS)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="N = 20000, 30 iterations")
    args = parser.parse_args(argv)
    n = int(args.n or (20_000 if args.quick else 1e7))
    max_iter = args.max_iter or (30 if args.quick else 1000)
    run(n, args.p, args.k, max_iter, min(args.batch_rows, n), tol=args.tol,
        algorithms=tuple(args.algorithms))


if __name__ == "__main__":
    main()
