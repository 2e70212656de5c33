"""The mutations of the moves that change the number of components (``fastcavi.models.moves``,
``fastcavi.models.proposals``)
for ``scripts/mutation_check.py``: (name, path, old text, new text, why), each checked against
tests/test_moves.py."""

_PATH = "fastcavi/models/moves.py"
_PROPOSALS = "fastcavi/models/proposals.py"
_COLUMNS = "fastcavi/kernels/columns.py"

MOVES_MUTATIONS = [
    (
        "moves-merge-not-recentred", _PATH,
        "    moved = recentre(one, c_k[None], c_j[None], \"full\" if matrix else \"diag\")",
        "    moved = one",
        "a merge adds k's sums, centred on k's mean, to j's, centred on j's"),
    (
        "moves-merge-entropy-unchanged", _PATH,
        "pair_h = np.array([w @ _neg_xlogx(r[:, j] + r[:, k]) for j, k in pairs])",
        "pair_h = np.array([w @ (_neg_xlogx(r[:, j]) + _neg_xlogx(r[:, k])) for j, k in pairs])",
        "a merged column keeps the sum of the two columns' entropies"),
    (
        "moves-delete-not-renormalised", _PATH,
        "        return np.where(total > 0, rest / np.where(total > 0, total, 1.0), even)",
        "        return np.where(total > 0, rest, even)",
        "a deleted component's mass vanishes instead of going to the others"),
    (
        "moves-delete-old-rows-kept", _PATH,
        "    old = column_sums(Xm, wm, rm[:, keep], cen, matrix)",
        "    old = column_sums(Xm, wm, 0.0 * rm[:, keep], cen, matrix)",
        "a delete adds the changed rows' new columns without taking their old ones out"),
    (
        "moves-delete-coarse-rows", _PATH,
        "    moved = r[:, j] > UNCHANGED",
        "    moved = r[:, j] > 1e-3",
        "a delete leaves rows unchanged where r_ij is small but not round-off"),
    (
        "moves-birth-second-child", _PATH,
        "np.hstack([rj * s[:, None], rj * (1.0 - s)[:, None]])",
        "np.hstack([rj * s[:, None], rj * s[:, None]])",
        "a birth's second child gets the first child's share"),
    (
        "moves-entropy-unweighted", _COLUMNS,
        "        hk -= wk[i] * lg if x >= _TINY else 0.0",
        "        hk -= rk[i] * lg if x >= _TINY else 0.0",
        "the columns' entropies ignore sample_weight"),
    (
        "moves-columns-unweighted", _COLUMNS,
        "        wk[i] = w[i] * rk[i]",
        "        wk[i] = rk[i]",
        "the columns' sums ignore sample_weight"),
    (
        "moves-scatter-unweighted", _COLUMNS,
        "                dw[j, i] = wk[i] * d[j, i]",
        "                dw[j, i] = d[j, i]",
        "a column's full scatter ignores its responsibilities"),
    (
        "moves-squares-uncentred", _COLUMNS,
        "                acc_q += v * (dij * dij)",
        "                acc_q += v * (xt[j, i] * xt[j, i])",
        "a column's squares are about the origin, not its centre"),
    (
        "moves-accept-without-gain", _PATH,
        "        need = -margin if kind != \"birth\" else margin",
        "        need = -np.inf",
        "a move is made whatever the bound says"),
    (
        "moves-overlapping-moves", _PATH,
        "        clash = touched & set(comps) or (kind == \"delete\" and touched) or \\",
        "        clash = False and touched & set(comps) or (kind == \"delete\" and touched) or \\",
        "two moves that touch the same component are both made"),
    (
        "moves-empty-kept", _PATH,
        "            need -= 1.001 * sums.base.n_k[comps[0]]",
        "            need -= 0.0",
        "an empty component is kept because deleting it costs its own tiny weight"),
    (
        "moves-merge-bound-sign", _PROPOSALS,
        "        if gain > -MIN_GAIN * scale_now:",
        "        if gain < -MIN_GAIN * scale_now:",
        "the merge candidates are the pairs whose merge would lower the bound"),
    (
        "moves-local-gain-entropy", _PATH,
        "+ weight_terms(st.n_k, prior) - weights_base + st.entropy - base_stats.entropy)",
        "+ weight_terms(st.n_k, prior) - weights_base)",
        "a candidate's gain from the terms it changes leaves out its change of entropy"),
    (
        "moves-local-gain-weights", _PROPOSALS,
        "    return update(sub, centres[rows])[1] - weight_terms(sub.n_k, prior)",
        "    return update(sub, centres[rows])[1]",
        "a component's own terms keep the weights' terms of its one-component model"),
    (
        "moves-stop-before-births", _PATH,
        "        if settled and not any(m.kind == \"birth\" for m in round_records):",
        "        if settled:",
        "the fit stops at the first round that makes no move, before every birth was tried"),
    (
        "moves-no-trials", _PATH,
        "                source, prior, state, bound, algorithm, tol, tried.best(TRIALS),",
        "                source, prior, state, bound, algorithm, tol, tried.best(0),",
        "a settled fit ends without giving its rejected births time to pay off"),
    (
        "moves-trial-not-made", _PATH,
        "max_components=max_components, take=True)",
        "max_components=max_components, take=False)",
        "a trial starts from the birth only when its first step gains, which it did not"),
    (
        "moves-trial-kept-but-not-used", _PATH,
        "            return born, moves",
        "            return plain, moves",
        "an accepted trial is recorded but the fit goes on without its component"),
    (
        "moves-trial-loss-taken", _PATH,
        "        gain = born[3] - plain[3]",
        "        gain = abs(born[3] - plain[3])",
        "a trial that settles lower than the fit without it is kept"),
    (
        "moves-trial-empty-child", _PATH,
        "                        and min(n_k[j], n_k[-1]) >= BIRTH_MIN_POINTS)",
        "                        and True)",
        "a trial whose child holds almost nothing is kept for a gain the bound barely shows"),
]
