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
from fastff.ops.elementwise import (
                             arccos,
                             arccosh,
                             arcsin,
                             arcsinh,
                             arctan,
                             arctan2,
                             arctanh,
                             ceil,
                             cos,
                             cosh,
                             exp2,
                             floor_divide,
                             hypot,
                             isinf,
                             log2,
                             log10,
                             logical_xor,
                             mod,
                             rsqrt,
                             sin,
                             sinh,
                             tan,
                             trunc,
)
from fastff.ops.gradient_tape import GradientTape, value_and_grad
from fastff.ops.layout import (
                             broadcast_to,
                             diag,
                             diagonal,
                             flip,
                             hstack,
                             linspace,
                             outer,
                             pad,
                             ravel,
                             roll,
                             swapaxes,
                             trace,
                             tri,
                             tril,
                             triu,
                             vstack,
)
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
from fastff.ops.nn_extra import (
                             binary_crossentropy,
                             categorical_crossentropy,
                             celu,
                             hard_sigmoid,
                             hard_silu,
                             hard_swish,
                             hard_tanh,
                             moments,
                             normalize,
                             softsign,
                             sparse_categorical_crossentropy,
)
from fastff.ops.reductions import (
                             all,
                             amax,
                             amin,
                             any,
                             argsort,
                             average,
                             count_nonzero,
                             cumprod,
                             cumsum,
                             median,
                             nonzero,
                             prod,
                             quantile,
                             sort,
                             top_k,
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
    # elementwise
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "arcsinh",
    "arccosh", "arctanh", "log2", "log10", "exp2", "rsqrt", "ceil", "trunc", "mod",
    "floor_divide", "isinf", "logical_xor", "hypot",
    # reductions, scans, order statistics
    "prod", "cumsum", "cumprod", "any", "all", "sort", "argsort", "top_k", "median",
    "quantile", "average", "count_nonzero", "nonzero", "amax", "amin",
    # layout
    "hstack", "vstack", "flip", "roll", "pad", "broadcast_to", "ravel", "diag", "diagonal",
    "triu", "tril", "outer", "swapaxes", "linspace", "tri", "trace",
    # more nn
    "hard_sigmoid", "hard_silu", "hard_swish", "softsign", "hard_tanh", "celu",
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "moments", "normalize",
    # recording
    "GradientTape", "value_and_grad", "forward_call", "Tensor", "OpsError", "NoGradientError",
]
