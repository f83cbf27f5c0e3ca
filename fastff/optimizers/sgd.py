"""SGD with optional (Nesterov) momentum, Keras formulation."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff._validation import check_bool, check_real
from fastff.optimizers.base import Optimizer


class SGD(Optimizer):
    """``v = momentum*v - lr*g``; ``p += v`` (or ``p += momentum*v - lr*g`` with Nesterov)."""

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        self.momentum = check_real(momentum, "momentum", low=0.0, high=1.0)
        self.nesterov = check_bool(nesterov, "nesterov")

    def _buffer_names(self) -> tuple[str, ...]:
        return ("momentum",) if self.momentum != 0.0 else ()

    def _update(self, bufs: dict[str, np.ndarray], params: np.ndarray, grads: np.ndarray,
                lr: float, weight_decay: float, grad_scale: float,
                clipvalue: float | None) -> None:
        vel = bufs["momentum"] if self.momentum != 0.0 else None
        self.ops.sgd_step(params, grads, vel, lr, self.momentum, self.nesterov,
                          weight_decay=weight_decay, grad_scale=grad_scale, clipvalue=clipvalue)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
