"""The global step of the full and tied mixtures (a Wishart precision per component, or one
shared by all): everything O(K p^2 + K p^3) that follows one pass over the data. The weights'
half is :mod:`fastcavi.models.family`'s.

A pass (the kernels, :mod:`fastcavi.kernels.full` and :mod:`fastcavi.kernels.tied`)
returns, centred on the means ``m`` that produced the responsibilities r
(:class:`~fastcavi.models.family.FamilyStats`)::

    N_k = sum_i w_i r_ik                 S_k = sum_i w_i r_ik (x_i - m_k)            (K, p)
    full: R_k = sum_i w_i r_ik (x_i - m_k)(x_i - m_k)^T                              (K, p, p)
    tied: R   = sum_k R_k                                                            (p, p)
    H   = -sum_i w_i sum_k r_ik log r_ik

**Why one pooled R is enough (and exact) for tied.** The shared update needs
``sum_k C_k = sum_k (R_k - S_k S_k^T / N_k)`` and the likelihood term at the new means m'
needs ``sum_k nu tr(Psi^-1 [R_k - d_k S_k^T - S_k d_k^T + N_k d_k d_k^T])`` (``d = m' - m``):
both are linear in the R_k, so only their sum enters, next to the per-component N_k and S_k.
The kernel forms that sum without K p x p products per point: with ``sum_k r_ik = 1``, the
point's responsibility-weighted mean ``mbar_i = sum_k r_ik m_k`` and ``y_i = x_i - mbar_i``,

    sum_k r_ik (x_i - m_k)(x_i - m_k)^T = y_i y_i^T + sum_k r_ik (m_k - mbar_i)(m_k - mbar_i)^T
                                         = y_i y_i^T + sum_{k<l} r_ik r_il (m_k - m_l)(m_k - m_l)^T

(the cross terms vanish because the r_ik (m_k - mbar_i) sum to 0; the second line is the
covariance of a discrete distribution written over pairs). Summed over the points,
``R = sum_i w_i y_i y_i^T + sum_{k<l} M_kl (m_k - m_l)(m_k - m_l)^T`` with the co-responsibilities
``M_kl = sum_i w_i r_ik r_il``: one p x p product and K (K - 1)/2 products per point, every term
non-negative (no cancellation), translation-invariant (``y`` is formed from coordinates centred on
the means' centroid). The sum over pairs is then taken once per block as ``mc^T L mc``, L the
Laplacian of M (:func:`fastcavi.models.family_full_fit.pair_scatter`). Beyond a few features
or components (:func:`~fastcavi.models.family_full_fit.tied_uses_blas`) the kernel's products
are BLAS products on blocks of rows; in float64 that path takes R from the rows' scatter about
the centre instead (:func:`fastcavi.kernels.tied._gram_sweep_statistics_tied`).

Then ``C_k = R_k - S_k S_k^T / N_k`` and the update (:func:`m_step`), and at the new means the
likelihood term of :func:`elbo`. The updates and the ELBO, with every constant, are those of
:mod:`fastcavi.reference.family` (which the tests check this module against term by term).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.linalg.lapack import get_lapack_funcs
from scipy.special import digamma, gammaln

from .._threads import single_threaded_blas
from .family import (
    FamilyParams,
    expected_log_weights,
    kl_weights,
    update_means,
    update_weights,
)

_LOG_2PI = math.log(2.0 * math.pi)


def one_blas_thread(func):
    """Run ``func`` with BLAS/LAPACK on one thread. Its p x p factorisations are tiny, and a
    multi-threaded OpenBLAS woken right after a parallel kernel fights the kernel's spinning
    threads for the cores: measured, 80 ms for a 10 x (2 x 2) Cholesky instead of 0.2 ms."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with single_threaded_blas():
            return func(*args, **kwargs)

    return wrapper


def _stack(params, prior):
    """(nu (G,), Psi (G, p, p)): one entry per precision matrix (G = K full, 1 tied)."""
    if prior.kind.shared:
        return np.atleast_1d(np.asarray(params.degrees_of_freedom, dtype=np.float64)), \
            params.psi[None]
    return params.degrees_of_freedom, params.psi


def cholesky(psi, prior):
    """The lower Cholesky factors L_k of Psi_k (G, p, p), Psi_k = L_k L_k^T.

    Raises a ValueError that names the component when one Psi_k is not positive definite in
    float64 (a NaN fit would follow). A non-finite Psi_k gives NaN factors instead: the ELBO
    then reports the overflow in plain words (:func:`fastcavi.models.fixed.iterate`)."""
    psi = np.asarray(psi, dtype=np.float64)
    if not np.all(np.isfinite(psi)):
        return np.full_like(psi, np.nan)
    try:
        return np.linalg.cholesky(psi)
    except np.linalg.LinAlgError:
        pass
    for k in range(psi.shape[0]):
        try:
            np.linalg.cholesky(psi[k])
        except np.linalg.LinAlgError:
            what, whose = (("the shared Psi", "the data") if prior.kind.shared
                           else (f"Psi_k of component {k}", "that component's points"))
            raise ValueError(
                f"{what} (the {prior.covariance_type} precision's inverse scale matrix) is not "
                f"positive definite in float64: {whose} are (nearly) degenerate, for example "
                f"collinear features or a collapsed cluster. Use a larger reg_covar (now "
                f"{prior.reg_covar:g}), a larger covariance_prior, or fewer components.") from None
    raise AssertionError("unreachable")


def log_det(chol):
    """log|Psi_k| (G,) from the Cholesky factors."""
    return 2.0 * np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)


def expected_log_det(nu, logdet, n_features):
    """E[log|P_k|] = sum_{j=1..p} psi((nu_k + 1 - j)/2) + p log 2 - log|Psi_k| (G,)."""
    j = np.arange(1, n_features + 1)
    return (np.sum(digamma((np.asarray(nu)[:, None] + 1.0 - j) / 2.0), axis=1)
            + n_features * math.log(2.0) - logdet)


_TRTRS, = get_lapack_funcs(("trtrs",), (np.eye(1),))  # float64's (the factors are float64)


def lower_inverses(chol):
    """L_g^-1 (G, p, p) of lower-triangular factors L_g (G, p, p) with positive diagonals: the
    LAPACK call that scipy's ``solve_triangular(L_g, I, lower=True)`` makes (the same
    numbers), without its checks and wrappers (a sixth of the time at K = 20, p = 4; these run
    several times per iteration)."""
    chol = np.asarray(chol, dtype=np.float64)
    eye = np.eye(chol.shape[-1])
    out = np.empty_like(chol)
    for g in range(chol.shape[0]):
        c = chol[g]
        if c.flags.f_contiguous:
            x, info = _TRTRS(c, eye, lower=1)
        else:  # as scipy: the transposed system, which LAPACK reads in Fortran order
            x, info = _TRTRS(c.T, eye, lower=0, trans=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"singular triangular factor {g} (LAPACK info {info})")
        out[g] = x
    return out


def multigammaln(a, p):
    """log Gamma_p(a) elementwise, as scipy's ``multigammaln`` computes it for one a (the same
    terms summed in the same order), for an array of a > (p - 1) / 2 at once."""
    a = np.asarray(a, dtype=np.float64)
    j = np.arange(1, p + 1).reshape((p,) + (1,) * a.ndim)
    return (p * (p - 1) * 0.25) * np.log(np.pi) + np.sum(gammaln(a - (j - 1.0) / 2), axis=0)


def _inverse(chol):
    """Psi_k^-1 (G, p, p) from the lower Cholesky factors."""
    inv_l = lower_inverses(chol)
    return np.einsum("gji,gjl->gil", inv_l, inv_l)


def _outer(a, b):
    return np.einsum("ki,kj->kij", a, b)


# -- the M-step --------------------------------------------------------------------------------

def update_components(n_k, xbar, scatter, prior):
    """q(mu_k, P_k) from N_k, xbar_k and the scatter (C_k (K, p, p) full, sum_k C_k tied).

    ``b_k = b0 + N_k``, ``m_k = (b0 m0 + N_k xbar_k) / b_k``, ``D_k = xbar_k - m0``,
    ``f_k = b0 N_k / b_k``; full: ``nu_k = n0 + N_k``,
    ``Psi_k = Psi0 + C_k + N_k reg I + f_k D_k D_k^T``; tied: ``nu = n0 + sum_k N_k``,
    ``Psi = Psi0 + sum_k C_k + (sum_k N_k) reg I + sum_k f_k D_k D_k^T``. An empty component
    keeps its prior (m_k = m0, and it adds nothing to Psi)."""
    n0, p = prior.degrees_of_freedom, prior.mean.shape[0]
    b, means, d, f = update_means(n_k, xbar, prior)
    fdd = f[:, None, None] * _outer(d, d)
    eye = np.eye(p)
    if prior.kind.shared:
        total = float(np.sum(n_k))
        nu = n0 + total
        psi = prior.covariance + scatter + (total * prior.reg_covar) * eye + fdd.sum(axis=0)
    else:
        nu = n0 + n_k
        psi = (prior.covariance + scatter + (n_k * prior.reg_covar)[:, None, None] * eye
               + fdd)
    return b, means, nu, psi


@one_blas_thread
def m_step(stats, means_used, prior):
    """The M-step from one pass's statistics centred on ``means_used`` (K, p):
    ``xbar_k = m_k + S_k / N_k`` and ``C_k = R_k - S_k S_k^T / N_k`` (summed over k for tied).
    Raises ValueError when a new Psi_k is not positive definite (see :func:`cholesky`)."""
    n_k = stats.n_k
    safe = np.where(n_k > 0, n_k, 1.0)
    xbar = means_used + stats.s_k / safe[:, None]       # m_k where N_k = 0 (S_k = 0 there)
    ss = _outer(stats.s_k, stats.s_k) / safe[:, None, None]
    scatter = stats.r_k - (ss.sum(axis=0) if prior.kind.shared else ss)
    b, means, nu, psi = update_components(n_k, xbar, scatter, prior)
    cholesky(psi[None] if prior.kind.shared else psi, prior)
    conc = update_weights(n_k, prior.weight_type, prior.weight_concentration)
    return FamilyParams(conc, b, means, nu, psi)


# -- the ELBO ----------------------------------------------------------------------------------

def kl_wishart(nu_q, logdet_q, inv_q, prior):
    """KL(Wishart(Psi_q^-1, nu_q) || Wishart(Psi0^-1, n0)) (G,)::

        log B_q - log B_0 + (nu_q - n0)/2 E_q[log|P|] - nu_q p/2 + (nu_q/2) tr(Psi0 Psi_q^-1),
        log B(Psi, nu) = (nu/2) log|Psi| - (nu p/2) log 2 - log Gamma_p(nu/2)
    """
    n0, psi0 = prior.degrees_of_freedom, np.asarray(prior.covariance)
    p = psi0.shape[0]
    logdet_0 = float(np.linalg.slogdet(psi0)[1])

    def log_b(logdet, nu):
        return nu / 2.0 * logdet - nu * p / 2.0 * math.log(2.0) - multigammaln(nu / 2.0, p)

    e_log_det = expected_log_det(nu_q, logdet_q, p)
    trace = np.einsum("ij,gji->g", psi0, inv_q)
    return (log_b(np.asarray(logdet_q), np.asarray(nu_q)) - log_b(logdet_0, n0)
            + (nu_q - n0) / 2.0 * e_log_det - nu_q * p / 2.0 + nu_q / 2.0 * trace)


@one_blas_thread
def elbo(stats, means_used, params, prior):
    """The exact ELBO ``L_x + L_c + H_c - KL_pi - KL_theta`` at the new q(theta), from the
    statistics of the responsibilities that produced it (centred on ``means_used``)::

        L_x = sum_k N_k [E[log|P_k|]/2 - (p/2) log(2 pi) - p/(2 b_k)]
              - sum_k (nu_k/2) tr(Psi_k^-1 [R_k - d_k S_k^T - S_k d_k^T + N_k d_k d_k^T])
        KL_theta = sum_k KL_Wishart_k (once for tied)
                   + sum_k (1/2) [p b0/b_k - p + p log(b_k/b0) + b0 nu_k u_k^T Psi_k^-1 u_k]

    with ``d_k = m_k(new) - m_k(used)`` and ``u_k = m_k - m0``."""
    p = prior.mean.shape[0]
    tied = prior.kind.shared
    n_k, b = stats.n_k, params.mean_precision
    nu, psi = _stack(params, prior)
    chol = cholesky(psi, prior)
    logdet = log_det(chol)
    inv = _inverse(chol)
    e_log_det = expected_log_det(nu, logdet, p)
    d = params.means - means_used
    ds = _outer(d, stats.s_k)
    sq = -(ds + np.swapaxes(ds, 1, 2)) + n_k[:, None, None] * _outer(d, d)
    sq = stats.r_k + (sq.sum(axis=0, keepdims=True) if tied else sq)     # (G, p, p)
    l_x = float(np.sum(n_k * (0.5 * (e_log_det[0] if tied else e_log_det) - 0.5 * p * _LOG_2PI
                              - 0.5 * p / b))
                - 0.5 * np.sum(nu * np.einsum("gij,gji->g", inv, sq)))
    e_log_pi = expected_log_weights(prior.weight_type, params.weight_concentration)
    l_c = float(np.sum(n_k * e_log_pi))
    kl_pi = kl_weights(prior.weight_type, params.weight_concentration,
                       prior.weight_concentration)
    b0 = prior.mean_precision
    u = params.means - prior.mean
    quad = np.einsum("ki,kij,kj->k", u, np.broadcast_to(inv, (len(b), p, p)), u)
    nu_k = np.broadcast_to(nu, b.shape)
    kl_mean = 0.5 * np.sum(p * b0 / b - p + p * np.log(b / b0) + b0 * nu_k * quad)
    kl_theta = float(np.sum(kl_wishart(nu, logdet, inv, prior)) + kl_mean)
    return l_x + l_c + stats.entropy - kl_pi - kl_theta


# -- the E-step's parameters and the fitted attributes -----------------------------------------

@one_blas_thread
def logit_params(params, prior):
    """The E-step's logits in the kernels' form ``l_ik = -|A_k (x_i - m_k)|^2 - o_k``:
    ``A_k = sqrt(nu_k / 2) L_k^-1`` (lower triangular, (K, p, p); one (p, p) for tied), so that
    ``|A_k u|^2 = (nu_k / 2) u^T Psi_k^-1 u``, and
    ``o_k = -(E[log pi_k] + E[log|P_k|]/2 - p / (2 b_k))`` (the -(p/2) log(2 pi) common to every
    k is left out: it cancels in r and in the entropy)."""
    p = prior.mean.shape[0]
    nu, psi = _stack(params, prior)
    chol = cholesky(psi, prior)
    inv_l = lower_inverses(chol)
    factors = np.sqrt(nu / 2.0)[:, None, None] * inv_l
    e_log_pi = expected_log_weights(prior.weight_type, params.weight_concentration)
    e_log_det = expected_log_det(nu, log_det(chol), p)
    offsets = -(e_log_pi + 0.5 * e_log_det - 0.5 * p / params.mean_precision)
    return (factors[0] if prior.kind.shared else factors), offsets


@one_blas_thread
def covariance_attributes(params, prior):
    """scikit-learn's ``covariances_`` (Psi_k / nu_k), ``precisions_cholesky_`` (the upper
    factor U_k of the precision, U_k U_k^T = covariances_^-1, computed as scikit-learn does)
    and ``precisions_`` (U_k U_k^T); (K, p, p) for full, (p, p) for tied."""
    nu, psi = _stack(params, prior)
    cov = psi / nu[:, None, None]
    cov_chol = np.array([np.linalg.cholesky(c) for c in cov])
    prec_chol = np.ascontiguousarray(np.swapaxes(lower_inverses(cov_chol), 1, 2))
    prec = np.array([pc @ pc.T for pc in prec_chol])
    if prior.kind.shared:
        return cov[0], prec[0], prec_chol[0]
    return cov, prec, prec_chol
