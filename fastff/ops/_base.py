"""Input checks shared by the op modules: plain values, dtypes, axes, broadcasting errors."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.ops.tape import OpsError, value_of

_SCALARS = (bool, int, float)


def val(x: Any, op: str) -> Any:
    """The plain value of an op argument: an ndarray, or a Python scalar kept as is (so
    ``x * 2.0`` stays float32, as NumPy's weak scalars do). Object/string arrays refused."""
    v = x if type(x) is np.ndarray else value_of(x)
    if type(v) is np.ndarray:
        k = v.dtype.kind
        if k in "OSUVMm":
            raise TypeError(f"fastff.ops.{op}: arrays of dtype {v.dtype} are not supported "
                            "(numeric arrays only)")
        return v
    if isinstance(v, _SCALARS):
        return v
    if isinstance(v, complex):
        return v
    if isinstance(v, np.generic):
        return val(np.asarray(v), op)
    if isinstance(v, str) or v is None:
        raise TypeError(f"fastff.ops.{op}: expected an array or a number, got "
                        f"{type(v).__name__} {v!r}")
    if hasattr(v, "copy_to_host"):
        v = v.copy_to_host()
    return val(np.asarray(_plain_nested(v)), op)


def _plain_nested(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain_nested(a) for a in v]
    return value_of(v)


def shape_of(v: Any) -> tuple[int, ...]:
    return np.shape(v)


def broadcast_error(op: str, shapes: list) -> OpsError:
    return OpsError(f"fastff.ops.{op}: shapes {' and '.join(str(tuple(s)) for s in shapes)} "
                    "cannot be broadcast together")


def norm_axes(axis: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """``axis`` (None, an int or a sequence) as a sorted tuple of non-negative axes."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"fastff.ops.{op}: axis must be an int or a tuple of ints, "
                            f"got {axis!r}")
        if not -ndim <= a < max(ndim, 1) or (ndim == 0 and a not in (0, -1)):
            raise OpsError(f"fastff.ops.{op}: axis {a} is out of range for an array of "
                           f"rank {ndim}")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise OpsError(f"fastff.ops.{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def expand_reduced(g: np.ndarray, axes: tuple[int, ...] | None, ndim: int,
                   keepdims: bool) -> np.ndarray:
    """A reduction's output gradient with the reduced axes put back (size 1)."""
    if keepdims or ndim == 0:
        return g
    if axes is None:
        return np.reshape(g, (1,) * ndim)
    return np.expand_dims(g, axes)


def float_dtype(dtype: Any) -> np.dtype:
    """``dtype`` or Keras's default float (``fastff.config.floatx()``)."""
    from fastff import config

    return np.dtype(config.floatx() if dtype is None else dtype)
