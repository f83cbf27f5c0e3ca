"""Optimizer updates over flat device buffers, one kernel per step.

Each thread walks its grid-stride share of the buffer and does the whole update for an
element: gradient transform ``g = clip(g * gscale, -clip, clip)`` (clip = inf when unused),
decoupled weight decay ``p -= p * wdlr`` (when non-zero), then the rule, flushing moments
below ``tiny`` to zero. The order of operations is ``NumpyOps``'s. Scalars arrive cast to
the buffer dtype; empty state buffers (size 0) switch features off.
"""

from __future__ import annotations

import math

from fastff.backend.cuda._cuda import cuda


@cuda.jit(device=True)
def _grad(g, gscale, clip):
    v = g * gscale
    if v > clip:
        v = clip
    elif v < -clip:
        v = -clip
    return v


@cuda.jit
def sgd(p, g, vel, lr, mom, nesterov, wdlr, gscale, clip, tiny):
    zero = lr - lr
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        gi = _grad(g[i], gscale, clip)
        pi = p[i]
        if wdlr != zero:
            pi = pi - pi * wdlr
        if vel.size == 0:
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


@cuda.jit
def adagrad(p, g, acc, lr, eps, wdlr, gscale, clip):
    zero = lr - lr
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        gi = _grad(g[i], gscale, clip)
        pi = p[i]
        if wdlr != zero:
            pi = pi - pi * wdlr
        a = acc[i] + gi * gi
        acc[i] = a
        p[i] = pi - (lr * gi) / math.sqrt(a + eps)


@cuda.jit
def rmsprop(p, g, vel, mb, ag, lr, rho, omr, mom, eps, wdlr, gscale, clip, tiny):
    zero = lr - lr
    centered = ag.size > 0
    use_mom = mb.size > 0
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        gi = _grad(g[i], gscale, clip)
        pi = p[i]
        if wdlr != zero:
            pi = pi - pi * wdlr
        v = rho * vel[i] + omr * (gi * gi)
        if abs(v) < tiny:
            v = zero
        vel[i] = v
        den = v + eps
        if centered:
            a = rho * ag[i] + omr * gi
            if abs(a) < tiny:
                a = zero
            ag[i] = a
            den = v - a * a + eps
        inc = (lr * gi) / math.sqrt(den)
        if use_mom:
            mi = mom * mb[i] + inc
            if abs(mi) < tiny:
                mi = zero
            mb[i] = mi
            pi = pi - mi
        else:
            pi = pi - inc
        p[i] = pi


@cuda.jit
def adam(p, g, m, v, vhat, alpha, omb1, omb2, eps, wdlr, gscale, clip, tiny):
    zero = alpha - alpha
    ams = vhat.size > 0
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        gi = _grad(g[i], gscale, clip)
        pi = p[i]
        if wdlr != zero:
            pi = pi - pi * wdlr
        mi = m[i] + (gi - m[i]) * omb1
        vi = v[i] + (gi * gi - v[i]) * omb2
        if abs(mi) < tiny:
            mi = zero
        if abs(vi) < tiny:
            vi = zero
        m[i] = mi
        v[i] = vi
        if ams:
            if vi > vhat[i]:
                vhat[i] = vi
            vi = vhat[i]
        p[i] = pi - (mi * alpha) / (math.sqrt(vi) + eps)
