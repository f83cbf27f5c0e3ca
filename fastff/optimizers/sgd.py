"""SGD with optional (Nesterov) momentum, Keras formulation."""

from __future__ import annotations

from typing import Any

from fastff._validation import check_bool, check_real
from fastff.backend import scalar as _scalar
from fastff.optimizers.base import Optimizer


class SGD(Optimizer):
    """``v = momentum*v - lr*g``; ``p += v`` (or ``p += momentum*v - lr*g`` with Nesterov)."""

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        self.momentum = check_real(momentum, "momentum", low=0.0, high=1.0)
        self.nesterov = check_bool(nesterov, "nesterov")

    _code = _scalar.SGD

    def _slots(self) -> tuple[str | None, ...]:
        return ("momentum" if self.momentum != 0.0 else None,)

    def _packed_constants(self) -> tuple[float, ...]:
        return _scalar.sgd_consts(self.momentum, self.nesterov)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
