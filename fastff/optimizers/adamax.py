"""Adamax and Nadam: Adam's variants with an infinity-norm second moment and with Nesterov
momentum (Keras 3 formulation)."""

from __future__ import annotations

from typing import Any

from fastff._validation import check_real
from fastff.backend import scalar as _scalar
from fastff.optimizers.base import Optimizer


def _betas(beta_1: Any, beta_2: Any, epsilon: Any) -> tuple[float, float, float]:
    return (check_real(beta_1, "beta_1", low=0.0, high=1.0, high_open=True),
            check_real(beta_2, "beta_2", low=0.0, high=1.0, high_open=True),
            check_real(epsilon, "epsilon", low=0.0))


class Adamax(Optimizer):
    """``m += (g - m)(1-beta_1)``, ``u = max(beta_2 u, |g|)``,
    ``p -= lr m / ((1 - beta_1^t)(u + epsilon))`` (as Keras)."""

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = _betas(beta_1, beta_2, epsilon)

    _code = _scalar.ADAMAX

    def _slots(self) -> tuple[str | None, ...]:
        return ("momentum", "norm")

    def _packed_constants(self) -> tuple[float, ...]:
        return _scalar.adamax_consts(self.beta_1, self.beta_2, self.epsilon)

    def step_scalars(self, iteration: int, lr: float | None = None) -> tuple[float, float]:
        """``(lr / (1 - beta_1^t), lr * weight_decay)`` of step ``t = iteration + 1``."""
        if lr is None:
            lr = self._lr_at(iteration)
        return (_scalar.adamax_alpha(lr, self.beta_1, iteration + 1),
                lr * (self.weight_decay or 0.0))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Adam with Nesterov momentum and Keras's momentum schedule ``u_t = beta_1 (1 - 0.5 *
    0.96^t)``: ``m_hat = u_{t+1} m / (1 - prod u_{..t+1}) + (1 - u_t) g / (1 - prod u_{..t})``,
    ``p -= lr m_hat / (sqrt(v / (1 - beta_2^t)) + epsilon)``.

    Its constants change every step, which the compiled training step does not take: models
    trained with Nadam run the general path."""

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = _betas(beta_1, beta_2, epsilon)
        self._u_cache = (0, 1.0)  # (step, prod of u_i for i <= step)

    _code = _scalar.NADAM

    def _slots(self) -> tuple[str | None, ...]:
        return ("momentum", "velocity")

    def _u_product(self, step: int) -> float:
        """``prod_{i<=step} u_i``, advanced one step at a time (recomputed after a jump, e.g.
        a restored state)."""
        done, prod = self._u_cache
        if step < done:
            done, prod = 0, 1.0
        for i in range(done + 1, step + 1):
            prod *= _scalar.nadam_u(self.beta_1, i)
        self._u_cache = (step, prod)
        return prod

    def _packed_constants(self) -> tuple[float, ...]:
        step = self.iterations + 1
        return _scalar.nadam_consts(self.beta_1, self.beta_2, self.epsilon, step,
                                    self._u_product(step))

    def packed(self, bufs: Any = None) -> None:
        """None: Nadam's per-step constants have no place in the compiled step."""
        return None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
