"""What ``fit`` caches between calls (the compiled stack it lowered, the optimizer's Keras
variable layout, the constraints) follows every change made to the model between fits.

Each case fits a model, changes it, and fits again; its twin does the same but drops every
cached stack before the second fit, so that fit lowers the model afresh. Weights, optimizer
buffers and History must be bitwise equal, and the change must show.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastff import activations, config, constraints, layers, optimizers, regularizers
from fastff.models import Sequential
from fastff.training import compiled


def _data(n=37, d=6, classes=3):
    rng = np.random.default_rng(3)
    return rng.standard_normal((n, d)).astype(np.float32), rng.integers(0, classes, n)


def _model(dtype="float32"):
    config.set_seed(11)
    m = Sequential([layers.Input((6,)), layers.Dense(8, activation="tanh"),
                    layers.BatchNormalization(), layers.Dense(8, activation="relu"),
                    layers.Dropout(0.2), layers.Dense(3, activation="softmax")])
    m.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return m


def _drop_caches(m):
    m._fast_stack = None
    m._local.__dict__.pop("fast", None)


def _trainable(m):
    m.layers[0].trainable = False


def _activation(m):
    m.layers[2].activation = activations.get("sigmoid")


def _bn_epsilon(m):
    m.layers[1].epsilon = 0.5


def _bn_momentum(m):
    m.layers[1].momentum = 0.5


def _dropout_rate(m):
    m.layers[3].rate = 0.6


def _set_weights(m):
    m.set_weights([w * 0.5 + 0.1 for w in m.get_weights()])


def _recompile_sgd(m):
    m.compile(optimizer=optimizers.SGD(0.05, momentum=0.9),
              loss="sparse_categorical_crossentropy")


def _recompile_loss(m):
    m.compile(optimizer=optimizers.Adam(0.01), loss="categorical_crossentropy")


def _constraint(m):
    m.layers[2].kernel.constraint = constraints.NonNeg()


def _regularizer(m):
    m.layers[4].kernel.regularizer = regularizers.L2(0.1)


def _model_frozen(m):
    m.trainable = False


CHANGES = [_trainable, _activation, _bn_epsilon, _bn_momentum, _dropout_rate, _set_weights,
           _recompile_sgd, _recompile_loss, _constraint, _regularizer, _model_frozen]


def _run(change, fresh, dtype):
    x, y = _data()
    m = _model(dtype)
    m.fit(x, y, batch_size=8, epochs=2, verbose=0)
    m.predict(x, verbose=0)  # predict's cache too
    change(m)
    if fresh:
        _drop_caches(m)
    y2 = np.eye(3, dtype=np.float32)[y] if change is _recompile_loss else y
    h = m.fit(x, y2, batch_size=8, epochs=2, verbose=0)
    return m, h.history, m.predict(x, verbose=0)


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.strip("_"))
def test_a_change_between_fits_gives_a_fresh_lowerings_results(change):
    a, ha, pa = _run(change, False, "float32")
    b, hb, pb = _run(change, True, "float32")
    assert ha == hb
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(wa, wb, equal_nan=True)
    assert np.array_equal(pa, pb, equal_nan=True)
    assert len(a.optimizer.variables) == len(b.optimizer.variables)
    for va, vb in zip(a.optimizer.variables, b.optimizer.variables):  # (names: counters)
        assert va.shape == vb.shape
        assert np.array_equal(np.asarray(va.numpy()), np.asarray(vb.numpy()))


def test_changes_show_in_the_second_fit():
    x, y = _data()
    m = _model()
    m.fit(x, y, batch_size=8, epochs=2, verbose=0)
    frozen = m.layers[0].kernel.numpy().copy()
    m.layers[0].trainable = False
    m.layers[2].kernel.constraint = constraints.NonNeg()
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.array_equal(m.layers[0].kernel.numpy(), frozen)
    assert (m.layers[2].kernel.numpy() >= 0).all()
    # the frozen kernel left the trainable layout: the optimizer's variables follow it
    paths = {v.path for v in m.optimizer.variables}
    assert not any(m.layers[0].name in p for p in paths)
    assert any(m.layers[2].name in p for p in paths)


def test_cached_stack_is_reused_while_nothing_changes():
    x, y = _data()
    m = _model()
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    st = m._fast_stack
    assert st is not None and st.train_ok
    assert compiled.train_plan(m, 8).st is st
    m.layers[4].kernel.regularizer = regularizers.L2(0.1)  # the compiled step cannot: general
    assert compiled.train_plan(m, 8) is None
    m.layers[4].kernel.regularizer = None
    assert compiled.train_plan(m, 8) is not None


@pytest.mark.parametrize("make", [
    lambda: optimizers.Adam(0.05),
    lambda: optimizers.AdamW(0.01, weight_decay=0.004),
    lambda: optimizers.Adam(optimizers.schedules.ExponentialDecay(0.1, 3, 0.5)),
    lambda: optimizers.Adamax(0.02),
    lambda: optimizers.SGD(0.1, weight_decay=0.01),
])
def test_step_scalars_range_is_step_scalars_step_by_step(make):
    opt = make()
    for it0, k in ((0, 1), (0, 7), (13, 100), (999, 3)):
        got = opt.step_scalars_range(it0, k)
        ref = np.array([opt.step_scalars(it) for it in range(it0, it0 + k)], np.float64)
        assert got.shape == (k, 2) and got.dtype == np.float64 and got.flags.c_contiguous
        assert np.array_equal(got, ref)


def test_step_scalars_range_follows_a_subclass_step_scalars():
    class Halved(optimizers.Adam):
        def step_scalars(self, iteration, lr=None):
            a, w = super().step_scalars(iteration, lr)
            return a * 0.5, w

    opt = Halved(0.05)
    ref = np.array([optimizers.Adam(0.05).step_scalars(it) for it in range(4, 9)]) * [0.5, 1]
    assert np.array_equal(opt.step_scalars_range(4, 5), ref)
