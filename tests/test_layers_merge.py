"""Merge layers (Add ... Dot) and shape layers (Reshape, RepeatVector, Permute, Identity)."""

import numpy as np
import pytest
from _gradcheck import check_layer_inputs, numeric_input_grads

import fastff as keras
from fastff import training
from fastff.layers import deserialize, serialize
from fastff.testing import check_grads

rng = np.random.default_rng(1)
L = keras.layers


def roundtrip(layer):
    clone = deserialize(serialize(layer))
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()


@pytest.mark.parametrize("cls, ref", [
    (L.Add, lambda xs: sum(xs)), (L.Subtract, lambda xs: xs[0] - xs[1]),
    (L.Multiply, lambda xs: np.prod(xs, axis=0)), (L.Average, lambda xs: np.mean(xs, axis=0)),
    (L.Maximum, lambda xs: np.max(xs, axis=0)), (L.Minimum, lambda xs: np.min(xs, axis=0)),
])
def test_elementwise_merges(cls, ref):
    k = 2 if cls is L.Subtract else 3
    xs = [rng.standard_normal((4, 2, 3)) for _ in range(k)]
    layer = cls()
    np.testing.assert_allclose(layer(xs), ref(xs), rtol=1e-6)
    check_layer_inputs(cls(), xs)
    roundtrip(layer)
    with pytest.raises(ValueError, match="same shape"):
        cls()([xs[0], xs[1][:, :1]])


def test_maximum_nan_and_subtract_arity():
    a = np.array([[1.0, np.nan]])
    b = np.array([[2.0, 0.0]])
    y, bp = L.Maximum().forward([a, b])
    assert y[0, 0] == 2 and np.isnan(y[0, 1])
    da, db = bp(np.ones_like(a))
    assert da.tolist() == [[0, 1]] and db.tolist() == [[1, 0]]
    with pytest.raises(ValueError, match="exactly 2"):
        L.Subtract()([a, a, a])


@pytest.mark.parametrize("shapes, axes", [
    (((5, 4), (5, 4)), 1), (((5, 3, 4), (5, 2, 4)), 2), (((5, 3, 4), (5, 3, 2)), (1, 1)),
    (((5, 4), (5, 4, 2)), (1, 1)),
])
@pytest.mark.parametrize("normalize", [False, True])
def test_dot(shapes, axes, normalize):
    x1, x2 = (rng.standard_normal(s) for s in shapes)
    layer = L.Dot(axes=axes, normalize=normalize)
    y = layer([x1, x2])
    ax = (axes, axes) if isinstance(axes, int) else axes
    a, b = x1, x2
    if normalize:
        a = a / np.linalg.norm(a, axis=ax[0], keepdims=True)
        b = b / np.linalg.norm(b, axis=ax[1], keepdims=True)
    want = np.stack([np.tensordot(a[i], b[i], axes=(ax[0] - 1, ax[1] - 1))
                     for i in range(a.shape[0])])
    want = want.reshape(len(want), -1) if want.ndim == 1 else want
    assert y.shape[1:] == tuple(layer.compute_output_shape([s[1:] for s in shapes]))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    check_layer_inputs(L.Dot(axes=axes, normalize=normalize), [x1, x2])
    roundtrip(layer)


def test_shape_layers():
    x = rng.standard_normal((3, 4, 6)).astype(np.float32)
    r = L.Reshape((-1, 3))
    assert r(x).shape == (3, 8, 3) and r.compute_output_shape((4, 6)) == (8, 3)
    check_grads(r, x)
    with pytest.raises(ValueError, match="Reshape"):
        L.Reshape((5, -1)).compute_output_shape((4, 6))
    p = L.Permute((2, 1))
    np.testing.assert_array_equal(p(x), x.transpose(0, 2, 1))
    check_grads(p, x)
    rv = L.RepeatVector(3)
    v = rng.standard_normal((2, 5)).astype(np.float32)
    np.testing.assert_array_equal(rv(v), np.repeat(v[:, None], 3, axis=1))
    check_grads(rv, v)
    ident = L.Identity()
    np.testing.assert_array_equal(ident(x), x)
    check_grads(ident, x)
    for layer in (r, p, rv, ident):
        roundtrip(layer)
    model = keras.Sequential([keras.Input((12,)), L.Reshape((3, 4)), L.Permute((2, 1)),
                              L.Flatten(), L.Dense(2)])
    assert model.output_shape == (None, 2)
    assert model.predict(rng.standard_normal((5, 12)), verbose=0).shape == (5, 2)


def _residual_model(dtype="float32"):
    inp = keras.Input((4,))
    x = L.Dense(6, activation="tanh")(inp)
    h = L.Dense(6, activation="tanh")(x)
    y = L.Add()([x, h])
    m = L.Multiply()([y, L.Dense(6, activation="sigmoid")(x)])
    z = L.LayerNormalization()(m)
    d = L.Dot(axes=1, normalize=True)([z, x])
    out = L.Dense(1)(L.Concatenate()([z, d]))
    return keras.Model(inp, out, dtype=dtype)


def test_residual_functional_model_grads():
    model = _residual_model("float64")
    model.compile("sgd", "mse")
    X = model._prepare_inputs(rng.standard_normal((7, 4)))
    Y = rng.standard_normal((7, 1))

    def loss(_):
        per_row, pen, _, _ = training.forward_backward(model, X, Y, None)
        return float(per_row.mean()) + pen

    model.grads[...] = 0
    training.forward_backward(model, X, Y, None)
    analytic = model.grads[:model.n_trainable].copy()
    numeric = numeric_input_grads(loss, [model.params])[0][:model.n_trainable]
    scale = max(np.abs(numeric).max(), 1e-3)
    assert np.abs(analytic - numeric).max() / scale < 1e-6


def test_residual_functional_model_trains_and_saves(tmp_path):
    model = _residual_model()
    model.compile("adam", "mse")
    x = rng.standard_normal((128, 4)).astype(np.float32)
    y = (x[:, :1] * x[:, 1:2] + x[:, 2:3]).astype(np.float32)
    hist = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < 0.7 * hist.history["loss"][0]
    lines = []
    model.summary(print_fn=lines.append)
    assert any("(Add)" in s for s in lines) and any("(Dot)" in s for s in lines)
    model.save(tmp_path / "res.fastff")
    loaded = keras.models.load_model(tmp_path / "res.fastff")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


def test_shape_layers_in_sequential_loss_grads():
    model = keras.Sequential([keras.Input((4, 3)), L.Masking(), L.Reshape((12,)), L.Dense(4),
                              L.RepeatVector(2), L.Permute((2, 1)), L.GlobalAveragePooling1D(),
                              L.UnitNormalization(), L.Dense(2)])
    model.compile("sgd", "mse")
    check_grads(model, rng.standard_normal((3, 4, 3)), rng.standard_normal((3, 2)))


def test_device_arrays_are_refused_clearly():
    class DeviceArray:  # what is_device_array recognises (e.g. a numba.cuda array)
        shape = (2, 3)

        def copy_to_host(self):
            return np.zeros(self.shape)

    with pytest.raises(NotImplementedError, match="CPU only"):
        L.Add().forward([DeviceArray(), DeviceArray()])
