"""The mutations of maximum-likelihood EM (``fastcavi.models.em``,
``fastcavi.estimators.gaussian_mixture``) for ``scripts/mutation_check.py``: (name, path, old
text, new text, why), each checked against the GaussianMixture tests (``GM_TESTS`` there);
those of incremental EM and partial_fit against their own tests (``GM_STREAM_TESTS``)."""

GM_MUTATIONS = [
    (
        "em-full-factor-not-halved", "fastcavi/models/em.py",
        "factors = np.ascontiguousarray(np.swapaxes(pc, 1, 2)) / math.sqrt(2.0)",
        "factors = np.ascontiguousarray(np.swapaxes(pc, 1, 2))",
        "the full logits use u^T P u instead of u^T P u / 2"),
    (
        "em-diag-half-precision", "fastcavi/models/em.py",
        "        factors = 0.5 * pc ** 2",
        "        factors = pc ** 2",
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
        "em-bound-quad-unrounded-sign", "fastcavi/models/em.py",
        "        quad = float(np.einsum(\"kji,kjl,kil->\", a, a, stats.r_k))",
        "        quad = -float(np.einsum(\"kji,kjl,kil->\", a, a, stats.r_k))",
        "the full log-likelihood adds the expected squared distances"),
    (
        "em-scatter-cross-term-sign", "fastcavi/models/em.py",
        "        return r - ds - np.swapaxes(ds, 1, 2) + n[:, None, None]",
        "        return r + ds + np.swapaxes(ds, 1, 2) + n[:, None, None]",
        "the full scatter about the new means adds the cross terms"),
    (
        "em-tied-divisor", "fastcavi/models/em.py",
        "        cov = scatter / np.sum(nk) + reg_covar * np.eye(p)",
        "        cov = scatter / np.max(nk) + reg_covar * np.eye(p)",
        "the tied covariance divides by the largest count, not the total"),
    (
        "em-spherical-not-averaged", "fastcavi/models/em.py",
        "        cov = scatter / (nk * p) + reg_covar",
        "        cov = scatter / nk + reg_covar",
        "the spherical variance sums the features' variances instead of averaging"),
    (
        "em-weights-unnormalised", "fastcavi/models/em.py",
        "    return EMParams(nk / np.sum(nk), means, cov,",
        "    return EMParams(nk / len(nk), means, cov,",
        "the weights are N_k / K, not N_k / N"),
    (
        "em-reg-covar-dropped", "fastcavi/models/em.py",
        "        cov = scatter / nk[:, None, None] + reg_covar * np.eye(p)",
        "        cov = scatter / nk[:, None, None]",
        "reg_covar is not added to the full covariances"),
    (
        "gm-warm-start-forgets-its-bound", "fastcavi/estimators/gaussian_mixture.py",
        "previous=None if do_init else self.lower_bound_)",
        "previous=None)",
        "a warm start measures its first change from nothing, not from the stored bound"),
    (
        "gm-tied-one-point-start-centred", "fastcavi/estimators/gaussian_mixture.py",
        "            quirk = (ctype == \"tied\" and resp is None",
        "            quirk = (False and resp is None",
        "the tied start from one point per component is not scikit-learn's"),
    (
        "gm-precisions-init-factor-unflipped", "fastcavi/estimators/gaussian_mixture.py",
        "        return np.array([np.linalg.cholesky(q[::-1, ::-1])[::-1, ::-1] for q in prec])",
        "        return np.array([np.linalg.cholesky(q).T for q in prec])",
        "precisions_init's factor is the transposed Cholesky factor (U^T U, not U U^T)"),
    (
        "gm-proba-not-normalised", "fastcavi/models/em.py",
        "            out[rows] = e / z[:, None] if kind == \"proba\" else top[:, 0] + np.log(z)",
        "            out[rows] = e if kind == \"proba\" else top[:, 0] + np.log(z)",
        "predict_proba returns exp(l - max l), not normalised"),
]

# Incremental EM (its free energy, its block function, the reference) and online EM.
GM_STREAM_MUTATIONS = [
    (
        "em-file-stream-sums-keep-reg-covar", "fastcavi/models/em.py",
        "        r = n_k[:, None, None] * (cov - reg_covar * np.eye(p))",
        "        r = n_k[:, None, None] * cov",
        "a loaded model's stream sums keep reg_covar, which the M-step adds again"),
    (
        "em-file-stream-batch-alone", "fastcavi/estimators/gaussian_mixture.py",
        "        if getattr(self, \"_kept\", None) is None:  # read from a file",
        "        if False:  # read from a file",
        "a model read from a file weighs its first batch alone"),
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
        "    scatter = _scatter_about(stats, centre, params.means, covariance_type)\n    if",
        "    scatter = stats.r_k\n    if",
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
