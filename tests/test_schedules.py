"""Learning-rate schedules against Keras 3's formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastff.optimizers import schedules as S


def test_exponential_decay():
    s = S.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    for step in (0, 1, 5, 10, 25):
        assert s(step) == pytest.approx(0.1 * 0.5 ** (step / 10))
    st = S.ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert st(9) == pytest.approx(0.1) and st(10) == pytest.approx(0.05)


def test_inverse_time_decay():
    s = S.InverseTimeDecay(1.0, decay_steps=2, decay_rate=0.5)
    for step in (0, 1, 3, 10):
        assert s(step) == pytest.approx(1.0 / (1 + 0.5 * step / 2))
    st = S.InverseTimeDecay(1.0, 2, 0.5, staircase=True)
    assert st(3) == pytest.approx(1.0 / 1.5)


def test_piecewise_constant():
    s = S.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [s(x) for x in (0, 10, 11, 20, 21, 1000)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    with pytest.raises(ValueError):
        S.PiecewiseConstantDecay([1, 2], [1.0])


def test_cosine_decay():
    s = S.CosineDecay(1.0, decay_steps=100, alpha=0.1)
    for step in (0, 25, 50, 100, 150):
        c = 0.5 * (1 + math.cos(math.pi * min(step, 100) / 100))
        assert s(step) == pytest.approx((1 - 0.1) * c + 0.1)


def test_cosine_decay_warmup():
    s = S.CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=5)
    assert s(0) == 0.0
    assert s(2) == pytest.approx(0.4)
    assert s(5) == pytest.approx(1.0)
    assert s(10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert s(100) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("sched", [
    S.ExponentialDecay(0.1, 3, 0.9, staircase=True), S.InverseTimeDecay(0.2, 4, 0.3),
    S.PiecewiseConstantDecay([3], [0.1, 0.01]),
    S.CosineDecay(0.1, 50, alpha=0.01, warmup_target=0.3, warmup_steps=7),
])
def test_serialize_round_trip(sched):
    back = S.deserialize(S.serialize(sched))
    assert type(back) is type(sched) and back.get_config() == sched.get_config()
    assert [back(i) for i in range(0, 60, 7)] == [sched(i) for i in range(0, 60, 7)]


def test_cosine_decay_restarts_matches_keras():
    from fastff.optimizers import schedules as S

    s = S.CosineDecayRestarts(0.1, 10, t_mul=2.0, m_mul=0.5, alpha=0.1)
    steps = (0, 3, 9, 10, 15, 29, 30, 31, 69, 70, 100)
    # Keras 3.15 (torch, float32)
    keras_values = [0.10000000149011612, 0.08145033568143845, 0.012202458456158638,
                    0.055000003427267075, 0.04840990528464317, 0.01027701236307621,
                    0.032499998807907104, 0.03246532008051872, 0.010034680366516113,
                    0.021250000223517418, 0.017777595669031143]
    np.testing.assert_allclose([s(i) for i in steps], keras_values, rtol=1e-6)
    s1 = S.CosineDecayRestarts(1.0, 4, t_mul=1.0, m_mul=0.9)
    np.testing.assert_allclose([s1(i) for i in (0, 1, 3, 4, 5, 8, 13)],
                               [1.0, 0.8535534143447876, 0.1464466154575348,
                                0.8999999761581421, 0.7681980729103088, 0.809999942779541,
                                0.6222403645515442], rtol=1e-6)
    # float64 reference: periods 10, 20, 40, ... at the restart steps exactly
    for step, (i, f) in {10: (1, 0.0), 30: (2, 0.0), 70: (3, 0.0), 50: (2, 0.5)}.items():
        want = 0.1 * (0.9 * 0.5 * 0.5 ** i * (1 + np.cos(np.pi * f)) + 0.1)
        assert s(step) == pytest.approx(want, rel=1e-14)
    assert s.get_config() == {"initial_learning_rate": 0.1, "first_decay_steps": 10,
                              "t_mul": 2.0, "m_mul": 0.5, "alpha": 0.1, "name": "SGDRDecay"}
    back = S.deserialize(S.serialize(s))
    assert isinstance(back, S.CosineDecayRestarts) and back.get_config() == s.get_config()
    assert np.isnan(S.CosineDecayRestarts(1.0, 2, t_mul=0.5)(10))  # shrinking periods ended
    with pytest.raises(ValueError, match="first_decay_steps"):
        S.CosineDecayRestarts(0.1, 0)
    with pytest.raises(ValueError, match="t_mul"):
        S.CosineDecayRestarts(0.1, 5, t_mul=0.0)
    from fastff import optimizers

    opt = optimizers.SGD(s)
    assert optimizers.deserialize(optimizers.serialize(opt)).get_config() == opt.get_config()
