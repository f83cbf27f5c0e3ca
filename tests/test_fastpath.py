"""The compiled path (fastff.training.compiled) gives the general path's numbers, bit for bit.

Each case trains the same model twice — compiled path on and off — and compares weights,
optimizer state, History, dropout counters and predictions with ``array_equal``; fallback
cases check that a model the compiled path does not cover still trains (on the general path).
"""

from __future__ import annotations

import numpy as np
import pytest

import fastff
from fastff import config, layers, optimizers
from fastff.backend.kernels.shuffle import seeded_permutation
from fastff.training import compiled as fastpath


@pytest.fixture
def general_path(monkeypatch):
    """Call with True to run the general path only."""
    def set_(off: bool) -> None:
        monkeypatch.setattr(fastpath, "ENABLED", not off)
    return set_


def _data(n=203, d=12, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, classes, n)
    return x, y


def _model(hidden=("relu", "tanh"), dropout=(), out="softmax", n_out=4, dtype="float32",
           opt="adam", loss="sparse_categorical_crossentropy", metrics=None, d=12, seed=7):
    config.set_seed(seed)
    stack = [layers.Input((d,))]
    for i, act in enumerate(hidden):
        if i in dropout:
            stack.append(layers.Dropout(0.25))
        stack.append(layers.Dense(9 + i, activation=act))
    if len(hidden) in dropout:
        stack.append(layers.Dropout(0.2))
    stack.append(layers.Dense(n_out, activation=out))
    model = fastff.Sequential(stack, dtype=dtype)
    model.compile(optimizer=optimizers.get(opt) if isinstance(opt, str) else opt(), loss=loss,
                  metrics=metrics)
    return model


def _train(make, fit_kw, x, y, off, general_path):
    general_path(off)
    model = make()
    hist = model.fit(x, y, verbose=0, **fit_kw)
    plan_used = fastpath.train_plan(model, fit_kw.get("batch_size", 32)) is not None
    pred = model.predict(x, verbose=0)
    drops = [la.step for la in model.layers if isinstance(la, layers.Dropout)]
    return model, hist.history, pred, drops, plan_used


def _assert_same(make, fit_kw, x, y, general_path, expect_fast=True):
    fast = _train(make, fit_kw, x, y, False, general_path)
    slow = _train(make, fit_kw, x, y, True, general_path)
    assert fast[4] is expect_fast  # the case really ran on the compiled path (or not)
    assert np.array_equal(fast[0].params, slow[0].params)
    st_f, st_s = fast[0].optimizer.get_state(), slow[0].optimizer.get_state()
    assert st_f.keys() == st_s.keys()
    for k in st_f:
        assert np.array_equal(st_f[k], st_s[k]), k
    assert fast[1] == slow[1]  # History: same keys, same floats
    assert all(type(v) is float for vals in fast[1].values() for v in vals)
    assert np.array_equal(fast[2], slow[2])
    assert fast[3] == slow[3]


CASES = {
    "adam-relu-tanh": dict(),
    "adam-dropout": dict(dropout=(0, 1, 2)),
    "float64-elu-sigmoid": dict(hidden=("elu", "sigmoid"), dtype="float64"),
    "leaky-linear-sgd-nesterov": dict(hidden=("leaky_relu", "linear"),
                                      opt=lambda: optimizers.SGD(0.05, momentum=0.9,
                                                                 nesterov=True)),
    "rmsprop-centered": dict(opt=lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True)),
    "adagrad": dict(opt="adagrad"),
    "adamw-amsgrad-clipvalue": dict(opt=lambda: optimizers.AdamW(
        0.01, amsgrad=True, clipvalue=0.1)),
    "sgd-schedule": dict(opt=lambda: optimizers.SGD(
        optimizers.schedules.ExponentialDecay(0.1, 3, 0.5))),
    "metrics-per-batch": dict(metrics=["accuracy"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("batch_size,shuffle", [(32, True), (203, False), (50, True)])
def test_compiled_fit_equals_general(name, batch_size, shuffle, general_path):
    x, y = _data()
    kw = CASES[name]
    _assert_same(lambda: _model(**kw), dict(batch_size=batch_size, epochs=3, shuffle=shuffle),
                 x, y, general_path)


@pytest.mark.parametrize("loss,out,n_out", [("categorical_crossentropy", "softmax", 4),
                                            ("binary_crossentropy", "sigmoid", 1),
                                            ("binary_crossentropy", "sigmoid", 3)])
def test_other_fused_losses(loss, out, n_out, general_path):
    x, y = _data()
    t = (np.eye(4, dtype=np.float32)[y] if n_out == 4 else
         (np.random.default_rng(3).random((len(y), n_out)) > 0.5).astype(np.float32))
    _assert_same(lambda: _model(out=out, n_out=n_out, loss=loss, dropout=(1,)),
                 dict(batch_size=16, epochs=2), x, t, general_path)


@pytest.mark.parametrize("out,metrics,dtype", [("linear", None, "float32"),
                                                ("sigmoid", ["mae"], "float32"),
                                                ("tanh", None, "float64")])
def test_mse(out, metrics, dtype, general_path):
    x, _ = _data()
    t = np.random.default_rng(4).random((x.shape[0], 11)).astype(np.float32)
    _assert_same(lambda: _model(out=out, n_out=11, loss="mse", metrics=metrics, dtype=dtype,
                                dropout=(0,)),
                 dict(batch_size=24, epochs=2), x, t, general_path)


def test_validation_steps_per_epoch_and_callbacks(general_path):
    x, y = _data()
    seen = []
    cb = fastff.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e))
    for kw in (dict(validation_split=0.2, epochs=3, batch_size=32),
               dict(steps_per_epoch=3, epochs=4, batch_size=16),
               dict(epochs=2, batch_size=8, initial_epoch=1),
               dict(epochs=2, batch_size=8, callbacks=[cb])):
        _assert_same(lambda: _model(dropout=(1,)), kw, x, y, general_path)


def test_fit_called_again_continues_identically(general_path):
    x, y = _data()
    runs = []
    for off in (False, True):
        general_path(off)
        model = _model(dropout=(0,))
        for _ in range(3):
            model.fit(x, y, batch_size=64, epochs=2, verbose=0)
        runs.append((model.params.copy(), model.optimizer.iterations))
    assert np.array_equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]


@pytest.mark.parametrize("case", ["sample_weight", "regularizer", "frozen", "mae", "clipnorm",
                                  "gelu", "no_bias"])
def test_fallbacks_still_train(case, general_path):
    x, y = _data()
    kw: dict = {}
    fit_kw: dict = dict(batch_size=32, epochs=2)
    if case == "sample_weight":
        fit_kw["sample_weight"] = np.linspace(0.5, 2.0, len(y))
    elif case == "mae":
        kw.update(loss="mae", out="linear")
        y = np.eye(4, dtype=np.float32)[y]
    elif case == "clipnorm":
        kw["opt"] = lambda: optimizers.Adam(clipnorm=1.0)
    elif case == "gelu":
        kw["hidden"] = ("gelu", "relu")

    def make():
        model = _model(**kw)
        if case == "regularizer":
            model.layers[0].kernel.regularizer = fastff.regularizers.L2(0.01)
            model._layout = None
            model._build_layers()
        elif case == "frozen":
            model.layers[0].trainable = False
        elif case == "no_bias":
            model = fastff.Sequential([layers.Input((12,)), layers.Dense(5, use_bias=False),
                                       layers.Dense(4, activation="softmax")])
            model.compile("adam", "sparse_categorical_crossentropy")
        return model

    fast = _train(make, fit_kw, x, y, False, general_path)
    slow = _train(make, fit_kw, x, y, True, general_path)
    if case != "sample_weight":  # sample weights are a per-call argument, not a model property
        assert fast[4] is False
    assert np.array_equal(fast[0].params, slow[0].params)
    assert fast[1] == slow[1]


def test_predict_compiled_equals_general(general_path):
    x, y = _data(n=300)
    outs = []
    for off in (False, True):
        general_path(off)
        model = _model(dropout=(1,), out="softmax")
        outs.append([model.predict(x, verbose=0), model.predict(x[:1], verbose=0),
                     model.predict(x, batch_size=7, verbose=0), model(x[:5]),
                     model.predict(x.astype(np.float64)[:3], verbose=0)])
    for a, b in zip(*outs):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    general_path(False)
    bad = x[:2].copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match=r"x: contains NaN or inf \(first at index \(1, 3\)\)"):
        model.predict(bad, verbose=0)


def test_results_do_not_depend_on_thread_count():
    from fastff import _threading

    before = fastff.get_num_threads()
    x, y = _data(n=300, d=200)
    got = []
    try:
        for threads in (1, 2):
            fastff.set_num_threads(threads)
            model = _model(hidden=("relu", "relu"), dropout=(1,), d=200)
            model.fit(x, y, batch_size=128, epochs=2, verbose=0)
            got.append((model.params.copy(), model.predict(x, batch_size=300, verbose=0)))
    finally:
        fastff.set_num_threads(before)
        _threading._requested = None
    assert np.array_equal(got[0][0], got[1][0]) and np.array_equal(got[0][1], got[1][1])


def test_seeded_permutation_matches_numpy():
    for seed in (0, 5, 2**32 + 3, 2**63 - 2):
        for epoch in (0, 1, 99):
            for n in (1, 2, 5, 1000):
                out = np.empty(n, np.int64)
                seeded_permutation(seed, epoch, out)
                assert np.array_equal(out, np.random.default_rng([seed, epoch]).permutation(n))


def test_cpu_sum_permutation_mse_match_the_numpy_reference():
    """The kernels both CPU paths share, against NumpyOps: the permutation bit for bit, the
    float64 sum and MSE to rounding (with and without sample weights)."""
    from fastff.backend import get_ops

    cpu, ref = get_ops("cpu"), get_ops("numpy")
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 8, 9, 129, 8193, 20000):
        a = (rng.random(n) * 97).astype(np.float32)
        assert cpu.sum_f64(a) == pytest.approx(ref.sum_f64(a), rel=1e-15, abs=1e-12)
        assert np.array_equal(cpu.permutation(3, 7, n), ref.permutation(3, 7, n))
    for dtype in (np.float32, np.float64):
        y = rng.standard_normal((37, 5)).astype(dtype)
        t = rng.standard_normal((37, 5)).astype(dtype)
        for sw in (None, rng.random(37)):
            (l1, g1), (l2, g2) = cpu.mse(y, t, sw), ref.mse(y, t, sw)
            assert l1.dtype == l2.dtype == g1.dtype == dtype
            tol = 1e-6 if dtype == np.float32 else 1e-14
            np.testing.assert_allclose(l1, l2, rtol=tol)
            np.testing.assert_allclose(g1, g2, rtol=tol, atol=tol * 1e-3)


def test_batches_over_8192_rows_take_the_compiled_path(general_path):
    x, y = _data(n=9000, d=3)
    _assert_same(lambda: _model(hidden=("relu",), d=3, dropout=(0,)),
                 dict(batch_size=8500, epochs=2), x, y, general_path)


def test_changed_activation_after_fit_is_seen(general_path):
    x, y = _data()
    outs = []
    for off in (False, True):
        general_path(off)
        model = _model()
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        model.predict(x, verbose=0)
        model.layers[0].activation = fastff.activations.get("sigmoid")
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        outs.append((model.params.copy(), model.predict(x, verbose=0)))
    assert np.array_equal(outs[0][0], outs[1][0]) and np.array_equal(outs[0][1], outs[1][1])


def test_predict_sees_layer_settings_changed_between_calls():
    """The compiled predict's one-integer validity check: an activation assigned after a
    predict is seen by the next predict."""
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    before = model.predict(x[:3], verbose=0)
    model.predict(x[:3], verbose=0)  # validated once: the fast check is armed
    model.layers[0].activation = fastff.activations.get("tanh")
    after = model.predict(x[:3], verbose=0)
    (w0, b0), (w1, b1), (w2, b2) = (la.get_weights() for la in model.layers)
    h = np.tanh(np.tanh(x[:3].astype(np.float64) @ w0 + b0) @ w1 + b1) @ w2 + b2
    expected = np.exp(h - h.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-7)


def test_compiled_predict_takes_read_only_and_float64_inputs():
    """The cached compiled entry serves writeable, aligned rows; read-only rows (another
    Numba type) go through the dispatcher; both give the same bits, in both dtypes."""
    x, y = _data()
    for dtype in ("float32", "float64"):
        model = _model(dtype=dtype)
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        xs = x[:5].astype(dtype)
        first = model.predict(xs, verbose=0)
        again = model.predict(xs, verbose=0)  # through the cached entry
        frozen = xs.copy()
        frozen.setflags(write=False)
        assert np.array_equal(first, again)
        assert np.array_equal(model.predict(frozen, verbose=0), first)
        assert np.array_equal(model.predict(xs, verbose=0), first)


# ------------------------------------------------------------------ components that lower
def _lowering_model(stack, loss="sparse_categorical_crossentropy", metrics=None):
    def make():
        config.set_seed(5)
        model = fastff.Sequential([layers.Input((12,)), *stack()])
        model.compile(optimizer="adam", loss=loss, metrics=metrics)
        return model
    return make


@pytest.mark.parametrize("tail", ["activation", "softmax_layer"])
def test_activation_layer_folds_into_the_linear_output_unit(tail, general_path):
    """Dense(linear) + Activation('softmax') / Softmax() lowers to one softmax unit: the
    general engine computes a softmax Dense as exactly that."""
    def stack():
        act = layers.Activation("softmax") if tail == "activation" else layers.Softmax()
        return [layers.Flatten(), layers.Dense(9, activation="relu"), layers.Dropout(0.2),
                layers.Dense(4), layers.Activation("linear"), act]
    x, y = _data()
    _assert_same(_lowering_model(stack, metrics=["accuracy"]),
                 dict(batch_size=32, epochs=2), x, y, general_path)


def test_what_does_not_lower_stays_general(general_path):
    """An activation layer after a non-linear unit, a relu layer, a Dense subclass with its
    own forward and a loss subclass with its own call all keep the general engine."""
    class MyDense(layers.Dense):
        def forward(self, x, training=False, ws=None):
            return super().forward(x, training, ws)

    class MyMSE(fastff.losses.MeanSquaredError):
        def call(self, y_true, y_pred):
            return fastff.ops.mean((y_pred - y_true) ** 2, axis=-1)

    x, y = _data()
    cases = [(lambda: [layers.Dense(4, activation="tanh"), layers.Activation("softmax")],
              "sparse_categorical_crossentropy"),
             (lambda: [layers.Dense(9), layers.ReLU(), layers.Dense(4, activation="softmax")],
              "sparse_categorical_crossentropy"),
             (lambda: [MyDense(4, activation="softmax")], "sparse_categorical_crossentropy"),
             (lambda: [layers.Dense(4)], MyMSE())]
    for stack, loss in cases:
        model = _lowering_model(stack, loss)()
        yy = y if isinstance(loss, str) else np.eye(4, dtype=np.float32)[y]
        model.fit(x, yy, batch_size=32, epochs=1, verbose=0)
        assert fastpath.train_plan(model, 32) is None
    good = _lowering_model(lambda: [layers.Dense(4)], "mse")()
    good.fit(x, np.eye(4, dtype=np.float32)[y], batch_size=32, epochs=1, verbose=0)
    assert fastpath.train_plan(good, 32) is not None


def test_stack_builder_vocabulary():
    """The builder a layer's lower() speaks to: units for training need a bias and an
    epilogue activation (others are inference-only hidden units), dropout needs a seed and a
    following unit."""
    b = fastpath.StackBuilder()
    assert not b.finish()
    d = layers.Dense(3, activation="gelu")
    d.build_for((4,))
    assert d.lower(b) and not b.finish()  # no C epilogue for gelu: a hidden unit only
    assert not b.train_ok and b.units[-1].post is d.activation
    b = fastpath.StackBuilder()
    d0 = layers.Dense(3, use_bias=False)
    d0.build_for((4,))
    assert d0.lower(b) and b.finish() and not b.train_ok  # no bias: inference only
    b = fastpath.StackBuilder()
    drop = layers.Dropout(0.5, seed=1)
    drop._mask_seed = 1
    assert drop.lower(b) and not b.finish()  # a dropout must be followed by a unit
    d2 = layers.Dense(3, activation="relu")
    d2.build_for((4,))
    assert d2.lower(b) and b.finish() and b.units[-1].drop is drop


def test_functional_chain_takes_the_compiled_path(general_path):
    """A functional Model that is a plain chain of lowerable layers trains on the compiled
    engine, bit for bit as on the general one (and as the same Sequential)."""
    def make():
        config.set_seed(3)
        inp = layers.Input((12,))
        h = layers.Dense(9, activation="relu")(inp)
        h = layers.Dropout(0.25)(h)
        out = layers.Dense(4, activation="softmax")(h)
        model = fastff.Model(inp, out)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model
    x, y = _data()
    _assert_same(make, dict(batch_size=32, epochs=2), x, y, general_path)
    _assert_same(make, dict(batch_size=64, epochs=3, shuffle=False), x, y, general_path)


def test_functional_graphs_that_are_not_chains_stay_general():
    inp = layers.Input((12,))
    a = layers.Dense(4, activation="relu")(inp)
    b = layers.Dense(4, activation="relu")(inp)
    out = layers.Dense(4, activation="softmax")(layers.Add()([a, b]))
    model = fastff.Model(inp, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = _data()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert fastpath.train_plan(model, 32) is None


# ------------------------------------------------------------------ normalization layers
def _norm_model(norms, dtype="float32", dropout=False, metrics=None, opt="adam", d=12):
    """Dense(relu) -> norms[0] -> Dense(tanh) -> norms[1] -> [Dropout] -> Dense(softmax);
    each entry a layer factory or None."""
    def make():
        config.set_seed(9)
        stack = [layers.Input((d,))]
        for units, act, norm in zip((10, 7), ("relu", "tanh"), norms):
            stack.append(layers.Dense(units, activation=act))
            if norm is not None:
                stack.append(norm())
        if dropout:
            stack.append(layers.Dropout(0.3))
        stack.append(layers.Dense(4, activation="softmax"))
        model = fastff.Sequential(stack, dtype=dtype)
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=metrics)
        return model
    return make


LN = layers.LayerNormalization
NORM_CASES = {
    "ln-ln": dict(norms=(LN, LN)),
    "ln-rms-float64": dict(norms=(lambda: LN(rms_scaling=True, epsilon=1e-5), None),
                           dtype="float64"),
    "ln-no-affine-dropout": dict(norms=(lambda: LN(center=False, scale=False),
                                        lambda: LN(center=False)), dropout=True),
    "bn-ln-metrics": dict(norms=(layers.BatchNormalization, lambda: LN(scale=False)),
                          metrics=["accuracy"], opt="rmsprop"),
}


@pytest.mark.parametrize("name", sorted(NORM_CASES))
@pytest.mark.parametrize("batch_size,shuffle", [(32, True), (203, False)])
def test_layer_norm_fit_compiled_equals_general(name, batch_size, shuffle, general_path):
    """LayerNormalization after a hidden Dense lowers (alone, with rms scaling, without
    gamma/beta, beside a BatchNormalization) and trains bit for bit as on the general path;
    predictions too."""
    x, y = _data()
    _assert_same(_norm_model(**NORM_CASES[name]),
                 dict(batch_size=batch_size, epochs=3, shuffle=shuffle), x, y, general_path)


def test_layer_norm_predict_compiled_equals_general(general_path):
    x, y = _data(n=300)
    outs = []
    for off in (False, True):
        general_path(off)
        model = _norm_model((LN, lambda: LN(rms_scaling=True)))()
        model.fit(x, y, batch_size=50, epochs=1, verbose=0)
        assert (fastpath.predict_plan(model) is not None) is not off
        outs.append([model.predict(x, verbose=0), model.predict(x[:1], verbose=0),
                     model.predict(x, batch_size=7, verbose=0), model(x[:5])])
    for a, b in zip(*outs):
        assert np.array_equal(a, b)


def test_layer_norm_compiled_against_numpy_reference():
    """The compiled LayerNormalization step is the layer's arithmetic: one SGD step on the
    compiled path against a float64 NumPy forward/backward of the same net."""
    x, y = _data(n=16, d=5)
    model = fastff.Sequential([layers.Input((5,)), layers.Dense(6, activation="tanh"),
                               LN(epsilon=0.01), layers.Dense(3)], dtype="float64")
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    t = np.random.default_rng(1).standard_normal((16, 3))
    (w0, b0), (g, be), (w1, b1) = (la.get_weights() for la in model.layers)
    rng = np.random.default_rng(2)
    g, be = rng.uniform(0.5, 1.5, 6), rng.standard_normal(6)
    model.layers[1].set_weights([g, be])
    model.fit(x, t, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert fastpath.train_plan(model, 16) is not None
    xx = x.astype(np.float64)
    h = np.tanh(xx @ w0 + b0)
    mu = h.mean(1, keepdims=True)
    inv = 1 / np.sqrt(h.var(1, keepdims=True) + 0.01)
    xh = (h - mu) * inv
    z = xh * g + be
    out = z @ w1 + b1
    dout = 2 * (out - t) / out.size
    dz = dout @ w1.T
    dxh = dz * g
    dh = inv * (dxh - dxh.mean(1, keepdims=True) - xh * (dxh * xh).mean(1, keepdims=True))
    dpre = dh * (1 - h ** 2)
    expect = [w0 - 0.1 * xx.T @ dpre, b0 - 0.1 * dpre.sum(0), g - 0.1 * (dz * xh).sum(0),
              be - 0.1 * dz.sum(0), w1 - 0.1 * z.T @ dout, b1 - 0.1 * dout.sum(0)]
    got = model.get_weights()
    for a, b in zip(got, expect):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_normalization_settings_changed_after_fit_are_seen(general_path):
    """An epsilon (LayerNormalization) or momentum (BatchNormalization) assigned after a fit
    is baked into the next compiled stack, as the general path reads it."""
    x, y = _data()
    outs = []
    for off in (False, True):
        general_path(off)
        model = _norm_model((LN, layers.BatchNormalization))()
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        model.predict(x, verbose=0)
        model.layers[1].epsilon = 0.5
        model.layers[3].momentum = 0.5
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        outs.append((model.params.copy(), model.predict(x, verbose=0)))
    assert np.array_equal(outs[0][0], outs[1][0]) and np.array_equal(outs[0][1], outs[1][1])


def test_norm_bits_agree_with_the_kernel():
    """compiled.py names train_step's ``norm`` bits without importing it (Numba)."""
    from fastff.backend.kernels import train_step as K

    assert (fastpath._HAS_BN, fastpath._HAS_LN, fastpath._HAS_POST) == \
        (K.HAS_BN, K.HAS_LN, K.HAS_POST)


@pytest.mark.parametrize("norm,act,dtype", [
    (layers.BatchNormalization, layers.ReLU, "float32"),
    (LN, lambda: layers.Activation("gelu"), "float32"),  # a derivative from the input
    (lambda: LN(rms_scaling=True), lambda: layers.LeakyReLU(0.2), "float64"),
])
def test_activation_layer_after_a_normalization(norm, act, dtype, general_path):
    """Dense (linear) -> normalization -> activation layer, Keras's usual order, lowers: the
    compiled step runs the activation kernels CpuOps runs, bit for bit (fit, predict)."""
    def make():
        config.set_seed(4)
        model = fastff.Sequential([layers.Input((12,)), layers.Dense(10), norm(), act(),
                                   layers.Dropout(0.2), layers.Dense(7), norm(), act(),
                                   layers.Dense(4, activation="softmax")], dtype=dtype)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model
    x, y = _data()
    _assert_same(make, dict(batch_size=32, epochs=2), x, y, general_path)


SPLIT_OPTIMIZERS = {
    "adam": "adam",
    "adamw-amsgrad-clipvalue": lambda: optimizers.AdamW(0.01, amsgrad=True, clipvalue=0.1),
    "sgd-nesterov": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(SPLIT_OPTIMIZERS))
def test_update_split_over_threads_equals_general(name, dtype, general_path, monkeypatch):
    """From OPT_PAR_MIN trainable values on, the compiled step runs the optimizer update as
    pieces on the C core's pool (a cfunc, under the caller's FP environment): the bits stay
    the general path's, whose update runs on one thread."""
    from fastff._core import lib
    from fastff.backend.kernels import train_step

    made = []
    real = train_step.opt_piece
    monkeypatch.setattr(train_step, "opt_piece", lambda *a: made.append(a) or real(*a))
    before, adaptive = fastff.get_num_threads(), lib.fastff_get_adaptive_threads()
    fastff.set_num_threads(2)
    lib.fastff_set_adaptive_threads(0)  # always split
    opt = SPLIT_OPTIMIZERS[name]

    def make():
        config.set_seed(3)
        model = fastff.Sequential([layers.Input((700,)), layers.Dense(96, activation="relu"),
                                   layers.Dense(4, activation="softmax")], dtype=dtype)
        model.compile(optimizer=optimizers.get(opt) if isinstance(opt, str) else opt(),
                      loss="sparse_categorical_crossentropy")
        assert model.n_trainable >= train_step.OPT_PAR_MIN
        return model

    try:
        x, y = _data(n=100, d=700)
        _assert_same(make, dict(batch_size=32, epochs=2), x, y, general_path)
    finally:
        fastff.set_num_threads(before)
        lib.fastff_set_adaptive_threads(adaptive)
    assert made, "the compiled step did not split the update"
