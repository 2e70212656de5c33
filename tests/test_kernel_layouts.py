"""Every kernel is compiled for C-contiguous arrays only, whatever layout the user's data and
the estimators' own parameters come in.

Numba compiles a kernel once per type of its arguments, and an array's layout ('C', 'F', 'A')
is part of its type. A parameter in Fortran order (a transpose, a slice) would make the first
iteration of a fit run other compiled code than the rest: a compile more on a cold cache, and
rounding that depends on which variant ran. The parameters go to the kernels through
``fastcavi.models.fixed.in_dtype`` and ``kernel_means`` (C order); this test drives every
estimator, covariance type, start, algorithm and prediction, on Fortran-ordered float32 and
float64 data with weights, in a fresh process, and lists the kernels' compiled signatures."""

import os
import subprocess
import sys

import pytest

WORKLOAD = """
import importlib, pkgutil, warnings
import numpy as np
warnings.simplefilter("ignore")
from fastcavi import (BayesianGaussianMixture, GaussianMixture, GaussianMixtureCAVI,
                      MixtureSelection)
import fastcavi.kernels

rng = np.random.default_rng(0)
for dtype in (np.float64, np.float32):
    X = np.asfortranarray(rng.normal(size=(700, 3)).astype(dtype))
    w = rng.uniform(0, 2, 700)
    for ctype in ("full", "tied", "diag", "spherical"):
        for init in ("kmeans", "k-means++", "random", "random_from_data"):
            for est in (GaussianMixture, BayesianGaussianMixture):
                m = est(n_components=3, covariance_type=ctype, init_params=init,
                        random_state=0, max_iter=3).fit(X, sample_weight=w)
                m.predict(X), m.predict_proba(X), m.score_samples(X)
        for algorithm in ("incremental", "accelerated"):
            GaussianMixture(3, covariance_type=ctype, algorithm=algorithm, max_iter=3).fit(X)
            BayesianGaussianMixture(n_components=3, covariance_type=ctype, max_iter=3,
                                    algorithm=algorithm).fit(X)
        GaussianMixture(3, covariance_type=ctype, max_iter=3).partial_fit(X)
        BayesianGaussianMixture(n_components=2, covariance_type=ctype, max_iter=5,
                                moves=True, random_state=0).fit(X)
    MixtureSelection(n_components=[1, 2], random_state=0, max_iter=5).fit(X)
    c = GaussianMixtureCAVI(n_components=3, max_iter=3, random_state=0).fit(X, sample_weight=w)
    c.predict(X), c.predict_proba(X)

compiled, other, modules = 0, 0, set()
for info in pkgutil.iter_modules(fastcavi.kernels.__path__):
    module = importlib.import_module("fastcavi.kernels." + info.name)
    for name, obj in vars(module).items():
        for sig in getattr(obj, "signatures", None) or ():
            compiled += 1
            modules.add(info.name)
            layouts = {getattr(t, "layout", "C") for t in sig if getattr(t, "ndim", 0) > 0}
            if layouts != {"C"} and layouts:
                other += 1
                print("NOT C", info.name, name, sig)
print("compiled", compiled, "in", *sorted(modules))
"""


@pytest.mark.slow
def test_every_kernel_is_compiled_for_c_contiguous_arrays_only(tmp_path):
    proc = subprocess.run([sys.executable, "-c", WORKLOAD], cwd=tmp_path, env=os.environ,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.split("\n")[-2].split()
    # the workload reached every model's kernels, for both dtypes (a kernel read from the
    # on-disk cache lists its own signatures, not those of the kernels compiled into it)
    assert last[0] == "compiled" and int(last[1]) >= 20
    assert {"fixed", "diag", "full", "tied"} <= set(last[3:])
    assert "NOT C" not in proc.stdout, proc.stdout
