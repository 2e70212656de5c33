"""The scikit-learn estimators: ``base`` (``MixtureBase``: the guarded ``fit`` and
``partial_fit``, prediction, scoring and saving, written once), ``gaussian_mixture_cavi`` and
``bayesian_mixture`` (each estimator's parameters, defaults, starts and restarts), the
functional API (``functions``), and model files (``io``, ``load``). The public names are
imported from :mod:`fastcavi`.
"""
