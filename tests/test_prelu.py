"""PReLU: Keras 3's formula, shared_axes, config; gradients by central differences; a short
fit against real Keras numbers; save/load."""

from __future__ import annotations

import numpy as np
import pytest

import fastff as keras
from fastff.testing import check_grads

X = np.array([[[1.0, -2.0], [-0.5, 3.0], [-1.0, -1.5]],
              [[0.5, -1.0], [2.0, -0.25], [-3.0, 1.0]]], "float32")


def _model():
    layer = keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25),
                               shared_axes=[1])
    return keras.Sequential([keras.Input((3, 2)), layer]), layer


def test_forward_shapes_and_config():
    m, layer = _model()
    assert layer.alpha.shape == (1, 2) and layer.alpha.name == "alpha"
    # Keras 3.15 (torch)
    np.testing.assert_allclose(m.predict(X, verbose=0),
                               [[[1.0, -0.5], [-0.125, 3.0], [-0.25, -0.375]],
                                [[0.5, -0.25], [2.0, -0.0625], [-0.75, 1.0]]])
    cfg = layer.get_config()
    assert {k: cfg[k] for k in ("alpha_regularizer", "alpha_constraint", "shared_axes")} == {
        "alpha_regularizer": None, "alpha_constraint": None, "shared_axes": [1]}
    assert keras.layers.PReLU().get_config()["alpha_initializer"]["class_name"] == "Zeros"
    assert type(keras.layers.get("PReLU")) is keras.layers.PReLU
    with pytest.raises(ValueError, match="shared_axes"):
        keras.layers.PReLU(shared_axes=[0])


def test_fit_matches_keras():
    """Keras fits ``Sequential([Input((3, 2)), PReLU])`` to zeros of shape (2, 3, 2); fastff's
    fit takes 2-D targets, so a Flatten follows (the same mean squared error)."""
    _, layer = _model()
    m = keras.Sequential([keras.Input((3, 2)), layer, keras.layers.Flatten()])
    m.compile(keras.optimizers.SGD(0.1), "mse")
    h = m.fit(X, np.zeros((2, 6), "float32"), epochs=2, batch_size=2, shuffle=False,
              verbose=0)
    np.testing.assert_allclose(h.history["loss"], [1.3623046875, 1.3369050025939941],
                               rtol=1e-6)
    np.testing.assert_allclose(layer.get_weights()[0], [[0.1718793362379074,
                                                         0.1927758753299713]], rtol=1e-6)


@pytest.mark.parametrize("shared", [None, [1], [1, 2]])
def test_gradients_central_differences(shared):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 2))
    x[np.abs(x) < 0.05] = 0.3  # away from the kink
    layer = keras.layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(0.1, 0.5),
                               shared_axes=shared)
    check_grads(layer, x)


def test_dense_prelu_save_load_and_constraint(tmp_path):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
                          keras.layers.PReLU(alpha_initializer="ones",
                                             alpha_constraint="non_neg"),
                          keras.layers.Dense(1)])
    m.compile(keras.optimizers.SGD(0.5), "mse")
    x = np.random.default_rng(0).standard_normal((16, 3))
    m.fit(x, -np.ones((16, 1)) * 5, epochs=3, verbose=0)
    assert np.all(m.layers[1].alpha.numpy() >= 0)
    m.save(tmp_path / "p.fastff")
    back = keras.models.load_model(tmp_path / "p.fastff")
    np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    assert isinstance(back.layers[1].alpha_constraint, keras.constraints.NonNeg)
