"""The compiled kernels: only ``@njit`` code and what it needs to compile and cache.

``fixed`` (the known-variance model, and the chunk, tile and fixed-order-sum helpers the other
modules share), ``diag`` (scalar and diagonal precisions), ``full`` and ``tied`` (triangular
factors) run one pass over a block of rows each; ``fastexp`` is the exp/log they use; ``jit``
gives every kernel its options and on-disk cache, and ``cachedir`` says where that cache is
without importing Numba. Nothing here imports the rest of fastcavi but ``fastcavi._threads``.
Importing this package imports none of its modules.
"""

# The modules that define kernels (the command asks whether each has a compiled kernel cached).
KERNEL_MODULES = ("fastexp", "fixed", "diag", "full", "tied")
