"""Mutation check: would the test suite notice a wrong kernel or a wrong loop?

Each mutation below is a realistic bug in the kernels or the core (a wrong offset, a skipped
chunk or tile, a dropped term, a sign, a float32 accumulator, keeping the first restart, an
unscaled tol, ...). For each one, the working tree is copied to a temporary directory, the
mutation is applied to the copy (the exact text must occur once, so a refactor that moves the
code makes the check fail loudly instead of silently testing nothing), and the relevant tests
run against the copy with a fresh Numba cache. A mutation the tests do not fail is a missing
test: every mutation must be killed.

Usage (from the repository root, in the test environment)::

    python scripts/mutation_check.py              # all mutations, 2 at a time
    python scripts/mutation_check.py --jobs 1 --only gram-weight-offset sign-elbo-cross-term
    python scripts/mutation_check.py --list

Exit status 0 when every mutation is killed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mutations_accelerated import ACCELERATED_MUTATIONS, SUBSAMPLE_MUTATIONS
from mutations_gm import (  # scripts/ is on sys.path when this file runs
    GM_MUTATIONS,
    GM_STREAM_MUTATIONS,
)
from mutations_moves import MOVES_MUTATIONS
from mutations_tied import TIED_BLAS_MUTATIONS

ROOT = Path(__file__).resolve().parent.parent

# The oracle tests at boundary-crossing sizes and the equivalence/estimator contracts: what
# every kernel or core mutation must be caught by.
CORE_TESTS = ("tests/test_boundaries.py", "tests/test_equivalence.py", "tests/test_estimator.py")
# The learned-weight, learned-precision family's fast path and estimator, every covariance type.
FAMILY_TESTS = ("tests/test_bgm.py",)
# Incremental CAVI and partial_fit.
STREAM_TESTS = ("tests/test_incremental.py", "tests/test_partial_fit.py")
# Its full and tied precisions: what only matrix precisions have (first: its small problem
# reaches the 4 x 4 blocks in a second) and the common tests, which run every type.
FULL_TESTS = ("tests/test_bgm_full.py",) + FAMILY_TESTS
# What a user swapping scikit-learn's class for fastcavi's meets: scikit-learn as the judge.
DROP_IN_TESTS = ("tests/test_drop_in.py", "tests/test_sklearn_suite.py",
                 "tests/test_differential.py")
# Maximum-likelihood EM (GaussianMixture): the quick reference and fact tests, and scikit-learn
# as the judge.
GM_TESTS = ("tests/test_gm.py::test_small_problem_matches_the_reference",
            "tests/test_gm.py::test_integer_weights_are_repeated_rows_and_zero_weights_dropped_rows",
            "tests/test_gm.py::test_the_likelihood_never_falls",
            "tests/test_gm_sklearn.py", "tests/test_sklearn_suite_gm.py")
# The command line's scikit-learn-free path against scikit-learn.
WITHOUT_SKLEARN_TESTS = ("tests/test_without_sklearn.py",)
# Its incremental EM and partial_fit.
GM_STREAM_TESTS = ("tests/test_gm_incremental.py", "tests/test_gm_partial_fit.py")


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    why: str
    tests: tuple = CORE_TESTS


# The moments' kernels: their oracle tests and the defaults at the extremes.
MOMENT_TESTS = ("tests/test_streaming.py", "tests/test_extremes.py")

MUTATIONS = [
    Mutation(
        "gram-weight-offset", "fastcavi/kernels/fixed.py",
        "_tile_sums(weights, centred_means, half_prec, offsets, t0, n, no_rows",
        "_tile_sums(weights, centred_means, half_prec, offsets, 0, n, no_rows",
        "large-p path reads weights[b] instead of the block's offset weights[t0 + b]"),
    Mutation(
        "tile-weight-offset", "fastcavi/kernels/fixed.py",
        "w = weights[start + b] if weighted else 1.0\n        # H(phi_b)",
        "w = weights[b] if weighted else 1.0\n        # H(phi_b)",
        "small-p path reads the tile's weights from row 0 (entropy and total weight)"),
    Mutation(
        "tile-weight-offset-factor", "fastcavi/kernels/fixed.py",
        "w = weights[start + b] if weighted else 1.0\n        z[b] = w / z[b]",
        "w = weights[b] if weighted else 1.0\n        z[b] = w / z[b]",
        "small-p path weighs phi with the weights from row 0"),
    Mutation(
        "gram-blocks-not-shrunk", "fastcavi/kernels/core.py",
        "min(GRAM_BLOCK_ROWS, GRAM_BLOCK_VALUES // max(1, n_components))",
        "min(GRAM_BLOCK_ROWS, GRAM_BLOCK_VALUES)",
        "the large-p paths' blocks keep 512 rows at any K (8 MiB per thread at K = 1024)",
        tests=("tests/test_boundaries.py::test_blas_blocks_shrink_at_large_k",)),
    Mutation(
        "rows-past-chunks-dropped", "fastcavi/kernels/core.py",
        "return n_chunks, (n_samples + n_chunks - 1) // n_chunks",
        "return n_chunks, n_samples // n_chunks",
        "chunk size rounded down: the rows past n_chunks * (N // n_chunks) are never visited "
        "(every kernel's chunks)"),
    Mutation(
        "partials-budget-ignored", "fastcavi/kernels/core.py",
        "cap = min(cap, max(_MIN_CHUNKS, _PARTIALS_DOUBLES // per_chunk))",
        "cap = min(cap, max(_MIN_CHUNKS, _PARTIALS_DOUBLES))",
        "the chunks are not capped by the size of their partial sums (134 MB of them at full "
        "K = p = 64)"),
    Mutation(
        "partials-floor-dropped", "fastcavi/kernels/core.py",
        "cap = min(cap, max(_MIN_CHUNKS, _PARTIALS_DOUBLES // per_chunk))",
        "cap = min(cap, max(1, _PARTIALS_DOUBLES // per_chunk))",
        "large partial sums leave fewer chunks than the threads a machine keeps busy"),
    Mutation(
        "threaded-rows-weights-dropped", "fastcavi/data/sources.py",
        "fn(part[0], part[1], *args)",
        "fn(part[0], None, *args)",
        "the move rounds' blocks on threads lose their weights",
        tests=("tests/test_streaming.py",)),
    Mutation(
        "moments-mean-unweighted", "fastcavi/kernels/moments.py",
        "run[j] += w * d\n",
        "run[j] += d\n",
        "the default prior's mean ignores the sample weights",
        tests=MOMENT_TESTS),
    Mutation(
        "moments-squares-unweighted", "fastcavi/kernels/moments.py",
        "run[j] += w * (d * d)",
        "run[j] += d * d",
        "the default prior's variances ignore the sample weights", tests=MOMENT_TESTS),
    Mutation(
        "moments-spread-signed", "fastcavi/kernels/moments.py",
        "spread = max(spread, abs(d))",
        "spread = max(spread, d)",
        "the largest deviation misses those below x_0 (data all below the first row have "
        "no spread, and the variances are taken as 0)", tests=MOMENT_TESTS),
    Mutation(
        "moments-last-row-skipped", "fastcavi/kernels/moments.py",
        "        for i in range(start, min(n_rows, start + _RUN)):\n"
        "            w = weights[i] if weighted else 1.0\n"
        "            for j in range(n_features):  # each",
        "        for i in range(start, min(n_rows - 1, start + _RUN)):\n"
        "            w = weights[i] if weighted else 1.0\n"
        "            for j in range(n_features):  # each",
        "the mean's pass stops a row early", tests=MOMENT_TESTS),
    Mutation(
        "moments-square-run-not-reset", "fastcavi/kernels/moments.py",
        "            run[j] = 0.0\n"
        "        for i in range(start, min(n_rows, start + _RUN)):\n"
        "            w = weights[i] if weighted else 1.0\n"
        "            for j in range(n_features):\n"
        "                d = (",
        "            pass\n"
        "        for i in range(start, min(n_rows, start + _RUN)):\n"
        "            w = weights[i] if weighted else 1.0\n"
        "            for j in range(n_features):\n"
        "                d = (",
        "each run of squares adds the runs before it again", tests=MOMENT_TESTS),
    Mutation(
        "last-chunk-skipped", "fastcavi/kernels/core.py",
        "for c in range(part.shape[0]):  # fixed order",
        "for c in range(max(1, part.shape[0] - 1)):  # fixed order",
        "the reduction over the chunks' partial sums stops one chunk early (every kernel's)"),
    Mutation(
        "first-tile-skipped", "fastcavi/kernels/fixed.py",
        "for t0 in range(start, stop, size):",
        "for t0 in range(start + size if stop - start > size else start, stop, size):",
        "a chunk that spans several tiles skips its first tile"),
    Mutation(
        "chunk-last-row-dropped", "fastcavi/kernels/fixed.py",
        "min(stop, t0 + size), xt, dist",
        "min(stop - 1, t0 + size), xt, dist",
        "off by one at the end of a tile: the last row of every chunk is dropped"),
    Mutation(
        "gram-cross-term", "fastcavi/kernels/fixed.py",
        "v = max(0.0, sq_x[b] - 2.0 * float(d[b]) + sq_m)",
        "v = max(0.0, sq_x[b] - float(d[b]) + sq_m)",
        "large-p path: the expanded distance's cross term without its factor 2"),
    Mutation(
        "gram-top-not-reset", "fastcavi/kernels/fixed.py",
        "    for b in range(n):\n        top[b] = -np.inf\n    for k in range(dist.shape[0]):",
        "    for k in range(dist.shape[0]):",
        "large-p path: each block's max over k starts from the last block's"),
    Mutation(
        "gram-logits-from-unrounded-distance", "fastcavi/kernels/fixed.py",
        "            lk = -(d[b] * hp) - off",
        "            lk = -(v * hp) - off",
        "large-p path: the logits from the float64 distance while the entropy forms them "
        "again from the stored one (float32 data: l - max is off by a rounding for the "
        "largest)"),
    Mutation(
        "gram-last-block-skipped", "fastcavi/kernels/fixed.py",
        "for t0 in range(c * chunk, stop, size):\n            n = min(size, stop - t0)\n"
        "            xb = rows[:n]",
        "for t0 in range(c * chunk, max(c * chunk + 1, stop - size), size):\n"
        "            n = min(size, stop - t0)\n            xb = rows[:n]",
        "large-p path: the last BLAS block of every chunk is skipped"),
    Mutation(
        "gram-not-centred", "fastcavi/kernels/fixed.py",
        "v = X[start + b, j] - centre[j]",
        "v = X[start + b, j]",
        "large-p path forgets to centre the rows on the means' centroid"),
    Mutation(
        "logit-variance-term-dropped", "fastcavi/models/fixed.py",
        "return np.full(mean_vars.shape[0], half), mean_vars * (n_features * half)",
        "return np.full(mean_vars.shape[0], half), mean_vars * 0.0",
        "the p s2_k / (2 lambda2) term of the fixed-variance model's logits is dropped"),
    Mutation(
        "float32-tile-accumulator", "fastcavi/kernels/fixed.py",
        "    nk = 0.0\n    rk = 0.0\n",
        "    nk = e[0] - e[0]\n    rk = e[0] - e[0]\n",
        "N_k and R_k summed over a tile in X's dtype (float32) instead of float64 (an odd K's "
        "last component)"),
    Mutation(
        "float32-pair-tile-accumulator", "fastcavi/kernels/fixed.py",
        "    n0 = 0.0\n    n1 = 0.0\n    r0 = 0.0\n    r1 = 0.0\n",
        "    n0 = e0[0] - e0[0]\n    n1 = e1[0] - e1[0]\n    r0 = e0[0] - e0[0]\n"
        "    r1 = e1[0] - e1[0]\n",
        "N_k and R_k of a pair of components summed over a tile in X's dtype (float32)"),
    # (The entropy's tile sum cannot be made float32 this way: it also adds float64 terms, so
    # Numba unifies it to float64 and the mutant would be equivalent.)
    Mutation(
        "float32-centred-sum-accumulator", "fastcavi/kernels/core.py",
        "        acc = 0.0\n        for b in range(n):\n"
        "            acc += e[b] * (xj[b] - mj)",
        "        acc = e[0] - e[0]\n        for b in range(n):\n"
        "            acc += e[b] * (xj[b] - mj)",
        "S~_k summed over a tile in X's dtype (float32) instead of float64 (fixed and tied)"),
    Mutation(
        "elbo-term-dropped", "fastcavi/models/fixed.py",
        "sq = stats.r_k - 2.0 * np.sum(d * stats.s_k, axis=1) + n_k * np.sum(d * d, axis=1)",
        "sq = stats.r_k - 2.0 * np.sum(d * stats.s_k, axis=1)",
        "the N_k |d_k|^2 term of sum w phi |x - m_new|^2 is dropped"),
    Mutation(
        "sign-elbo-cross-term", "fastcavi/models/fixed.py",
        "sq = stats.r_k - 2.0 * np.sum(d * stats.s_k, axis=1)",
        "sq = stats.r_k + 2.0 * np.sum(d * stats.s_k, axis=1)",
        "sign of the cross term -2 d.S~ flipped"),
    Mutation(
        "sign-mean-update", "fastcavi/models/fixed.py",
        "d = mean_vars[:, None] * ((alpha - m_old) / sig2 + stats.s_k / lam2)",
        "d = mean_vars[:, None] * ((m_old - alpha) / sig2 + stats.s_k / lam2)",
        "sign of the prior's pull in the mean update flipped"),
    Mutation(
        "combine-skips-first-block", "fastcavi/inference/algorithms.py",
        "    total = next(it)\n",
        "    total = next(it)\n    total = next(it, total)\n",
        "the reduce over blocks (Dask, streaming) drops the first block's statistics",
        CORE_TESTS + ("tests/test_dask.py", "tests/test_weights.py")),
    Mutation(
        "keep-first-restart", "fastcavi/estimators/base.py",
        "if best is None or bound > best[1] or best[1] == -np.inf:",
        "if best is None:",
        "the first of n_init runs is kept instead of the best (every estimator shares the loop)",
        CORE_TESTS + FAMILY_TESTS + GM_TESTS),
    Mutation(
        "tol-not-scaled", "fastcavi/models/fixed.py",
        "max_iter, tol * source.total_weight,",
        "max_iter, tol,",
        "tol compared with the ELBO change as a total, not per unit of weight"),
    Mutation(
        "tol-scaled-by-n", "fastcavi/data/sources.py",
        "self.total_weight = float(self.n_rows) if weights is None else float(weights.sum())",
        "self.total_weight = float(self.n_rows)",
        "the total weight taken as N when sample_weight is given"),
    Mutation(
        "dask-positive-rows-offset", "fastcavi/data/dask.py",
        "return np.flatnonzero(wb > 0)[ranks] + start",
        "return np.flatnonzero(wb > 0)[ranks]",
        "a Dask block's positive-weight rows numbered from the block, not from row 0",
        ("tests/test_dask.py", "tests/test_weights.py")),
    Mutation(
        "dask-threads-ignore-host", "fastcavi/data/dask.py",
        "n = max(1, cores // max(own, (hosts or {}).get(get_address_host(worker.address), 0)))",
        "n = max(1, cores // own)",
        "a Dask task takes all its host's cores, ignoring the other workers there",
        ("tests/test_dask.py",)),
    Mutation(
        "recentre-sign", "fastcavi/inference/algorithms.py",
        "d = np.asarray(old, dtype=np.float64) - np.asarray(new, dtype=np.float64)",
        "d = np.asarray(new, dtype=np.float64) - np.asarray(old, dtype=np.float64)",
        "kept statistics shifted the wrong way when re-centred", STREAM_TESTS),
    Mutation(
        "incremental-not-recentred", "fastcavi/inference/algorithms.py",
        "total = combine(recentre(s, c, centre, shape) for s, c in kept)",
        "total = combine(s for s, c in kept)",
        "blocks' statistics summed while centred on different means", STREAM_TESTS),
    Mutation(
        "incremental-stale-q", "fastcavi/inference/algorithms.py",
        "                fn, args, new_centre = visit(state)\n",
        "                new_centre = centre\n",
        "every block of a pass visited at the q(theta) of the pass's start", STREAM_TESTS),
    Mutation(
        "recentre-full-not-symmetric", "fastcavi/inference/algorithms.py",
        "return r + ds + ds.transpose(0, 2, 1) + n[:, None, None]",
        "return r + 2.0 * ds + n[:, None, None]",
        "a full scatter re-centred with d S^T twice instead of d S^T + S d^T", STREAM_TESTS),
    Mutation(
        "recentre-tied-shift-dropped", "fastcavi/inference/algorithms.py",
        "return r + ds + ds.T + (n[:, None] * d).T @ d",
        "return r + ds + ds.T",
        "the pooled scatter re-centred without sum_k N_k d_k d_k^T", STREAM_TESTS),
    Mutation(
        "incremental-old-block-kept", "fastcavi/inference/algorithms.py",
        "total = combine([total, scaled(recentre(old, old_centre, centre, shape), -1.0), new])",
        "total = combine([total, new])",
        "a visited block's old statistics left in the running total", STREAM_TESTS),
    Mutation(
        "svi-rho-complement", "fastcavi/inference/algorithms.py",
        "return combine([scaled(recentre(stats, old, centre, shape), 1.0 - rho),",
        "return combine([scaled(recentre(stats, old, centre, shape), rho),",
        "the kept statistics weighted rho instead of 1 - rho", STREAM_TESTS),
    Mutation(
        "svi-kept-not-rescaled", "fastcavi/inference/algorithms.py",
        "kept = (scaled(stats, total_samples / stats.total_weight), old)",
        "kept = (stats, old)",
        "a fit's statistics (N points) blended as if they stood for total_samples",
        STREAM_TESTS),
    Mutation(
        "predict-proba-tile-last-row", "fastcavi/kernels/core.py",
        "    for b in range(n):\n        for k in range(n_components):\n"
        "            proba[start + b, k]",
        "    for b in range(n - 1):\n        for k in range(n_components):\n"
        "            proba[start + b, k]",
        "predict_proba leaves the last row of every tile unwritten"),
    Mutation(
        "predict-labels-offset", "fastcavi/kernels/core.py",
        "labels[start + b] = best",
        "labels[b] = best",
        "predict writes every tile's labels at the first tile's rows (every model's)"),
    Mutation(
        "score-drops-log-k", "fastcavi/models/fixed.py",
        "log_k = math.log(len(pred_vars))",
        "log_k = 0.0",
        "score_samples forgets the 1/K weight of each component"),
    Mutation(
        "random-init-ignores-weights", "fastcavi/estimators/known_variance.py",
        "            if wb is not None:\n                r *= wb[:, None]\n",
        "",
        "init_params='random' ignores sample_weight"),
    # -- the learned-weight, learned-precision family (BayesianGaussianMixture) --
    Mutation(
        "entropy-weight-offset", "fastcavi/kernels/core.py",
        "w = weights[start + b] if weighted else 1.0\n        # H(phi_b)",
        "w = weights[b] if weighted else 1.0\n        # H(phi_b)",
        "diag, full and tied kernels' entropy and total weight from row 0's weights",
        FAMILY_TESTS),
    Mutation(
        "phi-weight-offset", "fastcavi/kernels/core.py",
        "w = weights[start + b] if weighted else 1.0\n        inv_z = 1.0 / z[b]",
        "w = weights[b] if weighted else 1.0\n        inv_z = 1.0 / z[b]",
        "diag, full and tied kernels weigh phi with the weights from row 0", FAMILY_TESTS),
    Mutation(
        "sums-with-stores", "fastcavi/kernels/core.py",
        "        total_w += w\n    for b in range(n):\n"
        "        w = weights[start + b] if weighted else 1.0\n        inv_z = 1.0 / z[b]\n",
        "        total_w += w\n"
        "        inv_z = 1.0 / z[b]\n",
        "the entropy's sums back in the loop that stores z (LLVM's overlap check then picks "
        "the summing order by where the arrays lie: fits 1 ulp apart from run to run)",
        ("tests/test_kernel_determinism.py",)),
    Mutation(
        "diag-scatter-not-squared", "fastcavi/kernels/diag.py",
        "acc_r += t * diff",
        "acc_r += t",
        "diag kernel accumulates w phi (x - m) instead of w phi (x - m)^2 into R", FAMILY_TESTS),
    Mutation(
        "pair-logits-second-mean", "fastcavi/kernels/fixed.py",
        "        m1 = means[k + 1, j]\n        xj = xt[j]\n        for b in range(n):\n"
        "            diff0",
        "        m1 = means[k, j]\n        xj = xt[j]\n        for b in range(n):\n"
        "            diff0",
        "scalar-precision logits: the second component of a pair measured from the first's mean"),
    Mutation(
        "pair-logits-top-second-dropped", "fastcavi/kernels/fixed.py",
        "top[b] = max(top[b], max(l0, l1))",
        "top[b] = max(top[b], l0)",
        "the running max over k misses the second component of each pair (exp overflows where "
        "it is the largest by far)"),
    Mutation(
        "odd-component-logits-skipped", "fastcavi/kernels/fixed.py",
        "    if n_components % 2 == 1:\n        _component_logits(",
        "    if n_components % 2 == 2:\n        _component_logits(",
        "odd K: the last component's logits are never computed"),
    Mutation(
        "pair-sums-second-scatter", "fastcavi/kernels/fixed.py",
        "a1 += e1[b] * (xj[b] - m1)",
        "a1 += e1[b] * (xj[b] - m0)",
        "the second component of a pair is centred on the first's mean in S~_k"),
    Mutation(
        "odd-component-sums-skipped", "fastcavi/kernels/fixed.py",
        "    if n_components % 2 == 1:\n        entropy -= _component_sums(",
        "    if n_components % 2 == 2:\n        entropy -= _component_sums(",
        "odd K: the last component's sums are never taken"),
    Mutation(
        "transpose-few-features-row-offset", "fastcavi/kernels/core.py",
        "                xj[b] = X[start + b, j]",
        "                xj[b] = X[b, j]",
        "p < 4: every tile of the fixed, diag and full kernels reads the chunk's first rows"),
    Mutation(
        "transpose-many-features-last-dropped", "fastcavi/kernels/core.py",
        "            for j in range(n_features):\n                xt[j, b] = X[start + b, j]",
        "            for j in range(n_features - 1):\n                xt[j, b] = X[start + b, j]",
        "p >= 4: the tiles' last feature is never read (its row holds what was there before)"),
    Mutation(
        "exp-pair-second-dropped", "fastcavi/kernels/core.py",
        "            z[b] += v0 + v1\n    if n_components % 2 == 1:",
        "            z[b] += v0\n    if n_components % 2 == 1:",
        "the scalar-precision kernels' normaliser z forgets the second component of each pair"),
    Mutation(
        "exp-odd-last-skipped", "fastcavi/kernels/core.py",
        "            z[b] += v0 + v1\n    if n_components % 2 == 1:",
        "            z[b] += v0 + v1\n    if n_components % 2 == 2:",
        "odd K: the scalar-precision kernels never exponentiate the last component"),
    Mutation(
        "exp-entropy-pair-second-dropped", "fastcavi/kernels/core.py",
        "ea[b] += v0 * a0 + v1 * a1",
        "ea[b] += v0 * a0",
        "diag, full and tied kernels' entropy forgets the second component of each pair",
        FAMILY_TESTS),
    Mutation(
        "exp-entropy-odd-last-skipped", "fastcavi/kernels/core.py",
        "            ea[b] += v0 * a0 + v1 * a1\n    if n_components % 2 == 1:",
        "            ea[b] += v0 * a0 + v1 * a1\n    if n_components % 2 == 2:",
        "odd K: diag, full and tied kernels never exponentiate the last component",
        FAMILY_TESTS),
    Mutation(
        "diag-entropy-half-dropped", "fastcavi/kernels/core.py",
        "entropy += w * (_log_normal(float(z[b])) - float(ea[b] * (1.0 / z[b])))",
        "entropy += w * _log_normal(float(z[b]))",
        "diag kernel's entropy forgets sum_k phi a", FAMILY_TESTS),
    Mutation(
        "diag-chunk-offset", "fastcavi/kernels/diag.py",
        "        for t0 in range(c * chunk, stop, size):\n"
        "            _tile_statistics_diag(",
        "        for t0 in range(c * (chunk - 1), stop, size):\n"
        "            _tile_statistics_diag(",
        "diag kernel: each chunk starts at the wrong row (rows counted twice)", FAMILY_TESTS),
    Mutation(
        "diag-gram-cross-term", "fastcavi/kernels/diag.py",
        "w_mat[k, n_features + j] = -2.0 * h * m",
        "w_mat[k, n_features + j] = -h * m",
        "diag's BLAS path: the cross term of the expanded square without its factor 2",
        FAMILY_TESTS),
    Mutation(
        "diag-gram-constant-dropped", "fastcavi/kernels/diag.py",
        "sq_means[k] += h * m * m",
        "sq_means[k] += 0.0 * m",
        "diag's BLAS path: the logits lose sum_j h_kj mc_kj^2, a constant per component",
        FAMILY_TESTS),
    Mutation(
        "diag-gram-scatter-about-centre", "fastcavi/kernels/diag.py",
        "r_k[k, j] = max(0.0, a[k, j] - 2.0 * m * sx + n_k[k] * m * m)",
        "r_k[k, j] = max(0.0, a[k, j])",
        "diag's BLAS path: R about the means' centroid, not about each mean", FAMILY_TESTS),
    Mutation(
        "diag-gram-weight-offset", "fastcavi/kernels/diag.py",
        "core.tile_entropy(expo, top, z, ea, weights, t0, n",
        "core.tile_entropy(expo, top, z, ea, weights, 0, n",
        "diag's BLAS path reads weights[i] instead of the block's weights[t0 + i]",
        FAMILY_TESTS),
    Mutation(
        "diag-gram-last-block-skipped", "fastcavi/kernels/diag.py",
        "        for t0 in range(c * chunk, stop, size):\n"
        "            n = min(size, stop - t0)\n"
        "            fb = feats[:n]",
        "        for t0 in range(c * chunk, max(c * chunk + 1, stop - size), size):\n"
        "            n = min(size, stop - t0)\n"
        "            fb = feats[:n]",
        "diag's BLAS path: the last BLAS block of every chunk is skipped", FAMILY_TESTS),
    Mutation(
        "diag-blas-rule-ignores-dtype", "fastcavi/models/family_fit.py",
        "    if np.dtype(dtype) == np.float32:",
        "    if False:",
        "diag's float32 passes at 16-31 features keep the direct kernel (1.2-2x slower there)",
        tests=("tests/test_bgm.py::test_diag_takes_the_blas_path_where_it_was_measured_faster",)),
    Mutation(
        "posterior-means-without-the-prior", "fastcavi/models/family.py",
        "means = (b0 * m0 + n_k[:, None] * xbar) / b[:, None]",
        "means = (n_k[:, None] * xbar) / b[:, None]",
        "m_k = N_k xbar_k / b_k: the prior mean's b0 m0 dropped (every covariance type)",
        FAMILY_TESTS),
    Mutation(
        "posterior-scatter-shrink-factor", "fastcavi/models/family.py",
        "return b, means, xbar - m0, b0 * n_k / b",
        "return b, means, xbar - m0, n_k / b",
        "f_k = N_k / b_k instead of b0 N_k / b_k in every type's Psi_k", FAMILY_TESTS),
    Mutation(
        "spherical-nu-counts-points-once", "fastcavi/models/family.py",
        "nu = n0 + p * n_k",
        "nu = n0 + n_k",
        "spherical nu_k = n0 + N_k (scikit-learn's) instead of n0 + p N_k", FAMILY_TESTS),
    Mutation(
        "dp-sticks-include-self", "fastcavi/models/family.py",
        "tail = np.concatenate((np.cumsum(n_k[::-1])[::-1][1:], [0.0]))",
        "tail = np.cumsum(n_k[::-1])[::-1]",
        "process prior: b_k = g0 + sum_(j>=k) N_j instead of j > k", FAMILY_TESTS),
    Mutation(
        "scatter-not-centred", "fastcavi/models/family.py",
        "scatter = np.maximum(stats.r_k - stats.s_k * shift, 0.0)",
        "scatter = np.maximum(stats.r_k, 0.0)",
        "diag scatter about the old means, not about xbar", FAMILY_TESTS),
    Mutation(
        "family-elbo-cross-term-sign", "fastcavi/models/family.py",
        "sq = stats.r_k - 2.0 * d * stats.s_k + n_k[:, None] * d * d",
        "sq = stats.r_k + 2.0 * d * stats.s_k + n_k[:, None] * d * d",
        "sign of -2 d S in the family's likelihood term flipped", FAMILY_TESTS),
    Mutation(
        "e-step-mean-precision-term", "fastcavi/models/family.py",
        "offsets = -(e_log_pi + 0.5 * e_log_det - 0.5 * p / params.mean_precision)",
        "offsets = -(e_log_pi + 0.5 * e_log_det)",
        "the E-step forgets the -p / (2 b_k) of E[(x - mu)^T P (x - mu)]", FAMILY_TESTS),
    Mutation(
        "family-reg-covar-dropped", "fastcavi/models/family.py",
        "scatter + (n_k * prior.reg_covar)[:, None] + f[:, None] * d * d",
        "scatter + f[:, None] * d * d",
        "diag update forgets reg_covar", FAMILY_TESTS),
    Mutation(
        "random-start-not-normalised", "fastcavi/models/family_fit.py",
        "        r /= r.sum(axis=1)[:, np.newaxis]\n",
        "",
        "the 'random' start's responsibilities are not normalised per row", FAMILY_TESTS),
    # -- full and tied precisions: the kernels --
    Mutation(
        "full-triangle-term-skipped", "fastcavi/kernels/core.py",
        "            for i in range(1, j + 1):\n                c = a[j, i]",
        "            for i in range(2, j + 1):\n                c = a[j, i]",
        "triangle (p < 8; full logits, tied whitening): the term A[j, 1] u_1 is skipped",
        FULL_TESTS),
    Mutation(
        "blocked-triangle-term-dropped", "fastcavi/kernels/core.py",
        "y3[b] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3",
        "y3[b] += a30 * x0 + a31 * x1 + a32 * x2",
        "4 x 4 blocks of the triangle (full logits, tied whitening): a term of the last row "
        "dropped off the diagonal blocks", FULL_TESTS),
    Mutation(
        "blocked-scatter-term-dropped", "fastcavi/kernels/core.py",
        "                a33 += s * x3\n",
        "",
        "4 x 4 blocks of the scatter (full, and tied's pooled y y^T): one entry of each block "
        "never accumulated", FULL_TESTS),
    Mutation(
        "tied-co-responsibility-dropped", "fastcavi/kernels/tied.py",
        "                a3 += eb * p3[b]\n",
        "",
        "tied kernel: every fourth co-responsibility M_km of a block never accumulated",
        FULL_TESTS),
    Mutation(
        "tied-distance-second-of-pair", "fastcavi/kernels/tied.py",
        "                e1[b] -= (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)\n",
        "                e1[b] -= (d0 * d0 + d1 * d1) + d2 * d2\n",
        "tied logits: the second component of each pair misses a feature of every four",
        FULL_TESTS),
    Mutation(
        "tied-distance-last-component", "fastcavi/kernels/tied.py",
        "                d2, d3 = z2[b] - a2, z3[b] - a3\n",
        "                d2, d3 = z2[b] - a2, z3[b] - a2\n",
        "tied logits: an odd K's last component measured against a wrong mean coordinate",
        FULL_TESTS),
    Mutation(
        "tied-centred-sums-block-entry", "fastcavi/kernels/tied.py",
        "                a21 += f * (y1 - m21)\n",
        "",
        "tied S_k: one entry of each 4 x 4 block of components x features never accumulated",
        FULL_TESTS),
    Mutation(
        "tied-centred-sums-remainder", "fastcavi/kernels/tied.py",
        "        for j in range(j4 if k < k4 else 0, n_features):\n",
        "        for j in range(j4, n_features):\n",
        "tied S_k: the components past the 4 x 4 blocks keep only the last features' sums",
        FULL_TESTS),
    Mutation(
        "tied-residual-block-term-dropped", "fastcavi/kernels/tied.py",
        "                y3[b] -= (f0 * m03 + f1 * m13) + (f2 * m23 + f3 * m33)\n",
        "                y3[b] -= (f0 * m03 + f1 * m13) + f2 * m23\n",
        "tied pooled scatter: y = x - sum_k r_k m_k misses a component in every fourth feature",
        FULL_TESTS),
    Mutation(
        "full-scatter-not-symmetrised", "fastcavi/kernels/core.py",
        "                flat[k, i, j] = flat[k, j, i]\n",
        "                pass\n",
        "the scatter's upper triangle is never filled from the lower one (full and tied)",
        FULL_TESTS),
    Mutation(
        "full-weights-not-folded", "fastcavi/kernels/core.py",
        "            z[b] = w * inv_z\n",
        "            z[b] = inv_z\n",
        "diag and full kernels: phi not multiplied by the point's weight", FULL_TESTS),
    Mutation(
        "full-chunk-offset", "fastcavi/kernels/full.py",
        "        for t0 in range(c * chunk, stop, size):\n"
        "            _tile_statistics_full(",
        "        for t0 in range(c * (chunk - 1), stop, size):\n"
        "            _tile_statistics_full(",
        "full kernel: each chunk starts at the wrong row (rows counted twice)", FULL_TESTS),
    Mutation(
        "full-float32-partial-sums", "fastcavi/kernels/full.py",
        "part_r = np.zeros((n_chunks, n_components, n_features, n_features))",
        "part_r = np.zeros((n_chunks, n_components, n_features, n_features), dtype=np.float32)",
        "the chunks' partial scatters kept in float32", FULL_TESTS),
    Mutation(
        "tied-weights-dropped", "fastcavi/kernels/core.py",
        "            wt[b] = w\n",
        "            wt[b] = 1.0\n",
        "tied kernel: the points' weights never reach its statistics", FULL_TESTS),
    Mutation(
        "tied-whitening-not-centred", "fastcavi/kernels/tied.py",
        "xc[j, b] = X[start + b, j] - centre[j]",
        "xc[j, b] = X[start + b, j]",
        "tied kernel whitens x instead of x - c (the whitened means are centred)", FULL_TESTS),
    Mutation(
        "tied-mixture-mean-term-dropped", "fastcavi/kernels/tied.py",
        "yj[b] -= (p0[b] * m0 + p1[b] * m1) + (p2[b] * m2 + p3[b] * m3)",
        "yj[b] -= (p0[b] * m0 + p1[b] * m1) + p2[b] * m2",
        "tied pooled scatter: y = x - sum_k r_k m_k misses every fourth component", FULL_TESTS),
    Mutation(
        "tied-between-term-dropped", "fastcavi/models/family_full_fit.py",
        "        r_k = r_y + pair_scatter(co, centred)",
        "        r_k = r_y",
        "tied pooled scatter forgets sum_(k<l) M_kl (m_k - m_l)(m_k - m_l)^T", FULL_TESTS),
    Mutation(
        "full-predict-chunk-offset", "fastcavi/kernels/full.py",
        "_tile_logits_full(X, means, factors, offsets, t0, n, xt",
        "_tile_logits_full(X, means, factors, offsets, t0 - t0 % chunk, n, xt",
        "full predict: every tile of a chunk reads the chunk's first rows", FULL_TESTS),
    # -- full and tied precisions: the math --
    Mutation(
        "tied-nu-n-over-k", "fastcavi/models/family_full.py",
        "nu = n0 + total",
        "nu = n0 + total / len(n_k)",
        "tied nu = n0 + N / K (scikit-learn's) instead of n0 + sum_k N_k", FULL_TESTS),
    Mutation(
        "full-scatter-not-centred", "fastcavi/models/family_full.py",
        "scatter = stats.r_k - (ss.sum(axis=0) if prior.kind.shared else ss)",
        "scatter = stats.r_k",
        "C_k taken as the scatter about the old means, not about xbar_k", FULL_TESTS),
    Mutation(
        "wishart-kl-log2-constant", "fastcavi/models/family_full.py",
        "return nu / 2.0 * logdet - nu * p / 2.0 * math.log(2.0) - multigammaln(nu / 2.0, p)",
        "return nu / 2.0 * logdet - nu / 2.0 * math.log(2.0) - multigammaln(nu / 2.0, p)",
        "the Wishart normaliser's (nu p / 2) log 2 written (nu / 2) log 2", FULL_TESTS),
    Mutation(
        "full-elbo-cross-term-sign", "fastcavi/models/family_full.py",
        "sq = -(ds + np.swapaxes(ds, 1, 2)) + n_k",
        "sq = (ds + np.swapaxes(ds, 1, 2)) + n_k",
        "sign of -(d S^T + S d^T) in the likelihood term at the new means flipped", FULL_TESTS),
    Mutation(
        "wishart-digamma-off-by-one", "fastcavi/models/family_full.py",
        "digamma((np.asarray(nu)[:, None] + 1.0 - j) / 2.0)",
        "digamma((np.asarray(nu)[:, None] - j) / 2.0)",
        "E[log|P|] sums psi((nu - j)/2) instead of psi((nu + 1 - j)/2)", FULL_TESTS),
    Mutation(
        "full-reg-covar-dropped", "fastcavi/models/family_full.py",
        "psi = (prior.covariance + scatter + (n_k * prior.reg_covar)[:, None, None] * eye",
        "psi = (prior.covariance + scatter + 0.0 * eye",
        "full update forgets reg_covar", FULL_TESTS),
    Mutation(
        "e-step-factor-not-halved", "fastcavi/models/family_full.py",
        "factors = np.sqrt(nu / 2.0)[:, None, None] * inv_l",
        "factors = np.sqrt(nu)[:, None, None] * inv_l",
        "E-step logits use nu Psi^-1 instead of (nu / 2) Psi^-1", FULL_TESTS),
    Mutation(
        "predictive-dof-nu", "fastcavi/models/family_full_fit.py",
        "dof = nu + 1.0 - p",
        "dof = nu",
        "the predictive Student-t with nu_k degrees of freedom instead of nu_k + 1 - p",
        FULL_TESTS),
    Mutation(
        "one-hot-scatter-unweighted", "fastcavi/models/family_fit.py",
        "r_k[c] += (d[mine] * wi[mine, None]).T @ d[mine]",
        "r_k[c] += d[mine].T @ d[mine]",
        "the kmeans start's p x p scatter ignores sample_weight", FULL_TESTS),
    Mutation(
        "mclust-prior-ignores-the-cap", "fastcavi/estimators/bayesian_mixture.py",
        "if mclust and (self._moves or self.max_components is not None):",
        "if mclust and self._moves:",
        "default_prior='mclust' without moves scales to n_components, not max_components "
        "(the selection grid's fits no longer share one prior)",
        ("tests/test_default_prior.py",)),
    Mutation(
        "mclust-prior-unscaled", "fastcavi/estimators/bayesian_mixture.py",
        "psi0 = psi0 / float(clusters) ** (2.0 / n_features)",
        "psi0 = psi0 / float(clusters)",
        "mclust's covariance prior divided by G, not G^(2/p)", ("tests/test_default_prior.py",)),
    Mutation(
        "mclust-prior-degrees", "fastcavi/estimators/bayesian_mixture.py",
        "n0 = n_features + (MCLUST_EXTRA_DEGREES if mclust else 0.0)",
        "n0 = n_features + (1.0 if mclust else 0.0)",
        "mclust's degrees of freedom p + 1, not p + 2", ("tests/test_default_prior.py",)),
    Mutation(
        "selection-prior-per-k", "fastcavi/estimators/selection.py",
        "common.update(max_components=k_max)",
        "common.update(max_components=k)",
        "the selection grid scales mclust's prior to each K (a prior that changes with K)",
        ("tests/test_default_prior.py", "tests/test_selection.py")),
    Mutation(
        "selection-one-prior-for-all", "fastcavi/estimators/selection.py",
        "covariance_prior=self.covariance_prior, default_prior=prior, **common)",
        "covariance_prior=self.covariance_prior, default_prior=\"mclust\", **common)",
        "a grid under both priors fits every row under mclust's", ("tests/test_default_prior.py",)),
    Mutation(
        "warm-start-forgets-its-bound", "fastcavi/estimators/bayesian_mixture.py",
        "previous=None if do_init else self.lower_bound_)",
        "previous=None)",
        "a warm start measures its first change from nothing, not from the stored bound",
        DROP_IN_TESTS),
    Mutation(
        "max-iter-0-keeps-the-first-start", "fastcavi/estimators/base.py",
        "if best is None or bound > best[1] or best[1] == -np.inf:",
        "if best is None or bound > best[1]:",
        "with max_iter=0 the first start is kept (scikit-learn keeps the last)",
        DROP_IN_TESTS),
    Mutation(
        "proper-prior-absolute-ridge", "fastcavi/data/defaults.py",
        "return psi0 + np.diag(PRIOR_RIDGE * scales), True",
        "return psi0 + PRIOR_RIDGE * np.eye(len(scales)), True",
        "the ridge of a singular default prior ignores each feature's scale", DROP_IN_TESTS),
    Mutation(
        "proper-prior-threshold-cholesky-only", "fastcavi/data/defaults.py",
        "    if smallest > 1e-10:\n",
        "    if smallest > 0.0:\n",
        "a numerically singular default prior (eigenvalue of round-off size) kept as proper",
        DROP_IN_TESTS),
    Mutation(
        "random-from-data-diagonal-scatter", "fastcavi/models/family_fit.py",
        "np.arange(k),\n                             centre, matrix)",
        "np.arange(k),\n                             centre)",
        "the random_from_data start gives full and tied per-feature sums", FULL_TESTS),
    Mutation(
        "selection-no-label-symmetry", "fastcavi/estimators/selection.py",
        "return math.lgamma(n_components + 1)",
        "return 0.0",
        "the finite mixture's K! labelings are not added to its bound",
        ("tests/test_selection.py",)),
    Mutation(
        "selection-keeps-the-first-fit", "fastcavi/estimators/selection.py",
        "np.argmax(crit[self.results_[\"model\"] == m])]) for m in models}",
        "0]) for m in models}",
        "the first fit of the grid is kept instead of the best",
        ("tests/test_selection.py", "tests/test_cli_select.py")),
    Mutation(
        "selection-algorithm-ignored", "fastcavi/estimators/selection.py",
        "n_threads=self.n_threads, algorithm=self.algorithm)",
        "n_threads=self.n_threads)",
        "the grid's fits run batch CAVI whatever its algorithm (accelerated by default)",
        ("tests/test_selection.py", "tests/test_cli_select.py")),
    Mutation(
        "select-command-algorithm-dropped", "fastcavi/cli/select.py",
        "                           algorithm=args.algorithm)",
        "                           algorithm=\"accelerated\")",
        "fastcavi select ignores --algorithm", ("tests/test_cli_select.py",)),
    Mutation(
        "gm-file-public-attributes", "fastcavi/estimators/io.py",
        "arrays = {name: np.asarray(getattr(params, field), dtype=np.float64)",
        "arrays = {name: np.asarray(getattr(est, name), dtype=np.float64)",
        "a GaussianMixture file keeps the attributes (float32 after a float32 fit), not the "
        "float64 parameters its predictions use", ("tests/test_io.py",)),
    Mutation(
        "gm-file-dtype-dropped", "fastcavi/estimators/io.py",
        "for name, _ in _GM_PARAMS)), np.dtype(dtype))",
        "for name, _ in _GM_PARAMS)), np.float64)",
        "a loaded GaussianMixture has float64 attributes whatever its fit's dtype",
        ("tests/test_io.py",)),
    Mutation(
        "gm-file-shapes-unchecked", "fastcavi/estimators/io.py",
        "        if values[name].shape != want:\n",
        "        if False:\n",
        "a GaussianMixture file's parameters are not checked against K, p and the covariance "
        "type", ("tests/test_io.py",)),
    # -- what stands in for scikit-learn on the command line's path --
    Mutation(
        "kmeanspp-one-trial-fewer", "fastcavi/data/defaults.py",
        "n_local_trials = 2 + int(np.log(n_clusters))",
        "n_local_trials = 1 + int(np.log(n_clusters))",
        "the k-means++ seeding tries one candidate fewer per centre than scikit-learn's",
        WITHOUT_SKLEARN_TESTS),
    Mutation(
        "kmeanspp-distances-to-the-last-centre", "fastcavi/data/defaults.py",
        "        np.minimum(closest_dist_sq, distance_to_candidates, out=distance_to_candidates)\n",
        "",
        "the seeding weighs points by their distance to the last centre, not the nearest",
        WITHOUT_SKLEARN_TESTS),
    Mutation(
        "plain-check-keeps-old-names", "fastcavi/_validation.py",
        "            if hasattr(estimator, \"feature_names_in_\"):\n"
        "                del estimator.feature_names_in_\n",
        "",
        "a refit on a bare array keeps the feature names of an earlier DataFrame fit",
        WITHOUT_SKLEARN_TESTS),
    Mutation(
        "plain-check-width-unchecked", "fastcavi/_validation.py",
        "            check_n_features(estimator, X.shape[1])\n",
        "",
        "predict on a plain array of another width is not refused",
        WITHOUT_SKLEARN_TESTS),
    Mutation(
        "stand-in-names-not-copied-back", "fastcavi/_validation.py",
        "            _copy_fitted_names(checked, estimator)\n",
        "            pass\n",
        "the command line's model does not get n_features_in_ from scikit-learn's check",
        WITHOUT_SKLEARN_TESTS),
    Mutation(
        "stand-in-names-not-copied-in", "fastcavi/_validation.py",
        "    _copy_fitted_names(estimator, stand_in)\n",
        "",
        "scikit-learn checks predict's X against a stand-in that forgot the fitted width",
        WITHOUT_SKLEARN_TESTS),
]
MUTATIONS += [Mutation(*m, GM_TESTS) for m in GM_MUTATIONS]
MUTATIONS += [Mutation(*m, ("tests/test_moves.py",)) for m in MOVES_MUTATIONS]
MUTATIONS += [Mutation(*m, GM_STREAM_TESTS) for m in GM_STREAM_MUTATIONS]
MUTATIONS += [Mutation(*m, ("tests/test_accelerated.py",)) for m in ACCELERATED_MUTATIONS]
MUTATIONS += [Mutation(*m, ("tests/test_bgm_full.py",)) for m in TIED_BLAS_MUTATIONS]
MUTATIONS += [Mutation(*m, ("tests/test_subsample_start.py", "tests/test_accelerated.py"))
              for m in SUBSAMPLE_MUTATIONS]


def copy_tree(dest):
    """The working tree as git sees it (tracked and untracked-but-not-ignored files)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            target = Path(dest) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def apply(mutation, tree):
    path = Path(tree) / mutation.path
    text = path.read_text()
    count = text.count(mutation.old)
    if count != 1:
        raise ValueError(f"{mutation.name}: the text to mutate occurs {count} times in "
                         f"{mutation.path} (expected once); update the mutation")
    text = text.replace(mutation.old, mutation.new)
    compile(text, str(path), "exec")  # a mutation must be valid Python
    path.write_text(text)


def run_tests(tree, tests, timeout):
    env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_CACHE_DIR=str(Path(tree) / ".nbcache"),
               PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start, ""
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, re.M)
    return proc.returncode, time.perf_counter() - start, failed[0] if failed else ""


def check_imports_from(tree):
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", "import fastcavi; print(fastcavi.__file__)"],
                         cwd=tree, env=env, check=True, capture_output=True, text=True).stdout
    if not Path(out.strip()).resolve().is_relative_to(Path(tree).resolve()):
        raise RuntimeError(f"the copy imports fastcavi from {out.strip()}, not from {tree}")


def one(mutation, timeout):
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutation.name}-") as tree:
        copy_tree(tree)
        apply(mutation, tree)
        return run_tests(tree, mutation.tests, timeout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutations")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per mutant")
    args = parser.parse_args(argv)
    mutations = MUTATIONS
    if args.only:
        unknown = set(args.only) - {m.name for m in MUTATIONS}
        if unknown:
            parser.error(f"unknown mutation(s): {', '.join(sorted(unknown))}")
        mutations = [m for m in MUTATIONS if m.name in args.only]
    if args.list:
        for m in mutations:
            print(f"{m.name:30s} {m.path:24s} {m.why}")
        return 0

    # The unmutated tree must pass the union of the tests, from the copy.
    tests = tuple(dict.fromkeys(t for m in mutations for t in m.tests))
    with tempfile.TemporaryDirectory(prefix="mutant-baseline-") as tree:
        copy_tree(tree)
        check_imports_from(tree)
        status, seconds, failed = run_tests(tree, tests, args.timeout)
    if status != 0:
        print(f"baseline: the unmutated tree fails ({status}) at {failed or '?'}: fix it first")
        return 1
    print(f"baseline: {len(tests)} test files pass on the unmutated copy ({seconds:.0f} s)")
    for m in mutations:  # every mutation applies exactly once before any mutant runs
        with tempfile.TemporaryDirectory() as tree:
            (Path(tree) / m.path).parent.mkdir(parents=True)
            shutil.copy2(ROOT / m.path, Path(tree) / m.path)
            apply(m, tree)

    survivors = []
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = pool.map(lambda m: (m, one(m, args.timeout)), mutations)
        for m, (status, seconds, failed) in results:
            killed = status not in (0, "timeout") and status != 5
            verdict = "killed" if killed else ("TIMEOUT" if status == "timeout" else "SURVIVED")
            print(f"{verdict:8s} {m.name:30s} {seconds:6.0f} s  {failed or m.why}", flush=True)
            if not killed:
                survivors.append(m.name)
    print(f"{len(mutations) - len(survivors)} of {len(mutations)} mutations killed"
          + (f"; survived: {', '.join(survivors)}" if survivors else ""))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
