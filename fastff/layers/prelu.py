"""PReLU (Keras 3): ``x`` where positive, ``alpha * x`` elsewhere, with a learned ``alpha``
per input position; ``shared_axes`` (1-based, batch axis 0) share one alpha along them."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff import constraints, initializers, regularizers
from fastff.layers._host import require_host
from fastff.layers.base import Layer, Workspace


class PReLU(Layer):
    """``relu(x) - alpha * relu(-x)`` (Keras's formula, so the gradient at 0 is 0)."""

    supports_masking = True

    def __init__(self, alpha_initializer: Any = "Zeros", alpha_regularizer: Any = None,
                 alpha_constraint: Any = None, shared_axes: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, (int, np.integer)) \
                else list(shared_axes)
            if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) and a >= 1
                       for a in axes):
                raise ValueError("PReLU: shared_axes must be ints >= 1 (axis 0 is the batch), "
                                 f"got {shared_axes!r}")
            self.shared_axes = [int(a) for a in axes]
        self.alpha = None

    def build(self, input_shape: tuple[int, ...]) -> None:
        shape = list(input_shape)
        for a in self.shared_axes or ():
            if a > len(shape):
                raise ValueError(f"PReLU {self.name!r}: shared axis {a} is out of range for "
                                 f"inputs of rank {len(shape) + 1}")
            shape[a - 1] = 1
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer,
                                     self.alpha_regularizer, constraint=self.alpha_constraint)
        self._sum_axes = (0, *(a for a in (self.shared_axes or ()) if input_shape[a - 1] != 1))

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        require_host(x, self)
        alpha = self.alpha
        neg = np.minimum(x, 0)
        y = np.maximum(x, 0) + alpha.value * neg

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            if alpha.trainable and self.trainable:
                alpha.grad[...] = np.sum(dy * neg, axis=self._sum_axes).reshape(alpha.shape)
            if not need_dx:
                return None
            return dy * (x > 0) + dy * alpha.value * (x < 0)

        return y.astype(x.dtype, copy=False), backprop

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(alpha_initializer=initializers.serialize(self.alpha_initializer),
                   alpha_regularizer=regularizers.serialize(self.alpha_regularizer),
                   alpha_constraint=constraints.serialize(self.alpha_constraint),
                   shared_axes=self.shared_axes)
        return cfg
