"""Elementwise activations and their derivatives (flat arrays, one code per activation).

The activation is chosen by an integer code outside the element loop, so each loop stays
simple enough to vectorise and one compiled function serves every activation (one compile
per dtype keeps first-call latency low). Derivatives use the output y except for gelu and
silu, which need the input x (see ``NumpyOps.backprop_activation``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fastff.backend.kernels import NJIT

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
SQRT_HALF = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327


@njit(**NJIT)
def _sigmoid1(v, one):
    e = np.exp(-abs(v))
    return one / (one + e) if v >= 0 else e / (one + e)


@njit(**NJIT)
def act_forward_range(x, out, code, p, lo, hi):
    """out[lo:hi] = act(x[lo:hi]) for the activation ``code`` with parameter ``p``."""
    x = x[lo:hi]
    out = out[lo:hi]
    t = x.dtype.type
    zero = t(0)
    one = t(1)
    if code == 0:
        for i in range(hi - lo):
            out[i] = x[i]
    elif code == 1:
        for i in range(hi - lo):
            v = x[i]
            out[i] = zero if v < zero else v
    elif code == 2:
        for i in range(hi - lo):
            v = x[i]
            out[i] = v if v > zero else v * p
    elif code == 3:
        for i in range(hi - lo):
            v = x[i]
            out[i] = v if v > zero else p * np.expm1(v)
    elif code == 4:
        sa = t(SELU_ALPHA)
        sc = t(SELU_SCALE)
        for i in range(hi - lo):
            v = x[i]
            out[i] = sc * (v if v > zero else sa * np.expm1(v))
    elif code == 5:
        half = t(0.5)
        sh = t(SQRT_HALF)
        for i in range(hi - lo):
            v = x[i]
            out[i] = half * v * (one + t(math.erf(v * sh)))
    elif code == 6:
        for i in range(hi - lo):
            out[i] = np.tanh(x[i])
    elif code == 7:
        for i in range(hi - lo):
            out[i] = _sigmoid1(x[i], one)
    elif code == 8:
        six = t(6)
        half = t(0.5)
        for i in range(hi - lo):
            v = x[i] / six + half
            out[i] = zero if v < zero else (one if v > one else v)
    elif code == 9:
        for i in range(hi - lo):
            v = x[i]
            out[i] = (v if v > zero else zero) + np.log1p(np.exp(-abs(v)))
    elif code == 10:
        for i in range(hi - lo):
            v = x[i]
            out[i] = v / (one + abs(v))
    elif code == 11:
        for i in range(hi - lo):
            v = x[i]
            out[i] = v * _sigmoid1(v, one)
    elif code == 12:
        for i in range(hi - lo):
            out[i] = np.exp(x[i])


@njit(**NJIT)
def act_backward_range(dy, x, y, out, code, p, lo, hi):
    """out[lo:hi] = dy * act'(.) from y (or x for gelu/silu)."""
    dy = dy[lo:hi]
    x = x[lo:hi]
    y = y[lo:hi]
    out = out[lo:hi]
    t = dy.dtype.type
    zero = t(0)
    one = t(1)
    if code == 0:
        for i in range(hi - lo):
            out[i] = dy[i]
    elif code == 1:
        for i in range(hi - lo):
            out[i] = dy[i] if y[i] > zero else zero
    elif code == 2:
        for i in range(hi - lo):
            out[i] = dy[i] if y[i] > zero else dy[i] * p
    elif code == 3:
        for i in range(hi - lo):
            out[i] = dy[i] if y[i] > zero else dy[i] * (y[i] + p)
    elif code == 4:
        sc = t(SELU_SCALE)
        sca = t(SELU_SCALE * SELU_ALPHA)
        for i in range(hi - lo):
            out[i] = dy[i] * sc if y[i] > zero else dy[i] * (y[i] + sca)
    elif code == 5:
        half = t(0.5)
        mhalf = t(-0.5)
        sh = t(SQRT_HALF)
        c = t(INV_SQRT_2PI)
        for i in range(hi - lo):
            v = x[i]
            cdf = half * (one + t(math.erf(v * sh)))
            pdf = np.exp(mhalf * v * v) * c
            out[i] = dy[i] * (cdf + v * pdf)
    elif code == 6:
        for i in range(hi - lo):
            out[i] = dy[i] * (one - y[i] * y[i])
    elif code == 7:
        for i in range(hi - lo):
            out[i] = dy[i] * (y[i] * (one - y[i]))
    elif code == 8:
        six = t(6)
        for i in range(hi - lo):
            out[i] = dy[i] / six if (y[i] > zero and y[i] < one) else zero
    elif code == 9:
        for i in range(hi - lo):
            out[i] = dy[i] * -np.expm1(-y[i])
    elif code == 10:
        for i in range(hi - lo):
            a = one - abs(y[i])
            out[i] = dy[i] * (a * a)
    elif code == 11:
        for i in range(hi - lo):
            v = x[i]
            s = _sigmoid1(v, one)
            out[i] = dy[i] * (s * (one + v * (one - s)))
    elif code == 12:
        for i in range(hi - lo):
            out[i] = dy[i] * y[i]


@njit(**NJIT)
def act_forward(x, out, code, p):
    act_forward_range(x, out, code, p, 0, x.size)



@njit(**NJIT)
def act_backward(dy, x, y, out, code, p):
    act_backward_range(dy, x, y, out, code, p, 0, dy.size)



@njit(**NJIT)
def act_backward_bias(dy, y, out, db, code, p):
    """Fused dense-backward prologue on 2-D (n, c) arrays: out = dy * act'(y) and
    db = column sums of out (rows added in order: deterministic) in one pass.

    Direct loops for the activations a Dense layer fuses (relu, leaky_relu, elu, tanh,
    sigmoid); returns False (nothing done) for any other code, which the caller then runs as
    the elementwise kernel plus the column sums. (Not calling the general kernel here keeps
    this function's first-call compile short.)
    """
    n, c = dy.shape
    zero = dy.dtype.type(0)
    one = dy.dtype.type(1)
    for j in range(c):
        db[j] = zero
    if code == 1:
        for i in range(n):
            for j in range(c):
                v = dy[i, j] if y[i, j] > zero else zero
                out[i, j] = v
                db[j] += v
    elif code == 2:
        for i in range(n):
            for j in range(c):
                v = dy[i, j] if y[i, j] > zero else dy[i, j] * p
                out[i, j] = v
                db[j] += v
    elif code == 3:
        for i in range(n):
            for j in range(c):
                v = dy[i, j] if y[i, j] > zero else dy[i, j] * (y[i, j] + p)
                out[i, j] = v
                db[j] += v
    elif code == 6:
        for i in range(n):
            for j in range(c):
                v = dy[i, j] * (one - y[i, j] * y[i, j])
                out[i, j] = v
                db[j] += v
    elif code == 7:
        for i in range(n):
            for j in range(c):
                v = dy[i, j] * (y[i, j] * (one - y[i, j]))
                out[i, j] = v
                db[j] += v
    else:
        return False
    return True
