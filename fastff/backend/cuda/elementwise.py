"""Small elementwise helpers the other kernels lean on: fill, multiply, column copies."""

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


@cuda.jit
def put_cols(src, dst, col0):
    """dst[r, col0 + c] = src[r, c] over a 2-D ``src`` (a block of columns of ``dst``)."""
    w = src.shape[1]
    for i in range(cuda.grid(1), src.size, cuda.gridsize(1)):
        r = i // w
        c = i - r * w
        dst[r, col0 + c] = src[r, c]


@cuda.jit
def take_cols(src, dst, col0):
    """dst[r, c] = src[r, col0 + c] over a 2-D ``dst``."""
    w = dst.shape[1]
    for i in range(cuda.grid(1), dst.size, cuda.gridsize(1)):
        r = i // w
        c = i - r * w
        dst[r, c] = src[r, col0 + c]
