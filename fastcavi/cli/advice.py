"""What ``fastcavi fit`` says about raw data before it fits them: features on scales so
different that the largest decide the clusters alone, and integer columns that look like
years or identifiers rather than measurements. Advice only: printed as warnings, the fit goes
on.

The threshold (docs/cli.md argues it with real data): both models start from k-means, and
``--model cavi`` gives every feature one variance, so a feature's weight in the distances
goes with its variance. At a ratio of 10 between the largest and the smallest standard
deviation, the smallest feature counts 100 times less than the largest: it barely moves the
clusters. iris (4.05) fits best raw; penguins (406 for its measurements, 980 with its year
column) and wine (2530) fit far better standardised.
"""

from __future__ import annotations

SCALE_WARN_RATIO = 10.0  # warn when feature standard deviations differ by more than this
YEARS = (1900, 2100)  # integers all in this range, few of them: a year column
YEAR_MAX_DISTINCT = 50


def feature_sd(X):
    """The features' standard deviations (float64, (p,)), or None when they overflow (such
    data are refused by the fit itself, with a clear error)."""
    import numpy as np

    from .._validation import as_kernel_array
    from ..data.scale import mean_sd
    from ..data.sources import ArraySource

    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return mean_sd(ArraySource(as_kernel_array(X)))[1]
    except ValueError:
        return None


def scale_advice(X, names, path, hint):
    """A sentence when the features' standard deviations differ by more than
    SCALE_WARN_RATIO (``hint`` says what to do about it), else None."""
    import numpy as np

    sd = feature_sd(X)
    if sd is None:
        return None
    positive = [(s, name) for s, name in zip(sd, names) if 0 < s < np.inf]
    if len(positive) < 2:
        return None
    (lo, lo_name), (hi, hi_name) = min(positive), max(positive)
    if hi <= SCALE_WARN_RATIO * lo:
        return None
    return (f"{path}: the features' scales differ by a factor of {hi / lo:.3g} (standard "
            f"deviation {hi:.3g} for {hi_name!r}, {lo:.3g} for {lo_name!r}): the largest "
            f"decide the clusters alone; {hint}")


_SAMPLE = 1000  # rows looked at first, so that large data are read only for a likely column


def _whole(col):
    """Whether every value is a whole number (every float beyond 2**53 is one: not counted)."""
    import numpy as np

    return bool(np.all(np.abs(col) < 2.0 ** 53) and np.array_equal(col, np.round(col)))


def _may_be_code(col):
    """Whether the first rows of a column could be a year or an identifier column's."""
    import numpy as np

    if not _whole(col):
        return False
    years = YEARS[0] <= col.min() and col.max() <= YEARS[1]
    return years or len(np.unique(col)) == len(col)


def integer_column_advice(X, names, path):
    """A sentence naming the columns of whole numbers that look like years (all between 1900
    and 2100, at most 50 different ones) or identifiers (a different number in every row,
    counting up in file order, or a shuffled 0..N-1 or 1..N), else None."""
    import numpy as np

    n = X.shape[0]
    found = []
    for j, name in enumerate(names):
        if n < 3 or not _may_be_code(np.asarray(X[:_SAMPLE, j], dtype=np.float64)):
            continue  # the first rows rule it out: the whole column is not read
        col = np.asarray(X[:, j], dtype=np.float64)
        if not _whole(col):
            continue
        lo, hi = col.min(), col.max()
        distinct = np.unique(col)
        if YEARS[0] <= lo and hi <= YEARS[1] and len(distinct) <= YEAR_MAX_DISTINCT:
            found.append(f"{name!r} (whole numbers from {lo:.0f} to {hi:.0f}: a year?)")
        elif len(distinct) == n and (np.all(np.diff(col) > 0) or hi - lo + 1 == n):
            found.append(f"{name!r} (a different whole number in every row: a row index or an "
                         "identifier?)")
    if not found:
        return None
    return (f"{path}: {'; '.join(found)} used as "
            f"{'features' if len(found) > 1 else 'a feature'}; leave "
            f"{'them' if len(found) > 1 else 'it'} out with --columns if "
            f"{'they do' if len(found) > 1 else 'it does'} not measure the points")


def many_components_advice(k, n):
    """A sentence when K is more than the square root of N (a mistyped -k: fewer than that
    many points per cluster on average, and a start that alone takes long on large data),
    else None."""
    if k * k <= n:
        return None
    return (f"-k {k:,} for {n:,} points: about {n / k:.3g} points per cluster on average "
            f"(K above the square root of N); the k-means start alone takes long on large "
            "data (did you mean a smaller -k?)")


def warn_now(text, prog="fastcavi"):
    """Print advice (a sentence, or None for nothing) at once as one warning line on stderr,
    before a fit that may take long rather than with the summary after it."""
    import sys

    if text is not None:
        sys.stdout.flush()
        print(f"{prog}: warning: {' '.join(str(text).split())}", file=sys.stderr)
        sys.stderr.flush()
