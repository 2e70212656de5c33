"""fastcavi: fast mean-field CAVI for the Bayesian Gaussian mixture.

``GaussianMixtureCAVI`` is the scikit-learn estimator; ``cavi`` and ``responsibilities`` are the
fast path as functions, one-to-one with :mod:`fastcavi.reference`.
"""

from ._estimator import GaussianMixtureCAVI
from ._fit import cavi, responsibilities

__version__ = "0.1.0"
__all__ = ["GaussianMixtureCAVI", "cavi", "responsibilities", "__version__"]
