"""Layers: gradient checks (float64 central differences) for every layer × activation, dropout
with a fixed mask, L1/L2 penalties inside a model; shapes, configs, weights."""

from __future__ import annotations

import numpy as np
import pytest

import fastff
from fastff import layers as L
from fastff.testing import check_grads

ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus",
               "softmax"]


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal((5, 4))


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_dense_grads(act, x):
    assert check_grads(L.Dense(3, activation=act), x) < 1e-6


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation_layer_grads(act, x):
    assert check_grads(L.Activation(act), x) < 1e-6


def test_dense_without_bias_grads(x):
    layer = L.Dense(3, activation="tanh", use_bias=False)
    assert check_grads(layer, x) < 1e-6


def test_dropout_grads_fixed_mask(x):
    layer = L.Dropout(0.5, seed=3)
    assert check_grads(layer, x) < 1e-6


def test_dropout_mask_semantics():
    layer = L.Dropout(0.25, seed=7)
    x = np.ones((64, 32), dtype=np.float32)
    y1 = layer(x, training=True)
    y2 = layer(x, training=True)
    vals = np.unique(y1)
    assert set(vals.tolist()) <= {0.0, np.float32(1 / 0.75)}
    assert 0.15 < np.mean(y1 == 0) < 0.35
    assert not np.array_equal(y1, y2)  # the step advances between calls
    np.testing.assert_array_equal(layer(x, training=False), x)
    # the mask depends only on (seed, step)
    layer.step = 0
    np.testing.assert_array_equal(layer(x, training=True), y1)


def test_flatten_grads_and_shape():
    x = np.random.default_rng(1).standard_normal((3, 2, 3))
    assert check_grads(L.Flatten(), x) < 1e-6
    assert L.Flatten().compute_output_shape((2, 3, 4)) == (24,)


@pytest.mark.parametrize("reg", ["l1", "l2", "l1_l2"])
def test_regularizer_grads_in_model(reg, x):
    model = fastff.Sequential([
        L.Input((4,)),
        L.Dense(5, activation="tanh", kernel_regularizer=reg, bias_regularizer=reg,
                bias_initializer="ones"),
        L.Dense(2),
    ])
    model.compile("sgd", "mse")
    y = np.random.default_rng(2).standard_normal((5, 2))
    assert check_grads(model, x, y) < 1e-6


def test_regularizer_penalty_values():
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    assert fastff.regularizers.L1(0.1)(w) == pytest.approx(0.35)
    assert fastff.regularizers.L2(0.1)(w) == pytest.approx(0.525)
    np.testing.assert_allclose(fastff.regularizers.L1L2(0.1, 0.1).gradient(w),
                               0.1 * np.sign(w) + 0.2 * w)


def test_model_grads_with_dropout(x):
    model = fastff.Sequential([L.Input((4,)), L.Dense(6, activation="relu"), L.Dropout(0.4),
                               L.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    assert check_grads(model, x, np.array([0, 1, 2, 1, 0])) < 1e-6


def test_check_grads_detects_wrong_gradient(x):
    class Broken(L.Dense):
        def forward(self, inp, training=False, ws=None):
            y, bp = super().forward(inp, training, ws)

            def bad(dy, need_dx=True):
                dx = bp(dy, need_dx)
                self.kernel.grad *= 1.5
                return dx
            return y, bad

    with pytest.raises(AssertionError, match="relative error"):
        check_grads(Broken(2), x)


def test_custom_activation(x):
    class Cube(fastff.activations.CustomActivation):
        def call(self, v):
            return v ** 3

        def grad(self, dy, v, y):
            return dy * 3 * v ** 2

    layer = L.Dense(3, activation=Cube())
    assert not layer.activation.fused
    assert check_grads(layer, x) < 1e-6
    cfg = L.serialize(layer)
    clone = L.deserialize(cfg, custom_objects={"Cube": Cube})
    assert isinstance(clone.activation, Cube)


def test_plain_callable_activation_is_rejected():
    with pytest.raises(TypeError, match="CustomActivation"):
        L.Dense(3, activation=lambda v: v)


def test_activation_by_function_object():
    layer = L.Dense(2, activation=fastff.activations.relu)
    assert layer.activation.name == "relu"


def test_dense_shapes_weights_and_config():
    layer = L.Dense(3, activation="relu", name="d")
    y = layer(np.ones((2, 4), dtype=np.float32))
    assert y.shape == (2, 3) and y.dtype == np.float32
    assert [p.name for p in layer.params] == ["kernel", "bias"]
    assert layer.kernel.shape == (4, 3) and layer.count_params() == 15
    w = [np.full((4, 3), 0.5), np.arange(3.0)]
    layer.set_weights(w)
    np.testing.assert_allclose(layer(np.ones((1, 4)))[0], np.maximum(2.0 + np.arange(3.0), 0))
    clone = L.deserialize(L.serialize(layer))
    assert isinstance(clone, L.Dense) and clone.units == 3
    assert clone.activation.name == "relu" and clone.name == "d"


def test_dense_rejects_bad_units_and_nd_input():
    with pytest.raises(ValueError, match="units"):
        L.Dense(0)
    with pytest.raises(ValueError, match="Flatten"):
        L.Dense(2).build_for((3, 4))


def test_layer_names_are_unique():
    fastff.utils.clear_session()
    a, b = L.Dense(1), L.Dense(1)
    assert (a.name, b.name) == ("dense", "dense_1")


def test_unknown_names_suggest():
    with pytest.raises(ValueError, match="Did you mean 'relu'"):
        fastff.activations.get("rleu")
    with pytest.raises(ValueError, match="Did you mean 'Dense'"):
        L.get("Dence")


def test_activation_functions_callable_on_arrays():
    v = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_allclose(fastff.activations.relu(v), [[0.0, 0.0, 2.0]])
    np.testing.assert_allclose(fastff.activations.softmax(v).sum(), 1.0)
    np.testing.assert_allclose(fastff.activations.leaky_relu(v, negative_slope=0.1)[0, 0], -0.1)
