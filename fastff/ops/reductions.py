"""Reductions, scans and order statistics (``keras.ops`` names): ``prod``, ``cumsum``,
``cumprod``, ``any``/``all``, ``sort``/``argsort``/``top_k``, ``median``/``quantile``,
``average``, ``count_nonzero``, ``nonzero``.

``sort`` and ``top_k`` are gathers (their gradient scatters back through the permutation);
``median`` and ``quantile`` are computed but carry no gradient (asking for one raises
``NoGradientError`` naming them)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.ops import math as _math
from fastff.ops._base import expand_reduced, norm_axes, val
from fastff.ops.shape import reshape as _reshape
from fastff.ops.shape import take_along_axis as _take_along_axis
from fastff.ops.tape import OpsError, record

__all__ = ["prod", "cumsum", "cumprod", "any", "all", "sort", "argsort", "top_k", "median",
           "quantile", "average", "count_nonzero", "nonzero", "amax", "amin"]


def _one_axis(axis: Any, ndim: int, op: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"fastff.ops.{op}: axis must be an int, got {axis!r}")
    return norm_axes(axis, ndim, op)[0]  # type: ignore[index]


def _exclusive_products(a: np.ndarray) -> np.ndarray:
    """For the last axis: the product of every other entry (no division, so zeros are fine)."""
    ones = np.ones(a.shape[:-1] + (1,), a.dtype)
    left = np.cumprod(np.concatenate([ones, a[..., :-1]], axis=-1), axis=-1)
    right = np.flip(np.cumprod(np.concatenate([ones, np.flip(a[..., 1:], -1)], axis=-1),
                               axis=-1), -1)
    return left * right


def prod(x: Any, axis: Any = None, keepdims: bool = False, dtype: Any = None) -> Any:
    """Product over ``axis`` (None: all); the gradient is the product of the other entries
    (exact with zeros)."""
    a = np.asarray(val(x, "prod"))
    if dtype is not None:
        a = a.astype(dtype)
    axes = norm_axes(axis, a.ndim, "prod")
    o = np.prod(a, axis=axes, keepdims=keepdims)

    def vjp(g, n):
        red = tuple(range(a.ndim)) if axes is None else axes
        keep = [i for i in range(a.ndim) if i not in red]
        perm = keep + list(red)
        moved = np.transpose(a, perm)
        flat = moved.reshape(moved.shape[:len(keep)] + (-1,))
        others = _exclusive_products(flat).reshape(moved.shape)
        d = np.transpose(others, np.argsort(perm))
        return (expand_reduced(g, axes, a.ndim, keepdims) * d,)

    return record("prod", o, (x,), vjp)


def _scan_input(x: Any, axis: Any, op: str) -> tuple[np.ndarray, Any, int]:
    a = np.asarray(val(x, op))
    if axis is None:
        return a.reshape(-1), True, 0
    return a, False, _one_axis(axis, a.ndim, op)


def cumsum(x: Any, axis: Any = None, dtype: Any = None) -> Any:
    """Running sum along ``axis`` (None: over the flattened array, as Keras)."""
    a, flat, ax = _scan_input(x, axis, "cumsum")
    if dtype is not None:
        a = a.astype(dtype)
    o = np.cumsum(a, axis=ax)
    shape = np.shape(val(x, "cumsum"))

    def vjp(g, n):
        d = np.flip(np.cumsum(np.flip(g, ax), axis=ax), ax)
        return (d.reshape(shape) if flat else d,)

    return record("cumsum", o, (x,), vjp)


def cumprod(x: Any, axis: Any = None, dtype: Any = None) -> Any:
    """Running product along ``axis`` (None: flattened); the gradient is exact with zeros."""
    a, flat, ax = _scan_input(x, axis, "cumprod")
    if dtype is not None:
        a = a.astype(dtype)
    o = np.cumprod(a, axis=ax)
    shape = np.shape(val(x, "cumprod"))

    def vjp(g, n):
        am = np.moveaxis(a, ax, -1)
        gm = np.moveaxis(g, ax, -1)
        length = am.shape[-1]
        d = np.empty_like(am)
        for i in range(length):  # d out_j / d a_i = prod_{k <= j, k != i} a_k for j >= i
            b = am[..., i:].copy()
            b[..., 0] = 1
            head = np.prod(am[..., :i], axis=-1, keepdims=True)
            d[..., i] = np.sum(gm[..., i:] * head * np.cumprod(b, axis=-1), axis=-1)
        d = np.moveaxis(d, -1, ax)
        return (d.reshape(shape) if flat else d,)

    return record("cumprod", o, (x,), vjp)


def any(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:  # noqa: A001
    a = np.asarray(val(x, "any"))
    return np.any(a, axis=norm_axes(axis, a.ndim, "any"), keepdims=keepdims)


def all(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:  # noqa: A001
    a = np.asarray(val(x, "all"))
    return np.all(a, axis=norm_axes(axis, a.ndim, "all"), keepdims=keepdims)


def argsort(x: Any, axis: Any = -1) -> np.ndarray:
    """Indices that sort ``x`` along ``axis`` (None: flattened); stable."""
    a = np.asarray(val(x, "argsort"))
    if axis is None:
        return np.argsort(a.reshape(-1), kind="stable")
    if a.ndim == 0:
        return np.zeros((), np.int64)
    return np.argsort(a, axis=_one_axis(axis, a.ndim, "argsort"), kind="stable")


def sort(x: Any, axis: Any = -1) -> Any:
    """``x`` sorted ascending along ``axis``; the gradient flows back through the order."""
    a = np.asarray(val(x, "sort"))
    if axis is None:
        x = _reshape(x, (-1,))
        a = a.reshape(-1)
        axis = 0
    if a.ndim == 0:
        return x
    ax = _one_axis(axis, a.ndim, "sort")
    return _take_along_axis(x, np.argsort(a, axis=ax, kind="stable"), ax)


def top_k(x: Any, k: Any, sorted: bool = True) -> tuple[Any, np.ndarray]:  # noqa: A002
    """The ``k`` largest entries along the last axis and their indices (Keras's
    ``(values, indices)``); the values carry the gradient."""
    a = np.asarray(val(x, "top_k"))
    if a.ndim == 0:
        raise OpsError("fastff.ops.top_k: x must have at least one dimension")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= a.shape[-1]:
        raise ValueError(f"fastff.ops.top_k: k must be an int in [0, {a.shape[-1]}], got {k!r}")
    idx = np.argsort(-a, axis=-1, kind="stable")[..., :int(k)]
    return _take_along_axis(x, idx, a.ndim - 1), idx.astype(np.int32)


def median(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Median over ``axis`` (no gradient)."""
    return quantile(x, 0.5, axis=axis, keepdims=keepdims, _name="median")


def quantile(x: Any, q: Any, axis: Any = None, method: str = "linear",
             keepdims: bool = False, _name: str = "quantile") -> Any:
    """The ``q``-th quantile(s) over ``axis`` (NumPy's ``method``s; no gradient)."""
    a = np.asarray(val(x, _name))
    qv = np.asarray(val(q, _name), dtype=np.float64)
    if np.any((qv < 0) | (qv > 1)):
        raise ValueError(f"fastff.ops.{_name}: q must be in [0, 1], got {q!r}")
    axes = norm_axes(axis, a.ndim, _name)
    if a.dtype.kind not in "fc":
        from fastff import config

        a = a.astype(config.floatx())
    o = np.quantile(a, qv, axis=axes, method=method, keepdims=keepdims)
    o = np.asarray(o, dtype=a.dtype)
    return record(_name, o, (x,), None)


def average(x: Any, axis: Any = None, weights: Any = None) -> Any:
    """Mean over ``axis``, weighted by ``weights`` (x's shape, or 1-D along ``axis``)."""
    if weights is None:
        return _math.mean(x, axis=axis)
    a = np.asarray(val(x, "average"))
    w = np.asarray(val(weights, "average"))
    if w.shape != a.shape:
        if axis is None or w.ndim != 1:
            raise ValueError(f"fastff.ops.average: weights of shape {w.shape} need the shape "
                             f"of x {a.shape}, or 1-D along an int axis")
        ax = _one_axis(axis, a.ndim, "average")
        if w.shape[0] != a.shape[ax]:
            raise ValueError(f"fastff.ops.average: {w.shape[0]} weights for axis {ax} of "
                             f"length {a.shape[ax]}")
        shape = [1] * a.ndim
        shape[ax] = w.shape[0]
        weights = _reshape(weights, shape)
    return _math.divide(_math.sum(_math.multiply(x, weights), axis=axis),
                        _math.sum(weights, axis=axis))


def count_nonzero(x: Any, axis: Any = None) -> np.ndarray:
    a = np.asarray(val(x, "count_nonzero"))
    return np.asarray(np.count_nonzero(a, axis=norm_axes(axis, a.ndim, "count_nonzero")),
                      dtype=np.int32)


def nonzero(x: Any) -> tuple[np.ndarray, ...]:
    """Indices of the non-zero entries, one array per axis (integers: no gradient)."""
    return np.nonzero(np.asarray(val(x, "nonzero")))


amax = _math.max
amin = _math.min
