"""The mutations of the accelerated passes (SQUAREM, ``fastcavi.inference.algorithms``) for
``scripts/mutation_check.py``: (name, path, old text, new text, why), each checked against
tests/test_accelerated.py."""

ACCELERATED_MUTATIONS = [
    (
        "accelerated-keeps-a-falling-step", "fastcavi/inference/algorithms.py",
        "                if math.isfinite(done[2]) and done[2] >= last:",
        "                if math.isfinite(done[2]):",
        "an extrapolated step is kept even when the bound after it falls"),
    (
        "accelerated-step-sign", "fastcavi/inference/algorithms.py",
        "    a = -min(max(rn / vn, 1.0), limit)",
        "    a = min(max(rn / vn, 1.0), limit)",
        "SQUAREM's step length has the wrong sign (it steps back along the path)"),
    (
        "accelerated-not-recentred", "fastcavi/inference/algorithms.py",
        "    s0, s1, s2 = (recentre(s, c, centre, shape) for s, c in history)",
        "    s0, s1, s2 = (s for s, c in history)",
        "statistics centred on different means are combined as they are"),
    (
        "accelerated-step-bound-never-grows", "fastcavi/inference/algorithms.py",
        "                        limit = min(limit * MAX_STEP_GROWTH, MAX_STEP)",
        "                        limit = min(limit, MAX_STEP)",
        "the longest step stays at one: every extrapolation is a plain pass"),
    (
        "accelerated-impossible-steps-taken", "fastcavi/inference/algorithms.py",
        "        if step is None or _impossible(*step[:2], shape):",
        "        if step is None:",
        "a step to a negative weight or variance is proposed (and clipped by the update)"),
    (
        "accelerated-judged-per-iteration", "fastcavi/inference/algorithms.py",
        "    sweep.window = 3  # a cycle: judge convergence by the mean change over one",
        "    sweep.window = 1  # a cycle: judge convergence by the mean change over one",
        "a plain pass right after an extrapolated one can end the fit"),
]
