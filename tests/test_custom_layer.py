"""Custom layers (``call`` with fastff.ops, ``add_weight``), Lambda, built-in layers inside
recorded code, saving with registration, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import fastff
from fastff import ops
from fastff.layers import Dense, Input, Lambda, Layer
from fastff.testing import check_grads


class MyDense(Layer):
    """A Dense written as a Keras 3 user writes it."""

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = activation

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="glorot_uniform", name="kernel")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        y = ops.matmul(inputs, self.w) + self.b
        return ops.relu(y) if self.activation == "relu" else y

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation}


class Block(Layer):
    """Sublayers (a built-in Dense, a list holding a custom layer), own weight, training."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = Dense(5, activation="tanh")
        self.heads = [MyDense(3)]
        self.drop = fastff.layers.Dropout(0.5)

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(1,), initializer="ones", name="scale")

    def call(self, x, training=None):
        h = self.inner(x)
        h = self.drop(h)  # the caller's training flag reaches it
        return self.heads[0](h) * self.scale + ops.mean(x, axis=-1, keepdims=True)


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_custom_layer_gradients():
    assert check_grads(MyDense(3, "relu"), rnd(4, 6)) < 1e-6
    assert check_grads(Block(), rnd(4, 6), training=False) < 1e-6


def test_block_tracks_sublayers_and_weights():
    b = Block()
    b.build_for((6,), "float64")
    assert [p.path.split("/")[-1] for p in b.params] == ["scale", "kernel", "bias", "kernel",
                                                         "bias"]
    assert b.compute_output_shape((6,)) == (3,)
    b.inner.trainable = False
    assert len(b.trainable_params) == 3 and len(b.non_trainable_params) == 2
    y = b(rnd(2, 6))
    assert type(y) is np.ndarray and y.shape == (2, 3)


def test_dropout_inside_follows_training():
    b = Block()
    b.build_for((6,), "float64")
    x = rnd(8, 6)
    np.testing.assert_array_equal(b(x), b(x, training=False))
    y1, _ = b.forward(x, True)
    assert not np.allclose(y1, b(x))


def _pair(seed=3):
    fastff.config.set_seed(seed)
    custom = fastff.Sequential([Input((6,)), MyDense(8, "relu"), MyDense(3)], dtype="float64")
    ref = fastff.Sequential([Input((6,)), Dense(8, activation="relu"), Dense(3)],
                            dtype="float64")
    ref.set_weights(custom.get_weights())
    return custom, ref


def test_trains_to_the_same_weights_as_dense_on_the_general_path():
    """Same seed and data; the general path for both (sample weights). Bitwise: the tape's
    matmul and its VJP run the same C GEMM calls as Dense (sparse-A entry included), the
    bias add and relu are the same float operations as Dense's GEMM epilogue, and the bias
    gradient sums the rows in the same order."""
    custom, ref = _pair()
    X, Y = rnd(64, 6, seed=1), rnd(64, 3, seed=2)
    sw = np.ones(64)
    for m in (custom, ref):
        m.compile(fastff.optimizers.Adam(0.01), "mse")
        m.fit(X, Y, batch_size=16, epochs=3, verbose=0, shuffle=False, sample_weight=sw)
    for a, b in zip(custom.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(custom.get_weights()[0], _pair()[0].get_weights()[0])  # it trained
    np.testing.assert_allclose(custom.predict(X, verbose=0), ref.predict(X, verbose=0),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(custom.evaluate(X, Y, verbose=0), ref.evaluate(X, Y, verbose=0),
                               rtol=1e-9)


def test_custom_layers_never_take_the_compiled_path():
    from fastff.training import compiled as fastpath

    custom, _ = _pair()
    custom.compile("sgd", "mse")
    custom._build_optimizer()
    assert fastpath.train_plan(custom, 16) is None


def test_functional_model_with_custom_layer():
    inp = Input((6,))
    out = Dense(2)(MyDense(4, "relu")(inp))
    m = fastff.Model(inp, out)
    assert m.output_shape == (None, 2)
    m.compile("sgd", "mse")
    h = m.fit(rnd(32, 6), rnd(32, 2), epochs=2, verbose=0)
    assert h.history["loss"][1] < h.history["loss"][0]


def test_lambda_layer():
    lam = Lambda(lambda x, k: ops.square(x) * k, arguments={"k": 0.5})
    assert check_grads(lam, rnd(3, 4)) < 1e-6
    m = fastff.Sequential([Input((4,)), Lambda(lambda x: ops.tanh(x)), Dense(2)])
    m.compile("sgd", "mse")
    m.fit(rnd(16, 4), rnd(16, 2), epochs=1, verbose=0)
    np.testing.assert_allclose(m.layers[0](np.array([[0.5, 0, 0, 0]]))[0, 0], np.tanh(0.5))


def test_save_load_registered_custom_layer(tmp_path):
    @fastff.saving.register_keras_serializable(package="tests")
    class ScaledDense(MyDense):
        pass

    m = fastff.Sequential([Input((6,)), ScaledDense(4, "relu"), Dense(2)])
    m.compile("adam", "mse")
    m.fit(rnd(16, 6), rnd(16, 2), epochs=1, verbose=0)
    m.save(tmp_path / "m.fastff")
    m2 = fastff.models.load_model(tmp_path / "m.fastff")
    assert type(m2.layers[0]) is ScaledDense
    x = rnd(5, 6)
    np.testing.assert_array_equal(m2.predict(x, verbose=0), m.predict(x, verbose=0))
    m3 = fastff.models.load_model(tmp_path / "m.fastff",
                                  custom_objects={"ScaledDense": ScaledDense})
    np.testing.assert_array_equal(m3.predict(x, verbose=0), m.predict(x, verbose=0))


def test_unsaveable_layers_say_why(tmp_path):
    class NoConfig(Layer):
        def __init__(self, units, **kw):
            super().__init__(**kw)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units))

        def call(self, x):
            return x @ self.w

    class WrongConfig(NoConfig):
        def get_config(self):  # leaves out units
            return {"name": self.name}

    m = fastff.Sequential([Input((3,)), NoConfig(2)])  # saved from its __init__ arguments
    m.compile("sgd", "mse")
    m.save(tmp_path / "n.fastff")
    back = fastff.models.load_model(tmp_path / "n.fastff", custom_objects={"NoConfig": NoConfig})
    assert back.layers[0].units == 2
    m = fastff.Sequential([Input((3,)), WrongConfig(2)])
    m.compile("sgd", "mse")
    m.save(tmp_path / "w.fastff")
    with pytest.raises(ValueError, match="cannot be rebuilt from its config.*get_config"):
        fastff.models.load_model(tmp_path / "w.fastff",
                                 custom_objects={"WrongConfig": WrongConfig})
    lam = fastff.Sequential([Input((3,)), Lambda(ops.relu)])
    lam.compile("sgd", "mse")
    with pytest.raises(ValueError, match="Python function 'relu'.*Lambda"):
        lam.save(tmp_path / "l.fastff")
    lam.save_weights(tmp_path / "l.weights")  # weights alone are fine


def test_call_returning_a_non_array_says_so():
    class Bad(Layer):
        def call(self, x):
            return "oops"

    with pytest.raises(TypeError, match="call returned str, not an array"):
        Bad().build_for((3,), "float64")

    class Listy(Layer):
        def call(self, x):
            return [x, x]

    layer = Listy()
    with pytest.raises(TypeError, match="call returned list"):
        layer.build_for((3,), "float64")


def test_numpy_in_call_without_gradient_names_the_function():
    class Cbrt(Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return np.cbrt(x * self.w)

    layer = Cbrt()
    layer.build_for((3,), "float64")
    y, bp = layer.forward(rnd(2, 3), True)
    with pytest.raises(ops.NoGradientError, match="numpy.cbrt has no gradient"):
        bp(np.ones_like(y))


def test_add_weight_keras_signature():
    layer = Layer(name="host")
    p = layer.add_weight((2, 3), "zeros", trainable=False, name="table")
    assert p.path == "host/table" and not p.trainable and not p.value.any()
    q = layer.add_weight(shape=(4,), regularizer="l2")
    assert q.name == "variable_1" and q.regularizer is not None and q.value.shape == (4,)
    c = layer.add_weight(shape=(1,), constraint="non_neg")  # applied after optimizer steps
    assert type(c.constraint).__name__ == "NonNeg"


def test_shared_builtin_layer_inside_call_sums_gradients():
    class Twice(Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d = Dense(4, activation="tanh")

        def call(self, x):
            return self.d(self.d(x))

    assert check_grads(Twice(), rnd(3, 4)) < 1e-6


def test_client_script_custom_layer_on_digits():
    """What a Keras 3 user writes (only the import changed): a custom layer in a
    Sequential, trained on a small digits-like problem (synthetic class templates)."""
    keras = fastff
    rng = np.random.default_rng(0)
    templates = rng.random((10, 64))
    labels = rng.integers(0, 10, 600)
    x = (templates[labels] + 0.3 * rng.standard_normal((600, 64))).astype("float32")

    class Linear(keras.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                     initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="zeros",
                                     trainable=True)

        def call(self, inputs):
            return keras.ops.relu(keras.ops.matmul(inputs, self.w) + self.b)

    keras.config.set_seed(0)
    model = keras.Sequential([keras.Input(shape=(64,)), Linear(32),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x[:500], labels[:500], batch_size=32, epochs=10, verbose=0,
                        validation_split=0.1)
    loss, acc = model.evaluate(x[500:], labels[500:], verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert acc > 0.85
    assert model.predict(x[:3], verbose=0).shape == (3, 10)


def test_multi_input_builtin_layers_inside_call():
    class Mix(Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.a = Dense(3)
            self.b = Dense(3, activation="sigmoid")
            self.cat = fastff.layers.Concatenate()
            self.add = fastff.layers.Add()

        def call(self, x):
            ha, hb = self.a(x), self.b(x)
            return self.cat([self.add([ha, hb]), ha * hb])

    layer = Mix()
    assert check_grads(layer, rnd(4, 5)) < 1e-6
    layer.build_for((5,), "float64")
    assert layer.compute_output_shape((5,)) == (6,)


def test_float64_constants_do_not_change_a_float32_model():
    class Scale(Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w * np.float64(2.0)  # NumPy would promote to float64

    m = fastff.Sequential([Input((3,)), Scale(), Dense(2)])
    m.compile("sgd", "mse")
    m.fit(rnd(8, 3).astype("float32"), rnd(8, 2).astype("float32"), epochs=1, verbose=0)
    assert m.predict(rnd(2, 3), verbose=0).dtype == np.float32
    y, bp = m.layers[0].forward(rnd(2, 3).astype("float32"), True)
    assert y.dtype == np.float32 and bp(np.ones((2, 3), np.float32)).dtype == np.float32


def test_no_recorded_value_outlives_a_fit():
    import gc

    from fastff.ops import Tensor
    from fastff.ops import tape as tape_mod

    m = fastff.Sequential([Input((6,)), Block(), MyDense(2)])
    m.compile("adam", "mse")
    m.fit(rnd(64, 6), rnd(64, 2), epochs=2, batch_size=8, verbose=0)
    m.predict(rnd(4, 6), verbose=0)
    gc.collect()
    assert not any(isinstance(o, Tensor) for o in gc.get_objects())
    assert not tape_mod._state.stack and not tape_mod._state.training


def test_custom_layer_in_a_gradient_tape():
    layer = MyDense(3, "relu", dtype="float64")
    x = rnd(4, 5)
    layer.build_for((5,), "float64")
    with ops.GradientTape() as t:
        loss = ops.sum(ops.square(layer(x)))
    gw, gb = t.gradient(loss, layer.trainable_weights)
    h = x @ layer.w.value + layer.b.value
    dz = 2 * np.maximum(h, 0) * (h > 0)
    np.testing.assert_allclose(gw, x.T @ dz, rtol=1e-12)
    np.testing.assert_allclose(gb, dz.sum(axis=0), rtol=1e-12)


class Bilinear(Layer):
    """A call on a list of inputs: ``sum((a @ w) * b, -1, keepdims) + tanh(a[:, :1])``."""

    def build(self, input_shape):
        (_, da), (_, db) = input_shape
        self.w = self.add_weight(shape=(da, db), initializer="random_normal", name="w")

    def call(self, inputs):
        a, b = inputs
        return ops.sum(ops.matmul(a, self.w) * b, axis=-1, keepdims=True) + ops.tanh(a[:, :1])


def _bilinear_model(dtype):
    fastff.utils.set_random_seed(3)
    a, b = Input(shape=(4,), name="a"), Input(shape=(3,), name="b")
    mix = Bilinear(name="mix", dtype=dtype)  # (it builds at its symbolic call)
    h = mix([Dense(4, activation="tanh", name="pre")(a), b])
    out = Dense(2, name="out")(fastff.layers.Concatenate()([h, mix([a, b])]))  # shared
    return fastff.Model([a, b], out, dtype=dtype), mix


def test_custom_layer_on_a_list_of_inputs():
    """``call(inputs)`` gets the list; the layer is one graph node per call, its weights
    once; predict equals the NumPy formula, both dtypes."""
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        model, mix = _bilinear_model(dtype)
        xa, xb = (rng.standard_normal((5, n)).astype(dtype) for n in (4, 3))
        got = model.predict([xa, xb], verbose=0)
        w = mix.w.value
        pre = model.get_layer("pre")
        h = np.tanh(xa @ pre.kernel.value + pre.bias.value)

        def f(u, w=w, xb=xb):
            return ((u @ w) * xb).sum(-1, keepdims=True) + np.tanh(u[:, :1])

        out = model.get_layer("out")
        want = np.concatenate([f(h), f(xa)], 1) @ out.kernel.value + out.bias.value
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)
        assert mix.multi_input and len(model.trainable_weights) == 5
    with pytest.raises(ValueError, match="takes a list of"):
        mix(Input(shape=(4,)))  # a list layer stays a list layer


def test_custom_layer_on_a_list_gradients_float64():
    """Backward returns one gradient per input: the graph's input and weight gradients
    against central differences, in float64."""
    from _gradcheck import check_layer_inputs, numeric_input_grads

    model, mix = _bilinear_model("float64")
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((5, 4)), rng.standard_normal((5, 3))]
    check_layer_inputs(mix, xs)  # the layer alone: d/da, d/db
    graph = model._graph
    graph.inputs_need_grad = True
    try:
        y, bp = graph.forward(xs, True)
        r = rng.standard_normal(y.shape)
        for p in model.trainable_weights:
            p.grad[...] = 0
        dx = bp(r, True)
        analytic = [np.array(p.grad) for p in model.trainable_weights]

        def f(arrs):
            return float(np.sum(graph.forward(arrs, True)[0] * r))

        for a, n in zip(dx, numeric_input_grads(f, xs)):
            np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-8)
        weights = [p.value for p in model.trainable_weights]
        for a, n in zip(analytic, numeric_input_grads(lambda _: f(xs), weights)):
            np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-8)
    finally:
        graph.inputs_need_grad = False


def test_custom_layer_on_a_list_trains_and_saves(tmp_path):
    from fastff.saving import register_keras_serializable

    register_keras_serializable(package="fastff_test_list")(Bilinear)
    model, _ = _bilinear_model("float32")
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((32, 4)).astype("float32"),
          rng.standard_normal((32, 3)).astype("float32")]
    y = rng.standard_normal((32, 2)).astype("float32")
    hist = model.fit(xs, y, epochs=5, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    for name in ("m.fastff", "m.keras"):
        model.save(tmp_path / name)
        back = fastff.models.load_model(tmp_path / name)
        np.testing.assert_array_equal(back.predict(xs, verbose=0), model.predict(xs, verbose=0))
