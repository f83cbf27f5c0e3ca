"""Embedding kernels: row gather, scatter-add (atomics), bags of ids (sum/mean) and backward.

Ids are integer device arrays; an id equal to ``pad_id`` is padding (``pad_id < 0``: none):
it gathers zeros, is skipped by the scatter and does not count in a bag's mean. Scatter-adds
use atomics, so when ids repeat the summation order (and the last bits of float results) may
vary between runs. Every kernel walks its ``rows x dim`` grid-stride, one element a thread.

Ids outside ``[0, rows)`` never index a table (device ids cannot be range-checked on the host
without a copy): gathers and bags give NaN for them, scatters and row clears skip them.
"""

from __future__ import annotations

import math

from fastff.backend.cuda._cuda import cuda


@cuda.jit
def gather_rows(table, ids, out, pad_id, zero):
    """out[i, :] = table[ids[i], :] (``zero`` where ids[i] == pad_id)."""
    n, d = out.shape
    for e in range(cuda.grid(1), n * d, cuda.gridsize(1)):
        i = e // d
        j = e - i * d
        r = ids[i]
        if r == pad_id:
            out[i, j] = zero
        elif 0 <= r < table.shape[0]:
            out[i, j] = table[r, j]
        else:
            out[i, j] = math.nan


@cuda.jit
def scatter_add_rows(dst, ids, src, pad_id):
    """dst[ids[i], :] += src[i, :] for ids[i] != pad_id (atomic)."""
    n, d = src.shape
    for e in range(cuda.grid(1), n * d, cuda.gridsize(1)):
        i = e // d
        j = e - i * d
        r = ids[i]
        if r != pad_id and 0 <= r < dst.shape[0]:
            cuda.atomic.add(dst, (r, j), src[i, j])


@cuda.jit
def clear_rows(dst, rows, zero):
    """dst[rows[q], :] = zero."""
    n = rows.size
    d = dst.shape[1]
    for e in range(cuda.grid(1), n * d, cuda.gridsize(1)):
        q = e // d
        r = rows[q]
        if 0 <= r < dst.shape[0]:
            dst[r, e - q * d] = zero


@cuda.jit(device=True)
def _bag_scale(ids, i, pad_id, is_mean, one):
    """1 / max(count of non-padding ids in row i, 1) for means, else 1."""
    if not is_mean:
        return one
    cnt = one - one
    for q in range(ids.shape[1]):
        if ids[i, q] != pad_id:
            cnt += one
    return one / (cnt if cnt > one else one)


@cuda.jit
def bag(table, ids, out, pad_id, is_mean, one):
    """out[i, :] = Σ (or mean) of table[ids[i, q], :] over the non-padding ids of row i."""
    n, d = out.shape
    for e in range(cuda.grid(1), n * d, cuda.gridsize(1)):
        i = e // d
        j = e - i * d
        acc = one - one
        for q in range(ids.shape[1]):
            r = ids[i, q]
            if r != pad_id:
                acc += table[r, j] if 0 <= r < table.shape[0] else math.nan
        out[i, j] = acc * _bag_scale(ids, i, pad_id, is_mean, one) if is_mean else acc


@cuda.jit
def bag_backward(dy, ids, dtable, pad_id, is_mean, one):
    """dtable[ids[i, q], :] += dy[i, :] * scale_i for every non-padding id (atomic)."""
    n, d = dy.shape
    for e in range(cuda.grid(1), n * d, cuda.gridsize(1)):
        i = e // d
        j = e - i * d
        g = dy[i, j] * _bag_scale(ids, i, pad_id, is_mean, one)
        for q in range(ids.shape[1]):
            r = ids[i, q]
            if r != pad_id and 0 <= r < dtable.shape[0]:
                cuda.atomic.add(dtable, (r, j), g)
