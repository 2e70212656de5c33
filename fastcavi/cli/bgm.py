"""``--model bgm`` on the command line: BayesianGaussianMixture built from the options, and
what ``fastcavi fit`` and ``fastcavi demo`` print about it (the learned weights and variances).

NumPy and the estimator are imported inside the functions, when they are needed.
"""

from __future__ import annotations

from .args import BGM_DEFAULT_COVARIANCE
from .data import CLIError
from .plot import WEIGHT_SHOWN  # a component of a weight above this counts as in use

MAX_ROWS = 20  # components listed; the rest (the lightest) are summed up in one line
MAX_FEATURES = 4  # variances listed per feature up to this many features, else summarised

# The estimator's parameter for each --model bgm option that maps one to one.
_PLAIN = (("weight_prior", "weight_concentration_prior_type"),
          ("weight_concentration", "weight_concentration_prior"),
          ("mean_precision_prior", "mean_precision_prior"),
          ("degrees_of_freedom_prior", "degrees_of_freedom_prior"),
          ("reg_covar", "reg_covar"), ("moves", "moves"),
          ("max_components", "max_components"), ("default_prior", "default_prior"))


def covariance_type(args):
    """--covariance-type, or the command's default for --model bgm."""
    return args.covariance_type or BGM_DEFAULT_COVARIANCE


def check_supported(kind):
    """A CLIError when BayesianGaussianMixture does not fit covariance_type ``kind`` (asked
    of the estimator itself, so a type it learns to fit works here with no change)."""
    from ..estimators.bayesian_mixture import BayesianGaussianMixture

    try:
        BayesianGaussianMixture(covariance_type=kind)._check_params()
    except NotImplementedError as exc:
        raise CLIError(f"--covariance-type {kind}: {exc}") from None


def _per_feature(value, n_features, option):
    import numpy as np

    v = np.asarray(value, dtype=np.float64)
    if v.ndim == 0:
        return np.full(n_features, float(v))
    if v.shape != (n_features,):
        raise CLIError(f"{option} has {v.size} numbers, but the data have {n_features} "
                       "features (give one number, or one per feature)")
    return v


def _covariance_prior(value, n_features, kind):
    """--covariance-prior as the estimator takes it for covariance_type ``kind``: a number
    (spherical), one per feature (diag), or a p x p matrix with that diagonal (full, tied)."""
    import numpy as np

    from ..models.covariance import COVARIANCES

    covariance = COVARIANCES[kind]
    if not covariance.per_feature:
        if np.ndim(value):
            raise CLIError(f"--covariance-prior takes one number for --covariance-type {kind}")
        return float(value)
    return covariance.from_per_feature(_per_feature(value, n_features, "--covariance-prior"))


def bgm_params(args, n_features, scaled=None):
    """BayesianGaussianMixture's covariance and prior parameters given on the command line,
    as keyword arguments; the others keep the estimator's defaults. With ``scaled`` (the
    standardised data, centre, scale), the prior's mean and covariance, given in the data's
    units, are standardised too."""
    kind = covariance_type(args)
    params = {"covariance_type": kind}
    for dest, name in _PLAIN:
        if getattr(args, dest, None) is not None:
            params[name] = getattr(args, dest)
    if args.covariance_prior is not None:
        cov = _covariance_prior(args.covariance_prior, n_features, kind)
        params["covariance_prior"] = cov if scaled is None else _matrix(cov, 1 / scaled[2],
                                                                        kind)
    if getattr(args, "prior_mean", None) is not None:
        mean = _per_feature(args.prior_mean, n_features, "--prior-mean")
        params["mean_prior"] = mean if scaled is None else (mean - scaled[1]) / scaled[2]
    return params


# -- --standardize -----------------------------------------------------------------------------

STANDARDIZED_ROW = ("standardized", "yes: fitted on every feature centred and divided by its "
                                    "standard deviation; the model is saved in the data's "
                                    "units (the ELBO is that of the standardised data)")


def check_standardize(args):
    """--standardize with --model bgm or gm: not for spherical (a spherical model of
    standardised data is not spherical in the data's units) nor with --partial (one pass, no
    moments)."""
    from ..models.covariance import COVARIANCES

    if not args.standardize:
        return
    kind = covariance_type(args)
    if not COVARIANCES[kind].standardizable:
        raise CLIError(f"--standardize with --covariance-type {kind}: a {kind} model of "
                       f"standardised data is not {kind} in the data's units; use "
                       "--covariance-type diag, which learns a variance per feature")
    if args.partial is not None:
        raise CLIError(f"--standardize with --model {args.model} needs the whole data (not "
                       "--partial)")


def standardized(X):
    """(X centred and divided by its standard deviations, the centre, the scale): float64,
    or float32 for float32 X; a feature without spread is divided by 1."""
    import numpy as np

    from ..data.scale import standardize
    from .advice import feature_sd

    sd = feature_sd(X)
    if sd is None or not np.all(np.isfinite(sd)):
        raise CLIError("--standardize: the features' standard deviations overflow")
    center = np.mean(X, axis=0, dtype=np.float64)
    scale = np.where(sd > 0, sd, 1.0)
    return standardize(X, center, scale), center, scale


def _matrix(a, scale, kind):
    """Covariance(s) ``a`` of standardised data in the data's units (``scale`` the features'
    standard deviations): a * s_i * s_j, or a * s**2 for diag."""
    from ..models.covariance import COVARIANCES

    return COVARIANCES[kind].in_data_units(a, scale)


def to_data_units(est, center, scale):
    """``est``, fitted on (X - center) / scale, turned in place into the same model of X:
    means and the prior's mean mapped back, every covariance (the posterior's scale matrix
    Psi_k, the prior's) scaled by s_i s_j; weights, precisions of the means and degrees of
    freedom unchanged. Its predictions on X are those of the fit on the standardised X."""
    kind = est.covariance_type
    psi = _matrix(est._params_.psi, scale, kind)
    est.means_ = center + scale * est.means_
    est.mean_prior_ = center + scale * est.mean_prior_
    est.covariance_prior_ = _matrix(est.covariance_prior_, scale, kind)
    est.covariances_ = _matrix(est.covariances_, scale, kind)
    est._restore_fitted(psi)


# -- what is printed ---------------------------------------------------------------------------

def variances(est):
    """Every component's variance per feature, (K, p): the diagonal of a full or tied
    covariance, (K, 1) for spherical."""
    from ..models.covariance import COVARIANCES

    return COVARIANCES[est.covariance_type].variances(est.covariances_, len(est.weights_))


def values(v):
    """A short text of a few numbers: each of them, or their mean and range when there are
    more than MAX_FEATURES."""
    import numpy as np

    v = np.ravel(np.asarray(v, dtype=np.float64))
    if v.size <= MAX_FEATURES:
        return ", ".join(f"{x:.3g}" for x in v)
    return f"{v.mean():.3g} ({v.min():.3g} to {v.max():.3g})"


def variance_heading(est, names):
    """What the variance column holds, in words."""
    from ..models.covariance import COVARIANCES

    covariance, p = COVARIANCES[est.covariance_type], est.n_features_in_
    which = covariance.variance_words
    if not covariance.per_feature:
        return which
    if p <= MAX_FEATURES:
        return f"{which} per feature: {', '.join(names)}"
    return f"{which}: the mean over the {p} features (smallest to largest)"


def moves_text(est):
    """With moves: where the fit started and what was made, for the components row."""
    moves = getattr(est, "moves_", None)
    if moves is None:
        return ""
    made = {}
    for m in moves:
        if m.accepted:
            made[m.kind] = made.get(m.kind, 0) + 1
    what = ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in made.items()) or "none"
    return (f" (started at {est.n_components}; moves made: {what}, of {len(moves)} "
            "proposed)")


def effective(est):
    """The number of components whose weight is above WEIGHT_SHOWN."""
    import numpy as np

    return int(np.sum(np.asarray(est.weights_) > WEIGHT_SHOWN))


def prior_text(est):
    """The prior used, in one line (a full or tied covariance prior by its diagonal)."""
    import numpy as np

    cov = est.covariance_prior_
    cov = np.diag(cov) if np.ndim(cov) == 2 else cov
    return (f"weight concentration {est.weight_concentration_prior_:.3g}, mean precision "
            f"{est.mean_precision_prior_:.3g}, degrees of freedom "
            f"{est.degrees_of_freedom_prior_:.3g}, covariance {values(cov)}, mean "
            f"{values(est.mean_prior_)}")


def component_lines(est, names):
    """The components by decreasing weight (at most MAX_ROWS): index, weight, variances."""
    import numpy as np

    w = np.asarray(est.weights_)
    var = variances(est)
    order = np.argsort(-w, kind="stable")
    lines = [f"components by weight ({variance_heading(est, names)}):",
             f"  {'component':>9}  {'weight':>7}  variance"]
    for k in order[:MAX_ROWS]:
        lines.append(f"  {k:>9}  {w[k]:>7.4f}  {values(var[k])}")
    rest = order[MAX_ROWS:]
    if len(rest):
        lines.append(f"  ... and {len(rest)} more, each of weight {w[rest].max():.2g} or "
                     f"less ({w[rest].sum():.2g} together)")
    return lines


def summary_rows(est, n_points, tol=None):
    """The (key, value) rows that describe a fitted BayesianGaussianMixture (``tol``: how
    the tolerance is printed after 'converged')."""
    kind = est.covariance_type
    return [
        ("model", f"BayesianGaussianMixture, covariance_type = {kind}, "
                  f"{est.weight_concentration_prior_type} weight prior"),
        ("prior", prior_text(est)),
        ("components", f"K = {est.n_components_}, {effective(est)} with weight > "
                       f"{WEIGHT_SHOWN:.0%}" + moves_text(est)),
        ("iterations", f"{est.n_iter_} (best of {est.n_init} run(s)); converged: "
                       f"{'yes' if est.converged_ else 'no'}" + (f" ({tol})" if tol else "")),
        ("final ELBO", f"{est.lower_bound_:.10g} ({est.lower_bound_ / n_points:.6f} per "
                       "point)"),
    ]
