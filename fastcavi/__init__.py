"""fastcavi: fast mean-field CAVI for the Bayesian Gaussian mixture.

``GaussianMixtureCAVI`` is the scikit-learn estimator; ``cavi`` and ``responsibilities`` are the
fast path as functions, one-to-one with :mod:`fastcavi.reference`.
"""

from . import _threads  # noqa: F401  (first: makes tbb loadable; see _threads)
from ._estimator import GaussianMixtureCAVI
from ._fit import cavi, responsibilities
from ._io import load, save

__version__ = "0.1.0"
__all__ = ["GaussianMixtureCAVI", "cavi", "responsibilities", "load", "__version__"]
__all__ += ["save"]
