"""``fastcavi.load``: a model file back into the fitted estimator it holds.

Above both estimators and the file format (:mod:`fastcavi.estimators.io`), so that the estimators
can
import the format to save without the format importing them back.
"""

from __future__ import annotations

from .bayesian_mixture import BayesianGaussianMixture
from .gaussian_mixture import GaussianMixture
from .gaussian_mixture_cavi import GaussianMixtureCAVI
from .io import read_model

CLASSES = {cls.__name__: cls for cls in (GaussianMixtureCAVI, BayesianGaussianMixture,
                                                 GaussianMixture)}


def load(path):
    """Read a model written by ``model.save(path)`` or :func:`fastcavi.save` and return it,
    fitted (a :class:`~fastcavi.GaussianMixtureCAVI`, a
    :class:`~fastcavi.BayesianGaussianMixture` or a :class:`~fastcavi.GaussianMixture`).

    The loaded model predicts exactly (bit for bit) as the one that was saved. Raises
    ``ValueError`` for a file that is not a fastcavi model or has an unknown
    ``format_version``, and ``OSError`` when the file cannot be read.
    """
    return read_model(path, CLASSES)
