"""BatchNormalization, LayerNormalization, Normalization, UnitNormalization, Rescaling."""

import numpy as np
import pytest
from _gradcheck import check_layer_inputs

import fastff as keras
from fastff.backend import get_ops
from fastff.layers import deserialize, serialize
from fastff.testing import check_grads

REF, CPU = get_ops("numpy"), get_ops("cpu")
rng = np.random.default_rng(0)


def roundtrip(layer):
    clone = deserialize(serialize(layer))
    assert clone.get_config() == layer.get_config()
    return clone


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("shape", [(1, 3), (7, 5), (33, 2)])
def test_norm_kernels_match_reference(dtype, order, shape):
    x = np.asarray(rng.standard_normal(shape) * 3 + 1, dtype=dtype, order=order)
    dy = np.asarray(rng.standard_normal(shape), dtype=dtype, order=order)
    g, b = (rng.standard_normal(shape[1]).astype(dtype) for _ in range(2))
    tol = 1e-4 if dtype == np.float32 else 1e-12
    res = {}
    for ops in (REF, CPU):
        m, v = ops.batch_norm_stats(x)
        y = ops.batch_norm(x, g, b, m, v, 1e-3)
        out = [m, v, y]
        for stats in (True, False):
            dg, db = np.empty_like(g), np.empty_like(b)
            out += [ops.backprop_batch_norm(dy, x, g, m, v, 1e-3, dg, db, batch_stats=stats),
                    dg, db]
        for rms in (False, True):
            y2, mean, inv = ops.layer_norm(x, g, None if rms else b, 1e-3, rms)
            dg, db = np.empty_like(g), np.empty_like(b)
            out += [y2, mean, inv,
                    ops.backprop_layer_norm(dy, x, g, mean, inv, dg, db, rms_scaling=rms), dg]
        assert ops.backprop_batch_norm(dy, x, None, m, v, 1e-3, None, None, dx=False) is None
        res[type(ops).__name__] = out
    for a, c in zip(res["NumpyOps"], res["CpuOps"]):
        assert a.dtype == c.dtype == dtype
        np.testing.assert_allclose(c, a, rtol=tol, atol=tol)


def test_norm_kernels_propagate_nan():
    x = rng.standard_normal((4, 3))
    x[1, 2] = np.nan
    m, v = CPU.batch_norm_stats(x)
    y = CPU.batch_norm(x, None, None, m, v, 1e-3)
    assert np.isnan(y[:, 2]).all() and np.isfinite(y[:, :2]).all()
    y2, _, _ = CPU.layer_norm(x, None, None, 1e-3)
    assert np.isnan(y2[1]).all() and np.isfinite(np.delete(y2, 1, 0)).all()


@pytest.mark.parametrize("kwargs", [{}, {"center": False}, {"scale": False}, {"axis": 1}])
def test_batchnorm_grads(kwargs):
    layer = keras.layers.BatchNormalization(**kwargs)
    x = rng.standard_normal((6, 3, 4))
    check_grads(layer, x, training=True, eps=1e-5, tol=1e-5)
    layer.build_for(x.shape[1:], "float64")
    layer.moving_mean.assign(rng.standard_normal(layer.moving_mean.shape))
    layer.moving_variance.assign(rng.uniform(0.5, 2, layer.moving_variance.shape))
    check_layer_inputs(layer, x, training=False)


def test_batchnorm_keras_semantics():
    layer = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    x = rng.standard_normal((16, 4)) * 2 + 3
    y = layer(x, training=True)
    mean, var = x.mean(0), x.var(0)  # biased variance, as Keras
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-5)
    mm, mv = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    y_inf = layer(x, training=False)
    np.testing.assert_allclose(y_inf, (x - mm) / np.sqrt(mv + 1e-3), rtol=1e-5, atol=1e-5)
    # frozen: inference mode even in training, moving statistics untouched
    layer.trainable = False
    np.testing.assert_allclose(layer(x, training=True), y_inf, rtol=1e-6)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), mm)
    assert [p.name for p in layer.params] == ["gamma", "beta", "moving_mean",
                                              "moving_variance"]
    assert [p.name for p in layer.non_trainable_weights] == ["gamma", "beta", "moving_mean",
                                                             "moving_variance"]
    clone = roundtrip(keras.layers.BatchNormalization(axis=1, momentum=0.5,
                                                      gamma_regularizer="l2"))
    assert clone.momentum == 0.5 and clone.axis == 1


def test_batchnorm_in_sequential_fit_save_load(tmp_path):
    x = rng.standard_normal((64, 5)).astype(np.float32) * 3 + 2
    y = (x[:, 0] > 2).astype(np.int64)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.BatchNormalization(),
                              keras.layers.LayerNormalization(),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    bn = model.layers[1]
    hist = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    assert not np.allclose(bn.moving_mean.numpy(), 0)  # updated during training
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(BatchNormalization)" in text and "(LayerNormalization)" in text
    assert "Non-trainable params: 16" in text
    path = tmp_path / "bn.fastff"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.layers[1].moving_variance.numpy(),
                                  bn.moving_variance.numpy())
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"rms_scaling": True}, {"axis": [1, 2]}, {"axis": 1},
                                    {"center": False, "scale": False}])
def test_layernorm_grads_and_values(kwargs):
    layer = keras.layers.LayerNormalization(**kwargs)
    x = rng.standard_normal((5, 3, 4))
    check_grads(layer, x, eps=1e-5, tol=1e-5)
    layer.build_for(x.shape[1:], "float64")
    y = layer(x)
    ax = tuple(np.atleast_1d(kwargs.get("axis", -1)))
    var = x.var(axis=ax, keepdims=True)
    want = x / np.sqrt(var + 1e-3) if kwargs.get("rms_scaling") else \
        (x - x.mean(axis=ax, keepdims=True)) / np.sqrt(var + 1e-3)
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-10)
    roundtrip(layer)


def test_layernorm_rms_has_no_beta():
    layer = keras.layers.LayerNormalization(rms_scaling=True)
    layer.build_for((6,), "float32")
    assert [p.name for p in layer.weights] == ["gamma"]


def test_normalization_adapt_streamed_and_stable():
    data = rng.standard_normal((103, 3)) * [1, 10, 0.1] + 1e6
    layer = keras.layers.Normalization(dtype="float64")
    layer.adapt(data, batch_size=7)
    np.testing.assert_allclose(layer.adapt_mean.numpy(), data.mean(0), rtol=1e-12)
    np.testing.assert_allclose(layer.adapt_variance.numpy(), data.var(0), rtol=1e-6)
    assert layer.count.numpy().item() == 103
    out = layer(data[:5])
    np.testing.assert_allclose(out, (data[:5] - data.mean(0)) / data.std(0), atol=1e-6)
    layer.adapt(data[:10], steps=1, batch_size=4)  # replaces: the first 4 rows only
    np.testing.assert_allclose(layer.adapt_mean.numpy(), data[:4].mean(0), rtol=1e-12)
    # iterable of batches, axis=None (one scalar statistic)
    scal = keras.layers.Normalization(axis=None, dtype="float64")
    scal.adapt([data[:50], data[50:]])
    np.testing.assert_allclose(scal.adapt_mean.numpy(), data.mean(), rtol=1e-12)
    with pytest.raises(ValueError, match="finite"):
        keras.layers.Normalization().adapt(np.array([[np.nan]]))


def test_normalization_given_stats_invert_grads_config():
    layer = keras.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.0])
    x = rng.standard_normal((4, 2))
    y = layer(x)
    np.testing.assert_allclose(y, (x - [1, 2]) / [2.0, 1e-7], rtol=1e-6)
    inv = keras.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0], invert=True)
    np.testing.assert_allclose(inv(x), x * [2, 3] + [1, 2], rtol=1e-6)
    check_grads(keras.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0]), x)
    assert roundtrip(layer).input_mean.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="both"):
        keras.layers.Normalization(mean=1.0)


def test_normalization_saved_in_model(tmp_path):
    data = rng.standard_normal((40, 3)) * 5 + 2
    norm = keras.layers.Normalization()
    norm.adapt(data)
    model = keras.Sequential([keras.Input((3,)), norm, keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(data, data[:, :1], epochs=1, verbose=0)
    model.save(tmp_path / "n.fastff")
    loaded = keras.models.load_model(tmp_path / "n.fastff")
    np.testing.assert_allclose(loaded.layers[0].adapt_mean.numpy(), data.mean(0), rtol=1e-6)
    np.testing.assert_allclose(loaded.predict(data, verbose=0), model.predict(data, verbose=0))


def test_unit_normalization_and_rescaling():
    x = rng.standard_normal((4, 3))
    layer = keras.layers.UnitNormalization()
    np.testing.assert_allclose(layer(x), x / np.linalg.norm(x, axis=1, keepdims=True),
                               rtol=1e-6)
    check_grads(layer, x)
    check_grads(keras.layers.UnitNormalization(axis=[1, 2]), rng.standard_normal((3, 2, 2)))
    assert np.all(layer(np.zeros((1, 3))) == 0)
    roundtrip(layer)
    resc = keras.layers.Rescaling(1 / 255.0, offset=-1)
    ints = np.array([[0, 255]], dtype=np.int64)
    np.testing.assert_allclose(resc(ints), [[-1.0, 0.0]])
    check_grads(keras.layers.Rescaling(2.5, 0.5), x)
    roundtrip(resc)


def test_normalization_layers_in_model_loss_grads():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="tanh"),
                              keras.layers.BatchNormalization(),
                              keras.layers.LayerNormalization(),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    check_grads(model, rng.standard_normal((8, 5)), rng.integers(0, 3, 8), eps=1e-5, tol=1e-5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="batch axis"):
        keras.layers.BatchNormalization(axis=0).build_for((3,), "float32")
    with pytest.raises(ValueError, match="out of range"):
        keras.layers.LayerNormalization(axis=3).build_for((3,), "float32")
    with pytest.raises(ValueError, match="epsilon"):
        keras.layers.BatchNormalization(epsilon=0)
    with pytest.raises(NotImplementedError, match="gamma_constraint"):
        keras.layers.BatchNormalization(gamma_constraint="non_neg")
    with pytest.raises(ValueError, match="mean of shape"):
        keras.layers.Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0]).build_for((3,), "float32")
