"""One per-element body per optimizer, in plain Python, and the packed form they take.

Every optimizer update in fastff is written here once, as a function of scalars:
``kernels/optim.py`` compiles the bodies with ``numba.njit(inline="always")`` inside its CPU
range loops (which ``CpuOps.optimizer_step`` and the compiled training step both run), and
``cuda/optimizers.py`` with ``numba.cuda.jit(device=True)`` inside its grid-stride kernels.
This module imports no Numba (the optimizer classes read its codes and packers), and the
bodies use only ``math`` and arithmetic, which both Numba targets compile. Scalars arrive cast
to the buffer dtype, so the arithmetic runs in float32 or float64 as the buffers do; ``zero =
lr - lr`` is a zero of that dtype.

The packed form of an optimizer step (``Optimizer.packed`` / ``Ops.optimizer_step``):

- ``code``: ``SGD``, ``ADAGRAD``, ``RMSPROP``, ``ADAM``, ``ADAMAX``, ``NADAM``, ``ADADELTA``,
  ``LION`` or ``FTRL``;
- three state buffers ``(b0, b1, b2)``, ``None`` where the configuration needs none;
- ``consts``: 8 float64 values, ``[clip, tiny, *own]`` (``clip = inf`` when unused, ``tiny``
  the flush threshold); ``own`` is what ``*_consts`` below lays out;
- per step: ``lr`` (Adam: ``alpha``, see ``adam_alpha``), ``wdlr = lr * weight_decay`` and
  the gradient scale of ``clipnorm`` / ``global_clipnorm`` (1.0 otherwise).
"""

from __future__ import annotations

import math

__all__ = ["SGD", "ADAGRAD", "RMSPROP", "ADAM", "ADAMAX", "NADAM", "ADADELTA", "LION", "FTRL",
           "ftrl_consts", "ftrl_elem",
           "N_CONSTS", "adam_alpha", "adamax_alpha", "nadam_u", "nadam_consts", "pack_consts",
           "sgd_consts", "adagrad_consts", "rmsprop_consts", "adam_consts", "adamax_consts",
           "adadelta_consts", "lion_consts", "grad_in", "sgd_elem", "adagrad_elem",
           "rmsprop_elem", "adam_elem", "adamax_elem", "nadam_elem", "adadelta_elem",
           "lion_elem"]

SGD, ADAGRAD, RMSPROP, ADAM, ADAMAX, NADAM, ADADELTA, LION, FTRL = 0, 1, 2, 3, 4, 5, 6, 7, 8
N_CONSTS = 8


# ------------------------------------------------------------------ packing (host side)
def adam_alpha(lr: float, beta_1: float, beta_2: float, step: int) -> float:
    """Adam's bias-corrected step size for 1-based ``step`` (Kingma & Ba's efficient form,
    as Keras): ``lr * sqrt(1 - beta_2^step) / (1 - beta_1^step)``."""
    return lr * math.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)


def adamax_alpha(lr: float, beta_1: float, step: int) -> float:
    """Adamax's bias-corrected step size for 1-based ``step``: ``lr / (1 - beta_1^step)``."""
    return lr / (1.0 - beta_1**step)


def nadam_u(beta_1: float, step: int) -> float:
    """Nadam's momentum schedule (Keras): ``u_t = beta_1 (1 - 0.5 * 0.96^t)``."""
    return beta_1 * (1.0 - 0.5 * 0.96**step)


def nadam_consts(beta_1: float, beta_2: float, epsilon: float, step: int,
                 u_product: float) -> tuple[float, ...]:
    """Nadam's constants of 1-based ``step``, ``u_product = prod_{i<=step} u_i``:
    ``(1-b1, 1-b2, eps, u_{t+1} / (1 - u_product u_{t+1}), (1 - u_t) / (1 - u_product),
    1 / (1 - b2^t))``. They change every step, so Nadam has no compiled form (the compiled
    step takes two per-step scalars)."""
    u_t = nadam_u(beta_1, step)
    u_next = nadam_u(beta_1, step + 1)
    return (1.0 - beta_1, 1.0 - beta_2, epsilon, u_next / (1.0 - u_product * u_next),
            (1.0 - u_t) / (1.0 - u_product), 1.0 / (1.0 - beta_2**step))


def pack_consts(clip: float | None, tiny: float, own: tuple[float, ...]) -> list[float]:
    """``[clip, tiny, *own]`` padded with zeros to ``N_CONSTS`` values."""
    out = [math.inf if clip is None else float(clip), float(tiny), *map(float, own)]
    return out + [0.0] * (N_CONSTS - len(out))


def sgd_consts(momentum: float, nesterov: bool) -> tuple[float, ...]:
    return (momentum, 1.0 if nesterov else 0.0)


def adagrad_consts(epsilon: float) -> tuple[float, ...]:
    return (epsilon,)


def rmsprop_consts(rho: float, momentum: float, epsilon: float) -> tuple[float, ...]:
    return (rho, 1.0 - rho, momentum, epsilon)


def adam_consts(beta_1: float, beta_2: float, epsilon: float) -> tuple[float, ...]:
    return (1.0 - beta_1, 1.0 - beta_2, epsilon)


def adamax_consts(beta_1: float, beta_2: float, epsilon: float) -> tuple[float, ...]:
    return (1.0 - beta_1, beta_2, epsilon)


def adadelta_consts(rho: float, epsilon: float) -> tuple[float, ...]:
    return (rho, 1.0 - rho, epsilon)


def lion_consts(beta_1: float, beta_2: float) -> tuple[float, ...]:
    return (beta_1, 1.0 - beta_1, beta_2, 1.0 - beta_2)


def ftrl_consts(learning_rate_power: float, l1: float, l2: float, l2_shrinkage: float,
                beta: float) -> tuple[float, ...]:
    return (-learning_rate_power, l1, l2, 2.0 * l2_shrinkage, beta)


# ------------------------------------------------------------------ element bodies
def grad_in(g, gscale, clip):
    """The gradient an update sees: ``clip(g * gscale, -clip, clip)``."""
    v = g * gscale
    if v > clip:
        v = clip
    elif v < -clip:
        v = -clip
    return v


def sgd_elem(p, g, vel, use_vel, nesterov, lr, mom, wdlr, tiny):
    """SGD (Keras): ``v = mom v - lr g``; ``p += v`` or, Nesterov, ``p += mom v - lr g``.
    Returns (p, v)."""
    zero = lr - lr
    if wdlr != zero:
        p = p - p * wdlr
    if not use_vel:
        return p - lr * g, vel
    v = mom * vel - lr * g
    if abs(v) < tiny:
        v = zero
    if nesterov:
        return p + (mom * v - lr * g), v
    return p + v, v


def adagrad_elem(p, g, acc, lr, eps, wdlr):
    """Adagrad (Keras): ``a += g²``; ``p -= lr g / sqrt(a + eps)``. Returns (p, a)."""
    zero = lr - lr
    if wdlr != zero:
        p = p - p * wdlr
    a = acc + g * g
    return p - (lr * g) / math.sqrt(a + eps), a


def rmsprop_elem(p, g, vel, mb, ag, use_mom, centered, lr, rho, omr, mom, eps, wdlr, tiny):
    """RMSprop (Keras): ``v = rho v + (1-rho) g²``; centered ``a = rho a + (1-rho) g`` and the
    denominator ``v - a² + eps``; ``inc = lr g / sqrt(den)``; with momentum ``m = mom m + inc``,
    ``p -= m``. Returns (p, v, m, a)."""
    zero = lr - lr
    if wdlr != zero:
        p = p - p * wdlr
    v = rho * vel + omr * (g * g)
    if abs(v) < tiny:
        v = zero
    if centered:
        a = rho * ag + omr * g
        if abs(a) < tiny:
            a = zero
        den = v - a * a + eps
    else:
        a = ag
        den = v + eps
    inc = (lr * g) / math.sqrt(den)
    if use_mom:
        m = mom * mb + inc
        if abs(m) < tiny:
            m = zero
        return p - m, v, m, a
    return p - inc, v, mb, a


def adam_elem(p, g, m, v, vh, ams, alpha, omb1, omb2, eps, wdlr, tiny):
    """Adam / AMSGrad: ``m += (g - m)(1-b1)``, ``v += (g² - v)(1-b2)``, AMSGrad
    ``vh = max(vh, v)``, ``p -= alpha m / (sqrt(v or vh) + eps)``. Returns (p, m, v, vh)."""
    zero = alpha - alpha
    if wdlr != zero:
        p = p - p * wdlr
    m = m + (g - m) * omb1
    v = v + (g * g - v) * omb2
    if abs(m) < tiny:
        m = zero
    if abs(v) < tiny:
        v = zero
    if ams:
        if v > vh:
            vh = v
        return p - (m * alpha) / (math.sqrt(vh) + eps), m, v, vh
    return p - (m * alpha) / (math.sqrt(v) + eps), m, v, vh


def adamax_elem(p, g, m, u, alpha, omb1, b2, eps, wdlr, tiny):
    """Adamax (Keras): ``m += (g - m)(1-b1)``, ``u = max(b2 u, |g|)``,
    ``p -= alpha m / (u + eps)``. Returns (p, m, u)."""
    zero = alpha - alpha
    if wdlr != zero:
        p = p - p * wdlr
    m = m + (g - m) * omb1
    if abs(m) < tiny:
        m = zero
    u = b2 * u
    ag = abs(g)
    if ag > u or g != g:  # a NaN gradient propagates
        u = ag
    if u < tiny:
        u = zero
    return p - (m * alpha) / (u + eps), m, u


def nadam_elem(p, g, m, v, lr, omb1, omb2, eps, c_m, c_g, c_v, wdlr, tiny):
    """Nadam (Keras): Adam's moments, ``m_hat = c_m m + c_g g``, ``v_hat = c_v v``,
    ``p -= lr m_hat / (sqrt(v_hat) + eps)`` (``c_*``: ``nadam_consts``). Returns (p, m, v)."""
    zero = lr - lr
    if wdlr != zero:
        p = p - p * wdlr
    m = m + (g - m) * omb1
    v = v + (g * g - v) * omb2
    if abs(m) < tiny:
        m = zero
    if abs(v) < tiny:
        v = zero
    m_hat = c_m * m + c_g * g
    return p - (m_hat * lr) / (math.sqrt(v * c_v) + eps), m, v


def adadelta_elem(p, g, ag, ad, lr, rho, omr, eps, wdlr, tiny):
    """Adadelta (Keras): ``a_g = rho a_g + (1-rho) g²``, ``d = -sqrt(a_d + eps) g /
    sqrt(a_g + eps)``, ``a_d = rho a_d + (1-rho) d²``, ``p += lr d``. Returns (p, a_g, a_d)."""
    zero = lr - lr
    if wdlr != zero:
        p = p - p * wdlr
    ag = rho * ag + omr * (g * g)
    if ag < tiny:
        ag = zero
    d = -(math.sqrt(ad + eps) * g) / math.sqrt(ag + eps)
    ad = rho * ad + omr * (d * d)
    if ad < tiny:
        ad = zero
    return p + lr * d, ag, ad


def lion_elem(p, g, m, lr, b1, omb1, b2, omb2, wdlr, tiny):
    """Lion (Keras): ``p -= lr sign(b1 m + (1-b1) g)``, then ``m = b2 m + (1-b2) g``.
    Returns (p, m)."""
    zero = lr - lr
    if wdlr != zero:
        p = p - p * wdlr
    c = m * b1 + g * omb1
    if c > zero:
        p = p - lr
    elif c < zero:
        p = p + lr
    elif c != c:
        p = p + c
    m = m * b2 + g * omb2
    if abs(m) < tiny:
        m = zero
    return p, m


def ftrl_elem(p, g, acc, lin, lr, npow, l1, l2, shrink2, beta, wdlr):
    """FTRL-proximal (Keras): ``n' = n + g²``, ``z += g + shrink2 p - (n'^npow - n^npow)/lr p``,
    ``p = (clip(z, -l1, l1) - z) / (n'^npow / lr + 2 (l2 + beta / (2 lr)))``
    (``npow = -learning_rate_power``). Returns (p, n', z)."""
    zero = lr - lr
    if wdlr != zero:
        p = p - p * wdlr
    new_acc = acc + g * g
    a_new = new_acc ** npow
    lin = lin + (g + shrink2 * p) - ((a_new - acc ** npow) / lr) * p
    reg = l2 + beta / (lr + lr)
    quad = a_new / lr + (reg + reg)
    lc = lin
    if lc > l1:
        lc = l1
    elif lc < -l1:
        lc = -l1
    return (lc - lin) / quad, new_acc, lin
