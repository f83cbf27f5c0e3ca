"""Neural-network ops (``keras.ops`` names): activations, softmax family, one_hot."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.ops._base import expand_reduced, float_dtype, norm_axes, val
from fastff.ops.tape import OpsError, record

__all__ = ["relu", "relu6", "sigmoid", "tanh", "softplus", "elu", "selu", "gelu", "leaky_relu",
           "silu", "swish", "softmax", "log_softmax", "logsumexp", "one_hot", "log_sigmoid"]


def relu(x: Any) -> Any:
    a = val(x, "relu")
    return record("relu", np.maximum(a, 0), (x,), lambda g, n: (g * (a > 0),))


def relu6(x: Any) -> Any:
    a = val(x, "relu6")
    return record("relu6", np.clip(a, 0, 6), (x,), lambda g, n: (g * ((a > 0) & (a < 6)),))


def _sigmoid(a: Any) -> Any:
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # stable for large |a|


def sigmoid(x: Any) -> Any:
    a = val(x, "sigmoid")
    o = _sigmoid(a)
    return record("sigmoid", o, (x,), lambda g, n: (g * o * (1 - o),))


def log_sigmoid(x: Any) -> Any:
    a = val(x, "log_sigmoid")
    o = -(np.maximum(-a, 0) + np.log1p(np.exp(-np.abs(a))))
    return record("log_sigmoid", o, (x,), lambda g, n: (g * _sigmoid(-a),))


def tanh(x: Any) -> Any:
    a = val(x, "tanh")
    o = np.tanh(a)
    return record("tanh", o, (x,), lambda g, n: (g * (1 - o * o),))


def softplus(x: Any) -> Any:
    a = val(x, "softplus")
    o = np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))
    return record("softplus", o, (x,), lambda g, n: (g * _sigmoid(a),))


def elu(x: Any, alpha: float = 1.0) -> Any:
    a = val(x, "elu")
    o = np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0)))
    return record("elu", o, (x,), lambda g, n: (g * np.where(a > 0, 1, o + alpha),))


def selu(x: Any) -> Any:
    scale, alpha = 1.0507009873554805, 1.6732632423543772
    a = val(x, "selu")
    e = alpha * np.expm1(np.minimum(a, 0))
    o = scale * np.where(a > 0, a, e)
    return record("selu", o, (x,),
                  lambda g, n: (g * scale * np.where(a > 0, 1, e + alpha),))


def gelu(x: Any, approximate: bool = True) -> Any:
    """GELU; Keras's default is the tanh approximation (``approximate=True``)."""
    a = val(x, "gelu")
    if approximate:
        c = np.sqrt(2.0 / np.pi)
        inner = c * (a + 0.044715 * a ** 3)
        t = np.tanh(inner)
        o = 0.5 * a * (1 + t)

        def vjp(g, n):
            d = 0.5 * (1 + t) + 0.5 * a * (1 - t * t) * c * (1 + 3 * 0.044715 * a * a)
            return (g * d,)
    else:
        from scipy.special import erf

        cdf = 0.5 * (1 + erf(a / np.sqrt(2.0)))
        o = a * cdf

        def vjp(g, n):
            pdf = np.exp(-0.5 * a * a) / np.sqrt(2 * np.pi)
            return (g * (cdf + a * pdf),)
    return record("gelu", np.asarray(o, dtype=np.result_type(a, np.float16)), (x,), vjp)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> Any:
    a = val(x, "leaky_relu")
    o = np.where(a > 0, a, a * negative_slope)
    return record("leaky_relu", o, (x,), lambda g, n: (g * np.where(a > 0, 1, negative_slope),))


def silu(x: Any) -> Any:
    a = val(x, "silu")
    s = _sigmoid(a)
    return record("silu", a * s, (x,), lambda g, n: (g * s * (1 + a * (1 - s)),))


swish = silu


def _axis1(axis: Any, ndim: int, op: str) -> Any:
    if axis is None:
        return None
    return norm_axes(axis, ndim, op)


def softmax(x: Any, axis: Any = -1) -> Any:
    a = np.asarray(val(x, "softmax"))
    axes = _axis1(axis, a.ndim, "softmax")
    e = np.exp(a - np.max(a, axis=axes, keepdims=True))
    o = e / np.sum(e, axis=axes, keepdims=True)
    return record("softmax", o, (x,), lambda g, n: (
        o * (g - np.sum(g * o, axis=axes, keepdims=True)),))


def log_softmax(x: Any, axis: Any = -1) -> Any:
    a = np.asarray(val(x, "log_softmax"))
    axes = _axis1(axis, a.ndim, "log_softmax")
    s = a - np.max(a, axis=axes, keepdims=True)
    o = s - np.log(np.sum(np.exp(s), axis=axes, keepdims=True))
    return record("log_softmax", o, (x,), lambda g, n: (
        g - np.exp(o) * np.sum(g, axis=axes, keepdims=True),))


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    a = np.asarray(val(x, "logsumexp"))
    axes = norm_axes(axis, a.ndim, "logsumexp")
    m = np.max(a, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    ok = m + np.log(np.sum(np.exp(a - m), axis=axes, keepdims=True))
    o = ok if keepdims else (np.reshape(ok, ()) if axes is None else np.squeeze(ok, axes))
    return record("logsumexp", o, (x,), lambda g, n: (
        expand_reduced(g, axes, a.ndim, keepdims) * np.exp(a - ok),))


def one_hot(x: Any, num_classes: int, axis: int = -1, dtype: Any = None,
            sparse: bool = False) -> np.ndarray:
    """Integer ids → one-hot floats (ids outside ``[0, num_classes)`` give all-zero rows)."""
    if sparse:
        raise OpsError("fastff.ops.one_hot: sparse=True is not supported")
    ids = np.asarray(val(x, "one_hot"))
    if ids.dtype.kind not in "iub":
        if ids.dtype.kind == "f" and np.all(ids == np.floor(ids)):
            ids = ids.astype(np.int64)
        else:
            raise TypeError(f"fastff.ops.one_hot: expected integer class ids, got dtype "
                            f"{ids.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes <= 0:
        raise ValueError(f"fastff.ops.one_hot: num_classes must be a positive int, got "
                         f"{num_classes!r}")
    out = (ids[..., None] == np.arange(int(num_classes))).astype(float_dtype(dtype))
    if axis != -1:
        out = np.moveaxis(out, -1, axis)
    return out
