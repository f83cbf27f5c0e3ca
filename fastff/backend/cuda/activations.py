"""Elementwise activations and their derivatives as CUDA device functions and kernels.

One integer code per activation (``ACT_CODES``) selects the formula inside one kernel, so the
GEMM epilogue can call the same ``act_forward`` device function. Formulas follow
``NumpyOps``: derivatives from the output y, except gelu and silu (from the input x).
Kernels are built per dtype so every constant has the array's precision.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from fastff.backend import spec
from fastff.backend.cuda._cuda import cuda
from fastff.backend.cuda._launch import scalar_type

ACT_CODES = spec.codes()  # the elementwise codes of backend/spec.py
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
SQRT_HALF = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327


@cache
def device_functions(dtype: Any) -> tuple[Any, Any, Any]:
    """``(sigmoid(v), act_forward(code, v, p), act_backward(code, dy, x, y, p))`` for dtype."""
    t = scalar_type(dtype)
    zero, one, half, six = t(0), t(1), t(0.5), t(6)
    sa, sc, sca = t(SELU_ALPHA), t(SELU_SCALE), t(SELU_SCALE * SELU_ALPHA)
    sh, c2pi, mhalf = t(SQRT_HALF), t(INV_SQRT_2PI), t(-0.5)

    @cuda.jit(device=True)
    def sigmoid(v):
        e = t(math.exp(-abs(v)))
        return one / (one + e) if v >= zero else e / (one + e)

    @cuda.jit(device=True)
    def act_forward(code, v, p):
        if code == 0:
            return v
        if code == 1:
            return zero if v < zero else v
        if code == 2:
            return v if v > zero else v * p
        if code == 3:
            return v if v > zero else p * t(math.expm1(v))
        if code == 4:
            return sc * (v if v > zero else sa * t(math.expm1(v)))
        if code == 5:
            return half * v * (one + t(math.erf(v * sh)))
        if code == 6:
            return t(math.tanh(v))
        if code == 7:
            return sigmoid(v)
        if code == 8:
            h = v / six + half
            return zero if h < zero else (one if h > one else h)
        if code == 9:
            return (v if v > zero else zero) + t(math.log1p(math.exp(-abs(v))))
        if code == 10:
            return v / (one + abs(v))
        if code == 11:
            return v * sigmoid(v)
        return t(math.exp(v))

    @cuda.jit(device=True)
    def act_backward(code, dy, x, y, p):
        if code == 0:
            return dy
        if code == 1:
            return dy if y > zero else zero
        if code == 2:
            return dy if y > zero else dy * p
        if code == 3:
            return dy if y > zero else dy * (y + p)
        if code == 4:
            return dy * sc if y > zero else dy * (y + sca)
        if code == 5:
            cdf = half * (one + t(math.erf(x * sh)))
            pdf = t(math.exp(mhalf * x * x)) * c2pi
            return dy * (cdf + x * pdf)
        if code == 6:
            return dy * (one - y * y)
        if code == 7:
            return dy * (y * (one - y))
        if code == 8:
            return dy / six if (y > zero and y < one) else zero
        if code == 9:
            return dy * -t(math.expm1(-y))
        if code == 10:
            a = one - abs(y)
            return dy * (a * a)
        if code == 11:
            s = sigmoid(x)
            return dy * (s * (one + x * (one - s)))
        return dy * y

    return sigmoid, act_forward, act_backward


@cache
def kernels(dtype: Any) -> tuple[Any, Any]:
    """``(forward(x, out, code, p), backward(dy, x, y, out, code, p))`` over flat arrays."""
    _, act_forward, act_backward = device_functions(dtype)

    @cuda.jit
    def forward(x, out, code, p):
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for i in range(start, x.size, stride):
            out[i] = act_forward(code, x[i], p)

    @cuda.jit
    def backward(dy, x, y, out, code, p):
        start, stride = cuda.grid(1), cuda.gridsize(1)
        for i in range(start, dy.size, stride):
            out[i] = act_backward(code, dy[i], x[i], y[i], p)

    return forward, backward
