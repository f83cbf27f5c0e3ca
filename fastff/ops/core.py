"""Creation, conversion and non-differentiable ops (``keras.ops`` names)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.ops._base import float_dtype, norm_axes, val
from fastff.ops.tape import OpsError, Tensor, record, value_of

__all__ = ["cast", "convert_to_tensor", "convert_to_numpy", "stop_gradient", "zeros", "ones",
           "zeros_like", "ones_like", "full", "full_like", "argmax", "argmin", "identity",
           "shape", "equal", "not_equal", "greater", "greater_equal", "less", "less_equal",
           "logical_and", "logical_or", "logical_not", "isnan", "isfinite", "floor", "round",
           "arange", "eye"]


def _standard_dtype(dtype: Any, op: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"fastff.ops.{op}: unknown dtype {dtype!r}") from None
    if dt.kind in "OSUVMm":
        raise TypeError(f"fastff.ops.{op}: dtype {dt} is not supported (numeric only)")
    return dt


def cast(x: Any, dtype: Any) -> Any:
    """``x`` as ``dtype``; float→float keeps the gradient, a cast to ints/bools ends it."""
    a = np.asarray(val(x, "cast"))
    dt = _standard_dtype(dtype, "cast")
    if a.dtype == dt:
        return x if isinstance(x, (Tensor, np.ndarray)) else a
    o = a.astype(dt)
    src = a.dtype
    return record("cast", o, (x,), lambda g, n: (g.astype(src) if src.kind == "f" else None,))


def identity(x: Any) -> Any:
    a = np.asarray(val(x, "identity"))
    return record("identity", a.copy(), (x,), lambda g, n: (g,))


def convert_to_tensor(x: Any, dtype: Any = None, sparse: Any = None) -> Any:
    """An array (a recorded ``x`` is returned as is); Python floats become ``floatx()``."""
    if sparse:
        raise OpsError("fastff.ops.convert_to_tensor: sparse tensors are not supported")
    if isinstance(x, Tensor) or getattr(x, "_fastff_variable", False):
        return x if dtype is None else cast(x, dtype)
    v = val(x, "convert_to_tensor")
    if dtype is None:
        if isinstance(v, float) or (isinstance(v, np.ndarray) and v.dtype.kind == "f"
                                    and not isinstance(x, np.ndarray)):
            dtype = float_dtype(None)  # Python floats/lists: Keras's default float
        return np.asarray(v, dtype=dtype)
    return np.asarray(v, dtype=_standard_dtype(dtype, "convert_to_tensor"))


def convert_to_numpy(x: Any) -> np.ndarray:
    """A plain NumPy copy (no gradient flows through it)."""
    v = value_of(x)
    if hasattr(v, "copy_to_host"):
        return v.copy_to_host()
    return np.array(v, copy=True)


def stop_gradient(x: Any) -> Any:
    """The value of ``x`` as a constant: no gradient flows back through it."""
    v = value_of(x)
    return np.asarray(v) if not isinstance(v, (int, float)) else v


def shape(x: Any) -> tuple[int, ...]:
    return tuple(np.shape(value_of(x)))


def zeros(shape: Any, dtype: Any = None) -> np.ndarray:
    return np.zeros(shape, dtype=float_dtype(dtype))


def ones(shape: Any, dtype: Any = None) -> np.ndarray:
    return np.ones(shape, dtype=float_dtype(dtype))


def full(shape: Any, fill_value: Any, dtype: Any = None) -> np.ndarray:
    return np.full(shape, value_of(fill_value), dtype=float_dtype(dtype))


def _like_dtype(x: Any, dtype: Any) -> np.dtype:
    return np.asarray(value_of(x)).dtype if dtype is None else _standard_dtype(dtype, "like")


def zeros_like(x: Any, dtype: Any = None) -> np.ndarray:
    return np.zeros(np.shape(value_of(x)), dtype=_like_dtype(x, dtype))


def ones_like(x: Any, dtype: Any = None) -> np.ndarray:
    return np.ones(np.shape(value_of(x)), dtype=_like_dtype(x, dtype))


def full_like(x: Any, fill_value: Any, dtype: Any = None) -> np.ndarray:
    return np.full(np.shape(value_of(x)), value_of(fill_value), dtype=_like_dtype(x, dtype))


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None) -> np.ndarray:
    return np.arange(start, stop, step, dtype=dtype)


def eye(n: int, m: int | None = None, k: int = 0, dtype: Any = None) -> np.ndarray:
    return np.eye(n, m, k, dtype=float_dtype(dtype))


def argmax(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    a = np.asarray(val(x, "argmax"))
    if axis is not None:
        axis = norm_axes(axis, a.ndim, "argmax")[0]  # type: ignore[index]
    return np.asarray(np.argmax(a, axis=axis, keepdims=keepdims))


def argmin(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    a = np.asarray(val(x, "argmin"))
    if axis is not None:
        axis = norm_axes(axis, a.ndim, "argmin")[0]  # type: ignore[index]
    return np.asarray(np.argmin(a, axis=axis, keepdims=keepdims))


def _compare(name: str, f: Any) -> Any:
    def op(x1: Any, x2: Any) -> np.ndarray:
        a, b = val(x1, name), val(x2, name)
        try:
            return np.asarray(f(a, b))
        except ValueError:
            from fastff.ops._base import broadcast_error

            raise broadcast_error(name, [np.shape(a), np.shape(b)]) from None

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``{f.__name__}`` (bool result, no gradient)."
    return op


equal = _compare("equal", np.equal)
not_equal = _compare("not_equal", np.not_equal)
greater = _compare("greater", np.greater)
greater_equal = _compare("greater_equal", np.greater_equal)
less = _compare("less", np.less)
less_equal = _compare("less_equal", np.less_equal)
logical_and = _compare("logical_and", np.logical_and)
logical_or = _compare("logical_or", np.logical_or)


def logical_not(x: Any) -> np.ndarray:
    return np.logical_not(val(x, "logical_not"))


def isnan(x: Any) -> np.ndarray:
    return np.isnan(val(x, "isnan"))


def isfinite(x: Any) -> np.ndarray:
    return np.isfinite(val(x, "isfinite"))


def floor(x: Any) -> Any:
    """Rounding down; its gradient is zero almost everywhere (as in TensorFlow)."""
    a = val(x, "floor")
    return record("floor", np.floor(a), (x,), lambda g, n: (np.zeros_like(g),))


def round(x: Any, decimals: int = 0) -> Any:  # noqa: A001 (Keras's name)
    a = val(x, "round")
    return record("round", np.round(a, decimals), (x,), lambda g, n: (np.zeros_like(g),))
