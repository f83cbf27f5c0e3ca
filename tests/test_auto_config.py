"""Keras 3's automatic get_config: user layers and subclassed models without get_config are
saved from their __init__ arguments and load back (custom_objects or registration)."""

from __future__ import annotations

import numpy as np
import pytest

import fastff
from fastff import layers, ops
from fastff.layers import Input, Layer


class Scale(Layer):
    """Plain-argument custom layer, no get_config: positional and keyword, a default left."""

    def __init__(self, units, factor=1.0, tags=("a",), **kwargs):
        super().__init__(**kwargs)
        self.units, self.factor, self.tags = units, factor, tags

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="ones")

    def call(self, x):
        return ops.multiply(self.factor, ops.matmul(x, self.w))


@fastff.saving.register_serializable(package="autocfg")
class Gated(Layer):
    """Registered custom layer with a nested config (dict of lists) and a layer argument."""

    def __init__(self, spec, inner=None, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.inner = inner if inner is not None else layers.Dense(spec["units"][0])

    def call(self, x):
        return ops.multiply(self.spec["gain"], ops.tanh(self.inner(x)))


class NoKwargs(Layer):
    def __init__(self, k):  # no **kwargs: the base config keys it cannot take are dropped
        super().__init__()
        self.k = k

    def call(self, x):
        return ops.multiply(float(self.k), x)


class Tower(fastff.Model):
    """Subclassed model, no get_config: its widths and activation saved automatically."""

    def __init__(self, widths, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.widths = widths
        self.hidden = [layers.Dense(w, activation=activation) for w in widths]
        self.out = layers.Dense(1)

    def call(self, x, training=None):
        for d in self.hidden:
            x = d(x)
        return self.out(x)


def _x(n=6, d=3):
    return np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)


def test_custom_layer_round_trip_with_custom_objects(tmp_path):
    layer = Scale(2, factor=0.5, name="scale")
    assert layer.get_config() == {"name": "scale", "trainable": True, "units": 2,
                                  "factor": 0.5}  # as given: the default tags not recorded
    assert Scale.from_config(layer.get_config()).factor == 0.5
    m = fastff.Sequential([Input((3,)), Scale(2, 0.5, tags=("x", "y")), NoKwargs(3)])
    m.compile("sgd", "mse")
    m.fit(_x(), np.zeros((6, 2), np.float32), epochs=1, verbose=0)
    m.save(tmp_path / "s.fastff")
    back = fastff.models.load_model(tmp_path / "s.fastff",
                                    custom_objects={"Scale": Scale, "NoKwargs": NoKwargs})
    assert back.layers[0].tags == ["x", "y"] and back.layers[1].k == 3  # JSON: tuple -> list
    np.testing.assert_array_equal(back.predict(_x(), verbose=0), m.predict(_x(), verbose=0))
    assert NoKwargs(2).get_config() == {"k": 2}


def test_registered_layer_with_nested_config_and_layer_argument(tmp_path):
    spec = {"units": [4, 2], "gain": 2.0, "opts": {"deep": [1, {"x": None}]}}
    inp = Input((3,), name="x")
    y = Gated(spec, name="g")(inp)
    y = Gated({"units": [1], "gain": 0.5}, inner=layers.Dense(1, use_bias=False))(y)
    m = fastff.Model(inp, y)
    m.compile("adam", "mse")
    m.save(tmp_path / "g.fastff")
    back = fastff.models.load_model(tmp_path / "g.fastff")  # registered: no custom_objects
    g0, g1 = back.get_layer("g"), back.layers[-1]
    assert isinstance(g0, Gated) and g0.spec == spec
    assert isinstance(g1.inner, layers.Dense) and g1.inner.use_bias is False
    np.testing.assert_allclose(back.predict(_x(), verbose=0), m.predict(_x(), verbose=0),
                               rtol=1e-6, atol=1e-7)


def test_subclassed_model_round_trip(tmp_path):
    m = Tower([5, 4], activation="tanh", name="tower")
    m.compile("adam", "mse")
    x, y = _x(8, 3), np.ones((8, 1), np.float32)
    m.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert m.get_config() == {"name": "tower", "trainable": True, "dtype": "float32",
                              "widths": [5, 4], "activation": "tanh"}
    m.save(tmp_path / "t.fastff")
    with pytest.raises(Exception, match="Tower.*custom_objects"):
        fastff.models.load_model(tmp_path / "t.fastff")
    back = fastff.models.load_model(tmp_path / "t.fastff", custom_objects={"Tower": Tower})
    assert isinstance(back, Tower) and back.widths == [5, 4]
    np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    m.fit(x, y, epochs=3, batch_size=4, verbose=0, initial_epoch=2)
    back.fit(x, y, epochs=3, batch_size=4, verbose=0, initial_epoch=2)
    for a, b in zip(m.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_unserializable_argument_named_clearly(tmp_path):
    lay = Scale(np.int64(2))  # a NumPy scalar is not a JSON value
    m = fastff.Sequential([Input((3,)), Scale(2, tags=lambda v: v)])
    with pytest.raises(NotImplementedError,
                       match=r"Scale.get_config: the __init__ argument 'tags' is the Python "
                             r"function .*<lambda>.*Write Scale.get_config\(\)"):
        m.save(tmp_path / "bad.fastff")
    with pytest.raises(NotImplementedError, match=r"argument 'units' is a numpy.int64 object"):
        lay.get_config()
    bad = Tower([3, np.int64(2)])
    with pytest.raises(NotImplementedError, match=r"Tower.get_config: the __init__ argument "
                                                  r"'widths'\[1\] is a numpy.int64 object"):
        bad.get_config()
    m.save_weights(tmp_path / "bad.weights")  # weights alone need no config


def test_own_get_config_is_used_and_builtin_layers_unchanged():
    class Own(Scale):
        def get_config(self):
            return {**super().get_config(), "units": self.units}

    assert Own(3, factor=9.0, name="o").get_config() == {"name": "o", "trainable": True,
                                                         "units": 3}
    d = layers.Dense(3, name="d")
    assert "_init_args" not in d.__dict__ or d.__dict__["_init_args"] is None
    assert layers.Dense.from_config(d.get_config()).units == 3


def test_same_class_name_registered_by_two_packages_loads_each_own_class(tmp_path):
    """As Keras: the config's ``registered_name`` ("package>Name") picks the class, so two
    packages registering a layer of the same class name do not take each other's place."""

    def make(package):
        @fastff.saving.register_serializable(package=package)
        class Twin(Layer):
            def __init__(self, k=1.0, **kwargs):
                super().__init__(**kwargs)
                self.k = k

            def get_config(self):
                return {**super().get_config(), "k": self.k}

            def call(self, x):
                return ops.multiply(self.k, x)

        return Twin

    first, second = make("pkg_one"), make("pkg_two")
    inp = Input((3,), name="x")
    m = fastff.Model(inp, first(3.0, name="t")(inp))
    assert fastff.layers.serialize(m.get_layer("t"))["registered_name"] == "pkg_one>Twin"
    m.save(tmp_path / "twin.fastff")
    back = fastff.models.load_model(tmp_path / "twin.fastff")
    assert type(back.get_layer("t")) is first and type(back.get_layer("t")) is not second
    np.testing.assert_array_equal(back.predict(_x(), verbose=0), 3.0 * _x())
