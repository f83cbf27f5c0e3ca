"""GEMM with a fused epilogue over the C core: ``C = act(alpha*op(A)@op(B) + beta*C + bias)``.

Two entry points:

* :func:`gemm` - the checked public one: validates shapes, dtypes, memory layout and aliasing
  and raises ``TypeError``/``ValueError`` naming the offending argument. Strided row-major
  views and Fortran-order arrays are passed to C through leading dimensions / transposition
  without copying; anything else (negative or element-granular strides, misaligned data) is
  copied first - never misread.
* :func:`gemm_into` - the unchecked hot-path entry for fastff's own kernels (a few hundred
  nanoseconds per call). The caller guarantees C-contiguous float32/float64 arrays of one dtype.
"""

from __future__ import annotations

import numbers

import numpy as np

from fastff._core import ffi, lib
from fastff.backend import spec

__all__ = ["ACTIVATIONS", "GemmError", "gemm", "gemm_into", "activation_id", "kernel_name"]

#: Activation names accepted by :func:`gemm`, mapped to the C core's ids (backend/spec.py:
#: "gelu" is exact, "gelu_tanh" the tanh approximation).
ACTIVATIONS: dict[str, int] = {"none": lib.FASTFF_ACT_NONE, **spec.c_ids()}
_SLOPE = spec.param_default("leaky_relu")  # Keras's defaults, as fastff.activations
_ELU_ALPHA = spec.param_default("elu")

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


class GemmError(RuntimeError):
    """The C core refused a call (its error code and message are attached)."""

    def __init__(self, code: int) -> None:
        self.code = int(code)
        text = ffi.string(lib.fastff_strerror(code)).decode()
        super().__init__(f"fastff C core error {code}: {text}")


def kernel_name() -> str:
    """Name of the microkernel set the C core uses now (``ref``, ``avx2`` or ``avx512``)."""
    return ffi.string(lib.fastff_kernel_name()).decode()


def activation_id(activation: str | None, negative_slope: float = _SLOPE,
                  elu_alpha: float = _ELU_ALPHA) -> tuple[int, float]:
    """``(act_id, act_param)`` for :func:`gemm_into` from an activation name."""
    if activation is None:
        return lib.FASTFF_ACT_NONE, 0.0
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(
            f"activation must be None or one of {sorted(ACTIVATIONS)}, got {activation!r}")
    act = ACTIVATIONS[activation]
    if act == lib.FASTFF_ACT_LEAKY_RELU:
        return act, _real(negative_slope, "negative_slope")
    if act == lib.FASTFF_ACT_ELU:
        return act, _real(elu_alpha, "elu_alpha")
    return act, 0.0


def _real(x: object, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    return float(x)


def _flag(x: object, name: str) -> int:
    if isinstance(x, (bool, np.bool_)) or (isinstance(x, numbers.Integral) and x in (0, 1)):
        return int(x)
    raise TypeError(f"{name} must be a bool, got {x!r}")


def _as_matrix(x: object, name: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype not in (_F32, _F64):
        raise TypeError(f"{name} must have dtype float32 or float64 (native byte order), "
                        f"got {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got {x.ndim}-D with shape {x.shape}")
    return x


def _operand(x: np.ndarray) -> tuple[np.ndarray, int, bool]:
    """``(array, ld, flipped)``: a row-major view of x (``flipped`` means it is x.T) with its
    leading dimension, copying only when no such view exists."""
    rows, cols = x.shape
    it = x.itemsize
    s0, s1 = x.strides
    if x.flags.aligned and x.size > 0:
        if (cols <= 1 or s1 == it) and (rows <= 1 or (s0 > 0 and s0 % it == 0
                                                       and s0 // it >= cols)):
            return x, (s0 // it if rows > 1 else max(1, cols)), False
        if (rows <= 1 or s0 == it) and (cols <= 1 or (s1 > 0 and s1 % it == 0
                                                       and s1 // it >= rows)):
            return x.T, (s1 // it if cols > 1 else max(1, rows)), True
    x = np.require(x, requirements="CA")  # copies: ascontiguousarray keeps misaligned data
    return x, max(1, cols), False


def _ptr(x: np.ndarray | None) -> object:
    """A void pointer to x's first element (from_buffer when contiguous: much cheaper)."""
    if x is None:
        return ffi.NULL
    if x.flags.c_contiguous:
        return ffi.from_buffer(x)
    return ffi.cast("void *", x.ctypes.data)


def gemm(a: np.ndarray, b: np.ndarray, *, out: np.ndarray | None = None, alpha: float = 1.0,
         beta: float = 0.0, trans_a: bool = False, trans_b: bool = False,
         bias: np.ndarray | None = None, activation: str | None = None,
         negative_slope: float = _SLOPE, elu_alpha: float = _ELU_ALPHA,
         sparse_a: bool = False) -> np.ndarray:
    """``act(alpha * op(a) @ op(b) + beta * out + bias)``, written into ``out`` and returned.

    ``op(x)`` is ``x.T`` when the matching ``trans_*`` flag is set. ``a`` and ``b`` are 2-D
    float32 or float64 arrays of one dtype; ``op(a)`` is m x k and ``op(b)`` k x n. ``bias``
    is ``None`` or n values (one per output column). ``activation``: ``None``/``"linear"``,
    ``"relu"``, ``"leaky_relu"`` (``negative_slope``), ``"tanh"``, ``"sigmoid"``, ``"elu"``
    (``elu_alpha``), ``"gelu"`` (exact, ``0.5 x (1 + erf(x/√2))``, as
    ``fastff.activations.gelu``) or ``"gelu_tanh"`` (the tanh approximation); the parameter
    defaults are Keras's (slope 0.2, alpha 1). ``out`` (optional unless ``beta != 0``) must be
    a C-contiguous, writeable m x n array of the same dtype that shares no memory with ``a``,
    ``b`` or ``bias``. When ``beta == 0`` the old content of ``out`` is
    ignored (NaN there does not propagate). Results are bitwise identical for any thread count.
    ``sparse_a=True`` says ``op(a)`` may be mostly zeros (pixels, one-hot features): the core
    samples its density and, when low, multiplies only the nonzeros - the same bits (for
    finite ``b``), less time.
    """
    a = _as_matrix(a, "a")
    b = _as_matrix(b, "b")
    dtype = a.dtype
    if b.dtype != dtype:
        raise TypeError(f"b has dtype {b.dtype} but a has {dtype}; cast one so both match")
    ta = _flag(trans_a, "trans_a")
    tb = _flag(trans_b, "trans_b")
    m, k = (a.shape[1], a.shape[0]) if ta else a.shape
    kb, n = (b.shape[1], b.shape[0]) if tb else b.shape
    if kb != k:
        raise ValueError(
            f"inner dimensions differ: op(a) is {m}x{k} but op(b) is {kb}x{n} "
            f"(a.shape={a.shape}, trans_a={bool(ta)}, b.shape={b.shape}, trans_b={bool(tb)})")
    alpha = _real(alpha, "alpha")
    beta = _real(beta, "beta")
    act, param = activation_id(activation, negative_slope, elu_alpha)

    if bias is not None:
        if not isinstance(bias, np.ndarray):
            bias = np.asarray(bias)
        if bias.dtype != dtype:
            raise TypeError(f"bias must have dtype {dtype} like a and b, got {bias.dtype}")
        if bias.shape != (n,):
            raise ValueError(f"bias must have shape ({n},) (one value per output column), "
                             f"got {bias.shape}")
        if not (bias.flags.c_contiguous and bias.flags.aligned):
            bias = np.require(bias, requirements="CA")

    if out is None:
        if beta != 0.0:
            raise ValueError("beta != 0 needs out= (the matrix C that beta scales)")
        out = np.empty((m, n), dtype=dtype)
    else:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
        if out.dtype != dtype:
            raise TypeError(f"out must have dtype {dtype} like a and b, got {out.dtype}")
        if out.shape != (m, n):
            raise ValueError(f"out must have shape {(m, n)}, got {out.shape}")
        if not (out.flags.c_contiguous and out.flags.aligned):
            raise ValueError("out must be C-contiguous and aligned (use np.empty((m, n)) or "
                             "np.ascontiguousarray)")
        if not out.flags.writeable:
            raise ValueError("out must be writeable")
        for name, other in (("a", a), ("b", b), ("bias", bias)):
            if other is not None and out.size and np.may_share_memory(out, other):
                raise ValueError(f"out must not share memory with {name}")

    if m == 0 or n == 0:
        return out
    av, lda, fa = _operand(a)
    bv, ldb, fb = _operand(b)
    entry = lib.fastff_gemm_sparse_a if _flag(sparse_a, "sparse_a") else lib.fastff_gemm
    rc = entry(dtype == _F64, ta ^ fa, tb ^ fb, m, n, k, alpha, _ptr(av), lda,
                         _ptr(bv), ldb, beta, _ptr(out), n, _ptr(bias), act, param)
    if rc != 0:
        raise GemmError(rc)
    return out


_from_buffer = ffi.from_buffer
_gemm = lib.fastff_gemm
_gemm_sparse_a = lib.fastff_gemm_sparse_a
_NULL = ffi.NULL


def gemm_into(a: np.ndarray, b: np.ndarray, out: np.ndarray, trans_a: bool = False,
              trans_b: bool = False, alpha: float = 1.0, beta: float = 0.0,
              bias: np.ndarray | None = None, act_id: int = 0,
              act_param: float = 0.0, sparse_a: bool = False) -> np.ndarray:
    """Unchecked :func:`gemm` for fastff's hot paths; returns ``out``.

    The caller guarantees: ``a``, ``b``, ``out`` (and ``bias``) are C-contiguous arrays of one
    dtype, float32 or float64, with matching shapes, ``out`` is writeable and aliases none of
    them. ``act_id``/``act_param`` come from :func:`activation_id`. Non-contiguous arrays
    raise (``ffi.from_buffer`` refuses them) rather than being misread; inconsistent shapes
    are caught by the C core's leading-dimension check only partly - hence "unchecked".
    Cost: one cffi call plus a buffer lookup per array (measured in docs/gemm.md).
    """
    m, n = out.shape
    rc = (_gemm_sparse_a if sparse_a else _gemm)(out.itemsize == 8, trans_a, trans_b, m, n,
               a.shape[0] if trans_a else a.shape[1], alpha, _from_buffer(a), a.shape[1],
               _from_buffer(b), b.shape[1], beta, _from_buffer(out), n,
               _NULL if bias is None else _from_buffer(bias), act_id, act_param)
    if rc:
        raise GemmError(rc)
    return out
