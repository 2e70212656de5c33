"""Prediction from the fitted parameters, written once for every engine.

:func:`predict_block` computes the labels, the responsibilities or the log predictive density
of one block of rows from ``means_``, ``mean_vars_`` and ``likelihood_var_``. The estimator's
methods run it through :func:`fastcavi.data.sources.predict_rows`: on the whole (validated) array
in memory, or mapped over the row blocks of a Dask array. K is always that of the fitted means
(``n_components`` may have been changed by ``set_params`` since the fit).
"""

from __future__ import annotations

import numpy as np

from ..models.fixed import fixed_predict

KINDS = ("labels", "proba", "score")


def output_spec(kind, n_components):
    """(trailing shape, dtype) of a predict result per row: the dtype None for X's own."""
    if kind == "labels":
        return (), np.dtype(np.int64)
    if kind == "proba":
        return (n_components,), None
    return (), np.dtype(np.float64)


def predict_block(X, means, mean_vars, likelihood_var, kind):
    """``kind`` ('labels', 'proba' or 'score') of the rows of X under the fitted q(mu).

    X: a C-contiguous float32/float64 2-D array of finite values (as from
    :func:`fastcavi.estimators.functions.as_kernel_array`); means (K, p), mean_vars (K,),
    likelihood_var as
    fitted. Fresh, writeable copies of the parameters are passed to the kernels (arrays that
    were pickled may come back read-only, another Numba type), in X's dtype for the means.
    The logits are the fit's (:func:`fastcavi.models.fixed.fixed_predict`).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return fixed_predict(X, np.array(means, dtype=X.dtype, order="C"),
                         np.array(mean_vars, dtype=np.float64), float(likelihood_var), kind)
