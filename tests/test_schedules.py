"""Learning-rate schedules against Keras 3's formulas."""

from __future__ import annotations

import math

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
