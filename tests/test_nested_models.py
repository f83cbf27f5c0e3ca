"""Models used as layers (Keras: a Model is a Layer): nested Sequential and functional models,
encoders called on symbolic tensors, transfer learning with a frozen base, saving."""

import numpy as np
import pytest

import fastff as keras
from fastff.testing import check_grads

L = keras.layers
rng = np.random.default_rng(0)
X = rng.standard_normal((48, 6))
Y = rng.integers(0, 3, 48)
Y_REG = rng.standard_normal((48, 2))


def _general_path(monkeypatch):
    from fastff.training import compiled

    monkeypatch.setattr(compiled, "ENABLED", False)


def _dense(units, act=None, seed=0, inputs=6, name=None):
    """A Dense with fixed weights (so nested and flat models start equal)."""
    d = L.Dense(units, activation=act, name=name)
    d.build_for((inputs,), "float64")
    r = np.random.default_rng(seed)
    d.set_weights([r.standard_normal((inputs, units)) * 0.3, r.standard_normal(units) * 0.1])
    return d


def _train(model, y=Y, loss="sparse_categorical_crossentropy", epochs=2):
    model.compile(keras.optimizers.SGD(0.1), loss)
    return model.fit(X, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0)


def test_nested_sequential_trains_as_the_flat_stack(monkeypatch):
    _general_path(monkeypatch)
    flat = keras.Sequential([keras.Input((6,)), _dense(8, "relu", 1), _dense(8, "tanh", 2, 8),
                             _dense(3, "softmax", 3, 8)], dtype="float64")
    inner = keras.Sequential([_dense(8, "relu", 1), _dense(8, "tanh", 2, 8)], name="inner",
                             dtype="float64")
    nested = keras.Sequential([keras.Input((6,)), inner, _dense(3, "softmax", 3, 8)],
                              dtype="float64")
    h1, h2 = _train(flat), _train(nested)
    np.testing.assert_allclose(h2.history["loss"], h1.history["loss"], rtol=1e-12)
    for a, b in zip(nested.get_weights(), flat.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    # the inner model sees the trained weights and predicts with them on its own
    np.testing.assert_allclose(inner.predict(X, verbose=0),
                               np.tanh(np.maximum(X @ flat.get_weights()[0]
                                                  + flat.get_weights()[1], 0)
                                       @ flat.get_weights()[2] + flat.get_weights()[3]),
                               rtol=1e-10)
    assert nested.layers[0] is nested.get_layer("inner")
    assert [la.name for la in nested.get_layer("inner").layers] == [la.name for la in inner.layers]
    assert nested.count_params() == flat.count_params()


def test_functional_encoder_called_on_a_tensor_has_exact_gradients():
    i = keras.Input((6,))
    enc = keras.Model(i, L.Dense(5, activation="tanh")(L.Dense(7, activation="relu")(i)),
                      name="enc", dtype="float64")
    j = keras.Input((6,))
    out = L.Dense(2)(enc(j))
    model = keras.Model(j, out, dtype="float64")
    model.compile("sgd", "mse")
    err = check_grads(model, X[:5], Y_REG[:5])
    assert err < 1e-6
    assert [type(la).__name__ for la in model.layers] == ["Input", "NestedModel", "Dense"]
    assert len(model.trainable_weights) == 6


def test_frozen_base_model_for_transfer_learning():
    base = keras.Sequential([keras.Input((6,)), L.Dense(8, activation="relu", name="feat"),
                             L.Dense(3)])
    base.compile("adam", "mse")
    features = keras.Model(base.inputs, base.get_layer("feat").output, name="features")
    features.trainable = False
    before = [w.copy() for w in features.get_weights()]
    model = keras.Sequential([keras.Input((6,)), features, L.Dense(3, activation="softmax")])
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    _train(model)
    for a, b in zip(features.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    # unfreeze through the outer model (fine-tuning): now the base trains too
    model.get_layer("features").trainable = True
    assert len(model.trainable_weights) == 4
    _train(model, epochs=1)
    assert not np.array_equal(features.get_weights()[0], before[0])


def test_shared_encoder_on_two_inputs_sums_the_gradients():
    def encoder(name):
        return keras.Sequential([keras.Input((6,)), _dense(4, "tanh", 5)], name=name,
                                dtype="float64")

    def siamese(enc_a, enc_b):
        a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
        out = _dense(1, None, 7, 8)(L.Concatenate()([enc_a(a), enc_b(b)]))
        model = keras.Model([a, b], out, dtype="float64")
        model.compile(keras.optimizers.SGD(0.5), "mse")
        return model

    shared = encoder("enc")
    one = siamese(shared, shared)
    assert len(one.trainable_weights) == 4  # one encoder, used twice
    ea, eb = encoder("ea"), encoder("eb")
    two = siamese(ea, eb)
    w0 = shared.get_weights()
    xa, xb, y = X[:8], X[8:16], Y_REG[:8, :1]
    one.train_on_batch([xa, xb], y)
    two.train_on_batch([xa, xb], y)
    for w, s, a, b in zip(w0, shared.get_weights(), ea.get_weights(), eb.get_weights()):
        np.testing.assert_allclose(s - w, (a - w) + (b - w), rtol=1e-10, atol=1e-14)


def test_functional_model_inside_a_subclassed_call(monkeypatch):
    i = keras.Input((6,))
    enc = keras.Model(i, _dense(8, "relu", 1)(i), name="enc", dtype="float64")

    class Net(keras.Model):
        def __init__(self):
            super().__init__(dtype="float64")
            self.enc = enc
            self.head = _dense(3, "softmax", 3, 8)

        def call(self, x, training=None):
            return self.head(self.enc(x))

    _general_path(monkeypatch)
    flat = keras.Sequential([keras.Input((6,)), _dense(8, "relu", 1), _dense(3, "softmax", 3, 8)],
                            dtype="float64")
    net = Net()
    h1, h2 = _train(flat), _train(net)
    np.testing.assert_allclose(h2.history["loss"], h1.history["loss"], rtol=1e-10)
    np.testing.assert_allclose(net.predict(X, verbose=0), flat.predict(X, verbose=0),
                               rtol=1e-10)


def test_nested_models_save_and_load(tmp_path):
    inner = keras.Sequential([L.Dense(8, activation="relu"), L.Dropout(0.2)], name="block")
    i = keras.Input((6,))
    enc = keras.Model(i, L.Dense(5, activation="tanh")(i), name="enc")
    model = keras.Sequential([keras.Input((6,)), inner, L.Dense(6), enc,
                              L.Dense(3, activation="softmax")])
    _train(model, epochs=1)
    cfg = model.get_config()
    assert [lc["class_name"] for lc in cfg["layers"]] == ["Sequential", "Dense", "Model",
                                                          "Dense"]
    path = tmp_path / "nested.fastff"
    model.save(path)
    back = keras.models.load_model(path)
    np.testing.assert_array_equal(back.predict(X, verbose=0), model.predict(X, verbose=0))
    assert back.get_layer("block").layers[0].units == 8
    again = keras.models.model_from_json(model.to_json())
    assert again.count_params() == model.count_params()


def test_summary_shows_the_nested_model_as_one_layer(capsys):
    inner = keras.Sequential([L.Dense(8), L.Dense(4)], name="inner")
    model = keras.Sequential([keras.Input((6,)), inner, L.Dense(2)])
    model.summary()
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "inner" in line)
    assert "Sequential" in row and "(None, 4)" in row and "92" in row


def test_nested_model_errors():
    inner = keras.Sequential([keras.Input((5,)), L.Dense(3)], name="inner")
    with pytest.raises(ValueError, match=r"inner.*\(None, 5\).*\(None, 6\)"):
        keras.Sequential([keras.Input((6,)), inner])
    model = keras.Sequential([L.Dense(2)])
    with pytest.raises(ValueError, match="cannot contain itself"):
        model.add(model)
    a = keras.Input((6,))
    two = keras.Model(a, [L.Dense(1)(a), L.Dense(2)(a)])
    with pytest.raises(ValueError, match="several outputs.*single output tensor"):
        keras.Sequential([keras.Input((6,)), two])


def _two_headed(dtype="float32"):
    """An outer model reading both outputs of a nested model of two outputs (called twice)
    and the sorted-key outputs of one with dict outputs."""
    keras.utils.set_random_seed(5)
    i = keras.Input((4,), name="i")
    h = L.Dense(3, activation="tanh", name="h")(i)
    inner = keras.Model(i, [L.Dense(2, name="p")(h), h], name="inner", dtype=dtype)
    di = keras.Input((4,), name="di")
    dh = L.Dense(3, name="dh")(di)
    dinner = keras.Model(di, {"z": L.Dense(2, name="dp")(dh), "a": dh}, name="dinner",
                         dtype=dtype)
    x = keras.Input((4,), name="x")
    p1, h1 = inner(x)
    _, h2 = inner(L.Dense(4, name="pre")(x))
    d = dinner(x)
    assert sorted(d) == ["a", "z"]
    out = L.Dense(2, name="head")(L.Concatenate(name="cat")([p1, h2, d["a"], d["z"]]))
    return keras.Model(x, [out, h1, d["z"]], name="outer", dtype=dtype), inner, dinner


def test_nested_model_of_several_outputs():
    """``inner(x)`` on a tensor gives one tensor per output (a list, or a dict like its
    outputs); predict equals running the inner models on their own."""
    model, inner, dinner = _two_headed()
    assert [la.name for la in model.layers] == ["x", "inner", "pre", "dinner", "cat", "head"]
    assert model.output_names == ["head", "inner", "dinner"]
    x = np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32)
    out, h1, z = model.predict(x, verbose=0)
    p1, h1_inner = inner.predict(x, verbose=0)
    np.testing.assert_array_equal(h1, h1_inner)
    np.testing.assert_array_equal(z, dinner.predict(x, verbose=0)["z"])
    pre = model.get_layer("pre")
    _, h2 = inner.predict(x @ pre.kernel.value + pre.bias.value, verbose=0)
    d = dinner.predict(x, verbose=0)
    head = model.get_layer("head")
    cat = np.concatenate([p1, h2, d["a"], d["z"]], axis=1)
    np.testing.assert_allclose(out, cat @ head.kernel.value + head.bias.value, rtol=1e-5,
                               atol=1e-6)
    assert len(model.trainable_weights) == 2 * 4 + 2 * 2  # inner, dinner once; pre, head


def test_nested_model_of_several_outputs_gradients_float64(tmp_path):
    """Gradients of every weight and of the input against central differences (the
    gradients of an inner model's outputs reach it together), then fit and save."""
    from _gradcheck import numeric_input_grads

    model, _, _ = _two_headed("float64")
    graph = model._graph
    graph.inputs_need_grad = True
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4))
    try:
        ys, bp = graph.forward([x], True)
        rs = [rng.standard_normal(y.shape) for y in ys]
        for p in model.trainable_weights:
            p.grad[...] = 0
        dx = bp(rs, True)
        analytic = [np.array(p.grad) for p in model.trainable_weights]

        def f(_):
            return sum(float(np.sum(y * r)) for y, r in zip(graph.forward([x], True)[0], rs))

        weights = [p.value for p in model.trainable_weights]
        for a, n in zip(analytic, numeric_input_grads(f, weights)):
            np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dx, numeric_input_grads(f, [x])[0], rtol=1e-6, atol=1e-8)
    finally:
        graph.inputs_need_grad = False
    model, _, _ = _two_headed()
    model.compile(optimizer="adam", loss=["mse", "mse", None])
    x32 = rng.standard_normal((32, 4)).astype(np.float32)
    hist = model.fit(x32, [np.zeros((32, 2)), np.ones((32, 3)), None], epochs=4, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    model.save(tmp_path / "m.fastff")
    back = keras.models.load_model(tmp_path / "m.fastff")
    for a, b in zip(back.predict(x32, verbose=0), model.predict(x32, verbose=0)):
        np.testing.assert_array_equal(a, b)
    summary = []
    model.summary(print_fn=summary.append)
    row = next(s for s in summary if s.startswith(" inner "))
    assert "Functional" in row and "[(None, 2), (None, 3" in row  # one shape per output
