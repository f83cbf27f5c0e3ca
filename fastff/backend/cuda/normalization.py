"""Batch- and layer-normalization kernels (statistics, normalize/affine, backward).

Column (batch) and row (layer) statistics use one thread block per column or row with a
float64 shared-memory tree reduction in a fixed order (deterministic); normalize, affine
and dx steps run one thread per element (grid-stride). Formulas follow ``NumpyOps``.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

from fastff.backend.cuda._cuda import SIMULATOR, cuda
from fastff.backend.cuda._launch import scalar_type

BLOCK = 32 if SIMULATOR else 128
_F64 = np.float64


@cuda.jit(device=True)
def _block_sum(sh, tid, v):
    """Σ v over the block (BLOCK threads); safe to call repeatedly on one buffer."""
    cuda.syncthreads()
    sh[tid] = v
    cuda.syncthreads()
    s = BLOCK // 2
    while s > 0:
        if tid < s:
            sh[tid] = sh[tid] + sh[tid + s]
        cuda.syncthreads()
        s //= 2
    return sh[0]


@cuda.jit(device=True)
def _col_moments(sh, x, j, tid):
    """Mean and (biased) variance of column ``j`` in float64, two passes over the rows."""
    n = x.shape[0]
    acc = _F64(0)
    for i in range(tid, n, BLOCK):
        acc += _F64(x[i, j])
    m = _block_sum(sh, tid, acc) / n
    acc = _F64(0)
    for i in range(tid, n, BLOCK):
        d = _F64(x[i, j]) - m
        acc += d * d
    return m, _block_sum(sh, tid, acc) / n


@cache
def kernels(dtype: Any) -> dict[str, Any]:
    """The normalization kernels specialised on ``dtype``."""
    t = scalar_type(dtype)

    @cuda.jit
    def col_stats(x, mean, var):
        sh = cuda.shared.array(BLOCK, dtype=_F64)
        j, tid = cuda.blockIdx.x, cuda.threadIdx.x
        m, v = _col_moments(sh, x, j, tid)
        if tid == 0:
            mean[j] = t(m)
            var[j] = t(v)

    @cuda.jit
    def col_stats_train(x, mean, var, mm, mv, mom, one_m, update):
        """``col_stats`` with the moving statistics updated in the same launch (Keras:
        ``moving = moving * momentum + batch * (1 - momentum)``, in the dtype)."""
        sh = cuda.shared.array(BLOCK, dtype=_F64)
        j, tid = cuda.blockIdx.x, cuda.threadIdx.x
        m, v = _col_moments(sh, x, j, tid)
        if tid == 0:
            mt = t(m)
            vt = t(v)
            mean[j] = mt
            var[j] = vt
            if update:
                mm[j] = mm[j] * mom + mt * one_m
                mv[j] = mv[j] * mom + vt * one_m

    @cuda.jit
    def row_stats(x, mean, inv, eps):
        sh = cuda.shared.array(BLOCK, dtype=_F64)
        r, tid = cuda.blockIdx.x, cuda.threadIdx.x
        c = x.shape[1]
        acc = _F64(0)
        for j in range(tid, c, BLOCK):
            acc += _F64(x[r, j])
        m = _block_sum(sh, tid, acc) / c
        acc = _F64(0)
        for j in range(tid, c, BLOCK):
            d = _F64(x[r, j]) - m
            acc += d * d
        v = _block_sum(sh, tid, acc) / c
        if tid == 0:
            mean[r] = t(m)
            inv[r] = t(1.0 / math.sqrt(t(v) + eps))

    @cuda.jit
    def bn_forward(x, gamma, beta, mean, var, eps, has_g, has_b, y):
        n, c = x.shape
        for k in range(cuda.grid(1), n * c, cuda.gridsize(1)):
            i, j = k // c, k % c
            v = (x[i, j] - mean[j]) * (t(1) / t(math.sqrt(var[j] + eps)))
            if has_g:
                v = v * gamma[j]
            if has_b:
                v = v + beta[j]
            y[i, j] = v

    @cuda.jit
    def bn_col_sums(dy, x, mean, var, eps, sb, sg):
        sh = cuda.shared.array(BLOCK, dtype=_F64)
        j, tid = cuda.blockIdx.x, cuda.threadIdx.x
        n = x.shape[0]
        inv = t(1) / t(math.sqrt(var[j] + eps))
        a = _F64(0)
        b = _F64(0)
        for i in range(tid, n, BLOCK):
            a += _F64(dy[i, j])
            b += _F64(dy[i, j] * ((x[i, j] - mean[j]) * inv))
        a = _block_sum(sh, tid, a)
        b = _block_sum(sh, tid, b)
        if tid == 0:
            sb[j] = t(a)
            sg[j] = t(b)

    @cuda.jit
    def bn_dx(dy, x, gamma, has_g, mean, var, eps, sb, sg, batch_stats, dx):
        n, c = x.shape
        nt = t(n)
        for k in range(cuda.grid(1), n * c, cuda.gridsize(1)):
            i, j = k // c, k % c
            inv = t(1) / t(math.sqrt(var[j] + eps))
            g = gamma[j] * inv if has_g else inv
            if batch_stats:
                xh = (x[i, j] - mean[j]) * inv
                dx[i, j] = g / nt * (nt * dy[i, j] - sb[j] - xh * sg[j])
            else:
                dx[i, j] = dy[i, j] * g

    @cuda.jit
    def ln_forward(x, gamma, beta, mean, inv, has_g, has_b, rms, y):
        n, c = x.shape
        for k in range(cuda.grid(1), n * c, cuda.gridsize(1)):
            i, j = k // c, k % c
            v = (x[i, j] if rms else x[i, j] - mean[i]) * inv[i]
            if has_g:
                v = v * gamma[j]
            if has_b and not rms:
                v = v + beta[j]
            y[i, j] = v

    @cuda.jit
    def ln_col_sums(dy, x, mean, inv, rms, sg, sb):
        sh = cuda.shared.array(BLOCK, dtype=_F64)
        j, tid = cuda.blockIdx.x, cuda.threadIdx.x
        n = x.shape[0]
        a = _F64(0)
        b = _F64(0)
        for i in range(tid, n, BLOCK):
            xh = x[i, j] * inv[i] if rms else (x[i, j] - mean[i]) * inv[i]
            a += _F64(dy[i, j] * xh)
            b += _F64(dy[i, j])
        a = _block_sum(sh, tid, a)
        b = _block_sum(sh, tid, b)
        if tid == 0:
            sg[j] = t(a)
            sb[j] = t(b)

    @cuda.jit
    def ln_row_sums(dy, x, gamma, has_g, mean, inv, rms, ra, rb):
        sh = cuda.shared.array(BLOCK, dtype=_F64)
        r, tid = cuda.blockIdx.x, cuda.threadIdx.x
        c = x.shape[1]
        a = _F64(0)
        b = _F64(0)
        for j in range(tid, c, BLOCK):
            g = dy[r, j] * gamma[j] if has_g else dy[r, j]
            xv = x[r, j] if rms else (x[r, j] - mean[r]) * inv[r]
            a += _F64(g * xv)
            b += _F64(g)
        a = _block_sum(sh, tid, a)
        b = _block_sum(sh, tid, b)
        if tid == 0:
            ra[r] = t(a / c)
            rb[r] = t(b / c)

    @cuda.jit
    def ln_dx(dy, x, gamma, has_g, mean, inv, ra, rb, rms, dx):
        n, c = x.shape
        for k in range(cuda.grid(1), n * c, cuda.gridsize(1)):
            i, j = k // c, k % c
            s = inv[i]
            d = x[i, j] - mean[i]
            g = dy[i, j] * gamma[j] if has_g else dy[i, j]
            if rms:
                dx[i, j] = s * g - s * s * s * d * ra[i]
            else:
                dx[i, j] = s * (g - rb[i] - d * s * ra[i])

    return {"col_stats": col_stats, "col_stats_train": col_stats_train,
            "row_stats": row_stats, "bn_forward": bn_forward,
            "bn_col_sums": bn_col_sums, "bn_dx": bn_dx, "ln_forward": ln_forward,
            "ln_col_sums": ln_col_sums, "ln_row_sums": ln_row_sums, "ln_dx": ln_dx}
