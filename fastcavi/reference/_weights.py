"""The mixing weights of :mod:`fastcavi.reference.family`, in plain loops.

Two priors, as scikit-learn spells them (``weight_concentration_prior_type``), with g0 the
``weight_concentration_prior``:

- ``"dirichlet_distribution"``: pi ~ Dir(g0, ..., g0), and q(pi) = Dir(g_1, ..., g_K).
- ``"dirichlet_process"``: stick-breaking truncated at K sticks (no forced last stick, so the K
  weights sum to less than 1): v_k ~ Beta(1, g0), pi_k = v_k prod_{j<k} (1 - v_j), and
  q(v_k) = Beta(a_k, b_k).

``weight_concentration`` is the array g (K,) for the first and the pair (a, b) of arrays (K,)
for the second, as scikit-learn's ``weight_concentration_``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma, gammaln

__all__ = [
    "DIRICHLET_DISTRIBUTION",
    "DIRICHLET_PROCESS",
    "WEIGHT_PRIOR_TYPES",
    "expected_log_weights",
    "expected_weights",
    "kl_weights",
    "update_weights",
]

DIRICHLET_DISTRIBUTION = "dirichlet_distribution"
DIRICHLET_PROCESS = "dirichlet_process"
WEIGHT_PRIOR_TYPES = (DIRICHLET_DISTRIBUTION, DIRICHLET_PROCESS)


def _psi(x):
    return float(digamma(x))


def _lgamma(x):
    return float(gammaln(x))


def update_weights(n_k, weight_concentration_prior_type, weight_concentration_prior):
    """CAVI update of q(pi) (or of the sticks q(v)) from the weighted counts N_k.

    ``dirichlet_distribution``: ``g_k = g0 + N_k``.
    ``dirichlet_process``: ``a_k = 1 + N_k``, ``b_k = g0 + sum_{j>k} N_j``.

    Parameters
    ----------
    n_k : array (K,)
        N_k = sum_i w_i r_ik.
    weight_concentration_prior_type : str
    weight_concentration_prior : float
        g0.

    Returns
    -------
    array (K,) or tuple of two arrays (K,)
        g, or (a, b).
    """
    n_k = [float(v) for v in n_k]
    k_comp, g0 = len(n_k), float(weight_concentration_prior)
    if weight_concentration_prior_type == DIRICHLET_DISTRIBUTION:
        return np.array([g0 + n_k[k] for k in range(k_comp)], dtype=np.float64)
    a = [1.0 + n_k[k] for k in range(k_comp)]
    b = [g0 + sum(n_k[j] for j in range(k + 1, k_comp)) for k in range(k_comp)]
    return np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)


def _sticks(weight_concentration):
    a, b = weight_concentration
    return [float(v) for v in a], [float(v) for v in b]


def expected_log_weights(params):
    """E_q[log pi_k] (K,).

    ``dirichlet_distribution``: ``psi(g_k) - psi(sum_j g_j)``.
    ``dirichlet_process``: ``psi(a_k) - psi(a_k + b_k) + sum_{j<k} [psi(b_j) - psi(a_j + b_j)]``.
    """
    if params.weight_concentration_prior_type == DIRICHLET_DISTRIBUTION:
        g = [float(v) for v in params.weight_concentration]
        total = _psi(sum(g))
        return np.array([_psi(g_k) - total for g_k in g], dtype=np.float64)
    a, b = _sticks(params.weight_concentration)
    out = []
    for k in range(len(a)):
        e_log_v = _psi(a[k]) - _psi(a[k] + b[k])
        e_log_rest = sum(_psi(b[j]) - _psi(a[j] + b[j]) for j in range(k))
        out.append(e_log_v + e_log_rest)
    return np.array(out, dtype=np.float64)


def expected_weights(params):
    """E_q[pi_k] normalised over the K components (scikit-learn's ``weights_``).

    ``dirichlet_distribution``: ``g_k / sum_j g_j``.
    ``dirichlet_process``: ``E[v_k] prod_{j<k} E[1 - v_j] = a_k/(a_k + b_k) prod_{j<k}
    b_j/(a_j + b_j)``, which sum to less than 1 over the K sticks, then divided by their sum.
    """
    if params.weight_concentration_prior_type == DIRICHLET_DISTRIBUTION:
        e_pi = [float(v) for v in params.weight_concentration]
    else:
        a, b = _sticks(params.weight_concentration)
        e_pi = []
        for k in range(len(a)):
            value = a[k] / (a[k] + b[k])
            for j in range(k):
                value *= b[j] / (a[j] + b[j])
            e_pi.append(value)
    total = sum(e_pi)
    return np.array([v / total for v in e_pi], dtype=np.float64)


def _log_dirichlet_norm(alpha):
    """log C(alpha) = lgamma(sum_k alpha_k) - sum_k lgamma(alpha_k)."""
    return _lgamma(sum(alpha)) - sum(_lgamma(v) for v in alpha)


def kl_weights(params, prior):
    """KL_pi = KL(q(pi) || p(pi)) (or of the sticks), with every constant.

    ``dirichlet_distribution``::

        log C(g) - log C(g0 1_K) + sum_k (g_k - g0) E[log pi_k],
        log C(a) = lgamma(sum_k a_k) - sum_k lgamma(a_k)

    ``dirichlet_process``::

        sum_k [ -log B(a_k, b_k) + (a_k - 1) E[log v_k] + (b_k - 1) E[log(1 - v_k)]
                - log g0 - (g0 - 1) E[log(1 - v_k)] ]

    with ``E[log v_k] = psi(a_k) - psi(a_k + b_k)`` and
    ``E[log(1 - v_k)] = psi(b_k) - psi(a_k + b_k)``.
    """
    g0 = float(prior.weight_concentration_prior)
    if params.weight_concentration_prior_type == DIRICHLET_DISTRIBUTION:
        g = [float(v) for v in params.weight_concentration]
        e_log_pi = expected_log_weights(params).tolist()
        total = _log_dirichlet_norm(g) - _log_dirichlet_norm([g0] * len(g))
        for k in range(len(g)):
            total += (g[k] - g0) * e_log_pi[k]
        return total
    a, b = _sticks(params.weight_concentration)
    total = 0.0
    for k in range(len(a)):
        e_log_v = _psi(a[k]) - _psi(a[k] + b[k])
        e_log_1mv = _psi(b[k]) - _psi(a[k] + b[k])
        log_beta = _lgamma(a[k]) + _lgamma(b[k]) - _lgamma(a[k] + b[k])
        total += (-log_beta + (a[k] - 1.0) * e_log_v + (b[k] - 1.0) * e_log_1mv
                  - math.log(g0) - (g0 - 1.0) * e_log_1mv)
    return total
