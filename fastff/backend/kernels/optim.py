"""Optimizer updates over flat buffers, one fused pass per step.

Range kernels slice their arrays to ``[lo, hi)`` and loop from 0: indices then are provably
non-negative, so Numba drops its negative-index wraparound and LLVM vectorises (8x here).
Each kernel first transforms the gradient (``g = clip(g * gscale, -clip, clip)``; clip = inf
when unused), decays the weight (``p -= p * wdlr`` when ``wdlr != 0``), then applies its
update, flushing moments below ``tiny`` to zero so they never turn subnormal. Operation
order matches ``NumpyOps`` so both agree bit for bit on the same input. All scalars arrive
already cast to the buffer dtype.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastff.backend.kernels import NJIT


@njit(inline="always", error_model="numpy")
def _grad(g, gscale, clip):
    v = g * gscale
    if v > clip:
        v = clip
    elif v < -clip:
        v = -clip
    return v


@njit(**NJIT)
def sgd_range(p, g, vel, lr, mom, nesterov, wdlr, gscale, clip, tiny, lo, hi):
    use_vel = vel.size > 0
    p = p[lo:hi]
    g = g[lo:hi]
    vel = vel[lo:hi]
    zero = lr - lr
    for i in range(hi - lo):
        gi = _grad(g[i], gscale, clip)
        pi = p[i]
        if wdlr != zero:
            pi = pi - pi * wdlr
        if not use_vel:
            pi = pi - lr * gi
        else:
            vi = mom * vel[i] - lr * gi
            if abs(vi) < tiny:
                vi = zero
            vel[i] = vi
            if nesterov:
                pi = pi + (mom * vi - lr * gi)
            else:
                pi = pi + vi
        p[i] = pi


@njit(**NJIT)
def adagrad_range(p, g, acc, lr, eps, wdlr, gscale, clip, lo, hi):
    p = p[lo:hi]
    g = g[lo:hi]
    acc = acc[lo:hi]
    zero = lr - lr
    for i in range(hi - lo):
        gi = _grad(g[i], gscale, clip)
        pi = p[i]
        if wdlr != zero:
            pi = pi - pi * wdlr
        a = acc[i] + gi * gi
        acc[i] = a
        p[i] = pi - (lr * gi) / np.sqrt(a + eps)


@njit(**NJIT)
def rmsprop_range(p, g, vel, mb, ag, lr, rho, omr, mom, eps, wdlr, gscale, clip, tiny, lo, hi):
    p = p[lo:hi]
    g = g[lo:hi]
    zero = lr - lr
    centered = ag.size > 0
    use_mom = mb.size > 0
    vel = vel[lo:hi]
    mb = mb[lo:hi]
    ag = ag[lo:hi]
    for i in range(hi - lo):
        gi = _grad(g[i], gscale, clip)
        pi = p[i]
        if wdlr != zero:
            pi = pi - pi * wdlr
        v = rho * vel[i] + omr * (gi * gi)
        if abs(v) < tiny:
            v = zero
        vel[i] = v
        if centered:
            a = rho * ag[i] + omr * gi
            if abs(a) < tiny:
                a = zero
            ag[i] = a
            den = v - a * a + eps
        else:
            den = v + eps
        inc = (lr * gi) / np.sqrt(den)
        if use_mom:
            m = mom * mb[i] + inc
            if abs(m) < tiny:
                m = zero
            mb[i] = m
            p[i] = pi - m
        else:
            p[i] = pi - inc


@njit(**NJIT)
def adam_range(p, g, m, v, vh, alpha, omb1, omb2, eps, wdlr, gscale, clip, tiny, lo, hi):
    p = p[lo:hi]
    g = g[lo:hi]
    m = m[lo:hi]
    v = v[lo:hi]
    zero = alpha - alpha
    ams = vh.size > 0
    vh = vh[lo:hi]
    for i in range(hi - lo):
        gi = _grad(g[i], gscale, clip)
        pi = p[i]
        if wdlr != zero:
            pi = pi - pi * wdlr
        mi = m[i]
        mi = mi + (gi - mi) * omb1
        vi = v[i]
        vi = vi + (gi * gi - vi) * omb2
        if abs(mi) < tiny:
            mi = zero
        if vi < tiny:
            vi = zero
        m[i] = mi
        v[i] = vi
        if ams:
            if vi > vh[i]:
                vh[i] = vi
            vi = vh[i]
        p[i] = pi - (mi * alpha) / (np.sqrt(vi) + eps)


@njit(**NJIT)
def sgd(p, g, vel, lr, mom, nesterov, wdlr, gscale, clip, tiny):
    sgd_range(p, g, vel, lr, mom, nesterov, wdlr, gscale, clip, tiny, 0, p.size)



@njit(**NJIT)
def adagrad(p, g, acc, lr, eps, wdlr, gscale, clip):
    adagrad_range(p, g, acc, lr, eps, wdlr, gscale, clip, 0, p.size)



@njit(**NJIT)
def rmsprop(p, g, vel, mb, ag, lr, rho, omr, mom, eps, wdlr, gscale, clip, tiny):
    rmsprop_range(p, g, vel, mb, ag, lr, rho, omr, mom, eps, wdlr, gscale, clip, tiny, 0, p.size)



@njit(**NJIT)
def adam(p, g, m, v, vh, alpha, omb1, omb2, eps, wdlr, gscale, clip, tiny):
    adam_range(p, g, m, v, vh, alpha, omb1, omb2, eps, wdlr, gscale, clip, tiny, 0, p.size)
