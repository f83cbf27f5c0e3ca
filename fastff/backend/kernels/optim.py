"""Optimizer updates over flat buffers, one fused pass per step.

The arithmetic of each element is ``backend/scalar.py``'s body for that optimizer, compiled
inline here; this module only adds the loops. Range kernels slice their arrays to
``[lo, hi)`` and loop from 0: indices then are provably non-negative, so Numba drops its
negative-index wraparound and LLVM vectorises (8x here). ``opt_apply`` takes the packed form
(code, three buffers, ``consts``; see ``scalar``) and is what ``CpuOps.optimizer_step``
(through ``range_kernel``) and the compiled training step both run. All scalars arrive
already cast to the buffer dtype.
"""

from __future__ import annotations

from typing import Any

from numba import njit

from fastff.backend import scalar as S
from fastff.backend.kernels import NJIT

_INLINE = {"inline": "always", "error_model": "numpy"}
grad_in = njit(**_INLINE)(S.grad_in)
_sgd = njit(**_INLINE)(S.sgd_elem)
_adagrad = njit(**_INLINE)(S.adagrad_elem)
_rmsprop = njit(**_INLINE)(S.rmsprop_elem)
_adam = njit(**_INLINE)(S.adam_elem)
_adamax = njit(**_INLINE)(S.adamax_elem)
_nadam = njit(**_INLINE)(S.nadam_elem)
_adadelta = njit(**_INLINE)(S.adadelta_elem)
_lion = njit(**_INLINE)(S.lion_elem)
_ftrl = njit(**_INLINE)(S.ftrl_elem)
SGD, ADAGRAD, RMSPROP, ADAM = S.SGD, S.ADAGRAD, S.RMSPROP, S.ADAM
ADAMAX, NADAM, ADADELTA, LION, FTRL = S.ADAMAX, S.NADAM, S.ADADELTA, S.LION, S.FTRL


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
def adamax_range(p, g, m, u, alpha, omb1, b2, eps, wdlr, gscale, clip, tiny, lo, hi):
    p = p[lo:hi]
    g = g[lo:hi]
    m = m[lo:hi]
    u = u[lo:hi]
    for i in range(hi - lo):
        p[i], m[i], u[i] = _adamax(p[i], grad_in(g[i], gscale, clip), m[i], u[i], alpha, omb1,
                                   b2, eps, wdlr, tiny)


@njit(**NJIT)
def nadam_range(p, g, m, v, lr, omb1, omb2, eps, c_m, c_g, c_v, wdlr, gscale, clip, tiny, lo,
                hi):
    p = p[lo:hi]
    g = g[lo:hi]
    m = m[lo:hi]
    v = v[lo:hi]
    for i in range(hi - lo):
        p[i], m[i], v[i] = _nadam(p[i], grad_in(g[i], gscale, clip), m[i], v[i], lr, omb1,
                                  omb2, eps, c_m, c_g, c_v, wdlr, tiny)


@njit(**NJIT)
def adadelta_range(p, g, ag, ad, lr, rho, omr, eps, wdlr, gscale, clip, tiny, lo, hi):
    p = p[lo:hi]
    g = g[lo:hi]
    ag = ag[lo:hi]
    ad = ad[lo:hi]
    for i in range(hi - lo):
        p[i], ag[i], ad[i] = _adadelta(p[i], grad_in(g[i], gscale, clip), ag[i], ad[i], lr, rho,
                                       omr, eps, wdlr, tiny)


@njit(**NJIT)
def lion_range(p, g, m, lr, b1, omb1, b2, omb2, wdlr, gscale, clip, tiny, lo, hi):
    p = p[lo:hi]
    g = g[lo:hi]
    m = m[lo:hi]
    for i in range(hi - lo):
        p[i], m[i] = _lion(p[i], grad_in(g[i], gscale, clip), m[i], lr, b1, omb1, b2, omb2,
                           wdlr, tiny)


@njit(**NJIT)
def ftrl_range(p, g, acc, lin, lr, npow, l1, l2, shrink2, beta, wdlr, gscale, clip, lo, hi):
    p = p[lo:hi]
    g = g[lo:hi]
    acc = acc[lo:hi]
    lin = lin[lo:hi]
    for i in range(hi - lo):
        p[i], acc[i], lin[i] = _ftrl(p[i], grad_in(g[i], gscale, clip), acc[i], lin[i], lr, npow,
                                     l1, l2, shrink2, beta, wdlr)


@njit(**{**NJIT, "inline": "always"})
def opt_apply(code, p, g, b0, b1, b2, consts, lr, wdlr, gscale, lo, hi):
    """One step of the packed optimizer ``code`` over ``[lo, hi)`` (see ``scalar``), inlined
    into its caller: where ``code`` is a compile-time constant there (``range_kernel``, the
    compiled training step) only that optimizer's branch is compiled."""
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
    elif code == ADAMAX:
        adamax_range(p, g, b0, b1, lr, t(consts[2]), t(consts[3]), t(consts[4]), wdlr, gscale,
                     clip, tiny, lo, hi)
    elif code == NADAM:
        nadam_range(p, g, b0, b1, lr, t(consts[2]), t(consts[3]), t(consts[4]), t(consts[5]),
                    t(consts[6]), t(consts[7]), wdlr, gscale, clip, tiny, lo, hi)
    elif code == ADADELTA:
        adadelta_range(p, g, b0, b1, lr, t(consts[2]), t(consts[3]), t(consts[4]), wdlr,
                       gscale, clip, tiny, lo, hi)
    elif code == LION:
        lion_range(p, g, b0, lr, t(consts[2]), t(consts[3]), t(consts[4]), t(consts[5]), wdlr,
                   gscale, clip, tiny, lo, hi)
    elif code == FTRL:
        ftrl_range(p, g, b0, b1, lr, t(consts[2]), t(consts[3]), t(consts[4]), t(consts[5]),
                   t(consts[6]), wdlr, gscale, clip, lo, hi)


_BY_CODE: dict[int, Any] = {}


def range_kernel(code: int) -> Any:
    """``opt_apply`` for one optimizer ``code``, without the code argument: compiles only that
    optimizer (a first ``fit`` on the general engine compiles one update, not nine). The
    same ``opt_apply`` body, hence the same bits; cached on disk per code."""
    kernel = _BY_CODE.get(code)
    if kernel is None:
        c = int(code)

        @njit(**NJIT)
        def opt_code_range(p, g, b0, b1, b2, consts, lr, wdlr, gscale, lo, hi):
            opt_apply(c, p, g, b0, b1, b2, consts, lr, wdlr, gscale, lo, hi)

        kernel = _BY_CODE[code] = opt_code_range
    return kernel
