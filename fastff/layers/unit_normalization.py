"""UnitNormalization (Keras 3): scale each sample to unit L2 norm over ``axis``.

``y = x * min(1/sqrt(Σx²), 1e12)`` (``keras.ops.normalize`` with epsilon 1e-12). The helper
``l2_normalize`` (value and backprop) also serves ``Dot(normalize=True)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff.layers._axes import normalize_axes
from fastff.layers.base import Layer, Workspace


def l2_normalize(x: np.ndarray, axis: tuple[int, ...], min_sq: float):
    """``(x / sqrt(max(Σx², min_sq)), backprop)`` along ``axis``; below the floor the scale
    is the constant ``1/sqrt(min_sq)`` (so no gradient flows through the norm there)."""
    ss = np.sum(x * x, axis=axis, keepdims=True)
    floor = x.dtype.type(min_sq)
    inv = x.dtype.type(1) / np.sqrt(np.maximum(ss, floor))
    y = x * inv
    above = ss > floor

    def backprop(dy: np.ndarray) -> np.ndarray:
        dot = np.sum(dy * y, axis=axis, keepdims=True)
        return np.ascontiguousarray(inv * (dy - np.where(above, y * dot, 0)))

    return np.ascontiguousarray(y), backprop


class UnitNormalization(Layer):
    def __init__(self, axis: Any = -1, **kwargs: Any):
        super().__init__(**kwargs)
        normalize_axes(axis, 64, "UnitNormalization")
        self.axis = int(axis) if isinstance(axis, (int, np.integer)) else [int(a) for a in axis]
        self.supports_masking = True

    def build(self, input_shape: tuple[int, ...]) -> None:
        self._axes = normalize_axes(self.axis, len(input_shape) + 1, "UnitNormalization")

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        y, bp = l2_normalize(x, self._axes, 1e-24)

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            return bp(dy) if need_dx else None

        return y, backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(axis=self.axis)
        return cfg
