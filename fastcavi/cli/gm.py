"""``--model gm`` on the command line: GaussianMixture (scikit-learn's maximum-likelihood
mixture, fitted by EM) built from the options, a fit of standardised data turned into the same
model of the data, and what ``fastcavi fit`` and ``fastcavi demo`` print about it (the
log-likelihood of the fitted data, BIC and AIC).

NumPy and the estimator are imported inside the functions, when they are needed.
"""

from __future__ import annotations

from .bgm import check_standardize, covariance_type
from .data import CLIError

STANDARDIZED_ROW = ("standardized", "yes: fitted on every feature centred and divided by its "
                                    "standard deviation; the model is saved in the data's "
                                    "units (and the log-likelihood below is in them)")


def _offers(name):
    """Whether this version's GaussianMixture has the parameter ``name``."""
    from ..estimators.gaussian_mixture import GaussianMixture

    return name in GaussianMixture().get_params()


def check_options(args):
    """The fit's options that --model gm cannot take in this version, and --standardize's
    limits (as for bgm), as one CLIError; before the data are read."""
    from ..estimators.gaussian_mixture import GaussianMixture

    if getattr(args, "algorithm", "batch") != "batch" and not _offers("algorithm"):
        raise CLIError(f"--algorithm {args.algorithm} is not available for --model gm: "
                       "GaussianMixture fits in batch iterations only")
    if getattr(args, "partial", None) is not None and not hasattr(GaussianMixture(),
                                                                  "partial_fit"):
        raise CLIError("--partial is not available for --model gm: GaussianMixture has no "
                       "partial_fit")
    if getattr(args, "standardize", False):
        check_standardize(args)


def gm_estimator(args, tol, random_state, n_rows=None):
    """GaussianMixture with the options given (scikit-learn's defaults for the others);
    ``tol`` the estimator's, ``n_rows`` the data's rows when the data are streamed."""
    from ..estimators.gaussian_mixture import GaussianMixture

    params = dict(n_components=args.n_components if hasattr(args, "n_components") else args.k,
                  covariance_type=covariance_type(args), tol=tol, n_init=args.n_init,
                  max_iter=args.max_iter, init_params=args.init_params,
                  random_state=random_state, n_threads=args.threads,
                  verbose=getattr(args, "verbose", 0))
    if args.reg_covar is not None:
        params["reg_covar"] = args.reg_covar
    if getattr(args, "algorithm", "batch") != "batch":
        params["algorithm"] = args.algorithm
    if getattr(args, "partial", None) is not None and _offers("total_samples"):
        params["total_samples"] = float(n_rows)
    return GaussianMixture(**params)


def to_data_units(est, center, scale):
    """``est``, fitted on (X - center) / scale, turned in place into the same model of X:
    means mapped back, every covariance scaled by s_i s_j (s_i**2 for diag), the precisions'
    factors computed again from them; weights unchanged. Its labels and responsibilities on X
    are those of the fit on the standardised X (to rounding)."""
    from ..models.covariance import COVARIANCES
    from ..models.em import EMParams, precisions_cholesky

    params, kind = est._params_, est.covariance_type
    covariances = COVARIANCES[kind].in_data_units(params.covariances, scale)
    est._set_fitted(EMParams(params.weights, center + scale * params.means, covariances,
                             precisions_cholesky(covariances, kind)), est.means_.dtype)


def information(est, X):
    """(mean log-likelihood of X, BIC, AIC) of the fitted ``est``, from one pass over X (the
    estimator's own formulas)."""
    import math

    n = X.shape[0]
    score = est.score(X)
    n_parameters = est._n_parameters()
    return (score, -2.0 * score * n + n_parameters * math.log(n),
            -2.0 * score * n + 2 * n_parameters)


def summary_rows(est, X, tol=None):
    """The (key, value) rows that describe a GaussianMixture fitted to X (``tol``: how the
    tolerance is printed after 'converged')."""
    n = X.shape[0]
    score, bic, aic = information(est, X)
    return [
        ("model", f"GaussianMixture (maximum likelihood, EM), covariance_type = "
                  f"{est.covariance_type}"),
        ("components", f"K = {est.n_components}"),
        ("iterations", f"{est.n_iter_} (best of {est.n_init} run(s)); converged: "
                       f"{'yes' if est.converged_ else 'no'}" + (f" ({tol})" if tol else "")),
        ("log-likelihood", f"{score * n:.10g} ({score:.6f} per point) of the fitted model on "
                           "these data"),
        ("BIC, AIC", f"{bic:.10g}, {aic:.10g} (lower is better; {est._n_parameters()} free "
                     "parameters)"),
    ]
