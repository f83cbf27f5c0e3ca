"""One per-element body per activation, in plain Python: its forward and its derivative.

Every elementwise activation of fastff's Numba and CUDA backends is written here once, as a
function of scalars: ``kernels/activations.py`` compiles the bodies with
``numba.njit(inline="always")`` inside its CPU loops (which ``CpuOps`` and the compiled
training step run), and ``cuda/activations.py`` with ``numba.cuda.jit(device=True)`` inside
its kernels and the CUDA GEMM epilogue. This module imports no Numba, and the bodies use only
``math``, ``abs`` and arithmetic, which both Numba targets compile.

Each activation with an elementwise code (``backend/spec.py``) registers two bodies under its
name:

- ``forward(x, p, t) -> y``
- ``grad(dy, x, y, p, t) -> dx``: ``dy * act'``, from the output ``y`` when the spec row says
  ``grad_from_output`` (``x`` is then whatever the caller has, often ``y`` itself), else
  from the input ``x``.

``p`` is the activation's one scalar parameter (``spec.param_name``; 0 when it takes none) and
``t`` the scalar type of the arrays (``numpy.float32`` or ``numpy.float64``): every constant
is written ``t(c)``, so the arithmetic runs in the arrays' precision on every path. A forward
body gives NaN for a NaN input (its comparisons send a NaN down a branch that returns it or
computes with it), as IEEE arithmetic and ``NumpyOps`` do; the derivatives follow ``NumpyOps``'s
``where`` forms exactly (relu's is 0 where y is not > 0, NaN y included).

The NumPy reference (``NumpyOps``) and the C GEMM epilogue (``csrc/epilogue_impl.h``) are
written separately: one is the oracle the tests hold these bodies to, the other is C.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["FORWARD", "GRAD", "forward", "grad", "SELU_ALPHA", "SELU_SCALE",
           "SELU_SCALE_ALPHA", "SQRT_HALF", "INV_SQRT_2PI"]

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
SQRT_HALF = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327
SELU_SCALE_ALPHA = SELU_SCALE * SELU_ALPHA

#: activation name -> forward body / derivative body (one pair per elementwise code)
FORWARD: dict[str, Callable] = {}
GRAD: dict[str, Callable] = {}


def forward(name: str) -> Callable[[Callable], Callable]:
    """Register the decorated function as the forward body of ``name``."""
    def register(fn: Callable) -> Callable:
        FORWARD[name] = fn
        return fn
    return register


def grad(name: str) -> Callable[[Callable], Callable]:
    """Register the decorated function as the derivative body of ``name``."""
    def register(fn: Callable) -> Callable:
        GRAD[name] = fn
        return fn
    return register


@forward("linear")
def linear(x, p, t):
    return x


@grad("linear")
def linear_grad(dy, x, y, p, t):
    return dy


@forward("relu")
def relu(x, p, t):
    return t(0) if x < t(0) else x


@grad("relu")
def relu_grad(dy, x, y, p, t):
    return dy if y > t(0) else t(0)


@forward("leaky_relu")
def leaky_relu(x, p, t):
    return x if x > t(0) else x * p


@grad("leaky_relu")
def leaky_relu_grad(dy, x, y, p, t):
    return dy if y > t(0) else dy * p


@forward("elu")
def elu(x, p, t):
    return x if x > t(0) else p * t(math.expm1(x))


@grad("elu")
def elu_grad(dy, x, y, p, t):
    return dy if y > t(0) else dy * (y + p)


@forward("selu")
def selu(x, p, t):
    return t(SELU_SCALE) * (x if x > t(0) else t(SELU_ALPHA) * t(math.expm1(x)))


@grad("selu")
def selu_grad(dy, x, y, p, t):
    return dy * t(SELU_SCALE) if y > t(0) else dy * (y + t(SELU_SCALE_ALPHA))


@forward("gelu")
def gelu(x, p, t):
    """The exact erf form (Keras's ``approximate=False``)."""
    return t(0.5) * x * (t(1) + t(math.erf(x * t(SQRT_HALF))))


@grad("gelu")
def gelu_grad(dy, x, y, p, t):
    """From the input x."""
    cdf = t(0.5) * (t(1) + t(math.erf(x * t(SQRT_HALF))))
    pdf = t(math.exp(t(-0.5) * x * x)) * t(INV_SQRT_2PI)
    return dy * (cdf + x * pdf)


@forward("tanh")
def tanh(x, p, t):
    return t(math.tanh(x))


@grad("tanh")
def tanh_grad(dy, x, y, p, t):
    return dy * (t(1) - y * y)


@forward("sigmoid")
def sigmoid(x, p, t):
    """Without overflow: exp of a non-positive number only."""
    e = t(math.exp(-abs(x)))
    return t(1) / (t(1) + e) if x >= t(0) else e / (t(1) + e)


@grad("sigmoid")
def sigmoid_grad(dy, x, y, p, t):
    return dy * (y * (t(1) - y))


@forward("hard_sigmoid")
def hard_sigmoid(x, p, t):
    v = x / t(6) + t(0.5)
    return t(0) if v < t(0) else (t(1) if v > t(1) else v)


@grad("hard_sigmoid")
def hard_sigmoid_grad(dy, x, y, p, t):
    return dy / t(6) if (y > t(0) and y < t(1)) else t(0)


@forward("softplus")
def softplus(x, p, t):
    return (x if x > t(0) else t(0)) + t(math.log1p(math.exp(-abs(x))))


@grad("softplus")
def softplus_grad(dy, x, y, p, t):
    return dy * -t(math.expm1(-y))


@forward("softsign")
def softsign(x, p, t):
    return x / (t(1) + abs(x))


@grad("softsign")
def softsign_grad(dy, x, y, p, t):
    a = t(1) - abs(y)
    return dy * (a * a)


@forward("silu")
def silu(x, p, t):
    """``x * sigmoid(x)`` (sigmoid as above; a body calls no other body, so that each
    compiles on its own for either target)."""
    e = t(math.exp(-abs(x)))
    return x * (t(1) / (t(1) + e) if x >= t(0) else e / (t(1) + e))


@grad("silu")
def silu_grad(dy, x, y, p, t):
    """From the input x."""
    e = t(math.exp(-abs(x)))
    s = t(1) / (t(1) + e) if x >= t(0) else e / (t(1) + e)
    return dy * (s * (t(1) + x * (t(1) - s)))


@forward("exponential")
def exponential(x, p, t):
    return t(math.exp(x))


@grad("exponential")
def exponential_grad(dy, x, y, p, t):
    return dy * y


@forward("relu6")
def relu6(x, p, t):
    return t(0) if x < t(0) else (t(6) if x > t(6) else x)


@grad("relu6")
def relu6_grad(dy, x, y, p, t):
    return dy if (y > t(0) and y < t(6)) else t(0)


@forward("mish")
def mish(x, p, t):
    """``x * tanh(softplus(x))`` (softplus as above, without overflow)."""
    sp = (x if x > t(0) else t(0)) + t(math.log1p(math.exp(-abs(x))))
    return x * t(math.tanh(sp))


@grad("mish")
def mish_grad(dy, x, y, p, t):
    """From the input x: ``tanh(sp) + x * (1 - tanh(sp)^2) * sigmoid(x)``."""
    sp = (x if x > t(0) else t(0)) + t(math.log1p(math.exp(-abs(x))))
    th = t(math.tanh(sp))
    e = t(math.exp(-abs(x)))
    s = t(1) / (t(1) + e) if x >= t(0) else e / (t(1) + e)
    return dy * (th + x * (t(1) - th * th) * s)


@forward("hard_silu")
def hard_silu(x, p, t):
    """``x * relu6(x + 3) / 6`` (Keras 3's, with torch's order of operations)."""
    r = x + t(3)
    r = t(0) if r < t(0) else (t(6) if r > t(6) else r)
    return x * r / t(6)


@grad("hard_silu")
def hard_silu_grad(dy, x, y, p, t):
    """From the input x: 0 below -3, 1 above 3, ``(2x + 3) / 6`` between."""
    if x < t(-3):
        return t(0)
    if x > t(3):
        return dy
    return dy * (t(2) * x + t(3)) / t(6)


@forward("hard_tanh")
def hard_tanh(x, p, t):
    return t(-1) if x < t(-1) else (t(1) if x > t(1) else x)


@grad("hard_tanh")
def hard_tanh_grad(dy, x, y, p, t):
    return dy if (y > t(-1) and y < t(1)) else t(0)


@forward("log_sigmoid")
def log_sigmoid(x, p, t):
    """``-softplus(-x) = min(x, 0) - log1p(exp(-|x|))`` (no overflow)."""
    return (x if x < t(0) else t(0)) - t(math.log1p(math.exp(-abs(x))))


@grad("log_sigmoid")
def log_sigmoid_grad(dy, x, y, p, t):
    """``sigmoid(-x) = 1 - exp(y)``."""
    return dy * -t(math.expm1(y))


@forward("celu")
def celu(x, p, t):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    return x if x > t(0) else p * t(math.expm1(x / p))


@grad("celu")
def celu_grad(dy, x, y, p, t):
    """From y: ``exp(x / alpha) = y / alpha + 1`` where x <= 0."""
    return dy if y > t(0) else dy * (y / p + t(1))


@forward("hard_shrink")
def hard_shrink(x, p, t):
    return t(0) if (x >= -p and x <= p) else x


@grad("hard_shrink")
def hard_shrink_grad(dy, x, y, p, t):
    return t(0) if (x >= -p and x <= p) else dy


@forward("soft_shrink")
def soft_shrink(x, p, t):
    if x >= -p and x <= p:
        return t(0)
    return x - p if x > p else x + p


@grad("soft_shrink")
def soft_shrink_grad(dy, x, y, p, t):
    return t(0) if (x >= -p and x <= p) else dy


@forward("tanh_shrink")
def tanh_shrink(x, p, t):
    return x - t(math.tanh(x))


@grad("tanh_shrink")
def tanh_shrink_grad(dy, x, y, p, t):
    th = t(math.tanh(x))
    return dy * (th * th)


@forward("sparse_plus")
def sparse_plus(x, p, t):
    """0 for x <= -1, ``(x + 1)^2 / 4`` below 1, x from 1 on."""
    if x <= t(-1):
        return t(0)
    if x < t(1):
        return t(0.25) * ((x + t(1)) * (x + t(1)))
    return x


@grad("sparse_plus")
def sparse_plus_grad(dy, x, y, p, t):
    if x <= t(-1):
        return t(0)
    if x < t(1):
        return dy * (t(0.5) * (x + t(1)))
    return dy


@forward("sparse_sigmoid")
def sparse_sigmoid(x, p, t):
    if x <= t(-1):
        return t(0)
    return t(1) if x >= t(1) else t(0.5) * (x + t(1))


@grad("sparse_sigmoid")
def sparse_sigmoid_grad(dy, x, y, p, t):
    return dy * t(0.5) if (y > t(0) and y < t(1)) else t(0)


@forward("squareplus")
def squareplus(x, p, t):
    """``(x + sqrt(x^2 + b)) / 2``."""
    return (x + t(math.sqrt(x * x + p))) / t(2)


@grad("squareplus")
def squareplus_grad(dy, x, y, p, t):
    return dy * (t(0.5) * (t(1) + x / t(math.sqrt(x * x + p))))
