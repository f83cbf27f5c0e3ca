"""Adagrad, Keras formulation."""

from __future__ import annotations

from typing import Any

from fastff._validation import check_real
from fastff.backend import scalar as _scalar
from fastff.optimizers.base import Optimizer


class Adagrad(Optimizer):
    """``acc += g²``; ``p -= lr*g / sqrt(acc + epsilon)``; acc starts at
    ``initial_accumulator_value``."""

    def __init__(self, learning_rate: Any = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = check_real(
            initial_accumulator_value, "initial_accumulator_value", low=0.0)
        self.epsilon = check_real(epsilon, "epsilon", low=0.0)

    _code = _scalar.ADAGRAD

    def _slots(self) -> tuple[str | None, ...]:
        return ("accumulator",)

    def _buffer_init(self, name: str) -> float:
        return self.initial_accumulator_value

    def _packed_constants(self) -> tuple[float, ...]:
        return _scalar.adagrad_consts(self.epsilon)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
