"""One registry of ready-to-call CAVI implementations (as numbagg's ``COMPARISONS``).

Each entry has :func:`fastcavi.reference.cavi`'s signature and returns a
:class:`fastcavi.reference.CAVIResult`. The equivalence tests check every entry against
``"reference"``; the benchmarks time the entries side by side.
"""

from __future__ import annotations

from . import _numpy_cavi, reference
from ._fit import cavi as _fast_cavi

# name -> cavi(X, means_init, mean_vars_init, *, prior_mean, prior_var, likelihood_var, n_iter,
#              sample_weight=None) -> CAVIResult
IMPLEMENTATIONS = {
    "reference": reference.cavi,   # pure Python, straight from the equations
    "numpy": _numpy_cavi.cavi,     # vectorised NumPy over N x K arrays
    "fast": _fast_cavi,            # fused one-pass Numba kernels (fastcavi.cavi)
}
