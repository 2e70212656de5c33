"""The mutations of the tied BLAS path (``fastcavi.kernels.tied._gram_sweep_statistics_tied``
and the rule that sends a pass there) for ``scripts/mutation_check.py``: (name, path, old
text, new text, why), each checked against tests/test_bgm_full.py."""

_KERNEL = "fastcavi/kernels/tied.py"
_FIT = "fastcavi/models/family_full_fit.py"

TIED_BLAS_MUTATIONS = [
    (
        "tied-gram-cross-term", _KERNEL,
        "e[b] = (2.0 * float(e[b]) - sq_w - off) - top64[b]",
        "e[b] = (float(e[b]) - sq_w - off) - top64[b]",
        "the logits' cross term 2 z . wm_k without its factor 2"),
    (
        "tied-gram-constant-dropped", _KERNEL,
        "e[b] = (2.0 * float(e[b]) - sq_w - off) - top64[b]",
        "e[b] = (2.0 * float(e[b]) - off) - top64[b]",
        "the logits lose |wm_k|^2, a constant per component"),
    (
        "tied-gram-products-diagonal-dropped", _KERNEL,
        "            for i in range(j, n_features):  # A lower triangular",
        "            for i in range(j + 1, n_features):  # A lower triangular",
        "V_k = A^T wm_k without A's diagonal"),
    (
        "tied-gram-scatter-half-cross-term", _KERNEL,
        "acc += n_k[k] * mi * mj - (s_c[k, i] * mj + mi * s_c[k, j])",
        "acc += n_k[k] * mi * mj - 2.0 * s_c[k, i] * mj",
        "the expanded scatter's cross terms taken as twice one of them (not symmetric)"),
    (
        "tied-gram-scatter-unweighted", _KERNEL,
        "                    part_t[c] += np.dot(wb.T, xb)\n",
        "                    part_t[c] += np.dot(xb.T, xb)\n",
        "float64: the rows' scatter T without the points' weights"),
    (
        "tied-gram-not-symmetrised", _KERNEL,
        "    core.symmetrise(r)  # from the lower triangle",
        "    pass  # from the lower triangle",
        "R's upper triangle left as the rows' scatter, without the corrections"),
    (
        "tied-gram-residual-unweighted", _KERNEL,
        "wb[b, j] = y * wt[b]",
        "wb[b, j] = y",
        "float32: sum y y^T without the points' weights"),
    (
        "tied-gram-residual-is-the-row", _KERNEL,
        "y = xb[b, j] - yb[b, j]",
        "y = xb[b, j]",
        "float32: the residual y without sum_k phi_k mc_k"),
    (
        "tied-gram-co-unweighted", _KERNEL,
        "part_co[c] += np.dot(wphi, expo.T)",
        "part_co[c] += np.dot(expo, expo.T)",
        "float32: the co-responsibilities without the points' weights"),
    (
        "tied-gram-last-block-skipped", _KERNEL,
        "        for t0 in range(c * chunk, stop, size):\n"
        "            n = min(size, stop - t0)\n"
        "            xb = rows[:n]",
        "        for t0 in range(c * chunk, max(c * chunk + 1, stop - size), size):\n"
        "            n = min(size, stop - t0)\n"
        "            xb = rows[:n]",
        "the last BLAS block of every chunk is skipped"),
    (
        "tied-pair-scatter-one-sided", _FIT,
        "    m = m + m.T\n",
        "",
        "the pairs' scatter from the Laplacian of M's upper triangle alone (not symmetric)"),
    (
        "tied-pair-scatter-whole-co", _FIT,
        "    m = np.triu(co, 1)\n",
        "    m = co.copy()\n",
        "float32: every pair counted twice (the BLAS path returns M_kl for every k, l)"),
    (
        "tied-float32-scatter-expanded", _FIT,
        "    residuals = not blas or X.dtype == np.float32",
        "    residuals = not blas",
        "float32 expands the pooled scatter as float64 does (2.6e-5 of Psi's scale off on "
        "clusters 30 widths apart)"),
    (
        "tied-blas-rule-features-only", _FIT,
        "            or n_components >= TIED_BLAS_MIN_COMPONENTS[name])",
        "            or False)",
        "passes with many components and few features keep the direct kernel (1.1-2.4x "
        "slower there)"),
]
