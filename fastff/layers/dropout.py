"""Inverted dropout: in training multiply by a 0 or 1/(1-rate) mask; identity at inference.

The mask comes from ``ops.dropout_mask(shape, rate, seed, counter)``, a counter-based hash, so it
depends only on (seed, step, index): runs are reproducible whatever the thread count. ``step``
is set by the model before each training step (from the optimizer's iteration count); direct
``layer(x, training=True)`` calls advance it themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastff import config
from fastff._validation import check_int, check_real
from fastff.layers.base import Layer, Workspace, buffer


class Dropout(Layer):
    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        rate = check_real(rate, "rate", low=0.0, high=1.0, high_open=True)
        if noise_shape is not None:
            raise NotImplementedError("Dropout: noise_shape is not supported")
        self.rate = float(rate)
        self.seed = check_int(seed, "seed", low=0, allow_none=True)
        self._mask_seed = self.seed
        self.step = 0

    def build(self, input_shape: tuple[int, ...]) -> None:
        if self._mask_seed is None:
            self._mask_seed = config.draw_seed() % (2**31)

    def mask(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """The mask for the current ``step``."""
        if self._mask_seed is None:
            self._mask_seed = config.draw_seed() % (2**31)
        return self.ops.dropout_mask(shape, self.rate, self._mask_seed, int(self.step), dtype)

    def forward(self, x: np.ndarray, training: bool = False, ws: Workspace | None = None):
        if not training or self.rate == 0.0:
            return x, _identity_backprop
        mask = self.mask(x.shape, x.dtype)
        y = self.ops.multiply(x, mask, out=buffer(ws, "y", x.shape, x.dtype))

        def backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
            if not need_dx:
                return None
            return self.ops.multiply(dy, mask, out=buffer(ws, "dx", x.shape, x.dtype))

        return y, backprop

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        y = super().__call__(x, training)
        if training:
            self.step += 1
        return y

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.update(rate=self.rate, seed=self.seed)
        return cfg


def _identity_backprop(dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
    return dy if need_dx else None
