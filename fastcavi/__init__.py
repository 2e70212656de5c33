"""fastcavi: fast mean-field CAVI for the Bayesian Gaussian mixture.

``GaussianMixtureCAVI`` is the scikit-learn estimator; ``cavi`` and ``responsibilities`` are the
fast path as functions, one-to-one with :mod:`fastcavi.reference`.

The names below are imported on first use (PEP 562): ``import fastcavi`` and ``fastcavi --help``
do not import Numba or scikit-learn. Every module that defines kernels imports
:mod:`fastcavi._threads` first (it makes tbb loadable before Numba picks its threading layer).
"""

__version__ = "0.1.0"
__all__ = ["BayesianGaussianMixture", "GaussianMixture", "GaussianMixtureCAVI",
           "MixtureSelection", "cavi", "responsibilities", "load", "save", "__version__"]

_LAZY = {  # public name -> the submodule that defines it
    "BayesianGaussianMixture": "estimators.bayesian_mixture",
    "GaussianMixture": "estimators.gaussian_mixture",
    "GaussianMixtureCAVI": "estimators.gaussian_mixture_cavi",
    "MixtureSelection": "estimators.selection",
    "cavi": "estimators.functions",
    "responsibilities": "estimators.functions",
    "load": "estimators.load",
    "save": "estimators.io",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
