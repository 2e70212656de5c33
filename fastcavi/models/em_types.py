"""What maximum-likelihood EM does differently per covariance type: the forms of the precision's
factor ``U`` (``U U^T = Sigma^-1``, scikit-learn's ``precisions_cholesky_``), of the scatter
statistic and of the covariances, one object per type in :data:`EM_TYPES` (scikit-learn keeps
the same pieces in dicts of functions by type). :mod:`fastcavi.models.em` writes the algorithm
once in terms of them.

Shapes, for K components of p features: ``full`` U, scatter and covariances (K, p, p);
``tied`` one (p, p) of each; ``diag`` (K, p); ``spherical`` (K,), its scatter summed over the
features. ``pc`` is U, ``a`` the kernels' factors (:meth:`factors`), ``nk`` the components'
weights (K,).
"""

from __future__ import annotations

import math

import numpy as np

from .names import COVARIANCE_TYPES

_SQRT2 = math.sqrt(2.0)


class _PerFeature:
    """diag and spherical: U is the reciprocal standard deviation, elementwise; the kernels
    take the half precisions h = U^2 / 2."""

    name = ""
    precision_ndim = 1  # the dimensions of precisions_init (and of U)

    def factors(self, pc):
        return 0.5 * pc ** 2

    def quadratic(self, a, scatter):
        """sum_k tr(A_k^T A_k R_k): here sum_k h_k . R_k."""
        return float(np.sum(a * scatter))

    def precision_quadratic(self, pc, scatter):
        """sum_k tr(P_k R_k), P_k = U_k U_k^T the precision."""
        return float(np.sum(pc * pc * scatter))

    def precisions(self, pc):
        return pc ** 2

    def covariances_from_cholesky(self, pc):
        return 1.0 / (pc * pc)

    def cholesky_from_precisions(self, prec):
        return np.sqrt(prec)

    def check_precisions(self, prec, name):
        if np.any(prec <= 0.0):
            raise ValueError(f"'{name}' should be positive")


class Diag(_PerFeature):
    name = "diag"
    precision_ndim = 2

    def log_det(self, pc, p):
        """log|U_k| (K,)."""
        return np.sum(np.log(pc), axis=1)

    def scatter_of(self, n_k, cov, reg_covar, p):
        """The scatter whose M-step gives back ``cov`` for weights ``n_k``."""
        return n_k[:, None] * (cov - reg_covar)

    def covariances(self, scatter, nk, reg_covar, p):
        """The M-step's covariances from the scatter about the new means."""
        return scatter / nk[:, None] + reg_covar

    def start_scatter(self, r_k):
        """This type's scatter from a start's: per feature (K, p) for diag and spherical,
        per component (K, p, p) for full and tied."""
        return r_k

    def squared_distance(self, diff, pc):
        """|U_k^T (x_i - mu_k)|^2 (B, K) from the differences (B, K, p)."""
        return np.sum(diff * diff * (pc * pc)[None], axis=2)


class Spherical(_PerFeature):
    name = "spherical"

    def log_det(self, pc, p):
        return p * np.log(pc)

    def scatter_of(self, n_k, cov, reg_covar, p):
        return n_k * p * (cov - reg_covar)

    def covariances(self, scatter, nk, reg_covar, p):
        return scatter / (nk * p) + reg_covar

    def start_scatter(self, r_k):
        return r_k.sum(axis=1)

    def squared_distance(self, diff, pc):
        return np.sum(diff * diff, axis=2) * (pc * pc)[None]


def _check_matrix(prec, name):
    if not (np.all(np.isclose(prec, prec.T)) and np.all(np.linalg.eigvalsh(prec) > 0.0)):
        raise ValueError(f"'{name}' should be symmetric, positive-definite")


def _upper_cholesky(prec):
    """scikit-learn's U from a precision: the Cholesky factor of the reversed matrix,
    reversed."""
    return np.linalg.cholesky(prec[::-1, ::-1])[::-1, ::-1]


class Full:
    name = "full"
    precision_ndim = 3

    def log_det(self, pc, p):
        return np.sum(np.log(np.diagonal(pc, axis1=1, axis2=2)), axis=1)

    def factors(self, pc):
        """A_k = U_k^T / sqrt(2)."""
        return np.ascontiguousarray(np.swapaxes(pc, 1, 2)) / _SQRT2

    def quadratic(self, a, scatter):
        return float(np.einsum("kji,kjl,kil->", a, a, scatter))

    def precision_quadratic(self, pc, scatter):
        return float(np.einsum("kij,kil,klj->", pc, scatter, pc))

    def scatter_of(self, n_k, cov, reg_covar, p):
        return n_k[:, None, None] * (cov - reg_covar * np.eye(p))

    def covariances(self, scatter, nk, reg_covar, p):
        return scatter / nk[:, None, None] + reg_covar * np.eye(p)

    def start_scatter(self, r_k):
        return r_k  # matrix scatters are given as matrices

    def squared_distance(self, diff, pc):
        return np.sum(np.einsum("bki,kij->bkj", diff, pc) ** 2, axis=2)

    def precisions(self, pc):
        return np.einsum("kij,klj->kil", pc, pc)

    def covariances_from_cholesky(self, pc):
        return np.array([np.linalg.inv(u @ u.T) for u in pc])

    def cholesky_from_precisions(self, prec):
        return np.array([_upper_cholesky(q) for q in prec])

    def check_precisions(self, prec, name):
        for q in prec:
            _check_matrix(q, name)


class Tied:
    name = "tied"
    precision_ndim = 2

    def log_det(self, pc, p):
        return float(np.sum(np.log(np.diag(pc))))

    def factors(self, pc):
        return np.ascontiguousarray(pc.T) / _SQRT2

    def quadratic(self, a, scatter):
        return float(np.sum((a.T @ a) * scatter))

    def precision_quadratic(self, pc, scatter):
        return float(np.sum((pc @ pc.T) * scatter))

    def scatter_of(self, n_k, cov, reg_covar, p):
        return (cov - reg_covar * np.eye(p)) * np.sum(n_k)

    def covariances(self, scatter, nk, reg_covar, p):
        return scatter / np.sum(nk) + reg_covar * np.eye(p)

    def start_scatter(self, r_k):
        return r_k.sum(axis=0)  # the components' matrix scatters pooled

    def squared_distance(self, diff, pc):
        return np.sum((diff @ pc) ** 2, axis=2)

    def precisions(self, pc):
        return pc @ pc.T

    def covariances_from_cholesky(self, pc):
        return np.linalg.inv(pc @ pc.T)

    def cholesky_from_precisions(self, prec):
        return _upper_cholesky(prec)

    def check_precisions(self, prec, name):
        _check_matrix(prec, name)


#: One object per covariance type, in :data:`fastcavi.models.names.COVARIANCE_TYPES`' order.
EM_TYPES = {t.name: t for t in sorted((Full(), Tied(), Diag(), Spherical()),
                                       key=lambda t: COVARIANCE_TYPES.index(t.name))}
