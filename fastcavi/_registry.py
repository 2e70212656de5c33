"""One registry of ready-to-call implementations and engines (as numbagg's ``COMPARISONS``).

``IMPLEMENTATIONS``: each entry has :func:`fastcavi.reference.cavi`'s signature and returns a
:class:`fastcavi.reference.CAVIResult`. The equivalence tests check every entry against the
reference and against an independent oracle; the benchmarks time the entries side by side.

``FAMILY_IMPLEMENTATIONS``: the same for :class:`fastcavi.BayesianGaussianMixture`'s models,
with :func:`fastcavi.reference.family.cavi`'s signature.

``ENGINES``: the ways the same data reach the estimator (an array in memory, a memory-mapped
``.npy``, a Dask array). Each entry is ``engine(X, sample_weight, workdir) -> (X, sample_weight)``
as that engine takes them; the tests fit and predict through every entry, so a new engine is
tested as soon as it is registered here.
"""

from __future__ import annotations

import os

import numpy as np

from . import reference
from .bench import numpy_cavi as _numpy_cavi
from .estimators.functions import cavi as _fast_cavi
from .models import family_fit as _family_fit

# name -> cavi(X, means_init, mean_vars_init, *, prior_mean, prior_var, likelihood_var, n_iter,
#              sample_weight=None) -> CAVIResult
IMPLEMENTATIONS = {
    "reference": reference.cavi,   # pure Python, straight from the equations
    "numpy": _numpy_cavi.cavi,     # vectorised NumPy over N x K arrays
    "fast": _fast_cavi,            # fused one-pass Numba kernels (fastcavi.cavi)
}

# The learned-weight, learned-precision family (BayesianGaussianMixture): name ->
# cavi(X, resp_init, prior, n_iter, sample_weight=None) -> reference.family.FamilyResult, with
# ``prior`` a reference.family.Prior; every covariance type.
FAMILY_IMPLEMENTATIONS = {
    "reference": reference.family.cavi,   # pure Python, straight from the equations
    "fast": _family_fit.cavi,             # the kernels, one pass per iteration
}

# Dask blocks of a size that is a multiple of no kernel chunk, tile or BLAS block, and weights
# chunked differently from X (the fit rechunks them to X's rows).
_DASK_ROWS = 1999
_DASK_WEIGHT_ROWS = 1500


def _in_memory(X, sample_weight, workdir):
    return X, sample_weight


def _memmap(X, sample_weight, workdir):
    path = os.path.join(workdir, f"X-{X.dtype.name}-{X.shape[0]}x{X.shape[1]}.npy")
    np.save(path, X)
    return np.load(path, mmap_mode="r"), sample_weight


def _dask(X, sample_weight, workdir):
    import dask.array as da

    w = None if sample_weight is None else da.from_array(sample_weight,
                                                         chunks=_DASK_WEIGHT_ROWS)
    return da.from_array(X, chunks=(_DASK_ROWS, -1)), w


ENGINES = {
    "memory": _in_memory,
    "memmap": _memmap,
    "dask": _dask,
}
