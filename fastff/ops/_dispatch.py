"""NumPy's protocols for recorded tensors and weights: ufuncs and array functions → ops.

``x @ w + b``, ``np.exp(x)``, ``np.concatenate([x, y])``, ``x.sum()`` on a ``Tensor`` (or a
``Param``) run the matching ``fastff.ops`` function, so they are recorded. A NumPy function
without an op runs on the plain values; if a recorded value went in, its float result is
marked as having no gradient (a gradient needed through it raises, naming the function).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.ops import core, elementwise, layout, math, nn, reductions, shape
from fastff.ops.tape import OpsError, Tensor, record, value_of

_UNARY = {
    np.negative: math.negative, np.exp: math.exp, np.expm1: math.expm1, np.log: math.log,
    np.log1p: math.log1p, np.sqrt: math.sqrt, np.square: math.square, np.absolute: math.abs,
    np.sign: math.sign, np.tanh: nn.tanh, np.reciprocal: math.reciprocal,
    np.floor: core.floor, np.positive: lambda x: x,
    np.sin: elementwise.sin, np.cos: elementwise.cos, np.tan: elementwise.tan,
    np.arcsin: elementwise.arcsin, np.arccos: elementwise.arccos,
    np.arctan: elementwise.arctan, np.sinh: elementwise.sinh, np.cosh: elementwise.cosh,
    np.arcsinh: elementwise.arcsinh, np.arccosh: elementwise.arccosh,
    np.arctanh: elementwise.arctanh, np.log2: elementwise.log2, np.log10: elementwise.log10,
    np.exp2: elementwise.exp2, np.ceil: elementwise.ceil, np.trunc: elementwise.trunc,
}
_BINARY = {
    np.add: math.add, np.subtract: math.subtract, np.multiply: math.multiply,
    np.true_divide: math.divide, np.power: math.power, np.matmul: math.matmul,
    np.maximum: math.maximum, np.minimum: math.minimum,
    np.arctan2: elementwise.arctan2, np.hypot: elementwise.hypot,
    np.remainder: elementwise.mod, np.floor_divide: elementwise.floor_divide,
}
_NO_GRAD_RESULT = frozenset((  # results that are constants (bools, ints) whatever goes in
    np.equal, np.not_equal, np.greater, np.greater_equal, np.less, np.less_equal,
    np.logical_and, np.logical_or, np.logical_not, np.isnan, np.isinf, np.isfinite,
    np.signbit,
))
_REDUCE = {np.add: math.sum, np.maximum: math.max, np.minimum: math.min}


def _plain(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return value_of(x)


def _tracked(args: Any) -> bool:
    for a in args:
        if isinstance(a, (list, tuple)):
            if _tracked(a):
                return True
        elif isinstance(a, Tensor) or getattr(a, "_fastff_variable", False):
            return True
    return False


def _flat(args: Any) -> list:
    out: list = []
    for a in args:
        if isinstance(a, (list, tuple)):
            out += _flat(a)
        else:
            out.append(a)
    return out


def _no_grad(name: str, result: Any, args: Any) -> Any:
    """A float result of something without a VJP: recorded as a node that has no gradient."""
    if isinstance(result, np.ndarray) and result.dtype.kind == "f":
        return record(name, result, _flat(args), None)
    return result


def array_ufunc(ufunc: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
    if kwargs.get("out") is not None:
        raise OpsError(f"fastff.ops: numpy.{ufunc.__name__}(..., out=...) would write a "
                       "recorded tensor in place; use the result instead (x = x + y)")
    if method == "__call__" and not kwargs:
        if len(inputs) == 1 and ufunc in _UNARY:
            return _UNARY[ufunc](inputs[0])
        if len(inputs) == 2 and ufunc in _BINARY:
            return _BINARY[ufunc](inputs[0], inputs[1])
    if method == "reduce" and ufunc in _REDUCE and set(kwargs) <= {"axis", "keepdims", "dtype"}:
        if kwargs.get("dtype") is None:
            return _REDUCE[ufunc](inputs[0], kwargs.get("axis", 0), kwargs.get("keepdims", False))
    result = getattr(ufunc, method)(*_plain(inputs), **kwargs)
    if ufunc in _NO_GRAD_RESULT:
        return result
    return _no_grad(f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}"),
                    np.asarray(result) if np.isscalar(result) else result, inputs)


def _clip(a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, **kw: Any) -> Any:
    return math.clip(a, kw.get("min", a_min), kw.get("max", a_max))


def _reshape(a: Any, shape_: Any = None, order: str = "C", **kw: Any) -> Any:
    return shape.reshape(a, kw.get("shape", kw.get("newshape", shape_)))


def _norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    return math.norm(x, ord, axis, keepdims)


_FUNCS: dict = {
    np.concatenate: lambda arrays, axis=0, **k: shape.concatenate(list(arrays), axis),
    np.stack: lambda arrays, axis=0, **k: shape.stack(list(arrays), axis),
    np.reshape: _reshape,
    np.transpose: lambda a, axes=None: shape.transpose(a, axes),
    np.ravel: lambda a, order="C": shape.reshape(a, (-1,)),
    np.moveaxis: lambda a, source, destination: shape.moveaxis(a, source, destination),
    np.squeeze: lambda a, axis=None: shape.squeeze(a, axis),
    np.expand_dims: lambda a, axis: shape.expand_dims(a, axis),
    np.take: lambda a, indices, axis=None, out=None, mode="raise": shape.take(a, indices, axis),
    np.take_along_axis: lambda arr, indices, axis: shape.take_along_axis(arr, indices, axis),
    np.split: lambda ary, indices_or_sections, axis=0: shape.split(ary, indices_or_sections,
                                                                    axis),
    np.tile: lambda A, reps: shape.tile(A, reps),
    np.repeat: lambda a, repeats, axis=None: shape.repeat(a, repeats, axis),
    np.sum: lambda a, axis=None, dtype=None, out=None, keepdims=False, **k: math.sum(
        a, axis, keepdims),
    np.mean: lambda a, axis=None, dtype=None, out=None, keepdims=False, **k: math.mean(
        a, axis, keepdims),
    np.max: lambda a, axis=None, out=None, keepdims=False, **k: math.max(a, axis, keepdims),
    np.min: lambda a, axis=None, out=None, keepdims=False, **k: math.min(a, axis, keepdims),
    np.var: lambda a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **k: math.var(
        a, axis, keepdims, ddof),
    np.std: lambda a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **k: math.std(
        a, axis, keepdims, ddof),
    np.dot: lambda a, b, out=None: math.dot(a, b),
    np.where: lambda condition, *xy: math.where(condition, *xy),
    np.clip: _clip,
    np.copy: lambda a, order="K", subok=False: core.identity(a),
    np.linalg.norm: _norm,
    np.prod: lambda a, axis=None, dtype=None, out=None, keepdims=False, **k: reductions.prod(
        a, axis, keepdims, dtype),
    np.cumsum: lambda a, axis=None, dtype=None, out=None: reductions.cumsum(a, axis, dtype),
    np.cumprod: lambda a, axis=None, dtype=None, out=None: reductions.cumprod(a, axis, dtype),
    np.sort: lambda a, axis=-1, kind=None, order=None, **k: reductions.sort(a, axis),
    np.flip: lambda m, axis=None: layout.flip(m, axis),
    np.roll: lambda a, shift, axis=None: layout.roll(a, shift, axis),
    np.broadcast_to: lambda array, shape, subok=False: layout.broadcast_to(array, shape),
    np.triu: lambda m, k=0: layout.triu(m, k),
    np.tril: lambda m, k=0: layout.tril(m, k),
    np.outer: lambda a, b, out=None: layout.outer(a, b),
    np.hstack: lambda tup, **k: layout.hstack(list(tup)),
    np.vstack: lambda tup, **k: layout.vstack(list(tup)),
    np.average: lambda a, axis=None, weights=None, **k: reductions.average(a, axis, weights),
}
for _alias in ("amax", "amin"):
    if hasattr(np, _alias):
        _FUNCS[getattr(np, _alias)] = _FUNCS[np.max if _alias == "amax" else np.min]
# results that never carry a gradient (shapes, indices, constants of the same shape)
_CONSTANT = frozenset(getattr(np, n) for n in (
    "shape", "ndim", "size", "zeros_like", "ones_like", "empty_like", "full_like", "argmax",
    "argmin", "argsort", "argwhere", "nonzero", "count_nonzero", "isclose", "allclose",
    "array_equal", "result_type", "can_cast", "broadcast_shapes", "any", "all",
    "searchsorted", "unique") if hasattr(np, n))


def array_function(func: Any, args: tuple, kwargs: dict) -> Any:
    op = _FUNCS.get(func)
    if op is not None:
        return op(*args, **kwargs)
    result = func(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()})
    if func in _CONSTANT or not _tracked(args):
        return result
    return _no_grad(f"numpy.{func.__name__}", result, list(args) + list(kwargs.values()))


# ---------------------------------------------------------------------------- Tensor methods
# attached here, above the op modules, so fastff.ops.tape (which defines Tensor) imports none
def _t_array_ufunc(self, ufunc, method, *inputs, **kwargs):
    return array_ufunc(ufunc, method, inputs, kwargs)


def _t_array_function(self, func, types, args, kwargs):
    return array_function(func, args, kwargs)


def _t_reshape(self, *newshape, order="C"):
    if len(newshape) == 1 and not isinstance(newshape[0], (int, np.integer)):
        newshape = newshape[0]
    return shape.reshape(self, newshape)


def _t_transpose(self, *axes):
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = axes[0]
    return shape.transpose(self, axes or None)


def _t_flatten(self, order="C"):
    return shape.reshape(self, (-1,))


def _t_sum(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return math.sum(self, axis, keepdims)


def _t_mean(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return math.mean(self, axis, keepdims)


def _t_max(self, axis=None, out=None, keepdims=False, **kw):
    return math.max(self, axis, keepdims)


def _t_min(self, axis=None, out=None, keepdims=False, **kw):
    return math.min(self, axis, keepdims)


def _t_var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    return math.var(self, axis, keepdims, ddof=ddof)


def _t_std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    return math.std(self, axis, keepdims, ddof=ddof)


def _t_clip(self, min=None, max=None, out=None, **kw):  # noqa: A002 (NumPy's names)
    return math.clip(self, min, max)


Tensor.__array_ufunc__ = _t_array_ufunc
Tensor.__array_function__ = _t_array_function
Tensor.__getitem__ = lambda self, key: shape.getitem(self, key)
Tensor.reshape = _t_reshape
Tensor.transpose = _t_transpose
Tensor.T = property(lambda self: shape.transpose(self))
Tensor.flatten = Tensor.ravel = _t_flatten
Tensor.sum, Tensor.mean, Tensor.max, Tensor.min = _t_sum, _t_mean, _t_max, _t_min
Tensor.var, Tensor.std, Tensor.clip = _t_var, _t_std, _t_clip
Tensor.dot = lambda self, other, out=None: math.dot(self, other)
Tensor.squeeze = lambda self, axis=None: shape.squeeze(self, axis)
Tensor.astype = lambda self, dtype, order="K", casting="unsafe", subok=True, copy=True: \
    core.cast(self, dtype)
Tensor.copy = lambda self, order="C": core.identity(self)
