"""``fastff.ops``: array functions with Keras 3's ``keras.ops`` names, recorded for gradients.

They run eagerly on NumPy arrays and return NumPy arrays. Inside a recording (a
``GradientTape``, ``value_and_grad``, or a custom layer's ``call`` during training, see
``fastff.ops.tape.forward_call``) each op records its vector-Jacobian product on a per-thread
tape; built-in layers called there are single nodes whose backward is their fused kernel
``backprop``. Differences from ``keras.ops``: results are ``np.ndarray`` (recorded values are
the ``Tensor`` subclass of it); Python floats given to ``convert_to_tensor`` become ``floatx()``
as in Keras, but ops keep NumPy's promotion rules for arrays.
"""

from __future__ import annotations

from fastff.ops import _dispatch  # noqa: F401 (attaches the Tensor methods)
from fastff.ops.core import (
                             arange,
                             argmax,
                             argmin,
                             cast,
                             convert_to_numpy,
                             convert_to_tensor,
                             equal,
                             eye,
                             floor,
                             full,
                             full_like,
                             greater,
                             greater_equal,
                             identity,
                             isfinite,
                             isnan,
                             less,
                             less_equal,
                             logical_and,
                             logical_not,
                             logical_or,
                             not_equal,
                             ones,
                             ones_like,
                             round,
                             shape,
                             stop_gradient,
                             zeros,
                             zeros_like,
)
from fastff.ops.gradient_tape import GradientTape, value_and_grad
from fastff.ops.math import (
                             abs,
                             absolute,
                             add,
                             clip,
                             divide,
                             dot,
                             einsum,
                             erf,
                             exp,
                             expm1,
                             log,
                             log1p,
                             matmul,
                             max,
                             maximum,
                             mean,
                             min,
                             minimum,
                             multiply,
                             negative,
                             norm,
                             power,
                             reciprocal,
                             sign,
                             sqrt,
                             square,
                             std,
                             subtract,
                             sum,
                             true_divide,
                             var,
                             where,
)
from fastff.ops.nn import (
                             elu,
                             gelu,
                             leaky_relu,
                             log_sigmoid,
                             log_softmax,
                             logsumexp,
                             one_hot,
                             relu,
                             relu6,
                             selu,
                             sigmoid,
                             silu,
                             softmax,
                             softplus,
                             swish,
                             tanh,
)
from fastff.ops.shape import (
                             concatenate,
                             expand_dims,
                             flatten,
                             getitem,
                             moveaxis,
                             repeat,
                             reshape,
                             split,
                             squeeze,
                             stack,
                             take,
                             take_along_axis,
                             tile,
                             transpose,
)
from fastff.ops.tape import NoGradientError, OpsError, Tensor, forward_call

__all__ = [
    # math
    "add", "subtract", "multiply", "divide", "true_divide", "negative", "power", "matmul", "dot",
    "sum", "mean", "max", "min", "var", "std", "square", "sqrt", "exp", "expm1", "log",
    "log1p", "abs", "absolute", "sign", "clip", "maximum", "minimum", "where", "erf", "norm",
    "reciprocal", "einsum",
    # nn
    "relu", "relu6", "sigmoid", "log_sigmoid", "tanh", "softplus", "elu", "selu", "gelu",
    "leaky_relu", "silu", "swish", "softmax", "log_softmax", "logsumexp", "one_hot",
    # shape
    "concatenate", "stack", "split", "reshape", "transpose", "expand_dims", "squeeze", "take",
    "take_along_axis", "getitem", "flatten", "moveaxis", "tile", "repeat",
    # core
    "cast", "convert_to_tensor", "convert_to_numpy", "stop_gradient", "zeros", "ones",
    "zeros_like", "ones_like", "full", "full_like", "argmax", "argmin", "identity", "shape",
    "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and",
    "logical_or", "logical_not", "isnan", "isfinite", "floor", "round", "arange", "eye",
    # recording
    "GradientTape", "value_and_grad", "forward_call", "Tensor", "OpsError", "NoGradientError",
]
