"""Optimizer updates over flat device buffers, one kernel per step.

Each thread walks its grid-stride share of the buffer and runs, per element, the same body
the CPU kernels run: ``backend/scalar.py``'s function for the optimizer, compiled here as a
``cuda.jit(device=True)`` function. ``launch`` takes the packed form (code, three buffers,
``consts``; see ``scalar``). NVVM may contract multiply-adds into FMAs, so CPU and GPU agree
to rounding (docs/gpu.md). Scalars arrive cast to the buffer dtype; empty state buffers (size
0) switch features off.
"""

from __future__ import annotations

from typing import Any

from fastff.backend import scalar as S
from fastff.backend.cuda._cuda import cuda
from fastff.backend.cuda._launch import grid_1d

_grad_in = cuda.jit(device=True)(S.grad_in)
_sgd = cuda.jit(device=True)(S.sgd_elem)
_adagrad = cuda.jit(device=True)(S.adagrad_elem)
_rmsprop = cuda.jit(device=True)(S.rmsprop_elem)
_adam = cuda.jit(device=True)(S.adam_elem)
_adamax = cuda.jit(device=True)(S.adamax_elem)
_nadam = cuda.jit(device=True)(S.nadam_elem)
_adadelta = cuda.jit(device=True)(S.adadelta_elem)
_lion = cuda.jit(device=True)(S.lion_elem)
_ftrl = cuda.jit(device=True)(S.ftrl_elem)


@cuda.jit
def sgd(p, g, vel, lr, mom, nesterov, wdlr, gscale, clip, tiny):
    zero = lr - lr
    use_vel = vel.size > 0
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        pi, v = _sgd(p[i], _grad_in(g[i], gscale, clip), vel[i] if use_vel else zero, use_vel,
                     nesterov, lr, mom, wdlr, tiny)
        p[i] = pi
        if use_vel:
            vel[i] = v


@cuda.jit
def adagrad(p, g, acc, lr, eps, wdlr, gscale, clip):
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        pi, a = _adagrad(p[i], _grad_in(g[i], gscale, clip), acc[i], lr, eps, wdlr)
        p[i] = pi
        acc[i] = a


@cuda.jit
def rmsprop(p, g, vel, mb, ag, lr, rho, omr, mom, eps, wdlr, gscale, clip, tiny):
    zero = lr - lr
    centered = ag.size > 0
    use_mom = mb.size > 0
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        pi, v, m, a = _rmsprop(p[i], _grad_in(g[i], gscale, clip), vel[i],
                               mb[i] if use_mom else zero, ag[i] if centered else zero,
                               use_mom, centered, lr, rho, omr, mom, eps, wdlr, tiny)
        p[i] = pi
        vel[i] = v
        if use_mom:
            mb[i] = m
        if centered:
            ag[i] = a


@cuda.jit
def adam(p, g, m, v, vhat, alpha, omb1, omb2, eps, wdlr, gscale, clip, tiny):
    zero = alpha - alpha
    ams = vhat.size > 0
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        pi, mi, vi, h = _adam(p[i], _grad_in(g[i], gscale, clip), m[i], v[i],
                              vhat[i] if ams else zero, ams, alpha, omb1, omb2, eps, wdlr, tiny)
        p[i] = pi
        m[i] = mi
        v[i] = vi
        if ams:
            vhat[i] = h


@cuda.jit
def adamax(p, g, m, u, alpha, omb1, b2, eps, wdlr, gscale, clip, tiny):
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        pi, mi, ui = _adamax(p[i], _grad_in(g[i], gscale, clip), m[i], u[i], alpha, omb1, b2,
                             eps, wdlr, tiny)
        p[i] = pi
        m[i] = mi
        u[i] = ui


@cuda.jit
def nadam(p, g, m, v, lr, omb1, omb2, eps, c_m, c_g, c_v, wdlr, gscale, clip, tiny):
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        pi, mi, vi = _nadam(p[i], _grad_in(g[i], gscale, clip), m[i], v[i], lr, omb1, omb2, eps,
                            c_m, c_g, c_v, wdlr, tiny)
        p[i] = pi
        m[i] = mi
        v[i] = vi


@cuda.jit
def adadelta(p, g, ag, ad, lr, rho, omr, eps, wdlr, gscale, clip, tiny):
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        pi, a, d = _adadelta(p[i], _grad_in(g[i], gscale, clip), ag[i], ad[i], lr, rho, omr,
                             eps, wdlr, tiny)
        p[i] = pi
        ag[i] = a
        ad[i] = d


@cuda.jit
def lion(p, g, m, lr, b1, omb1, b2, omb2, wdlr, gscale, clip, tiny):
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        pi, mi = _lion(p[i], _grad_in(g[i], gscale, clip), m[i], lr, b1, omb1, b2, omb2, wdlr,
                       tiny)
        p[i] = pi
        m[i] = mi


@cuda.jit
def ftrl(p, g, acc, lin, lr, npow, l1, l2, shrink2, beta, wdlr, gscale, clip):
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        pi, a, z = _ftrl(p[i], _grad_in(g[i], gscale, clip), acc[i], lin[i], lr, npow, l1, l2,
                         shrink2, beta, wdlr)
        p[i] = pi
        acc[i] = a
        lin[i] = z


def launch(code: int, p: Any, g: Any, b0: Any, b1: Any, b2: Any, consts: Any, t: type,
           lr: float, wdlr: float, gscale: float) -> None:
    """One packed optimizer step (``scalar``) over the flat device buffers, scalars cast with
    the dtype's scalar type ``t``."""
    c = [t(v) for v in consts]
    clip, tiny = c[0], c[1]
    grid = grid_1d(p.size)
    lr, wdlr, gscale = t(lr), t(wdlr), t(gscale)
    if code == S.ADAM:
        adam[grid](p, g, b0, b1, b2, lr, c[2], c[3], c[4], wdlr, gscale, clip, tiny)
    elif code == S.SGD:
        sgd[grid](p, g, b0, lr, c[2], bool(consts[3]), wdlr, gscale, clip, tiny)
    elif code == S.RMSPROP:
        rmsprop[grid](p, g, b0, b1, b2, lr, c[2], c[3], c[4], c[5], wdlr, gscale, clip, tiny)
    elif code == S.ADAGRAD:
        adagrad[grid](p, g, b0, lr, c[2], wdlr, gscale, clip)
    elif code == S.ADAMAX:
        adamax[grid](p, g, b0, b1, lr, c[2], c[3], c[4], wdlr, gscale, clip, tiny)
    elif code == S.NADAM:
        nadam[grid](p, g, b0, b1, lr, c[2], c[3], c[4], c[5], c[6], c[7], wdlr, gscale, clip,
                    tiny)
    elif code == S.ADADELTA:
        adadelta[grid](p, g, b0, b1, lr, c[2], c[3], c[4], wdlr, gscale, clip, tiny)
    elif code == S.LION:
        lion[grid](p, g, b0, lr, c[2], c[3], c[4], c[5], wdlr, gscale, clip, tiny)
    elif code == S.FTRL:
        ftrl[grid](p, g, b0, b1, lr, c[2], c[3], c[4], c[5], c[6], wdlr, gscale, clip)
    else:
        raise ValueError(f"optimizer_step: unknown optimizer code {code!r}")
