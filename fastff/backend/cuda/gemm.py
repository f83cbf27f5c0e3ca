"""Tiled GEMM with a fused epilogue: ``C = act(alpha op(A) op(B) + beta C + bias)``.

Each block computes a BM x BN tile of C. Per step over K, the block stages a BM x BK slice of
op(A) and a BK x BN slice of op(B) in shared memory (both stored k-major, so the inner loop
reads rows of each); each thread then keeps a TM x TN register tile of C and does an outer
product per k. A thread owns rows ``ty + i*BM/TM`` and columns ``tx + j*BN/TN`` (strided, so
a warp reads consecutive shared-memory words and writes consecutive columns of C). Loads
are mapped so consecutive threads read consecutive addresses of A or B for every transpose
case; out-of-range elements load as zero, so edge tiles need no separate kernel. The next
tile is fetched into registers before the current one is multiplied, so global-memory
latency overlaps the arithmetic. The epilogue (alpha, beta, bias, activation) runs on the
register tile before the one store.
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

from fastff.backend.cuda._cuda import cuda
from fastff.backend.cuda._launch import scalar_type
from fastff.backend.cuda.activations import device_functions


class TileConfig(NamedTuple):
    """Block tile (bm x bn), K step (bk) and per-thread register tile (tm x tn)."""

    bm: int
    bn: int
    bk: int
    tm: int
    tn: int

    @property
    def threads(self) -> tuple[int, int]:
        """Block shape (x over columns, y over rows)."""
        return self.bn // self.tn, self.bm // self.tm


# large: 256 threads with an 8x8 register tile each, for big square-ish problems;
# small: 64 threads, 4x4 each, for batch-sized problems;
# narrow: 64 threads, 2x2 each, for skinny problems that would leave multiprocessors idle;
# tiny: 16 threads, what "auto" uses under the simulator (which runs each thread in Python).
CONFIGS = {
    "large": TileConfig(128, 128, 8, 8, 8),
    "small": TileConfig(32, 32, 16, 4, 4),
    "narrow": TileConfig(16, 16, 16, 2, 2),
    "tiny": TileConfig(16, 16, 8, 4, 4),
}


@cache
def kernel(dtype: Any, cfg: TileConfig) -> Any:
    """The GEMM kernel for ``dtype`` and tile config ``cfg`` (compiled on first launch)."""
    t = scalar_type(dtype)
    bm, bn, bk, tm, tn = cfg
    tx_n, ty_n = cfg.threads
    nt = tx_n * ty_n
    if bm * bk % nt or bk * bn % nt:
        raise ValueError(f"tile config {cfg} does not split evenly over {nt} threads")
    loads_a = bm * bk // nt
    loads_b = bk * bn // nt
    zero = t(0)
    _, act_forward, _ = device_functions(dtype)

    @cuda.jit(device=True)
    def tile_index(idx, trans, rows):
        """(k, row-or-col) in the staged tile of the element a thread's idx-th load covers:
        ``trans`` tells whether the operand is stored k-major (consecutive threads walk the
        rows of op(X)) or row-major (consecutive threads walk k)."""
        if trans:
            kk = idx // rows
            return kk, idx - kk * rows
        mm = idx // bk
        return idx - mm * bk, mm

    @cuda.jit(device=True)
    def fetch(a, b, pa, pb, k0, tid, row0, col0, m, n, k, trans_a, trans_b):
        """Global -> registers: this thread's share of op(A)[row0:, k0:] and op(B)[k0:, col0:]
        (zero outside the matrices)."""
        for s in range(loads_a):
            kk, mm = tile_index(tid + s * nt, trans_a, bm)
            r = row0 + mm
            q = k0 + kk
            if r < m and q < k:
                pa[s] = a[q, r] if trans_a else a[r, q]
            else:
                pa[s] = zero
        for s in range(loads_b):
            kk, nn = tile_index(tid + s * nt, not trans_b, bn)
            col = col0 + nn
            q = k0 + kk
            if col < n and q < k:
                pb[s] = b[col, q] if trans_b else b[q, col]
            else:
                pb[s] = zero

    @cuda.jit(device=True)
    def stash(a_s, b_s, pa, pb, tid, trans_a, trans_b):
        """Registers -> shared memory, both tiles k-major."""
        for s in range(loads_a):
            kk, mm = tile_index(tid + s * nt, trans_a, bm)
            a_s[kk, mm] = pa[s]
        for s in range(loads_b):
            kk, nn = tile_index(tid + s * nt, not trans_b, bn)
            b_s[kk, nn] = pb[s]

    @cuda.jit
    def gemm_kernel(a, b, c, trans_a, trans_b, alpha, beta, bias, has_bias, code, p):
        a_s = cuda.shared.array((bk, bm), dtype=t)
        b_s = cuda.shared.array((bk, bn), dtype=t)
        acc = cuda.local.array((tm, tn), dtype=t)
        ra = cuda.local.array(tm, dtype=t)
        rb = cuda.local.array(tn, dtype=t)
        pa = cuda.local.array(loads_a, dtype=t)
        pb = cuda.local.array(loads_b, dtype=t)
        m = c.shape[0]
        n = c.shape[1]
        k = a.shape[0] if trans_a else a.shape[1]
        # The masks are no-ops that tell LLVM the indices are non-negative, which removes
        # Numba's negative-index wraparound arithmetic from every shared-memory access.
        tx = cuda.threadIdx.x & 1023
        ty = cuda.threadIdx.y & 1023
        tid = ty * tx_n + tx
        row0 = (cuda.blockIdx.y & 0x7FFFFFFF) * bm
        col0 = (cuda.blockIdx.x & 0x7FFFFFFF) * bn
        for i in range(tm):
            for j in range(tn):
                acc[i, j] = zero
        fetch(a, b, pa, pb, 0, tid, row0, col0, m, n, k, trans_a, trans_b)
        for k0 in range(0, k, bk):
            stash(a_s, b_s, pa, pb, tid, trans_a, trans_b)
            cuda.syncthreads()
            if k0 + bk < k:  # next tile's loads overlap this tile's arithmetic
                fetch(a, b, pa, pb, k0 + bk, tid, row0, col0, m, n, k, trans_a, trans_b)
            for kk in range(bk):
                for i in range(tm):
                    ra[i] = a_s[kk, ty + i * ty_n]
                for j in range(tn):
                    rb[j] = b_s[kk, tx + j * tx_n]
                for i in range(tm):
                    for j in range(tn):
                        acc[i, j] += ra[i] * rb[j]
            cuda.syncthreads()
        for i in range(tm):
            r = row0 + ty + i * ty_n
            if r < m:
                for j in range(tn):
                    col = col0 + tx + j * tx_n
                    if col < n:
                        v = alpha * acc[i, j]
                        if beta != zero:
                            v += beta * c[r, col]
                        if has_bias:
                            v += bias[col]
                        c[r, col] = act_forward(code, v, p)

    return gemm_kernel


def choose_config(m: int, n: int, sms: int) -> TileConfig:
    """The biggest tile that still gives every multiprocessor a block (more work per thread
    wins once the GPU is full); the narrow tile when none does (``sms == 0``: the simulator,
    which gets the tiny tile)."""
    if sms <= 0:
        return CONFIGS["tiny"]
    for name in ("large", "small"):
        cfg = CONFIGS[name]
        if -(-m // cfg.bm) * -(-n // cfg.bn) >= sms:
            return cfg
    return CONFIGS["narrow"]


def launch(a: Any, b: Any, c: Any, trans_a: bool, trans_b: bool, alpha: Any, beta: Any,
           bias: Any, code: int, p: Any, cfg: TileConfig) -> None:
    """Run ``c = act(alpha op(a) op(b) + beta c + bias)`` on device arrays (no checks).

    ``bias`` is a 1-D device array of length n, or None; scalars are of the array dtype.
    """
    m, n = c.shape
    kern = kernel(c.dtype, cfg)
    grid = (-(-n // cfg.bn), -(-m // cfg.bm))
    has_bias = bias is not None
    if not has_bias:
        bias = c.reshape(c.size) if c.size else c
    kern[grid, cfg.threads](a, b, c, bool(trans_a), bool(trans_b), alpha, beta,
                            bias, has_bias, int(code), p)
