"""Embedding kernels: row gather, bag-of-ids mean/sum, and their scatter-add backwards.

Shapes (``D`` = embedding width, ids are any integer dtype, ``pad`` < 0 means "no padding id"):

- ``gather(table (V, D), ids (N,), pad, out (N, D))``: ``out[i] = table[ids[i]]`` (zeros for
  ``pad``). Used by ``Embedding`` and, on a flattened ``(n, W)`` window matrix, by
  ``WindowEmbedding``: the ``(n*W, D)`` output *is* the ``(n, W*D)`` concatenation (seq2col).
- ``bag(table, ids (n, L), pad, mean, out (n, D))``: sum (or mean) of the non-padding rows.

Backwards write a *dense* gradient table but touch only rows: they first zero the rows the
previous call touched (``prev``), then scatter-add, and return the sorted unique rows touched
now, so the optimizer can update those rows only (``Optimizer.apply_rows``). All kernels are
single-threaded loops over contiguous rows: memory-bound, no Python per row.

None of them bounds-checks ids, rows or shapes: they are called only through the Ops methods
(``CpuOps.embedding_*``, ``adam_rows``), which range-check first
(``numpy_ops.check_embedding_args``, one min/max pass).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastff.backend.kernels import NJIT
from fastff.backend.kernels.optim import _adam, grad_in  # the dense steps' element bodies


@njit(**NJIT)
def gather(table, ids, pad, out):
    n = ids.shape[0]
    d = table.shape[1]
    zero = out.dtype.type(0)
    for i in range(n):
        r = ids[i]
        if r == pad:
            for j in range(d):
                out[i, j] = zero
        else:
            for j in range(d):
                out[i, j] = table[r, j]


@njit(**NJIT)
def _zero_rows(grad, prev):
    d = grad.shape[1]
    zero = grad.dtype.type(0)
    for k in range(prev.shape[0]):
        r = prev[k]
        for j in range(d):
            grad[r, j] = zero


@njit(**NJIT)
def _unique_rows(ids, pad, n_rows):
    """Sorted unique ids except ``pad`` (int64): a pass with a per-row flag, then a sort of
    the (few) distinct rows only."""
    flat = ids.ravel()
    seen = np.zeros(n_rows, dtype=np.bool_)
    out = np.empty(flat.shape[0], dtype=np.int64)
    m = 0
    for i in range(flat.shape[0]):
        v = flat[i]
        if v != pad and not seen[v]:
            seen[v] = True
            out[m] = v
            m += 1
    res = out[:m].copy()
    res.sort()
    return res


@njit(**NJIT)
def gather_backward(dy, ids, pad, grad, prev):
    """grad (V, D): rows ``prev`` zeroed, then ``grad[ids[i]] += dy[i]``; returns the rows."""
    _zero_rows(grad, prev)
    n = ids.shape[0]
    d = grad.shape[1]
    for i in range(n):
        r = ids[i]
        if r != pad:
            for j in range(d):
                grad[r, j] += dy[i, j]
    return _unique_rows(ids, pad, grad.shape[0])


@njit(**NJIT)
def bag(table, ids, pad, mean, out):
    n, length = ids.shape
    d = table.shape[1]
    zero = out.dtype.type(0)
    one = out.dtype.type(1)
    for i in range(n):
        for j in range(d):
            out[i, j] = zero
        cnt = 0
        for k in range(length):
            r = ids[i, k]
            if r != pad:
                cnt += 1
                for j in range(d):
                    out[i, j] += table[r, j]
        if mean and cnt > 1:
            s = one / out.dtype.type(cnt)
            for j in range(d):
                out[i, j] *= s


@njit(**NJIT)
def bag_backward(dy, ids, pad, mean, grad, prev):
    """Scatter-add of ``dy[i] / count_i`` (mean) or ``dy[i]`` (sum); returns the rows."""
    _zero_rows(grad, prev)
    n, length = ids.shape
    d = grad.shape[1]
    one = grad.dtype.type(1)
    for i in range(n):
        cnt = 0
        for k in range(length):
            if ids[i, k] != pad:
                cnt += 1
        if cnt == 0:
            continue
        s = one / grad.dtype.type(cnt) if mean else one
        for k in range(length):
            r = ids[i, k]
            if r != pad:
                for j in range(d):
                    grad[r, j] += dy[i, j] * s
    return _unique_rows(ids, pad, grad.shape[0])


@njit(**NJIT)
def adam_rows(p, g, m, v, rows, alpha, omb1, omb2, eps, wdlr, gscale, clip, tiny):
    """Lazy Adam on the rows ``rows`` of 2-D tables: the dense step's element body
    (``scalar.adam_elem``) on those rows only."""
    d = p.shape[1]
    zero = alpha - alpha
    for k in range(rows.shape[0]):
        r = rows[k]
        for j in range(d):
            p[r, j], m[r, j], v[r, j], _ = _adam(p[r, j], grad_in(g[r, j], gscale, clip),
                                                 m[r, j], v[r, j], zero, False, alpha, omb1,
                                                 omb2, eps, wdlr, tiny)
