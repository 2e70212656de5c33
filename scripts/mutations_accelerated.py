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
        "accelerated-past-empty-dropped", "fastcavi/inference/algorithms.py",
        "        gone = new[\"n_k\"] < 0.0  # carried past empty",
        "        gone = new[\"n_k\"] < -np.inf  # carried past empty",
        "a step that carries a component's weight below zero is dropped, not emptied"),
    (
        "accelerated-past-empty-keeps-scatter", "fastcavi/inference/algorithms.py",
        "        for f in fields if SCATTER_PER_COMPONENT[shape] else fields[:2]:",
        "        for f in fields[:2]:",
        "an emptied component keeps its extrapolated scatter"),
    (
        "accelerated-judged-per-iteration", "fastcavi/inference/algorithms.py",
        "    sweep.window = 3  # a cycle: judge convergence by the mean change over one",
        "    sweep.window = 1  # a cycle: judge convergence by the mean change over one",
        "a plain pass right after an extrapolated one can end the fit"),
]

#: The subsample start's, each checked against tests/test_subsample_start.py.
SUBSAMPLE_MUTATIONS = [
    (
        "subsample-not-scaled", "fastcavi/inference/algorithms.py",
        "            return update(scaled(stats, scale), centre)",
        "            return update(stats, centre)",
        "a level's statistics stand for its rows only: the prior prunes what all the data "
        "support"),
    (
        "subsample-level-tol-of-the-level", "fastcavi/inference/algorithms.py",
        "    tol = SUBSAMPLE_TOL * (1.0 if per_weight else source.total_weight)",
        "    tol = SUBSAMPLE_TOL * (1.0 if per_weight else 1e-3 * source.total_weight)",
        "a level stops on a tolerance a thousand times too strict"),
    (
        "subsample-levels-not-nested", "fastcavi/inference/algorithms.py",
        "        pick = np.sort(order[:size])",
        "        pick = np.sort(order[-size:])",
        "each level takes the last rows of the order: the levels are not nested"),
    (
        "subsample-level-growth-unchecked", "fastcavi/inference/algorithms.py",
        "    while size * SUBSAMPLE_GROWTH <= n_rows and size <= most:",
        "    while size <= n_rows and size <= most:",
        "a level may hold all the rows (or nearly): no pass is saved"),
    (
        "subsample-memory-unbounded", "fastcavi/inference/algorithms.py",
        "    while size * SUBSAMPLE_GROWTH <= n_rows and size <= most:",
        "    while size * SUBSAMPLE_GROWTH <= n_rows:",
        "a level's copy is not bounded by SUBSAMPLE_BYTES"),
    (
        "subsample-tol-in-total-for-em", "fastcavi/inference/algorithms.py",
        "    tol = SUBSAMPLE_TOL * (1.0 if per_weight else source.total_weight)",
        "    tol = SUBSAMPLE_TOL * source.total_weight",
        "EM's bound per unit weight is judged against a tolerance in total: its levels stop "
        "after one cycle"),
    (
        "subsample-start-skipped", "fastcavi/inference/algorithms.py",
        "            state = subsample_start(source, visit, update, shape, state, per_weight, "
        "emptying)",
        "            pass",
        "the sweep never starts on the subsamples: plain accelerated passes"),
    (
        "subsample-warm-start-runs-levels", "fastcavi/inference/algorithms.py",
        '(algorithm == "subsample_start" and (exact_first or warm)):',
        '(algorithm == "subsample_start" and exact_first):',
        "a warm start from a fit is moved to the subsample's optimum and back"),
    (
        "subsample-zero-weight-rows-drawn", "fastcavi/data/defaults.py",
        "    n_positive = source.count_positive()",
        "    n_positive = source.n_rows",
        "rows of weight 0 can be drawn"),
]
