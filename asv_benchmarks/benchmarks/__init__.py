"""asv benchmarks of fastcavi (see ../asv.conf.json).

``FASTCAVI_ASV_SMOKE=1`` (what CI sets) cuts every data set to at most 20,000 rows: CI checks
that each benchmark runs, not what it measures, and the full sizes would take minutes."""

import os

SMOKE = os.environ.get("FASTCAVI_ASV_SMOKE") == "1"
SMOKE_ROWS = 20_000


def rows(n_samples):
    """``n_samples``, or at most SMOKE_ROWS in a smoke run."""
    return min(n_samples, SMOKE_ROWS) if SMOKE else n_samples
