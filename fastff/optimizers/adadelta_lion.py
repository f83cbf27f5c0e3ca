"""Adadelta, Lion and Ftrl (Keras 3 formulation)."""

from __future__ import annotations

from typing import Any

from fastff._validation import check_real
from fastff.backend import scalar as _scalar
from fastff.optimizers.base import Optimizer


class Adadelta(Optimizer):
    """``a_g = rho a_g + (1-rho) g²``, ``d = -sqrt(a_d + eps) g / sqrt(a_g + eps)``,
    ``a_d = rho a_d + (1-rho) d²``, ``p += lr d`` (as Keras; its default lr is 0.001)."""

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho = check_real(rho, "rho", low=0.0, high=1.0, high_open=True)
        self.epsilon = check_real(epsilon, "epsilon", low=0.0, low_open=True)

    _code = _scalar.ADADELTA

    def _slots(self) -> tuple[str | None, ...]:
        return ("accumulated_grad", "accumulated_delta_var")

    def _packed_constants(self) -> tuple[float, ...]:
        return _scalar.adadelta_consts(self.rho, self.epsilon)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Lion(Optimizer):
    """``p -= lr sign(beta_1 m + (1-beta_1) g)``, then ``m = beta_2 m + (1-beta_2) g``
    (Chen et al. 2023, as Keras)."""

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.99,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        if isinstance(beta_1, (int, float)) and not isinstance(beta_1, bool) and \
                not 0.0 <= beta_1 <= 1.0:
            raise ValueError("Argument `beta_1` must be in the [0, 1] range. Otherwise, the "
                             f"optimizer degenerates to SignSGD. Received: beta_1={beta_1}.")
        self.beta_1 = check_real(beta_1, "beta_1", low=0.0, high=1.0)
        self.beta_2 = check_real(beta_2, "beta_2", low=0.0, high=1.0)

    _code = _scalar.LION

    def _slots(self) -> tuple[str | None, ...]:
        return ("momentum",)

    def _packed_constants(self) -> tuple[float, ...]:
        return _scalar.lion_consts(self.beta_1, self.beta_2)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Ftrl(Optimizer):
    """FTRL-proximal (McMahan et al., as Keras 3): per weight an accumulator ``n`` (starting
    at ``initial_accumulator_value``) and a linear term ``z``;
    ``p = (clip(z, -l1, l1) - z) / (n^-lr_power / lr + 2 (l2 + beta / (2 lr)))``."""

    def __init__(self, learning_rate: Any = 0.001, learning_rate_power: float = -0.5,
                 initial_accumulator_value: float = 0.1, l1_regularization_strength: float = 0.0,
                 l2_regularization_strength: float = 0.0,
                 l2_shrinkage_regularization_strength: float = 0.0, beta: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        self.learning_rate_power = check_real(learning_rate_power, "learning_rate_power",
                                              high=0.0)
        self.initial_accumulator_value = check_real(
            initial_accumulator_value, "initial_accumulator_value", low=0.0)
        self.l1_regularization_strength = check_real(
            l1_regularization_strength, "l1_regularization_strength", low=0.0)
        self.l2_regularization_strength = check_real(
            l2_regularization_strength, "l2_regularization_strength", low=0.0)
        self.l2_shrinkage_regularization_strength = check_real(
            l2_shrinkage_regularization_strength, "l2_shrinkage_regularization_strength",
            low=0.0)
        self.beta = check_real(beta, "beta", low=0.0)

    _code = _scalar.FTRL

    def _slots(self) -> tuple[str | None, ...]:
        return ("accumulator", "linear")

    def _buffer_init(self, name: str) -> float:
        return self.initial_accumulator_value if name == "accumulator" else 0.0

    def _packed_constants(self) -> tuple[float, ...]:
        return _scalar.ftrl_consts(self.learning_rate_power, self.l1_regularization_strength,
                                   self.l2_regularization_strength,
                                   self.l2_shrinkage_regularization_strength, self.beta)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength":
                    self.l2_shrinkage_regularization_strength,
                "beta": self.beta}
