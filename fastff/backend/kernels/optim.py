"""Optimizer updates over flat buffers, one fused pass per step.

The arithmetic of each element is ``backend/scalar.py``'s body for that optimizer, compiled
inline here; this module only adds the loops. Range kernels slice their arrays to
``[lo, hi)`` and loop from 0: indices then are provably non-negative, so Numba drops its
negative-index wraparound and LLVM vectorises (8x here). ``opt_range`` takes the packed form
(code, three buffers, ``consts``; see ``scalar``) and is what ``CpuOps.optimizer_step`` and
the compiled training step both run. All scalars arrive already cast to the buffer dtype.
"""

from __future__ import annotations

from numba import njit

from fastff.backend import scalar as S
from fastff.backend.kernels import NJIT

_INLINE = {"inline": "always", "error_model": "numpy"}
grad_in = njit(**_INLINE)(S.grad_in)
_sgd = njit(**_INLINE)(S.sgd_elem)
_adagrad = njit(**_INLINE)(S.adagrad_elem)
_rmsprop = njit(**_INLINE)(S.rmsprop_elem)
_adam = njit(**_INLINE)(S.adam_elem)
SGD, ADAGRAD, RMSPROP, ADAM = S.SGD, S.ADAGRAD, S.RMSPROP, S.ADAM


@njit(**NJIT)
def sgd_range(p, g, vel, lr, mom, nesterov, wdlr, gscale, clip, tiny, lo, hi):
    use_vel = vel.size > 0
    p = p[lo:hi]
    g = g[lo:hi]
    vel = vel[lo:hi]
    zero = lr - lr
    for i in range(hi - lo):
        p[i], v = _sgd(p[i], grad_in(g[i], gscale, clip), vel[i] if use_vel else zero,
                       use_vel, nesterov, lr, mom, wdlr, tiny)
        if use_vel:
            vel[i] = v


@njit(**NJIT)
def adagrad_range(p, g, acc, lr, eps, wdlr, gscale, clip, lo, hi):
    p = p[lo:hi]
    g = g[lo:hi]
    acc = acc[lo:hi]
    for i in range(hi - lo):
        p[i], acc[i] = _adagrad(p[i], grad_in(g[i], gscale, clip), acc[i], lr, eps, wdlr)


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
        p[i], vel[i], m, a = _rmsprop(
            p[i], grad_in(g[i], gscale, clip), vel[i], mb[i] if use_mom else zero,
            ag[i] if centered else zero, use_mom, centered, lr, rho, omr, mom, eps, wdlr, tiny)
        if use_mom:
            mb[i] = m
        if centered:
            ag[i] = a


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
        p[i], m[i], v[i], h = _adam(p[i], grad_in(g[i], gscale, clip), m[i], v[i],
                                    vh[i] if ams else zero, ams, alpha, omb1, omb2, eps, wdlr,
                                    tiny)
        if ams:
            vh[i] = h


@njit(**NJIT)
def opt_range(code, p, g, b0, b1, b2, consts, lr, wdlr, gscale, lo, hi):
    """One step of the packed optimizer ``code`` over ``[lo, hi)`` (see ``scalar``)."""
    t = p.dtype.type
    clip = t(consts[0])
    tiny = t(consts[1])
    if code == ADAM:
        adam_range(p, g, b0, b1, b2, lr, t(consts[2]), t(consts[3]), t(consts[4]), wdlr,
                   gscale, clip, tiny, lo, hi)
    elif code == SGD:
        sgd_range(p, g, b0, lr, t(consts[2]), consts[3] != 0.0, wdlr, gscale, clip, tiny, lo,
                  hi)
    elif code == RMSPROP:
        rmsprop_range(p, g, b0, b1, b2, lr, t(consts[2]), t(consts[3]), t(consts[4]),
                      t(consts[5]), wdlr, gscale, clip, tiny, lo, hi)
    elif code == ADAGRAD:
        adagrad_range(p, g, b0, lr, t(consts[2]), wdlr, gscale, clip, lo, hi)
