"""The models: for each one, its statistics, update (the M-step), exact bound, the logits the
kernels take, the predictive density and the starts.

``names`` lists the covariance types, the matrix types and the weight priors, and can be read
before NumPy is imported; ``fixed`` is the known-variance model of ``GaussianMixtureCAVI``;
``family`` and ``family_full`` are the O(K p) and O(K p^2) math of ``BayesianGaussianMixture``
(spherical/diag and full/tied), ``family_fit`` and ``family_full_fit`` run their kernels over
blocks of rows. A model imports the loop (:mod:`fastcavi.inference`), the data sources and the
kernels, never an estimator. Importing this package imports none of its modules.
"""
