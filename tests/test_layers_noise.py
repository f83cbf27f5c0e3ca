"""Noise layers and Dropout(noise_shape): training-only, deterministic given the seed."""

import numpy as np
import pytest

import fastff as keras
from fastff.backend import get_ops
from fastff.layers import deserialize, serialize
from fastff.testing import check_grads

rng = np.random.default_rng(3)
L = keras.layers


def roundtrip(layer):
    clone = deserialize(serialize(layer))
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()


def test_dropout_without_noise_shape_is_unchanged():
    x = rng.standard_normal((6, 5)).astype(np.float32)
    layer = L.Dropout(0.4, seed=7)
    y = layer(x, training=True)
    mask = get_ops().dropout_mask(x.shape, 0.4, 7, 0, np.float32)
    np.testing.assert_array_equal(y, x * mask)
    assert layer.get_config()["noise_shape"] is None


def test_dropout_noise_shape_broadcasts_one_mask():
    x = np.ones((4, 3, 6), dtype=np.float32)
    layer = L.Dropout(0.5, noise_shape=(None, 1, 6), seed=3)
    y = layer(x, training=True)
    assert np.all(y == y[:, :1, :])  # the same mask for every step
    assert set(np.unique(y)) <= {0.0, 2.0} and 0 < (y == 0).mean() < 1
    np.testing.assert_array_equal(layer(x), x)
    check_grads(L.Dropout(0.5, noise_shape=(None, 1, 6), seed=3), x)
    roundtrip(layer)
    with pytest.raises(ValueError, match="noise_shape"):
        L.Dropout(0.5, noise_shape=(2, 2))(x, training=True)
    with pytest.raises(ValueError, match="noise_shape"):
        L.Dropout(0.5, noise_shape="x")


def test_spatial_dropout1d_drops_channels():
    x = np.ones((8, 5, 10), dtype=np.float32)
    layer = L.SpatialDropout1D(0.5, seed=1)
    y = layer(x, training=True)
    assert np.all(y == y[:, :1, :]) and 0 < (y == 0).mean() < 1
    np.testing.assert_array_equal(layer(x), x)
    roundtrip(layer)


def test_gaussian_noise_deterministic_and_training_only():
    x = np.zeros((2000, 3), dtype=np.float64)
    a = L.GaussianNoise(0.5, seed=11, dtype="float64")
    b = L.GaussianNoise(0.5, seed=11, dtype="float64")
    ya, yb = a(x, training=True), b(x, training=True)
    np.testing.assert_array_equal(ya, yb)
    assert abs(ya.std() - 0.5) < 0.02 and abs(ya.mean()) < 0.02
    assert not np.array_equal(a(x, training=True), ya)  # the next step draws new noise
    np.testing.assert_array_equal(a(x), x)
    check_grads(L.GaussianNoise(0.3, seed=1), rng.standard_normal((3, 4)))
    roundtrip(a)


def test_gaussian_dropout():
    x = np.ones((4000, 2))
    layer = L.GaussianDropout(0.2, seed=5, dtype="float64")
    y = layer(x, training=True)
    assert abs(y.mean() - 1) < 0.03 and abs(y.std() - np.sqrt(0.2 / 0.8)) < 0.03
    np.testing.assert_array_equal(layer(x), x)
    check_grads(L.GaussianDropout(0.2, seed=5), rng.standard_normal((3, 4)))
    roundtrip(layer)


def test_alpha_dropout_keeps_selu_statistics():
    x = rng.standard_normal((20000, 4))
    layer = L.AlphaDropout(0.2, seed=2, dtype="float64")
    y = layer(x, training=True)
    assert abs(y.mean()) < 0.03 and abs(y.std() - 1) < 0.03
    np.testing.assert_array_equal(layer(x), x)
    check_grads(L.AlphaDropout(0.3, seed=2), rng.standard_normal((3, 4)))
    roundtrip(layer)


def test_noise_layers_in_sequential_fit():
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), L.GaussianNoise(0.1, seed=1),
                              L.Dense(8, activation="elu"), L.AlphaDropout(0.1, seed=2),
                              L.GaussianDropout(0.1, seed=3), L.Dense(1)])
    model.compile("adam", "mse")
    h = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


def test_dropout_noise_shape_in_fit_takes_the_general_path(monkeypatch):
    """The compiled Dense+Dropout step draws a full mask: a noise_shape Dropout must not
    take it (same weights whether the compiled path is enabled or not)."""
    from fastff.training import compiled as fastpath

    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)

    def fit():
        model = keras.Sequential([
            keras.Input((6,)), L.Dense(8, activation="relu", kernel_initializer="ones"),
            L.Dropout(0.5, noise_shape=(1, 8), seed=3),
            L.Dense(3, activation="softmax", kernel_initializer="ones")])
        model.compile("sgd", "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
        return model.get_weights()

    compiled = fit()
    monkeypatch.setattr(fastpath, "ENABLED", False, raising=False)
    for a, b in zip(compiled, fit()):
        np.testing.assert_array_equal(a, b)
    layer = L.Dropout(0.5, noise_shape=(1, 8))
    assert isinstance(layer, L.Dropout) and type(layer).__name__ == "Dropout"
    assert type(L.Dropout(0.5)) is L.Dropout
