"""Activation layer: applies an activation function elementwise (softmax: per row)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff import activations
from fastff.layers.base import Layer, Workspace, buffer


class Activation(Layer):
    """An activation function as a layer (passes masks through, as Keras)."""

    supports_masking = True

    def __init__(self, activation: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    @property
    def output_activation(self) -> str | None:  # type: ignore[override]
        name = self.activation.name if self.activation.builtin else None
        return name if name in ("softmax", "sigmoid") else None

    def lower(self, builder: Any) -> bool:
        """Folded into the previous unit where the builder can (see ``StackBuilder``)."""
        return builder.activation(self, self.activation)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        ops, act = self.ops, self.activation
        y = act.forward(ops, x, out=buffer(ws, "y", x.shape, x.dtype))

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            if not need_dx:
                return None
            return act.backward(ops, dy, x, y, out=buffer(ws, "dx", x.shape, x.dtype))

        return y, backprop

    def forward_logits(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        """Identity: the loss applies the fused softmax/sigmoid itself."""
        return x, _identity_backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg["activation"] = activations.serialize(self.activation)
        return cfg


def _identity_backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
    return dy if need_dx else None


class _ActivationLayer(Activation):
    """Base of Keras's dedicated activation layers (``ReLU``, ``LeakyReLU``, ...): an
    ``Activation`` whose config holds the layer's own arguments instead of ``activation``."""

    def get_config(self) -> dict:
        cfg = Layer.get_config(self)
        cfg.update(self._args())
        return cfg

    def _args(self) -> dict:
        return {}


def _scalar(value: Any, name: str, layer: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value):
        raise ValueError(f"{layer}: {name} must be a finite number, got {value!r}")
    return float(value)


class ReLU(_ActivationLayer):
    """Keras's ``ReLU`` layer: ``max(x, 0)``, or a leaky ReLU with ``negative_slope``.
    ``max_value`` and ``threshold`` other than the defaults are refused (no fused kernel)."""

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, **kwargs: Any):
        slope = _scalar(negative_slope, "negative_slope", "ReLU")
        if max_value is not None or _scalar(threshold, "threshold", "ReLU") != 0.0:
            raise NotImplementedError("ReLU: max_value and threshold are not supported; use "
                                      "ReLU() or ReLU(negative_slope=a)")
        if slope < 0:
            raise ValueError(f"ReLU: negative_slope must be >= 0, got {negative_slope!r}")
        act = activations.get("relu") if slope == 0.0 else \
            activations.get("leaky_relu").with_param(negative_slope=slope)
        super().__init__(act, **kwargs)
        self.negative_slope = slope

    def _args(self) -> dict:
        return {"max_value": None, "negative_slope": self.negative_slope, "threshold": 0.0}


class LeakyReLU(_ActivationLayer):
    """Keras's ``LeakyReLU`` layer: ``x`` for ``x >= 0``, else ``negative_slope * x``
    (Keras's default slope 0.3)."""

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any):
        if "alpha" in kwargs:  # Keras 2's name, still accepted by Keras 3
            negative_slope = kwargs.pop("alpha")
        slope = _scalar(negative_slope, "negative_slope", "LeakyReLU")
        if slope < 0:
            raise ValueError(f"LeakyReLU: negative_slope must be >= 0, got {negative_slope!r}")
        super().__init__(activations.get("leaky_relu").with_param(negative_slope=slope),
                         **kwargs)
        self.negative_slope = slope

    def _args(self) -> dict:
        return {"negative_slope": self.negative_slope}


class ELU(_ActivationLayer):
    """Keras's ``ELU`` layer: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""

    def __init__(self, alpha: float = 1.0, **kwargs: Any):
        self.alpha = _scalar(alpha, "alpha", "ELU")
        super().__init__(activations.get("elu").with_param(alpha=self.alpha), **kwargs)

    def _args(self) -> dict:
        return {"alpha": self.alpha}


class Softmax(_ActivationLayer):
    """Keras's ``Softmax`` layer over the last axis (the only axis supported)."""

    def __init__(self, axis: int = -1, **kwargs: Any):
        if isinstance(axis, bool) or axis != -1:
            raise NotImplementedError(f"Softmax: only axis=-1 is supported, got {axis!r}")
        super().__init__("softmax", **kwargs)

    def _args(self) -> dict:
        return {"axis": -1}
