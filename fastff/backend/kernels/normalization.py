"""Batch and layer normalization on 2-D C-contiguous arrays: fused forward and backward.

``BatchNormalization`` reduces over rows (one statistic per column), ``LayerNormalization``
over columns (one per row). Each kernel makes one or two sequential passes in a fixed order,
so results do not depend on the thread count; they match ``NumpyOps`` to rounding.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastff.backend.kernels import NJIT


@njit(**NJIT)
def column_stats(x, mean, var):
    """Per-column mean and biased variance (two passes: mean first, then squared deviations)."""
    n, c = x.shape
    for j in range(c):
        mean[j] = 0
        var[j] = 0
    for i in range(n):
        for j in range(c):
            mean[j] += x[i, j]
    for j in range(c):
        mean[j] /= n
    for i in range(n):
        for j in range(c):
            d = x[i, j] - mean[j]
            var[j] += d * d
    for j in range(c):
        var[j] /= n


@njit(**NJIT)
def batch_norm(x, gamma, beta, mean, var, eps, y):
    """``y = (x - mean) / sqrt(var + eps) * gamma + beta`` per column."""
    n, c = x.shape
    inv = np.empty(c, dtype=x.dtype)
    for j in range(c):
        inv[j] = 1 / np.sqrt(var[j] + eps)
    for i in range(n):
        for j in range(c):
            y[i, j] = (x[i, j] - mean[j]) * inv[j] * gamma[j] + beta[j]


@njit(**NJIT)
def batch_norm_backward(dy, x, gamma, mean, var, eps, batch_stats, dgamma, dbeta, dx, want_dx):
    """``dgamma = Σ dy·x̂``, ``dbeta = Σ dy``; ``dx`` through the batch statistics when
    ``batch_stats`` (training), else through the fixed (moving) statistics."""
    n, c = x.shape
    inv = np.empty(c, dtype=x.dtype)
    for j in range(c):
        inv[j] = 1 / np.sqrt(var[j] + eps)
        dgamma[j] = 0
        dbeta[j] = 0
    for i in range(n):
        for j in range(c):
            g = dy[i, j]
            dbeta[j] += g
            dgamma[j] += g * ((x[i, j] - mean[j]) * inv[j])
    if not want_dx:
        return
    if batch_stats:
        for i in range(n):
            for j in range(c):
                xh = (x[i, j] - mean[j]) * inv[j]
                dx[i, j] = gamma[j] * inv[j] / n * (n * dy[i, j] - dbeta[j] - xh * dgamma[j])
    else:
        for i in range(n):
            for j in range(c):
                dx[i, j] = dy[i, j] * gamma[j] * inv[j]


@njit(**NJIT)
def layer_norm(x, gamma, beta, eps, rms, y, mean, inv):
    """Per row: ``y = (x - mean) * inv * gamma + beta``, ``inv = 1/sqrt(var + eps)`` (biased
    variance); with ``rms`` (Keras's ``rms_scaling``) ``y = x * inv * gamma``."""
    n, c = x.shape
    for i in range(n):
        m = x[i, 0] - x[i, 0]
        for j in range(c):
            m += x[i, j]
        m /= c
        v = m - m
        for j in range(c):
            d = x[i, j] - m
            v += d * d
        v /= c
        s = 1 / np.sqrt(v + eps)
        mean[i] = m
        inv[i] = s
        if rms:
            for j in range(c):
                y[i, j] = x[i, j] * s * gamma[j]
        else:
            for j in range(c):
                y[i, j] = (x[i, j] - m) * s * gamma[j] + beta[j]


@njit(**NJIT)
def layer_norm_backward(dy, x, gamma, mean, inv, rms, dgamma, dbeta, dx, want_dx):
    """Gradient of ``layer_norm`` (``dgamma``/``dbeta`` overwritten, ``dx`` written)."""
    n, c = x.shape
    for j in range(c):
        dgamma[j] = 0
        dbeta[j] = 0
    for i in range(n):
        m = mean[i]
        s = inv[i]
        a = m - m  # mean of g·x̂ (or of g·x under rms scaling)
        b = m - m  # mean of g
        for j in range(c):
            g = dy[i, j]
            xh = (x[i, j] - m) * s
            dbeta[j] += g
            if rms:
                dgamma[j] += g * x[i, j] * s
                a += g * gamma[j] * x[i, j]
            else:
                dgamma[j] += g * xh
                a += g * gamma[j] * xh
                b += g * gamma[j]
        if not want_dx:
            continue
        a /= c
        b /= c
        for j in range(c):
            g = dy[i, j] * gamma[j]
            d = x[i, j] - m
            if rms:
                dx[i, j] = s * g - s * s * s * d * a
            else:
                dx[i, j] = s * (g - b - d * s * a)
