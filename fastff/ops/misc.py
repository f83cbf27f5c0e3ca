"""Small ``keras.ops`` helpers: comparisons with tolerance, shape queries, copies, NaN
handling, ``logaddexp``, ``divide_no_nan``, ``diff``, angle conversions, ``vdot``/``inner``,
``unstack``, ``meshgrid``."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.ops._base import broadcast_error, float_dtype, norm_axes, val
from fastff.ops.math import multiply as _multiply
from fastff.ops.math import sum as _sum
from fastff.ops.shape import getitem as _getitem
from fastff.ops.shape import reshape as _reshape
from fastff.ops.tape import record, value_of

__all__ = ["isclose", "allclose", "ndim", "size", "copy", "empty", "empty_like", "nan_to_num",
           "logaddexp", "divide_no_nan", "diff", "deg2rad", "rad2deg", "fabs", "vdot", "inner",
           "unstack", "meshgrid", "signbit", "heaviside", "fliplr", "flipud", "fmax", "fmin",
           "isneginf", "isposinf", "is_tensor", "percentile", "ptp", "in_top_k", "multi_hot"]


def isclose(x1: Any, x2: Any, rtol: float = 1e-5, atol: float = 1e-8,
            equal_nan: bool = False) -> np.ndarray:
    return np.isclose(val(x1, "isclose"), val(x2, "isclose"), rtol, atol, equal_nan)


def allclose(x1: Any, x2: Any, rtol: float = 1e-5, atol: float = 1e-8,
             equal_nan: bool = False) -> np.ndarray:
    return np.asarray(np.allclose(val(x1, "allclose"), val(x2, "allclose"), rtol, atol,
                                  equal_nan))


def ndim(x: Any) -> int:
    return int(np.ndim(value_of(x)))


def size(x: Any) -> int:
    return int(np.size(value_of(x)))


def copy(x: Any) -> Any:
    a = np.asarray(val(x, "copy"))
    return record("copy", a.copy(), (x,), lambda g, n: (g,))


def empty(shape: Any, dtype: Any = None) -> np.ndarray:
    return np.empty(shape, dtype=float_dtype(dtype))


def empty_like(x: Any, dtype: Any = None) -> np.ndarray:
    a = np.asarray(value_of(x))
    return np.empty(a.shape, dtype=a.dtype if dtype is None else np.dtype(dtype))


def nan_to_num(x: Any, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Any:
    """NaN and infinities replaced; the gradient flows through the finite entries only."""
    a = np.asarray(val(x, "nan_to_num"))
    o = np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)
    return record("nan_to_num", o, (x,), lambda g, n: (g * np.isfinite(a),))


def logaddexp(x1: Any, x2: Any) -> Any:
    """``log(exp(x1) + exp(x2))``, stable; its gradient is the two softmax weights."""
    a, b = val(x1, "logaddexp"), val(x2, "logaddexp")
    try:
        o = np.logaddexp(a, b)
    except ValueError:
        raise broadcast_error("logaddexp", [np.shape(a), np.shape(b)]) from None
    return record("logaddexp", o, (x1, x2), lambda g, n: (
        g * np.exp(a - o) if n[0] else None, g * np.exp(b - o) if n[1] else None))


def divide_no_nan(x1: Any, x2: Any) -> Any:
    """``x1 / x2``, and 0 where ``x2 == 0`` (with a zero gradient there)."""
    a, b = val(x1, "divide_no_nan"), val(x2, "divide_no_nan")
    try:
        zero = np.asarray(b) == 0
        safe = np.where(zero, 1, b)
        o = np.where(zero, 0, np.true_divide(a, safe))
    except ValueError:
        raise broadcast_error("divide_no_nan", [np.shape(a), np.shape(b)]) from None
    return record("divide_no_nan", o, (x1, x2), lambda g, n: (
        np.where(zero, 0, g / safe) if n[0] else None,
        np.where(zero, 0, -g * o / safe) if n[1] else None))


def diff(a: Any, n: int = 1, axis: int = -1) -> Any:
    """``n``-th discrete difference along ``axis`` (as NumPy), with its gradient."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"fastff.ops.diff: n must be an int >= 0, got {n!r}")
    out = a
    for _ in range(int(n)):
        v = np.asarray(val(out, "diff"))
        ax = norm_axes(axis, v.ndim, "diff")[0]  # type: ignore[index]
        hi = [slice(None)] * v.ndim
        lo = [slice(None)] * v.ndim
        hi[ax], lo[ax] = slice(1, None), slice(None, -1)
        out = _getitem(out, tuple(hi)) - _getitem(out, tuple(lo))
    return out


def deg2rad(x: Any) -> Any:
    return _multiply(x, np.pi / 180.0)


def rad2deg(x: Any) -> Any:
    return _multiply(x, 180.0 / np.pi)


def fabs(x: Any) -> Any:
    from fastff.ops.math import abs as _abs

    return _abs(x)


def vdot(x1: Any, x2: Any) -> Any:
    """``sum(ravel(x1) * ravel(x2))`` (real inputs)."""
    return _sum(_multiply(_reshape(x1, (-1,)), _reshape(x2, (-1,))))


def inner(x1: Any, x2: Any) -> Any:
    """Sum over the last axes: ``einsum('...i,...j->...', ...)`` in NumPy's layout."""
    from fastff.ops.math import einsum

    a, b = np.asarray(val(x1, "inner")), np.asarray(val(x2, "inner"))
    if a.ndim == 0 or b.ndim == 0:
        return _multiply(x1, x2)
    letters = "abcdefghijklmnopqrstuvwxy"
    la, lb = letters[:a.ndim - 1], letters[a.ndim - 1:a.ndim + b.ndim - 2]
    return einsum(f"{la}z,{lb}z->{la}{lb}", x1, x2)


def unstack(x: Any, num: int | None = None, axis: int = 0) -> list:
    a = np.asarray(val(x, "unstack"))
    ax = norm_axes(axis, a.ndim, "unstack")[0]  # type: ignore[index]
    if num is not None and num != a.shape[ax]:
        raise ValueError(f"fastff.ops.unstack: num={num} but axis {ax} has {a.shape[ax]} "
                         "entries")
    key = [slice(None)] * a.ndim
    out = []
    for i in range(a.shape[ax]):
        key[ax] = i
        out.append(_getitem(x, tuple(key)))
    return out


def meshgrid(*x: Any, indexing: str = "xy") -> list[np.ndarray]:
    if indexing not in ("xy", "ij"):
        raise ValueError(f"fastff.ops.meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    return np.meshgrid(*(np.asarray(val(v, "meshgrid")) for v in x), indexing=indexing)


def signbit(x: Any) -> np.ndarray:
    return np.signbit(val(x, "signbit"))


def heaviside(x1: Any, x2: Any) -> Any:
    """0 for ``x1 < 0``, ``x2`` at 0, 1 above (no gradient through ``x1``)."""
    a, b = val(x1, "heaviside"), val(x2, "heaviside")
    o = np.heaviside(a, b)
    return record("heaviside", o, (x1, x2), lambda g, n: (
        np.zeros_like(g) if n[0] else None, g * (np.asarray(a) == 0) if n[1] else None))


def fliplr(x: Any) -> Any:
    from fastff.ops.layout import flip

    return flip(x, axis=1)


def flipud(x: Any) -> Any:
    from fastff.ops.layout import flip

    return flip(x, axis=0)


def _nan_pick(name: str, f: Any, x1: Any, x2: Any, first: Any) -> Any:
    a, b = val(x1, name), val(x2, name)
    try:
        o = f(a, b)
    except ValueError:
        raise broadcast_error(name, [np.shape(a), np.shape(b)]) from None
    pick_a = first(np.asarray(a), np.asarray(b))
    return record(name, o, (x1, x2), lambda g, n: (
        g * pick_a if n[0] else None, g * ~pick_a if n[1] else None))


def fmax(x1: Any, x2: Any) -> Any:
    """Elementwise maximum ignoring NaN (NumPy's ``fmax``)."""
    return _nan_pick("fmax", np.fmax, x1, x2, lambda a, b: (a >= b) | np.isnan(b))


def fmin(x1: Any, x2: Any) -> Any:
    """Elementwise minimum ignoring NaN (NumPy's ``fmin``)."""
    return _nan_pick("fmin", np.fmin, x1, x2, lambda a, b: (a <= b) | np.isnan(b))


def isneginf(x: Any) -> np.ndarray:
    return np.isneginf(val(x, "isneginf"))


def isposinf(x: Any) -> np.ndarray:
    return np.isposinf(val(x, "isposinf"))


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is an array fastff's ops return (a NumPy array, recorded or not)."""
    return isinstance(x, np.ndarray)


def percentile(x: Any, q: Any, axis: Any = None, method: str = "linear",
               keepdims: bool = False) -> Any:
    """``quantile(x, q / 100)`` (no gradient)."""
    from fastff.ops.reductions import quantile

    return quantile(x, np.asarray(val(q, "percentile"), dtype=np.float64) / 100.0, axis=axis,
                    method=method, keepdims=keepdims, _name="percentile")


def ptp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """``max - min`` over ``axis``."""
    from fastff.ops.math import max as _max
    from fastff.ops.math import min as _min

    return _max(x, axis=axis, keepdims=keepdims) - _min(x, axis=axis, keepdims=keepdims)


def in_top_k(targets: Any, predictions: Any, k: int) -> np.ndarray:
    """Whether each ``targets[i]`` is among the ``k`` largest of ``predictions[i]``."""
    p = np.asarray(val(predictions, "in_top_k"))
    t = np.asarray(val(targets, "in_top_k")).astype(np.int64)
    if p.ndim != 2 or t.shape != (p.shape[0],):
        raise ValueError(f"fastff.ops.in_top_k: predictions (batch, classes) and targets "
                         f"(batch,), got {p.shape} and {t.shape}")
    mine = p[np.arange(p.shape[0]), t]
    return np.sum(p > mine[:, None], axis=1) < k


def multi_hot(inputs: Any, num_classes: int, axis: int = -1, dtype: Any = None,
              sparse: bool = False) -> np.ndarray:
    """Integer ids ``(batch, n)`` → ``(batch, num_classes)`` with 1 at every id present."""
    from fastff.ops.nn import one_hot

    ids = np.asarray(val(inputs, "multi_hot"))
    hot = one_hot(ids if ids.ndim > 1 else ids[None], num_classes, dtype=dtype,
                  sparse=sparse)
    out = np.max(hot, axis=-2)
    out = out if ids.ndim > 1 else out[0]
    return out if axis == -1 else np.moveaxis(out, -1, axis)
