"""The mean-squared-error loss kernel (per-row loss and mean-reduced gradient in one pass).

Row i: ``loss_i = Σ_j (y - t)² / C`` (the sum in float64) and ``d = 2 (y - t) · c_i / C``
with ``c_i = w_i / n`` (``w`` empty: unweighted, ``inv = 1/n``), as the softmax kernels
scale rows. ``CpuOps.mse`` and the compiled training step both call it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastff.backend.kernels import NJIT


@njit(**NJIT)
def mse(y, t, w, inv, loss, d):
    n, c = y.shape
    cc = y.dtype.type(c)
    two = y.dtype.type(2)
    for i in range(n):
        ci = (inv if w.size == 0 else w[i] * inv) / cc
        acc = 0.0
        for j in range(c):
            e = y[i, j] - t[i, j]
            acc += np.float64(e * e)
            d[i, j] = (two * e) * ci
        loss[i] = acc / c
