"""Slow, readable reference implementations, written straight from the equations.

Two models live here, each in plain Python loops that can be read against the equations line
by line. They are slow on purpose: use them to check the fast paths, never to fit real data.

- The fixed model (``fastcavi.reference`` itself, from :mod:`fastcavi.reference._fixed`):
  equal mixing weights and one known spherical likelihood variance, the model of
  :class:`fastcavi.GaussianMixtureCAVI`.
- The learned-weights, learned-covariance family of scikit-learn's ``BayesianGaussianMixture``
  (Dirichlet distribution or Dirichlet process weights; spherical, diag, tied or full
  covariances) as exact conjugate CAVI: :mod:`fastcavi.reference.family`.
"""

from . import family
from ._fixed import (
    CAVIResult,
    cavi,
    elbo,
    elbo_entropy_assignments,
    elbo_entropy_means,
    elbo_likelihood,
    elbo_prior_assignments,
    elbo_prior_means,
    responsibilities,
    update_means,
)

__all__ = [
    "CAVIResult",
    "cavi",
    "elbo",
    "elbo_entropy_assignments",
    "elbo_entropy_means",
    "elbo_likelihood",
    "elbo_prior_assignments",
    "elbo_prior_means",
    "family",
    "responsibilities",
    "update_means",
]
