"""Adam (with optional AMSGrad) and AdamW (decoupled weight decay), Keras formulation."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff._validation import check_bool, check_real
from fastff.backend import scalar as _scalar
from fastff.optimizers.base import Optimizer


class Adam(Optimizer):
    """Adam with Kingma & Ba's bias correction, in the paper's efficient form (as Keras):
    ``alpha_t = lr*sqrt(1-beta_2^t)/(1-beta_1^t)``, ``p -= alpha_t*m/(sqrt(v)+epsilon)``."""

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = check_real(beta_1, "beta_1", low=0.0, high=1.0, high_open=True)
        self.beta_2 = check_real(beta_2, "beta_2", low=0.0, high=1.0, high_open=True)
        self.epsilon = check_real(epsilon, "epsilon", low=0.0)
        self.amsgrad = check_bool(amsgrad, "amsgrad")

    _code = _scalar.ADAM

    def _slots(self) -> tuple[str | None, ...]:
        return ("momentum", "velocity", "velocity_hat" if self.amsgrad else None)

    def _packed_constants(self) -> tuple[float, ...]:
        return _scalar.adam_consts(self.beta_1, self.beta_2, self.epsilon)

    def step_scalars(self, iteration: int, lr: float | None = None) -> tuple[float, float]:
        """``(alpha, lr * weight_decay)``: alpha is the bias-corrected step size of step
        ``iteration + 1`` (the one place fastff computes it for training)."""
        if lr is None:
            lr = self._lr_at(iteration)
        return (_scalar.adam_alpha(lr, self.beta_1, self.beta_2, iteration + 1),
                lr * (self.weight_decay or 0.0))

    def step_scalars_range(self, it0: int, k: int) -> np.ndarray:
        """As ``Optimizer.step_scalars_range``; a constant learning rate without the
        per-step method calls (the same ``adam_alpha`` values, so the same bits)."""
        lr = self._learning_rate
        if callable(lr) or type(self).step_scalars is not Adam.step_scalars:
            return super().step_scalars_range(it0, k)
        b1, b2, alpha = self.beta_1, self.beta_2, _scalar.adam_alpha
        out = np.empty((k, 2), np.float64)
        out[:, 0] = [alpha(lr, b1, b2, s) for s in range(it0 + 1, it0 + k + 1)]
        out[:, 1] = lr * (self.weight_decay or 0.0)
        return out

    def _update_rows(self, state: dict[str, np.ndarray], table: np.ndarray, grad: np.ndarray,
                     rows: np.ndarray, lr: float, weight_decay: float, grad_scale: float,
                     clipvalue: float | None) -> bool:
        kernel = getattr(self.ops, "adam_rows", None)
        if self.amsgrad or kernel is None or getattr(self.ops, "device", "cpu") != "cpu":
            return False
        kernel(table, grad, state["momentum"], state["velocity"], rows, lr, self.beta_1,
               self.beta_2, self.epsilon, self.iterations + 1, weight_decay=weight_decay,
               grad_scale=grad_scale, clipvalue=clipvalue)
        return True

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p -= lr*weight_decay*p`` before each Adam update."""

    def __init__(self, learning_rate: Any = 0.001, weight_decay: float = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False, **kwargs: Any) -> None:
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float for AdamW; got None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad,
                         weight_decay=weight_decay, **kwargs)
