"""Deterministic reductions: bias gradients (column sums), squared norms and float64 sums.

Partitions are fixed (columns for the bias gradient, CHUNK-sized pieces for norms) and
partial results are combined in index order, so results never depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastff.backend.kernels import CHUNK, NJIT

COL_BLOCK = 64


@njit(**NJIT)
def bias_grad_cols(dy, out, j0, j1):
    """out[j0:j1] = Σ_i dy[i, j0:j1], rows added in order."""
    n = dy.shape[0]
    o = out[j0:j1]
    for j in range(j1 - j0):
        o[j] = 0
    for i in range(n):
        row = dy[i][j0:j1]
        for j in range(j1 - j0):
            o[j] += row[j]


@njit(**NJIT)
def bias_grad(dy, out):
    bias_grad_cols(dy, out, 0, dy.shape[1])



@njit(**NJIT)
def _sq_chunk(x, lo, hi):
    """Σ x² over [lo, hi) with 8 interleaved float64 accumulators (a fixed order, so it is
    deterministic, and 8 independent add chains instead of one latency-bound chain)."""
    xs = x[lo:hi]
    n = hi - lo
    acc = np.zeros(8, dtype=np.float64)
    n8 = n - n % 8
    for i in range(0, n8, 8):
        for k in range(8):
            v = np.float64(xs[i + k])
            acc[k] += v * v
    for i in range(n8, n):
        v = np.float64(xs[i])
        acc[i - n8] += v * v
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


@njit(**NJIT)
def sq_norm(x):
    """Σ x² in float64, over fixed CHUNK pieces added in order."""
    n = x.size
    total = 0.0
    for c in range((n + CHUNK - 1) // CHUNK):
        total += _sq_chunk(x, c * CHUNK, min(n, (c + 1) * CHUNK))
    return total


@njit(**NJIT)
def sq_parts(x, parts, lo, hi):
    """parts[c] = Σ x² over chunk c, for the chunks inside [lo, hi) (CHUNK-aligned lo)."""
    n = x.size
    for c in range(lo // CHUNK, (hi + CHUNK - 1) // CHUNK):
        parts[c] = _sq_chunk(x, c * CHUNK, min(n, (c + 1) * CHUNK))


@njit(**NJIT)
def sum_in_order(parts):
    """Σ parts, left to right (the order ``sq_norm`` uses)."""
    total = 0.0
    for c in range(parts.size):
        total += parts[c]
    return total


@njit(**NJIT)
def sum_f64(x):
    """Σ x in float64 with 8 interleaved accumulators (a fixed order: deterministic, and 8
    independent add chains). The loss sum of ``fit``'s History on both CPU paths."""
    n = x.size
    acc = np.zeros(8, dtype=np.float64)
    n8 = n - n % 8
    for i in range(0, n8, 8):
        for k in range(8):
            acc[k] += np.float64(x[i + k])
    for i in range(n8, n):
        acc[i - n8] += np.float64(x[i])
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
