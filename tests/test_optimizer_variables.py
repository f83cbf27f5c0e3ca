"""``optimizer.variables`` as Keras 3 lists them: iteration, learning_rate, then the slot
variables group by group over the trainable weights, named ``<weight path>_<slot>``; they
read and write the live state, and agree with what the .keras writer stores."""

from __future__ import annotations

import numpy as np

import fastff
from fastff import layers, optimizers


def _seq(opt):
    m = fastff.Sequential([fastff.Input((3,)), layers.Dense(2), layers.Dense(1)], name="seq")
    m.compile(opt, "mse")
    return m


def test_adam_order_names_and_values():
    m = _seq(optimizers.Adam(0.01))
    assert [v.path for v in m.optimizer.variables] == ["adam/iteration", "adam/learning_rate"]
    d0, d1 = (la.name for la in m.layers)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    y = np.ones((8, 1), np.float32)
    w_before = m.get_weights()
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    vs = m.optimizer.variables
    want = ["adam/iteration", "adam/learning_rate"]
    for d in (d0, d1):
        for var in ("kernel", "bias"):
            want += [f"adam/seq_{d}_{var}_momentum", f"adam/seq_{d}_{var}_velocity"]
    assert [v.path for v in vs] == want
    assert [v.name for v in vs][:3] == ["iteration", "learning_rate", f"seq_{d0}_kernel_momentum"]
    assert vs[0].numpy() == 1 and vs[1].numpy() == np.float32(0.01)
    assert vs[2].shape == (3, 2) and vs[4].shape == (2,)
    # after one step from zero state: momentum = (1 - beta_1) g, velocity = (1 - beta_2) g^2
    m2 = _seq(optimizers.SGD(0.0))
    m2.set_weights(w_before)
    m2.fit(x, y, batch_size=8, epochs=1, verbose=0)
    g = m2.layers[0].kernel.grad
    np.testing.assert_allclose(vs[2].numpy(), 0.1 * g, rtol=1e-5)
    np.testing.assert_allclose(vs[3].numpy(), 0.001 * g * g, rtol=1e-4, atol=1e-12)


def test_assign_writes_the_state_and_the_file_agrees():
    from fastff.keras_format.writer import _optimizer_vars, model_spec

    inp = fastff.Input((3,))
    out = layers.Dense(2)(layers.Dense(4)(inp))
    m = fastff.Model(inp, out)
    m.compile(optimizers.RMSprop(momentum=0.5, centered=True), "mse")
    rng = np.random.default_rng(1)
    m.fit(rng.normal(size=(6, 3)), rng.normal(size=(6, 2)), epochs=2, verbose=0)
    vs = m.optimizer.variables
    slots = [v.name.rsplit("_", 1)[-1] if not v.name.endswith("average_gradient") else
             "average_gradient" for v in vs[2:]]
    # Keras: all velocities, then all momentums, then all average gradients
    assert slots == ["velocity"] * 4 + ["momentum"] * 4 + ["average_gradient"] * 4
    _, _, trainable = model_spec(m)
    for v, a in zip(vs, _optimizer_vars(m, trainable), strict=True):
        np.testing.assert_array_equal(v.numpy(), a)
    target = vs[5]
    target.assign(np.full(target.shape, 0.25))
    np.testing.assert_array_equal(m.optimizer.variables[5].numpy(), 0.25)
    others = [v.numpy() for i, v in enumerate(m.optimizer.variables) if i != 5]
    assert all(np.all(o != 0.25) for o in others[2:])
    vs[0].assign(7)
    assert m.optimizer.iterations == 7
    vs[1].assign(0.5)
    assert m.optimizer.learning_rate == 0.5


def test_schedule_has_no_learning_rate_variable():
    sched = optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    m = _seq(optimizers.SGD(sched, momentum=0.9))
    m.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    paths = [v.path for v in m.optimizer.variables]
    assert paths[0] == "sgd/iteration" and all("learning_rate" not in p for p in paths)
    assert len(paths) == 5 and paths[1].endswith("_kernel_momentum")
    assert [v.path for v in _seq(optimizers.SGD(0.1)).optimizer.variables] == [
        "sgd/iteration", "sgd/learning_rate"]
