"""The mutations of maximum-likelihood EM (``fastcavi.models.em``,
``fastcavi.estimators.gaussian_mixture``) for ``scripts/mutation_check.py``: (name, path, old
text, new text, why), each checked against the GaussianMixture tests (``GM_TESTS`` there);
those of incremental EM and partial_fit against their own tests (``GM_STREAM_TESTS``)."""

GM_MUTATIONS = [
    (
        "em-full-factor-not-halved", "fastcavi/models/em_types.py",
        "return np.ascontiguousarray(np.swapaxes(pc, 1, 2)) / _SQRT2",
        "return np.ascontiguousarray(np.swapaxes(pc, 1, 2))",
        "the full logits use u^T P u instead of u^T P u / 2"),
    (
        "em-diag-half-precision", "fastcavi/models/em_types.py",
        "        return 0.5 * pc ** 2",
        "        return pc ** 2",
        "the diag and spherical logits use the precision, not half of it"),
    (
        "em-offset-log-det-sign", "fastcavi/models/em.py",
        "offsets = -(log_w + log_det_cholesky(pc, covariance_type, p))",
        "offsets = -(log_w - log_det_cholesky(pc, covariance_type, p))",
        "the E-step's offsets subtract log|U_k| instead of adding it"),
    (
        "em-bound-without-entropy", "fastcavi/models/em.py",
        "loglik = (stats.entropy - float(",
        "loglik = (0.0 - float(",
        "the log-likelihood leaves out the responsibilities' entropy"),
    (
        "em-bound-without-2pi", "fastcavi/models/em.py",
        "              - stats.total_weight * 0.5 * p * _LOG_2PI)",
        "              - 0.0)",
        "the log-likelihood leaves out -(p/2) log(2 pi) per point"),
    (
        "em-bound-quad-unrounded-sign", "fastcavi/models/em_types.py",
        "        return float(np.einsum(\"kji,kjl,kil->\", a, a, scatter))",
        "        return -float(np.einsum(\"kji,kjl,kil->\", a, a, scatter))",
        "the full log-likelihood adds the expected squared distances"),
    (
        "em-scatter-about-the-old-means", "fastcavi/models/em.py",
        "    return recentre(stats, centre, means, COVARIANCES[covariance_type].stats_shape).r_k",
        "    return stats.r_k",
        "the M-step's scatter is taken about the visit's means, not the new ones"),
    (
        "em-tied-divisor", "fastcavi/models/em_types.py",
        "        return scatter / np.sum(nk) + reg_covar * np.eye(p)",
        "        return scatter / np.max(nk) + reg_covar * np.eye(p)",
        "the tied covariance divides by the largest count, not the total"),
    (
        "em-spherical-not-averaged", "fastcavi/models/em_types.py",
        "        return scatter / (nk * p) + reg_covar",
        "        return scatter / nk + reg_covar",
        "the spherical variance sums the features' variances instead of averaging"),
    (
        "em-weights-unnormalised", "fastcavi/models/em.py",
        "    return EMParams(nk / np.sum(nk), means, cov,",
        "    return EMParams(nk / len(nk), means, cov,",
        "the weights are N_k / K, not N_k / N"),
    (
        "em-reg-covar-dropped", "fastcavi/models/em_types.py",
        "        return scatter / nk[:, None, None] + reg_covar * np.eye(p)",
        "        return scatter / nk[:, None, None]",
        "reg_covar is not added to the full covariances"),
    (
        "gm-warm-start-forgets-its-bound", "fastcavi/estimators/gaussian_mixture.py",
        "previous=None if do_init else self.lower_bound_)",
        "previous=None)",
        "a warm start measures its first change from nothing, not from the stored bound"),
    (
        "gm-tied-one-point-start-centred", "fastcavi/estimators/gaussian_mixture.py",
        "            quirk = (COVARIANCES[ctype].shared and resp is None",
        "            quirk = (False and resp is None",
        "the tied start from one point per component is not scikit-learn's"),
    (
        "gm-precisions-init-factor-unflipped", "fastcavi/models/em_types.py",
        "    return np.linalg.cholesky(prec[::-1, ::-1])[::-1, ::-1]",
        "    return np.linalg.cholesky(prec).T",
        "precisions_init's factor is the transposed Cholesky factor (U^T U, not U U^T)"),
    (
        "gm-proba-not-normalised", "fastcavi/models/em.py",
        "            out[rows] = e / z[:, None] if kind == \"proba\" else top[:, 0] + np.log(z)",
        "            out[rows] = e if kind == \"proba\" else top[:, 0] + np.log(z)",
        "predict_proba returns exp(l - max l), not normalised"),
]

GM_MUTATIONS += [
    (
        "em-spherical-log-det-once", "fastcavi/models/em_types.py",
        "        return p * np.log(pc)",
        "        return np.log(pc)",
        "spherical log|U_k| counts the variance once, not once per feature"),
    (
        "em-tied-distance-transposed", "fastcavi/models/em_types.py",
        "        return np.sum((diff @ pc) ** 2, axis=2)",
        "        return np.sum((diff @ pc.T) ** 2, axis=2)",
        "tied predictions measure with U^T, not U"),
    (
        "em-tied-start-not-pooled", "fastcavi/models/em_types.py",
        "        return r_k.sum(axis=0)  # the components' matrix scatters pooled",
        "        return r_k[0]  # the components' matrix scatters pooled",
        "the tied start takes the first component's scatter, not the pooled one"),
]

# Incremental EM (its free energy, its block function, the reference) and online EM.
GM_STREAM_MUTATIONS = [
    (
        "em-file-stream-sums-keep-reg-covar", "fastcavi/models/em_types.py",
        "        return n_k[:, None, None] * (cov - reg_covar * np.eye(p))",
        "        return n_k[:, None, None] * cov",
        "a loaded model's stream sums keep reg_covar, which the M-step adds again"),
    (
        "em-file-stream-batch-alone", "fastcavi/estimators/gaussian_mixture.py",
        "        if getattr(self, \"_kept\", None) is None:  # read from a file",
        "        if False:  # read from a file",
        "a model read from a file weighs its first batch alone"),
    (
        "em-free-energy-diag-precision", "fastcavi/models/em_types.py",
        "        return float(np.sum(pc * pc * scatter))",
        "        return float(np.sum(pc * scatter))",
        "the diag and spherical free energy weighs the scatter by U, not U^2"),
    (
        "em-free-energy-without-entropy", "fastcavi/models/em.py",
        "    return stats.entropy + expected",
        "    return expected",
        "incremental EM's free energy leaves out the responsibilities' entropy"),
    (
        "em-free-energy-quad-not-halved", "fastcavi/models/em.py",
        "                - 0.5 * quad - stats.total_weight * 0.5 * p * _LOG_2PI)",
        "                - quad - stats.total_weight * 0.5 * p * _LOG_2PI)",
        "the free energy's expected squared distances are not halved"),
    (
        "em-free-energy-scatter-about-old-means", "fastcavi/models/em.py",
        "    scatter = _scatter_about(stats, centre, params.means, covariance_type)\n    quad",
        "    scatter = stats.r_k\n    quad",
        "the free energy takes the scatter about the visit's means, not the new ones"),
    (
        "em-free-energy-log-det-sign", "fastcavi/models/em.py",
        "    expected = (float(np.sum(n_k[live] * log_w[live])) + float(np.sum(n_k * log_det))",
        "    expected = (float(np.sum(n_k[live] * log_w[live])) - float(np.sum(n_k * log_det))",
        "the free energy subtracts log|U_k| instead of adding it"),
    (
        "em-incremental-block-log-likelihood", "fastcavi/models/em.py",
        "    block = em_block if bound == \"loglik\" else entropy_block",
        "    block = em_block",
        "incremental EM's blocks report the log-likelihood where the entropy belongs"),
    (
        "gm-incremental-runs-batch", "fastcavi/estimators/gaussian_mixture.py",
        "            sweep = make_sweep(self.algorithm, source, visit, update,",
        "            sweep = make_sweep(\"batch\", source, visit, update,",
        "algorithm='incremental' runs batch EM"),
    (
        "reference-free-energy-without-entropy", "fastcavi/reference/em.py",
        "                                  - math.log(r))",
        "                                  - 0.0)",
        "the reference's free energy leaves out the entropy"),
    (
        "reference-blocks-reversed", "fastcavi/reference/em.py",
        "        for b, a in enumerate(starts):",
        "        for b, a in enumerate(starts[::-1]):",
        "the reference visits the blocks in reverse order"),
    (
        "gm-stream-start-ignores-inits", "fastcavi/estimators/gaussian_mixture.py",
        "        params = self._start(source, check_random_state(self.random_state), given, "
        "centre)",
        "        params = self._start(source, check_random_state(self.random_state), "
        "(None, None, None), moments(source).mean)",
        "partial_fit's first call ignores weights_init, means_init and precisions_init"),
    (
        "learning-rate-uncapped", "fastcavi/inference/algorithms.py",
        "    return 1.0 if base <= 1.0 else base ** -decay",
        "    return base ** -decay",
        "a step size (tau0 + t)^-kappa with tau0 + t <= 1 is not capped at 1"),
    (
        "gm-stream-sums-not-blended", "fastcavi/inference/algorithms.py",
        "    return combine([scaled(recentre(stats, old, centre, shape), 1.0 - rho),",
        "    return combine([scaled(recentre(stats, old, centre, shape), 0.0),",
        "each partial_fit forgets the kept sums"),
]
