"""The C GEMM core callable from Numba ``@njit`` code (works with ``cache=True``).

``sgemm`` and ``dgemm`` are ``numba.types.ExternalFunction`` objects bound by symbol name to
``fastff_sgemm`` / ``fastff_dgemm`` in the already-built ``fastff._core`` extension, which is
made visible to Numba's JIT linker with ``llvmlite.binding.load_library_permanently``. Cached
machine code refers to the symbol by name, so a fresh process that imports this module
resolves it again (tests/test_native.py checks that across processes).

Arguments, in order (pointers are integer addresses, e.g. ``x.ctypes.data``; 0 = NULL)::

    trans_a, trans_b (int32), m, n, k (int64), alpha (float), a (ptr), lda (int64),
    b (ptr), ldb (int64), beta (float), c (ptr), ldc (int64), bias (ptr or 0),
    act (int32), act_param (float)  ->  int32 error code (0 = ok)

Importing this module imports Numba; ``import fastff`` alone does not.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import binding as _llvm
from numba import types

from fastff import _core, _threading

__all__ = ["sgemm", "dgemm", "sgemm_sparse_a", "dgemm_sparse_a", "gemm_into_nb", "batch_begin",
           "batch_end", "parallel_range", "ERR_SHAPE"]

_llvm.load_library_permanently(_core.__file__)

_i32, _i64, _ptr = types.int32, types.int64, types.uintp


def _signature(real: types.Type) -> types.Type:
    return types.int32(_i32, _i32, _i64, _i64, _i64, real, _ptr, _i64, _ptr, _i64, real, _ptr,
                       _i64, _ptr, _i32, real)


sgemm = types.ExternalFunction("fastff_sgemm", _signature(types.float32))
dgemm = types.ExternalFunction("fastff_dgemm", _signature(types.float64))
#: same arguments and bits; faster when op(a) is mostly zeros (see csrc/sparse.c)
sgemm_sparse_a = types.ExternalFunction("fastff_sgemm_sparse_a", _signature(types.float32))
dgemm_sparse_a = types.ExternalFunction("fastff_dgemm_sparse_a", _signature(types.float64))
#: ``batch_begin()``: this thread's next GEMM calls (up to 4) are checked and recorded;
#: ``batch_end()`` runs them as one parallel call and returns the first error code. They must
#: be independent (none reads another's output); the results are the calls' own bits.
batch_begin = types.ExternalFunction("fastff_batch_begin", types.int32())
batch_end = types.ExternalFunction("fastff_batch_end", types.int32())
#: ``parallel_range(fn, ptrs, sizes, scal, n, align)``: the cfunc at address ``fn`` over
#: pieces of [0, n) on the C core's pool, each under the caller's FP environment (fastff.h)
parallel_range = types.ExternalFunction("fastff_parallel_range",
                                        types.int32(_ptr, _ptr, _ptr, _ptr, _i64, _i64))

#: returned by :func:`gemm_into_nb` for mismatched shapes or non-row-major arrays
ERR_SHAPE = _core.lib.FASTFF_ERR_DIM

_threading.apply_to_numba()


@numba.njit(cache=True, nogil=True)
def _row_major_ld(x):  # pragma: no cover - compiled
    """Leading dimension of a row-major (possibly row-strided) 2-D array, or -1."""
    it = x.itemsize
    if x.shape[1] > 1 and x.strides[1] != it:
        return -1
    if x.shape[0] <= 1:
        return max(1, x.shape[1])
    if x.strides[0] <= 0 or x.strides[0] % it != 0:
        return -1
    return x.strides[0] // it


@numba.njit(cache=True, nogil=True)
def gemm_into_nb(a, b, out, trans_a, trans_b, alpha, beta, bias, act_id, act_param,
                 sparse_a=False):
    """``out = act(alpha*op(a)@op(b) + beta*out + bias)`` from inside njit code.

    a, b, out: 2-D float32 or float64 arrays of one dtype (row-major; rows may be strided);
    bias: None or a contiguous 1-D array of out.shape[1] values. ``sparse_a``: op(a) may be
    mostly zeros (a layer's input), so the C core's sparse-A entry runs (same bits). Returns
    the C error code (0 = ok, ERR_SHAPE for shape/layout mismatch).
    """
    m = out.shape[0]
    n = out.shape[1]
    if trans_a:
        k = a.shape[0]
        am = a.shape[1]
    else:
        k = a.shape[1]
        am = a.shape[0]
    if trans_b:
        kb = b.shape[1]
        bn = b.shape[0]
    else:
        kb = b.shape[0]
        bn = b.shape[1]
    if am != m or bn != n or kb != k:
        return ERR_SHAPE
    lda = _row_major_ld(a)
    ldb = _row_major_ld(b)
    ldc = _row_major_ld(out)
    if lda < 0 or ldb < 0 or ldc < 0:
        return ERR_SHAPE
    bias_ptr = 0
    if bias is not None:
        if bias.shape[0] != n:
            return ERR_SHAPE
        bias_ptr = bias.ctypes.data
    if out.itemsize == 4:
        a32, b32, p32 = np.float32(alpha), np.float32(beta), np.float32(act_param)
        if sparse_a:
            return sgemm_sparse_a(trans_a, trans_b, m, n, k, a32, a.ctypes.data, lda,
                                  b.ctypes.data, ldb, b32, out.ctypes.data, ldc, bias_ptr,
                                  act_id, p32)
        return sgemm(trans_a, trans_b, m, n, k, a32, a.ctypes.data, lda, b.ctypes.data, ldb,
                     b32, out.ctypes.data, ldc, bias_ptr, act_id, p32)
    a64, b64, p64 = np.float64(alpha), np.float64(beta), np.float64(act_param)
    if sparse_a:
        return dgemm_sparse_a(trans_a, trans_b, m, n, k, a64, a.ctypes.data, lda,
                              b.ctypes.data, ldb, b64, out.ctypes.data, ldc, bias_ptr, act_id,
                              p64)
    return dgemm(trans_a, trans_b, m, n, k, a64, a.ctypes.data, lda, b.ctypes.data, ldb, b64,
                 out.ctypes.data, ldc, bias_ptr, act_id, p64)
