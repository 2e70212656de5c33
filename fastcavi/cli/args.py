"""The ``fastcavi`` command's option types and the options that choose and configure a model
(``--model cavi``, ``--model bgm`` or ``--model gm``), shared by ``fit`` and ``demo``.

NumPy is imported inside the functions, scikit-learn and Numba not at all: ``fastcavi --help``
builds its parser from this module.
"""

from __future__ import annotations

import argparse
import math

from ..models.names import COVARIANCE_TYPES, PRIOR_DEFAULTS, WEIGHT_PRIORS
from .data import CLIError, parse_columns

# The models of the command line: name -> the estimator it fits.
MODELS = ("cavi", "bgm", "gm")
MODEL_HELP = ("the model: 'cavi' (default) is GaussianMixtureCAVI: equal weights and one "
              "spherical variance shared by every cluster, known or estimated once (few "
              "parameters, the fastest); 'bgm' is BayesianGaussianMixture, scikit-learn's "
              "variational mixture: the weights and a covariance per cluster are learned, "
              "and a Dirichlet process prior can switch off components that are not needed; "
              "'gm' is GaussianMixture, scikit-learn's maximum-likelihood mixture (EM): "
              "weights and a covariance per cluster, no prior")

# The default --covariance-type of --model bgm and --model gm: scikit-learn's.
BGM_DEFAULT_COVARIANCE = "full"

# The starts each model knows (its estimator's init_params), and the other model's spelling of
# the same start.
INIT_PARAMS = {"cavi": ("kmeans++", "random_from_data", "random"),
               "bgm": ("kmeans", "k-means++", "random", "random_from_data"),
               "gm": ("kmeans", "k-means++", "random", "random_from_data")}
DEFAULT_INIT = {"cavi": "kmeans++", "bgm": "kmeans", "gm": "kmeans"}
_SAME_START = {"k-means++": "kmeans++", "kmeans++": "k-means++"}

# --tol of `fastcavi fit` and `fastcavi demo`: the bound's change per point, for every model.
# BayesianGaussianMixture's tol is a change of the total (scikit-learn's, 1e-3 by default,
# which the Python class keeps): the command line gives it --tol x N, so that large data
# converge as small data do. bgm's default: 1e-5 converges on 2 million points in 27
# iterations, where 1e-4 stopped penguins (342 rows) on a plateau (ARI 0.57, not 0.95).
# GaussianMixture's tol is already the change of the mean log-likelihood per point
# (scikit-learn's): the command line passes it as it is, with scikit-learn's default.
DEFAULT_TOL = {"cavi": 1e-4, "bgm": 1e-5, "gm": 1e-3}


def estimator_tol(model, tol, n_points):
    """The estimator's tol for the command line's per-point ``tol`` (None: the default)."""
    tol = DEFAULT_TOL[model] if tol is None else tol
    return tol * n_points if model == "bgm" else tol


def tol_text(model, tol, n_points):
    """How the command prints the tolerance in use."""
    tol = DEFAULT_TOL[model] if tol is None else tol
    if model == "bgm":
        return f"tol = {tol:g} per point, {tol * n_points:g} in total"
    if model == "gm":
        return f"tol = {tol:g} per point, of the mean log-likelihood"
    return f"tol = {tol:g} per point"


TOL_HELP = ("convergence: the change between two {unit}s, per point, for every model, of the "
            "ELBO (cavi, bgm) or of the mean log-likelihood (gm) "
            f"(default: {DEFAULT_TOL['cavi']:g} for cavi, {DEFAULT_TOL['bgm']:g} for bgm, "
            f"{DEFAULT_TOL['gm']:g} for gm, scikit-learn's); "
            "for bgm the estimator's tol, a change of the total as in scikit-learn, is this "
            "times the number of points; for gm it is the estimator's tol as it is (scikit-"
            "learn's GaussianMixture measures the mean per point)")

# Options that belong to some models: dest -> (option, the models that take it). Given with
# another model they are an error (exit status 2), with the hint below when there is one.
MODEL_OPTIONS = {
    "prior_var": ("--prior-var", ("cavi",)),
    "likelihood_var": ("--likelihood-var", ("cavi",)),
    "means_init": ("--means-init", ("cavi",)),
    "mean_vars_init": ("--mean-vars-init", ("cavi",)),
    "prior_mean": ("--prior-mean", ("cavi", "bgm")),
    "covariance_type": ("--covariance-type", ("bgm", "gm")),
    "weight_prior": ("--weight-prior", ("bgm",)),
    "weight_concentration": ("--weight-concentration", ("bgm",)),
    "mean_precision_prior": ("--mean-precision-prior", ("bgm",)),
    "degrees_of_freedom_prior": ("--degrees-of-freedom-prior", ("bgm",)),
    "covariance_prior": ("--covariance-prior", ("bgm",)),
    "reg_covar": ("--reg-covar", ("bgm", "gm")),
    "moves": ("--moves", ("bgm",)),
    "max_components": ("--max-components", ("bgm",)),
    "default_prior": ("--default-prior", ("bgm",)),
}
_HINTS = {
    "likelihood_var": ": --model bgm and --model gm learn each cluster's variance",
    "prior_var": ": for --model bgm see --mean-precision-prior and --covariance-prior",
}
_GM_HINT = ": --model gm (maximum likelihood) has no prior; --model bgm has one"
_PRIORS = ("prior_var", "prior_mean", "weight_prior", "weight_concentration",
           "mean_precision_prior", "degrees_of_freedom_prior", "covariance_prior",
           "default_prior")


# -- option types ------------------------------------------------------------------------------

def _whole(text):
    """An integer from its text; also 1e6 and 1_000_000 (a float that is a whole number)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        f = float(text)
    except ValueError:
        f = math.nan
    if not (math.isfinite(f) and f == int(f)):
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    return int(f)


def _checked(value, ok, need, text):
    """``value`` when ``ok``; else the parser's error saying what it must be."""
    if not ok:
        raise argparse.ArgumentTypeError(f"must be {need}, got {text!r}")
    return value


def count(text):
    """A positive integer; also accepts 1e6 and 1_000_000."""
    value = _whole(text)
    return _checked(value, value >= 1, "at least 1", text)


def threads(text):
    """-1 (every core) or a positive integer."""
    value = _whole(text)
    return _checked(value, value == -1 or value >= 1, "-1 (all) or at least 1", text)


def real(text):
    """A finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    return _checked(value, math.isfinite(value), "finite", text)


def positive(text):
    value = real(text)
    return _checked(value, value > 0, "positive", text)


def non_negative(text):
    value = real(text)
    return _checked(value, value >= 0, ">= 0", text)


def columns(text):
    try:
        return parse_columns(text)
    except CLIError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def vector(text):
    """A scalar, or a comma-separated vector of finite numbers."""
    import numpy as np

    values = [real(p.strip()) for p in text.split(",")]
    return values[0] if len(values) == 1 else np.array(values)


def positive_vector(text):
    """A positive number, or a comma-separated vector of them."""
    import numpy as np

    values = [positive(p.strip()) for p in text.split(",")]
    return values[0] if len(values) == 1 else np.array(values)


# -- the model options -------------------------------------------------------------------------

def add_model_option(parser):
    parser.add_argument("--model", choices=MODELS, default="cavi", help=MODEL_HELP)


def add_init_option(parser, what="runs start"):
    parser.add_argument(
        "--init-params", metavar="{kmeans,k-means++,random,random_from_data}",
        help=f"how {what}: cavi takes kmeans++ (default), random_from_data or random; bgm "
             "and gm take kmeans (default, scikit-learn's KMeans), k-means++, random or "
             "random_from_data (kmeans++ and k-means++ name the same start)")


def add_run_options(parser, n_init, tol_note=""):
    """--init-params, --n-init (default ``n_init``), --max-iter and --tol: how the runs of a
    fit start and stop."""
    add_init_option(parser)
    parser.add_argument("--n-init", type=count, default=n_init, metavar="N",
                        help=f"restarts; the best ELBO is kept (default: {n_init})")
    parser.add_argument("--max-iter", type=count, default=100, metavar="N",
                        help="most sweeps (iterations) per run (default: 100)")
    parser.add_argument("--tol", type=non_negative, default=None,
                        help=TOL_HELP.format(unit="sweep") + tol_note)


def add_threads_option(parser):
    parser.add_argument("--threads", type=threads, default=None, metavar="N",
                        help="Numba threads (default: all; more than the cores available are "
                             "clamped, with a warning)")


def add_bgm_options(parser):
    """The options of BayesianGaussianMixture's prior and covariances (--model bgm)."""
    full = BGM_DEFAULT_COVARIANCE == "full"
    group = parser.add_argument_group(
        "options of --model bgm", "BayesianGaussianMixture's parameters (scikit-learn's); "
        "each defaults to the estimator's default, computed from the data where it says so; "
        "--covariance-type and --reg-covar are GaussianMixture's too (--model gm)")
    group.add_argument(
        "--covariance-type", choices=COVARIANCE_TYPES,
        help="each cluster's covariance: full, tied (one full matrix shared), diag (a variance "
             f"per feature) or spherical (one variance) (default: {BGM_DEFAULT_COVARIANCE}"
             + ("" if full else "; scikit-learn's default, full, is not implemented in "
                                "fastcavi yet") + ")")
    group.add_argument(
        "--weight-prior", choices=WEIGHT_PRIORS,
        help="the prior of the weights (weight_concentration_prior_type): a Dirichlet process "
             "(stick-breaking, default), which leaves unneeded components with weight near 0, "
             "or a Dirichlet distribution")
    group.add_argument("--weight-concentration", type=positive, metavar="G0",
                       help="weight_concentration_prior (default: 1/K); smaller values favour "
                            "fewer components")
    group.add_argument("--mean-precision-prior", type=positive, metavar="B0",
                       help="mean_precision_prior, the precision of the means' prior, relative "
                            "to the clusters' (default: 1)")
    group.add_argument("--degrees-of-freedom-prior", type=real, metavar="N0",
                       help="degrees_of_freedom_prior, more than p - 1 (default: p, the "
                            "number of features)")
    group.add_argument("--covariance-prior", type=positive_vector, metavar="PSI0",
                       help="covariance_prior: a number, or p comma-separated numbers, one per "
                            "feature (for full and tied, the diagonal of the prior matrix) "
                            "(default: the data's variance per feature; its average for "
                            "spherical)")
    group.add_argument("--reg-covar", type=non_negative, metavar="EPS",
                       help="reg_covar, added to every variance (default: 1e-6)")
    group.add_argument("--moves", nargs="?", const="all", type=moves_list, metavar="MOVES",
                       help="let the fit find the number of clusters: merge two components, "
                            "delete one or split one (birth), each made only when the exact "
                            "ELBO rises; -k is then where it starts (even -k 1). MOVES: a "
                            "comma-separated subset of merge,delete,birth (default: all three)")
    group.add_argument("--max-components", type=count, metavar="K",
                       help="with --moves, the most components the fit may reach (default: "
                            "the larger of 2 x K and 20)")
    group.add_argument("--default-prior", choices=PRIOR_DEFAULTS,
                       help=DEFAULT_PRIOR_HELP + " (default: scikit-learn)")
    return group


DEFAULT_PRIOR_HELP = (
    "where the prior options not given take their values: scikit-learn's defaults, or R's "
    "mclust's, which scale the covariance prior to one of K clusters (with --moves, "
    "--max-components) and widen the means' prior tenfold; mclust's finds the number of clusters "
    "better when there are many in few dimensions")


def moves_list(text):
    """--moves: 'all' or a comma-separated subset of merge, delete, birth."""
    names = [t.strip() for t in text.split(",")]
    known = ("merge", "delete", "birth")
    if text == "all":
        return "all"
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown move {bad[0] if bad else text!r}: choose "
                                         "from merge, delete, birth (comma-separated)")
    return ",".join(names)


def check_model_options(args, shared=()):
    """Refuse the options of the other model (CLIError naming the option and its model) and
    resolve --init-params for args.model (either spelling of k-means++). ``shared``: dests of
    MODEL_OPTIONS that this command takes for both models."""
    model = args.model
    for dest, (flag, owners) in MODEL_OPTIONS.items():
        if model in owners or dest in shared:
            continue
        value = getattr(args, dest, None)
        if value is not None and value is not False:
            hint = _GM_HINT if model == "gm" and dest in _PRIORS else _HINTS.get(dest, "")
            raise CLIError(f"{flag} is an option of "
                           f"{' and '.join(f'--model {m}' for m in owners)}, not of --model "
                           f"{model}{hint}")
    choices = INIT_PARAMS[model]
    init = getattr(args, "init_params", None)
    if init is None:
        args.init_params = DEFAULT_INIT[model]
    elif init not in choices:
        if _SAME_START.get(init) in choices:
            args.init_params = _SAME_START[init]
        else:
            others = [m for m in MODELS if init in INIT_PARAMS[m]]
            where = f" (it is a start of --model {others[0]})" if others else ""
            raise CLIError(f"--init-params {init!r} is not a start of --model {model}{where}: "
                           f"choose from {', '.join(choices)}")


def add_data_options(parser):
    """The options that say how to read the data file: --columns, --key, --skip-header,
    --drop-incomplete."""
    parser.add_argument("--columns", type=columns, metavar="A,B,C",
                        help="the columns to use: header names or 0-based numbers, "
                             "comma-separated (default: every numeric column; a first column "
                             "without a name, a row index, is left out)")
    parser.add_argument("--key", metavar="NAME",
                        help="the array to read from an .npz (default: its first array)")
    parser.add_argument("--skip-header", type=int, metavar="N", default=None,
                        help="lines to skip at the top of a text file (default: a header line "
                             "is found by itself)")
    parser.add_argument("--drop-incomplete", action="store_true",
                        help="skip the rows with a missing value (an empty field, NA, NaN) in "
                             "the columns used, and say how many (default: an error); "
                             "--labels, --proba and predict's output keep one row per row of "
                             "the file, empty where a row was skipped")
