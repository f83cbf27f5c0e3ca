"""Elementwise math ops beyond arithmetic (``keras.ops`` names): trigonometric and hyperbolic
functions, logarithms in base 2/10, rounding up, modulo and integer division, ``isinf``."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.ops._base import broadcast_error, val
from fastff.ops.tape import record

__all__ = ["sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh",
           "arcsinh", "arccosh", "arctanh", "log2", "log10", "exp2", "rsqrt", "ceil", "trunc",
           "mod", "floor_divide", "isinf", "logical_xor", "hypot"]


def _unary(name: str, f: Any, d: Any) -> Any:
    """An elementwise op ``f`` whose derivative is ``d(a, out)``."""
    def op(x: Any) -> Any:
        a = val(x, name)
        with np.errstate(invalid="ignore", divide="ignore"):
            o = f(a)
        return record(name, o, (x,), lambda g, n: (g * d(a, o),))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``numpy.{f.__name__}``, with its gradient."
    return op


_LN2, _LN10 = np.log(2.0), np.log(10.0)
sin = _unary("sin", np.sin, lambda a, o: np.cos(a))
cos = _unary("cos", np.cos, lambda a, o: -np.sin(a))
tan = _unary("tan", np.tan, lambda a, o: 1 + o * o)
arcsin = _unary("arcsin", np.arcsin, lambda a, o: 1 / np.sqrt(1 - np.square(a)))
arccos = _unary("arccos", np.arccos, lambda a, o: -1 / np.sqrt(1 - np.square(a)))
arctan = _unary("arctan", np.arctan, lambda a, o: 1 / (1 + np.square(a)))
sinh = _unary("sinh", np.sinh, lambda a, o: np.cosh(a))
cosh = _unary("cosh", np.cosh, lambda a, o: np.sinh(a))
arcsinh = _unary("arcsinh", np.arcsinh, lambda a, o: 1 / np.sqrt(np.square(a) + 1))
arccosh = _unary("arccosh", np.arccosh, lambda a, o: 1 / np.sqrt(np.square(a) - 1))
arctanh = _unary("arctanh", np.arctanh, lambda a, o: 1 / (1 - np.square(a)))
log2 = _unary("log2", np.log2, lambda a, o: 1 / (a * _LN2))
log10 = _unary("log10", np.log10, lambda a, o: 1 / (a * _LN10))
exp2 = _unary("exp2", np.exp2, lambda a, o: o * _LN2)
rsqrt = _unary("rsqrt", lambda a: 1 / np.sqrt(a), lambda a, o: -0.5 * o / a)
rsqrt.__doc__ = "Elementwise ``1 / sqrt(x)``, with its gradient."
ceil = _unary("ceil", np.ceil, lambda a, o: np.zeros_like(o))
ceil.__doc__ = "Rounding up; its gradient is zero almost everywhere (as ``floor``)."
trunc = _unary("trunc", np.trunc, lambda a, o: np.zeros_like(o))


def _binary(name: str, f: Any, x1: Any, x2: Any, vjp: Any) -> Any:
    a, b = val(x1, name), val(x2, name)
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            o = f(a, b)
    except ValueError:
        raise broadcast_error(name, [np.shape(a), np.shape(b)]) from None
    return record(name, o, (x1, x2), vjp(a, b, o))


def arctan2(x1: Any, x2: Any) -> Any:
    """The angle of the point ``(x2, x1)``: ``d/dx1 = x2 / r²``, ``d/dx2 = -x1 / r²``."""
    def vjp(a, b, o):
        def f(g, n):
            r2 = np.square(a) + np.square(b)
            return (g * b / r2 if n[0] else None, -g * a / r2 if n[1] else None)
        return f
    return _binary("arctan2", np.arctan2, x1, x2, vjp)


def hypot(x1: Any, x2: Any) -> Any:
    return _binary("hypot", np.hypot, x1, x2, lambda a, b, o: lambda g, n: (
        g * a / o if n[0] else None, g * b / o if n[1] else None))


def mod(x1: Any, x2: Any) -> Any:
    """``x1 - floor(x1 / x2) * x2`` (NumPy's and Keras's sign convention: that of ``x2``)."""
    return _binary("mod", np.mod, x1, x2, lambda a, b, o: lambda g, n: (
        g if n[0] else None, -g * np.floor_divide(a, b) if n[1] else None))


def floor_divide(x1: Any, x2: Any) -> Any:
    """``floor(x1 / x2)``; its gradient is zero almost everywhere."""
    return _binary("floor_divide", np.floor_divide, x1, x2, lambda a, b, o: lambda g, n: (
        np.zeros_like(g) if n[0] else None, np.zeros_like(g) if n[1] else None))


def isinf(x: Any) -> np.ndarray:
    return np.isinf(val(x, "isinf"))


def logical_xor(x1: Any, x2: Any) -> np.ndarray:
    a, b = val(x1, "logical_xor"), val(x2, "logical_xor")
    try:
        return np.logical_xor(a, b)
    except ValueError:
        raise broadcast_error("logical_xor", [np.shape(a), np.shape(b)]) from None
