"""A snapshot of fits that pins the package's behaviour while its code moves.

Every configuration below (both estimators; every covariance type, weight prior, start and
algorithm; weighted and not; float32; ``partial_fit``; the memory-mapped engine) is fitted on
small data that still crosses the kernels' chunk and tile boundaries, and its fitted arrays are
stored in ``tests/data/fits-snapshot.npz``. ``tests/test_snapshot.py`` fits them again and
compares to 1e-12: a refactoring that changes any result, even by rounding, fails it.

Record it anew only for a deliberate change of results, and say so in the commit:

    python -m tests.snapshot
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import sklearn

import fastcavi

PATH = Path(__file__).parent / "data" / "fits-snapshot.npz"

BGM_ATTRS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "mean_precision_",
             "degrees_of_freedom_", "lower_bounds_", "n_iter_")
FIXED_ATTRS = ("means_", "mean_vars_", "lower_bounds_", "n_iter_", "prior_mean_", "prior_var_",
               "likelihood_var_")


def _data(dtype, seed=0, n=5003, p=3):
    """Four clusters with correlated features, away from the origin; 5,003 rows cross the
    chunk and tile sizes of every kernel and are a multiple of none."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 4.0, (4, p))
    mix = rng.normal(size=(p, p)) / np.sqrt(p) + np.eye(p)
    X = centres[rng.integers(4, size=n)] + rng.normal(size=(n, p)) @ mix + 10.0
    w = rng.uniform(0.0, 3.0, n)
    w[rng.random(n) < 0.1] = 0.0
    return X.astype(dtype), w


def configurations():
    """name -> (estimator class name, constructor options, how to fit)."""
    out = {}
    for ctype, wtype, init, algorithm in itertools.product(
            ("full", "tied", "diag", "spherical"),
            ("dirichlet_process", "dirichlet_distribution"),
            ("kmeans", "k-means++", "random", "random_from_data"),
            ("batch", "incremental")):
        opts = dict(n_components=3, covariance_type=ctype, weight_concentration_prior_type=wtype,
                    init_params=init, algorithm=algorithm, max_iter=6, tol=0.0, random_state=3)
        for how in ("float64", "weighted"):
            out[f"bgm-{ctype}-{wtype}-{init}-{algorithm}-{how}"] = ("bgm", opts, how)
    for ctype in ("full", "tied", "diag", "spherical"):
        opts = dict(n_components=3, covariance_type=ctype, init_params="random", max_iter=4,
                    tol=0.0, random_state=4)
        for how in ("float32", "memmap", "partial_fit", "default-tol"):
            o = dict(opts, max_iter=100, tol=1e-3) if how == "default-tol" else opts
            # partial_fit scaled to the data's size: scaled to a million points, scores lose
            # digits to round-off that the parameters' last bit decides
            o = dict(o, total_samples=5003) if how == "partial_fit" else o
            out[f"bgm-{ctype}-{how}"] = ("bgm", o, how)
    for init, algorithm in itertools.product(("kmeans++", "random_from_data", "random"),
                                             ("batch", "incremental")):
        opts = dict(n_components=4, init_params=init, algorithm=algorithm, max_iter=8, tol=0.0,
                    random_state=5, n_init=2)
        for how in ("float64", "weighted", "float32"):
            out[f"fixed-{init}-{algorithm}-{how}"] = ("fixed", opts, how)
    for how in ("memmap", "partial_fit", "default-tol", "standardize"):
        opts = dict(n_components=4, random_state=6)
        if how == "partial_fit":
            opts["total_samples"] = 5003
        if how == "standardize":
            opts["standardize"] = True
        out[f"fixed-{how}"] = ("fixed", opts, how)
    return out


def fit(kind, opts, how):
    """The fitted estimator of one configuration."""
    cls = fastcavi.BayesianGaussianMixture if kind == "bgm" else fastcavi.GaussianMixtureCAVI
    X, w = _data(np.float32 if how == "float32" else np.float64)
    est = cls(**opts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if how == "weighted":
            est.fit(X, sample_weight=w)
        elif how == "partial_fit":
            for part in np.array_split(np.arange(len(X)), 4):
                est.partial_fit(X[part], sample_weight=w[part])
        elif how == "memmap":
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "X.npy")
                np.save(path, X)
                est.fit(np.load(path, mmap_mode="r"))
        else:
            est.fit(X)
    return est


def results(est):
    attrs = BGM_ATTRS if isinstance(est, fastcavi.BayesianGaussianMixture) else FIXED_ATTRS
    X, _ = _data(np.float64, seed=1, n=64)
    out = {a: np.asarray(getattr(est, a), dtype=np.float64) for a in attrs}
    out["predict_proba"] = np.asarray(est.predict_proba(X), dtype=np.float64)
    out["score_samples"] = np.asarray(est.score_samples(X), dtype=np.float64)
    return out


def uses_scikit_learns_start(opts):
    """The starts that run scikit-learn's KMeans or k-means++ (which may change with its
    version)."""
    return opts.get("init_params", "kmeans++") in ("kmeans", "k-means++", "kmeans++")


def record(path=PATH):
    arrays = {}
    for name, (kind, opts, how) in configurations().items():
        for attr, value in results(fit(kind, opts, how)).items():
            arrays[f"{name}/{attr}"] = value
    arrays["meta"] = np.array(json.dumps({"scikit-learn": sklearn.__version__,
                                          "numpy": np.__version__}))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    print(f"recorded {len(configurations())} fits in {path}")


if __name__ == "__main__":
    record()
