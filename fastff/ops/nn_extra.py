"""More ``keras.ops`` neural-network ops: the hard/soft activations, the cross-entropy ops
(per-sample values, no reduction, Keras's ``epsilon`` clipping), ``moments``, ``normalize``."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.ops import math as _math
from fastff.ops import nn as _nn
from fastff.ops._base import norm_axes, val
from fastff.ops.shape import reshape as _reshape
from fastff.ops.shape import squeeze as _squeeze
from fastff.ops.shape import take_along_axis as _take_along_axis
from fastff.ops.tape import OpsError, record

__all__ = ["hard_sigmoid", "hard_silu", "hard_swish", "softsign", "hard_tanh", "celu",
           "binary_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy", "moments", "normalize", "hard_shrink",
           "soft_shrink", "tanh_shrink", "squareplus", "sparse_plus", "threshold"]

#: Keras's ``backend.epsilon()``: the clipping of probabilities in the cross-entropies
EPSILON = 1e-7


def hard_sigmoid(x: Any) -> Any:
    """``relu6(x + 3) / 6`` (Keras 3's definition)."""
    a = val(x, "hard_sigmoid")
    o = np.clip(a / 6.0 + 0.5, 0.0, 1.0)
    return record("hard_sigmoid", o, (x,), lambda g, n: (g * ((a > -3) & (a < 3)) / 6.0,))


def hard_silu(x: Any) -> Any:
    """``x * hard_sigmoid(x)``."""
    a = val(x, "hard_silu")
    s = np.clip(a / 6.0 + 0.5, 0.0, 1.0)
    return record("hard_silu", a * s, (x,), lambda g, n: (
        g * (s + a * ((a > -3) & (a < 3)) / 6.0),))


hard_swish = hard_silu


def softsign(x: Any) -> Any:
    """``x / (1 + |x|)``."""
    a = val(x, "softsign")
    d = 1 + np.abs(a)
    return record("softsign", a / d, (x,), lambda g, n: (g / (d * d),))


def hard_tanh(x: Any) -> Any:
    a = val(x, "hard_tanh")
    return record("hard_tanh", np.clip(a, -1.0, 1.0), (x,),
                  lambda g, n: (g * ((a > -1) & (a < 1)),))


def celu(x: Any, alpha: float = 1.0) -> Any:
    """``max(x, 0) + min(alpha (exp(x / alpha) - 1), 0)``."""
    a = val(x, "celu")
    e = np.expm1(np.minimum(a, 0) / alpha)
    o = np.where(a > 0, a, alpha * e)
    return record("celu", o, (x,), lambda g, n: (g * np.where(a > 0, 1, e + 1),))


def _same_shape(t: Any, o: Any, op: str) -> None:
    if np.shape(val(t, op)) != np.shape(val(o, op)):
        raise ValueError(f"fastff.ops.{op}: arguments `target` and `output` must have the "
                         f"same shape; received target.shape={np.shape(val(t, op))}, "
                         f"output.shape={np.shape(val(o, op))}")


def binary_crossentropy(target: Any, output: Any, from_logits: bool = False) -> Any:
    """Elementwise ``-(t log p + (1-t) log(1-p))``; probabilities clipped to
    ``[eps, 1-eps]``, logits through the stable ``max(x,0) - x t + log1p(exp(-|x|))``."""
    _same_shape(target, output, "binary_crossentropy")
    if from_logits:
        x = output
        return _math.add(_math.subtract(_nn.relu(x), _math.multiply(x, target)),
                         _math.log1p(_math.exp(_math.negative(_math.abs(x)))))
    p = _math.clip(output, EPSILON, 1.0 - EPSILON)
    one_minus_t = _math.subtract(1.0, target)
    return _math.negative(_math.add(
        _math.multiply(target, _math.log(p)),
        _math.multiply(one_minus_t, _math.log(_math.subtract(1.0, p)))))


def categorical_crossentropy(target: Any, output: Any, from_logits: bool = False,
                             axis: int = -1) -> Any:
    """``-sum(t log p, axis)``; probabilities renormalized over ``axis`` then clipped to
    ``[eps, 1-eps]`` (as Keras), logits through ``log_softmax``."""
    _same_shape(target, output, "categorical_crossentropy")
    if np.ndim(val(output, "categorical_crossentropy")) < 1:
        raise ValueError("fastff.ops.categorical_crossentropy: target and output must be at "
                         "least rank 1")
    if from_logits:
        logp = _nn.log_softmax(output, axis=axis)
    else:
        p = _math.divide(output, _math.sum(output, axis=axis, keepdims=True))
        logp = _math.log(_math.clip(p, EPSILON, 1.0 - EPSILON))
    return _math.negative(_math.sum(_math.multiply(target, logp), axis=axis))


def sparse_categorical_crossentropy(target: Any, output: Any, from_logits: bool = False,
                                    axis: int = -1) -> Any:
    """``-log p[target]`` over the class ``axis``; ``target`` holds integer ids (a trailing
    size-1 axis is squeezed, as Keras)."""
    op = "sparse_categorical_crossentropy"
    o = np.asarray(val(output, op))
    if o.ndim < 1:
        raise ValueError(f"fastff.ops.{op}: argument `output` must be at least rank 1")
    ax = norm_axes(axis, o.ndim, op)[0]  # type: ignore[index]
    t = np.asarray(val(target, op))
    if t.ndim == o.ndim and t.shape[ax] == 1:
        t = np.squeeze(t, ax)
    if t.shape != o.shape[:ax] + o.shape[ax + 1:]:
        raise ValueError(f"fastff.ops.{op}: arguments `target` and `output` must have the "
                         f"same shape up until the last dimension: target.shape={t.shape}, "
                         f"output.shape={o.shape}")
    if t.dtype.kind == "f":
        t = t.astype(np.int64)
    if t.size and (t.min() < 0 or t.max() >= o.shape[ax]):
        raise ValueError(f"fastff.ops.{op}: target ids must be in [0, {o.shape[ax]}), got "
                         f"[{t.min()}, {t.max()}]")
    if from_logits:
        logp = _nn.log_softmax(output, axis=ax)
    else:
        p = _math.divide(output, _math.sum(output, axis=ax, keepdims=True))
        logp = _math.log(_math.clip(p, EPSILON, 1.0 - EPSILON))
    picked = _take_along_axis(logp, np.expand_dims(t, ax), ax)
    return _math.negative(_squeeze(picked, ax))


def moments(x: Any, axes: Any, keepdims: bool = False, synchronized: bool = False) -> tuple:
    """``(mean, variance)`` over ``axes`` (biased variance, as Keras)."""
    if synchronized:
        raise OpsError("fastff.ops.moments: synchronized=True (cross-replica) is not supported")
    return (_math.mean(x, axis=axes, keepdims=keepdims),
            _math.var(x, axis=axes, keepdims=keepdims))


def normalize(x: Any, axis: Any = -1, order: int = 2, epsilon: float | None = None) -> Any:
    """``x / max(norm(x, order, axis), epsilon)`` (Keras: order 2 as
    ``x * min(rsqrt(sum x²), 1/epsilon)``)."""
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"Argument `order` must be an int >= 1. Received: order={order}")
    eps = EPSILON if epsilon is None else float(epsilon)
    if np.ndim(val(x, "normalize")) == 0:
        x = _reshape(x, (1,))
    if order == 2:
        sq = _math.sum(_math.square(x), axis=axis, keepdims=True)
        with np.errstate(divide="ignore"):
            inv = _math.minimum(_math.reciprocal(_math.sqrt(sq)), 1.0 / eps)
        return _math.multiply(x, inv)
    norm = _math.power(_math.sum(_math.power(_math.abs(x), order), axis=axis, keepdims=True),
                       1.0 / order)
    return _math.divide(x, _math.maximum(norm, eps))



def hard_shrink(x: Any, threshold: float = 0.5) -> Any:
    """``x`` where ``|x| > threshold``, else 0."""
    a = val(x, "hard_shrink")
    keep = np.abs(a) > threshold
    return record("hard_shrink", np.where(keep, a, 0), (x,), lambda g, n: (g * keep,))


def soft_shrink(x: Any, threshold: float = 0.5) -> Any:
    """``x - threshold`` above it, ``x + threshold`` below ``-threshold``, else 0."""
    a = val(x, "soft_shrink")
    o = np.where(a > threshold, a - threshold, np.where(a < -threshold, a + threshold, 0))
    return record("soft_shrink", o, (x,), lambda g, n: (g * (np.abs(a) > threshold),))


def tanh_shrink(x: Any) -> Any:
    """``x - tanh(x)``."""
    a = val(x, "tanh_shrink")
    t = np.tanh(a)
    return record("tanh_shrink", a - t, (x,), lambda g, n: (g * t * t,))


def squareplus(x: Any, b: float = 4) -> Any:
    """``(x + sqrt(x² + b)) / 2``."""
    a = val(x, "squareplus")
    r = np.sqrt(np.square(a) + b)
    return record("squareplus", (a + r) / 2, (x,), lambda g, n: (g * (1 + a / r) / 2,))


def sparse_plus(x: Any) -> Any:
    """0 for ``x <= -1``, ``x`` for ``x >= 1``, ``(x + 1)² / 4`` between."""
    a = val(x, "sparse_plus")
    o = np.where(a <= -1, 0, np.where(a >= 1, a, np.square(a + 1) / 4))
    return record("sparse_plus", o, (x,), lambda g, n: (
        g * np.where(a <= -1, 0, np.where(a >= 1, 1, (a + 1) / 2)),))


def threshold(x: Any, threshold: float, default_value: float) -> Any:
    """``x`` where ``x > threshold``, else ``default_value``."""
    a = val(x, "threshold")
    keep = np.asarray(a) > threshold
    return record("threshold", np.where(keep, a, default_value), (x,),
                  lambda g, n: (g * keep,))
