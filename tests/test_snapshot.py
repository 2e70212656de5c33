"""Behaviour pinned while the code moves: every configuration of ``tests/snapshot.py`` gives
the fitted arrays it gave when the snapshot was recorded, to 1e-12 (relative to each array's
scale; the prior mean of a standardised fit, 0 up to rounding, relative to the data's).

One exception, measured: the float32 kernels give bounds, responsibilities and scores that
differ by about 2e-8 (relative) between a kernel compiled in the running process and the same
kernel loaded from Numba's cache (the fitted parameters agree to 1e-12), so those three are
compared to 1e-6 for float32 fits."""

import json

import numpy as np
import pytest
import sklearn

from .snapshot import PATH, configurations, fit, results, uses_scikit_learns_start

SNAPSHOT = np.load(PATH)
META = json.loads(str(SNAPSHOT["meta"]))
CONFIGS = configurations()
FLOAT32_ROUNDING = ("lower_bounds_", "predict_proba", "score_samples")
# The prior mean of a standardised fit (the mean of standardised data) is 0 but for rounding
# (1e-16 to 1e-14 per feature, which moves with the order of the sums): its own scale is that
# rounding, so it is compared on the standardised data's scale, 1.
ZERO_AFTER_STANDARDIZING = ("prior_mean_",)


def test_the_snapshot_covers_every_configuration():
    recorded = {key.split("/")[0] for key in SNAPSHOT.files if key != "meta"}
    assert recorded == set(CONFIGS)


# every 16th configuration in the quick tests (pytest -m "not slow"), all of them in the full run
@pytest.mark.parametrize("name", [
    pytest.param(name, marks=() if i % 16 == 0 else pytest.mark.slow)
    for i, name in enumerate(sorted(CONFIGS))])
def test_fit_matches_the_snapshot(name):
    kind, opts, how = CONFIGS[name]
    if uses_scikit_learns_start(opts) and sklearn.__version__ != META["scikit-learn"]:
        pytest.skip(f"the start runs scikit-learn's KMeans: recorded with scikit-learn "
                    f"{META['scikit-learn']}, this is {sklearn.__version__}")
    for attr, got in results(fit(kind, opts, how)).items():
        want = SNAPSHOT[f"{name}/{attr}"]
        scale = np.max(np.abs(want)) if want.size else 0.0
        if how == "standardize" and attr in ZERO_AFTER_STANDARDIZING:
            scale = 1.0  # 0 up to rounding: compared on the standardised data's scale
        rtol = 1e-6 if how == "float32" and attr in FLOAT32_ROUNDING else 1e-12
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale,
                                   err_msg=f"{name}: {attr}")
