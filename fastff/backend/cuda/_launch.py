"""Launch geometry and per-dtype kernel caching shared by the kernel modules."""

from __future__ import annotations

import numpy as np

from fastff.backend.cuda._cuda import SIMULATOR

# Threads per block of the 1-D elementwise kernels, and the most blocks one launch uses
# (the kernels loop grid-stride, so a capped grid still covers every element). The
# simulator runs each thread as a Python thread, so it gets small blocks; results of
# elementwise kernels do not depend on the geometry.
THREADS = 32 if SIMULATOR else 128
MAX_BLOCKS = 8192
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def grid_1d(n: int, threads: int = THREADS) -> tuple[int, int]:
    """(blocks, threads) for ``n`` elements, at least one block."""
    return max(1, min(MAX_BLOCKS, (n + threads - 1) // threads)), threads


def scalar_type(dtype: np.dtype) -> type:
    """The NumPy scalar type kernels are specialised on (float32 or float64)."""
    dtype = np.dtype(dtype)
    if dtype not in DTYPES:
        raise TypeError(f"CudaOps supports float32 and float64 arrays, not {dtype}")
    return dtype.type
