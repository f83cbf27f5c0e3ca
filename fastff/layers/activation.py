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
