"""Learning-rate schedules: callables ``schedule(step) -> float`` with Keras 3's formulas.

The optimizer evaluates its schedule at ``optimizer.iterations`` (the number of updates
already applied) before each update.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

from fastff._validation import check_bool, check_int, check_real

__all__ = [
    "LearningRateSchedule", "ExponentialDecay", "InverseTimeDecay", "PiecewiseConstantDecay",
    "CosineDecay", "PolynomialDecay", "CosineDecayRestarts", "serialize", "deserialize", "get",
]


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step)`` and ``get_config()``."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _RateDecay(LearningRateSchedule):
    """Shared state of the decays driven by ``decay_rate`` over ``step / decay_steps``."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str | None = None) -> None:
        self.initial_learning_rate = check_real(initial_learning_rate, "initial_learning_rate",
                                                low=0.0)
        self.decay_steps = check_int(decay_steps, "decay_steps", low=1)
        self.decay_rate = check_real(decay_rate, "decay_rate", low=0.0)
        self.staircase = check_bool(staircase, "staircase")
        self.name = name or type(self).__name__

    def _progress(self, step: int) -> float:
        """``step / decay_steps``, floored when ``staircase``."""
        p = float(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RateDecay):
    """``initial * decay_rate ** (step / decay_steps)`` (exponent floored when staircase)."""

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate * self.decay_rate**self._progress(step)


class InverseTimeDecay(_RateDecay):
    """``initial / (1 + decay_rate * step / decay_steps)`` (ratio floored when staircase)."""

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while step <= boundaries[0], ``values[i]`` while
    boundaries[i-1] < step <= boundaries[i], ``values[-1]`` after the last boundary."""

    def __init__(self, boundaries: Sequence[float], values: Sequence[float],
                 name: str = "PiecewiseConstant") -> None:
        if len(boundaries) != len(values) - 1:
            raise ValueError("The length of boundaries should be 1 less than the length of "
                             f"values; got {len(boundaries)} boundaries and {len(values)} values")
        self.boundaries = [check_real(b, f"boundaries[{i}]") for i, b in enumerate(boundaries)]
        if any(b1 <= b0 for b0, b1 in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"Argument `boundaries` must be strictly increasing; got "
                             f"{list(boundaries)}")
        self.values = [check_real(v, f"values[{i}]", low=0.0) for i, v in enumerate(values)]
        self.name = name

    def __call__(self, step: int) -> float:
        return self.values[bisect.bisect_left(self.boundaries, step)]

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "values": list(self.values),
                "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay with optional linear warmup (Keras 3).

    Without warmup: ``initial * ((1-alpha) * 0.5 (1 + cos(pi s/decay_steps)) + alpha)`` with
    s = min(step, decay_steps). With ``warmup_target``: a linear ramp from
    ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``, then the cosine
    decay from ``warmup_target`` over ``decay_steps``.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 name: str = "CosineDecay", warmup_target: float | None = None,
                 warmup_steps: int = 0) -> None:
        self.initial_learning_rate = check_real(initial_learning_rate, "initial_learning_rate",
                                                low=0.0)
        self.decay_steps = check_int(decay_steps, "decay_steps", low=1)
        self.alpha = check_real(alpha, "alpha", low=0.0, high=1.0)
        self.name = name
        self.warmup_target = check_real(warmup_target, "warmup_target", low=0.0,
                                        allow_none=True)
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", low=0)

    def _decay(self, step: float, decay_from: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return decay_from * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step: int) -> float:
        s = float(step)
        if self.warmup_target is None:
            return self._decay(min(s, self.decay_steps), self.initial_learning_rate)
        s = min(s, self.decay_steps + self.warmup_steps)
        if s < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return delta * (s / self.warmup_steps) + self.initial_learning_rate
        return self._decay(s - self.warmup_steps, self.warmup_target)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class PolynomialDecay(LearningRateSchedule):
    """Keras 3's polynomial decay from ``initial_learning_rate`` to ``end_learning_rate``:
    ``(initial - end) * (1 - s / decay_steps) ** power + end`` with s = min(step,
    decay_steps); with ``cycle`` the horizon grows to the next multiple of ``decay_steps``."""

    def __init__(self, initial_learning_rate: float, decay_steps: int,
                 end_learning_rate: float = 0.0001, power: float = 1.0, cycle: bool = False,
                 name: str = "PolynomialDecay") -> None:
        self.initial_learning_rate = check_real(initial_learning_rate, "initial_learning_rate",
                                                low=0.0)
        self.decay_steps = check_int(decay_steps, "decay_steps", low=1)
        self.end_learning_rate = check_real(end_learning_rate, "end_learning_rate", low=0.0)
        self.power = check_real(power, "power", low=0.0)
        self.cycle = check_bool(cycle, "cycle")
        self.name = name

    def __call__(self, step: int) -> float:
        s = float(step)
        horizon = float(self.decay_steps)
        if self.cycle:
            horizon *= 1.0 if s == 0 else math.ceil(s / self.decay_steps)
        else:
            s = min(s, horizon)
        frac = 1.0 - s / horizon
        return (self.initial_learning_rate - self.end_learning_rate) * frac ** self.power + \
            self.end_learning_rate

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Keras 3): the first period lasts
    ``first_decay_steps``, each next one ``t_mul`` times longer and starts ``m_mul`` times
    lower; within a period ``initial * m_mul^i * ((1-alpha) * 0.5 (1 + cos(pi f)) + alpha)``
    with ``f`` the fraction of period ``i`` done. The period is found by counting (exact at
    the restart steps, where Keras's float32 logarithm may land either side)."""

    def __init__(self, initial_learning_rate: float, first_decay_steps: int,
                 t_mul: float = 2.0, m_mul: float = 1.0, alpha: float = 0.0,
                 name: str = "SGDRDecay") -> None:
        self.initial_learning_rate = check_real(initial_learning_rate, "initial_learning_rate",
                                                low=0.0)
        if isinstance(first_decay_steps, (int, float)) and not isinstance(first_decay_steps,
                                                                          bool) \
                and first_decay_steps <= 0:
            raise ValueError("Argument `first_decay_steps` must be > 0. Received: "
                             f"first_decay_steps={first_decay_steps}")
        self.first_decay_steps = check_int(first_decay_steps, "first_decay_steps", low=1)
        self.t_mul = check_real(t_mul, "t_mul", low=0.0, low_open=True)
        self.m_mul = check_real(m_mul, "m_mul", low=0.0)
        self.alpha = check_real(alpha, "alpha", low=0.0, high=1.0)
        self.name = name

    def __call__(self, step: int) -> float:
        done = float(step) / self.first_decay_steps  # in units of the first period
        t = self.t_mul
        if t == 1.0:
            i = math.floor(done)
            frac = done - i
        else:
            inner = 1.0 - done * (1.0 - t)
            if inner <= 0.0:  # t_mul < 1: the shrinking periods ended (Keras: log of <= 0)
                return math.nan
            i = max(math.floor(math.log(inner) / math.log(t)), 0)

            def start(k: int) -> float:  # where period k begins
                return (1.0 - t ** k) / (1.0 - t)

            while i > 0 and start(i) > done:
                i -= 1
            while start(i + 1) <= done:
                i += 1
            frac = (done - start(i)) / t ** i
        cosine = 0.5 * self.m_mul ** i * (1.0 + math.cos(math.pi * frac))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


_CLASSES = {c.__name__: c for c in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay,
                                    CosineDecay, PolynomialDecay, CosineDecayRestarts)}


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """``{"class_name", "config"}`` of a schedule (JSON-able)."""
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict[str, Any],
                custom_objects: dict[str, Any] | None = None) -> LearningRateSchedule:
    """Inverse of ``serialize``; ``custom_objects`` maps extra class names to classes."""
    classes = dict(_CLASSES)
    if custom_objects:
        classes.update(custom_objects)
    name = config["class_name"]
    if name not in classes:
        raise ValueError(f"Unknown learning rate schedule {name!r}")
    return classes[name].from_config(dict(config.get("config", {})))


def get(identifier: Any) -> Any:
    """A schedule from an instance, a serialized dict or a plain callable."""
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret learning rate schedule: {identifier!r}")
