"""BatchNormalization kernels on 2-D C-contiguous ``(rows, features)`` arrays.

Two memory passes forward in training (statistics, then normalize + scale + shift) and two
backward (the column sums Σdy and Σdy·(x - mean), then dx); the moving statistics are updated
between the forward passes. Statistics and sums accumulate in float64 (also for float32
inputs) over fixed blocks of ``BLOCK_ROWS`` rows: within a block, sums shifted by the block's
first row (one sweep), and the blocks merged in order with Chan's formula, so a large mean
does not cancel the variance away whatever the batch size. The partition depends only on
the shape, so a split over threads (``parallel.run`` on row ranges aligned to a block) gives
the same bits as one serial call, and so does the compiled training step, which calls
``train_forward`` / ``train_backward`` directly.

The ``*_range(..., lo, hi)`` kernels work on the rows ``[lo, hi)``; ``lo`` is a multiple of
``BLOCK_ROWS`` for the block kernels.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastff.backend.kernels import NJIT

BLOCK_ROWS = 64


@njit(**NJIT)
def n_blocks(n):
    """Number of statistics blocks for ``n`` rows."""
    return (n + BLOCK_ROWS - 1) // BLOCK_ROWS


@njit(**NJIT)
def stats_range(x, pmean, pm2, lo, hi):
    """Per block of rows in ``[lo, hi)``: column mean ``pmean[b]`` and sum of squared
    deviations from it ``pm2[b]`` (float64) in one sweep, from sums shifted by the block's
    first row, ``d = x - x[r0]``: ``mean = x[r0] + Σd/m``, ``M2 = Σd² - (Σd)²/m``.
    Accumulating in float64, the cancellation costs ``(x[r0] - mean)² / var`` ulps of
    float64, harmless unless that row is ~10⁴ standard deviations out. A column holding an
    inf or NaN gets its mean from the plain sum (so +inf stays +inf, as NumPy's)."""
    n, c = x.shape
    for r0 in range(lo, hi, BLOCK_ROWS):
        r1 = min(r0 + BLOCK_ROWS, n)
        b = r0 // BLOCK_ROWS
        s = pmean[b]
        q = pm2[b]
        k = x[r0]
        for j in range(c):
            s[j] = 0.0
            q[j] = 0.0
        for i in range(r0 + 1, r1):
            xi = x[i]
            for j in range(c):
                d = np.float64(xi[j]) - np.float64(k[j])
                s[j] += d
                q[j] += d * d
        m = r1 - r0
        for j in range(c):
            q[j] -= s[j] * s[j] / m
            s[j] = np.float64(k[j]) + s[j] / m
        for j in range(c):
            if not np.isfinite(s[j]):
                t = 0.0
                for i in range(r0, r1):
                    t += np.float64(x[i, j])
                s[j] = t / m


@njit(**NJIT)
def merge_stats(pmean, pm2, n, mean64, var64):
    """Chan's merge of the block statistics in block order: column mean and biased variance
    over all ``n`` rows (float64). Where the update is not finite (an inf in some block) the
    mean is the weighted average of the block means, so ±inf propagate as in a plain sum."""
    nb, c = pmean.shape
    if n == 0:  # 0/0, as NumPy's mean of no rows
        for j in range(c):
            mean64[j] = np.nan
            var64[j] = np.nan
        return
    for j in range(c):
        mean64[j] = pmean[0, j]
        var64[j] = pm2[0, j]
    na = min(n, BLOCK_ROWS)
    for b in range(1, nb):
        nbk = min(BLOCK_ROWS, n - b * BLOCK_ROWS)
        tot = na + nbk
        fb = nbk / tot
        fa = na / tot
        w = na * fb
        for j in range(c):
            ma = mean64[j]
            d = pmean[b, j] - ma
            mu = ma + d * fb
            mean64[j] = mu if np.isfinite(mu) else ma * fa + pmean[b, j] * fb
            var64[j] += pm2[b, j] + d * d * w
        na = tot
    inv_n = 1.0 / n
    for j in range(c):
        var64[j] *= inv_n


@njit(**NJIT)
def finish_stats(mean64, var64, gamma, beta, eps, moving_mean, moving_var, mom, one_m,
                 update, mean, var, scale, shift):
    """Batch ``mean``/``var`` in the array dtype, the per-column affine of the normalize pass
    (``scale = gamma / sqrt(var + eps)``, ``shift = beta``), and when ``update`` the moving
    statistics ``moving = moving * momentum + batch * (1 - momentum)``."""
    for j in range(mean.shape[0]):
        m = mean.dtype.type(mean64[j])
        v = var.dtype.type(var64[j])
        mean[j] = m
        var[j] = v
        scale[j] = gamma[j] / np.sqrt(v + eps)
        shift[j] = beta[j]
        if update:
            moving_mean[j] = moving_mean[j] * mom + m * one_m
            moving_var[j] = moving_var[j] * mom + v * one_m


@njit(**NJIT)
def apply_range(x, mean, scale, shift, y, lo, hi):
    """``y = (x - mean) * scale + shift`` per column on rows ``[lo, hi)``."""
    c = x.shape[1]
    for i in range(lo, hi):
        xi = x[i]
        yi = y[i]
        for j in range(c):
            yi[j] = (xi[j] - mean[j]) * scale[j] + shift[j]


@njit(**NJIT)
def inference_affine(gamma, beta, mean, var, eps, scale, shift):
    """The normalize pass's per-column affine for fixed (moving) statistics."""
    for j in range(mean.shape[0]):
        scale[j] = gamma[j] / np.sqrt(var[j] + eps)
        shift[j] = beta[j]


@njit(**NJIT)
def _block_sums(dy, x, mean, sb, sg, r0, r1):
    """``sb = Σ dy`` and ``sg = Σ dy·(x - mean)`` per column over rows ``[r0, r1)``
    (float64, rows in order)."""
    c = x.shape[1]
    for j in range(c):
        sb[j] = 0.0
        sg[j] = 0.0
    for i in range(r0, r1):
        gi = dy[i]
        xi = x[i]
        for j in range(c):
            g = np.float64(gi[j])
            sb[j] += g
            sg[j] += g * (np.float64(xi[j]) - np.float64(mean[j]))


@njit(**NJIT)
def sums_range(dy, x, mean, psb, psg, lo, hi):
    """Per block of rows in ``[lo, hi)``: ``psb[b] = Σ dy`` and ``psg[b] = Σ dy·(x - mean)``
    per column (float64)."""
    n = x.shape[0]
    for r0 in range(lo, hi, BLOCK_ROWS):
        r1 = min(r0 + BLOCK_ROWS, n)
        b = r0 // BLOCK_ROWS
        _block_sums(dy, x, mean, psb[b], psg[b], r0, r1)


@njit(**NJIT)
def merge_sums(psb, psg, inv, dgamma, dbeta, sb64, sg64):
    """Block sums added in block order: ``dbeta = Σ dy``, ``dgamma = Σ dy·x̂`` (array dtype);
    the float64 totals stay in ``sb64`` / ``sg64`` (``sg64`` is Σ dy·x̂)."""
    nb, c = psb.shape
    for j in range(c):
        sb64[j] = 0.0
        sg64[j] = 0.0
    for b in range(nb):
        for j in range(c):
            sb64[j] += psb[b, j]
            sg64[j] += psg[b, j]
    for j in range(c):
        sg64[j] *= np.float64(inv[j])
        dbeta[j] = sb64[j]
        dgamma[j] = sg64[j]


@njit(**NJIT)
def dx_coefs(gamma, inv, sb64, sg64, n, a, mb, k):
    """Per-column constants of ``dx = a·(dy - mb - (x - mean)·k)``: ``a = gamma·inv``,
    ``mb = Σdy / n``, ``k = inv·Σdy·x̂ / n`` (the training-mode gradient)."""
    for j in range(a.shape[0]):
        a[j] = gamma[j] * inv[j]
        mb[j] = sb64[j] / n
        k[j] = np.float64(inv[j]) * sg64[j] / n


@njit(**NJIT)
def dx_range(dy, x, mean, a, mb, k, dx, lo, hi):
    """``dx = a·(dy - mb - (x - mean)·k)`` per column on rows ``[lo, hi)``."""
    c = x.shape[1]
    for i in range(lo, hi):
        gi = dy[i]
        xi = x[i]
        di = dx[i]
        for j in range(c):
            di[j] = a[j] * (gi[j] - mb[j] - (xi[j] - mean[j]) * k[j])


@njit(**NJIT)
def inv_std(var, eps, inv):
    for j in range(var.shape[0]):
        inv[j] = 1 / np.sqrt(var[j] + eps)


@njit(**NJIT)
def train_forward(x, gamma, beta, eps, moving_mean, moving_var, mom, one_m, update,
                  y, mean, var, scale, shift, pmean, pm2, mean64, var64):
    """The whole training forward in one serial call (what the compiled step runs):
    statistics into ``mean``/``var``, moving statistics updated when ``update``, ``y``
    written. ``pmean``/``pm2``: ``(n_blocks(n), c)`` float64 scratch; ``scale``/``shift``:
    ``(c,)`` in the dtype, ``mean64``/``var64``: ``(c,)`` float64."""
    n = x.shape[0]
    stats_range(x, pmean, pm2, 0, n)
    merge_stats(pmean, pm2, n, mean64, var64)
    finish_stats(mean64, var64, gamma, beta, eps, moving_mean, moving_var, mom, one_m,
                 update, mean, var, scale, shift)
    apply_range(x, mean, scale, shift, y, 0, n)


@njit(**NJIT)
def train_backward(dy, x, gamma, mean, var, eps, dgamma, dbeta, dx, want_dx,
                   inv, psb, psg, sb64, sg64, a, mb, k):
    """The whole training-mode backward in one serial call (what the compiled step runs):
    ``dgamma``/``dbeta`` overwritten, ``dx`` written when ``want_dx``. Scratch: ``inv``,
    ``a``, ``mb``, ``k`` ``(c,)`` in the dtype; ``psb``/``psg`` ``(n_blocks(n), c)`` and
    ``sb64``/``sg64`` ``(c,)`` float64."""
    n = x.shape[0]
    inv_std(var, eps, inv)
    sums_range(dy, x, mean, psb, psg, 0, n)
    merge_sums(psb, psg, inv, dgamma, dbeta, sb64, sg64)
    if want_dx:
        dx_coefs(gamma, inv, sb64, sg64, n, a, mb, k)
        dx_range(dy, x, mean, a, mb, k, dx, 0, n)


@njit(**NJIT)
def fixed_backward_range(dy, x, mean, inv, a, psb, psg, want_sums, dx, want_dx, lo, hi):
    """Backward through fixed (moving) statistics in one pass over rows ``[lo, hi)``:
    ``dx = dy·a`` and, when ``want_sums``, the block sums of ``sums_range``."""
    n, c = x.shape
    for r0 in range(lo, hi, BLOCK_ROWS):
        r1 = min(r0 + BLOCK_ROWS, n)
        if want_sums:
            b = r0 // BLOCK_ROWS
            _block_sums(dy, x, mean, psb[b], psg[b], r0, r1)
        if want_dx:
            for i in range(r0, r1):
                gi = dy[i]
                di = dx[i]
                for j in range(c):
                    di[j] = gi[j] * a[j]
