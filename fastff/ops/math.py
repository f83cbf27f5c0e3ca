"""Math ops (``keras.ops`` names): elementwise arithmetic, matmul/dot, reductions."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.ops._base import broadcast_error, expand_reduced, norm_axes, val
from fastff.ops.tape import OpsError, record

__all__ = ["add", "subtract", "multiply", "divide", "true_divide", "negative", "power",
           "matmul", "dot", "sum", "mean", "max", "min", "var", "std", "square", "sqrt",
           "exp", "log", "log1p", "expm1", "abs", "absolute", "sign", "clip", "maximum",
           "minimum", "where", "erf", "norm", "reciprocal", "einsum"]


def _binary(name: str, f: Any, x: Any, y: Any, vjp: Any) -> Any:
    a, b = val(x, name), val(y, name)
    try:
        out = f(a, b)
    except ValueError:
        raise broadcast_error(name, [np.shape(a), np.shape(b)]) from None
    return record(name, out, (x, y), vjp(a, b, out))


# ---------------------------------------------------------------------------- arithmetic
def add(x1: Any, x2: Any) -> Any:
    return _binary("add", np.add, x1, x2, lambda a, b, o: lambda g, n: (g, g))


def subtract(x1: Any, x2: Any) -> Any:
    return _binary("subtract", np.subtract, x1, x2,
                   lambda a, b, o: lambda g, n: (g, -g if n[1] else None))


def multiply(x1: Any, x2: Any) -> Any:
    return _binary("multiply", np.multiply, x1, x2, lambda a, b, o: lambda g, n: (
        g * b if n[0] else None, g * a if n[1] else None))


def divide(x1: Any, x2: Any) -> Any:
    return _binary("divide", np.true_divide, x1, x2, lambda a, b, o: lambda g, n: (
        g / b if n[0] else None, -g * o / b if n[1] else None))


true_divide = divide


def negative(x: Any) -> Any:
    a = val(x, "negative")
    return record("negative", np.negative(a), (x,), lambda g, n: (-g,))


def power(x1: Any, x2: Any) -> Any:
    def vjp(a, b, o):
        def f(g, n):
            da = g * b * np.power(a, b - 1) if n[0] else None
            db = None
            if n[1]:
                with np.errstate(divide="ignore", invalid="ignore"):
                    db = g * o * np.where(np.asarray(a) > 0, np.log(np.where(
                        np.asarray(a) > 0, a, 1)), 0)
            return da, db
        return f

    return _binary("power", np.power, x1, x2, vjp)


def square(x: Any) -> Any:
    a = val(x, "square")
    return record("square", np.square(a), (x,), lambda g, n: (2 * g * a,))


def sqrt(x: Any) -> Any:
    a = val(x, "sqrt")
    o = np.sqrt(a)
    return record("sqrt", o, (x,), lambda g, n: (g / (2 * o),))


def reciprocal(x: Any) -> Any:
    a = val(x, "reciprocal")
    o = np.reciprocal(np.asarray(a, dtype=np.result_type(a, np.float16)))
    return record("reciprocal", o, (x,), lambda g, n: (-g * o * o,))


def exp(x: Any) -> Any:
    a = val(x, "exp")
    o = np.exp(a)
    return record("exp", o, (x,), lambda g, n: (g * o,))


def expm1(x: Any) -> Any:
    a = val(x, "expm1")
    o = np.expm1(a)
    return record("expm1", o, (x,), lambda g, n: (g * (o + 1),))


def log(x: Any) -> Any:
    a = val(x, "log")
    return record("log", np.log(a), (x,), lambda g, n: (g / a,))


def log1p(x: Any) -> Any:
    a = val(x, "log1p")
    return record("log1p", np.log1p(a), (x,), lambda g, n: (g / (1 + a),))


def abs(x: Any) -> Any:  # noqa: A001 (Keras's name)
    a = val(x, "abs")
    return record("abs", np.abs(a), (x,), lambda g, n: (g * np.sign(a),))


absolute = abs


def sign(x: Any) -> Any:
    a = val(x, "sign")
    return record("sign", np.sign(a), (x,), lambda g, n: (np.zeros_like(g),))


def erf(x: Any) -> Any:
    from scipy.special import erf as _erf

    a = val(x, "erf")
    o = _erf(a)
    return record("erf", o, (x,),
                  lambda g, n: (g * (2.0 / np.sqrt(np.pi)) * np.exp(-np.square(a)),))


def clip(x: Any, x_min: Any, x_max: Any) -> Any:
    a = val(x, "clip")
    lo = val(x_min, "clip") if x_min is not None else None
    hi = val(x_max, "clip") if x_max is not None else None
    try:
        o = np.clip(a, lo, hi)
    except ValueError:
        raise broadcast_error("clip", [np.shape(a), np.shape(lo), np.shape(hi)]) from None

    def vjp(g, n):
        inside = np.ones(np.shape(o), dtype=bool)
        if lo is not None:
            inside &= a >= lo
        if hi is not None:
            inside &= a <= hi
        dlo = g * (a < lo) if n[1] else None
        dhi = g * (a > hi) if n[2] else None
        return g * inside, dlo, dhi

    return record("clip", o, (x, x_min, x_max), vjp)


def maximum(x1: Any, x2: Any) -> Any:
    return _binary("maximum", np.maximum, x1, x2, lambda a, b, o: lambda g, n: (
        g * (a >= b) if n[0] else None, g * (a < b) if n[1] else None))


def minimum(x1: Any, x2: Any) -> Any:
    return _binary("minimum", np.minimum, x1, x2, lambda a, b, o: lambda g, n: (
        g * (a <= b) if n[0] else None, g * (a > b) if n[1] else None))


def where(condition: Any, x1: Any = None, x2: Any = None) -> Any:
    """``x1`` where ``condition`` else ``x2`` (the condition gets no gradient)."""
    c = np.asarray(val(condition, "where"))
    if x1 is None and x2 is None:
        return np.nonzero(c)
    if x1 is None or x2 is None:
        raise OpsError("fastff.ops.where: give both x1 and x2, or neither")
    a, b = val(x1, "where"), val(x2, "where")
    try:
        o = np.where(c, a, b)
    except ValueError:
        raise broadcast_error("where", [c.shape, np.shape(a), np.shape(b)]) from None
    return record("where", o, (condition, x1, x2), lambda g, n: (
        None, np.where(c, g, 0) if n[1] else None, np.where(c, 0, g) if n[2] else None))


# ---------------------------------------------------------------------------- products
def _promote(a: np.ndarray, b: np.ndarray) -> tuple:
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    return a2, b2


_GEMM_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _gemm(a: np.ndarray, b: np.ndarray, trans_a: bool = False, trans_b: bool = False,
          sparse_a: bool = False, out: np.ndarray | None = None) -> np.ndarray | None:
    """``op(a) @ op(b)`` through fastff's C GEMM (the kernel Dense uses) for 2-D C-contiguous
    float32/float64 operands of one dtype; None when NumPy must do it."""
    if (a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype not in _GEMM_DTYPES
            or not a.flags.c_contiguous or not b.flags.c_contiguous):
        return None
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    kb, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if k != kb or not (m and n and k):
        return None
    from fastff.linalg import gemm_into

    if out is None or out.shape != (m, n) or out.dtype != a.dtype:
        out = np.empty((m, n), a.dtype)
    return gemm_into(a, b, out, trans_a, trans_b, 1.0, 0.0, None, 0, 0.0, sparse_a)


def matmul(x1: Any, x2: Any) -> Any:
    """Matrix product with NumPy's ``matmul`` rules (1-D promoted, batch axes broadcast);
    2-D float products run fastff's C GEMM (mostly-zero inputs skipped, as in Dense)."""
    a, b = np.asarray(val(x1, "matmul")), np.asarray(val(x2, "matmul"))
    if a.ndim == 0 or b.ndim == 0:
        raise OpsError(f"fastff.ops.matmul: inputs must have at least one dimension, got "
                       f"shapes {a.shape} and {b.shape} (use multiply for scalars)")
    o = _gemm(a, b, sparse_a=True)
    if o is None:
        try:
            o = np.matmul(a, b)
        except ValueError:
            raise OpsError(f"fastff.ops.matmul: shapes {a.shape} and {b.shape} are "
                           f"incompatible (inner dimensions {a.shape[-1]} and "
                           f"{b.shape[-2] if b.ndim > 1 else b.shape[0]})") from None

    def vjp(g, n, outs=(None, None)):
        if a.ndim == 2 and b.ndim == 2:
            g = np.ascontiguousarray(g)
            da = _gemm(g, b, trans_b=True, out=outs[0]) if n[0] else None
            db = _gemm(a, g, trans_a=True, sparse_a=True, out=outs[1]) if n[1] else None
            if (da is not None or not n[0]) and (db is not None or not n[1]):
                return da, db
        a2, b2 = _promote(a, b)
        g2 = np.reshape(g, np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
                        + (a2.shape[-2], b2.shape[-1]))
        da = db = None
        if n[0]:
            da = np.matmul(g2, np.swapaxes(b2, -1, -2))
            da = _reduce_to(da, a2.shape).reshape(a.shape)
        if n[1]:
            db = np.matmul(np.swapaxes(a2, -1, -2), g2)
            db = _reduce_to(db, b2.shape).reshape(b.shape)
        return da, db

    return record("matmul", o, (x1, x2), vjp, takes_out=True)


def _reduce_to(d: np.ndarray, shape: tuple) -> np.ndarray:
    from fastff.ops.tape import _unbroadcast

    return _unbroadcast(d, tuple(shape), "matmul")


def dot(x1: Any, x2: Any) -> Any:
    """``np.dot``: a product by a scalar, or a matrix product when ``x2`` has rank ≤ 2."""
    a, b = np.asarray(val(x1, "dot")), np.asarray(val(x2, "dot"))
    if a.ndim == 0 or b.ndim == 0:
        return multiply(x1, x2)
    if b.ndim > 2:
        raise OpsError(f"fastff.ops.dot: x2 of rank {b.ndim} (shape {b.shape}) is not "
                       "supported; use matmul or einsum")
    if a.ndim == 1 and b.ndim == 1:
        if a.shape != b.shape:
            raise OpsError(f"fastff.ops.dot: shapes {a.shape} and {b.shape} are incompatible")
        return sum(multiply(x1, x2))
    return matmul(x1, x2)


# ---------------------------------------------------------------------------- reductions
def _count(shape: tuple, axes: tuple | None) -> int:
    if axes is None:
        return int(np.prod(shape, dtype=np.int64))
    return int(np.prod([shape[i] for i in axes], dtype=np.int64))


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    a = np.asarray(val(x, "sum"))
    axes = norm_axes(axis, a.ndim, "sum")
    o = np.sum(a, axis=axes, keepdims=keepdims)
    return record("sum", o, (x,), lambda g, n: (
        np.broadcast_to(expand_reduced(g, axes, a.ndim, keepdims), a.shape),))


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    a = np.asarray(val(x, "mean"))
    axes = norm_axes(axis, a.ndim, "mean")
    o = np.mean(a, axis=axes, keepdims=keepdims)
    cnt = _count(a.shape, axes)
    return record("mean", o, (x,), lambda g, n: (
        np.broadcast_to(expand_reduced(g, axes, a.ndim, keepdims) / cnt, a.shape),))


def _extremum(name: str, f: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    a = np.asarray(val(x, name))
    axes = norm_axes(axis, a.ndim, name)
    if a.size == 0:
        raise OpsError(f"fastff.ops.{name}: empty array of shape {a.shape} has no {name}")
    o = f(a, axis=axes, keepdims=keepdims)

    def vjp(g, n):  # ties share the gradient equally (as TensorFlow)
        ok = expand_reduced(np.asarray(o), axes, a.ndim, keepdims)
        mask = a == ok
        cnt = np.sum(mask, axis=axes, keepdims=True)
        return (mask * (expand_reduced(g, axes, a.ndim, keepdims) / cnt),)

    return record(name, o, (x,), vjp)


def max(x: Any, axis: Any = None, keepdims: bool = False, initial: Any = None) -> Any:  # noqa: A001
    if initial is not None:
        return maximum(_extremum("max", np.max, x, axis, keepdims), initial)
    return _extremum("max", np.max, x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False, initial: Any = None) -> Any:  # noqa: A001
    if initial is not None:
        return minimum(_extremum("min", np.min, x, axis, keepdims), initial)
    return _extremum("min", np.min, x, axis, keepdims)


def var(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
    a = np.asarray(val(x, "var"))
    axes = norm_axes(axis, a.ndim, "var")
    o = np.var(a, axis=axes, keepdims=keepdims, ddof=ddof)
    cnt = _count(a.shape, axes) - ddof

    def vjp(g, n):
        c = a - np.mean(a, axis=axes, keepdims=True)
        return (expand_reduced(g, axes, a.ndim, keepdims) * (2.0 / cnt) * c,)

    return record("var", o, (x,), vjp)


def std(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
    a = np.asarray(val(x, "std"))
    axes = norm_axes(axis, a.ndim, "std")
    o = np.std(a, axis=axes, keepdims=keepdims, ddof=ddof)
    cnt = _count(a.shape, axes) - ddof

    def vjp(g, n):
        c = a - np.mean(a, axis=axes, keepdims=True)
        ok = expand_reduced(np.asarray(o), axes, a.ndim, keepdims)
        return (expand_reduced(g, axes, a.ndim, keepdims) * c / (cnt * ok),)

    return record("std", o, (x,), vjp)


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """Vector norms (``ord`` None/2/"fro": Euclidean, 1, inf) over ``axis`` (None: all)."""
    a = np.asarray(val(x, "norm"))
    if ord in (None, 2, "fro", "euclidean"):
        axes = norm_axes(axis, a.ndim, "norm")
        o = np.sqrt(np.sum(np.square(a), axis=axes, keepdims=keepdims))

        def vjp(g, n):
            ok = expand_reduced(o, axes, a.ndim, keepdims)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(ok > 0, a / np.where(ok > 0, ok, 1), 0)
            return (expand_reduced(g, axes, a.ndim, keepdims) * r,)

        return record("norm", o, (x,), vjp)
    if ord == 1:
        return sum(abs(x), axis=axis, keepdims=keepdims)
    if ord in (np.inf, "inf"):
        return max(abs(x), axis=axis, keepdims=keepdims)
    raise OpsError(f"fastff.ops.norm: ord={ord!r} is not supported (None, 2, 'fro', 1, inf)")



def einsum(subscripts: str, *operands: Any) -> Any:
    """``np.einsum``; the gradient covers explicit or implicit subscripts without ``...``
    and without an index repeated inside one operand (those still compute, but have no
    gradient)."""
    if not isinstance(subscripts, str):
        raise TypeError(f"fastff.ops.einsum: subscripts must be a string, got "
                        f"{type(subscripts).__name__}")
    vals = [np.asarray(val(x, "einsum")) for x in operands]
    try:
        o = np.einsum(subscripts, *vals)
    except ValueError as e:
        raise OpsError(f"fastff.ops.einsum: {subscripts!r} with shapes "
                       f"{' and '.join(str(v.shape) for v in vals)}: {e}") from None
    spec = subscripts.replace(" ", "")
    lhs, _, out = spec.partition("->")
    ins = lhs.split(",")
    if "->" not in spec:  # NumPy's implicit output: the indices used once, sorted
        out = "".join(sorted(c for c in set(lhs) if c != "," and lhs.count(c) == 1))
    if "." in spec or any(len(set(s)) != len(s) for s in ins) or len(ins) != len(vals):
        return record(f"einsum({subscripts!r})", o, tuple(operands), None)

    def vjp(g, n):
        grads = []
        for i, sub in enumerate(ins):
            if not n[i]:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(ins) if j != i]
            avail = set(out).union(*others)
            keep = "".join(c for c in sub if c in avail)
            d = np.einsum(",".join([out, *others]) + "->" + keep, g,
                          *[v for j, v in enumerate(vals) if j != i])
            shape = [vals[i].shape[k] if c in avail else 1 for k, c in enumerate(sub)]
            grads.append(np.broadcast_to(np.reshape(d, shape), vals[i].shape))
        return grads

    return record("einsum", o, tuple(operands), vjp)
