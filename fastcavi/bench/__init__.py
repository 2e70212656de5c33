"""The benchmarks, timed against the peers in one run: ``python -m fastcavi.bench`` (the
known-variance model against its NumPy and scikit-learn peers, :mod:`fastcavi.bench.cavi`),
``python -m fastcavi.bench.family`` (``BayesianGaussianMixture`` against scikit-learn's, per
covariance type) and ``python -m fastcavi.bench.algorithms`` (batch, incremental and
stochastic sweeps); ``python -m fastcavi.bench.moves`` compares the number of clusters found
(with moves, by scikit-learn's Dirichlet-process fit and by BIC) and times the moves.
``numpy_cavi`` is the vectorised NumPy peer.
"""
