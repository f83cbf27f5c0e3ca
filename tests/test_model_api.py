"""Model API: get_layer, weight lists, freezing layers (both training paths)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

import fastff
from fastff import layers
from fastff.training import compiled as fastpath

ROOT = Path(__file__).resolve().parents[1]


def _seq():
    fastff.utils.set_random_seed(0)
    return fastff.Sequential([fastff.Input((6,)), layers.Dense(8, activation="relu", name="h1"),
                              layers.Dense(8, activation="relu", name="h2"),
                              layers.Dense(3, activation="softmax", name="out")])


def _functional():
    fastff.utils.set_random_seed(0)
    inp = fastff.Input((6,), name="pixels")
    h = layers.Dense(8, activation="relu", name="h1")(inp)
    h = layers.Dense(8, activation="relu", name="h2")(h)
    return fastff.Model(inp, layers.Dense(3, activation="softmax", name="out")(h))


def _data(n=64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 6)).astype(np.float32), rng.integers(0, 3, n)


@pytest.mark.parametrize("make", [_seq, _functional])
def test_get_layer_by_name_and_index_with_keras_errors(make):
    m = make()
    names = [la.name for la in m.layers]
    # Keras 3 lists a functional model's InputLayer first (a Sequential's Input is not a layer)
    assert names == (["h1", "h2", "out"] if make is _seq else ["pixels", "h1", "h2", "out"])
    assert m.get_layer("h2") is m.layers[names.index("h2")]
    assert m.get_layer(index=0).name == names[0]
    assert m.get_layer(index=-1).name == "out"
    with pytest.raises(ValueError, match=re.escape(f"No such layer: nope. Existing layers are: "
                                                   f"{names}")):
        m.get_layer("nope")
    with pytest.raises(ValueError, match=f"only has {len(names)} layers"):
        m.get_layer(index=len(names))
    with pytest.raises(ValueError, match="Provide only a layer name or a layer index"):
        m.get_layer("h1", 0)
    with pytest.raises(ValueError, match="Provide either a layer name or layer index"):
        m.get_layer()


def test_get_layer_finds_a_functional_input_by_name():
    m = _functional()
    assert m.get_layer("pixels") is m.inputs[0]


@pytest.mark.parametrize("make", [_seq, _functional])
def test_weight_lists_follow_trainable_flags(make):
    m = make()
    assert len(m.weights) == 6 and len(m.trainable_weights) == 6
    assert m.non_trainable_weights == []
    w = m.get_layer("h1").weights[0]
    np.testing.assert_array_equal(w.numpy(), m.get_weights()[0])
    m.get_layer("h1").trainable = False
    assert len(m.trainable_weights) == 4 and len(m.non_trainable_weights) == 2
    assert {id(p) for p in m.non_trainable_weights} == {id(p) for p in m.get_layer("h1").weights}
    assert len(m.weights) == 6
    m.trainable = False
    assert m.trainable_weights == [] and len(m.non_trainable_weights) == 6


@pytest.mark.parametrize("make", [_seq, _functional])
def test_freeze_fit_keeps_frozen_weights_bitwise_then_unfreeze_trains(make):
    x, y = _data()
    m = make()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    if make is _seq:  # an all-trainable Dense stack takes the compiled path
        m.fit(x, y, epochs=1, batch_size=16, verbose=0)
        assert fastpath.train_plan(m, 16) is not None
    frozen = m.get_layer("h1")
    frozen.trainable = False
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)  # builds the layout and optimizer
    assert fastpath.train_plan(m, 16) is None  # the compiled path never trains frozen weights
    before = [w.copy() for w in m.get_weights()]
    m.fit(x, y, epochs=2, batch_size=16, verbose=0)
    after = m.get_weights()
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert all(not np.array_equal(a, b) for a, b in zip(before[2:], after[2:]))
    frozen.trainable = True
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    again = m.get_weights()
    assert not np.array_equal(after[0], again[0]) and not np.array_equal(after[1], again[1])


def test_frozen_layer_in_a_multi_output_model():
    x, y = _data()
    fastff.utils.set_random_seed(0)
    inp = fastff.Input((6,))
    trunk = layers.Dense(8, activation="relu", name="trunk")
    h = trunk(inp)
    a = layers.Dense(3, activation="softmax", name="a")(h)
    b = layers.Dense(1, name="b")(h)
    m = fastff.Model(inp, [a, b])
    trunk.trainable = False
    m.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"])
    before = trunk.get_weights()
    m.fit(x, [y, x[:, :1]], epochs=2, verbose=0)
    for p, q in zip(before, trunk.get_weights()):
        np.testing.assert_array_equal(p, q)


def _load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_client_get_layer_freeze_and_fine_tune():
    r = _load_example("freeze_finetune").main(["--rows", "600"])
    assert r["frozen_unchanged"] and r["head_changed"] and r["trunk_changed_after_unfreeze"]
    assert r["accuracy_after"] >= r["accuracy_before"] - 0.05


def test_encoder_built_from_shared_layers_keeps_the_full_model_training():
    """Keras idiom: ``encoder = Model(inp, h)`` beside ``full = Model(inp, out)``; the two
    share the layers' weights, and training ``full`` after building ``encoder`` trains them."""
    import fastff as keras
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = x.sum(1, keepdims=True)
    inp = keras.Input((4,))
    h = keras.layers.Dense(3, name="h")(inp)
    full = keras.Model(inp, keras.layers.Dense(1)(h))
    full.compile(keras.optimizers.Adam(0.05), "mse")
    encoder = keras.Model(inp, h)
    w0 = full.get_layer("h").get_weights()[0].copy()
    full.fit(x, y, epochs=3, verbose=0)
    w, b = full.get_layer("h").get_weights()
    assert not np.allclose(w, w0)
    np.testing.assert_allclose(encoder.predict(x[:5], verbose=0), x[:5] @ w + b, rtol=1e-5,
                               atol=1e-6)
    before = full.evaluate(x, y, verbose=0)
    full.fit(x, y, epochs=2, verbose=0)  # after encoder.predict took the weights back
    assert full.evaluate(x, y, verbose=0) < before
    w2, b2 = full.get_layer("h").get_weights()
    assert not np.allclose(w2, w)
    np.testing.assert_allclose(encoder.predict(x[:5], verbose=0), x[:5] @ w2 + b2, rtol=1e-5,
                               atol=1e-6)
