"""Weight constraints: Keras 3's formulas, names and configs; applied after each optimizer
step (values of a short fit checked against real Keras); models with constraints train on the
general path; save/load keeps them."""

from __future__ import annotations

import numpy as np
import pytest

import fastff as keras
from fastff import constraints
from fastff.training import compiled as fastpath

W = np.array([[3.0, -4.0, 0.5], [4.0, 1.0, -0.2]])


def test_formulas_match_keras():
    # Keras 3.15 (torch) on W as float32
    np.testing.assert_allclose(constraints.MaxNorm(2.0)(W), [[1.2, -1.9403, 0.5],
                                                             [1.6, 0.4851, -0.2]], atol=1e-4)
    np.testing.assert_allclose(constraints.MinMaxNorm(1.0, 2.0, rate=0.5, axis=1)(W),
                               [[2.0970, -2.7960, 0.3495], [2.9690, 0.7423, -0.1485]],
                               atol=1e-4)
    np.testing.assert_allclose(constraints.UnitNorm(axis=[0, 1])(W),
                               [[0.4613, -0.6151, 0.0769], [0.6151, 0.1538, -0.0308]],
                               atol=1e-4)
    np.testing.assert_array_equal(constraints.NonNeg()(W), [[3.0, 0.0, 0.5], [4.0, 1.0, 0.0]])
    # float64 reference of MaxNorm along axis 0
    n = np.sqrt((W ** 2).sum(axis=0, keepdims=True))
    np.testing.assert_allclose(constraints.MaxNorm(2.0)(W), W * np.minimum(n, 2) / (1e-7 + n),
                               rtol=1e-15)
    w32 = W.astype(np.float32)
    assert constraints.UnitNorm()(w32).dtype == np.float32


def test_names_configs_and_errors():
    assert isinstance(constraints.get("max_norm"), constraints.MaxNorm)
    assert isinstance(constraints.get("NonNeg"), constraints.NonNeg)
    assert isinstance(constraints.get("unit_norm"), constraints.UnitNorm)
    assert constraints.MaxNorm().get_config() == {"max_value": 2, "axis": 0}
    assert constraints.MinMaxNorm().get_config() == {"min_value": 0.0, "max_value": 1.0,
                                                     "rate": 1.0, "axis": 0}
    assert constraints.UnitNorm().get_config() == {"axis": 0}
    assert constraints.NonNeg().get_config() == {}
    s = constraints.serialize(constraints.MaxNorm(3))
    assert s == {"module": "keras.constraints", "class_name": "MaxNorm",
                 "config": {"max_value": 3, "axis": 0}, "registered_name": None}
    assert constraints.deserialize(s).get_config() == {"max_value": 3, "axis": 0}
    with pytest.raises(ValueError, match="max_norm"):
        constraints.get("max_nrom")
    with pytest.raises(ValueError, match="rate"):
        constraints.MinMaxNorm(rate=2.0)
    with pytest.raises(ValueError, match="max_value"):
        constraints.MaxNorm(-1)
    with pytest.raises(ValueError, match="axis"):
        constraints.UnitNorm(axis="x")


def _keras_like_model():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3)).astype("float32")
    y = rng.standard_normal((8, 2)).astype("float32")
    w0 = rng.standard_normal((3, 2)).astype("float32")
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(
        2, kernel_constraint=keras.constraints.MaxNorm(1.0), bias_constraint="non_neg")])
    m.layers[0].set_weights([w0, np.array([0.1, -0.1], "float32")])
    m.compile(keras.optimizers.SGD(0.1), "mse")
    return m, x, y


def test_fit_applies_constraints_after_each_step_as_keras():
    m, x, y = _keras_like_model()
    h = m.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    assert fastpath.train_plan(m, 4) is None  # constraints: the general path
    # Keras 3.15 (torch), same weights, data and schedule
    np.testing.assert_allclose(h.history["loss"], [2.087247371673584, 1.057403564453125,
                                                   0.7952393293380737], rtol=1e-5)
    k, b = m.get_weights()
    np.testing.assert_allclose(k, [[-0.2978014647960663, 0.43375852704048157],
                                   [0.5938377380371094, 0.21082961559295654],
                                   [0.3188951015472412, -0.30372610688209534]], atol=2e-6)
    np.testing.assert_allclose(b, [0.011192278936505318, 0.1477949321269989], atol=2e-6)
    assert np.all(np.linalg.norm(k, axis=0) <= 1.0 + 1e-6) and np.all(b >= 0)


def test_train_on_batch_and_unconstrained_model_keeps_compiled_path():
    m, x, y = _keras_like_model()
    m.train_on_batch(x, y)
    assert np.all(m.get_weights()[1] >= 0)
    free = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    free.compile("sgd", "mse")
    free.fit(x, y, epochs=1, verbose=0)
    assert fastpath.train_plan(free, 4) is not None


def test_embedding_constraint_and_save_load_round_trip(tmp_path):
    keras.utils.set_random_seed(1)
    m = keras.Sequential([keras.Input((2,), dtype="int32"),
                          keras.layers.Embedding(5, 3, embeddings_constraint=keras.constraints
                                                 .UnitNorm(axis=1)),
                          keras.layers.Flatten(),
                          keras.layers.Dense(1, kernel_constraint="non_neg")])
    m.compile(keras.optimizers.Adam(0.05), "mse")
    ids = np.array([[0, 1], [2, 3], [4, 0]])
    m.fit(ids, np.ones((3, 1)), epochs=2, verbose=0)
    table = m.layers[0].embeddings.numpy()
    np.testing.assert_allclose(np.linalg.norm(table, axis=1), 1.0, rtol=1e-5)
    assert m.layers[0].get_config()["embeddings_constraint"]["class_name"] == "UnitNorm"
    m.save(tmp_path / "c.fastff")
    back = keras.models.load_model(tmp_path / "c.fastff")
    assert back.layers[0].embeddings_constraint.get_config() == {"axis": 1}
    assert isinstance(back.layers[-1].kernel_constraint, constraints.NonNeg)
    back.fit(ids, np.ones((3, 1)), epochs=1, verbose=0)
    assert np.all(back.layers[-1].kernel.numpy() >= 0)


def test_custom_layer_add_weight_constraint():
    class Pos(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                                     constraint=keras.constraints.NonNeg())

        def call(self, x):
            return keras.ops.multiply(x, self.w)

    m = keras.Sequential([keras.Input((2,)), Pos()])
    m.compile(keras.optimizers.SGD(1.0), "mse")
    m.fit(np.ones((4, 2)), np.full((4, 2), -5.0), epochs=1, verbose=0)
    np.testing.assert_array_equal(m.layers[0].w.numpy(), [0.0, 0.0])


def test_keras_format_round_trip_keeps_constraints(tmp_path):
    m, x, y = _keras_like_model()
    m.save(tmp_path / "c.keras")
    import json
    import zipfile

    with zipfile.ZipFile(tmp_path / "c.keras") as z:
        cfg = json.loads(z.read("config.json"))
    dense = [la for la in cfg["config"]["layers"] if la["class_name"] == "Dense"][0]["config"]
    assert dense["kernel_constraint"] == {"module": "keras.constraints", "class_name": "MaxNorm",
                                          "config": {"max_value": 1.0, "axis": 0},
                                          "registered_name": None}
    assert dense["bias_constraint"]["class_name"] == "NonNeg"
    back = keras.models.load_model(tmp_path / "c.keras")
    assert back.layers[0].kernel_constraint.get_config() == {"max_value": 1.0, "axis": 0}
    assert isinstance(back.layers[0].bias_constraint, constraints.NonNeg)
