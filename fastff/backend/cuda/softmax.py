"""Row-wise softmax / log-softmax and the fused softmax / sigmoid cross-entropy losses.

Layout: a block of ``LANES x ROWS`` threads serves ROWS rows, one warp-sized group of lanes
per row; lanes stride over the columns and combine through a shared-memory tree, so row
reductions are deterministic. Every loss subtracts the row max before exponentiating
(stable log-sum-exp). Gradients are mean-reduced: row i is scaled by ``w_i / n`` (``inv``
= 1/n when unweighted), as ``NumpyOps``.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from fastff.backend.cuda._cuda import cuda
from fastff.backend.cuda._launch import scalar_type

LANES = 32
ROWS = 4


def grid_rows(n: int) -> tuple[int, tuple[int, int]]:
    """(blocks, (LANES, ROWS)) covering ``n`` rows."""
    return max(1, -(-n // ROWS)), (LANES, ROWS)


@cache
def kernels(dtype: Any) -> dict[str, Any]:
    """The row kernels for ``dtype``: softmax, backward, xent_sparse, xent, sigmoid_bce,
    mse."""
    t = scalar_type(dtype)
    zero, one = t(0), t(1)
    neg_inf = t(-math.inf)

    @cuda.jit(device=True)
    def row_sum(sh, tx, ty, v):
        sh[ty, tx] = v
        cuda.syncthreads()
        s = LANES // 2
        while s > 0:
            if tx < s:
                sh[ty, tx] = sh[ty, tx] + sh[ty, tx + s]
            cuda.syncthreads()
            s //= 2
        r = sh[ty, 0]
        cuda.syncthreads()
        return r

    @cuda.jit(device=True)
    def row_max(sh, tx, ty, v):
        sh[ty, tx] = v
        cuda.syncthreads()
        s = LANES // 2
        while s > 0:
            if tx < s and sh[ty, tx + s] > sh[ty, tx]:
                sh[ty, tx] = sh[ty, tx + s]
            cuda.syncthreads()
            s //= 2
        r = sh[ty, 0]
        cuda.syncthreads()
        return r

    @cuda.jit(device=True)
    def row_max_sum(sh, z, i, ok, tx, ty, c):
        """(m, Σ exp(z - m)) of row i, m the row max (every thread of the block calls it)."""
        m = neg_inf
        if ok:
            for j in range(tx, c, LANES):
                if z[i, j] > m:
                    m = z[i, j]
        m = row_max(sh, tx, ty, m)
        s = zero
        if ok:
            for j in range(tx, c, LANES):
                s += t(math.exp(z[i, j] - m))
        return m, row_sum(sh, tx, ty, s)

    @cuda.jit(device=True)
    def row_lse(sh, z, i, ok, tx, ty, c):
        """log Σ exp(z) of row i, stable (zero for rows past the end)."""
        m, s = row_max_sum(sh, z, i, ok, tx, ty, c)
        return m + t(math.log(s)) if ok else zero

    @cuda.jit
    def softmax(x, out, is_log):
        sh = cuda.shared.array((ROWS, LANES), dtype=t)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        i = cuda.blockIdx.x * ROWS + ty
        n, c = x.shape
        ok = i < n
        m, s = row_max_sum(sh, x, i, ok, tx, ty, c)
        if ok:
            if is_log:
                lse = m + t(math.log(s))
                for j in range(tx, c, LANES):
                    out[i, j] = x[i, j] - lse
            else:
                for j in range(tx, c, LANES):
                    out[i, j] = t(math.exp(x[i, j] - m)) / s

    @cuda.jit
    def backward(dy, y, out, is_log):
        sh = cuda.shared.array((ROWS, LANES), dtype=t)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        i = cuda.blockIdx.x * ROWS + ty
        n, c = dy.shape
        ok = i < n
        s = zero
        if ok:
            for j in range(tx, c, LANES):
                s += dy[i, j] if is_log else dy[i, j] * y[i, j]
        s = row_sum(sh, tx, ty, s)
        if ok:
            for j in range(tx, c, LANES):
                if is_log:
                    out[i, j] = dy[i, j] - t(math.exp(y[i, j])) * s
                else:
                    out[i, j] = y[i, j] * (dy[i, j] - s)

    @cuda.jit
    def xent_sparse(z, labels, w, has_w, inv, loss, dz):
        sh = cuda.shared.array((ROWS, LANES), dtype=t)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        i = cuda.blockIdx.x * ROWS + ty
        n, c = z.shape
        ok = i < n
        lse = row_lse(sh, z, i, ok, tx, ty, c)
        if ok:
            lab = labels[i]
            ci = w[i] * inv if has_w else inv
            valid = lab >= 0 and lab < c
            if tx == 0:
                loss[i] = lse - z[i, lab] if valid else t(math.nan)
            for j in range(tx, c, LANES):
                p = t(math.exp(z[i, j] - lse))
                if j == lab:
                    p = p - one
                dz[i, j] = p * ci if valid else zero

    @cuda.jit
    def xent(z, tg, w, has_w, inv, loss, dz):
        sh = cuda.shared.array((ROWS, LANES), dtype=t)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        i = cuda.blockIdx.x * ROWS + ty
        n, c = z.shape
        ok = i < n
        lse = row_lse(sh, z, i, ok, tx, ty, c)
        acc = zero
        st = zero
        if ok:
            for j in range(tx, c, LANES):
                acc += tg[i, j] * (z[i, j] - lse)
        acc = row_sum(sh, tx, ty, acc)
        if ok:
            for j in range(tx, c, LANES):
                st += tg[i, j]
        st = row_sum(sh, tx, ty, st)
        if ok:
            ci = w[i] * inv if has_w else inv
            if tx == 0:
                loss[i] = -acc
            for j in range(tx, c, LANES):
                dz[i, j] = (t(math.exp(z[i, j] - lse)) * st - tg[i, j]) * ci

    @cuda.jit
    def sigmoid_bce(z, tg, w, has_w, inv, loss, dz):
        sh = cuda.shared.array((ROWS, LANES), dtype=t)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        i = cuda.blockIdx.x * ROWS + ty
        n, c = z.shape
        ok = i < n
        cc = t(c)
        acc = zero
        if ok:
            ci = (w[i] * inv if has_w else inv) / cc
            for j in range(tx, c, LANES):
                v = z[i, j]
                e = t(math.exp(-abs(v)))
                acc += (v if v > zero else zero) - v * tg[i, j] + t(math.log1p(e))
                s = one / (one + e) if v >= zero else e / (one + e)
                dz[i, j] = (s - tg[i, j]) * ci
        acc = row_sum(sh, tx, ty, acc)
        if ok and tx == 0:
            loss[i] = acc / cc

    @cuda.jit
    def mse(y, tg, w, has_w, inv, loss, d):
        """Per-row mean of (y - t)² and the gradient 2 (y - t) c_i / C (not a softmax loss,
        but the same row layout)."""
        sh = cuda.shared.array((ROWS, LANES), dtype=t)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        i = cuda.blockIdx.x * ROWS + ty
        n, c = y.shape
        ok = i < n
        cc = t(c)
        two = one + one
        acc = zero
        if ok:
            ci = (w[i] * inv if has_w else inv) / cc
            for j in range(tx, c, LANES):
                e = y[i, j] - tg[i, j]
                acc += e * e
                d[i, j] = (two * e) * ci
        acc = row_sum(sh, tx, ty, acc)
        if ok and tx == 0:
            loss[i] = acc / cc

    return {"softmax": softmax, "backward": backward, "xent_sparse": xent_sparse,
            "xent": xent, "sigmoid_bce": sigmoid_bce, "mse": mse}
