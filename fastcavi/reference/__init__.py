"""Slow, readable reference implementations, written straight from the equations.

Three models live here, each in plain Python loops that can be read against the equations line
by line. They are slow on purpose: use them to check the fast paths, never to fit real data.

- The fixed model (``fastcavi.reference`` itself, from :mod:`fastcavi.reference._fixed`):
  equal mixing weights and one known spherical likelihood variance, the model of
  :class:`fastcavi.GaussianMixtureCAVI`.
- The learned-weights, learned-covariance family of scikit-learn's ``BayesianGaussianMixture``
  (Dirichlet distribution or Dirichlet process weights; spherical, diag, tied or full
  covariances) as exact conjugate CAVI: :mod:`fastcavi.reference.family`.
- Maximum-likelihood EM, the fit of scikit-learn's ``GaussianMixture`` and of
  :class:`fastcavi.GaussianMixture`: :mod:`fastcavi.reference.em`.
"""

from . import _fixed, family
from ._fixed import *  # noqa: F403 - the fixed model is the package's own namespace

__all__ = [*_fixed.__all__, "family"]
