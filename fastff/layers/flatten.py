"""Flatten: ``(batch, d1, d2, ...) -> (batch, d1*d2*...)`` (a view when the input is contiguous)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastff.layers.base import Layer, Workspace


class Flatten(Layer):
    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(input_shape),)

    def lower(self, builder: Any) -> bool:
        """The identity on 2-D inputs (already flat)."""
        return self.input_shape is not None and len(self.input_shape) == 1 \
            and builder.identity(self)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        shape = x.shape
        y = self.ops.reshape(x, (shape[0], math.prod(shape[1:])))

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            return self.ops.reshape(dy, shape) if need_dx else None

        return y, backprop
