"""The scikit-learn estimators: ``base`` (``Mixture``: the guarded ``fit`` and ``partial_fit``,
prediction, scoring and saving, written once, without scikit-learn) and ``estimator``
(``MixtureBase``: it with scikit-learn's base classes), ``known_variance`` and
``gaussian_mixture_cavi``, ``bayesian_mixture``, ``gaussian_mixture`` (each estimator's
parameters, defaults, starts and restarts), the functional API (``functions``), and model files
(``io``, ``load``). The public names are imported from :mod:`fastcavi`.
"""
