"""RMSprop (optionally centered, with momentum), Keras formulation."""

from __future__ import annotations

from typing import Any

from fastff._validation import check_bool, check_real
from fastff.backend import scalar as _scalar
from fastff.optimizers.base import Optimizer


class RMSprop(Optimizer):
    """``v = rho*v + (1-rho)*g²``; centered: ``a = rho*a + (1-rho)*g``, denominator
    ``v - a² + eps``; ``inc = lr*g/sqrt(den)``; momentum: ``m = momentum*m + inc``, ``p -= m``."""

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho = check_real(rho, "rho", low=0.0, high=1.0, high_open=True)
        self.momentum = check_real(momentum, "momentum", low=0.0, high=1.0)
        self.epsilon = check_real(epsilon, "epsilon", low=0.0)
        self.centered = check_bool(centered, "centered")

    _code = _scalar.RMSPROP

    def _slots(self) -> tuple[str | None, ...]:
        return ("velocity", "momentum" if self.momentum > 0.0 else None,
                "average_gradient" if self.centered else None)

    def _packed_constants(self) -> tuple[float, ...]:
        return _scalar.rmsprop_consts(self.rho, self.momentum, self.epsilon)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}
