"""Every hyperparameter of every optimizer, schedule, layer and callback is range- and
type-checked at construction: a bad value raises a ValueError naming the argument.

Table driven: for each (class, argument) the table lists the valid interval; the test tries
NaN, the infinities, values just outside the interval, a string and a bool, and values inside.
"""

from __future__ import annotations

import math

import pytest

from fastff import callbacks, layers, optimizers
from fastff.optimizers import schedules

NAN, INF = math.nan, math.inf

# (factory taking the one keyword, argument, inside values, outside values)
OPT_COMMON = [
    ("learning_rate", [0.0, 0.1, 3], [NAN, INF, -INF, -0.1, "fast", None]),
    ("weight_decay", [None, 0.0, 0.01], [NAN, INF, -0.1, "x"]),
    ("clipnorm", [None, 1.0], [NAN, INF, 0.0, -1.0, "x"]),
    ("clipvalue", [None, 0.5], [NAN, INF, 0.0, -1.0]),
    ("global_clipnorm", [None, 2.0], [NAN, INF, 0.0, -1.0]),
]
CASES = []
for opt in (optimizers.SGD, optimizers.Adam, optimizers.AdamW, optimizers.RMSprop,
            optimizers.Adagrad):
    for arg, good, bad in OPT_COMMON:
        if opt is optimizers.AdamW and arg == "weight_decay":
            good = [0.0, 0.01]
        CASES.append((opt, arg, good, bad))
for opt in (optimizers.Adam, optimizers.AdamW):
    CASES += [(opt, "beta_1", [0.0, 0.9], [NAN, INF, 1.0, 1.5, -0.1, "x"]),
              (opt, "beta_2", [0.0, 0.999], [NAN, INF, 1.0, 1.01, -0.1]),
              (opt, "epsilon", [0.0, 1e-7], [NAN, INF, -1e-7]),
              (opt, "amsgrad", [True, False], ["False", 1, None])]
CASES += [
    (optimizers.SGD, "momentum", [0.0, 0.9, 1.0], [NAN, INF, -0.1, 1.1, "x"]),
    (optimizers.SGD, "nesterov", [True, False], ["yes", 0]),
    (optimizers.RMSprop, "rho", [0.0, 0.9], [NAN, INF, 1.0, -0.1]),
    (optimizers.RMSprop, "momentum", [0.0, 0.5], [NAN, -0.1, 1.1]),
    (optimizers.RMSprop, "epsilon", [0.0, 1e-7], [NAN, -1.0]),
    (optimizers.RMSprop, "centered", [True, False], ["x"]),
    (optimizers.Adagrad, "initial_accumulator_value", [0.0, 0.1], [NAN, INF, -0.1]),
    (optimizers.Adagrad, "epsilon", [0.0, 1e-7], [NAN, -1.0]),
]


def _sched(cls, **fixed):
    return lambda **kw: cls(**{**fixed, **kw})


EXP = _sched(schedules.ExponentialDecay, initial_learning_rate=0.1, decay_steps=10,
             decay_rate=0.5)
COS = _sched(schedules.CosineDecay, initial_learning_rate=0.1, decay_steps=10)
CASES += [
    (EXP, "initial_learning_rate", [0.0, 0.1], [NAN, INF, -0.1, "x"]),
    (EXP, "decay_steps", [1, 10], [0, -1, 1.5, NAN, "x"]),
    (EXP, "decay_rate", [0.0, 0.5, 2.0], [NAN, INF, -0.5]),
    (EXP, "staircase", [True, False], ["no"]),
    (_sched(schedules.InverseTimeDecay, initial_learning_rate=0.1, decay_steps=10,
            decay_rate=0.5), "decay_rate", [0.0, 1.0], [NAN, -1.0]),
    (COS, "alpha", [0.0, 0.5, 1.0], [NAN, -0.1, 1.1]),
    (COS, "warmup_target", [None, 0.2], [NAN, INF, -0.2]),
    (COS, "warmup_steps", [0, 5], [-1, 0.5, NAN]),
    (_sched(schedules.PiecewiseConstantDecay, boundaries=[10]), "values",
     [[0.1, 0.01]], [[0.1, NAN], [-0.1, 0.1], [0.1, INF]]),
    (_sched(schedules.PiecewiseConstantDecay, values=[0.1, 0.01, 0.001]), "boundaries",
     [[10, 20]], [[20, 10], [10, 10], [NAN, 10]]),
]
CASES += [
    (_sched(layers.Dense, units=3), "use_bias", [True, False], ["x", None]),
    (layers.Dense, "units", [1, 7], [0, -1, 1.5, "3", True]),
    (layers.Dropout, "rate", [0.0, 0.5], [NAN, INF, 1.0, -0.1, "x", True]),
    (_sched(layers.Dropout, rate=0.5), "seed", [None, 0, 7], [-1, 1.5, "x"]),
    (_sched(layers.Embedding, output_dim=2), "input_dim", [1, 5], [0, -3, 2.5]),
    (_sched(layers.Embedding, input_dim=5, output_dim=2), "mask_zero", [True, False], ["x"]),
    (_sched(layers.EmbeddingBag, input_dim=5, output_dim=2), "padding_id", [None, 0, 4],
     [5, -1, 2**63, 1.5, "0"]),
]
CASES += [
    (callbacks.EarlyStopping, "patience", [0, 3], [-1, 1.5, "x"]),
    (callbacks.EarlyStopping, "min_delta", [0, 0.1, -0.1], [NAN, INF, "x"]),
    (callbacks.EarlyStopping, "baseline", [None, 0.5], [NAN, "x"]),
    (callbacks.EarlyStopping, "start_from_epoch", [0, 2], [-1]),
    (callbacks.EarlyStopping, "restore_best_weights", [True, False], ["x"]),
    (callbacks.ReduceLROnPlateau, "factor", [0.1, 0.5], [0.0, 1.0, NAN, -0.5, 2.0]),
    (callbacks.ReduceLROnPlateau, "min_lr", [0.0, 1e-5], [NAN, -1.0]),
    (callbacks.ReduceLROnPlateau, "cooldown", [0, 2], [-1, 0.5]),
    (callbacks.ReduceLROnPlateau, "patience", [0, 2], [-1]),
    (_sched(callbacks.ModelCheckpoint, filepath="m.fastff"), "initial_value_threshold",
     [None, 0.5], [NAN, "x"]),
    (_sched(callbacks.ModelCheckpoint, filepath="m.fastff"), "save_best_only", [True], ["x"]),
]


def _ids(case):
    factory, arg = case[0], case[1]
    name = getattr(factory, "__name__", "partial")
    return f"{name}-{arg}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_hyperparameter_checked(case):
    factory, arg, good, bad = case
    for value in good:
        factory(**{arg: value})
    for value in bad:
        with pytest.raises(ValueError, match=arg):
            factory(**{arg: value})


def test_learning_rate_keeps_schedules_and_callables():
    sched = schedules.ExponentialDecay(0.1, 10, 0.5)
    assert optimizers.Adam(learning_rate=sched).learning_rate == pytest.approx(0.1)
    assert optimizers.SGD(learning_rate=lambda step: 0.25).learning_rate == 0.25
    opt = optimizers.SGD(learning_rate=0.1)
    for bad in (NAN, -1.0, INF):
        with pytest.raises(ValueError, match="learning_rate"):
            opt.learning_rate = bad
    assert opt.learning_rate == 0.1
