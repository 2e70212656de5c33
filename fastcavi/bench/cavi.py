"""Time one CAVI sweep of fastcavi against the alternatives and the hardware floors.

Run ``python -m fastcavi.bench`` (N = 1e6, p = 2, K = 10) or ``python -m fastcavi.bench
--p 64
--k 64`` (the large-p shape); ``--help`` lists the options. Everything is measured in one
process, on the same data and from the same starting means, and reported as the median over
``--repeats`` calls (after one warm-up call) of the time per sweep:

* fastcavi: one full sweep, i.e. the statistics pass (``fastcavi.models.fixed.block_statistics``),
  the update of q(mu) and the exact ELBO (``update_and_elbo``); with all threads and with one
  (``numba.set_num_threads``), in float64 and, with ``--dtype both``, in float32;
* the same CAVI as vectorised NumPy (:func:`fastcavi.bench.numpy_cavi.sweep`);
* scikit-learn's ``BayesianGaussianMixture(covariance_type="spherical")`` and
  ``KMeans(algorithm="lloyd")``, per iteration (see :func:`sklearn_bgm_per_iter` and
  :func:`sklearn_kmeans_per_iter` for how);
* the floors: the N x K exps alone (NumPy's ``np.exp`` over an N x K array, single-threaded,
  and a parallel Numba loop of ``_exp_nonpos``) and the two BLAS products ``X @ M.T`` and
  ``R.T @ X`` that any sweep needs once p is large.

The performance goals (docs/performance.md) are printed with pass/miss; they are information,
never an exit status.
Timings on a shared machine are noisy: repeat, and compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings

import numba
import numpy as np
from numba import njit, prange

from .._threads import thread_limit
from .._validation import as_kernel_array
from ..kernels.fastexp import _exp_nonpos
from ..models.fixed import Hyper, block_statistics, kernel_means, update_and_elbo
from . import numpy_cavi as _numpy_cavi

# (N, p, K) of the performance goals (docs/performance.md).
SHAPE_SMALL_P = (1_000_000, 2, 10)
SHAPE_LARGE_P = (1_000_000, 64, 64)

# A measurement whose warm-up call takes longer than this gets fewer timed calls (at least 1),
# so that the slow baselines (NumPy at K = 64) do not take minutes.
_BUDGET_S = 10.0


def make_problem(n_samples, n_features, n_components, seed=0):
    """Deterministic data (K well-spread spherical clusters of unit variance), a starting
    q(mu) (K data points, equal s2) and the hyperparameters (alpha the data mean, sigma2 its
    variance, lambda2 = 1, the clusters' true spread)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 4.0, (n_components, n_features))
    labels = rng.integers(n_components, size=n_samples)
    X = centres[labels] + rng.standard_normal((n_samples, n_features))
    means = X[rng.choice(n_samples, n_components, replace=False)].copy()
    alpha = X.mean(axis=0)
    sigma2 = float(X.var(axis=0).mean())
    lambda2 = 1.0
    mean_vars = np.full(n_components, 1.0 / (1.0 / sigma2 + (n_samples / n_components) / lambda2))
    return X, means, mean_vars, Hyper(alpha, sigma2, lambda2)


def measure(fn, repeats):
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls after one warm-up call.

    Returns (median seconds, number of timed calls)."""
    t0 = time.perf_counter()
    fn()
    warm = time.perf_counter() - t0
    n = max(1, min(repeats, int(_BUDGET_S / max(warm, 1e-9))))
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), n


# --- fastcavi and NumPy CAVI -----------------------------------------------------------------

def fast_sweep(Xk, means, mean_vars, hyper):
    """One fastcavi sweep exactly as a fit runs it (``fastcavi.models.fixed.run_sweeps``)."""
    km = kernel_means(means, Xk.dtype)
    stats = block_statistics(Xk, km, mean_vars, hyper.likelihood_var)
    return update_and_elbo(stats, km.astype(np.float64), hyper)


def numpy_sweep(X, means, mean_vars, hyper, sq_norm):
    return _numpy_cavi.sweep(X, means, mean_vars, prior_mean=hyper.prior_mean,
                             prior_var=hyper.prior_var, likelihood_var=hyper.likelihood_var,
                             sq_norm=sq_norm)


# --- scikit-learn ------------------------------------------------------------------------------

def _per_iter(fit, repeats, short, long):
    """Seconds per iteration of ``fit(max_iter)`` by difference: two fits from the same start
    that differ only in the number of iterations, so that validation, initialisation and the
    final E-step cancel. ``fit`` returns the number of iterations it ran (KMeans stops early
    when the labels no longer change). Returns (seconds per iteration, timed pairs); None
    instead of a time when the fits ran equally many iterations or the median difference is
    not positive (noise)."""
    t0 = time.perf_counter()  # a warm-up pair, which also sizes the number of timed pairs
    n_short = fit(short)
    n_long = fit(long)
    warm = time.perf_counter() - t0
    if n_long <= n_short:
        return None, 0
    n = max(1, min(repeats, int(_BUDGET_S / max(warm, 1e-9))))
    diffs = []
    for _ in range(n):
        t0 = time.perf_counter()
        fit(short)
        t1 = time.perf_counter()
        fit(long)
        t2 = time.perf_counter()
        diffs.append(((t2 - t1) - (t1 - t0)) / (n_long - n_short))
    per_iter = statistics.median(diffs)
    # On tiny data or a busy machine the difference can drown in noise: report no number.
    return (per_iter if per_iter > 0 else None), n


def warm_start_per_iter(est, X, repeats, short, long):
    """Seconds per iteration of a scikit-learn mixture ``est`` built with ``warm_start=True``
    and ``tol=0`` (see :func:`sklearn_bgm_per_iter`): one untimed fit, the start, then
    :func:`_per_iter` of fits that continue from it."""
    from sklearn.exceptions import ConvergenceWarning

    def fit(max_iter):
        est.set_params(max_iter=max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X)
        return max_iter

    fit(1)  # the start, untimed
    return _per_iter(fit, repeats, short, long)


def sklearn_bgm_per_iter(X, n_components, repeats, short=1, long=3,
                         covariance_type="spherical"):
    """``BayesianGaussianMixture(covariance_type=...)``, seconds per EM iteration.

    Honest method: ``warm_start=True`` so that, after one initial fit, every ``fit`` continues
    from the current parameters and runs exactly ``max_iter`` iterations (``tol=0``; the
    ConvergenceWarning is silenced) plus the fixed validation and final E-step; the time per
    iteration is the difference between ``max_iter=long`` and ``max_iter=short`` fits divided
    by ``long - short``. It has no ``means_init``; its per-iteration cost depends only on the
    shape, so it starts from its own k-means++ seeding.
    """
    from sklearn.mixture import BayesianGaussianMixture

    bgm = BayesianGaussianMixture(n_components=n_components, covariance_type=covariance_type,
                                  init_params="k-means++", warm_start=True, tol=0.0,
                                  max_iter=1, random_state=0)
    return warm_start_per_iter(bgm, X, repeats, short, long)


def sklearn_kmeans_per_iter(X, means, repeats, short=1, long=5):
    """``KMeans(algorithm="lloyd", n_init=1, init=means, tol=0)``, seconds per iteration, by
    the difference of fits with ``max_iter=long`` and ``max_iter=short`` from the same means
    (divided by the difference of the ``n_iter_`` they report)."""
    from sklearn.cluster import KMeans

    def fit(max_iter):
        km = KMeans(n_clusters=means.shape[0], algorithm="lloyd", n_init=1, init=means,
                    max_iter=max_iter, tol=0.0).fit(X)
        return km.n_iter_

    return _per_iter(fit, repeats, short, long)


# --- floors --------------------------------------------------------------------------------------

_EXP_BLOCK = 4096  # values per block: small enough to stay in L1, so only the exps are timed


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def _exp_floor(block, n_values, n_chunks):
    """Sum of ``n_values`` exps of the values in ``block`` (cycled), in ``n_chunks`` parallel
    chunks: the cost of the exps alone, with no memory traffic (``reassoc`` lets the sum
    vectorise; it cannot reach inside ``_exp_nonpos``)."""
    size = block.shape[0]
    per_chunk = (n_values + n_chunks - 1) // n_chunks
    partial = np.zeros(n_chunks)
    for c in prange(n_chunks):
        count = max(0, min(per_chunk, n_values - c * per_chunk))
        s = 0.0
        for _ in range(count // size):
            for j in range(size):
                s += _exp_nonpos(block[j])
        for j in range(count % size):
            s += _exp_nonpos(block[j])
        partial[c] = s
    return partial.sum()


def exp_floors(n_values, repeats, n_threads):
    rng = np.random.default_rng(1)
    block = rng.uniform(-30.0, 0.0, _EXP_BLOCK)
    # As many chunks as the sweep kernel would use for the points, at least one per thread.
    n_chunks = max(n_threads, min(256, n_values // _EXP_BLOCK))
    numba_t, numba_n = measure(lambda: _exp_floor(block, n_values, n_chunks), repeats)
    arr = rng.uniform(-30.0, 0.0, n_values)
    out = np.empty_like(arr)
    numpy_t, numpy_n = measure(lambda: np.exp(arr, out=out), repeats)
    return (numba_t, numba_n), (numpy_t, numpy_n)


def blas_floor(X, means, repeats):
    """``X @ M.T`` (the logits' cross term) plus ``R.T @ X`` (the statistics), float64, into
    preallocated outputs (so that the floor does not include page faults on a fresh N x K
    array)."""
    R = np.full((X.shape[0], means.shape[0]), 1.0 / means.shape[0])
    logits = np.empty((X.shape[0], means.shape[0]))
    stats = np.empty((means.shape[0], X.shape[1]))

    def both():
        np.matmul(X, means.T, out=logits)
        np.matmul(R.T, X, out=stats)

    return measure(both, repeats)


# --- the run ------------------------------------------------------------------------------------

def floor_flops(covariance_type, n, p, k):
    """Flops of a ``BayesianGaussianMixture`` pass written as dense products (2 per multiply-add;
    :mod:`fastcavi.bench.shapes` says which products); ``"kmeans"``: a KMeans lloyd iteration's
    distances, 2 N p K."""
    return {"full": 4.0 * n * k * p * p, "tied": 4.0 * n * p * p + 4.0 * n * p * k,
            "diag": 8.0 * n * p * k, "spherical": 4.0 * n * p * k,
            "kmeans": 2.0 * n * p * k}[covariance_type]


def blas_rate(repeats, dtype=np.float64):
    """Flops per second of a square product (side 1536) in ``dtype``: the median of
    ``repeats``."""
    side = 1536
    a = np.random.default_rng(1).standard_normal((side, side)).astype(dtype)
    seconds, _ = measure(lambda: a @ a, max(repeats, 3))
    return 2.0 * side ** 3 / seconds


def shape_parser(prog, doc, p, k, repeats, types, types_help=None, threads_help=None):
    """The options of the per-iteration benchmarks: ``--n --p --k --repeats --threads --types``
    (``types``: the default covariance types), with these defaults."""
    from ..models.names import COVARIANCE_TYPES

    ap = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    ap.add_argument("--n", type=float, default=1e6)
    ap.add_argument("--p", type=int, default=p)
    ap.add_argument("--k", type=int, default=k)
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument("--threads", type=int, default=None, help=threads_help)
    ap.add_argument("--types", nargs="+", default=list(types), choices=COVARIANCE_TYPES,
                    help=types_help)
    return ap


def parse_shape(ap, argv):
    """(arguments, (N, p, K)) of a :func:`shape_parser`'s parser; a shape with no point per
    component, or a thread count below one, is the parser's error."""
    args = ap.parse_args(argv)
    shape = (int(args.n), args.p, args.k)
    if args.p < 1 or args.k < 1 or shape[0] < args.k:
        ap.error(f"need p >= 1, K >= 1 and N >= K, got N = {shape[0]}, p = {args.p}, "
                 f"K = {args.k}")
    if args.threads is not None and args.threads < 1:
        ap.error(f"--threads must be at least 1, got {args.threads}")
    return args, shape


def timing_lines(rows, shape, base_name):
    """The head of a per-iteration report: the shape, then one line per measured row (its
    milliseconds, 'n/a' where noise left none, and its ratio to the row ``base_name``)."""
    by = {r["name"]: r["seconds"] for r in rows}
    lines = [f"N = {shape[0]:,}, p = {shape[1]}, K = {shape[2]}",
             f"{'':56s} {'ms':>10s} {'ratio':>8s}"]
    base = by[base_name]
    for r in rows:
        s = r["seconds"]
        lines.append(f"{r['name']:56s} {'n/a' if s is None else f'{s * 1e3:10.3f}'} "
                     f"{'' if s is None else f'{s / base:8.2f}'}")
    lines.append("")
    return by, lines


def _threadpool_limits(n_threads):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        from contextlib import nullcontext
        return nullcontext()
    return threadpool_limits(limits=n_threads)


def run(n_samples, n_features, n_components, dtypes=("float64",), repeats=5, n_threads=None,
        log=print):
    """Measure every row; return a dict with the configuration, the rows and the targets.

    ``dtypes`` are fastcavi's; "float64" must come first (every ratio is to it)."""
    if dtypes[0] != "float64":
        raise ValueError("dtypes must start with 'float64'")
    n_threads = numba.config.NUMBA_NUM_THREADS if n_threads is None else int(n_threads)
    n_threads = max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS))
    X, means, mean_vars, hyper = make_problem(n_samples, n_features, n_components)
    rows = []

    def add(name, group, result):
        seconds, n = result
        rows.append(dict(name=name, group=group, seconds=seconds, calls=n))
        shown = "n/a" if seconds is None else f"{seconds * 1e3:.3f} ms"
        log(f"  measured {name}: {shown} ({n} calls)")

    # Compile (or load from the cache) on tiny data, outside every timing.
    tiny = as_kernel_array(X[:64])
    for dt in dtypes:
        fast_sweep(as_kernel_array(tiny.astype(dt)), means, mean_vars, hyper)
    _exp_floor(np.zeros(8), 16, 2)

    old_threads = numba.get_num_threads()
    with _threadpool_limits(n_threads):
        try:
            numba.set_num_threads(n_threads)
            data = {dt: as_kernel_array(X.astype(dt, copy=False)) for dt in dtypes}
            for dt in dtypes:
                add(f"fastcavi {dt}, {n_threads} thread{'s' * (n_threads > 1)}", "fastcavi",
                    measure(lambda d=data[dt]: fast_sweep(d, means, mean_vars, hyper), repeats))
            if n_threads > 1:
                with thread_limit(1):
                    add("fastcavi float64, 1 thread", "fastcavi",
                        measure(lambda: fast_sweep(data["float64"], means, mean_vars, hyper),
                                repeats))
            sq_norm = float(np.einsum("ij,ij->", X, X))
            add("NumPy CAVI (vectorised) float64", "other",
                measure(lambda: numpy_sweep(X, means, mean_vars, hyper, sq_norm), repeats))
            add("sklearn BayesianGaussianMixture spherical, per iter", "other",
                sklearn_bgm_per_iter(X, n_components, repeats))
            add("sklearn KMeans lloyd, per iter", "other",
                sklearn_kmeans_per_iter(X, means, repeats))
            numba_exp, numpy_exp = exp_floors(n_samples * n_components, repeats, n_threads)
            add(f"floor: N*K exps, Numba _exp_nonpos, {n_threads} thr", "floor", numba_exp)
            add("floor: N*K exps, np.exp on N x K, 1 thr", "floor", numpy_exp)
            add("floor: BLAS X @ M.T + R.T @ X", "floor", blas_floor(X, means, repeats))
        finally:
            numba.set_num_threads(old_threads)

    by_name = {r["name"]: r["seconds"] for r in rows}
    fast = rows[0]["seconds"]  # fastcavi float64 with every thread
    for r in rows:
        r["ratio_to_fastcavi"] = None if r["seconds"] is None else r["seconds"] / fast
    return dict(
        shape=dict(n_samples=n_samples, n_features=n_features, n_components=n_components),
        dtypes=list(dtypes), repeats=repeats, n_threads=n_threads, rows=rows,
        targets=targets(by_name, (n_samples, n_features, n_components), n_threads),
        machine=machine_info(),
    )


def targets(t, shape, n_threads):
    """The performance goals as (description, measured ratio, goal, met) for this run's rows."""
    f64 = t.get(f"fastcavi float64, {n_threads} thread{'s' * (n_threads > 1)}")

    def ratio(a, b):
        return None if a is None or b is None or b <= 0 else a / b

    out = []

    def add(text, value, op, goal, at_shape):
        met = None if value is None else (value <= goal if op == "<=" else value >= goal)
        out.append(dict(target=text, value=value, op=op, goal=goal, met=met,
                        target_shape=list(at_shape), at_target_shape=tuple(shape) == at_shape))

    add("fastcavi sweep / KMeans lloyd iteration", ratio(f64, t.get("sklearn KMeans lloyd, "
                                                                    "per iter")),
        "<=", 2.0, SHAPE_SMALL_P)
    add("NumPy CAVI sweep / fastcavi sweep", ratio(t.get("NumPy CAVI (vectorised) float64"), f64),
        ">=", 25.0, SHAPE_SMALL_P)
    add("fastcavi float64 / float32", ratio(f64, t.get(
        f"fastcavi float32, {n_threads} thread{'s' * (n_threads > 1)}")), ">=", 1.6, SHAPE_SMALL_P)
    add(f"fastcavi 1 thread / {n_threads} threads",
        ratio(t.get("fastcavi float64, 1 thread"), f64), ">=", 1.8, SHAPE_SMALL_P)
    add("fastcavi sweep / BLAS X @ M.T + R.T @ X",
        ratio(f64, t.get("floor: BLAS X @ M.T + R.T @ X")), "<=", 1.3, SHAPE_LARGE_P)
    return out


def machine_info():
    info = dict(python=platform.python_version(), numpy=np.__version__,
                numba=numba.__version__, cpu_count=os.cpu_count(),
                numba_threads=numba.config.NUMBA_NUM_THREADS, machine=platform.machine())
    try:
        info["numba_threading_layer"] = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        info["numba_threading_layer"] = None
    try:
        import sklearn
        info["sklearn"] = sklearn.__version__
    except ImportError:  # pragma: no cover
        pass
    return info


def format_report(result):
    s = result["shape"]
    lines = [
        f"fastcavi.bench: N={s['n_samples']:,} p={s['n_features']} K={s['n_components']}, "
        f"{result['n_threads']} thread(s), median of up to {result['repeats']} calls",
        "machine: " + ", ".join(f"{k}={v}" for k, v in result["machine"].items()),
        "",
        f"{'':<52}{'ms/sweep':>12}{'x fastcavi':>12}{'calls':>7}",
    ]
    for r in result["rows"]:
        if r["seconds"] is None:
            lines.append(f"{r['name']:<52}{'n/a':>12}{'':>12}{r['calls']:>7}")
            continue
        lines.append(f"{r['name']:<52}{r['seconds'] * 1e3:>12.3f}"
                     f"{r['ratio_to_fastcavi']:>12.2f}{r['calls']:>7}")
    lines += ["scikit-learn rows: (fit with max_iter=5 or 3) - (fit with max_iter=1), per "
              "extra iteration; 'n/a': lost in noise or converged early.",
              "", "performance goals (information only):"]
    for tg in result["targets"]:
        value = "n/a" if tg["value"] is None else f"{tg['value']:.2f}"
        verdict = {True: "pass", False: "MISS", None: "n/a"}[tg["met"]]
        where = "" if tg["at_target_shape"] else (
            "  [target shape N={:,} p={} K={}; not this run's]".format(*tg["target_shape"]))
        lines.append(f"  {tg['target']:<44}{value:>8} (goal {tg['op']} {tg['goal']:g})  "
                     f"{verdict}{where}")
    return "\n".join(lines)


def plot(result, path):
    """A horizontal bar chart, log scale, of ms per sweep; returns False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = [r for r in result["rows"] if r["seconds"] is not None]
    colours = {"fastcavi": "tab:blue", "other": "tab:orange", "floor": "tab:gray"}
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.5))
    y = np.arange(len(rows))[::-1]
    ms = [r["seconds"] * 1e3 for r in rows]
    ax.barh(y, ms, color=[colours[r["group"]] for r in rows])
    ax.set_yticks(y, [r["name"] for r in rows], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("time per sweep / iteration (ms, log scale)")
    for yi, v, r in zip(y, ms, rows):
        ax.text(v, yi, f" {v:.3g} ms ({r['ratio_to_fastcavi']:.2g}x)", va="center", fontsize=7)
    s = result["shape"]
    ax.set_title(f"One CAVI sweep: N={s['n_samples']:,}, p={s['n_features']}, "
                 f"K={s['n_components']}, {result['n_threads']} thread(s)", fontsize=10)
    ax.margins(x=0.4)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m fastcavi.bench",
                                 description="Time one CAVI sweep of fastcavi against NumPy, "
                                             "scikit-learn and the hardware floors.")
    ap.add_argument("--n", type=float, default=None,
                    help="number of points N (default 1e6; 20000 with --quick)")
    ap.add_argument("--p", type=int, default=2, help="number of features p (default 2)")
    ap.add_argument("--k", type=int, default=10, help="number of components K (default 10)")
    ap.add_argument("--dtype", choices=("float64", "float32", "both"), default="float64",
                    help="fastcavi's dtype: float64 is always timed (the baseline of every "
                         "ratio); 'float32' or 'both' also times float32. NumPy, scikit-learn "
                         "and the floors are float64")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed calls per row, median reported (default 5; 1 with --quick)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for fastcavi, BLAS and scikit-learn (default: all Numba has)")
    ap.add_argument("--plot", metavar="PATH", help="write a bar chart (needs matplotlib)")
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON")
    ap.add_argument("--quick", action="store_true",
                    help="a fast smoke run: small N and one timed call per row")
    args = ap.parse_args(argv)
    if args.n is None:
        args.n = 20_000 if args.quick else 1_000_000
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    if args.n < 1 or args.p < 1 or args.k < 1 or args.repeats < 1:
        ap.error("--n, --p, --k and --repeats must be positive")
    if args.k > args.n:
        ap.error("--k must not exceed --n")
    return args


def main(argv=None):
    args = parse_args(argv)
    dtypes = ("float64",) if args.dtype == "float64" else ("float64", "float32")
    quiet = (lambda *a, **k: None) if args.quick else (
        lambda msg: print(msg, file=sys.stderr, flush=True))
    result = run(int(args.n), args.p, args.k, dtypes=dtypes, repeats=args.repeats,
                 n_threads=args.threads, log=quiet)
    print(format_report(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    if args.plot:
        if plot(result, args.plot):
            print(f"plot written to {args.plot}")
        else:
            print("matplotlib is not installed: no plot written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
