"""Shared test fixtures: one registry of ready-to-call CAVI implementations (as numbagg's
COMPARISONS), used by the equivalence tests and the benchmarks alike."""

import os
from pathlib import Path

import numpy as np
import pytest

# name -> callable with reference.cavi's signature, returning a CAVIResult
from fastcavi._registry import IMPLEMENTATIONS

__all__ = ["IMPLEMENTATIONS", "random_problem"]


def random_problem(rng, n_samples=None, n_features=None, n_components=None):
    """A random CAVI problem: data, a start, and hyperparameters away from 1 (vector alpha)."""
    p = int(rng.integers(1, 6)) if n_features is None else n_features
    K = int(rng.integers(1, 7)) if n_components is None else n_components
    N = int(rng.integers(K, 60)) if n_samples is None else n_samples
    centres = rng.normal(0, 4, (K, p))
    X = centres[rng.integers(K, size=N)] + rng.normal(0, 1.5, (N, p)) + rng.normal(0, 10, p)
    hyper = dict(prior_mean=rng.normal(0, 3, p), prior_var=float(rng.uniform(2, 30)),
                 likelihood_var=float(rng.uniform(0.2, 0.7) if rng.random() < 0.5
                                      else rng.uniform(1.5, 5)))
    means_init = X[rng.choice(N, K, replace=False)] + rng.normal(0, 0.1, (K, p))
    mean_vars_init = rng.uniform(0.05, 2, K)
    return X, means_init, mean_vars_init, hyper


_CHECKOUT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _nothing_written_into_the_checkout():
    """A test writes its files under tmp_path, never into the checkout (a command run
    without ``-o`` once left its model.npz there); hidden folders (pytest's and hypothesis's
    caches) aside."""
    before = {n for n in os.listdir(_CHECKOUT) if not n.startswith(".")}
    yield
    after = {n for n in os.listdir(_CHECKOUT) if not n.startswith(".")}
    assert after <= before, f"the test wrote {sorted(after - before)} into {_CHECKOUT}"


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def dask_client():
    """One dask.distributed LocalCluster (2 worker processes, 1 thread each) shared by every
    Dask test in the session: starting one costs seconds."""
    import distributed

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            yield client
