"""The statistics of a tile do not depend on where its work arrays lie in memory.

LLVM vectorises a loop that stores into an array only behind a run-time check that the arrays
it writes do not overlap those it reads, and keeps the plain loop for when they might; a sum
accumulated in such a loop is added in a different order in the two. The kernels allocate
their work arrays per chunk, wherever malloc puts them (a different place per thread and per
run), so a loop that both stores and sums made one fit end 1 ulp apart from run to run (two
fits of the same data, compared bit for bit, disagreed in CI). The kernels keep every sum in
a loop that only reads (``fastcavi.kernels.core``, NO_SUMS_WITH_STORES).

Here each tile function runs on the same inputs with its work arrays and outputs carved out of
one shared buffer, in a random order with random gaps (adjacent arrays are what makes the
run-time check fail), many times: every run must give the same bits. Both dtypes, with and
without weights, a tile that starts mid-array and ends off the vector width, an odd K (the
components-in-pairs loops and the last one alone), and p on both sides of the blocked triangle.
"""

import numpy as np
import pytest

from fastcavi.kernels import core, diag, fixed, full, tied

LAYOUTS = 40
N_ROWS = 1100
START = 37
K = 5


def tile_stop(size):
    """A tile of size - 21 points (off every vector width; short tiles take no vector loop)."""
    return START + size - 21


def carve(rng, specs, first):
    """Arrays of the given (shape, dtype, initial values) laid out in one zeroed byte buffer,
    ``specs[first]`` at its start and the others after it in a random order, each at a random
    multiple of 8 bytes past the previous one."""
    sizes = [int(np.prod(shape)) * np.dtype(dt).itemsize for shape, dt, _ in specs]
    gaps = rng.integers(0, 8, len(specs)) * 8
    arena = np.zeros(sum(sizes) + int(gaps.sum()) + 64, dtype=np.uint8)
    out = [None] * len(specs)
    pos = 0
    order = [i for i in rng.permutation(len(specs)) if i != first]
    for i in [first] + order:
        pos += int(gaps[i])
        shape, dt, values = specs[i]
        view = arena[pos:pos + sizes[i]].view(dt).reshape(shape)
        view[...] = values
        out[i] = view
        pos += sizes[i]
    return out


def inputs(dtype, weighted, p, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_ROWS, p)).astype(dtype)
    X.flags.writeable = False  # as the estimators pass it
    w = rng.uniform(0, 2, N_ROWS) if weighted else np.empty(0)
    if weighted:
        w[::7] = 0.0
    means = (1.5 * rng.normal(size=(K, p))).astype(dtype)
    return rng, X, w, means


def same_bits_everywhere(run, specs, outputs, weights):
    """``run(*arrays, w)`` for LAYOUTS layouts of ``specs`` and of the weights ``w`` (laid out
    with them: where the arrays lie relative to each other, and within their allocation, is
    what LLVM's checks turn on; each array comes first in turn); the arrays at ``outputs``
    (indices into ``specs``) and what ``run`` returns must be bit-identical in every layout."""
    rng = np.random.default_rng(1)
    specs = specs + [((weights.shape[0],), np.float64, weights)]
    seen = set()
    for layout in range(LAYOUTS):
        arrays = carve(rng, specs, layout % len(specs))
        ret = run(*arrays)
        seen.add((repr(ret), b"".join(arrays[i].tobytes() for i in outputs)))
    assert len(seen) == 1, f"{len(seen)} different results from {LAYOUTS} layouts"


DTYPES = [np.float64, np.float32]
WEIGHTED = pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])


@WEIGHTED
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_tile_entropy(dtype, weighted):
    rng, _, w, _ = inputs(dtype, weighted, 3)
    size = core.tile_rows(K)
    n = tile_stop(size) - START
    logits = np.zeros((K, size), dtype=dtype)
    logits[:, :n] = -3.0 * rng.uniform(size=(K, n))
    top = logits.max(axis=0)
    for fold in (True, False):
        specs = [((K, size), dtype, logits), ((size,), dtype, top), ((size,), dtype, 0),
                 ((size,), dtype, 0), ((size if not fold else 0,), dtype, 0),
                 ((2,), np.float64, 0)]
        same_bits_everywhere(
            lambda expo, tp, z, ea, wt, scalars, w: core.tile_entropy(expo, tp, z, ea, w, START,
                                                                      n, wt, scalars),
            specs, [0, 2, 4, 5], w)


@WEIGHTED
@pytest.mark.parametrize("kind", ["diag", "spherical"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_tile_statistics_small_p(dtype, kind, weighted):
    """The direct paths of per-feature (diag) and scalar (spherical, the known-variance
    model) precisions."""
    p = 3
    rng, X, w, means = inputs(dtype, weighted, p)
    diagonal = kind == "diag"
    half_prec = rng.uniform(0.2, 1.0, (K, p) if diagonal else K).astype(dtype)
    offsets = rng.uniform(-1, 1, K).astype(dtype)
    size = core.tile_rows(K)
    point, tile = ((size,), dtype, 0), ((K, size), dtype, 0)
    # diag: xt, expo, top, z, ea; spherical: xt, dist, expo, top, z
    work = [((p, size + core.TILE_PAD), dtype, 0)] + (
        [tile, point, point, point] if diagonal else [tile, tile, point, point])
    sums = [((K,), np.float64, 0), (((K, p) if diagonal else (K,)), np.float64, 0),
            ((K, p), np.float64, 0), ((2,), np.float64, 0)]
    tile_statistics = diag._tile_statistics_diag if diagonal else fixed._tile_statistics
    same_bits_everywhere(
        lambda *a: tile_statistics(X, a[-1], means, half_prec, offsets, START,
                                   tile_stop(size), *a[:-1]),
        work + sums, [5, 6, 7, 8], w)


def lower_factors(rng, n, p, dtype):
    a = np.tril(rng.normal(scale=0.3, size=(n, p, p)))
    a[:, np.arange(p), np.arange(p)] = rng.uniform(0.5, 1.0, (n, p))
    return a.astype(dtype)


@WEIGHTED
@pytest.mark.parametrize("p", [3, 9])  # below and above the blocked triangle
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_tile_statistics_full(dtype, weighted, p):
    rng, X, w, means = inputs(dtype, weighted, p)
    padded = core.padded_features(p)
    factors = core.padded_factors(lower_factors(rng, K, p, dtype), padded)
    offsets = rng.uniform(-1, 1, K).astype(dtype)
    size = core.matrix_tile_rows(K, p)
    wide = size + core.TILE_PAD
    specs = [((p, wide), dtype, 0), ((padded, wide), dtype, 0), ((padded, wide), dtype, 0),
             ((K, size), dtype, 0), ((size,), dtype, 0), ((size,), dtype, 0),
             ((size,), dtype, 0), ((size,), np.float64, 0), ((padded, size), np.float64, 0),
             ((size,), np.float64, 0), ((K,), np.float64, 0), ((K, p, p), np.float64, 0),
             ((K, p), np.float64, 0), ((2,), np.float64, 0)]
    same_bits_everywhere(
        lambda *a: full._tile_statistics_full(X, a[-1], means, factors, offsets, START,
                                              tile_stop(size), *a[:-1]),
        specs, [10, 11, 12, 13], w)


@WEIGHTED
@pytest.mark.parametrize("p", [3, 9])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_tile_statistics_tied(dtype, weighted, p):
    rng, X, w, means = inputs(dtype, weighted, p)
    padded = core.padded_features(p)
    factor64 = lower_factors(rng, 1, p, np.float64)[0]
    centre = means.astype(np.float64).mean(axis=0)
    centred = means.astype(np.float64) - centre
    white = tied._padded_columns((centred @ factor64.T).astype(dtype), padded)
    factor = core.padded_factors(factor64.astype(dtype).reshape(1, p, p), padded)[0]
    offsets = rng.uniform(-1, 1, K).astype(dtype)
    size = core.matrix_tile_rows(K, p)
    wide = size + core.TILE_PAD
    specs = [((padded, wide), dtype, 0), ((padded, wide), dtype, 0), ((K, size), dtype, 0),
             ((K, size), np.float64, 0), ((K, size), np.float64, 0), ((size,), dtype, 0),
             ((size,), dtype, 0), ((size,), dtype, 0), ((size,), dtype, 0),
             ((size,), np.float64, 0), ((K,), np.float64, 0), ((K, p), np.float64, 0),
             ((p, p), np.float64, 0), ((K, K), np.float64, 0), ((2,), np.float64, 0)]
    centred = tied._padded_columns(centred.astype(dtype), padded)
    same_bits_everywhere(
        lambda *a: tied._tile_statistics_tied(X, a[-1], centred, centre.astype(dtype), factor,
                                              white, offsets, START, tile_stop(size), *a[:-1]),
        specs, [10, 11, 12, 13, 14], w)


@WEIGHTED
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_gram_blocks(dtype, weighted):
    """The large-p paths (diag and spherical): a block's per-point work after its first BLAS
    product, in the tile layout (K, n), n off the vector width."""
    p, n = 40, 203
    rng, X, w, means = inputs(dtype, weighted, p)
    rows = X[START:START + n]
    xc = np.ascontiguousarray(rows - rows.mean(axis=0)).astype(dtype)
    gram = (means.astype(dtype) @ xc.T).astype(dtype)
    sq_x = (xc.astype(np.float64) ** 2).sum(axis=1)
    sq_means = rng.uniform(0.0, 1.0, K)
    offsets = rng.uniform(-1, 1, K).astype(dtype)
    half_prec = rng.uniform(0.01, 0.05, K).astype(dtype)
    scale = np.abs(gram).max()

    def diag_block(expo, top, z, ea, n_k, scalars, w):
        diag._gram_logits_diag(expo, sq_means, offsets, n, top)
        core.tile_entropy(expo, top, z, ea, w, START, n, z[:0], scalars)
        core.weighted_counts(expo, z, n, n_k)

    specs = [((K, n), dtype, -gram / scale), ((n,), dtype, 0), ((n,), dtype, 0),
             ((n,), dtype, 0), ((K,), np.float64, 0), ((2,), np.float64, 0)]
    same_bits_everywhere(diag_block, specs, [0, 4, 5], w)

    def spherical_block(dist, expo, top, z, n_k, r_k, s_k, scalars, w):
        fixed._gram_logits(dist, sq_x, sq_means, half_prec, offsets, n, expo, top)
        fixed._tile_sums(w, means, half_prec, offsets, START, n, np.empty((0, 0), dtype),
                         dist, expo, top, z, n_k, r_k, s_k, scalars)

    specs = [((K, n), dtype, gram), ((K, n), dtype, 0), ((n,), dtype, 0), ((n,), dtype, 0),
             ((K,), np.float64, 0), ((K,), np.float64, 0), ((K, p), np.float64, 0),
             ((2,), np.float64, 0)]
    same_bits_everywhere(spherical_block, specs, [0, 1, 4, 5, 6, 7], w)


@WEIGHTED
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_gram_blocks_tied(dtype, weighted):
    """The tied BLAS path: a block's per-point work after its first product V Xc^T (the
    shifted logits, then phi and w phi with N_k), n off the vector width."""
    p, n = 9, 203
    rng, X, w, means = inputs(dtype, weighted, p)
    rows = X[START:START + n].astype(np.float64)
    xc = rows - rows.mean(axis=0)
    factor = lower_factors(rng, 1, p, dtype)[0]
    white = (means.astype(np.float64) @ factor.astype(np.float64).T).astype(dtype)
    products, sq_white = tied._gram_inputs(factor, white)
    gram = (products.astype(np.float64) @ xc.T).astype(dtype)
    offsets = rng.uniform(-1, 1, K).astype(dtype)

    def tied_block(expo, top64, top, z, ea, wt, wphi, n_k, scalars, w):
        tied._gram_logits_tied(expo, sq_white, offsets, n, top64, top)
        core.tile_entropy(expo, top, z, ea, w, START, n, wt, scalars)
        tied._phi_and_weighted(expo, z, wt, n, wphi, n_k)

    specs = [((K, n), dtype, gram), ((n,), np.float64, 0), ((n,), dtype, 0),
             ((n,), dtype, 0), ((n,), dtype, 0), ((n,), dtype, 0), ((K, n), dtype, 0),
             ((K,), np.float64, 0), ((2,), np.float64, 0)]
    same_bits_everywhere(tied_block, specs, [0, 6, 7, 8], w)
