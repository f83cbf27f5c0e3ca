"""Small elementwise helpers the other kernels lean on: fill and scaled copy."""

from __future__ import annotations

from fastff.backend.cuda._cuda import cuda


@cuda.jit
def fill(out, value):
    """out[i] = value over a flat array."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = value


@cuda.jit
def mul(a, b, out):
    """out[i] = a[i] * b[i] over flat arrays (e.g. applying a dropout mask)."""
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = a[i] * b[i]
