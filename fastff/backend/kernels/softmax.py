"""Row-wise softmax / log-softmax and the fused softmax / sigmoid cross-entropy losses.

All losses use the stable log-sum-exp (row max subtracted), so logits of ±1000 give finite
losses and gradients. Row sums accumulate in float64 (a float32 row of 10^6 logits sums to 1
within 1e-7, not 1e-2) and start from 0, so a -inf logit has probability 0 wherever it is.
Non-finite rows follow IEEE arithmetic on ``exp(x - max) / Σ exp(x - max)``, as PyTorch: a NaN
anywhere, a +inf, or all -inf give a NaN row. Gradients are mean-reduced: row i is scaled
by ``c_i = w_i / n`` (``w`` empty means unweighted, ``inv = 1/n``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastff.backend.kernels import NJIT


@njit(**NJIT)
def _row_max_logs(z, i):
    """(max_j z[i, j], log Σ_j exp(z[i, j] - max)) of one row."""
    c = z.shape[1]
    m = z[i, 0]
    for j in range(1, c):
        if z[i, j] > m:
            m = z[i, j]
    s = 0.0
    for j in range(c):
        s += np.float64(np.exp(z[i, j] - m))
    return m, np.log(s)


@njit(**NJIT)
def softmax_rows(x, out):
    """out = softmax(x) along the last axis of a 2-D array."""
    n, c = x.shape
    for i in range(n):
        m = x[i, 0]
        for j in range(1, c):
            if x[i, j] > m:
                m = x[i, j]
        s = 0.0
        for j in range(c):
            e = np.exp(x[i, j] - m)
            out[i, j] = e
            s += np.float64(e)
        for j in range(c):
            out[i, j] = out[i, j] / s


@njit(**NJIT)
def log_softmax_rows(x, out):
    n, c = x.shape
    for i in range(n):
        m, logs = _row_max_logs(x, i)
        for j in range(c):
            out[i, j] = (x[i, j] - m) - logs


@njit(**NJIT)
def softmax_backward_rows(dy, y, out, is_log):
    """dx for softmax (from y) or log_softmax (y = log p)."""
    n, c = dy.shape
    for i in range(n):
        s = 0.0
        if is_log:
            for j in range(c):
                s += np.float64(dy[i, j])
            for j in range(c):
                out[i, j] = dy[i, j] - np.exp(y[i, j]) * s
        else:
            for j in range(c):
                s += np.float64(dy[i, j] * y[i, j])
            for j in range(c):
                out[i, j] = y[i, j] * (dy[i, j] - s)


@njit(**NJIT)
def _row_scale(w, inv, i):
    if w.size == 0:
        return inv
    return w[i] * inv


@njit(**NJIT)
def _row_exp(z, i, e):
    """Row max m, e[j] = exp(z[i, j] - m) and Σ e (one exp per element)."""
    c = z.shape[1]
    m = z[i, 0]
    for j in range(1, c):
        if z[i, j] > m:
            m = z[i, j]
    s = 0.0
    for j in range(c):
        v = np.exp(z[i, j] - m)
        e[i, j] = v
        s += np.float64(v)
    return m, s


@njit(**NJIT)
def softmax_xent_sparse(z, labels, w, inv, loss, dz):
    """Per-row loss ``log Σexp(z - m) - (z[label] - m)`` and gradient
    ``(softmax(z) - onehot) * c_i`` (softmax = e / Σe; the exps are kept in dz between the
    passes). Returns the number of out-of-range labels (their rows: loss nan, gradient 0)."""
    n, c = z.shape
    one = z.dtype.type(1)
    bad = 0
    for i in range(n):
        lab = labels[i]
        ci = _row_scale(w, inv, i)
        if lab < 0 or lab >= c:
            bad += 1
            loss[i] = np.nan
            for j in range(c):
                dz[i, j] = 0
            continue
        m, s = _row_exp(z, i, dz)
        loss[i] = np.log(s) - (z[i, lab] - m)
        for j in range(c):
            p = dz[i, j] / s
            if j == lab:
                p = p - one
            dz[i, j] = p * ci
    return bad


@njit(**NJIT)
def softmax_xent(z, t, w, inv, loss, dz):
    """Per-row -Σ t log softmax(z); gradient (softmax(z) Σt - t) * c_i."""
    n, c = z.shape
    for i in range(n):
        m, s = _row_exp(z, i, dz)
        logs = np.log(s)
        ci = _row_scale(w, inv, i)
        acc = 0.0
        st = 0.0
        for j in range(c):
            acc += np.float64(t[i, j] * ((z[i, j] - m) - logs))
            st += np.float64(t[i, j])
        loss[i] = -acc
        for j in range(c):
            dz[i, j] = (dz[i, j] / s * st - t[i, j]) * ci


@njit(**NJIT)
def sigmoid_bce(z, t, w, inv, loss, dz):
    """Per-row mean over columns of max(z,0) - z t + log1p(exp(-|z|)); gradient
    (sigmoid(z) - t) * c_i / C."""
    n, c = z.shape
    zero = z.dtype.type(0)
    one = z.dtype.type(1)
    cc = z.dtype.type(c)
    for i in range(n):
        ci = _row_scale(w, inv, i) / cc
        acc = 0.0
        for j in range(c):
            v = z[i, j]
            e = np.exp(-abs(v))
            acc += np.float64((v if v > zero else zero) - v * t[i, j] + np.log1p(e))
            s = one / (one + e) if v >= zero else e / (one + e)
            dz[i, j] = (s - t[i, j]) * ci
        loss[i] = acc / cc
