"""Time to a fit: batch CAVI, incremental CAVI and partial_fit on a memory-mapped file.

Run ``python -m fastcavi.bench.algorithms`` (N = 1e7, p = 2, K = 10; ``--n`` to change N).
For each estimator, from the same start and with the default tol:

* the batch fit: its wall time and final ELBO;
* the incremental fit: the wall time at which its ELBO (after a pass) first comes within tol
  of the batch fit's final ELBO, and that time as a fraction of the batch fit's;
* partial_fit over the file in batches of 1e5 rows (one pass): points per second, against a
  batch sweep's (the batch fit's time per sweep).

The data are written once to a temporary ``.npy`` and read memory-mapped, as a user with a file
larger than memory would.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np


def make_file(directory, n_samples, n_features, n_components, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (n_components, n_features))
    path = os.path.join(directory, "points.npy")
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
    from .. import BayesianGaussianMixture, GaussianMixtureCAVI

    return {
        "GaussianMixtureCAVI": lambda **kw: GaussianMixtureCAVI(
            n_components, random_state=0, total_samples=n_samples,
            **dict(dict(max_iter=300), **kw)),
        "BayesianGaussianMixture diag": lambda **kw: BayesianGaussianMixture(
            n_components=n_components, covariance_type="diag", random_state=0,
            init_params="random_from_data", total_samples=n_samples,
            **dict(dict(max_iter=300), **kw)),
    }


def _timed_fit(est, X):
    """Fit, recording (seconds since the start, ELBO) after every sweep."""
    trace = []
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est._fit(X, None, callback=lambda it, bound: trace.append(
            (time.perf_counter() - start, bound)))
    return time.perf_counter() - start, trace


def run(n_samples=10_000_000, n_features=2, n_components=10, batch_rows=100_000, log=print):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        X = make_file(tmp, n_samples, n_features, n_components)
        for name, make in _estimators(n_components, n_samples).items():
            make(max_iter=2).fit(X[:2000])  # compile (or load) the kernels, untimed
            batch = make()
            t_batch, trace_b = _timed_fit(batch, X)
            tol = batch.tol * (n_samples if name == "GaussianMixtureCAVI" else 1.0)
            target = trace_b[-1][1] - tol
            inc = make(algorithm="incremental")
            t_inc, trace_i = _timed_fit(inc, X)
            reached = next((t for t, b in trace_i if b >= target), None)
            stream = make()
            start = time.perf_counter()
            for first in range(0, n_samples, batch_rows):
                stream.partial_fit(X[first:first + batch_rows])
            t_stream = time.perf_counter() - start
            sweep = t_batch / len(trace_b)
            row = dict(name=name, batch_s=t_batch, batch_sweeps=len(trace_b),
                       batch_elbo=trace_b[-1][1], incremental_s=t_inc,
                       incremental_passes=len(trace_i), incremental_elbo=trace_i[-1][1],
                       incremental_reached_s=reached, stream_s=t_stream,
                       stream_points_per_s=n_samples / t_stream,
                       sweep_points_per_s=n_samples / sweep)
            rows.append(row)
            log(f"{name}: batch {t_batch:.2f} s ({len(trace_b)} sweeps, ELBO "
                f"{trace_b[-1][1]:.6g}); incremental {t_inc:.2f} s ({len(trace_i)} passes, "
                f"ELBO {trace_i[-1][1]:.6g}), within tol of the batch ELBO after "
                + ("never" if reached is None else
                   f"{reached:.2f} s = {reached / t_batch:.2f} of the batch time")
                + f"; partial_fit {n_samples / t_stream:.3g} points/s = "
                  f"{(n_samples / t_stream) / (n_samples / sweep):.2f} of a batch sweep's")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e7, help="rows (default 1e7)")
    parser.add_argument("--p", type=int, default=2)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    run(int(args.n), args.p, args.k, args.batch_rows)


if __name__ == "__main__":
    main()
