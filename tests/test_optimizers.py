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


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adam", "adamw", "adamax",
                                  "nadam", "adadelta", "lion", "ftrl"])
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


# ------------------------------------------------------------------ Adamax, Nadam, Adadelta, Lion
#: Keras 3.15 (torch backend, float32): the variable linspace(-1, 1, 7) after four
#: ``apply_gradients`` with ``_grads()`` (computed once with real Keras)
KERAS_AFTER_4 = {
    "nadam": [-1.0202580690383911, -0.630158543586731, -0.3327697813510895,
              -0.003498236183077097, 0.33636605739593506, 0.6657899618148804,
              0.9967941045761108],
    "nadam_wd": [-1.0165058374404907, -0.6275357007980347, -0.3333706855773926,
                 -0.0009594527073204517, 0.33454567193984985, 0.660399317741394,
                 0.9983846545219421],
    "adamax": [-1.017377257347107, -0.6351810693740845, -0.33546504378318787,
               -0.001451633870601654, 0.34698036313056946, 0.664181649684906,
               0.9846607446670532],
    "adamax_wd": [-1.0133483409881592, -0.6309332251548767, -0.33267974853515625,
                  -0.0008586464682593942, 0.34394150972366333, 0.6622161865234375,
                  0.9818538427352905],
    "adadelta": [-1.0035291910171509, -0.6593648791313171, -0.3326348662376404,
                 -0.000586156384088099, 0.3330087959766388, 0.6669357419013977,
                 1.0003206729888916],
    "adadelta_rho": [-1.080980658531189, -0.49395352602005005, -0.31523948907852173,
                     -0.00907759740948677, 0.32196253538131714, 0.6740832328796387,
                     1.01180899143219],
    "lion": [-1.0199999809265137, -0.6266667246818542, -0.3333333432674408, 0.0,
             0.3333333432674408, 0.6666666865348816, 1.0199999809265137],
    "lion_wd": [-1.01194429397583, -0.621469259262085, -0.33067476749420166,
                -7.916241884231567e-08, 0.33059486746788025, 0.6613892912864685,
                0.9721439480781555],
    "ftrl": [-0.18892300128936768, 0.19798007607460022, -0.17534838616847992,
             0.02162543125450611, 0.1757763773202896, 0.2378097027540207, 0.7485931515693665],
    "ftrl_all": [-0.08885033428668976, 0.1478807032108307, -0.1094985082745552,
                 0.016871925443410873, 0.09810368716716766, 0.10785292834043503,
                 0.544888973236084],
}
NEW = {
    "nadam": lambda: optimizers.Nadam(learning_rate=0.01),
    "nadam_wd": lambda: optimizers.Nadam(learning_rate=0.01, weight_decay=0.1, clipvalue=0.5),
    "adamax": lambda: optimizers.Adamax(learning_rate=0.01),
    "adamax_wd": lambda: optimizers.Adamax(learning_rate=0.01, beta_1=0.8, beta_2=0.9,
                                           weight_decay=0.1),
    "adadelta": lambda: optimizers.Adadelta(learning_rate=1.0),
    "adadelta_rho": lambda: optimizers.Adadelta(learning_rate=0.5, rho=0.8, epsilon=1e-3),
    "lion": lambda: optimizers.Lion(learning_rate=0.01),
    "lion_wd": lambda: optimizers.Lion(learning_rate=0.01, beta_1=0.5, beta_2=0.7,
                                       weight_decay=0.2),
    "ftrl": lambda: optimizers.Ftrl(learning_rate=0.1),
    "ftrl_all": lambda: optimizers.Ftrl(
        learning_rate=0.1, learning_rate_power=-0.7, initial_accumulator_value=0.2,
        l1_regularization_strength=0.05, l2_regularization_strength=0.1,
        l2_shrinkage_regularization_strength=0.02, beta=0.3, weight_decay=0.05, clipvalue=1.0),
}


@pytest.mark.parametrize("case", sorted(NEW))
def test_new_optimizers_match_keras(case, backend):
    opt = NEW[case]()
    opt.ops = get_ops(backend)
    p = np.linspace(-1, 1, N).astype(np.float32)
    for g in _grads():
        opt.apply(p, g.astype(np.float32))
    np.testing.assert_allclose(p, KERAS_AFTER_4[case], rtol=0, atol=1e-6)


def _nadam_ref(lr, b1=0.9, b2=0.999, eps=1e-7):
    def ref(p, g, t, s):
        u = [b1 * (1 - 0.5 * 0.96 ** i) for i in range(1, t + 2)]
        s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - b1)
        s["v"] = s.get("v", 0.0) + (g * g - s.get("v", 0.0)) * (1 - b2)
        m_hat = (u[t] * s["m"] / (1 - np.prod(u[:t + 1]))
                 + (1 - u[t - 1]) * g / (1 - np.prod(u[:t])))
        return p - lr * m_hat / (np.sqrt(s["v"] / (1 - b2 ** t)) + eps)
    return ref


def test_ftrl_float64(backend):
    lr, npow, l1, l2, shrink, beta = 0.1, 0.5, 0.05, 0.1, 0.02, 0.3

    def ref(p, g, t, s):
        n = s.get("n", np.full_like(p, 0.2))
        z = s.get("z", np.zeros_like(p))
        new = n + g * g
        z = z + g + 2 * shrink * p - (new ** npow - n ** npow) / lr * p
        s["n"], s["z"] = new, z
        return (np.clip(z, -l1, l1) - z) / (new ** npow / lr + 2 * (l2 + beta / (2 * lr)))
    _check(optimizers.Ftrl(lr, initial_accumulator_value=0.2, l1_regularization_strength=l1,
                           l2_regularization_strength=l2,
                           l2_shrinkage_regularization_strength=shrink, beta=beta), ref,
           backend)


def test_nadam_float64(backend):
    _check(optimizers.Nadam(0.05, beta_1=0.8), _nadam_ref(0.05, b1=0.8), backend)


def test_adamax_float64(backend):
    def ref(p, g, t, s):
        s["m"] = 0.9 * s.get("m", 0.0) + 0.1 * g
        s["u"] = np.maximum(0.99 * s.get("u", 0.0), np.abs(g))
        return p - 0.05 * s["m"] / ((1 - 0.9 ** t) * (s["u"] + 1e-7))
    _check(optimizers.Adamax(0.05, beta_2=0.99), ref, backend)


def test_adadelta_float64(backend):
    def ref(p, g, t, s):
        s["a"] = 0.9 * s.get("a", 0.0) + 0.1 * g * g
        d = -np.sqrt(s.get("d", 0.0) + 1e-6) * g / np.sqrt(s["a"] + 1e-6)
        s["d"] = 0.9 * s.get("d", 0.0) + 0.1 * d * d
        return p + 2.0 * d
    _check(optimizers.Adadelta(2.0, rho=0.9, epsilon=1e-6), ref, backend)


def test_lion_float64_with_schedule(backend):
    lr = schedules.ExponentialDecay(0.1, 2, 0.5)

    def ref(p, g, t, s):
        m = s.get("m", 0.0)
        p = p - lr(t - 1) * np.sign(0.9 * m + 0.1 * g)
        s["m"] = 0.99 * m + 0.01 * g
        return p
    _check(optimizers.Lion(lr), ref, backend)


@pytest.mark.parametrize("name", ["adamax", "nadam", "adadelta", "lion", "ftrl"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_new_optimizers_kernel_equals_numpy_reference(name, dtype):
    """The Numba kernel and the NumPy reference agree bit for bit, with every option on."""
    kw = dict(learning_rate=0.01, weight_decay=0.05, clipvalue=0.8)
    out = []
    for be in ("numpy", "cpu"):
        opt = optimizers.get({"class_name": name, "config": kw})
        opt.ops = get_ops(be)
        p = np.linspace(-1, 1, 37).astype(dtype)
        rng = np.random.default_rng(4)
        for _ in range(5):
            opt.apply(p, rng.standard_normal(37).astype(dtype))
        out.append((p, opt.get_state()))
    if name == "ftrl":
        # x ** y: libm's pow (the kernel) and NumPy's vectorized power differ by an ulp
        tol = (2e-6, 1e-7) if dtype == np.float32 else (2e-15, 1e-16)
        np.testing.assert_allclose(out[0][0], out[1][0], rtol=tol[0], atol=tol[1])
        for k in out[0][1]:
            np.testing.assert_allclose(out[0][1][k], out[1][1][k], rtol=tol[0], atol=tol[1])
        return
    np.testing.assert_array_equal(out[0][0], out[1][0])
    for k in out[0][1]:
        np.testing.assert_array_equal(out[0][1][k], out[1][1][k])


def test_new_optimizers_names_config_and_validation():
    for name, cls in [("adamax", optimizers.Adamax), ("Nadam", optimizers.Nadam),
                      ("adadelta", optimizers.Adadelta), ("lion", optimizers.Lion)]:
        opt = optimizers.get(name)
        assert type(opt) is cls and opt.learning_rate == 0.001
        back = optimizers.deserialize(optimizers.serialize(opt))
        assert back.get_config() == opt.get_config()
    # Keras 3's get_config keys and defaults
    assert optimizers.Nadam().get_config() == {
        "name": "nadam", "learning_rate": 0.001, "weight_decay": None, "clipnorm": None,
        "global_clipnorm": None, "clipvalue": None, "beta_1": 0.9, "beta_2": 0.999,
        "epsilon": 1e-7}
    assert optimizers.Adadelta().get_config()["rho"] == 0.95
    assert optimizers.Lion().get_config()["beta_2"] == 0.99
    cfg = optimizers.Adamax(schedules.CosineDecay(0.1, 10), global_clipnorm=1.0).get_config()
    assert optimizers.Adamax.from_config(cfg).get_config() == cfg
    with pytest.raises(ValueError, match="beta_1"):
        optimizers.Adamax(beta_1=1.0)
    with pytest.raises(ValueError, match="beta_2"):
        optimizers.Nadam(beta_2=-0.1)
    with pytest.raises(ValueError, match="rho"):
        optimizers.Adadelta(rho=2)
    with pytest.raises(ValueError, match="SignSGD"):
        optimizers.Lion(beta_1=1.5)
    with pytest.raises(ValueError, match="epsilon"):
        optimizers.Adadelta(epsilon=0.0)
    with pytest.raises(ValueError, match="learning_rate_power"):
        optimizers.Ftrl(learning_rate_power=0.5)
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        optimizers.Ftrl(initial_accumulator_value=-1)
    with pytest.raises(ValueError, match="l1_regularization_strength"):
        optimizers.Ftrl(l1_regularization_strength=-0.1)
    assert optimizers.Ftrl().get_config() == {
        "name": "ftrl", "learning_rate": 0.001, "weight_decay": None, "clipnorm": None,
        "global_clipnorm": None, "clipvalue": None, "learning_rate_power": -0.5,
        "initial_accumulator_value": 0.1, "l1_regularization_strength": 0.0,
        "l2_regularization_strength": 0.0, "l2_shrinkage_regularization_strength": 0.0,
        "beta": 0.0}


def test_nadam_runs_the_general_path_and_others_the_compiled_one():
    import fastff
    from fastff import layers
    from fastff.training import compiled as fastpath

    x = np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    for name, compiled in [("nadam", False), ("adamax", True), ("lion", True),
                           ("adadelta", True), ("ftrl", True)]:
        m = fastff.Sequential([layers.Input((3,)), layers.Dense(2, activation="softmax")])
        m.compile(name, "sparse_categorical_crossentropy")
        hist = m.fit(x, y, epochs=2, batch_size=8, verbose=0).history["loss"]
        assert np.all(np.isfinite(hist))
        assert (fastpath.train_plan(m, 8) is not None) == compiled, name


def test_nadam_save_and_load_continues_identically(tmp_path):
    import fastff
    from fastff import layers

    x = np.random.default_rng(1).standard_normal((12, 3))
    y = x @ np.ones((3, 1))

    def make():
        fastff.utils.set_random_seed(0)
        m = fastff.Sequential([layers.Input((3,)), layers.Dense(1)], dtype="float64")
        m.compile(optimizers.Nadam(0.05, clipnorm=1.0), "mse")
        return m
    a = make()
    a.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    a.save(tmp_path / "m.fastff")
    b = fastff.models.load_model(tmp_path / "m.fastff")
    assert isinstance(b.optimizer, optimizers.Nadam) and b.optimizer.clipnorm == 1.0
    ha = a.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"]
    hb = b.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"]
    assert ha == hb
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])


@pytest.mark.parametrize("name", ["adamax", "adadelta", "lion", "ftrl"])
def test_keras_file_keeps_the_state_of_the_new_optimizers(name, tmp_path):
    """Keras's optimizer-variable layout (checked by loading such a file in Keras 3.15:
    iterations, learning_rate, then each variable's slots in Keras's order)."""
    import fastff

    m = fastff.Sequential([fastff.Input((3,)), fastff.layers.Dense(2), fastff.layers.Dense(1)])
    m.compile(optimizers.get(name), "mse")
    rng = np.random.default_rng(0)
    m.fit(rng.standard_normal((8, 3)), rng.standard_normal((8, 1)), epochs=2, batch_size=4,
          verbose=0)
    m.save(tmp_path / "m.keras")
    back = fastff.models.load_model(tmp_path / "m.keras")
    a, b = m.optimizer.get_state(), back.optimizer.get_state()
    assert a.keys() == b.keys() and back.optimizer.iterations == 4
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
