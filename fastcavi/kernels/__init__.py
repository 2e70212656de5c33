"""The compiled kernels: only ``@njit`` code and what it needs to compile and cache.

``fixed`` (the known-variance model), ``diag`` (scalar and diagonal precisions), ``full`` and
``tied`` (triangular factors) each run one pass over a block of rows and a prediction, side by
side: none imports another. What they share (chunks and the fixed-order sum of their partial
sums, tiles, the log-sum-exp and entropy of a tile, what a prediction writes, the triangle and
the scatter) is written once in ``core``; ``fastexp`` is the exp/log they use; ``jit`` gives
every kernel its options and on-disk cache, and ``cachedir`` says where that cache is without
importing Numba; ``columns`` sums given responsibilities per component for the moves' rounds;
``moments`` takes the columns' moments of a block of rows (the data-driven defaults).
Nothing here imports the rest of fastcavi but ``fastcavi._threads``.
Importing this package imports none of its modules.
"""

# The modules that define kernels (the command asks whether each has a compiled kernel cached).
KERNEL_MODULES = ("fastexp", "core", "fixed", "diag", "full", "tied", "columns", "moments")
