"""Optimizers against their textbook updates written out in NumPy (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastff import optimizers
from fastff.backend import get_ops
from fastff.optimizers import schedules

BACKENDS = ["numpy", "cpu"]
N = 7
STEPS = 4


def _grads(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(N) for _ in range(STEPS)]


def _run(opt, grads, backend, p0=None):
    opt.ops = get_ops(backend)
    p = np.linspace(-1.0, 1.0, N) if p0 is None else p0.copy()
    out = []
    for g in grads:
        opt.apply(p, g.copy())
        out.append(p.copy())
    return out


def _check(opt, ref, backend, p0=None):
    grads = _grads()
    got = _run(opt, grads, backend, p0)
    p = np.linspace(-1.0, 1.0, N) if p0 is None else p0.copy()
    state: dict = {}
    for t, g in enumerate(grads, start=1):
        p = ref(p, g, t, state)
        np.testing.assert_allclose(got[t - 1], p, rtol=1e-12, atol=1e-14)
    assert opt.iterations == STEPS


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def test_sgd(backend):
    _check(optimizers.SGD(learning_rate=0.1), lambda p, g, t, s: p - 0.1 * g, backend)


def test_sgd_momentum(backend):
    def ref(p, g, t, s):
        s["v"] = 0.9 * s.get("v", 0.0) - 0.1 * g
        return p + s["v"]
    _check(optimizers.SGD(0.1, momentum=0.9), ref, backend)


def test_sgd_nesterov(backend):
    def ref(p, g, t, s):
        s["v"] = 0.9 * s.get("v", 0.0) - 0.1 * g
        return p + 0.9 * s["v"] - 0.1 * g
    _check(optimizers.SGD(0.1, momentum=0.9, nesterov=True), ref, backend)


def test_adagrad(backend):
    def ref(p, g, t, s):
        s["a"] = s.get("a", 0.1) + g * g
        return p - 0.05 * g / np.sqrt(s["a"] + 1e-7)
    _check(optimizers.Adagrad(0.05), ref, backend)


@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.5, False), (0.0, True),
                                               (0.5, True)])
def test_rmsprop(backend, momentum, centered):
    rho, lr, eps = 0.9, 0.01, 1e-7

    def ref(p, g, t, s):
        s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
        den = s["v"]
        if centered:
            s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g
            den = den - s["a"] ** 2
        inc = lr * g / np.sqrt(den + eps)
        if momentum:
            s["m"] = momentum * s.get("m", 0.0) + inc
            return p - s["m"]
        return p - inc
    _check(optimizers.RMSprop(lr, rho=rho, momentum=momentum, centered=centered), ref, backend)


def _adam_ref(lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False, wd=0.0):
    def ref(p, g, t, s):
        p = p - p * lr * wd
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        v = s["v"]
        if amsgrad:
            s["vh"] = np.maximum(s.get("vh", 0.0), s["v"])
            v = s["vh"]
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        return p - alpha * s["m"] / (np.sqrt(v) + eps)
    return ref


def test_adam(backend):
    _check(optimizers.Adam(0.01), _adam_ref(0.01), backend)


def test_adam_bias_correction_first_step():
    # With bias correction the first step moves every weight by ~lr regardless of |g|.
    opt = optimizers.Adam(0.01, epsilon=0.0)
    opt.ops = get_ops("numpy")
    p = np.zeros(3)
    opt.apply(p, np.array([1e-3, 1.0, -50.0]))
    np.testing.assert_allclose(p, [-0.01, -0.01, 0.01], rtol=1e-12)


def test_amsgrad(backend):
    _check(optimizers.Adam(0.01, amsgrad=True), _adam_ref(0.01, amsgrad=True), backend)


def test_adamw(backend):
    _check(optimizers.AdamW(0.01, weight_decay=0.1), _adam_ref(0.01, wd=0.1), backend)


def test_clipvalue(backend):
    _check(optimizers.SGD(0.1, clipvalue=0.5), lambda p, g, t, s: p - 0.1 * np.clip(g, -.5, .5),
           backend)


def test_global_clipnorm(backend):
    def ref(p, g, t, s):
        n = np.linalg.norm(g)
        return p - 0.1 * g * 0.5 / max(n, 0.5)
    _check(optimizers.SGD(0.1, global_clipnorm=0.5), ref, backend)


def test_clipnorm_per_variable(backend):
    opt = optimizers.SGD(0.1, clipnorm=0.5)
    opt.ops = get_ops(backend)
    opt.build(N, np.float64, slots=[(0, 3), (3, 4)])
    p = np.zeros(N + 2)  # two non-trainable scalars at the end stay put
    g = np.concatenate([_grads()[0], [5.0, 5.0]])
    opt.apply(p, g.copy())
    exp = np.zeros(N + 2)
    for a, b in ((0, 3), (3, 7)):
        n = np.linalg.norm(g[a:b])
        exp[a:b] = -0.1 * g[a:b] * 0.5 / max(n, 0.5)
    np.testing.assert_allclose(p, exp, rtol=1e-12)


def test_only_one_clip():
    with pytest.raises(ValueError, match="Only one"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)


def test_schedule_as_learning_rate(backend):
    sched = schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    _check(optimizers.SGD(sched), lambda p, g, t, s: p - 0.1 * 0.5 ** (t - 1) * g, backend)


def test_learning_rate_property():
    opt = optimizers.SGD(0.1)
    opt.learning_rate = 0.05
    assert opt.learning_rate == 0.05
    opt2 = optimizers.SGD(schedules.InverseTimeDecay(1.0, 1, 1.0))
    assert opt2.learning_rate == 1.0
    with pytest.raises(TypeError):
        opt2.learning_rate = 0.1


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adam", "adamw"])
def test_state_round_trip_continues_identically(name, backend):
    kwargs = {"sgd": {"momentum": 0.9}, "rmsprop": {"momentum": 0.5, "centered": True},
              "adam": {"amsgrad": True}}.get(name, {})
    grads = _grads(1)
    a = optimizers.get({"class_name": name, "config": kwargs})
    a.ops = get_ops(backend)
    p = np.linspace(-1, 1, N).astype(np.float32)
    for g in grads[:2]:
        a.apply(p, g.astype(np.float32))
    state = a.get_state()
    b = optimizers.deserialize(optimizers.serialize(a))
    b.ops = get_ops(backend)
    b.set_state(state)
    q = p.copy()
    for g in grads[2:]:
        a.apply(p, g.astype(np.float32))
        b.apply(q, g.astype(np.float32))
    np.testing.assert_array_equal(p, q)
    assert a.iterations == b.iterations == STEPS


def test_get_names_and_errors():
    assert isinstance(optimizers.get("ADAM"), optimizers.Adam)
    assert isinstance(optimizers.get("RMSprop"), optimizers.RMSprop)
    opt = optimizers.SGD()
    assert optimizers.get(opt) is opt
    with pytest.raises(ValueError, match="adam"):
        optimizers.get("adma")
    with pytest.raises(ValueError):
        optimizers.get(42)


def test_config_round_trip_with_schedule():
    opt = optimizers.AdamW(schedules.CosineDecay(0.1, 100, warmup_target=0.2, warmup_steps=5),
                           weight_decay=0.01, global_clipnorm=1.0)
    cfg = optimizers.serialize(opt)
    back = optimizers.deserialize(cfg)
    assert back.get_config() == opt.get_config()
    assert isinstance(back, optimizers.AdamW) and back.weight_decay == 0.01


def test_tiny_moments_flushed(backend):
    opt = optimizers.Adam(0.001)
    opt.ops = get_ops(backend)
    p = np.ones(4, np.float32)
    opt.apply(p, np.array([1e-28, 0, 1, 0], np.float32))
    for _ in range(30):  # 1e-29 * 0.9**30 < 1e-30: flushed instead of turning subnormal
        opt.apply(p, np.zeros(4, np.float32))
    st = opt.get_state()
    assert st["momentum"][0] == 0.0 and st["velocity"][0] == 0.0
    assert st["momentum"][2] != 0.0


def test_set_state_saved_before_first_step():
    """compile, save, load before any fit: the state holds only iterations=0 (Keras idiom)."""
    import fastff as keras
    opt = keras.optimizers.Adam()
    opt.build(4)
    opt._buffers["momentum"][...] = 1.0
    opt.set_state({"iterations": np.array(0)})
    assert opt.iterations == 0 and not opt._buffers["momentum"].any()
    with pytest.raises(ValueError, match="missing 'momentum'"):
        opt.set_state({"iterations": np.array(3)})
