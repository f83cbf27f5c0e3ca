"""LayerNormalization on 2-D C-contiguous ``(rows, features)`` arrays: fused forward and
backward (BatchNormalization's kernels are in ``batch_norm``).

Rows are independent, so each kernel works on a row range ``[lo, hi)`` and is split over
threads on large inputs. A row's statistics and sums accumulate in float64 (also for float32)
in eight interleaved partial sums combined in a fixed tree — eight independent add chains
instead of one, without reordering anything thread-dependent. Each row is read from memory
once per kernel (its second and third sweeps hit the cache). The column sums of the backward
(``dgamma``, ``dbeta``) are per-block partials over ``BLOCK_ROWS`` rows added in block order,
so the bits do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastff.backend.kernels import NJIT
from fastff.backend.kernels.batch_norm import BLOCK_ROWS


@njit(**NJIT)
def _sum8(xi, m, sq):
    """``Σ (x - m)`` (``sq`` False) or ``Σ (x - m)²`` over the row ``xi`` in float64."""
    c = xi.shape[0]
    c8 = c - c % 8
    xr = xi[:c8].reshape((c8 // 8, 8))
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    for r in range(c8 // 8):
        d0 = np.float64(xr[r, 0]) - m
        d1 = np.float64(xr[r, 1]) - m
        d2 = np.float64(xr[r, 2]) - m
        d3 = np.float64(xr[r, 3]) - m
        d4 = np.float64(xr[r, 4]) - m
        d5 = np.float64(xr[r, 5]) - m
        d6 = np.float64(xr[r, 6]) - m
        d7 = np.float64(xr[r, 7]) - m
        if sq:
            d0, d1, d2, d3 = d0 * d0, d1 * d1, d2 * d2, d3 * d3
            d4, d5, d6, d7 = d4 * d4, d5 * d5, d6 * d6, d7 * d7
        a0 += d0
        a1 += d1
        a2 += d2
        a3 += d3
        a4 += d4
        a5 += d5
        a6 += d6
        a7 += d7
    for j in range(c8, c):
        d = np.float64(xi[j]) - m
        a0 += d * d if sq else d
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@njit(**NJIT)
def _dot8(gi, gamma, xi, m, s, rms):
    """Per row: ``(Σ g·γ·v, Σ g·γ)`` in float64, ``v = x`` (rms) or ``(x - m)·s``."""
    c = xi.shape[0]
    a0 = a1 = a2 = a3 = 0.0
    b0 = b1 = b2 = b3 = 0.0
    c4 = c - c % 4
    for q in range(c4 // 4):
        j = 4 * q
        g0 = np.float64(gi[j] * gamma[j])
        g1 = np.float64(gi[j + 1] * gamma[j + 1])
        g2 = np.float64(gi[j + 2] * gamma[j + 2])
        g3 = np.float64(gi[j + 3] * gamma[j + 3])
        if rms:
            v0, v1 = np.float64(xi[j]), np.float64(xi[j + 1])
            v2, v3 = np.float64(xi[j + 2]), np.float64(xi[j + 3])
        else:
            v0 = np.float64((xi[j] - m) * s)
            v1 = np.float64((xi[j + 1] - m) * s)
            v2 = np.float64((xi[j + 2] - m) * s)
            v3 = np.float64((xi[j + 3] - m) * s)
        a0 += g0 * v0
        a1 += g1 * v1
        a2 += g2 * v2
        a3 += g3 * v3
        b0 += g0
        b1 += g1
        b2 += g2
        b3 += g3
    for j in range(c4, c):
        g = np.float64(gi[j] * gamma[j])
        v = np.float64(xi[j]) if rms else np.float64((xi[j] - m) * s)
        a0 += g * v
        b0 += g
    return (a0 + a1) + (a2 + a3), (b0 + b1) + (b2 + b3)


@njit(**NJIT)
def layer_norm_range(x, gamma, beta, eps, rms, y, mean, inv, lo, hi):
    """Rows ``[lo, hi)``: ``y = (x - mean) * inv * gamma + beta`` with ``inv = 1/sqrt(var +
    eps)`` (biased variance); with ``rms`` (Keras's ``rms_scaling``) ``y = x * inv * gamma``.
    Mean and variance in float64 (two sweeps of the cached row)."""
    c = x.shape[1]
    t = x.dtype.type
    for i in range(lo, hi):
        xi = x[i]
        yi = y[i]
        m64 = _sum8(xi, 0.0, False) / c
        v64 = _sum8(xi, m64, True) / c
        m = t(m64)
        s = t(1.0 / np.sqrt(v64 + np.float64(eps)))
        mean[i] = m
        inv[i] = s
        if rms:
            for j in range(c):
                yi[j] = xi[j] * s * gamma[j]
        else:
            for j in range(c):
                yi[j] = (xi[j] - m) * s * gamma[j] + beta[j]


@njit(**NJIT)
def layer_norm_backward_range(dy, x, gamma, mean, inv, rms, psg, psb, want_sums, dx, want_dx,
                              lo, hi):
    """Rows ``[lo, hi)`` (``lo`` a multiple of ``BLOCK_ROWS``): ``dx`` when ``want_dx`` and,
    when ``want_sums``, per block the float64 partials ``psg[b] = Σ dy·x̂`` (``x·inv`` under
    rms) and ``psb[b] = Σ dy``."""
    n, c = x.shape
    t = x.dtype.type
    for r0 in range(lo, hi, BLOCK_ROWS):
        r1 = min(r0 + BLOCK_ROWS, n)
        b = r0 // BLOCK_ROWS
        if want_sums:
            sg = psg[b]
            sb = psb[b]
            for j in range(c):
                sg[j] = 0.0
                sb[j] = 0.0
        for i in range(r0, r1):
            gi = dy[i]
            xi = x[i]
            m = mean[i]
            s = inv[i]
            if want_sums:
                if rms:
                    for j in range(c):
                        g = np.float64(gi[j])
                        sb[j] += g
                        sg[j] += g * np.float64(xi[j] * s)
                else:
                    for j in range(c):
                        g = np.float64(gi[j])
                        sb[j] += g
                        sg[j] += g * np.float64((xi[j] - m) * s)
            if not want_dx:
                continue
            a64, b64 = _dot8(gi, gamma, xi, m, s, rms)
            a = t(a64 / c)
            bm = t(b64 / c)
            di = dx[i]
            if rms:
                s3a = s * s * s * a
                for j in range(c):
                    di[j] = s * (gi[j] * gamma[j]) - s3a * (xi[j] - m)
            else:
                sa = s * a
                for j in range(c):
                    di[j] = s * (gi[j] * gamma[j] - bm - (xi[j] - m) * sa)


@njit(**NJIT)
def add_blocks(psg, psb, dgamma, dbeta):
    """The block partials added in block order into ``dgamma`` / ``dbeta`` (array dtype)."""
    nb, c = psg.shape
    for j in range(c):
        a = 0.0
        b = 0.0
        for k in range(nb):
            a += psg[k, j]
            b += psb[k, j]
        dgamma[j] = a
        dbeta[j] = b
