"""The scikit-learn estimator: the skeleton of :mod:`fastcavi.estimators.base` with
scikit-learn's ``BaseEstimator`` (``get_params``, ``set_params``, ``clone``, the repr, tags) and
``DensityMixin``. Every public estimator is a :class:`MixtureBase`."""

from __future__ import annotations

from sklearn.base import BaseEstimator, DensityMixin

from .base import Mixture


class MixtureBase(Mixture, DensityMixin, BaseEstimator):
    """A :class:`~fastcavi.estimators.base.Mixture` that is a scikit-learn estimator. The
    skeleton comes first, so that its ``score`` is the one used."""
