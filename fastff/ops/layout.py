"""Array layout ops (``keras.ops`` names): ``hstack``/``vstack``, ``flip``, ``roll``, ``pad``,
``broadcast_to``, ``ravel``, ``diag``, ``slice``, ``triu``/``tril``, ``outer``, ``swapaxes``,
and the creation ops ``linspace``/``tri``."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from fastff.ops import math as _math
from fastff.ops._base import float_dtype, norm_axes, val
from fastff.ops.shape import concatenate as _concatenate
from fastff.ops.shape import reshape as _reshape
from fastff.ops.shape import transpose as _transpose
from fastff.ops.tape import OpsError, record

__all__ = ["hstack", "vstack", "flip", "roll", "pad", "broadcast_to", "ravel", "diag",
           "diagonal", "triu", "tril", "outer", "swapaxes", "linspace", "tri", "trace", "slice"]


def hstack(xs: Any) -> Any:
    """Join along axis 1 (axis 0 for 1-D arrays), as ``numpy.hstack``."""
    if not isinstance(xs, (list, tuple)) or not xs:
        raise OpsError("fastff.ops.hstack: expected a non-empty list of arrays")
    one_d = np.ndim(val(xs[0], "hstack")) == 1
    return _concatenate(list(xs), axis=0 if one_d else 1)


def vstack(xs: Any) -> Any:
    """Join along axis 0, 1-D arrays first made rows, as ``numpy.vstack``."""
    if not isinstance(xs, (list, tuple)) or not xs:
        raise OpsError("fastff.ops.vstack: expected a non-empty list of arrays")
    rows = [_reshape(x, (1, -1)) if np.ndim(val(x, "vstack")) <= 1 else x for x in xs]
    return _concatenate(rows, axis=0)


def flip(x: Any, axis: Any = None) -> Any:
    a = np.asarray(val(x, "flip"))
    axes = norm_axes(axis, a.ndim, "flip")
    return record("flip", np.flip(a, axes), (x,), lambda g, n: (np.flip(g, axes),))


def roll(x: Any, shift: Any, axis: Any = None) -> Any:
    """Entries shifted by ``shift`` along ``axis`` (None: the flattened array), wrapping."""
    a = np.asarray(val(x, "roll"))
    if axis is not None:
        axis = (norm_axes(axis, a.ndim, "roll") if isinstance(axis, (int, np.integer))
                else tuple(int(v) % max(a.ndim, 1) for v in axis))
        if len(axis) == 1:
            axis = axis[0]
    neg = (-np.asarray(shift)).tolist()
    return record("roll", np.roll(a, shift, axis), (x,), lambda g, n: (np.roll(g, neg, axis),))


_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = None) -> Any:
    """``numpy.pad`` for ``mode`` in constant, edge, reflect, symmetric, wrap; the gradient
    sums back every copy of an entry."""
    if mode not in _PAD_MODES:
        raise ValueError(f"fastff.ops.pad: mode must be one of {', '.join(_PAD_MODES)}; got "
                         f"{mode!r}")
    a = np.asarray(val(x, "pad"))
    if constant_values is not None and mode != "constant":
        raise ValueError("fastff.ops.pad: constant_values is only for mode='constant'")
    kw = {"constant_values": constant_values or 0} if mode == "constant" else {}
    try:
        o = np.pad(a, pad_width, mode=mode, **kw)
    except ValueError as e:
        raise OpsError(f"fastff.ops.pad: pad_width {pad_width!r} for shape {a.shape}: {e}") \
            from None
    # the source of every output entry: pad the flat indices the same way (-1: a constant)
    idx = np.arange(a.size).reshape(a.shape)
    src = np.pad(idx, pad_width, mode=mode, **({"constant_values": -1}
                                                 if mode == "constant" else {}))

    def vjp(g, n):
        keep = src >= 0
        d = np.bincount(src[keep], weights=np.asarray(g)[keep], minlength=a.size)
        return (d.reshape(a.shape).astype(np.result_type(g), copy=False),)

    return record("pad", o, (x,), vjp)


def broadcast_to(x: Any, shape: Any) -> Any:
    a = val(x, "broadcast_to")
    try:
        o = np.broadcast_to(a, tuple(shape))
    except ValueError:
        raise OpsError(f"fastff.ops.broadcast_to: shape {np.shape(a)} cannot be broadcast to "
                       f"{tuple(shape)}") from None
    return record("broadcast_to", np.array(o), (x,), lambda g, n: (g,))  # tape sums back


def ravel(x: Any) -> Any:
    return _reshape(x, (-1,))


def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    a = np.asarray(val(x, "swapaxes"))
    perm = list(range(a.ndim))
    i, j = (norm_axes(v, a.ndim, "swapaxes")[0] for v in (axis1, axis2))  # type: ignore
    perm[i], perm[j] = perm[j], perm[i]
    return _transpose(x, perm)


def diag(x: Any, k: int = 0) -> Any:
    """A 1-D ``x`` as the ``k``-th diagonal of a square matrix, or a 2-D ``x``'s ``k``-th
    diagonal."""
    a = np.asarray(val(x, "diag"))
    if a.ndim not in (1, 2):
        raise OpsError(f"fastff.ops.diag: x must be 1-D or 2-D, got shape {a.shape}")
    o = np.diag(a, k)
    if a.ndim == 1:
        return record("diag", o, (x,), lambda g, n: (np.diagonal(g, k).copy(),))

    def vjp(g, n):
        d = np.zeros(a.shape, np.result_type(g))
        rows = np.arange(o.shape[0]) + (0 if k >= 0 else -k)
        d[rows, rows + k] = g
        return (d,)

    return record("diag", o, (x,), vjp)


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    a = np.asarray(val(x, "diagonal"))
    o = np.diagonal(a, offset, axis1, axis2).copy()

    def vjp(g, n):
        d = np.zeros(a.shape, np.result_type(g))
        view = np.moveaxis(d, (axis1, axis2), (-2, -1))  # a view: writes land in d
        rows = np.arange(o.shape[-1]) + (0 if offset >= 0 else -offset)
        view[..., rows, rows + offset] = g
        return (d,)

    return record("diagonal", o, (x,), vjp)


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    return _math.sum(diagonal(x, offset, axis1, axis2), axis=-1)


def triu(x: Any, k: int = 0) -> Any:
    """Entries on and above the ``k``-th diagonal of the last two axes (others zero)."""
    a = np.asarray(val(x, "triu"))
    return record("triu", np.triu(a, k), (x,), lambda g, n: (np.triu(g, k),))


def tril(x: Any, k: int = 0) -> Any:
    """Entries on and below the ``k``-th diagonal of the last two axes (others zero)."""
    a = np.asarray(val(x, "tril"))
    return record("tril", np.tril(a, k), (x,), lambda g, n: (np.tril(g, k),))


def outer(x1: Any, x2: Any) -> Any:
    """``ravel(x1)[:, None] * ravel(x2)[None, :]``."""
    return _math.multiply(_reshape(x1, (-1, 1)), _reshape(x2, (1, -1)))


def linspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True,
             retstep: bool = False, dtype: Any = None, axis: int = 0) -> Any:
    """``numpy.linspace`` in ``floatx()`` unless ``dtype`` is given (as Keras)."""
    return np.linspace(val(start, "linspace"), val(stop, "linspace"), num, endpoint=endpoint,
                       retstep=retstep, dtype=float_dtype(dtype), axis=axis)


def tri(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> np.ndarray:  # noqa: N803
    return np.tri(N, M, k, dtype=float_dtype(dtype))


def slice(inputs: Any, start_indices: Any, shape: Any) -> Any:  # noqa: A001 - Keras's name
    """Keras's ``ops.slice``: the block of ``shape`` starting at ``start_indices`` (one
    start and one size per axis; a size of -1 runs to the end of that axis)."""
    a = np.asarray(val(inputs, "slice"))
    starts = [int(v) for v in np.asarray(start_indices).reshape(-1)]
    sizes = [int(v) for v in np.asarray(shape).reshape(-1)]
    if len(starts) != a.ndim or len(sizes) != a.ndim:
        raise OpsError(f"fastff.ops.slice: start_indices and shape need one entry per axis of "
                       f"the input (rank {a.ndim}); got {len(starts)} and {len(sizes)}")
    index = []
    for ax, (b, n) in enumerate(zip(starts, sizes)):
        dim = a.shape[ax]
        stop = dim if n == -1 else b + n
        if b < 0 or n < -1 or stop > dim:
            raise OpsError(f"fastff.ops.slice: axis {ax} of size {dim} has no block of size "
                           f"{n} starting at {b}")
        index.append(builtins.slice(b, stop))
    key = tuple(index)

    def vjp(g: Any, need: Any) -> tuple:
        out = np.zeros(a.shape, dtype=np.result_type(g))
        out[key] = g
        return (out,)

    return record("slice", a[key], (inputs,), vjp)
