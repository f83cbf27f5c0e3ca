"""Initializers: Keras ranges and variances, seeding, names and configs."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastff
from fastff import initializers as I

SHAPE = (300, 200)


def test_glorot_uniform_is_the_lectures_xavier():
    w = I.GlorotUniform(seed=1)(SHAPE, "float64")
    limit = math.sqrt(6 / (300 + 200))
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit
    assert w.var() == pytest.approx(limit**2 / 3, rel=0.03)


@pytest.mark.parametrize("cls,var", [
    (I.GlorotNormal, 2 / 500), (I.HeNormal, 2 / 300), (I.LecunNormal, 1 / 300),
    (I.HeUniform, 2 / 300), (I.LecunUniform, 1 / 300),
])
def test_variance_scaling_presets(cls, var):
    w = cls(seed=2)(SHAPE, "float64")
    assert w.var() == pytest.approx(var, rel=0.05)
    assert abs(w.mean()) < 0.01


def test_truncated_normal_bounds():
    w = I.GlorotNormal(seed=3)(SHAPE, "float64")
    std = math.sqrt(2 / 500) / 0.87962566103423978
    assert np.abs(w).max() <= 2 * std + 1e-12


def test_random_and_constant():
    u = I.RandomUniform(-0.1, 0.2, seed=0)((1000,))
    assert u.min() >= -0.1 and u.max() <= 0.2 and u.dtype == np.float32
    n = I.RandomNormal(1.0, 0.5, seed=0)((20000,), "float64")
    assert n.mean() == pytest.approx(1.0, abs=0.02) and n.std() == pytest.approx(0.5, rel=0.03)
    assert (I.get("zeros")((2, 2)) == 0).all() and (I.get("ones")((3,)) == 1).all()
    assert (I.Constant(2.5)((2,)) == 2.5).all()


def test_seeded_is_repeatable_and_global_seed_controls_unseeded():
    a, b = I.HeNormal(seed=5)((4, 4)), I.HeNormal(seed=5)((4, 4))
    np.testing.assert_array_equal(a, b)
    fastff.utils.set_random_seed(11)
    c = I.get("glorot_uniform")((4, 4))
    d = I.get("glorot_uniform")((4, 4))
    fastff.utils.set_random_seed(11)
    np.testing.assert_array_equal(I.get("glorot_uniform")((4, 4)), c)
    assert not np.array_equal(c, d)


def test_float32_and_float64_draw_the_same_numbers():
    a = I.GlorotUniform(seed=9)((3, 3), "float32")
    b = I.GlorotUniform(seed=9)((3, 3), "float64")
    np.testing.assert_array_equal(a, b.astype(np.float32))


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                  "lecun_uniform", "lecun_normal", "random_uniform",
                                  "random_normal", "zeros", "ones", "constant"])
def test_names_and_roundtrip(name):
    init = I.get(name)
    clone = I.deserialize(I.serialize(init))
    assert type(clone) is type(init) and clone.get_config() == init.get_config()


def test_unknown_initializer():
    with pytest.raises(ValueError, match="Did you mean 'he_normal'"):
        I.get("he_normall")


def test_dense_uses_its_initializers():
    layer = fastff.layers.Dense(3, kernel_initializer="ones", bias_initializer=I.Constant(0.5))
    layer.build_for((2,))
    assert (layer.kernel.value == 1).all() and (layer.bias.value == 0.5).all()
