"""Counter-based dropout masks: element i hashes (key, i) with splitmix64.

Bit-for-bit the same as ``NumpyOps.dropout_mask`` and independent of the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastff.backend.kernels import NJIT

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
S30 = np.uint64(30)
S27 = np.uint64(27)
S31 = np.uint64(31)
S40 = np.uint64(40)


@njit(**NJIT)
def mask_range(out, key, thresh, scale, lo, hi):
    zero = scale - scale
    out = out[lo:hi]
    for k in range(hi - lo):
        i = lo + k
        z = key + np.uint64(i + 1) * GOLDEN
        z = (z ^ (z >> S30)) * MIX1
        z = (z ^ (z >> S27)) * MIX2
        z = z ^ (z >> S31)
        out[k] = scale if (z >> S40) >= thresh else zero
