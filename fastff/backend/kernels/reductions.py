"""Deterministic reductions: bias gradients (column sums) and squared norms.

Partitions are fixed (columns for the bias gradient, CHUNK-sized pieces for norms) and
partial results are combined in index order, so results never depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from fastff.backend.kernels import CHUNK, NJIT, NJIT_PAR

COL_BLOCK = 64


@njit(**NJIT)
def bias_grad_cols(dy, out, j0, j1):
    """out[j0:j1] = Σ_i dy[i, j0:j1], rows added in order."""
    n = dy.shape[0]
    for j in range(j0, j1):
        out[j] = 0
    for i in range(n):
        for j in range(j0, j1):
            out[j] += dy[i, j]


@njit(**NJIT)
def bias_grad(dy, out):
    bias_grad_cols(dy, out, 0, dy.shape[1])


@njit(**NJIT_PAR)
def bias_grad_par(dy, out):
    c = dy.shape[1]
    for b in prange((c + COL_BLOCK - 1) // COL_BLOCK):
        bias_grad_cols(dy, out, b * COL_BLOCK, min(c, (b + 1) * COL_BLOCK))


@njit(**NJIT)
def _sq_chunk(x, lo, hi):
    s = 0.0
    for i in range(lo, hi):
        v = np.float64(x[i])
        s += v * v
    return s


@njit(**NJIT)
def sq_norm(x):
    """Σ x² in float64, over fixed CHUNK pieces added in order."""
    n = x.size
    total = 0.0
    for c in range((n + CHUNK - 1) // CHUNK):
        total += _sq_chunk(x, c * CHUNK, min(n, (c + 1) * CHUNK))
    return total


@njit(**NJIT_PAR)
def sq_norm_par(x):
    n = x.size
    nc = (n + CHUNK - 1) // CHUNK
    parts = np.empty(nc, dtype=np.float64)
    for c in prange(nc):
        parts[c] = _sq_chunk(x, c * CHUNK, min(n, (c + 1) * CHUNK))
    total = 0.0
    for c in range(nc):
        total += parts[c]
    return total
