"""Shape and indexing ops (``keras.ops`` names): concatenate, stack, split, reshape, take..."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.ops._base import norm_axes, val
from fastff.ops.tape import OpsError, record, value_of

__all__ = ["concatenate", "stack", "split", "reshape", "transpose", "expand_dims", "squeeze",
           "take", "take_along_axis", "getitem", "flatten", "moveaxis", "tile", "repeat"]


def _axis(axis: Any, ndim: int, op: str) -> int:
    return norm_axes(axis, ndim, op)[0]  # type: ignore[index]


def concatenate(xs: Any, axis: int = 0) -> Any:
    if not isinstance(xs, (list, tuple)) or not xs:
        raise OpsError("fastff.ops.concatenate: expected a non-empty list of arrays")
    vals = [np.asarray(val(x, "concatenate")) for x in xs]
    try:
        o = np.concatenate(vals, axis=axis)
    except ValueError:
        raise OpsError(f"fastff.ops.concatenate: shapes {' and '.join(str(v.shape) for v in vals)}"
                       f" cannot be joined along axis {axis}") from None
    ax = _axis(axis, vals[0].ndim, "concatenate")
    cuts = np.cumsum([v.shape[ax] for v in vals])[:-1]
    return record("concatenate", o, tuple(xs), lambda g, n: np.split(g, cuts, axis=ax))


def stack(xs: Any, axis: int = 0) -> Any:
    if not isinstance(xs, (list, tuple)) or not xs:
        raise OpsError("fastff.ops.stack: expected a non-empty list of arrays")
    vals = [np.asarray(val(x, "stack")) for x in xs]
    try:
        o = np.stack(vals, axis=axis)
    except ValueError:
        raise OpsError(f"fastff.ops.stack: shapes {' and '.join(str(v.shape) for v in vals)}"
                       " must all be equal") from None
    ax = _axis(axis, o.ndim, "stack")
    return record("stack", o, tuple(xs),
                  lambda g, n: [np.take(g, i, axis=ax) for i in range(len(vals))])


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list:
    """Pieces of ``x`` along ``axis`` (each a slice recorded on its own)."""
    a = np.asarray(val(x, "split"))
    ax = _axis(axis, a.ndim, "split")
    try:
        parts = np.split(a, indices_or_sections, axis=ax)
    except ValueError:
        raise OpsError(f"fastff.ops.split: an axis of size {a.shape[ax]} cannot be split into "
                       f"{indices_or_sections!r} equal sections") from None
    out, start = [], 0
    for p in parts:
        key = (slice(None),) * ax + (slice(start, start + p.shape[ax]),)
        out.append(getitem(x, key))
        start += p.shape[ax]
    return out


def reshape(x: Any, newshape: Any) -> Any:
    a = np.asarray(val(x, "reshape"))
    shape = (newshape,) if isinstance(newshape, (int, np.integer)) else tuple(
        -1 if s is None else s for s in newshape)
    try:
        o = np.reshape(a, shape)
    except ValueError:
        raise OpsError(f"fastff.ops.reshape: cannot reshape an array of shape {a.shape} "
                       f"({a.size} elements) to {tuple(newshape) if not isinstance(newshape, int) else newshape}") from None  # noqa: E501
    return record("reshape", o, (x,), lambda g, n: (np.reshape(g, a.shape),))


def flatten(x: Any) -> Any:
    return reshape(x, (-1,))


def transpose(x: Any, axes: Any = None) -> Any:
    a = np.asarray(val(x, "transpose"))
    try:
        o = np.transpose(a, axes)
    except ValueError:
        raise OpsError(f"fastff.ops.transpose: axes {axes!r} do not match an array of shape "
                       f"{a.shape}") from None
    inv = None if axes is None else np.argsort([int(i) % a.ndim for i in axes])
    return record("transpose", o, (x,), lambda g, n: (np.transpose(g, inv),))


def moveaxis(x: Any, source: Any, destination: Any) -> Any:
    a = np.asarray(val(x, "moveaxis"))
    o = np.moveaxis(a, source, destination)
    return record("moveaxis", o, (x,), lambda g, n: (np.moveaxis(g, destination, source),))


def expand_dims(x: Any, axis: Any) -> Any:
    a = np.asarray(val(x, "expand_dims"))
    try:
        o = np.expand_dims(a, axis)
    except (ValueError, np.exceptions.AxisError):
        raise OpsError(f"fastff.ops.expand_dims: axis {axis!r} is out of range for shape "
                       f"{a.shape}") from None
    return record("expand_dims", o, (x,), lambda g, n: (np.reshape(g, a.shape),))


def squeeze(x: Any, axis: Any = None) -> Any:
    a = np.asarray(val(x, "squeeze"))
    try:
        o = np.squeeze(a, axis)
    except (ValueError, np.exceptions.AxisError):
        raise OpsError(f"fastff.ops.squeeze: cannot squeeze axis {axis!r} of shape "
                       f"{a.shape} (only size-1 axes)") from None
    return record("squeeze", o, (x,), lambda g, n: (np.reshape(g, a.shape),))


def tile(x: Any, repeats: Any) -> Any:
    a = np.asarray(val(x, "tile"))
    o = np.tile(a, repeats)
    reps = (repeats,) if isinstance(repeats, (int, np.integer)) else tuple(repeats)
    nd = builtin_max(a.ndim, len(reps))
    full = (1,) * (nd - a.ndim) + a.shape
    reps = (1,) * (nd - len(reps)) + reps

    def vjp(g, n):
        inter = []
        for r, s in zip(reps, full):
            inter += [r, s]
        return (np.reshape(g, inter).sum(axis=tuple(range(0, 2 * nd, 2))).reshape(a.shape),)

    return record("tile", o, (x,), vjp)


def repeat(x: Any, repeats: int, axis: Any = None) -> Any:
    a = np.asarray(val(x, "repeat"))
    if not isinstance(repeats, (int, np.integer)):
        raise OpsError("fastff.ops.repeat: only an integer number of repeats is supported")
    o = np.repeat(a, repeats, axis=axis)
    if axis is None:
        return record("repeat", o, (x,), lambda g, n: (
            np.reshape(g, (a.size, repeats)).sum(axis=1).reshape(a.shape),))
    ax = _axis(axis, a.ndim, "repeat")

    def vjp(g, n):
        shape = a.shape[:ax] + (a.shape[ax], repeats) + a.shape[ax + 1:]
        return (np.reshape(g, shape).sum(axis=ax + 1),)

    return record("repeat", o, (x,), vjp)


builtin_max = max


# ---------------------------------------------------------------------------- indexing
def _plain_key(key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple(_plain_key(k) for k in key)
    k = value_of(key)
    if isinstance(k, np.ndarray) and k.dtype.kind == "f":
        raise IndexError(f"fastff.ops: indices must be integers or booleans, got dtype "
                         f"{k.dtype}")
    return k


def _is_basic(key: Any) -> bool:
    parts = key if isinstance(key, tuple) else (key,)
    return all(isinstance(k, (slice, int, np.integer)) or k is None or k is Ellipsis
               for k in parts)


def getitem(x: Any, key: Any) -> Any:
    """``x[key]`` (slices, ints, integer or boolean arrays); duplicates sum their gradients."""
    a = np.asarray(val(x, "getitem"))
    k = _plain_key(key)
    o = a[k]
    basic = _is_basic(k)

    def vjp(g, n):
        d = np.zeros(a.shape, dtype=g.dtype)
        if basic:
            d[k] += g
        else:
            np.add.at(d, k, g)
        return (d,)

    return record("getitem", o, (x,), vjp)


def take(x: Any, indices: Any, axis: Any = None) -> Any:
    a = np.asarray(val(x, "take"))
    idx = np.asarray(value_of(indices))
    if idx.dtype.kind not in "iu":
        raise TypeError(f"fastff.ops.take: indices must be integers, got dtype {idx.dtype}")
    try:
        o = np.take(a, idx, axis=axis)
    except IndexError as e:
        raise IndexError(f"fastff.ops.take: {e} (array shape {a.shape})") from None

    def vjp(g, n):
        d = np.zeros(a.shape, dtype=g.dtype)
        if axis is None:
            np.add.at(d.reshape(-1), np.mod(idx, a.size).reshape(-1), g.reshape(-1))
        else:
            ax = _axis(axis, a.ndim, "take")
            dm = np.moveaxis(d, ax, 0)
            gm = np.moveaxis(g, tuple(range(ax, ax + idx.ndim)), tuple(range(idx.ndim)))
            np.add.at(dm, np.mod(idx, a.shape[ax]), gm)
        return (d, None)

    return record("take", o, (x, indices), vjp)


def take_along_axis(x: Any, indices: Any, axis: Any = None) -> Any:
    a = np.asarray(val(x, "take_along_axis"))
    idx = np.asarray(value_of(indices))
    if idx.dtype.kind not in "iu":
        raise TypeError(f"fastff.ops.take_along_axis: indices must be integers, got dtype "
                        f"{idx.dtype}")
    if axis is None:
        return take_along_axis(reshape(x, (-1,)), idx.reshape(-1), 0)
    try:
        o = np.take_along_axis(a, idx, axis=axis)
    except (ValueError, IndexError) as e:
        raise OpsError(f"fastff.ops.take_along_axis: shapes {a.shape} and indices "
                       f"{idx.shape}: {e}") from None
    ax = _axis(axis, a.ndim, "take_along_axis")

    def vjp(g, n):
        d = np.zeros(a.shape, dtype=g.dtype)
        full = list(np.indices(g.shape, sparse=True))
        full[ax] = np.mod(np.broadcast_to(idx, g.shape), a.shape[ax])
        np.add.at(d, tuple(full), g)
        return (d, None)

    return record("take_along_axis", o, (x, indices), vjp)
