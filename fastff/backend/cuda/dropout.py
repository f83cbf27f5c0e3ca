"""Counter-based dropout masks: element i hashes (key, i) with splitmix64.

The same hash as ``NumpyOps.dropout_mask`` (key from ``dropout_key(seed, counter)``, element
i mixes ``key + (i+1)*golden``, kept when the top 24 bits reach the rate threshold), so a
mask made on the GPU equals the CPU one bit for bit, whatever the launch geometry. All
arithmetic is on uint64 (wrapping multiplies, as the CPU kernels).
"""

from __future__ import annotations

import numpy as np

from fastff.backend.cuda._cuda import cuda

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
S30 = np.uint64(30)
S27 = np.uint64(27)
S31 = np.uint64(31)
S40 = np.uint64(40)


@cuda.jit(device=True)
def keep_bits(key, i):
    """Top 24 bits of splitmix64(key + (i+1)*golden)."""
    z = key + np.uint64(i + 1) * GOLDEN
    z = (z ^ (z >> S30)) * MIX1
    z = (z ^ (z >> S27)) * MIX2
    z = z ^ (z >> S31)
    return z >> S40


@cuda.jit
def mask(out, key, thresh, scale, zero):
    """out[i] = scale where the hash of i is >= thresh, else zero (flat ``out``)."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = scale if keep_bits(key, i) >= thresh else zero
