"""Peak memory of one BayesianGaussianMixture iteration beyond the data.

Fits N x p standard normal points once (max_iter=1, every prior given, a random start), then
refits them warm-started: one pass over the data, one update and the exact ELBO. The peak
resident memory of that refit (VmHWM, reset through ``/proc/self/clear_refs`` just before it)
above the resident memory at its start is what the iteration holds beyond the data: the
chunks' partial sums, the per-thread work blocks and the pass over X for the default prior's
moments. Linux only. The numbers are a lower bound where the allocator reuses pages freed by
the first fit.

    python scripts/measure_iteration_memory.py spherical 2e5 128 1024
    python scripts/measure_iteration_memory.py full 2e5 64 64
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from measure_memmap_memory import _status_kib  # scripts/ is on sys.path when this file runs

from fastcavi.models.names import COVARIANCE_TYPES


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("covariance_type", choices=COVARIANCE_TYPES)
    parser.add_argument("n", type=float)
    parser.add_argument("p", type=int)
    parser.add_argument("k", type=int)
    args = parser.parse_args(argv)
    from fastcavi import BayesianGaussianMixture

    n, p, k = int(args.n), args.p, args.k
    X = np.random.default_rng(0).normal(size=(n, p))
    covariance_prior = {"spherical": 1.0, "diag": np.ones(p)}.get(args.covariance_type,
                                                                  np.eye(p))
    gm = BayesianGaussianMixture(
        n_components=k, covariance_type=args.covariance_type, max_iter=1, tol=0,
        init_params="random", random_state=0, warm_start=True, mean_prior=np.zeros(p),
        covariance_prior=covariance_prior, degrees_of_freedom_prior=float(p),
        mean_precision_prior=1.0, weight_concentration_prior=1.0 / k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one iteration does not converge
        gm.fit(X)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident size
        base = _status_kib()["VmRSS"]
        gm.fit(X)
    peak = (_status_kib()["VmHWM"] - base) / 1024
    print(f"{args.covariance_type} N={n:.0e} p={p} K={k}: one iteration's peak beyond the "
          f"resting process {peak:.1f} MiB (X: {X.nbytes / 2**20:.0f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
