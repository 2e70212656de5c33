"""The components of :mod:`fastcavi.reference.family`: q(mu_k, P_k), in plain loops.

``mu_k | P_k ~ N(m0, (b0 P_k)^-1)`` with a conjugate prior on the precision P_k whose form
depends on ``covariance_type``:

======================  ===============================================  =====================
``covariance_type``     precision prior                                  posterior
======================  ===============================================  =====================
``"full"``              P_k ~ Wishart(W0, n0), W0^-1 = Psi0 (p x p)       Wishart(Psi_k^-1, nu_k)
``"tied"``              one P ~ Wishart(W0, n0) shared by all k           Wishart(Psi^-1, nu)
``"diag"``              P_k = diag(l_kj), l_kj ~ Gamma(n0/2, Psi0_j/2)    Gamma(nu_k/2, Psi_kj/2)
``"spherical"``         P_k = l_k I_p, l_k ~ Gamma(n0/2, Psi0/2)          Gamma(nu_k/2, Psi_k/2)
======================  ===============================================  =====================

(Gamma(shape, rate).) ``psi`` holds Psi_k with shape (K, p, p), (p, p), (K, p) or (K,) by type,
and ``degrees_of_freedom`` holds nu_k (K,), or one float for ``tied``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma, gammaln

__all__ = [
    "COVARIANCE_TYPES",
    "covariances",
    "expected_log_det",
    "expected_mahalanobis",
    "kl_components",
    "kl_gamma",
    "kl_wishart",
    "log_student_t",
    "precisions",
    "update_components",
]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _psi(x):
    return float(digamma(x))


def _lgamma(x):
    return float(gammaln(x))


def _log_multigamma(a, p):
    """log Gamma_p(a) = (p (p - 1)/4) log pi + sum_{j=1..p} lgamma(a + (1 - j)/2)."""
    return p * (p - 1) / 4.0 * math.log(math.pi) + sum(_lgamma(a + (1 - j) / 2.0)
                                                       for j in range(1, p + 1))


def _logdet(matrix):
    sign, value = np.linalg.slogdet(np.asarray(matrix, dtype=np.float64))
    if sign <= 0:
        raise np.linalg.LinAlgError("matrix is not positive definite")
    return float(value)


def _inverse(matrix):
    return np.linalg.inv(np.asarray(matrix, dtype=np.float64)).tolist()


def _quad_form(inv, u):
    """u^T A u for A given as a list of rows."""
    p = len(u)
    return sum(u[j] * inv[j][q] * u[q] for j in range(p) for q in range(p))


def _component(params, k):
    """(nu_k, Psi_k) of component k (the shared ones for ``tied``)."""
    if params.covariance_type == "tied":
        return float(params.degrees_of_freedom), params.psi
    return float(params.degrees_of_freedom[k]), params.psi[k]


def _n_components(params):
    return len(params.mean_precision)


def _quad_psi_inv(covariance_type, psi_k, u):
    """u^T Psi_k^-1 u: diag(1/Psi_kj) for diag, 1/Psi_k for spherical."""
    if covariance_type in ("full", "tied"):
        return _quad_form(_inverse(psi_k), u)
    if covariance_type == "diag":
        return sum(u[j] ** 2 / float(psi_k[j]) for j in range(len(u)))
    return sum(v ** 2 for v in u) / float(psi_k)


def _expected_log_det_one(covariance_type, nu, psi_k, p):
    if covariance_type in ("full", "tied"):
        return (sum(_psi((nu + 1 - j) / 2.0) for j in range(1, p + 1)) + p * math.log(2.0)
                - _logdet(psi_k))
    if covariance_type == "diag":
        return (p * _psi(nu / 2.0) + p * math.log(2.0)
                - sum(math.log(float(psi_k[j])) for j in range(p)))
    return p * (_psi(nu / 2.0) + math.log(2.0) - math.log(float(psi_k)))


# ----------------------------------------------------------------------------------------------
# M-step
# ----------------------------------------------------------------------------------------------


def update_components(n_k, xbar, scatter, prior):
    """CAVI update of q(mu_k, P_k) from the weighted statistics (the M-step's component half).

    With ``D_k = xbar_k - m0`` and ``f_k = b0 N_k / b_k``::

        b_k = b0 + N_k              m_k = (b0 m0 + N_k xbar_k) / b_k
        full:      nu_k = n0 + N_k          Psi_k = Psi0 + C_k + f_k D_k D_k^T
        tied:      nu   = n0 + sum_k N_k    Psi   = Psi0 + sum_k (C_k + f_k D_k D_k^T)
        diag:      nu_k = n0 + N_k          Psi_kj = Psi0_j + (C_k)_jj + f_k D_kj^2
        spherical: nu_k = n0 + p N_k        Psi_k = Psi0 + tr C_k + f_k |D_k|^2

    ``reg_covar`` is added as scikit-learn adds it, ``reg_covar * I`` to C_k / N_k, that is
    ``N_k * reg_covar * I`` to C_k (so ``p N_k reg_covar`` to tr C_k). An empty component
    (N_k = 0) keeps its prior: m_k = m0, Psi_k = Psi0.

    Parameters
    ----------
    n_k : array (K,)
    xbar : array (K, p)
    scatter : array, C_k in the shape of ``prior.covariance_type`` (see :func:`statistics`)
    prior : Prior

    Returns
    -------
    mean_precision (K,), means (K, p), degrees_of_freedom ((K,) or float), psi
    """
    n_k = [float(v) for v in n_k]
    xs = np.asarray(xbar, dtype=np.float64).tolist()
    k_comp, p = len(n_k), len(xs[0])
    ctype = prior.covariance_type
    b0, n0 = float(prior.mean_precision_prior), float(prior.degrees_of_freedom_prior)
    reg = float(prior.reg_covar)
    m0 = [float(v) for v in prior.mean_prior]
    psi0 = np.asarray(prior.covariance_prior, dtype=np.float64)

    b = [b0 + n_k[k] for k in range(k_comp)]
    means = [[(b0 * m0[j] + n_k[k] * xs[k][j]) / b[k] for j in range(p)] for k in range(k_comp)]
    d = [[xs[k][j] - m0[j] for j in range(p)] for k in range(k_comp)]
    f = [b0 * n_k[k] / b[k] for k in range(k_comp)]

    if ctype == "full":
        c = np.asarray(scatter, dtype=np.float64).tolist()
        nu = np.array([n0 + n_k[k] for k in range(k_comp)])
        psi = np.empty((k_comp, p, p))
        for k in range(k_comp):
            for j in range(p):
                for q in range(p):
                    psi[k, j, q] = (psi0[j, q] + c[k][j][q] + (n_k[k] * reg if j == q else 0.0)
                                    + f[k] * d[k][j] * d[k][q])
    elif ctype == "tied":
        c = np.asarray(scatter, dtype=np.float64).tolist()
        nu = n0 + sum(n_k)
        psi = np.empty((p, p))
        for j in range(p):
            for q in range(p):
                psi[j, q] = (psi0[j, q] + c[j][q] + (sum(n_k) * reg if j == q else 0.0)
                             + sum(f[k] * d[k][j] * d[k][q] for k in range(k_comp)))
    elif ctype == "diag":
        c = np.asarray(scatter, dtype=np.float64).tolist()
        nu = np.array([n0 + n_k[k] for k in range(k_comp)])
        psi = np.array([[psi0[j] + c[k][j] + n_k[k] * reg + f[k] * d[k][j] ** 2
                         for j in range(p)] for k in range(k_comp)])
    else:
        c = [float(v) for v in scatter]
        nu = np.array([n0 + p * n_k[k] for k in range(k_comp)])
        psi = np.array([float(psi0) + c[k] + p * n_k[k] * reg
                        + f[k] * sum(v ** 2 for v in d[k]) for k in range(k_comp)])
    return np.array(b), np.array(means), nu, psi


# ----------------------------------------------------------------------------------------------
# expectations under q (the E-step's ingredients)
# ----------------------------------------------------------------------------------------------


def expected_log_det(params):
    """E_q[log|P_k|] (K,); for ``tied`` the one shared value, repeated K times.

    ::

        full, tied:  sum_{j=1..p} psi((nu_k + 1 - j)/2) + p log 2 - log|Psi_k|
        diag:        p psi(nu_k/2) + p log 2 - sum_j log Psi_kj
        spherical:   p [psi(nu_k/2) + log 2 - log Psi_k]
    """
    p = np.asarray(params.means).shape[1]
    out = []
    for k in range(_n_components(params)):
        nu, psi_k = _component(params, k)
        out.append(_expected_log_det_one(params.covariance_type, nu, psi_k, p))
    return np.array(out, dtype=np.float64)


def _per_point_inputs(X, params):
    """What the loops over points and components read: the points and the means as lists of
    floats, b_k, p and the covariance type."""
    xs = np.asarray(X, dtype=np.float64).tolist()
    ms = np.asarray(params.means, dtype=np.float64).tolist()
    b = [float(v) for v in params.mean_precision]
    return xs, ms, b, len(ms[0]), params.covariance_type


def expected_mahalanobis(X, params):
    """E_q[(x_i - mu_k)^T P_k (x_i - mu_k)] (N, K).

    ``p / b_k + nu_k (x_i - m_k)^T Psi_k^-1 (x_i - m_k)`` for every type (Psi_k^-1 is
    diag(1/Psi_kj) for diag and 1/Psi_k for spherical).
    """
    xs, ms, b, p, ctype = _per_point_inputs(X, params)
    out = np.empty((len(xs), len(ms)))
    for k in range(len(ms)):
        nu, psi_k = _component(params, k)
        inv = _inverse(psi_k) if ctype in ("full", "tied") else None
        for i, x in enumerate(xs):
            u = [x[j] - ms[k][j] for j in range(p)]
            quad = _quad_form(inv, u) if inv is not None else _quad_psi_inv(ctype, psi_k, u)
            out[i, k] = p / b[k] + nu * quad
    return out


# ----------------------------------------------------------------------------------------------
# KL(q(mu, P) || p(mu, P))
# ----------------------------------------------------------------------------------------------


def kl_wishart(psi_q, nu_q, psi_0, n0):
    """KL(Wishart(Psi_q^-1, nu_q) || Wishart(Psi_0^-1, n0)) for p x p matrices::

        log B_q - log B_0 + (nu_q - n0)/2 E_q[log|P|] - nu_q p/2 + (nu_q/2) tr(Psi_0 Psi_q^-1),
        log B(Psi, nu) = (nu/2) log|Psi| - (nu p/2) log 2 - log Gamma_p(nu/2)
    """
    psi_q = np.asarray(psi_q, dtype=np.float64)
    psi_0 = np.asarray(psi_0, dtype=np.float64)
    p = psi_q.shape[0]
    nu_q, n0 = float(nu_q), float(n0)

    def log_b(psi, nu):
        return nu / 2.0 * _logdet(psi) - nu * p / 2.0 * math.log(2.0) - _log_multigamma(nu / 2, p)

    inv_q = _inverse(psi_q)
    trace = sum(psi_0[j, q] * inv_q[q][j] for j in range(p) for q in range(p))
    e_log_det = _expected_log_det_one("full", nu_q, psi_q, p)
    return (log_b(psi_q, nu_q) - log_b(psi_0, n0) + (nu_q - n0) / 2.0 * e_log_det
            - nu_q * p / 2.0 + nu_q / 2.0 * trace)


def kl_gamma(shape_q, rate_q, shape_0, rate_0):
    """KL(Gamma(a_q, r_q) || Gamma(a_0, r_0)) (shape, rate)::

        (a_q - a_0) psi(a_q) - lgamma(a_q) + lgamma(a_0) + a_0 (log r_q - log r_0)
        + a_q (r_0 - r_q) / r_q
    """
    a_q, r_q, a_0, r_0 = float(shape_q), float(rate_q), float(shape_0), float(rate_0)
    return ((a_q - a_0) * _psi(a_q) - _lgamma(a_q) + _lgamma(a_0)
            + a_0 * (math.log(r_q) - math.log(r_0)) + a_q * (r_0 - r_q) / r_q)


def kl_components(params, prior):
    """KL_theta = sum_k KL(q(mu_k, P_k) || p(mu_k, P_k)), the precision KL once for ``tied``::

        sum_k KL(q(P_k) || p(P_k))
        + sum_k (1/2) [ p b0 / b_k - p + p log(b_k / b0)
                        + b0 nu_k (m_k - m0)^T Psi_k^-1 (m_k - m0) ]

    The precision KL is :func:`kl_wishart` (full, tied), the sum over features of
    :func:`kl_gamma` with shape nu/2 and rates Psi_kj/2, Psi0_j/2 (diag), or one
    :func:`kl_gamma` (spherical).
    """
    ctype = params.covariance_type
    ms = np.asarray(params.means, dtype=np.float64).tolist()
    b = [float(v) for v in params.mean_precision]
    k_comp, p = len(ms), len(ms[0])
    b0, n0 = float(prior.mean_precision_prior), float(prior.degrees_of_freedom_prior)
    m0 = [float(v) for v in prior.mean_prior]
    psi0 = np.asarray(prior.covariance_prior, dtype=np.float64)

    total = 0.0
    if ctype == "tied":
        total += kl_wishart(params.psi, params.degrees_of_freedom, psi0, n0)
    for k in range(k_comp):
        nu, psi_k = _component(params, k)
        if ctype == "full":
            total += kl_wishart(psi_k, nu, psi0, n0)
        elif ctype == "diag":
            total += sum(kl_gamma(nu / 2.0, float(psi_k[j]) / 2.0, n0 / 2.0, psi0[j] / 2.0)
                         for j in range(p))
        elif ctype == "spherical":
            total += kl_gamma(nu / 2.0, float(psi_k) / 2.0, n0 / 2.0, float(psi0) / 2.0)
        u = [ms[k][j] - m0[j] for j in range(p)]
        total += 0.5 * (p * b0 / b[k] - p + p * math.log(b[k] / b0)
                        + b0 * nu * _quad_psi_inv(ctype, psi_k, u))
    return total


# ----------------------------------------------------------------------------------------------
# point estimates and the predictive components
# ----------------------------------------------------------------------------------------------


def covariances(params):
    """Psi_k / nu_k in the type's shape (scikit-learn's ``covariances_`` normalisation)."""
    psi = np.asarray(params.psi, dtype=np.float64)
    nu = np.asarray(params.degrees_of_freedom, dtype=np.float64)
    if params.covariance_type == "full":
        return psi / nu[:, None, None]
    if params.covariance_type == "diag":
        return psi / nu[:, None]
    return psi / nu


def precisions(params):
    """The inverse of :func:`covariances`: nu_k Psi_k^-1 (1/x elementwise for diag, spherical)."""
    cov = covariances(params)
    if params.covariance_type == "full":
        return np.array([np.linalg.inv(c) for c in cov])
    if params.covariance_type == "tied":
        return np.linalg.inv(cov)
    return 1.0 / cov


def log_student_t(X, params):
    """log T_k(x_i) (N, K): the posterior predictive density of each component.

    ::

        full, tied: multivariate Student-t, nu_k + 1 - p degrees of freedom, location m_k,
                    precision ((nu_k + 1 - p) b_k / (1 + b_k)) Psi_k^-1      (Bishop 10.81)
        diag:       prod_j Student-t, nu_k degrees of freedom, location m_kj,
                    scale^2 Psi_kj (1 + b_k) / (b_k nu_k)
        spherical:  p-variate Student-t, nu_k degrees of freedom, location m_k,
                    scale matrix Psi_k (1 + b_k) / (b_k nu_k) I_p

    with the p-variate Student-t (d degrees of freedom, scale matrix S) log density
    ``lgamma((d + p)/2) - lgamma(d/2) - (p/2) log(d pi) - log|S|/2
    - ((d + p)/2) log(1 + u^T S^-1 u / d)``.
    """
    xs, ms, b, p, ctype = _per_point_inputs(X, params)
    out = np.empty((len(xs), len(ms)))
    for k in range(len(ms)):
        nu, psi_k = _component(params, k)
        if ctype in ("full", "tied"):
            dof = nu + 1.0 - p
            scale = (1.0 + b[k]) / (dof * b[k])  # S = scale * Psi_k
            log_det_s = p * math.log(scale) + _logdet(psi_k)
            inv = _inverse(psi_k)
        elif ctype == "diag":
            dof = nu
            scales = [float(psi_k[j]) * (1.0 + b[k]) / (b[k] * nu) for j in range(p)]
        else:
            dof = nu
            scale = float(psi_k) * (1.0 + b[k]) / (b[k] * nu)
            log_det_s = p * math.log(scale)
        for i, x in enumerate(xs):
            u = [x[j] - ms[k][j] for j in range(p)]
            if ctype == "diag":
                out[i, k] = sum(
                    _lgamma((dof + 1) / 2.0) - _lgamma(dof / 2.0)
                    - 0.5 * math.log(dof * math.pi * scales[j])
                    - (dof + 1) / 2.0 * math.log1p(u[j] ** 2 / (dof * scales[j]))
                    for j in range(p))
                continue
            if ctype in ("full", "tied"):
                maha = _quad_form(inv, u) / scale
            else:
                maha = sum(v ** 2 for v in u) / scale
            out[i, k] = (_lgamma((dof + p) / 2.0) - _lgamma(dof / 2.0)
                         - p / 2.0 * math.log(dof * math.pi) - 0.5 * log_det_s
                         - (dof + p) / 2.0 * math.log1p(maha / dof))
    return out
