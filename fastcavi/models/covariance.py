"""What each covariance type means outside the math: the shapes of its attributes, its
variances, its prior given per feature, how it changes with the data's units, and how a
component draws points. One object per type in :data:`COVARIANCES`; the estimators and the
command line ask it instead of comparing the type's name.

The math of the update and the bound is in :mod:`fastcavi.models.family` (spherical, diag)
and :mod:`fastcavi.models.family_full` (full, tied).
"""

from __future__ import annotations

import numpy as np

from .names import STATS_SHAPES


class Covariance:
    """The facts of one covariance type (the base is never used alone)."""

    name = ""
    matrix = False  # Psi_k is a p x p matrix (full, tied) rather than variances
    shared = False  # one covariance for every component (tied)
    per_feature = True  # a variance per feature (all but spherical)
    standardizable = True  # a model of standardised data is of this type in the data's units
    variance_words = "variance"  # what its variance per feature is, in words

    @property
    def stats_shape(self):
        """The shape name of its statistics (:data:`fastcavi.models.names.STATS_SHAPES`)."""
        return STATS_SHAPES[self.name]

    def covariances_shape(self, k, p):
        """The shape of ``covariances_`` for K components and p features."""
        raise NotImplementedError

    def n_parameters(self, k, p):
        """The free parameters of K covariances of p features (scikit-learn's count, for
        BIC and AIC)."""
        raise NotImplementedError

    def degrees_of_freedom_shape(self, k):
        """The shape of ``degrees_of_freedom_``: one per component, or one shared."""
        return () if self.shared else (k,)

    def variances(self, covariances, k):
        """Every component's variance per feature, (K, p) (the diagonal of a matrix), or
        (K, 1) when one variance serves every feature."""
        raise NotImplementedError

    def matrices(self, covariances, k, p):
        """``covariances_`` as K (p, p) matrices (a shared one repeated, variances on the
        diagonal)."""
        v = np.asarray(covariances, dtype=np.float64)
        if self.matrix:
            return np.broadcast_to(v, (k, p, p)) if self.shared else v
        return np.broadcast_to(self.variances(v, k), (k, p))[:, :, None] * np.eye(p)

    def per_component(self, covariances, k):
        """``covariances_`` as one entry per component (a shared one repeated)."""
        return [covariances] * k if self.shared else list(covariances)

    def draw(self, rng, mean, covariance, count):
        """``count`` points of the Gaussian with this component's mean and covariance."""
        if self.matrix:
            return rng.multivariate_normal(mean, covariance, int(count))
        return mean + rng.standard_normal(size=(count, mean.shape[0])) * np.sqrt(covariance)

    def from_per_feature(self, v):
        """A covariance prior given as one variance per feature (``v``, (p,)), in the form
        this type takes it: the variances for diag, a diagonal matrix for full and tied."""
        return np.diag(v) if self.matrix else v

    def in_data_units(self, a, scale):
        """Covariance(s) ``a`` of data divided by ``scale`` (per feature), in the data's
        units: ``a_ij * s_i * s_j`` (or ``a_i * s_i**2`` for variances)."""
        if not self.matrix:
            return a * scale ** 2
        return a * scale[:, None] * scale[None, :]

    def prior(self, value, source, mean, var, total):
        """The covariance prior Psi_0 (``covariance_prior``) in this type's form: ``value``
        checked, or, when it is None, the default from the data (``var`` the per-feature
        variances, ``mean`` and ``total`` the weighted mean and total weight of ``source``)."""
        if value is None:
            return self._default_prior(var)
        psi0 = self._given_prior(value, var.shape[0])
        if not np.all((np.asarray(psi0) > 0) & np.isfinite(psi0)):
            raise ValueError(f"'{self.name} covariance_prior' should be positive and finite, "
                             f"got {psi0!r}")
        return psi0

    def check_attributes(self, covariances, degrees_of_freedom, k, p):
        """The name and expected shape of the first of ``covariances_`` and
        ``degrees_of_freedom_`` with a wrong shape, else None."""
        for name, value, shape in (("covariances_", covariances, self.covariances_shape(k, p)),
                                   ("degrees_of_freedom_", degrees_of_freedom,
                                    self.degrees_of_freedom_shape(k))):
            if np.shape(value) != shape:
                return name, shape
        return None


class Spherical(Covariance):
    name = "spherical"
    per_feature = False
    standardizable = False  # a common variance of standardised features is not one in X
    variance_words = "variance: one per component, the same for every feature"

    def covariances_shape(self, k, p):
        return (k,)

    def n_parameters(self, k, p):
        return k

    def variances(self, covariances, k):
        return np.asarray(covariances, dtype=np.float64).reshape(k, 1)

    def from_per_feature(self, v):
        raise ValueError("a spherical covariance prior is one number, not one per feature")

    def _default_prior(self, var):
        return float(var.mean())

    def _given_prior(self, value, n_features):
        """One positive number (a 1-element array too), in scikit-learn's wording."""
        try:
            psi0 = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            psi0 = None
        if psi0 is None or psi0.size != 1:
            raise ValueError(f"The parameter 'spherical covariance_prior' should be a positive "
                             f"float, but got {value!r}")
        return float(psi0.ravel()[0])


class Diag(Covariance):
    name = "diag"

    def _default_prior(self, var):
        return var

    def _given_prior(self, value, n_features):
        psi0 = np.asarray(value, dtype=np.float64)
        if psi0.shape != (n_features,):
            raise ValueError(f"The parameter 'diag covariance_prior' should have the shape "
                             f"of ({n_features},), but got {psi0.shape}")
        return psi0

    def covariances_shape(self, k, p):
        return (k, p)

    def n_parameters(self, k, p):
        return k * p

    def variances(self, covariances, k):
        return np.asarray(covariances, dtype=np.float64)


class _Matrix(Covariance):
    matrix = True

    def prior(self, value, source, mean, var, total):
        """Psi_0: ``value`` checked (symmetric positive definite, p x p), or by default the
        weighted covariance of the data (:func:`covariance_prior`, which reads ``source``
        once)."""
        return covariance_prior(value, source, mean, total, self.name)


class Full(_Matrix):
    name = "full"
    variance_words = "variance (the covariance's diagonal)"

    def covariances_shape(self, k, p):
        return (k, p, p)

    def n_parameters(self, k, p):
        return k * p * (p + 1) / 2.0

    def variances(self, covariances, k):
        return np.diagonal(np.asarray(covariances, dtype=np.float64), axis1=1, axis2=2)


class Tied(_Matrix):
    name = "tied"
    shared = True
    variance_words = "variance (the diagonal of the covariance all components share)"

    def covariances_shape(self, k, p):
        return (p, p)

    def n_parameters(self, k, p):
        return p * (p + 1) / 2.0

    def variances(self, covariances, k):
        cov = np.asarray(covariances, dtype=np.float64)
        return np.broadcast_to(np.diag(cov), (k, cov.shape[0]))


# -- the default prior of full and tied: the data's covariance -------------------------------

def _scatter_block(xb, wb, mean):
    d = np.asarray(xb, dtype=np.float64) - mean
    return (d if wb is None else d * wb[:, None]).T @ d


def weighted_covariance(source, mean, total):
    """The (p, p) covariance of a data source's rows about ``mean`` with divisor ``total - 1``
    (frequency weights: integer weights give the covariance of repeated rows; without weights
    scikit-learn's ``np.cov(X.T)``), float64, one map over row blocks (any engine)."""
    p = source.n_features
    acc = np.zeros((p, p))
    for part in source.map_rows(_scatter_block, mean):
        acc += part
    return np.atleast_2d(acc / (total - 1.0))


def covariance_prior(value, source, mean, total, covariance_type):
    """Psi0 for full and tied: a given (p, p) matrix, checked (finite, symmetric, positive
    definite), or by default the (weighted) covariance of X (:func:`weighted_covariance`)
    (which may be singular: :func:`fastcavi.data.defaults.proper_covariance_prior` makes it
    proper)."""
    p = source.n_features
    name = f"{covariance_type} covariance_prior"
    if value is None:
        return weighted_covariance(source, mean, total)
    psi0 = np.asarray(value, dtype=np.float64)
    if psi0.shape != (p, p):
        raise ValueError(f"The parameter '{name}' should have the shape of ({p}, {p}), "
                         f"but got {psi0.shape}")
    ok = bool(np.all(np.isfinite(psi0)) and np.allclose(psi0, psi0.T))
    if ok:
        try:
            np.linalg.cholesky(psi0)
        except np.linalg.LinAlgError:
            ok = False
    if not ok:
        raise ValueError(f"'{name}' should be finite, symmetric and positive-definite "
                         f"(got {value!r})")
    return psi0


COVARIANCES = {c.name: c for c in (Full(), Tied(), Diag(), Spherical())}  # names.py order
