"""The same CAVI as vectorised NumPy: what a user would write without Numba.

This is a baseline for the benchmarks and a third implementation for the equivalence tests
(``fastcavi._registry.IMPLEMENTATIONS``), not a fitting path. It does what the model's
equations say with whole-array operations, and so forms (several) N x K arrays per sweep:

* phi from the logits ``l_ik = [x_i . m_k - (|m_k|^2 + p s2_k)/2] / lambda2`` as one BLAS
  product ``X @ M.T``, normalised with log-sum-exp over each row;
* the statistics ``N_k = sum_i w_i phi_ik`` and ``S_k = sum_i w_i phi_ik x_i`` as ``R.T @ X``;
* the update ``s2_k = 1/(1/sigma2 + N_k/lambda2)``, ``m_k = s2_k (alpha/sigma2 + S_k/lambda2)``;
* the ELBO T1 + ... + T5 of ``model.md``, with T3 in the one-pass form
  ``-(W p/2) log(2 pi lambda2) - [Q - 2 sum_k m_k.S_k + sum_k N_k (|m_k|^2 + p s2_k)]/(2 lambda2)``
  (``Q = sum_i w_i |x_i|^2``, ``W = sum_i w_i``) and T5 = ``-sum w phi log phi``.

Like any code that uses ``x . m`` and ``Q - 2 m.S``, it loses digits when the data sit far
from the origin (see ``model.md``); the fast kernels do not. Everything is float64.
"""

from __future__ import annotations

import math

import numpy as np

from ..reference import CAVIResult

__all__ = ["cavi", "sweep"]


def _hyper(prior_mean, prior_var, likelihood_var, n_features):
    alpha = np.broadcast_to(np.asarray(prior_mean, dtype=np.float64), (n_features,))
    return alpha, float(prior_var), float(likelihood_var)


def _sq_norm_total(X, sample_weight):
    """Q = sum_i w_i |x_i|^2 (constant across sweeps)."""
    sq = np.einsum("ij,ij->i", X, X)
    return float(sq.sum() if sample_weight is None else sample_weight @ sq)


def sweep(X, means, mean_vars, *, prior_mean, prior_var, likelihood_var, sample_weight=None,
          sq_norm=None):
    """One CAVI sweep: phi from (m, s2), then (m, s2) from phi, then the ELBO.

    Parameters
    ----------
    X : float64 array (N, p)
    means : array (K, p), m before the sweep
    mean_vars : array (K,), s2 before the sweep
    prior_mean, prior_var, likelihood_var : alpha, sigma2, lambda2
    sample_weight : array (N,), optional
    sq_norm : float, optional
        ``sum_i w_i |x_i|^2`` if already known (a fit computes it once).

    Returns
    -------
    means (K, p), mean_vars (K,), elbo (float), resp (N, K) -- the new q(mu), the ELBO at the
    new (phi, m, s2), and the phi of this sweep.
    """
    X = np.asarray(X, dtype=np.float64)
    m = np.asarray(means, dtype=np.float64)
    s2 = np.broadcast_to(np.asarray(mean_vars, dtype=np.float64), (m.shape[0],))
    n_samples, p = X.shape
    n_components = m.shape[0]
    alpha, sig2, lam2 = _hyper(prior_mean, prior_var, likelihood_var, p)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if sq_norm is None:
        sq_norm = _sq_norm_total(X, w)

    # q(c): log-sum-exp over the rows of the N x K logits.
    logits = X @ m.T
    logits -= 0.5 * (np.sum(m * m, axis=1) + p * s2)
    logits /= lam2
    logits -= logits.max(axis=1, keepdims=True)
    resp = np.exp(logits)
    norm = resp.sum(axis=1, keepdims=True)
    resp /= norm
    log_resp = logits
    log_resp -= np.log(norm)

    # q(mu) from the statistics of phi.
    weighted = resp if w is None else resp * w[:, None]
    n_k = weighted.sum(axis=0)
    s_k = weighted.T @ X
    total_w = float(n_samples if w is None else w.sum())
    new_vars = 1.0 / (1.0 / sig2 + n_k / lam2)
    new_means = new_vars[:, None] * (alpha / sig2 + s_k / lam2)

    # The ELBO at the new (phi, m, s2), every constant included.
    t1 = (-(n_components * p / 2.0) * math.log(2.0 * math.pi * sig2)
          - float(np.sum(np.sum((new_means - alpha) ** 2, axis=1) + p * new_vars)) / (2.0 * sig2))
    t2 = -total_w * math.log(n_components)
    t3 = (-(total_w * p / 2.0) * math.log(2.0 * math.pi * lam2)
          - (sq_norm - 2.0 * float(np.sum(new_means * s_k))
             + float(n_k @ (np.sum(new_means ** 2, axis=1) + p * new_vars))) / (2.0 * lam2))
    t4 = float(np.sum((p / 2.0) * (1.0 + np.log(2.0 * math.pi * new_vars))))
    t5 = -float(np.sum(weighted * log_resp))
    return new_means, new_vars, t1 + t2 + t3 + t4 + t5, resp


def cavi(X, means_init, mean_vars_init, *, prior_mean, prior_var, likelihood_var, n_iter,
         sample_weight=None):
    """Run exactly ``n_iter`` CAVI sweeps from the given q(mu), in vectorised NumPy.

    Same signature and result as :func:`fastcavi.reference.cavi`.
    """
    X = np.asarray(X, dtype=np.float64)
    means = np.array(means_init, dtype=np.float64)
    mean_vars = np.broadcast_to(np.asarray(mean_vars_init, dtype=np.float64),
                                (means.shape[0],)).copy()
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    hyper = dict(prior_mean=prior_mean, prior_var=prior_var, likelihood_var=likelihood_var)
    sq_norm = _sq_norm_total(X, w)
    resp = None
    bounds = []
    for _ in range(int(n_iter)):
        means, mean_vars, bound, resp = sweep(X, means, mean_vars, sample_weight=w,
                                              sq_norm=sq_norm, **hyper)
        bounds.append(bound)
    return CAVIResult(means, mean_vars, resp, np.array(bounds, dtype=np.float64))
