"""The models of the learned-variance family, by name: the one list that validation, the
command line, the statistics and the benchmarks read. Names only, so the command line can
offer them before NumPy is imported."""

#: scikit-learn's ``covariance_type`` values, in its order ('full' is its default).
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
#: The types whose precisions are p x p matrices (Cholesky-factor kernels, p x p scatters).
MATRIX_TYPES = ("full", "tied")
#: The form of each type's scatter statistic: summed over features ('scalar'), per feature,
#: per component as a matrix ('full') or one matrix pooled over components ('tied').
STATS_SHAPES = {"full": "full", "tied": "tied", "diag": "diag", "spherical": "scalar"}
#: scikit-learn's ``weight_concentration_prior_type`` values.
WEIGHT_PRIORS = ("dirichlet_process", "dirichlet_distribution")
#: Where the prior parameters left at None take their values (``default_prior``):
#: scikit-learn's defaults, or those of R's mclust (Fraley & Raftery 2007), scaled to the
#: size of a cluster.
PRIOR_DEFAULTS = ("scikit-learn", "mclust")
#: What a selection grid can fit (``MixtureSelection(models=...)``, ``fastcavi select
#: --models``): the variational mixture at every K, maximum-likelihood EM at every K, and one
#: variational fit per covariance type whose moves choose K.
SELECTION_MODELS = ("bgm", "gm", "moves")
