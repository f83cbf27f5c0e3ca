"""Deterministic reductions: bias gradients (column sums) and squared norms.

Column sums (alone, or fused with a dense layer's activation derivative) split the rows
over COL_SPLIT thread rows in a fixed pattern and add the partials in order (reads are
coalesced across a warp's columns). Squared norms accumulate in float64: each block reduces
a fixed, size-determined slice through a shared tree into one partial, and a one-block pass
adds the partials in order, so the result does not depend on scheduling.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from fastff.backend.cuda._cuda import cuda
from fastff.backend.cuda._launch import scalar_type
from fastff.backend.cuda.activations import device_functions

NORM_THREADS = 128
COL_LANES = 32
COL_SPLIT = 4
NORM_MAX_BLOCKS = 256
_F64 = np.float64


@cache
def col_sums_kernel(dtype: Any) -> Any:
    """``col_sums(dy, out)``: out[j] = Σ_i dy[i, j] for ``dtype``.

    COL_LANES columns per block; thread row ty adds rows ty, ty + COL_SPLIT, ... in order,
    then the COL_SPLIT partials are added in order.
    """
    t = scalar_type(dtype)

    @cuda.jit
    def col_sums(dy, out):
        sh = cuda.shared.array((COL_SPLIT, COL_LANES), dtype=t)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        j = cuda.blockIdx.x * COL_LANES + tx
        n, c = dy.shape
        if j < c and ty < n:
            acc = dy[ty, j]
            for i in range(ty + COL_SPLIT, n, COL_SPLIT):
                acc += dy[i, j]
            sh[ty, tx] = acc
        cuda.syncthreads()
        if j < c and ty == 0:
            acc = sh[0, tx]
            for q in range(1, min(COL_SPLIT, n)):
                acc += sh[q, tx]
            out[j] = acc

    return col_sums


@cache
def act_backward_col_sums_kernel(dtype: Any) -> Any:
    """``kern(dy, y, g, db, code, p)``: g = dy * act'(y) and db[j] = Σ_i g[i, j] in one pass.

    The dense-backward prologue of a y-derivable activation fused with the bias gradient
    (same row split and order as ``col_sums``, so db is deterministic).
    """
    t = scalar_type(dtype)
    _, _, act_backward = device_functions(dtype)

    @cuda.jit
    def kern(dy, y, g, db, code, p):
        sh = cuda.shared.array((COL_SPLIT, COL_LANES), dtype=t)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        j = cuda.blockIdx.x * COL_LANES + tx
        n, c = dy.shape
        if j < c and ty < n:
            v = act_backward(code, dy[ty, j], y[ty, j], y[ty, j], p)
            g[ty, j] = v
            acc = v
            for i in range(ty + COL_SPLIT, n, COL_SPLIT):
                v = act_backward(code, dy[i, j], y[i, j], y[i, j], p)
                g[i, j] = v
                acc += v
            sh[ty, tx] = acc
        cuda.syncthreads()
        if j < c and ty == 0:
            acc = sh[0, tx]
            for q in range(1, min(COL_SPLIT, n)):
                acc += sh[q, tx]
            db[j] = acc

    return kern


@cuda.jit(device=True)
def _block_sum(sh, tid, v):
    sh[tid] = v
    cuda.syncthreads()
    s = NORM_THREADS // 2
    while s > 0:
        if tid < s:
            sh[tid] = sh[tid] + sh[tid + s]
        cuda.syncthreads()
        s //= 2
    return sh[0]


@cuda.jit
def sq_norm_partials(x, partials):
    """partials[b] = Σ x² over the grid-stride slice of block b (float64)."""
    sh = cuda.shared.array(NORM_THREADS, dtype=_F64)
    tid = cuda.threadIdx.x
    acc = _F64(0)
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        v = _F64(x[i])
        acc += v * v
    total = _block_sum(sh, tid, acc)
    if tid == 0:
        partials[cuda.blockIdx.x] = total


@cuda.jit
def sum_partials(partials, out, slot):
    """out[slot] = Σ partials (one block, fixed order)."""
    sh = cuda.shared.array(NORM_THREADS, dtype=_F64)
    tid = cuda.threadIdx.x
    acc = _F64(0)
    for i in range(tid, partials.size, NORM_THREADS):
        acc += partials[i]
    total = _block_sum(sh, tid, acc)
    if tid == 0:
        out[slot] = total


def norm_blocks(n: int) -> int:
    """Blocks used for an n-element squared norm (a function of n only: deterministic)."""
    return max(1, min(NORM_MAX_BLOCKS, -(-n // (NORM_THREADS * 8))))


def sq_norms_into(arrays: list[Any], out: Any) -> None:
    """out[k] = Σ arrays[k]² (float64 device vector ``out``), with no host round trip."""
    for slot, x in enumerate(arrays):
        flat = x.reshape(x.size)
        blocks = norm_blocks(flat.size)
        partials = cuda.device_array(blocks, dtype=_F64)
        sq_norm_partials[blocks, NORM_THREADS](flat, partials)
        sum_partials[1, NORM_THREADS](partials, out, slot)


def act_backward_col_sums_launch(dy: Any, y: Any, g: Any, db: Any, code: int, p: Any) -> None:
    """g = dy * act'(y) and db = column sums of g (2-D device arrays, at least one row)."""
    c = dy.shape[1]
    act_backward_col_sums_kernel(dy.dtype)[max(1, -(-c // COL_LANES)), (COL_LANES, COL_SPLIT)](
        dy, y, g, db, code, p)


def col_sums_launch(dy: Any, out: Any) -> None:
    """Column sums of a 2-D device ``dy`` (at least one row) into the 1-D device ``out``."""
    c = dy.shape[1]
    col_sums_kernel(dy.dtype)[max(1, -(-c // COL_LANES)), (COL_LANES, COL_SPLIT)](dy, out)
