"""Embedding kernels: row gather, scatter-add (atomics), and bag-of-ids mean with backward.

Ids are integer device arrays; a negative id is padding: it gathers zeros, is skipped by
the scatter, and does not count in a bag's mean. Scatter-adds use atomics, so when ids
repeat the summation order (and the last bits of float results) may vary between runs.
Every kernel walks the ``rows x dim`` output grid-stride, one element per thread.
"""

from __future__ import annotations

from fastff.backend.cuda._cuda import cuda


@cuda.jit
def gather_rows(table, ids, out, zero):
    """out[i, :] = table[ids[i], :] (``zero`` where ids[i] < 0)."""
    n, d = out.shape
    for e in range(cuda.grid(1), n * d, cuda.gridsize(1)):
        i = e // d
        j = e - i * d
        r = ids[i]
        out[i, j] = table[r, j] if r >= 0 else zero


@cuda.jit
def scatter_add_rows(dst, ids, src, scale):
    """dst[ids[i], :] += scale * src[i, :] for ids[i] >= 0 (atomic)."""
    n, d = src.shape
    for e in range(cuda.grid(1), n * d, cuda.gridsize(1)):
        i = e // d
        j = e - i * d
        r = ids[i]
        if r >= 0:
            cuda.atomic.add(dst, (r, j), src[i, j] * scale)


@cuda.jit
def bag_mean(table, ids, out, one):
    """out[i, :] = mean of table[ids[i, l], :] over the non-negative ids of row i (0 if none).

    ``one`` is 1 in the table dtype (keeps the count, and the division, in that dtype)."""
    n, d = out.shape
    length = ids.shape[1]
    for e in range(cuda.grid(1), n * d, cuda.gridsize(1)):
        i = e // d
        j = e - i * d
        acc = one - one
        cnt = one - one
        for q in range(length):
            r = ids[i, q]
            if r >= 0:
                acc += table[r, j]
                cnt += one
        out[i, j] = acc / cnt if cnt > 0 else acc


@cuda.jit
def bag_mean_backward(dy, ids, dtable, one):
    """dtable[ids[i, l], :] += dy[i, :] / count_i for every non-negative id (atomic)."""
    n, d = dy.shape
    length = ids.shape[1]
    for e in range(cuda.grid(1), n * d, cuda.gridsize(1)):
        i = e // d
        j = e - i * d
        cnt = one - one
        for q in range(length):
            if ids[i, q] >= 0:
                cnt += one
        if cnt > 0:
            g = dy[i, j] / cnt
            for q in range(length):
                r = ids[i, q]
                if r >= 0:
                    cuda.atomic.add(dtable, (r, j), g)
